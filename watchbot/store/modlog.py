"""The moderation log's writer: who did what, when, to what and why, written inside the
transaction of the action itself (so a rolled-back action leaves no entry). Every store module
whose action a moderator answers for writes through here; ModerationStore reads the log."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from watchbot.model import utcnow
from watchbot.store.schema import links, moderation_log


def log_action(conn: Connection, actor: str, action: str, target: str, reason: str | None, *,
               private_target: bool = False) -> None:
    """One entry, in the caller's transaction. `private_target`: the target names a link nobody
    shared publicly, shown only in the moderators' rooms and the shell (decision 17)."""
    conn.execute(insert(moderation_log).values(at=utcnow(), actor=actor, action=action, target=target, reason=reason,
                                               private_target=private_target))


def log_target(conn: Connection, link_id: int) -> tuple[str, bool] | None:
    """How the moderation log names a link: its published URL, or (no share of it may be
    published) the URL as stored, marked private so modlog shows it in moderators' rooms only.
    None when there is no such link."""
    row = conn.execute(select(links.c.url, links.c.published_url).where(links.c.id == link_id)).first()
    if row is None:
        return None
    return (row.published_url, False) if row.published_url else (row.url, True)
