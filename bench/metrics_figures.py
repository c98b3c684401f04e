"""`/metrics` at 1,000,000 links beside `/metrics` at 1,000 links, and what keeping the counts costs.

    python -m bench.metrics_figures            # full size: the table of this module, printed
    python -m bench.metrics_figures --quick    # small sizes: a check that it runs

In `python -m bench` (the web group): one figure, GET /metrics of the web app served on the store of
bench/corpus.py (1,000,000 links in the full size) beside the same route of the same app on a store
of 1,000 links filled alike, interleaved on one kept-alive connection each (bench/harness.py). The
counts are kept by the database (decision 31): the target is that the large store costs at most
twice the small one.

Run on its own, this module also gives, on copies of the cached store:
- the migration to the kept counts (0017) of the cached 1,000,000-link store of the revision
  before, timed once: what an operator upgrading waits;
- the same counts read by counting the rows (store/counts.py before decision 31), at both sizes;
- filing (`intake.file_post` with the gate, as in bench/store_figures.py) on the migrated store
  beside a copy of it whose counting triggers were dropped: what the triggers cost a message;
- the same on PostgreSQL (a throwaway server, tests/postgres_server.py), on empty stores.

A store at the current head is never written into the cache here: the cache's files are named by
the head revision, and another branch's 0017 would find this one's. A cached store of an earlier
revision is copied into a scratch directory and migrated there; the cache is only read.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bench import corpus  # noqa: E402
from bench.harness import Figure, interleave  # noqa: E402
from watchbot.store import Store  # noqa: E402
from watchbot.web.app import build_app  # noqa: E402
from watchbot.web.site import Site, WebOptions  # noqa: E402

SMALL = corpus.Size(links=1_000, week=100, heavy=30)


# -- the stores ----------------------------------------------------------------------------------

def store_at_head(size: corpus.Size, scratch: Path, *, log=print) -> tuple[Path, float | None]:
    """A store of this size at the current schema, and the seconds its migration took (None when
    the cache had it at this schema already). A cached store of an earlier revision is copied into
    `scratch` and migrated there; with none, the cache builds one (corpus.cached_store)."""
    head = corpus.head_revision()
    tail = f"-{size.links}-{size.week}-{size.heavy}-v{corpus.BUILDER_VERSION}.db"
    current = corpus.CACHE / f"store-{head}{tail}"
    older = sorted(path for path in corpus.CACHE.glob(f"store-*{tail}") if path != current)
    if current.exists() or not older:
        return corpus.cached_store(size, log=log), None
    copy = scratch / f"store-{head}{tail}"
    log(f"copying {older[-1].name} ({older[-1].stat().st_size / 1e6:.0f} MB) to migrate it to {head}")
    shutil.copyfile(older[-1], copy)
    began = time.perf_counter()
    asyncio.run(_open_and_close(copy))
    seconds = time.perf_counter() - began
    log(f"migrated {size.links:,} links from {older[-1].name.split('-')[1]} to {head} in {seconds:.1f} s")
    return copy, seconds


def small_store(scratch: Path) -> Path:
    """A store of SMALL's size, filled as corpus.py fills the cached ones, at the current schema."""
    path = scratch / "small.db"
    asyncio.run(_open_and_close(path))
    corpus._fill(path, SMALL, corpus.period())
    return path


async def _open_and_close(path: Path) -> None:
    store = await Store.open(f"sqlite:///{path}")
    await store.close()


TOKEN = "metrics-token-for-the-bench"  # /metrics is never open (web/guard.py)

# -- GET /metrics --------------------------------------------------------------------------------

