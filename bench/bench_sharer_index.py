"""The gate's read of a person's last day, for a sharer with 3,000 earlier shares: the old index
(sharer_id) beside migration 0016's (sharer_id, shared_at), interleaved, in one run.

    python bench/bench_sharer_index.py

Two SQLite stores filled alike; one is taken back to 0015 (its index only: the rest of the schema
is the same), and both are read by the same code.
"""

import asyncio
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from alembic import command
from watchbot.store import Store
from watchbot.store.database import _alembic_config, create_engine
from watchbot.store.moderation import ModerationStore
from watchbot.model import NewShare, Source, Visibility
from watchbot.store.links import LinkStore

T0 = datetime(2026, 3, 9, tzinfo=timezone.utc)

async def fill(url, n):
    async with await Store.open(url) as store:
        batch = []
        for i in range(n):
            batch.append(NewShare(url=f"https://h.example/{i}", key=f"h.example/{i}", sharer_id="@heavy:x", sharer_name="h",
                         source=Source.MATRIX, place="!r:x", event_id=f"$e{i}", visibility=Visibility.PUBLIC,
                         shared_at=T0 - timedelta(days=400) + timedelta(hours=3 * i)))
            if len(batch) == 500:
                await LinkStore(store).file_shares(batch); batch = []
        if batch: await LinkStore(store).file_shares(batch)

def downgrade(url):
    engine = create_engine(url)
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0015")
        # Read by this code as it is: only the index differs between the two files.
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0016'")

async def timings(url, now, rounds):
    async with await Store.open(url, migrate=False) as store:
        m = ModerationStore(store)
        for _ in range(20): await m.facts_for_screening("@heavy:x", now, seen=False)
        out = []
        for _ in range(rounds):
            t = time.perf_counter(); await m.facts_for_screening("@heavy:x", now, seen=False); out.append(time.perf_counter() - t)
        return out

async def main():
    folder = tempfile.mkdtemp(prefix="watchbot-bench-")
    old, new = f"sqlite:///{folder}/old.db", f"sqlite:///{folder}/new.db"
    for u in (old, new):
        await fill(u, 3000)
    downgrade(old)
    now = T0 - timedelta(days=400) + timedelta(hours=3 * 3000)
    a, b = [], []
    for _ in range(10):
        a += await timings(old, now, 100); b += await timings(new, now, 100)
    ma, mb = statistics.median(a) * 1e6, statistics.median(b) * 1e6
    print(f"gate read, sharer with 3,000 shares: index (sharer_id) {ma:.0f} µs, (sharer_id, shared_at) {mb:.0f} µs, ratio {ma/mb:.1f}x")

asyncio.run(main())
