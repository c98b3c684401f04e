"""Moderation's records: bans, blocked domains, the review queue, reports, and the moderation log
every action writes to (who, what, when, why), in the same transaction as the action itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, delete, func, insert, literal_column, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from watchbot.accounts import canonical_account, hashed_account
from watchbot.model import Post, Source, post_from_json, post_to_json, utcnow
from watchbot.store.schema import (
    UTCDateTime,
    bans,
    blocked_domains,
    moderation_log,
    reports,
    review_queue,
    shares,
)
from watchbot.store.cursors import set_cursor_in
from watchbot.store.forget import Forgotten, forget_in
from watchbot.store.modlog import log_action
from watchbot.store.prepared import Prepared
from watchbot.store.store import Store


@dataclass(frozen=True, slots=True)
class Held:
    id: int
    post: Post
    at: datetime

    @property
    def place(self) -> str:
        return self.post.place


@dataclass(frozen=True, slots=True)
class Facts:
    """About a post's author, for the gate: their ban, the blocklist, their shares lately, and ever."""

    blocked: list[str]
    last_hour: int  # shares filed or waiting in the queue
    last_day: int
    seen: int  # posts the bot has had from them: filed, waiting or rejected
    banned: bool = False


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    reason: str | None
    private_target: bool = False  # names a link only private shares held: moderators' rooms only


class ModerationStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- bans and blocks ----------------------------------------------------------------------

    async def ban(self, account: str, *, actor: str, reason: str | None) -> bool:
        """False when the account was banned already."""
        account = canonical_account(account)
        return await self._add(bans, {"account": account}, "ban", account, actor, reason,
                               unless=lambda conn: self.is_banned_in(conn, account))

    async def unban(self, account: str, *, actor: str) -> bool:
        account = canonical_account(account)
        return await self._remove(bans, bans.c.account.in_([account, hashed_account(account)]), "unban", account,
                                  actor)

    async def is_banned(self, account: str) -> bool:
        return await self.store.read(lambda conn: self.is_banned_in(conn, account))

    def is_banned_in(self, conn: Connection, account: str) -> bool:
        """The same, inside a transaction of the caller's (the gate, in a filing's)."""
        return conn.execute(_BANNED, {"account": canonical_account(account),
                                      "hashed": hashed_account(account)}).first() is not None

    async def block(self, pattern: str, *, actor: str, reason: str | None) -> bool:
        return await self._add(blocked_domains, {"pattern": pattern}, "block", pattern, actor, reason)

    async def unblock(self, pattern: str, *, actor: str) -> bool:
        return await self._remove(blocked_domains, blocked_domains.c.pattern == pattern, "unblock", pattern, actor)

    async def blocked_patterns(self) -> list[str]:
        query = select(blocked_domains.c.pattern).order_by(blocked_domains.c.pattern)
        return await self.store.read(lambda conn: list(conn.execute(query).scalars()))

    # -- what people shared -------------------------------------------------------------------

    async def facts_for_screening(self, sharer_id: str, now: datetime, *, seen: bool) -> Facts:
        """What the gate needs about a post's author, in one statement built once (it runs for
        every message); `seen`: count their posts ever too (for the review queue)."""
        return await self.store.read(lambda conn: self.facts_in(conn, sharer_id, now, seen=seen))

    def facts_in(self, conn: Connection, sharer_id: str, now: datetime, *, seen: bool) -> Facts:
        """The same, inside a transaction of the caller's (the gate, in a filing's)."""
        statement = _FACTS_AND_EVER if seen else _FACTS
        banned, blocked, shared_hour, shared_day, held_hour, held_day, *ever = statement.first(conn, {
            "who": sharer_id, "account": canonical_account(sharer_id), "hashed": hashed_account(sharer_id),
            "hour": now - timedelta(hours=1), "day": now - timedelta(days=1),
        })
        return Facts(
            blocked=blocked.split() if blocked else [],  # patterns hold no spaces (normalise_pattern)
            last_hour=shared_hour + held_hour, last_day=shared_day + held_day, seen=sum(ever), banned=bool(banned),
        )

    # -- the review queue ---------------------------------------------------------------------

    async def hold(self, post: Post, *, cursor: tuple[str, str] | None = None) -> int:
        """Put a post in the queue (once: a replayed event finds its entry), moving the source's
        cursor in the same transaction."""

        def hold(conn: Connection) -> int:
            held = self.hold_in(conn, post)
            if cursor is not None:
                set_cursor_in(conn, *cursor)
            return held

        return await self.store.write(hold)

    def hold_in(self, conn: Connection, post: Post) -> int:
        """The same, inside a transaction of the caller's (a filing's), without a cursor."""
        dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        conn.execute(dialect_insert(review_queue).values(
            source=post.source.value, event_id=post.event_id or "", author_id=post.author_id,
            place=post.place, post=json.dumps(post_to_json(post)), at=utcnow(), state="held",
        ).on_conflict_do_nothing())
        return conn.execute(select(review_queue.c.id).where(
            review_queue.c.source == post.source.value,
            review_queue.c.event_id == (post.event_id or ""))).scalar_one()

    async def waiting(self, *, place: str | None = None, limit: int | None = None) -> list[Held]:
        """What waits for review, oldest first; with `place`, only what was posted there."""
        query = select(review_queue).where(review_queue.c.state == "held").order_by(review_queue.c.id).limit(limit)
        if place is not None:
            query = query.where(review_queue.c.place == place)
        return await self.store.read(lambda conn: [_held(row) for row in conn.execute(query)])

    async def held(self, held_id: int) -> Held | None:
        """A post waiting for review, by its number (None: nothing waits as that number)."""
        query = select(review_queue).where(review_queue.c.id == held_id, review_queue.c.state == "held")
        return await self.store.read(lambda conn: next((_held(row) for row in conn.execute(query)), None))

    async def held_for_event(self, source: Source, event_id: str) -> int | None:
        query = select(review_queue.c.id).where(review_queue.c.source == source.value,
                                                review_queue.c.event_id == event_id, review_queue.c.state == "held")
        return await self.store.read(lambda conn: conn.execute(query).scalar_one_or_none())

    async def decide(self, held_id: int, *, approve: bool, actor: str) -> Held | None:
        """Take a held post out of the queue (None: no such post waiting). The caller files an
        approved one; its decision is logged here."""

        def decide(conn: Connection) -> Held | None:
            row = conn.execute(select(review_queue).where(
                review_queue.c.id == held_id, review_queue.c.state == "held")).first()
            if row is None:
                return None
            state = "approved" if approve else "rejected"
            conn.execute(update(review_queue).where(review_queue.c.id == held_id).values(
                state=state, decided_by=actor, decided_at=utcnow()))
            log_action(conn, actor, "approve" if approve else "reject", f"queue #{held_id} from {row.author_id}", None)
            return _held(row)

        return await self.store.write(decide)

    # -- reports ------------------------------------------------------------------------------

    async def report(self, link_id: int, *, reporter: str, reason: str | None) -> int:
        def report(conn: Connection) -> int:
            report_id = conn.execute(insert(reports).values(
                link_id=link_id, reporter=reporter, reason=reason, at=utcnow()).returning(reports.c.id)).scalar_one()
            log_action(conn, reporter, "report", f"link #{link_id}", reason)
            return report_id

        return await self.store.write(report)

    # -- forgetting ---------------------------------------------------------------------------

    async def forget(self, account: str, *, actor: str | None = None) -> Forgotten:
        """Everything of `account` leaves the store (store/forget.py says what, and what is kept
        instead): one transaction. `actor`: who asked, when not the person themself."""
        return await self.store.write(lambda conn: forget_in(conn, account, actor=actor))

    # -- the log ------------------------------------------------------------------------------

    async def log(self, actor: str, action: str, target: str, reason: str | None = None) -> None:
        await self.store.write(lambda conn: log_action(conn, actor, action, target, reason))

    async def log_entries(self, limit: int = 50) -> list[LogEntry]:
        query = select(moderation_log).order_by(moderation_log.c.id.desc()).limit(limit)
        return await self.store.read(lambda conn: [
            LogEntry(row.id, row.at, row.actor, row.action, row.target, row.reason, row.private_target)
            for row in conn.execute(query)])

    async def _add(self, table, key: dict, action: str, target: str, actor: str, reason: str | None, *,
                   unless: Callable[[Connection], bool] | None = None) -> bool:
        def add(conn: Connection) -> bool:
            if unless is not None and unless(conn):
                return False
            dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            added = conn.execute(dialect_insert(table).values(
                **key, reason=reason, actor=actor, at=utcnow()).on_conflict_do_nothing()).rowcount
            if added:
                log_action(conn, actor, action, target, reason)
            return bool(added)

        return await self.store.write(add)

    async def _remove(self, table, where, action: str, target: str, actor: str) -> bool:
        def remove(conn: Connection) -> bool:
            removed = conn.execute(delete(table).where(where)).rowcount
            if removed:
                log_action(conn, actor, action, target, None)
            return bool(removed)

        return await self.store.write(remove)