async def _serve(path: Path):
    store = await Store.open(f"sqlite:///{path}", migrate=False)
    options = WebOptions(base_url="http://127.0.0.1", metrics_token=TOKEN)
    runner = web.AppRunner(build_app(Site(store=store, options=options, clock=lambda: corpus.NOW)), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    session = aiohttp.ClientSession(f"http://127.0.0.1:{runner.addresses[0][1]}", connector=aiohttp.TCPConnector(limit=1),
                                    headers={"Authorization": f"Bearer {TOKEN}"})
    return store, runner, session


async def metrics(large: Path, large_size: corpus.Size, small: Path, repeat: int) -> Figure:
    figure = Figure(f"GET /metrics at {large_size.links:,} links vs at {SMALL.links:,} links (the counts kept by "
                    "the database)", "ms", base_name=f"/metrics at {SMALL.links:,} links", target="≤ 2×", max_ratio=2.0)
    served = [await _serve(large), await _serve(small)]
    try:
        bodies = []
        for _store, _runner, session in served:
            async with session.get("/metrics") as answer:
                assert answer.status == 200, answer.status
                bodies.append(await answer.text())
        assert f"watchbot_links {large_size.links}\n" in bodies[0], bodies[0][:300]
        assert f"watchbot_links {SMALL.links}\n" in bodies[1], bodies[1][:300]

        def side(session: aiohttp.ClientSession):
            async def get(_index: int) -> float:
                began = time.perf_counter()
                async with session.get("/metrics") as answer:
                    await answer.read()
                return (time.perf_counter() - began) * 1000
            return get

        await interleave(figure, side(served[0][2]), side(served[1][2]), repeat=repeat, warmup=3)
    finally:
        for store, runner, session in served:
            await session.close()
            await runner.cleanup()
            await store.close()
    return figure


async def recounted(large: Path, large_size: corpus.Size, small: Path, repeat: int) -> Figure:
    """The same counts by counting every row, as store/counts.py read them before decision 31."""
    figure = Figure(f"the same counts by counting the rows (store/counts.py before decision 31), "
                    f"{large_size.links:,} links vs {SMALL.links:,}", "ms", base_name=f"at {SMALL.links:,} links",
                    target="–")
    stores = [await Store.open(f"sqlite:///{path}", migrate=False) for path in (large, small)]
    try:
        def side(store: Store):
            async def count(_index: int) -> float:
                began = time.perf_counter()
                await store.read(_recount)
                return (time.perf_counter() - began) * 1000
            return count

        await interleave(figure, side(stores[0]), side(stores[1]), repeat=repeat, warmup=1)
    finally:
        for store in stores:
            await store.close()
    return figure


def _recount(conn) -> None:
    """What store/counts.py read before decision 31 (its GROUP BY reads, heartbeats and feeds aside)."""
    from sqlalchemy import case, func, select

    from watchbot.store.schema import digest_runs, failed_events, link_pages, links, outbox, shares

    def grouped(*columns, where=None) -> None:
        query = select(*columns, func.count()).group_by(*columns)
        conn.execute(query if where is None else query.where(where)).all()

    state = case((outbox.c.sent_at.is_not(None), "sent"), (outbox.c.failed_at.is_not(None), "failed"),
                 else_="waiting")
    conn.execute(select(func.count()).select_from(links)).scalar_one()
    grouped(shares.c.source, shares.c.visibility)
    grouped(outbox.c.network, state)
    grouped(link_pages.c.state)
    grouped(digest_runs.c.status)
    grouped(failed_events.c.source, where=failed_events.c.resolved_at.is_(None))


# -- what the triggers cost a filing -------------------------------------------------------------

def drop_counting_triggers(path: Path) -> None:
    connection = sqlite3.connect(path)
    names = [row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'kept_counts_%'")]
    assert names, "no counting trigger to drop"
    for name in names:
        connection.execute(f"DROP TRIGGER {name}")
    connection.commit()
    connection.close()


async def filing(with_triggers: str, without: str, count: int, label: str) -> Figure:
    """The same messages filed through intake (the gate included) into both stores, interleaved."""
    from bench.store_figures import messages
    from watchbot.config import Settings
    from watchbot.intake import Rules, file_post
    from watchbot.moderation import Moderation, ModerationOptions

    figure = Figure(f"filing a message with one link, {label}: with the counting triggers vs without them", "ms",
                    base_name="without the triggers", target="–")
    posts, rules = messages(count + 10), Rules()
    sides = []
    for url in (with_triggers, without):
        settings = Settings(_env_file=None, database_url=url, links_per_hour=10_000, links_per_day=100_000)
        store = await Store.open(url, migrate=False)
        sides.append((store, Moderation(store, ModerationOptions.from_settings(settings))))
    try:
        def side(store: Store, gate: Moderation):
            async def file(i: int) -> float:
                post = posts[i + 10 if i >= 0 else -i - 1]
                began = time.perf_counter()
                result = await file_post(store, post, rules, gate=gate, role=gate.role_unread(post.author_id))
                elapsed = (time.perf_counter() - began) * 1000
                assert result.results, result.problems
                return elapsed
            return file

        await interleave(figure, side(*sides[0]), side(*sides[1]), repeat=count, warmup=5)
    finally:
        for store, _gate in sides:
            await store.close()
    return figure


async def postgresql_filing(count: int) -> Figure:
    """Filing on PostgreSQL, into two empty stores, one without the counting triggers."""
    from tests.postgres_server import create_database, running_postgres

    with tempfile.TemporaryDirectory(prefix="bench-metrics-pg-") as scratch:
        with running_postgres(Path(scratch)) as server:
            urls = [create_database(server, name) for name in ("with_triggers", "without_triggers")]
            for url in urls:
                await _open_and_close_url(url)
            store = await Store.open(urls[1])
            try:
                await store.write(_drop_postgresql_triggers)
            finally:
                await store.close()
            return await filing(urls[0], urls[1], count, "PostgreSQL, empty store")


# The revision before the kept counts: the PostgreSQL store to migrate is made at it.
BEFORE_KEPT_COUNTS = "0016"


async def postgresql_migration(links: int) -> float:
    """Seconds to migrate a PostgreSQL store of `links` links (a share and a page each) from the
    revision before the kept counts to the head, on a throwaway server (fsync off)."""
    from alembic import command
    from sqlalchemy import text

    from tests.postgres_server import create_database, running_postgres
    from watchbot.store.database import _alembic_config, create_engine

    with tempfile.TemporaryDirectory(prefix="bench-metrics-pg-") as scratch:
        with running_postgres(Path(scratch)) as server:
            url = create_database(server, "migration")
            engine = create_engine(url)
            with engine.begin() as conn:
                command.upgrade(_alembic_config(conn), BEFORE_KEPT_COUNTS)
                numbers = "FROM generate_series(1, :links) AS n"
                conn.execute(text("INSERT INTO links (id, key, url, search_document, filed_at) "
                                  f"SELECT n, 'https://s.example/' || n, 'https://s.example/' || n, 'words ' || n, now() "
                                  f"{numbers}"), {"links": links})
                conn.execute(text("INSERT INTO shares (link_id, url, sharer_id, sharer_name, source, place, event_id, "
                                  "visibility, shared_at) SELECT n, 'https://s.example/' || n, '@user' || n % 300 || '@x', "
                                  "'user', 'matrix', 'room', 'e' || n, 'public', now() "
                                  f"{numbers}"), {"links": links})
                conn.execute(text(f"INSERT INTO link_pages (link_id, state, attempts) SELECT n, 'ok', 1 {numbers}"),
                             {"links": links})
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))  # rows as old as a real store's, not just written
            engine.dispose()
            began = time.perf_counter()
            await _open_and_close_url(url)
            return time.perf_counter() - began


