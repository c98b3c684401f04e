"""The feeds the bot follows and their polling state, and the keys of the entries each has shown.

Everything a poll needs to go on after a restart is here: the validators for conditional requests
(ETag, Last-Modified), when the next poll is due, the errors in a row (backoff), and why a feed
was disabled and whether the rooms were told.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from watchbot.store.schema import feed_entries, feeds
from watchbot.store.store import Store

_KEYS_PER_QUERY = 500  # well under both databases' limits on bound parameters


@dataclass(frozen=True, slots=True)
class Subscription:
    """A feed the bot follows, as the store keeps it."""

    id: int
    url: str
    title: str | None
    format: str | None
    tags: tuple[str, ...]
    alert: bool
    every: timedelta
    backfill: int
    added_by: str
    added_at: datetime
    etag: str | None
    last_modified: str | None
    polled_at: datetime | None
    next_poll_at: datetime
    errors: int
    last_error: str | None
    disabled_at: datetime | None
    disabled_reason: str | None
    disabled_told_at: datetime | None

    @property
    def name(self) -> str:
        return self.title or self.url

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None


class FeedAlreadyFollowed(Exception):
    def __init__(self, existing: Subscription) -> None:
        super().__init__(f"{existing.url} is already followed as feed #{existing.id}")
        self.existing = existing


class FeedStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(
        self, url: str, *, tags: Sequence[str], alert: bool, every: timedelta, backfill: int, added_by: str,
        now: datetime,
    ) -> Subscription:
        """Follow `url`, due at once; FeedAlreadyFollowed if it is followed already."""

        def add(conn: Connection) -> Subscription:
            existing = conn.execute(select(feeds).where(feeds.c.url == url)).first()
            if existing is not None:
                raise FeedAlreadyFollowed(_subscription(existing))
            feed_id = conn.execute(insert(feeds).values(
                url=url, tags=" ".join(tags), alert=alert, every_seconds=int(every.total_seconds()),
                backfill=backfill, added_by=added_by, added_at=now, next_poll_at=now, errors=0,
            ).returning(feeds.c.id)).scalar_one()
            return _subscription(conn.execute(select(feeds).where(feeds.c.id == feed_id)).one())

        return await self.store.write(add)

    async def get(self, feed_id: int) -> Subscription | None:
        return await self._one(select(feeds).where(feeds.c.id == feed_id))

    async def by_url(self, url: str) -> Subscription | None:
        return await self._one(select(feeds).where(feeds.c.url == url))

    async def all(self) -> list[Subscription]:
        return await self._many(select(feeds).order_by(feeds.c.id))

    async def enabled(self) -> list[Subscription]:
        return await self._many(select(feeds).where(feeds.c.disabled_at.is_(None)).order_by(feeds.c.id))

    async def due(self, now: datetime) -> list[Subscription]:
        """Enabled feeds whose next poll is due, the longest waiting first (a community follows
        tens or hundreds of feeds: all of them fit in one read)."""
        return await self._many(
            select(feeds).where(feeds.c.disabled_at.is_(None), feeds.c.next_poll_at <= now)
            .order_by(feeds.c.next_poll_at, feeds.c.id))

    async def next_due_at(self) -> datetime | None:
        query = select(feeds.c.next_poll_at).where(feeds.c.disabled_at.is_(None)) \
            .order_by(feeds.c.next_poll_at).limit(1)
        return await self.store.read(lambda conn: conn.execute(query).scalar_one_or_none())

    async def untold(self) -> list[Subscription]:
        """Feeds disabled that the rooms have not been told about yet."""
        return await self._many(select(feeds).where(feeds.c.disabled_at.is_not(None),
                                                    feeds.c.disabled_told_at.is_(None)).order_by(feeds.c.id))

    async def remove(self, feed_id: int) -> Subscription | None:
        """Stop following a feed (what it filed stays filed)."""

        def remove(conn: Connection) -> Subscription | None:
            row = conn.execute(select(feeds).where(feeds.c.id == feed_id)).first()
            if row is None:
                return None
            conn.execute(delete(feeds).where(feeds.c.id == feed_id))  # its entry keys go with it
            return _subscription(row)

        return await self.store.write(remove)

    async def known_keys(self, feed_id: int, keys: Iterable[str]) -> set[str]:
        """Which of these entry keys the feed has shown before."""
        wanted = list(dict.fromkeys(keys))

        def read(conn: Connection) -> set[str]:
            known: set[str] = set()
            for start in range(0, len(wanted), _KEYS_PER_QUERY):
                chunk = wanted[start:start + _KEYS_PER_QUERY]
                known.update(conn.execute(select(feed_entries.c.key).where(
                    feed_entries.c.feed_id == feed_id, feed_entries.c.key.in_(chunk))).scalars())
            return known

        return await self.store.read(read) if wanted else set()

    async def polled(
        self, feed_id: int, *, title: str | None, format: str, etag: str | None, last_modified: str | None,
        new_keys: Iterable[str], now: datetime, next_poll_at: datetime,
    ) -> None:
        """A poll that read the feed: its entries' keys are remembered, its errors forgotten."""
        rows = [{"feed_id": feed_id, "key": key, "seen_at": now} for key in dict.fromkeys(new_keys)]

        def record(conn: Connection) -> None:
            if rows:
                dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
                # Another poll of the same feed (the command line beside the bot) may have been first.
                conn.execute(dialect_insert(feed_entries).on_conflict_do_nothing(), rows)
            conn.execute(update(feeds).where(feeds.c.id == feed_id).values(
                title=title, format=format, etag=etag, last_modified=last_modified, polled_at=now,
                next_poll_at=next_poll_at, errors=0, last_error=None, backfill=0))

        await self.store.write(record)

    async def unchanged(self, feed_id: int, *, now: datetime, next_poll_at: datetime) -> None:
        """A 304: nothing new, nothing wrong."""
        await self._update(feed_id, polled_at=now, next_poll_at=next_poll_at, errors=0, last_error=None)

    async def failed(self, feed_id: int, *, reason: str, errors: int, next_poll_at: datetime) -> None:
        await self._update(feed_id, errors=errors, last_error=reason, next_poll_at=next_poll_at)

    async def moved(self, feed_id: int, url: str) -> Subscription | None:
        """The feed lives at `url` now (a permanent redirect); the feed already there, if any."""

        def move(conn: Connection) -> Subscription | None:
            other = conn.execute(select(feeds).where(feeds.c.url == url, feeds.c.id != feed_id)).first()
            if other is not None:
                return _subscription(other)
            conn.execute(update(feeds).where(feeds.c.id == feed_id).values(url=url))
            return None

        return await self.store.write(move)

    async def disable(self, feed_id: int, *, reason: str, now: datetime) -> None:
        await self._update(feed_id, disabled_at=now, disabled_reason=reason, disabled_told_at=None)

    async def told(self, feed_id: int, now: datetime) -> None:
        await self._update(feed_id, disabled_told_at=now)

    async def _update(self, feed_id: int, **values) -> None:
        statement = update(feeds).where(feeds.c.id == feed_id).values(**values)
        await self.store.write(lambda conn: conn.execute(statement))

    async def _one(self, query) -> Subscription | None:
        def read(conn: Connection) -> Subscription | None:
            row = conn.execute(query).first()
            return _subscription(row) if row is not None else None

        return await self.store.read(read)

    async def _many(self, query) -> list[Subscription]:
        return await self.store.read(lambda conn: [_subscription(row) for row in conn.execute(query)])


def _subscription(row) -> Subscription:
    return Subscription(
        id=row.id, url=row.url, title=row.title, format=row.format, tags=tuple(row.tags.split()),
        alert=bool(row.alert), every=timedelta(seconds=row.every_seconds), backfill=row.backfill,
        added_by=row.added_by, added_at=row.added_at, etag=row.etag, last_modified=row.last_modified,
        polled_at=row.polled_at, next_poll_at=row.next_poll_at, errors=row.errors, last_error=row.last_error,
        disabled_at=row.disabled_at, disabled_reason=row.disabled_reason, disabled_told_at=row.disabled_told_at,
    )