# The gate's statements, built once: building one per message cost more than running it.
# A ban is kept under the account, or under its hash once they asked to be forgotten (forget.py).
_BANNED = select(bans.c.account).where(bans.c.account.in_([bindparam("account"), bindparam("hashed")]))


def _counted(table, *where):
    return select(func.count()).select_from(table).where(*where).scalar_subquery()


def _blocked_patterns():
    """The blocklist in one text, its patterns separated by spaces (they hold none)."""
    return select(func.aggregate_strings(blocked_domains.c.pattern, literal_column("' '"))).scalar_subquery()


def _lately(moment, *where):
    """Rows of the last day and of the last hour, counted in one pass over the day's index range."""
    hour, day = bindparam("hour", type_=UTCDateTime), bindparam("day", type_=UTCDateTime)
    in_hour = func.coalesce(func.sum(case((moment >= hour, 1), else_=0)), 0)  # SUM of no rows is NULL
    return select(func.count().label("day"), in_hour.label("hour")).where(*where, moment >= day).subquery()


def _facts_statement(*, seen: bool):
    """The gate's facts about an author in one statement (one round trip per message): counts over
    index ranges (shares: sharer_id and shared_at; the queue: its few held rows)."""
    who, account = bindparam("who"), bindparam("account")
    shared = _lately(shares.c.shared_at, shares.c.sharer_id == who)
    held = _lately(review_queue.c.at, review_queue.c.author_id == who, review_queue.c.state == "held")
    columns = [
        _counted(bans, bans.c.account.in_([account, bindparam("hashed")])).label("banned"),  # under either key
        _blocked_patterns().label("blocked"),
        shared.c.hour, shared.c.day, held.c.hour, held.c.day,
    ]
    if seen:
        columns += [
            _counted(shares, shares.c.sharer_id == who).label("shared_ever"),
            _counted(review_queue, review_queue.c.author_id == who,
                     review_queue.c.state != "approved").label("queued_ever"),
        ]
    return Prepared(select(*columns).select_from(shared.join(held, true())))  # one row each


_FACTS = _facts_statement(seen=False)
_FACTS_AND_EVER = _facts_statement(seen=True)


def _held(row) -> Held:
    return Held(row.id, post_from_json(json.loads(row.post)), row.at)
