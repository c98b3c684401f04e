"""The outbox's rows: owed answers written beside what they answer, and their fate once sent.

`add_in(conn, …)` takes the caller's transaction, so an answer is owed exactly when what it answers
is filed (and the sync position moves); the same answer written twice (a replayed event carries the
same key) is one row. `OutboxStore.owe` owes answers with a cursor, for a message that filed
nothing (a refusal, a held post). The sender (watchbot/outbox.py) reads what is due, in order, and marks each
row sent, to retry later, or failed (kept for the operator, never retried by itself).

A sent row is kept for exactly-once only: while the same answer may be owed again (a sync batch
replayed after a crash, a failed event retried) its key keeps it from being sent twice, and a
digest resumed among the pieces of a part goes on after the last one posted. `prune_sent` deletes
what was sent more than SENT_KEPT before the network's last send (decision 36).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from watchbot.model import Owed, utcnow
from watchbot.store.cursors import set_cursor_in
from watchbot.store.prepared import Prepared
from watchbot.store.schema import digest_runs, outbox
from watchbot.store.store import Store


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    network: str
    place: str
    kind: str
    payload: dict[str, Any]
    key: str
    attempts: int
    created_at: datetime
    last_error: str | None
    next_attempt_at: datetime | None = None
    failed_at: datetime | None = None  # given up: kept for the operator (`watchbot outbox`)


@dataclass(frozen=True, slots=True)
class Backlog:
    waiting: int  # not sent yet (due now or later)
    failed: int  # given up: the operator's to look at
    oldest_waiting_at: datetime | None


# How long a sent answer is kept, counted back from the network's last send (a bot that was
# stopped for a month still has its last answers when a replayed batch asks for them again).
SENT_KEPT = timedelta(days=7)
# A payload's mark: once sent, keep the row without what it said (Owed.kept is False).
EMPTIED_WHEN_SENT = "emptied_when_sent"
# A piece of a digest's part posted on its own (networks/fediverse/outlets.py): kept while any
# digest run is still being posted, which may resume among them.
DIGEST_PIECE = "digest-piece"


def add_in(conn: Connection, owed: Iterable[Owed], at: datetime) -> None:
    """Owe these answers, in the caller's transaction; an answer already owed is left as it is."""
    rows = [{"network": o.network, "place": o.place, "kind": o.kind, "key": o.key,
             "payload": json.dumps(dict(o.payload) | ({} if o.kept else {EMPTIED_WHEN_SENT: True}),
                                   ensure_ascii=False, separators=(",", ":")),
             "created_at": at, "next_attempt_at": at} for o in owed]
    _ADD[conn.dialect.name].run_many(conn, rows)


def _adding(dialect) -> Prepared:
    columns = ("network", "place", "kind", "key", "payload", "created_at", "next_attempt_at")
    statement = dialect.insert(outbox).values({name: bindparam(name, type_=outbox.c[name].type) for name in columns})
    return Prepared(statement.on_conflict_do_nothing(index_elements=[outbox.c.network, outbox.c.key]))


# Built once, run on the driver's cursor: it runs in every filing's transaction.
_ADD = {"postgresql": _adding(postgresql), "sqlite": _adding(sqlite)}


_PENDING = and_(outbox.c.sent_at.is_(None), outbox.c.failed_at.is_(None))


class OutboxStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, owed: Iterable[Owed], at: datetime) -> None:
        owed = list(owed)
        await self.store.write(lambda conn: add_in(conn, owed, at))

    async def owe(self, owed: Iterable[Owed], *, cursor: tuple[str, str] | None = None) -> None:
        """Owe answers and move a sync cursor in one transaction (what answers a message that
        filed nothing: a refusal, a held post); nothing to do when there is neither."""
        owed = list(owed)
        if not owed and cursor is None:
            return

        def write(conn: Connection) -> None:
            add_in(conn, owed, utcnow())
            if cursor is not None:
                set_cursor_in(conn, *cursor)

        await self.store.write(write)

    async def record_sent(self, owed: Owed, remote_id: str, at: datetime) -> None:
        """Keep what was posted directly (not through the sender) under its key: a server that
        ignores idempotency keys is not sent the same thing twice after a crash."""

        def write(conn: Connection) -> None:
            add_in(conn, [owed], at)
            conn.execute(update(outbox).where(outbox.c.network == owed.network, outbox.c.key == owed.key,
                                              outbox.c.sent_at.is_(None))
                         .values(sent_at=at, remote_id=remote_id, attempts=outbox.c.attempts + 1))

        await self.store.write(write)

    async def sent_id(self, network: str, key: str) -> str | None:
        """The server's id for what was sent under this key, or None when nothing was."""
        return await self.store.read(lambda conn: conn.execute(
            select(outbox.c.remote_id).where(outbox.c.network == network, outbox.c.key == key,
                                             outbox.c.sent_at.is_not(None))).scalar())

    async def waiting_in(self, network: str, place: str) -> int:
        """How many answers in this place wait to be sent (a thread's cap counts them as made)."""
        return await self.store.read(lambda conn: conn.execute(
            select(func.count()).where(outbox.c.network == network, outbox.c.place == place, _PENDING)).scalar_one())

    async def forget(self, item_id: int, *, place: str | None = None) -> None:
        """Empty a row's payload once it is sent (what it said need not be kept: an answer to
        someone who asked bots to keep nothing of them), and with `place`, put that word where
        the row named where it was sent (a direct chat's room leads to its person)."""
        values = {"payload": "{}"} | ({"place": place} if place is not None else {})
        await self.store.write(lambda conn: conn.execute(update(outbox).where(outbox.c.id == item_id).values(**values)))

    async def holds(self, network: str, key: str) -> bool:
        """Whether a row, sent or not, is kept under this key."""
        return await self.store.read(lambda conn: conn.execute(
            select(outbox.c.id).where(outbox.c.network == network, outbox.c.key == key)).first() is not None)

    async def rekey(self, network: str, kinds: list[str],
                    keyed: Callable[[str, str, dict[str, Any]], str | None]) -> int:
        """Give this network's rows of these kinds the key `keyed(kind, key, payload)` says, in one
        transaction: the same key leaves a row, None deletes it, and a row whose new key is taken
        already is deleted (the same answer, owed again). How many rows changed."""

        def write(conn: Connection) -> int:
            changed = 0
            rows = conn.execute(select(outbox.c.id, outbox.c.kind, outbox.c.key, outbox.c.payload).where(
                outbox.c.network == network, outbox.c.kind.in_(kinds)).order_by(outbox.c.id)).all()
            for row in rows:
                key = keyed(row.kind, row.key, json.loads(row.payload or "{}"))
                if key == row.key:
                    continue
                taken = key is not None and conn.execute(select(outbox.c.id).where(
                    outbox.c.network == network, outbox.c.key == key)).first() is not None
                if key is None or taken:
                    conn.execute(delete(outbox).where(outbox.c.id == row.id))
                else:
                    conn.execute(update(outbox).where(outbox.c.id == row.id).values(key=key))
                changed += 1
            return changed

        return await self.store.write(write)

    async def due(self, network: str, now: datetime, *, limit: int = 50) -> list[OutboxItem]:
        """What waits to be sent, oldest first, with every later item of a place whose older item
        is not due yet left out: answers in one place go out in the order they were owed."""

        def read(conn: Connection) -> list[OutboxItem]:
            rows = conn.execute(
                select(outbox).where(outbox.c.network == network, _PENDING).order_by(outbox.c.id).limit(limit * 4)
            ).all()
            blocked, due = set(), []
            for row in rows:
                if row.place in blocked:
                    continue
                if row.next_attempt_at > now:
                    blocked.add(row.place)
                    continue
                due.append(_item(row))
                if len(due) == limit:
                    break
            return due

        return await self.store.read(read)

    async def next_due_at(self, network: str) -> datetime | None:
        return await self.store.read(lambda conn: conn.execute(
            select(func.min(outbox.c.next_attempt_at)).where(outbox.c.network == network, _PENDING)).scalar())

    async def sent(self, item_id: int, at: datetime, remote_id: str | None = None, *, emptied: bool = False) -> None:
        """Mark a row sent; `emptied`: without what it said from now on (EMPTIED_WHEN_SENT)."""
        await self._update(item_id, sent_at=at, remote_id=remote_id, attempts=outbox.c.attempts + 1,
                           **({"payload": "{}"} if emptied else {}))

    async def prune_sent(self, network: str, now: datetime, *, kept: timedelta = SENT_KEPT) -> int:
        """Delete this network's answers sent more than `kept` before its last send (or before
        `now`, when that is earlier): how many. Pieces of digest parts stay while a digest run
        is being posted (it may resume among them)."""

        def prune(conn: Connection) -> int:
            last = conn.execute(select(func.max(outbox.c.sent_at)).where(outbox.c.network == network)).scalar()
            if last is None:
                return 0
            which = [outbox.c.network == network, outbox.c.sent_at < min(now, last) - kept]
            if conn.execute(select(digest_runs.c.id).where(digest_runs.c.status == "posting").limit(1)).first():
                which.append(outbox.c.kind != DIGEST_PIECE)
            return conn.execute(delete(outbox).where(*which)).rowcount

        return await self.store.write(prune)

    async def retry_later(self, item_id: int, error: str, next_attempt_at: datetime) -> None:
        await self._update(item_id, last_error=error, next_attempt_at=next_attempt_at,
                           attempts=outbox.c.attempts + 1)

    async def give_up(self, item_id: int, error: str, at: datetime) -> None:
        await self._update(item_id, last_error=error, failed_at=at, attempts=outbox.c.attempts + 1)

    async def failed(self, network: str | None = None, *, limit: int = 100) -> list[OutboxItem]:
        def read(conn: Connection) -> list[OutboxItem]:
            query = select(outbox).where(outbox.c.failed_at.is_not(None))
            if network is not None:
                query = query.where(outbox.c.network == network)
            return [_item(row) for row in conn.execute(query.order_by(outbox.c.id.desc()).limit(limit))]

        return await self.store.read(read)

    async def unsent(self, *, failed_only: bool = False, limit: int = 1000) -> list[OutboxItem]:
        """What is not sent, waiting or failed, oldest first (the order it is sent in)."""
        query = select(outbox).where(outbox.c.sent_at.is_(None))
        if failed_only:
            query = query.where(outbox.c.failed_at.is_not(None))
        return await self.store.read(lambda conn: [
            _item(row) for row in conn.execute(query.order_by(outbox.c.id).limit(limit))])

    async def get_unsent(self, item_id: int) -> OutboxItem | None:
        row = await self.store.read(lambda conn: conn.execute(
            select(outbox).where(outbox.c.id == item_id, outbox.c.sent_at.is_(None))).first())
        return None if row is None else _item(row)

    async def retry(self, item_ids: Iterable[int] | None, at: datetime) -> list[OutboxItem]:
        """Failed items (these, or every one) back in the queue, due now, with their tries counted
        afresh; the running bot's sender finds them at its next look. The items put back."""
        ids = None if item_ids is None else list(item_ids)

        def write(conn: Connection) -> list[OutboxItem]:
            which = [outbox.c.failed_at.is_not(None), outbox.c.sent_at.is_(None)]
            if ids is not None:
                which.append(outbox.c.id.in_(ids))
            rows = conn.execute(select(outbox).where(*which).order_by(outbox.c.id)).all()
            if rows:
                conn.execute(update(outbox).where(outbox.c.id.in_([row.id for row in rows]))
                             .values(failed_at=None, next_attempt_at=at, attempts=0))
            return [_item(row) for row in rows]

        return await self.store.write(write)

    async def drop(self, item_id: int) -> OutboxItem | None:
        """Remove an answer not sent (waiting or failed): it is never sent. None if there is none."""

        def write(conn: Connection) -> OutboxItem | None:
            row = conn.execute(select(outbox).where(outbox.c.id == item_id, outbox.c.sent_at.is_(None))).first()
            if row is not None:
                conn.execute(delete(outbox).where(outbox.c.id == item_id))
            return None if row is None else _item(row)

        return await self.store.write(write)

    async def backlog(self, network: str | None = None) -> Backlog:
        def read(conn: Connection) -> Backlog:
            where = [] if network is None else [outbox.c.network == network]
            waiting, oldest = conn.execute(
                select(func.count(), func.min(outbox.c.created_at)).where(_PENDING, *where)).one()
            failed = conn.execute(
                select(func.count()).where(outbox.c.failed_at.is_not(None), *where)).scalar_one()
            return Backlog(waiting, failed, oldest)

        return await self.store.read(read)

    async def _update(self, item_id: int, **values) -> None:
        await self.store.write(lambda conn: conn.execute(
            update(outbox).where(outbox.c.id == item_id, outbox.c.sent_at.is_(None)).values(**values)))


def _item(row) -> OutboxItem:
    return OutboxItem(row.id, row.network, row.place, row.kind, json.loads(row.payload), row.key, row.attempts,
                      row.created_at, row.last_error, row.next_attempt_at, row.failed_at)
