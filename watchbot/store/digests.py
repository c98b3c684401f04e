"""Digest runs: one per (outlet, period), claimed by one transactional insert, each posted part
recorded as it goes. Exactly once comes from here: two processes cannot both hold a run, a part
recorded is never sent again, and a run whose poster died is taken over: at once when the caller
can tell (a released claim, a poster process gone: digest/claims.py decides), else once its
claim is stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from watchbot.model import Period, utcnow
from watchbot.published import as_utc
from watchbot.store.cursors import CursorStore, set_cursor_in
from watchbot.store.schema import digest_parts, digest_runs
from watchbot.store.store import Store

# A claim not renewed for this long belongs to a poster that died: another may resume the run.
# Each part sent renews it, and a part takes seconds, so a live poster is never taken over.
# (README says this time: change both.)
STALE_AFTER = timedelta(minutes=10)
# Drafts for the review room are runs of an outlet of their own, named with this prefix.
DRAFT_PREFIX = "draft:"


@dataclass(frozen=True, slots=True)
class Claim:
    """A run this process now holds: post the parts not in `sent` (seq -> remote id), in order."""

    run_id: int
    sent: dict[int, str]
    resumed: bool
    # Unique to this run, the same when it is resumed: the parts' idempotency keys derive from it
    # (a run posted --again is a new run, whose posts must not be taken for the old ones).
    key: str
    superseded: str | None = None  # with `again`: the run this one replaces, for people


def _never(owner: str | None) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class RunState:
    run_id: int
    status: str  # posting, posted, empty, amend (posted, to be edited)
    claimed_by: str | None
    claimed_at: datetime | None
    finished_at: datetime | None
    sent: dict[int, str]


class DigestRuns:
    def __init__(self, store: Store, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock  # when claims, parts and runs are recorded (the scheduler's clock)

    async def claim(self, outlet: str, period: Period, owner: str, *, again: bool = False,
                    poster_gone: Callable[[str | None], bool] = _never) -> Claim | None:
        """Hold the run of `outlet` for `period`, or None when it was posted already or another
        live process holds it. A run held by `owner` itself, released, stale, or whose poster is
        gone (`poster_gone` of its holder) is taken over. `again` replaces any run that no live
        process holds with a new one (a deliberate re-send)."""

        def take(conn: Connection) -> Claim | None:
            now = self.clock()
            superseded = None
            if again:
                run = _run(conn, outlet, period)
                if run is not None and run.status == "posting" and not _may_take(run, owner, now, poster_gone):
                    return None
                superseded = _forget(conn, run)
            dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            run_id = conn.execute(dialect_insert(digest_runs).values(
                outlet=outlet, period_start=period.start, period_end=period.end, status="posting",
                created_at=now, claimed_by=owner, claimed_at=now,
            ).on_conflict_do_nothing().returning(digest_runs.c.id)).scalar_one_or_none()
            if run_id is not None:
                return Claim(run_id, {}, resumed=False, key=_key(run_id, now), superseded=superseded)
            # Someone claimed it first: is that run finished, alive, or was its poster lost?
            run = _run(conn, outlet, period)
            if run is None or run.status != "posting" or not _may_take(run, owner, now, poster_gone):
                return None
            taken = conn.execute(
                update(digest_runs)
                .where(digest_runs.c.id == run.id, digest_runs.c.claimed_at == run.claimed_at)
                .values(claimed_by=owner, claimed_at=now)
            ).rowcount
            return Claim(run.id, _sent(conn, run.id), resumed=True, key=_key(run.id, run.created_at)) if taken else None

        return await self.store.write(take)

    async def release(self, run_id: int, owner: str) -> None:
        """Give up a run that could not be finished now: whoever comes next resumes it at once."""
        await self.store.write(lambda conn: conn.execute(
            update(digest_runs).where(digest_runs.c.id == run_id, digest_runs.c.claimed_by == owner)
            .values(claimed_by=None)))

    async def any_run(self) -> bool:
        """Whether a digest was ever posted (or tried) from this store."""
        return await self.store.read(lambda conn: conn.execute(select(digest_runs.c.id).limit(1)).first() is not None)

    async def posted_periods(self) -> list[Period]:
        """Every period whose digest went out to some outlet (drafts and empty runs aside), the
        latest first: what the web archive shows."""
        query = (select(digest_runs.c.period_start, digest_runs.c.period_end).distinct()
                 .where(digest_runs.c.status.in_(("posted", "amend")),
                        digest_runs.c.outlet.not_like(f"{DRAFT_PREFIX}%"))
                 .order_by(digest_runs.c.period_start.desc()))
        return await self.store.read(lambda conn: [Period(as_utc(row.period_start), as_utc(row.period_end))
                                                   for row in conn.execute(query)])

    async def sent(self, run_id: int, seq: int, remote_id: str) -> None:
        """A part is out: remember it (never sent again) and renew the claim."""

        def record(conn: Connection) -> None:
            now = self.clock()
            # Once per part, even if a poster that was taken for dead comes back and records it too.
            dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            conn.execute(dialect_insert(digest_parts).values(
                run_id=run_id, seq=seq, remote_id=remote_id, sent_at=now).on_conflict_do_nothing())
            conn.execute(update(digest_runs).where(digest_runs.c.id == run_id).values(claimed_at=now))

        await self.store.write(record)

    async def finish(self, run_id: int, status: str = "posted") -> None:
        values = dict(status=status, finished_at=self.clock())
        await self.store.write(lambda conn: conn.execute(
            update(digest_runs).where(digest_runs.c.id == run_id).values(**values)))

    async def to_amend(self) -> list[tuple[int, str, Period, dict[int, str]]]:
        """Posted runs to edit (someone asked to be forgotten): (run id, outlet, period, parts)."""

        def read(conn: Connection):
            runs = conn.execute(select(digest_runs).where(digest_runs.c.status == "amend").order_by(digest_runs.c.id))
            return [(run.id, run.outlet, Period(run.period_start, run.period_end), _sent(conn, run.id))
                    for run in runs]

        return await self.store.read(read)

    async def approve_draft(self, remote_id: str, approver: str) -> Period | None:
        """A moderator approved the draft whose first part is `remote_id`: the period it is for,
        or None when that is no draft's first part."""

        def approve(conn: Connection) -> Period | None:
            run = conn.execute(
                select(digest_runs).join(digest_parts, digest_parts.c.run_id == digest_runs.c.id)
                .where(digest_parts.c.remote_id == remote_id, digest_parts.c.seq == 0,
                       digest_runs.c.outlet.like(f"{DRAFT_PREFIX}%"))).first()
            if run is None:
                return None
            period = Period(run.period_start, run.period_end)
            set_cursor_in(conn, _approval(period), approver)
            return period

        return await self.store.write(approve)

    async def draft_approved_by(self, period: Period) -> str | None:
        return await CursorStore(self.store).get(_approval(period))

    async def state(self, outlet: str, period: Period) -> RunState | None:
        def read(conn: Connection) -> RunState | None:
            run = _run(conn, outlet, period)
            if run is None:
                return None
            return RunState(run.id, run.status, run.claimed_by, run.claimed_at, run.finished_at, _sent(conn, run.id))

        return await self.store.read(read)


