"""Every benchmark of the issue's table, in one run, printed as one Markdown table.

    python -m bench            # full size: a store of 1,000,000 links (built once into bench/.cache)
    python -m bench --quick    # small sizes: a check that the benchmarks still run, not figures
    python -m bench --only store,startup

Groups: store (filing, digest, search), matrix (reaction, catch-up, memory: starts a throwaway
Synapse), startup (`watchbot --version`), web (the JSON API beside a static file of the same size),
readers (`watchbot run` answering a member while readers loop on its heaviest page). Each figure interleaves watchbot with a baseline doing
the same work (bench/harness.py). Progress goes to standard error, the table to standard output.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402

GROUPS = ("store", "matrix", "startup", "web", "readers")


def run(groups: tuple[str, ...], *, quick: bool) -> list[harness.Figure]:
    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    figures: list[harness.Figure] = []
    for group in groups:
        began = time.perf_counter()
        log(f"{group}: running")
        if group == "store":
            from bench import store_figures as module
        elif group == "matrix":
            from bench import matrix_figures as module
        elif group == "web":
            from bench import web_figures as module
        elif group == "readers":
            from bench import readers_figures as module
        else:
            from bench import startup_figures as module
        figures += module.figures(quick=quick, log=log)
        log(f"{group}: done in {time.perf_counter() - began:.0f} s")
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Small sizes: checks that every benchmark runs.")
    parser.add_argument("--only", default=",".join(GROUPS), help=f"Comma-separated groups of {', '.join(GROUPS)}.")
    args = parser.parse_args(argv)
    groups = tuple(g.strip() for g in args.only.split(",") if g.strip())
    if unknown := [g for g in groups if g not in GROUPS]:
        parser.error(f"unknown group {', '.join(unknown)}; choose among {', '.join(GROUPS)}")
    before = harness.machine()
    figures = run(groups, quick=args.quick)
    command = "python -m bench" + (" --quick" if args.quick else "") + \
        ("" if groups == GROUPS else f" --only {','.join(groups)}")
    print(f"`{command}`, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n")
    print(f"Before: {before}  \nAfter: {harness.machine()}\n")
    print(harness.table(figures))
    if notes := [f"- {figure.name}: {figure.note}" for figure in figures if figure.note]:
        print("\n" + "\n".join(notes))


if __name__ == "__main__":
    main()