async def _open_and_close_url(url: str) -> None:
    store = await Store.open(url)
    await store.close()


def _drop_postgresql_triggers(conn) -> None:
    from sqlalchemy import text

    rows = conn.execute(text("SELECT tgname, tgrelid::regclass::text FROM pg_trigger "
                             "WHERE tgname LIKE 'kept_counts_%'")).all()
    assert rows, "no counting trigger to drop"
    for name, table in rows:
        conn.execute(text(f"DROP TRIGGER {name} ON {table}"))


# -- the runs --------------------------------------------------------------------------------

def figures(*, quick: bool, log=print) -> list[Figure]:
    """The figure of `python -m bench` (the web group)."""
    size = corpus.QUICK if quick else corpus.FULL
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as scratch:
        large, _migration = store_at_head(size, Path(scratch), log=log)
        small = small_store(Path(scratch))
        figure = asyncio.run(metrics(large, size, small, 20 if quick else 300))
    log(f"{figure.name}: {figure.ratio:.2f}×")
    return [figure]


def main(argv: list[str] | None = None) -> None:
    from bench import harness

    parser = argparse.ArgumentParser(prog="python -m bench.metrics_figures", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Small sizes: checks that it runs.")
    args = parser.parse_args(argv)
    quick = args.quick

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    size = corpus.QUICK if quick else corpus.FULL
    before = harness.machine()
    began = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as scratch:
        scratch = Path(scratch)
        large, migration = store_at_head(size, scratch, log=log)
        small = small_store(scratch)
        measured = [asyncio.run(metrics(large, size, small, 20 if quick else 300)),
                    asyncio.run(recounted(large, size, small, 3 if quick else 10))]
        without = scratch / "without-triggers.db"
        log("copying the store for filing without the triggers")
        shutil.copyfile(large, without)
        drop_counting_triggers(without)
        ours = large
        if not large.is_relative_to(scratch):  # the cache's own file: never written to
            ours = scratch / "with-triggers.db"
            shutil.copyfile(large, ours)
        measured.append(asyncio.run(filing(f"sqlite:///{ours}", f"sqlite:///{without}", 20 if quick else 400,
                                           f"SQLite, {size.links:,} links")))
    measured.append(asyncio.run(postgresql_filing(20 if quick else 400)))
    log("PostgreSQL: filling a store to migrate")
    pg_migration = asyncio.run(postgresql_migration(size.links))
    print(f"`python -m bench.metrics_figures{' --quick' if quick else ''}`, {began} UTC\n")
    print(f"Before: {before}  \nAfter: {harness.machine()}\n")
    if migration is not None:
        print(f"Migration to {corpus.head_revision()} of the {size.links:,}-link store (SQLite): {migration:.1f} s  ")
    print(f"Migration from {BEFORE_KEPT_COUNTS} to {corpus.head_revision()} of a {size.links:,}-link PostgreSQL store "
          f"(a share and a page a link, throwaway server, fsync off): {pg_migration:.1f} s\n")
    print(harness.table(measured))


if __name__ == "__main__":
    main()
