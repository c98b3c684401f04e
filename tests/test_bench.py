"""`python -m bench --quick` still runs every benchmark of docs/benchmarks.md and prints its table.

Small sizes and no timing assertions: this only keeps the benchmarks from rotting (a renamed
store method, a changed schema, a Synapse that no longer starts would break them silently)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from watchbot.devserver import synapse_installed

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 240  # a hang guard; the quick run takes about 20 s

# Every figure of the table, by the start of its row.
FIGURES = (
    "filing a message with one link",
    "filing, as above, vs plain sqlite3 doing the gate's reads too",
    "weekly digest from",
    "weekly digest, as above, vs its own SQL",
    "public search for a rare word",
    "public search for a common word",
    "Matrix: a member's message to the bot's reaction",
    "Matrix catch-up of 10 messages after downtime: all filed",
    "Matrix catch-up of 10 messages after downtime: all reactions seen",
    "Matrix catch-up, all filed, rounds where the bot ran first",
    "Matrix catch-up, all filed, rounds where the bare client ran first",
    "Matrix catch-up, all reactions seen, rounds where the bot ran first",
    "Matrix catch-up, all reactions seen, rounds where the bare client ran first",
    "resident memory of `watchbot run`",
    "`watchbot --version`",
    "web: GET /api/links (20 links)",
    "web: GET /api/links?tag=rust",
    "web: GET /api/search?q= a rare word",
    "web: GET / (the front page)",
    "web: GET /tags/rust (a tag page)",
    "web: GET /search?q= a rare word (the search page)",
    "GET /metrics at",
    "readers at one address: a member's Matrix message to the bot's reaction",
    "readers at one address: GET /healthz p95",
    "readers at new addresses (nothing kept serves them): a member's Matrix message to the bot's reaction",
    "readers at new addresses (nothing kept serves them): GET /healthz p95",
)
# Figures the issue gives no target for: they are ratios to read, not to meet (the catch-up's
# rounds of each order: how much which side ran first weighs).
WITHOUT_TARGET = ("filing, as above, vs plain sqlite3", "web: ", "Matrix catch-up, ")


@pytest.mark.skipif(not synapse_installed() and os.environ.get("WATCHBOT_TEST_MATRIX") == "skip",
                    reason="Matrix tests left out: WATCHBOT_TEST_MATRIX=skip")
def test_quick_mode_prints_every_figure_with_a_number_for_its_ratio(tmp_path: Path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("WATCHBOT_")}
    env.update(PYTHONPATH=str(ROOT), WATCHBOT_BENCH_CACHE=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-m", "bench", "--quick"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and not line.startswith("| figure")]
    names = [row.split(" | ")[0][2:] for row in rows]
    for figure in FIGURES:
        assert sum(name.startswith(figure) for name in names) == 1, (figure, names)
    assert len(rows) == len(FIGURES)
    for row in rows:
        cells = row.strip("|").split(" | ")
        ratio = float(cells[1].split("×")[0])
        assert math.isfinite(ratio) and ratio > 0, row
        assert cells[5].strip() in ("yes", "**no**", "–"), row  # met, not met, or no target
    without = [name for name, row in zip(names, rows, strict=True) if "| – |" in row]
    assert all(name.startswith(WITHOUT_TARGET) for name in without) and len(without) == sum(f.startswith(WITHOUT_TARGET) for f in FIGURES), without
    assert "cores" in done.stdout and "load average" in done.stdout
    assert any(tmp_path.joinpath("cache").glob("store-*.db")), "the store is built into the cache it was given"
