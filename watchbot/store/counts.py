"""The store counted, for /metrics: the kept counts and two small tables, in one transaction.

Counts and times only: no URL, no name, no text a stranger wrote. The web may run apart from the
bot (`watchbot web`), so what the bot did is read from what it stored, never from counters kept in
its memory. The counts of the tables that grow with use (links, shares, pages, the outbox, failed
events, digest runs) are kept by the database itself, in the transaction that changes their rows
(`kept_counts`, migration 0017, decision 31): reading them is a handful of rows however large the
store. Heartbeats (one row per network) and feeds (the operator's list) are read as they are.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from watchbot.store.schema import feeds, heartbeats, kept_counts
from watchbot.store.store import Readers, Store


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


@dataclass(frozen=True, slots=True)
class Backlogs:
    """What /healthz weighs besides the heartbeats: work that waits for the bot or an operator."""

    failed_events: int  # waiting for an operator
    answers_waiting: int  # the outbox's answers not sent yet
    answers_failed: int  # and those that never could be


async def read_counts(store: Store | Readers) -> Counts:
    return await store.read(_count)


async def read_backlogs(store: Store | Readers) -> Backlogs:
    """From the kept counts: a handful of rows, however many answers the outbox keeps."""
    def read(conn: Connection) -> Backlogs:
        kept = read_kept(conn)
        outbox = kept["outbox"]
        return Backlogs(
            failed_events=sum(n for (_, state), n in kept["failed_events"].items() if state == "open"),
            answers_waiting=sum(n for (_, state), n in outbox.items() if state == "waiting"),
            answers_failed=sum(n for (_, state), n in outbox.items() if state == "failed"))

    return await store.read(read)


def read_kept(conn: Connection) -> dict[str, dict[tuple[str, str], int]]:
    """The kept counts, by family: {name: {(key, subkey): n}}, counts of zero left out (as a
    count of the rows would not have them)."""
    kept: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    for row in conn.execute(select(kept_counts).where(kept_counts.c.n != 0)):
        kept[row.name][(row.key, row.subkey)] = row.n
    return kept


def _count(conn: Connection) -> Counts:
    kept = read_kept(conn)
    feed_state = case((feeds.c.disabled_at.is_not(None), "disabled"), (feeds.c.errors > 0, "failing"),
                      else_="active").label("state")
    return Counts(
        links=sum(kept["links"].values()),
        shares=dict(kept["shares"]),
        outbox=dict(kept["outbox"]),
        beats=[NetworkBeat(row.network, row.beat_at, row.problem is not None)
               for row in conn.execute(select(heartbeats).order_by(heartbeats.c.network))],
        pages={state: n for (state, _), n in kept["pages"].items()},
        feeds={row.state: row[1] for row in conn.execute(select(feed_state, func.count()).group_by(feed_state))},
        feed_last_poll=conn.execute(select(func.max(feeds.c.polled_at))).scalar_one(),
        digest_runs={status: n for (status, _), n in kept["digest_runs"].items()},
        failed_events={source: n for (source, state), n in kept["failed_events"].items() if state == "open"},
    )
