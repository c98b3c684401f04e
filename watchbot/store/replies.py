"""The answers the bot made on the fediverse, by thread: what keeps it from answering a post
twice or talking on in a thread without end (watchbot/networks/fediverse.py)."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from watchbot.model import utcnow
from watchbot.store.schema import replies
from watchbot.store.store import Store


class ReplyStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def thread(self, source: str, post_id: str, parent_id: str | None) -> tuple[str, int, bool]:
        """The thread a post belongs to, how many replies the bot made in it, and whether this
        post was answered already. A reply to a post the bot answered, or to the bot's own reply,
        is in that post's thread; otherwise the parent (or the post itself) names the thread."""

        def read(conn: Connection) -> tuple[str, int, bool]:
            answered = conn.execute(
                select(replies.c.answered_id).where(replies.c.source == source, replies.c.answered_id == post_id)
            ).first()
            thread = post_id if parent_id is None else parent_id
            if parent_id is not None:
                known = conn.execute(
                    select(replies.c.thread).where(
                        replies.c.source == source,
                        or_(replies.c.answered_id == parent_id, replies.c.reply_id == parent_id),
                    ).limit(1)
                ).scalar_one_or_none()
                thread = known or thread
            count = conn.execute(
                select(func.count()).select_from(replies).where(replies.c.source == source, replies.c.thread == thread)
            ).scalar_one()
            return thread, count, answered is not None

        return await self.store.read(read)

    async def record(self, source: str, answered_id: str, thread: str, reply_id: str | None,
                     answered_uri: str | None = None) -> None:
        """Remember an answer (once: a second record of the same post is ignored)."""
        values = dict(source=source, answered_id=answered_id, thread=thread, reply_id=reply_id,
                      answered_uri=answered_uri, at=utcnow())

        def record(conn: Connection) -> None:
            dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            conn.execute(dialect_insert(replies).values(**values).on_conflict_do_nothing())

        await self.store.write(record)

    async def answered_id_of(self, source: str, answered_uri: str) -> str | None:
        """The local id of an answered post, from its global id (a status URI)."""
        query = select(replies.c.answered_id).where(
            replies.c.source == source, replies.c.answered_uri == answered_uri).limit(1)
        return await self.store.read(lambda conn: conn.execute(query).scalar_one_or_none())
