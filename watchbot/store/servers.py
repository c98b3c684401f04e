"""Renaming the fediverse server a store has filed things under.

Older versions named the server by the API's host (`127.0.0.1` for an instance reached at
http://127.0.0.1:PORT) rather than by the account's domain. Renaming keeps an existing store
whole: its places, the local accounts it credited or banned, and its digest runs (so the
current period is not posted a second time under the new outlet name). The notification cursor
has no server in its name, so polling goes on from where it was.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from watchbot.store.cursors import CursorStore, set_cursor_in
from watchbot.store.schema import bans, digest_runs, failed_events, review_queue, shares
from watchbot.store.store import Store

SOURCE = "mastodon"
NAMED = "mastodon.server_name"  # the cursor holding the name this store files the server under


async def server_name(store: Store) -> str | None:
    return await CursorStore(store).get(NAMED)


async def adopt_server_name(store: Store, name: str, *, formerly: str | None = None) -> int:
    """Record `name` as the server's name; with `formerly`, first rename what was filed under
    that name, in the same transaction. Returns the rows renamed."""

    def rename(conn: Connection) -> int:
        renamed = 0 if formerly in (None, name) else _rename(conn, formerly, name)
        set_cursor_in(conn, NAMED, name)
        return renamed

    return await store.write(rename)


def _rename(conn: Connection, old: str, new: str) -> int:
    renamed = 0
    for table in (shares, failed_events):
        renamed += conn.execute(update(table).where(table.c.source == SOURCE, table.c.place == old)
                                .values(place=new)).rowcount
    renamed += conn.execute(update(review_queue).where(review_queue.c.source == SOURCE, review_queue.c.place == old)
                            .values(place=new)).rowcount
    local = f"%@{old}"
    for table, column, where in ((shares, shares.c.sharer_id, shares.c.source == SOURCE),
                                 (review_queue, review_queue.c.author_id, review_queue.c.source == SOURCE)):
        for row_id, account in conn.execute(select(table.c.id, column).where(where, column.like(local))).all():
            renamed += conn.execute(update(table).where(table.c.id == row_id)
                                    .values({column.name: _local(account, old, new)})).rowcount
    taken = {row.account for row in conn.execute(select(bans.c.account))}
    for (account,) in conn.execute(select(bans.c.account).where(bans.c.account.like(local))).all():
        if _local(account, old, new) not in taken:  # banned under both names already: keep one
            renamed += conn.execute(update(bans).where(bans.c.account == account)
                                    .values(account=_local(account, old, new))).rowcount
    outlets = set(conn.execute(select(digest_runs.c.outlet).distinct()).scalars())
    if f"{SOURCE}:{new}" not in outlets:  # runs under both names: the new one's stand
        renamed += conn.execute(update(digest_runs).where(digest_runs.c.outlet == f"{SOURCE}:{old}")
                                .values(outlet=f"{SOURCE}:{new}")).rowcount
    return renamed


def _local(account: str, old: str, new: str) -> str:
    return account[: -len(old)] + new if account.endswith("@" + old) else account
