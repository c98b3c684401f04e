"""`watchbot export --format json` of a store of 100,000 links: its wall time and its own peak memory.

    python bench/bench_export.py [--links 100000]

The store is bench/corpus.py's (page rows, a sharer with thousands of shares), built once into
bench/.cache. The export runs as a person runs it, in a process of its own, which reports its own
peak resident memory (VmHWM): ru_maxrss of children would inherit this process's peak across fork
and exec on Linux, and so report the benchmark's memory, not the export's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import corpus  # noqa: E402
from bench.harness import machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def export_in_child(url: str, fmt: str, out: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS of the exporting process in MB)."""
    code = ("import atexit, sys; atexit.register(lambda: print(open('/proc/self/status').read()"
            ".split('VmHWM:')[1].split()[0], file=sys.stderr)); "
            "from watchbot.cli import main; sys.argv = ['watchbot'] + sys.argv[1:]; main()")
    start = time.perf_counter()
    child = subprocess.run([sys.executable, "-c", code, "export", "--format", fmt, "-o", str(out)], check=True,
                           env={"WATCHBOT_DATABASE_URL": url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
                           capture_output=True, text=True, cwd=out.parent)
    return time.perf_counter() - start, int(child.stderr.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=100_000)
    args = parser.parse_args()
    store = corpus.cached_store(corpus.Size(links=args.links, week=2_000, heavy=3_000))
    with tempfile.TemporaryDirectory(prefix="bench-export-") as scratch:
        out = Path(scratch) / "all.json"
        wall, peak = export_in_child(f"sqlite:///{store}", "json", out)
        written = out.stat().st_size / 2**20
    print(f"{machine()}; `python bench/bench_export.py --links {args.links}`\n")
    print("| links | wall | peak RSS | written |\n|---|---|---|---|")
    print(f"| {args.links:,} | {wall:.1f} s | {peak:.0f} MB | {written:.0f} MiB |")


if __name__ == "__main__":
    main()
