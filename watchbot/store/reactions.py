"""Reactions to shared messages, one per person and message: what the digest ranks by besides
the number of sharers."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from watchbot.model import Source
from watchbot.store.schema import reactions, shares
from watchbot.store.store import Store


class ReactionStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, source: Source, event_id: str, reactor: str) -> bool:
        """Someone reacted to a shared message (counted once per person); False when the message
        shared nothing or they had reacted already."""

        def add(conn: Connection) -> bool:
            shared = conn.execute(select(shares.c.id).where(
                shares.c.source == source.value, shares.c.event_id == event_id).limit(1)).first()
            if shared is None:
                return False
            dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            return bool(conn.execute(dialect_insert(reactions).values(
                source=source.value, event_id=event_id, reactor=reactor).on_conflict_do_nothing()).rowcount)

        return await self.store.write(add)

    async def counts(self, source: Source, event_ids: Iterable[str]) -> dict[str, int]:
        """How many people reacted to each of these messages (those nobody reacted to left out)."""
        ids = list(set(event_ids))
        query = (select(reactions.c.event_id, func.count()).where(
            reactions.c.source == source.value, reactions.c.event_id.in_(ids)).group_by(reactions.c.event_id))
        return await self.store.read(lambda conn: {row[0]: row[1] for row in conn.execute(query)} if ids else {})
