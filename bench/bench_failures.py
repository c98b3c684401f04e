"""What looking for retries costs each worker's cycle: `FailureStore.to_retry` against an empty
read of the store, on a store with no failed events and with many.

    python bench/bench_failures.py [--rows 10000] [--reads 2000]

A fresh SQLite store. Each worker asks once per cycle (Matrix after each sync, Mastodon after each
poll, feeds after each round, the page fetcher when idle) whether an operator asked for a retry;
the answer is nearly always "no". Alternating blocks of 100 reads of each kind, medians.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from watchbot.model import utcnow  # noqa: E402
from watchbot.store import Store  # noqa: E402
from watchbot.store.cursors import CursorStore  # noqa: E402
from watchbot.store.failures import FailureStore  # noqa: E402
from watchbot.store.schema import failed_events  # noqa: E402


async def medians(store: Store, reads: int) -> tuple[float, float]:
    failures = FailureStore(store)
    timings: dict[str, list[float]] = {"to_retry": [], "empty read": []}
    for n in range(reads):
        side = "to_retry" if (n // 100) % 2 == 0 else "empty read"
        began = time.perf_counter()
        if side == "to_retry":
            await failures.to_retry("matrix")
        else:
            await CursorStore(store).get("bench")
        timings[side].append(time.perf_counter() - began)
    return statistics.median(timings["to_retry"]) * 1e6, statistics.median(timings["empty read"]) * 1e6


async def main(rows: int, reads: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = await Store.open(f"sqlite:///{directory}/bench.db")
        results = [(0, *await medians(store, reads))]
        now = utcnow()
        await store.write(lambda conn: conn.execute(failed_events.insert(), [
            dict(source=("matrix", "mastodon", "feed", "page")[i % 4], place="!r:x", event_id=f"$e{i}",
                 reason="RuntimeError: bench", payload="{}", failed_at=now, attempts=1) for i in range(rows)]))
        results.append((rows, *await medians(store, reads)))
        await store.close()
    print(f"## Looking for failed events to retry ({date.today().isoformat()})\n")
    print(f"Python {platform.python_version()}, {os.cpu_count()} cores; "
          f"`python bench/bench_failures.py --rows {rows} --reads {reads}`\n")
    print("| failed events kept | to_retry (median) | empty read (median) |")
    print("|---|---|---|")
    for count, asked, empty in results:
        print(f"| {count:,} | {asked:.0f} µs | {empty:.0f} µs |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=2000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rows, arguments.reads))
