"""Start-up: `watchbot --version` as a person runs it, beside starting Python and doing nothing.

Both are fresh processes of the same interpreter, in an empty directory, with this tree first on
the path: `python -m watchbot --version` and `python -c pass`, in turn. The ratio is what
watchbot's imports cost before it can say its version.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Figure, interleave

ROOT = Path(__file__).resolve().parent.parent


def _wall_ms(command: list[str], cwd: str) -> float:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": cwd, "PYTHONPATH": str(ROOT)}
    began = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - began) * 1000


def figures(*, quick: bool, log=print) -> list[Figure]:
    figure = Figure("`watchbot --version`, wall time vs `python -c pass`", "ms", base_name="python -c pass",
                    target="< 300 ms", max_median=300.0)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as empty:
        asyncio.run(interleave(
            figure,
            lambda _i: _wall_ms([sys.executable, "-m", "watchbot", "--version"], empty),
            lambda _i: _wall_ms([sys.executable, "-c", "pass"], empty),
            repeat=3 if quick else 20, warmup=1))
    return [figure]
