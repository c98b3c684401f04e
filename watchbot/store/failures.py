"""Failed events: what a handler could not cope with, kept with its payload to be retried.

One row per (source, event id): a second failure of the same event counts one more attempt and
opens the row again. An operator asks for a retry (the running bot that failed it picks it up)
or forgets it; either way the row stays, resolved, as the record of what happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from watchbot.model import utcnow
from watchbot.store.cursors import set_cursor_in
from watchbot.store.schema import failed_events
from watchbot.store.store import Store

RETRIED = "retried"
FORGOTTEN = "forgotten"


@dataclass(frozen=True, slots=True)
class FailedEvent:
    id: int
    source: str  # matrix, mastodon, feed, page
    place: str
    event_id: str
    reason: str
    payload: str | None  # JSON, as the handler had it; None when it was too large to keep
    failed_at: datetime
    attempts: int
    retry_asked_at: datetime | None
    resolved_at: datetime | None
    resolution: str | None

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None


class FailureStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def record(
        self, source: str, place: str, event_id: str, reason: str, payload: str | None, *,
        at: datetime | None = None, cursor: tuple[str, str] | None = None,
    ) -> int:
        """Keep a failure (or one more attempt of one kept before) and, in the same transaction,
        move a sync cursor past the event when one is given; the row's id."""
        at = at or utcnow()

        def record(conn: Connection) -> int:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            statement = insert(failed_events).values(
                source=source, place=place, event_id=event_id, reason=reason, payload=payload, failed_at=at,
                attempts=1)
            statement = statement.on_conflict_do_update(
                index_elements=[failed_events.c.source, failed_events.c.event_id],
                set_={"place": place, "reason": reason, "payload": payload, "failed_at": at,
                      "attempts": failed_events.c.attempts + 1, "retry_asked_at": None, "resolved_at": None,
                      "resolution": None},
            ).returning(failed_events.c.id)
            number = conn.execute(statement).scalar_one()
            if cursor is not None:
                set_cursor_in(conn, *cursor)
            return number

        return await self.store.write(record)

    async def get(self, number: int) -> FailedEvent | None:
        query = select(failed_events).where(failed_events.c.id == number)
        return await self.store.read(lambda conn: _one(conn.execute(query).first()))

    async def list(self, *, resolved: bool = False, limit: int = 100) -> list[FailedEvent]:
        """The unresolved failures (or every one, with `resolved`), the newest first."""
        query = select(failed_events).order_by(failed_events.c.failed_at.desc(), failed_events.c.id.desc())
        if not resolved:
            query = query.where(failed_events.c.resolved_at.is_(None))
        return await self.store.read(lambda conn: [_one(row) for row in conn.execute(query.limit(limit))])

    async def count_unresolved(self) -> int:
        query = select(func.count()).select_from(failed_events).where(failed_events.c.resolved_at.is_(None))
        return await self.store.read(lambda conn: conn.execute(query).scalar_one())

    async def ask_retry(self, numbers: Sequence[int] | None, *, at: datetime | None = None) -> list[FailedEvent]:
        """Mark unresolved failures that have a payload to be retried (the given ones, or all of
        them with None); those marked."""
        condition = [failed_events.c.resolved_at.is_(None), failed_events.c.payload.is_not(None)]
        if numbers is not None:
            condition.append(failed_events.c.id.in_(list(numbers)))
        at = at or utcnow()

        def mark(conn: Connection) -> list[FailedEvent]:
            marked = conn.execute(update(failed_events).where(*condition).values(retry_asked_at=at)
                                  .returning(failed_events.c.id)).scalars().all()
            rows = conn.execute(select(failed_events).where(failed_events.c.id.in_(marked))
                                .order_by(failed_events.c.id))
            return [_one(row) for row in rows]

        return await self.store.write(mark)

    async def to_retry(self, source: str) -> list[FailedEvent]:
        """The failures of `source` an operator asked to retry, oldest first."""
        query = select(failed_events).where(
            failed_events.c.retry_asked_at.is_not(None), failed_events.c.source == source,
            failed_events.c.resolved_at.is_(None)).order_by(failed_events.c.id)
        return await self.store.read(lambda conn: [_one(row) for row in conn.execute(query)])

    async def resolve(self, number: int, resolution: str, *, at: datetime | None = None) -> FailedEvent | None:
        """Close an unresolved failure (retried, forgotten); None when there is no such one open."""
        at = at or utcnow()

        def close(conn: Connection) -> FailedEvent | None:
            done = conn.execute(update(failed_events).where(
                failed_events.c.id == number, failed_events.c.resolved_at.is_(None),
            ).values(resolved_at=at, resolution=resolution, retry_asked_at=None)).rowcount
            if not done:
                return None
            return _one(conn.execute(select(failed_events).where(failed_events.c.id == number)).first())

        return await self.store.write(close)


def _one(row) -> FailedEvent | None:
    if row is None:
        return None
    return FailedEvent(
        id=row.id, source=row.source, place=row.place, event_id=row.event_id, reason=row.reason,
        payload=row.payload, failed_at=row.failed_at, attempts=row.attempts, retry_asked_at=row.retry_asked_at,
        resolved_at=row.resolved_at, resolution=row.resolution)
