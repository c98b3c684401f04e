"""Heartbeats: one row per network, overwritten by the running bot (see watchbot/health.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from watchbot.store.schema import heartbeats
from watchbot.store.store import Store


@dataclass(frozen=True, slots=True)
class Heartbeat:
    network: str
    beat_at: datetime
    problem: str | None  # why the network stopped; None while it runs well


class HeartbeatStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def beat(self, network: str, at: datetime, problem: str | None = None) -> None:
        def write(conn: Connection) -> None:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            statement = insert(heartbeats).values(network=network, beat_at=at, problem=problem)
            conn.execute(statement.on_conflict_do_update(
                index_elements=[heartbeats.c.network], set_={"beat_at": at, "problem": problem}))

        await self.store.write(write)

    async def all(self) -> list[Heartbeat]:
        def read(conn: Connection) -> list[Heartbeat]:
            rows = conn.execute(select(heartbeats).order_by(heartbeats.c.network))
            return [Heartbeat(row.network, row.beat_at, row.problem) for row in rows]

        return await self.store.read(read)
