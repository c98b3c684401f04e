"""The weekly digest against its own SQL, for this tree and an older one, round by round.

    python bench/bench_digest_sql.py [OLD_TREE] [--rounds 3] [--repeat 15]

OLD_TREE is a checkout of the project (`git archive 7df8cf3 | tar -x -C /tmp/old`). Each round runs,
in turn, OLD_TREE's code and this tree's, each in a process of its own with that tree first on the
path, on one copy of the cached store of 1,000,000 links (bench/corpus.py; the cache is only read).
In each, watchbot reads, builds and renders the week as bench/store_figures.py's digest does,
interleaved (bench/harness.py) with two baselines on plain sqlite3: the very SQL that tree's
`shared_between` sends to SQLite with the same parameters (caught from SQLAlchemy's
`before_cursor_execute` where the read goes through SQLAlchemy, taken from `period_query` where it
runs on the driver's cursor), and the hand-written `_WEEK` of store_figures. A tree's figures are
ratios to the baselines measured beside them in the same process, so a busy moment of the shared
machine weighs on both sides of a ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

PROBE = """
import asyncio, json, statistics, sys, time
from bench import corpus
from bench.corpus import stamp
from bench.harness import Figure, interleave, load
from bench.store_figures import _WEEK, plain_connection, week_of
from watchbot.digest.build import build_digest
from watchbot.digest.render import render_matrix_parts, render_thread
from watchbot.store import Store
from watchbot.store.published import PublishedReader

path, repeat = sys.argv[1], int(sys.argv[2])


async def own_sql(store, period):
    try:
        from watchbot.model import PUBLIC
        from watchbot.store.published import period_query
    except ImportError:  # the read goes through SQLAlchemy: catch what it sends
        from sqlalchemy import event
        seen = []
        def caught(conn, cursor, statement, parameters, context, executemany):
            seen.append((statement, parameters))
        event.listen(store.engine, "before_cursor_execute", caught)
        await PublishedReader(store).shared_between(period.start, period.end)
        event.remove(store.engine, "before_cursor_execute", caught)
        return [s for s in seen if "share_tags" in s[0]][-1]
    compiled = period_query(PUBLIC).compiled(store.engine.dialect)
    return compiled.sql, compiled.parameters({"start": period.start, "end": period.end})


async def main():
    period = corpus.period()
    store = await Store.open(f"sqlite:///{path}", migrate=False)
    connection = plain_connection(path)
    baselines = {"own SQL": await own_sql(store, period),
                 "_WEEK": (_WEEK, {"start": stamp(period.start), "end": stamp(period.end)})}
    for name, (sql, parameters) in baselines.items():
        figure = Figure(name, "ms")

        async def ours(_i):
            began = time.perf_counter()
            built = build_digest(await week_of(store, period), period, top=20)
            render_matrix_parts(built, corpus.ZONE)
            render_thread(built, corpus.ZONE)
            return (time.perf_counter() - began) * 1000

        def base(_i, sql=sql, parameters=parameters):
            began = time.perf_counter()
            connection.execute(sql, parameters).fetchall()
            return (time.perf_counter() - began) * 1000

        await interleave(figure, ours, base, repeat=repeat, warmup=1)
        low, high = figure.ratio_spread
        print(json.dumps({"baseline": name, "ratio": figure.ratio, "low": low, "high": high,
                          "ours": statistics.median(figure.ours), "base": statistics.median(figure.base),
                          "load": load()}))
    connection.close()
    await store.close()

asyncio.run(main())
"""


def run_tree(tree: Path, store: Path, repeat: int) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", PROBE, str(store), str(repeat)], cwd=tree, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: the digest failed:\n{done.stderr[-3000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, nargs="?", help="an older checkout to measure beside this one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=15, help="digests per baseline, per tree and round")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from bench import corpus, harness

    trees = [("old", args.old.resolve())] if args.old else []
    trees.append(("new", HERE))
    print(f"Before: {harness.machine()}  ")
    with tempfile.TemporaryDirectory(prefix="bench-digest-sql-") as scratch:
        store = Path(scratch) / "store.db"
        shutil.copyfile(corpus.cached_store(corpus.FULL, log=lambda line: print(line, file=sys.stderr)), store)
        found: dict[tuple[str, str], list[dict]] = {}
        for round_ in range(args.rounds):
            for label, tree in trees if round_ % 2 == 0 else reversed(trees):
                for row in run_tree(tree, store, args.repeat):
                    found.setdefault((label, row["baseline"]), []).append(row)
                    print(f"round {round_ + 1}, {label}, vs {row['baseline']}: {row['ratio']:.2f}× "
                          f"(IQR {row['low']:.2f}–{row['high']:.2f}), {row['ours']:.1f} ms vs {row['base']:.1f} ms, "
                          f"load {row['load']:.2f}", file=sys.stderr, flush=True)
    print(f"After: {harness.machine()}\n")
    print("| tree | baseline | ratio per round: median (IQR of paired ratios) | median of the rounds' ratios "
          "| watchbot: median ms per round | baseline: median ms per round |\n|---|---|---|---|---|---|")
    for (label, baseline), rows in found.items():
        ratios = ", ".join(f"{r['ratio']:.2f}× ({r['low']:.2f}–{r['high']:.2f})" for r in rows)
        ours = ", ".join(f"{r['ours']:.1f}" for r in rows)
        base = ", ".join(f"{r['base']:.1f}" for r in rows)
        print(f"| {label} | {baseline} | {ratios} | {statistics.median(r['ratio'] for r in rows):.2f}× "
              f"| {ours} | {base} |")


if __name__ == "__main__":
    main()
