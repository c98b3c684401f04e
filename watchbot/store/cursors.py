"""Cursors: named positions the bot keeps between runs (a network's sync token, the last
notification read, a digest draft's approval …), each moved in the transaction of what it marks.

`CursorStore(store)` reads and moves them, each call one transaction; `set_cursor_in(conn, …)`
moves one inside a transaction of the caller's (a filing's, a held post's, a failed event's)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from watchbot.model import utcnow
from watchbot.store.prepared import Prepared
from watchbot.store.schema import cursors
from watchbot.store.store import Store


class CursorStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, name: str) -> str | None:
        query = select(cursors.c.value).where(cursors.c.name == name)
        return await self.store.read(lambda conn: conn.execute(query).scalar_one_or_none())

    async def set(self, name: str, value: str) -> None:
        await self.store.write(lambda conn: set_cursor_in(conn, name, value))

    def set_in(self, conn: Connection, name: str, value: str) -> None:
        """Move a cursor inside a transaction of the caller's."""
        set_cursor_in(conn, name, value)


def set_cursor_in(conn: Connection, name: str, value: str) -> None:
    """Move a cursor inside a transaction of the caller's."""
    _SET_CURSOR[conn.dialect.name].run(conn, {"name": name, "value": value, "updated_at": utcnow()})


def _set_cursor_statement(dialect):
    statement = dialect.insert(cursors)
    return statement.on_conflict_do_update(
        index_elements=[cursors.c.name],
        set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
    )


# Built once, run on the driver's cursor: a cursor moves in most filings' transactions.
_SET_CURSOR = {"postgresql": Prepared(_set_cursor_statement(postgresql)),
               "sqlite": Prepared(_set_cursor_statement(sqlite))}
