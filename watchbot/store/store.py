"""The store: one database (SQLite by default, PostgreSQL by URL), migrated when opened, the one
thread the bot's transactions run on, and lanes of readers apart from it. It runs transactions, and
has no queries of its own (but `try_writing`'s row, taken back).

What is kept is read and written by the repositories beside it, each made from a store and each
call one transaction: `LinkStore` (links.py: links, shares, tags, search, removal, records),
`PublishedReader` (published.py: what an audience may read), `CursorStore` (cursors.py),
`ReplyStore` (replies.py), `ReactionStore` (reactions.py), `OutboxStore` (outbox.py),
`ModerationStore`, `RoomStore`, `DigestRuns`, `LinkPages`, `FeedStore`, `FailureStore`,
`HeartbeatStore`. They import this module; it imports none of them (decision 29).

The repositories' methods are coroutines for the event loop, but the work is done by synchronous
SQLAlchemy on one worker thread of the store's own: a call is one hop to that thread, however
many statements it runs (an asyncio driver pays a hop per statement: about 10 times slower, see
docs/benchmarks.md). One thread also serialises writes, as SQLite wants, and a transaction that
has started always runs to its end even if the caller is cancelled (SIGTERM: finish the write).

Readers that are not the bot (the web pages, the API, the feeds, /healthz, /metrics) read through
a `Readers` lane (`store.readers("pages", threads=3)`): threads and connections of their own, and
no way to write. A page that takes a second, or twenty readers at once, then wait for each other
and never for the bot, nor the bot for them (decision 30). SQLite in WAL mode lets readers read
while the writer writes; PostgreSQL's pool gives each thread its connection.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError

from watchbot.model import utcnow
import watchbot.store.database as database
from watchbot.store.database import StoreUnavailable
from watchbot.store.schema import cursors

log = logging.getLogger(__name__)

T = TypeVar("T")


class StoreNotReady(RuntimeError):
    """The database's schema is not the one this version of watchbot expects."""

    def __init__(self, current: str | None, head: str | None) -> None:
        super().__init__(
            f"the store's schema is at {current or 'nothing yet'}, this watchbot expects {head}; "
            "it is migrated when the bot or any other watchbot command starts"
        )
        self.current = current
        self.head = head


def _reading(engine: Engine, function: Callable[[Connection], T]) -> Callable[[], T]:
    """`function(connection)` in a transaction that reads, for whichever thread runs it."""

    def work() -> T:
        with engine.connect() as conn:
            return function(conn)

    return work


class Readers:
    """A lane of reads apart from the bot's thread: `threads` threads, each with a connection of
    its own from the engine's pool, in transactions that only read. It has `read` and `dialect`,
    which is all a repository's reads use, and no `write`: whatever it is handed cannot write."""

    def __init__(self, engine: Engine, name: str, threads: int) -> None:
        self._engine = engine
        self.name = name
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"watchbot-read-{name}")

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    async def read(self, function: Callable[[Connection], T]) -> T:
        """Run `function(connection)` on one of this lane's threads, in a transaction that reads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, _reading(self._engine, function))

    def close(self) -> None:
        self._threads.shutdown(wait=True)


class Store:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="watchbot-store")
        self._lanes: dict[str, Readers] = {}

    def readers(self, name: str, *, threads: int) -> Readers:
        """The lane of readers called `name`, made on first use with `threads` threads: reads
        that must never queue behind the bot's writes nor hold them up (the web's pages, its
        health and metrics)."""
        if name not in self._lanes:
            self._lanes[name] = Readers(self._engine, name, threads)
        return self._lanes[name]

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Open the database at `url`, migrating it to the newest schema unless told not to."""
        try:
            store = cls(database.create_engine(url))
        except ArgumentError as error:  # a URL with a driver SQLAlchemy does not know
            raise StoreUnavailable(f"the database URL is not usable: {error}") from None
        try:
            await store.run(store._prepare, migrate)
        except DBAPIError as error:  # the database itself said no: unreachable, unreadable …
            await store.close()
            reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
            raise StoreUnavailable(f"cannot open the store at {database.redacted(url)}: {reason}") from None
        except BaseException:
            await store.close()
            raise
        log.debug("store open: %s", database.redacted(url))
        return store

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A transaction that will write (on SQLite: the write lock is taken at its start), on
        the store's thread: for `write`, and for a repository's function handed to `run` that
        needs more than one transaction's try (links.filing: a race to create the same link)."""
        with self._engine.connect() as conn:
            conn.execution_options(**{database.WRITE: True})
            with conn.begin():
                yield conn

    def _prepare(self, migrate: bool) -> None:
        with self._engine.connect() as conn, database.foreign_keys_off_while_migrating(conn):
            conn.execution_options(**{database.WRITE: True})
            with conn.begin():
                if migrate:
                    database.upgrade(conn)
                    return
                current, head = database.current_revision(conn)
                if current != head:
                    raise StoreNotReady(current, head)

    async def run(self, function: Callable[..., T], *args, **kwargs) -> T:
        """Run `function` on the store's worker thread (where every database call happens)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, functools.partial(function, *args, **kwargs))

    @property
    def engine(self) -> Engine:
        """The synchronous engine, for functions handed to `run` (tests, maintenance)."""
        return self._engine

    async def close(self) -> None:
        for lane in self._lanes.values():  # their reads end first: they hold connections of the pool
            await asyncio.get_running_loop().run_in_executor(None, lane.close)
        await self.run(self._engine.dispose)
        self._worker.shutdown(wait=True)

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *_exc) -> None:
        await self.close()

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    # -- transactions -----------------------------------------------------------------------

    async def read(self, function: Callable[[Connection], T]) -> T:
        """Run `function(connection)` on the worker thread, in a transaction that reads."""
        return await self.run(_reading(self._engine, function))

    async def write(self, function: Callable[[Connection], T]) -> T:
        """Run `function(connection)` in one write transaction on the worker thread."""

        def work() -> T:
            with self._writing() as conn:
                return function(conn)

        return await self.run(work)

    async def try_writing(self) -> None:
        """Write a row and take it back: raises what a real write would (a read-only file, a
        database user without INSERT, a full disk), and leaves nothing behind."""

        def work() -> None:
            with self._engine.connect() as conn:
                conn.execution_options(**{database.WRITE: True})
                with conn.begin() as transaction:
                    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
                    conn.execute(dialect_insert(cursors).values(name="watchbot.check", value="written",
                                                                updated_at=utcnow())
                                 .on_conflict_do_update(index_elements=[cursors.c.name], set_={"value": "written"}))
                    transaction.rollback()

        await self.run(work)
