"""A bot killed mid-burst (SIGKILL, no clean-up) loses nothing it acknowledged, files nothing twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import text

from watchbot.store import Store

REPO = Path(__file__).resolve().parent.parent

# The child files messages one after another, as the bot does, and prints each message's event id
# once file_post has returned: that print stands for the acknowledgement the bot would send.
FILER = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import datetime, timedelta, timezone
    from watchbot.intake import Rules, file_post
    from watchbot.model import Post, Source
    from watchbot.store import Store

    async def main(url, count):
        t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
        async with await Store.open(url) as store:
            for i in range(count):
                post = Post(source=Source.MATRIX, place="!r:x", author_id=f"@u{i % 7}:x",
                            author_name=f"u{i % 7}", event_id=f"$e{i}", at=t0 + timedelta(seconds=i),
                            text=f"https://example.org/{i % 150} and https://example.net/{i} #t{i % 5}")
                await file_post(store, post, Rules())
                print(f"$e{i}", flush=True)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


def start_filer(url: str, count: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", FILER, url, str(count)],
        cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )


async def shares_per_event(url: str) -> dict[str, int]:
    def count(engine) -> dict[str, int]:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT event_id, count(*) FROM shares GROUP BY event_id"))
            return {event_id: n for event_id, n in rows}

    async with await Store.open(url) as store:
        return await store.run(count, store.engine)


@pytest.mark.parametrize("kill_after", [40, 137])
async def test_sigkill_mid_burst_loses_no_acknowledged_message(database_url: str, kill_after: int):
    filer = start_filer(database_url, 200)
    acknowledged = []
    for line in filer.stdout:
        acknowledged.append(line.strip())
        if len(acknowledged) == kill_after:
            filer.send_signal(signal.SIGKILL)
            break
    filer.wait(timeout=30)
    assert filer.returncode == -signal.SIGKILL

    filed = await shares_per_event(database_url)
    # Every acknowledged message is there with both its links; a message caught mid-write is
    # either whole or absent, never half there.
    assert all(filed.get(event_id) == 2 for event_id in acknowledged)
    assert set(filed.values()) == {2}
    if database_url.startswith("sqlite"):
        database = database_url.removeprefix("sqlite:///")
        check = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", f"import sqlite3; print(sqlite3.connect({database!r})"
                             ".execute('PRAGMA integrity_check').fetchone()[0])"],
            capture_output=True, text=True,
        )
        assert check.stdout.strip() == "ok"

    # The restarted bot receives the whole burst again (as a sync from an old position would):
    # every message ends up filed exactly once.
    replay = start_filer(database_url, 200)
    assert len(replay.stdout.readlines()) == 200
    assert replay.wait(timeout=120) == 0
    filed = await shares_per_event(database_url)
    assert len(filed) == 200 and set(filed.values()) == {2}