def _approval(period: Period) -> str:
    return f"digest.approved:{period.start.isoformat()}"


def _key(run_id: int, created_at: datetime) -> str:
    return f"{run_id}-{int(created_at.timestamp() * 1000)}"


def _run(conn: Connection, outlet: str, period: Period):
    return conn.execute(select(digest_runs).where(
        digest_runs.c.outlet == outlet, digest_runs.c.period_start == period.start)).first()


def _sent(conn: Connection, run_id: int) -> dict[int, str]:
    rows = conn.execute(select(digest_parts.c.seq, digest_parts.c.remote_id)
                        .where(digest_parts.c.run_id == run_id).order_by(digest_parts.c.seq))
    return {row.seq: row.remote_id for row in rows}


def _may_take(run, owner: str, now: datetime, poster_gone: Callable[[str | None], bool]) -> bool:
    return (run.claimed_by == owner or run.claimed_at <= now - STALE_AFTER
            or poster_gone(run.claimed_by))


def _forget(conn: Connection, run) -> str | None:
    """Delete `run` and its parts; what it was, in words (None when there was none)."""
    if run is None:
        return None
    parts = len(_sent(conn, run.id))
    conn.execute(delete(digest_parts).where(digest_parts.c.run_id == run.id))
    conn.execute(delete(digest_runs).where(digest_runs.c.id == run.id))
    state = {"posted": "posted", "empty": "found empty", "amend": "posted"}.get(run.status, "left unfinished")
    return f"the run of {run.created_at:%Y-%m-%d %H:%M} UTC, {state} ({parts} part(s) out)"
