"""The store counted, for /metrics: a few aggregate reads, in one transaction.

Counts and times only: no URL, no name, no text a stranger wrote. The web may run apart from the
bot (`watchbot web`), so what the bot did is read from what it stored, never from counters kept in
its memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from watchbot.store.schema import digest_runs, failed_events, feeds, heartbeats, link_pages, links, outbox, shares
from watchbot.store.store import Store


@dataclass(frozen=True, slots=True)
class NetworkBeat:
    network: str
    beat_at: datetime
    stopped: bool


@dataclass(frozen=True, slots=True)
class Counts:
    links: int
    shares: dict[tuple[str, str], int]  # (source, visibility) -> shares
    outbox: dict[tuple[str, str], int]  # (network, waiting | failed | sent) -> answers
    beats: list[NetworkBeat]
    pages: dict[str, int]  # fetch state -> links
    feeds: dict[str, int]  # active | failing | disabled -> feeds
    feed_last_poll: datetime | None
    digest_runs: dict[str, int]  # status -> runs
    failed_events: dict[str, int]  # source -> events waiting for an operator


async def read_counts(store: Store) -> Counts:
    return await store.read(_count)


def _count(conn: Connection) -> Counts:
    def grouped(*columns, where=None) -> dict:
        query = select(*columns, func.count()).group_by(*columns)
        if where is not None:
            query = query.where(where)
        return {tuple(row[:-1]) if len(columns) > 1 else row[0]: row[-1] for row in conn.execute(query)}

    state = case((outbox.c.sent_at.is_not(None), "sent"), (outbox.c.failed_at.is_not(None), "failed"),
                 else_="waiting").label("state")
    feed_state = case((feeds.c.disabled_at.is_not(None), "disabled"), (feeds.c.errors > 0, "failing"),
                      else_="active").label("state")
    return Counts(
        links=conn.execute(select(func.count()).select_from(links)).scalar_one(),
        shares=grouped(shares.c.source, shares.c.visibility),
        outbox=grouped(outbox.c.network, state),
        beats=[NetworkBeat(row.network, row.beat_at, row.problem is not None)
               for row in conn.execute(select(heartbeats).order_by(heartbeats.c.network))],
        pages=grouped(link_pages.c.state),
        feeds=grouped(feed_state),
        feed_last_poll=conn.execute(select(func.max(feeds.c.polled_at))).scalar_one(),
        digest_runs=grouped(digest_runs.c.status),
        failed_events=grouped(failed_events.c.source, where=failed_events.c.resolved_at.is_(None)),
    )
