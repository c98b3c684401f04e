"""The same figures from two versions of watchbot, in one run: has a change made anything slower?

    python -m bench.compare OLD_TREE [NEW_TREE] [--rounds 3] [--quick]

OLD_TREE and NEW_TREE are checkouts of the project (NEW_TREE defaults to this one), for instance
`git worktree add /tmp/old c730ca2`. Each round runs, in turn, the old tree's figures and the new
tree's (filing a message, the weekly digest, and a message to the bot's reaction on Synapse), each
in a process of its own with that tree's code first on the path and its own benchmark code, on the
same cached store. A figure is compared as its ratio to the baseline measured beside it in the
same process (so a busy moment of the shared machine weighs on both sides of the ratio), and the
old and new ratios as their medians over the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

# Run in the tree's own process: its figures, as JSON lines on standard output.
PROBE = """
import asyncio, json, sys
from bench import corpus, store_figures, matrix_figures
quick = sys.argv[1] == "quick"
size = corpus.QUICK if quick else corpus.FULL
path = corpus.cached_store(size, log=lambda line: print(line, file=sys.stderr))

async def store_rows():
    return [await store_figures.filing(path, 20 if quick else 200, gate_reads=False),
            await store_figures.digest(path, size, 3 if quick else 10)]

figures = asyncio.run(store_rows())
import tempfile
from watchbot.devserver import running_synapse
from pathlib import Path as P
with tempfile.TemporaryDirectory() as scratch:
    with running_synapse(P(scratch) / "synapse") as server:
        async def reaction():
            bench = matrix_figures.Bench(server, P(scratch))
            await bench.start()
            try:
                figure = matrix_figures.Figure("reaction", "ms", base_name="bare nio")
                await matrix_figures.interleave(
                    figure, lambda i: bench.round_trip("watchbot", f"https://bench.example/bot/{i}"),
                    lambda i: bench.round_trip("plain", f"https://bench.example/plain/{i}"),
                    repeat=6 if quick else 100, warmup=1 if quick else 5)
                return figure
            finally:
                await bench.close()
        figures.append(asyncio.run(reaction()))
labels = ["filing a message with one link (vs plain sqlite3)", "the weekly digest (vs one SQL query)",
          "Matrix: a member's message to the bot's reaction (vs a bare nio reactor)"]
for label, figure in zip(labels, figures):
    print(json.dumps({"name": label, "ratio": figure.ratio,
                      "ours": statistics.median(figure.ours) if figure.ours else None, "unit": figure.unit}))
""".replace("import asyncio, json, sys", "import asyncio, json, statistics, sys")


def run_tree(tree: Path, *, quick: bool, cache: Path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(tree), "WATCHBOT_BENCH_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-c", PROBE, "quick" if quick else "full"], cwd=tree, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: the figures failed:\n{done.stderr[-3000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="the older checkout")
    parser.add_argument("new", type=Path, nargs="?", default=HERE, help="the newer checkout (default: this one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that it runs")
    args = parser.parse_args(argv)
    cache = Path(os.environ.get("WATCHBOT_BENCH_CACHE") or HERE / "bench" / ".cache")
    results: dict[str, dict[str, list[dict]]] = {}
    for number in range(args.rounds):
        for side, tree in (("old", args.old), ("new", args.new)):
            print(f"round {number + 1}/{args.rounds}: {side} ({tree})", file=sys.stderr, flush=True)
            for row in run_tree(tree.resolve(), quick=args.quick, cache=cache):
                results.setdefault(row["name"], {"old": [], "new": []})[side].append(row)
    print(f"`python -m bench.compare {args.old} {args.new} --rounds {args.rounds}"
          f"{' --quick' if args.quick else ''}`, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n")
    print("| figure | old: ratio to its baseline (median of rounds) | new: ratio | new / old | old: ours | new: ours |")
    print("|---|---|---|---|---|---|")
    for name, sides in results.items():
        old = statistics.median(row["ratio"] for row in sides["old"])
        new = statistics.median(row["ratio"] for row in sides["new"])
        unit = sides["new"][0]["unit"]
        ours = [statistics.median(row["ours"] for row in sides[side]) for side in ("old", "new")]
        print(f"| {name} | {old:.2f}× | {new:.2f}× | {new / old:.2f} | {ours[0]:.3g} {unit} | {ours[1]:.3g} {unit} |")


if __name__ == "__main__":
    main()
