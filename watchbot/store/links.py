"""Links and their shares: filing, edits and redactions, tags, removal, the operator's reads
(records, listings, search, tag counts) and each link's search text and public view.

`LinkStore(store)` is the repository; each of its coroutines is one transaction on the store's
thread (watchbot/store/store.py). Filing the links of one message is one transaction too, so a
crash either keeps all of that message or none of it, and a replay of the same event files nothing
twice (shares are unique per source event and link).

The `*_in(conn, …)` functions, and `load_records`, `rebuild_search_document` and
`delete_shares`, work inside a transaction of the caller's: intake's filing (one hop for the gate,
the shares, the answers owed and the cursor) and the other repositories (pages' merges, rooms'
reclassification, moderation's forget, the published view's reads).

Everything here is the operator's view, private shares included (the command line, backups,
moderation's decisions). Public answers read `PublishedReader(store, audience)`
(watchbot/store/published.py) instead.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Text, bindparam, delete, func, insert, or_, select, union_all, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from watchbot.model import (
    Filed,
    Link,
    LinkRecord,
    NewShare,
    Owed,
    Page,
    PageState,
    Share,
    Source,
    Visibility,
    rewritten,
    utcnow,
)
from watchbot.published import view_of
from watchbot.store.cursors import set_cursor_in
from watchbot.store.modlog import log_action, log_target
from watchbot.store.outbox import add_in
from watchbot.store.prepared import Prepared
from watchbot.store.schema import UTCDateTime, link_aliases, link_pages, links, share_tags, shares
from watchbot.store.search import link_of_row, operator_rows, parameters, search_tokens
from watchbot.store.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")


class LinkStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- filing -----------------------------------------------------------------------------

    async def file_shares(
        self, new_shares: Sequence[NewShare], *, cursor: tuple[str, str] | None = None,
        owe: Callable[[list[Filed]], Iterable[Owed]] | None = None,
    ) -> list[Filed]:
        """Record the shares of one message, and optionally move a sync cursor, atomically; `owe`
        (pure: no I/O) says from what was filed which answers are owed, written to the outbox in
        the same transaction, so an answer is owed exactly when its filing is kept."""
        new_shares = list(new_shares)

        def file(conn: Connection) -> list[Filed]:
            filed = file_shares_in(conn, new_shares)
            if cursor is not None:
                set_cursor_in(conn, *cursor)
            if owe is not None:
                add_in(conn, owe(filed), utcnow())
            return filed

        return await self.store.run(filing, self.store, file)

    async def file_in_one(self, function: Callable[[Connection], T]) -> T:
        """Run `function(connection)` as one filing transaction, in one hop to the store's thread:
        what intake decides and writes for a message (or a page of messages), the gate's reads
        included. Run again whole if it raced with another writer creating the same link."""
        return await self.store.run(filing, self.store, function)

    def file_shares_in(self, conn: Connection, new_shares: Sequence[NewShare]) -> list[Filed]:
        """File the shares of one message inside a transaction of the caller's (file_in_one)."""
        return file_shares_in(conn, new_shares)

    def replace_event_shares_in(self, conn: Connection, source: Source, event_id: str,
                                new_shares: Sequence[NewShare]) -> tuple[list[Filed], list[int]]:
        """An edited message's shares, inside a transaction of the caller's (file_in_one)."""
        return replace_event_shares_in(conn, source, event_id, new_shares)

    # -- edits and redactions --------------------------------------------------------------

    async def shares_of_event(self, source: Source, event_id: str) -> list[Share]:
        """The shares one message made (one per link)."""
        query = select(shares.c.link_id).where(shares.c.source == source.value, shares.c.event_id == event_id)

        def read(conn: Connection) -> list[Share]:
            records = load_records(conn, conn.execute(query).scalars())
            return [s for r in records.values() for s in r.shares if s.source is source and s.event_id == event_id]

        return await self.store.read(read)

    async def replace_event_shares(
        self, source: Source, event_id: str, new_shares: Sequence[NewShare], *,
        owe: Callable[[list[Filed]], Iterable[Owed]] | None = None,
    ) -> tuple[list[Filed], list[int]]:
        """An edited message: its shares become `new_shares` (links added, kept or dropped, tags
        and note as edited). Returns what was filed and the ids of links that no longer exist;
        `owe` as for file_shares."""

        def replace_them(conn: Connection) -> tuple[list[Filed], list[int]]:
            filed, removed = replace_event_shares_in(conn, source, event_id, new_shares)
            if owe is not None:
                add_in(conn, owe(filed), utcnow())
            return filed, removed

        return await self.store.write(replace_them)

    async def remove_event_shares(self, source: Source, event_id: str) -> list[int]:
        """A redacted message: its shares go, and links nobody else shared go with them.
        Returns the ids of the links removed."""

        def remove(conn: Connection) -> list[int]:
            ids = conn.execute(
                select(shares.c.id).where(shares.c.source == source.value, shares.c.event_id == event_id)
            ).scalars()
            return delete_shares(conn, list(ids))

        return await self.store.write(remove)

    def delete_shares_in(self, conn: Connection, share_ids: list[int]) -> list[int]:
        """Delete shares inside a transaction of the caller's; returns the links that went too."""
        return delete_shares(conn, share_ids)

    def rebuild_search_document(self, conn: Connection, link_id: int) -> None:
        """A link's search text and public view from scratch, in the caller's transaction."""
        rebuild_search_document(conn, link_id)

    # -- reading ----------------------------------------------------------------------------

    def load_records(self, conn: Connection, link_ids: Iterable[int]) -> dict[int, LinkRecord]:
        """Full records inside a transaction of the caller's."""
        return load_records(conn, link_ids)

    async def get_link(self, link_id: int) -> LinkRecord | None:
        """The whole record, private shares included: the operator's view (CLI, backups), and
        what moderation decides from. Public answers read `PublishedReader(...)` instead."""
        return await self.store.read(lambda conn: load_records(conn, [link_id]).get(link_id))

    async def count_links(self) -> int:
        return await self.store.read(lambda conn: conn.execute(select(func.count()).select_from(links)).scalar_one())

    async def list_links(
        self,
        *,
        tag: str | None = None,
        since: datetime | None = None,
        by: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Link]:
        """Links, the most recently shared first, filtered by what their shares say (every
        share: the operator's view; public answers read `PublishedReader(...).recent`)."""
        last_shared = func.max(shares.c.shared_at).label("last_shared")
        query = (
            select(shares.c.link_id, last_shared)
            .group_by(shares.c.link_id)
            .order_by(last_shared.desc(), shares.c.link_id.desc())
            .limit(limit)
            .offset(offset)
        )
        if tag is not None:
            query = query.where(shares.c.link_id.in_(_links_tagged(tag)))
        if since is not None:
            query = query.where(shares.c.shared_at >= since)
        if by is not None:
            query = query.where(
                or_(func.lower(shares.c.sharer_name) == by.lower(), shares.c.sharer_id == by)
            )
        return await self.store.read(lambda conn: _links_in_order(conn, query))

    async def search(self, words: str, *, limit: int = 20) -> list[Link]:
        """Full-text search over URL, title, description, notes and tags of every share; every
        word must match (as a word prefix), best matches first (store/search.py), in one query.
        The operator's search: public answers read `PublishedReader(...).search`."""
        tokens = search_tokens(words)
        if not tokens:
            return []
        dialect = self.store.dialect
        query, values = operator_rows(dialect), parameters(dialect, tokens, limit)
        return await self.store.read(lambda conn: [link_of_row(row) for row in conn.execute(query, values)])

    async def tag_counts(self) -> list[tuple[str, int]]:
        """Each tag with the number of links carrying it, the most used first (every share)."""
        count = func.count(shares.c.link_id.distinct()).label("links")
        query = (
            select(share_tags.c.tag, count)
            .join(shares, shares.c.id == share_tags.c.share_id)
            .group_by(share_tags.c.tag)
            .order_by(count.desc(), share_tags.c.tag)
        )
        return await self.store.read(lambda conn: [(row.tag, row.links) for row in conn.execute(query)])

    async def iter_records(self, *, tag: str | None = None, batch: int = 500) -> AsyncIterator[LinkRecord]:
        """Every link with its shares, oldest first, read in batches (exports of any size)."""
        async for records in self.iter_record_batches(tag=tag, batch=batch):
            for record in records:
                yield record

    async def iter_record_batches(
        self, *, tag: str | None = None, batch: int = 500
    ) -> AsyncIterator[list[LinkRecord]]:
        """`iter_records`, a list of up to `batch` records at a time."""
        query = select(links.c.id).order_by(links.c.id)
        if tag is not None:
            query = query.where(links.c.id.in_(_links_tagged(tag)))
        after = 0
        while True:
            page = query.where(links.c.id > after).limit(batch)
            ids, records = await self.store.read(lambda conn: _records_of(conn, page))
            if not ids:
                return
            yield [records[link_id] for link_id in ids if link_id in records]
            after = ids[-1]

    # -- tags and removal -------------------------------------------------------------------

    async def change_tags(
        self, link_id: int, *, add: Sequence[str], remove: Sequence[str], share_ids: Sequence[int],
        add_to: int | None = None, at_most: int | None = None,
    ) -> LinkRecord | None:
        """Add and remove tags on these shares of a link (None when none of them is left). Tags
        added go on the share `add_to` when it is one of them, else on the earliest of them, in
        the order given, while that share holds fewer than `at_most`."""
        wanted = list(share_ids)

        def change(conn: Connection) -> LinkRecord | None:
            ids = list(conn.execute(select(shares.c.id).where(
                shares.c.link_id == link_id, shares.c.id.in_(wanted)).order_by(shares.c.shared_at, shares.c.id)
            ).scalars())
            if not ids:
                return None
            if remove:
                conn.execute(delete(share_tags).where(share_tags.c.share_id.in_(ids),
                                                      share_tags.c.tag.in_(list(remove))))
            target = add_to if add_to in ids else ids[0]
            present = set(conn.execute(select(share_tags.c.tag).where(share_tags.c.share_id == target)).scalars())
            missing = [tag for tag in dict.fromkeys(add) if tag not in present]
            if at_most is not None:
                missing = missing[:max(0, at_most - len(present))]
            if missing:
                _INSERT_TAGS.run_many(conn, [{"share_id": target, "tag": tag} for tag in missing])
            rebuild_search_document(conn, link_id)
            return load_records(conn, [link_id]).get(link_id)

        return await self.store.write(change)

    async def remove_shares(self, link_id: int, share_ids: Sequence[int], *, actor: str | None = None,
                            reason: str | None = None) -> tuple[int, bool]:
        """Remove these shares of a link: (shares removed, whether the link went too, having no
        share left). With `actor` (a moderator taking others' shares), the moderation log keeps it."""

        def remove(conn: Connection) -> tuple[int, bool]:
            target = log_target(conn, link_id) or (f"#{link_id}", False)
            found = list(conn.execute(select(shares.c.id).where(
                shares.c.link_id == link_id, shares.c.id.in_(list(share_ids)))).scalars())
            gone = bool(delete_shares(conn, found))
            if found and actor is not None:
                url, private = target
                log_action(conn, actor, "remove-shares", f"{len(found)} share(s) of {url}", reason,
                           private_target=private)
            return len(found), gone

        return await self.store.write(remove)

    async def remove_link(self, link_id: int, *, actor: str, reason: str | None = None) -> LinkRecord | None:
        """Remove a link and every share of it; the moderation log keeps who did it and why."""

        def remove(conn: Connection) -> LinkRecord | None:
            record = load_records(conn, [link_id]).get(link_id)
            if record is None:
                return None
            url, private = log_target(conn, link_id) or (record.link.url, True)
            conn.execute(delete(links).where(links.c.id == link_id))
            log_action(conn, actor, "remove-link", url, reason, private_target=private)
            return record

        return await self.store.write(remove)


# -- inside a transaction of the caller's ---------------------------------------------------


def filing(store: Store, function: Callable[[Connection], T]) -> T:
    """Run `function(connection)` in one write transaction, on the store's thread (handed to
    `Store.run`); again whole when it lost a race to create the same link."""
    # Two writers may race to create the same link on PostgreSQL; the loser's transaction
    # fails on the unique key and, run again, finds the link the winner made.
    for attempt in range(3):
        try:
            with store._writing() as conn:  # the store's own write transaction, without a second hop
                return function(conn)
        except IntegrityError:
            if attempt == 2:
                raise
            log.debug("filing raced with another writer; trying again")
    raise AssertionError("unreachable")


def file_shares_in(conn: Connection, new_shares: Sequence[NewShare]) -> list[Filed]:
    """File the shares of one message inside a transaction of the caller's (intake's filing)."""
    return [_file_one(conn, new) for new in new_shares]


def replace_event_shares_in(conn: Connection, source: Source, event_id: str,
                            new_shares: Sequence[NewShare]) -> tuple[list[Filed], list[int]]:
    """An edited message's shares become `new_shares`, inside a transaction of the caller's:
    what was filed, and the ids of links that no longer exist."""
    before = conn.execute(
        select(shares.c.id, shares.c.link_id, shares.c.visibility)
        .where(shares.c.source == source.value, shares.c.event_id == event_id)
    ).all()
    # A direct message stays direct when edited, however its room is taken now (model.rewritten).
    kept = [Visibility(row.visibility) for row in before]
    new_shares = [replace(new, visibility=rewritten(Visibility.DIRECT, new.visibility))
                  if Visibility.DIRECT in kept else new for new in new_shares]
    filed = [_file_one(conn, new) for new in new_shares]
    for new, done in zip(new_shares, filed, strict=True):
        if not done.new_share:  # a link the message had already: take the edited tags and note
            conn.execute(delete(share_tags).where(share_tags.c.share_id == done.share.id))
            _INSERT_TAGS.run_many(conn, [{"share_id": done.share.id, "tag": t} for t in _unique_sorted(new.tags)])
            conn.execute(update(shares).where(shares.c.id == done.share.id).values(note=new.note))
    kept_links = {done.link.id for done in filed}
    removed = delete_shares(conn, [row.id for row in before if row.link_id not in kept_links])
    for link_id in kept_links:
        rebuild_search_document(conn, link_id)
    refreshed = [_filed(conn, d.link.id, d.share.id, new_link=d.new_link, new_share=d.new_share) for d in filed]
    return refreshed, removed


def delete_shares(conn: Connection, share_ids: list[int]) -> list[int]:
    """Delete shares; delete their links if no share is left, else rebuild their search text.
    Returns the ids of the links that went."""
    if not share_ids:
        return []
    link_ids = set(conn.execute(select(shares.c.link_id).where(shares.c.id.in_(share_ids))).scalars())
    conn.execute(delete(shares).where(shares.c.id.in_(share_ids)))
    still_shared = set(conn.execute(select(shares.c.link_id).where(shares.c.link_id.in_(link_ids))).scalars())
    orphans = sorted(link_ids - still_shared)
    if orphans:
        conn.execute(delete(links).where(links.c.id.in_(orphans)))
    for link_id in still_shared:
        rebuild_search_document(conn, link_id)
    return orphans


def rebuild_search_document(conn: Connection, link_id: int) -> None:
    """The search text of a link from scratch, after a share of it changed or went (and its
    public view with it)."""
    link = conn.execute(select(links.c.url, links.c.title, links.c.description).where(links.c.id == link_id)).one()
    page = conn.execute(
        select(link_pages.c.title, link_pages.c.description, link_pages.c.site_name)
        .where(link_pages.c.link_id == link_id)
    ).first()
    notes = conn.execute(select(shares.c.note).where(shares.c.link_id == link_id, shares.c.note.is_not(None)))
    tags = conn.execute(
        select(share_tags.c.tag).distinct().join(shares, shares.c.id == share_tags.c.share_id)
        .where(shares.c.link_id == link_id).order_by(share_tags.c.tag)
    )
    document = " ".join(filter(None, [link.url, link.title, link.description, *(page or ()),
                                      *notes.scalars(), *tags.scalars()]))
    conn.execute(update(links).where(links.c.id == link_id).values(search_document=document))
    _rebuild_published(conn, link_id)


def load_records(conn: Connection, link_ids: Iterable[int]) -> dict[int, LinkRecord]:
    """Full records, private shares included, by link id (those that exist)."""
    link_ids = list(link_ids)
    if not link_ids:
        return {}
    link_rows = (conn.execute(select(links).where(links.c.id.in_(link_ids)))).all()
    pages = {row.link_id: page_of_row(row) for row in conn.execute(
        select(link_pages).where(link_pages.c.link_id.in_(link_ids)))}
    share_rows = (
        conn.execute(
            select(shares).where(shares.c.link_id.in_(link_ids)).order_by(shares.c.shared_at, shares.c.id)
        )
    ).all()
    tags_of: dict[int, list[str]] = defaultdict(list)
    tag_rows = conn.execute(
        select(share_tags.c.share_id, share_tags.c.tag)
        .join(shares, shares.c.id == share_tags.c.share_id)
        .where(shares.c.link_id.in_(link_ids))
        .order_by(share_tags.c.tag)
    )
    for row in tag_rows:
        tags_of[row.share_id].append(row.tag)
    shares_of: dict[int, list[Share]] = defaultdict(list)
    for row in share_rows:
        shares_of[row.link_id].append(_share(row, tuple(tags_of[row.id])))
    records = {}
    for row in link_rows:
        link_shares = shares_of[row.id]
        if not link_shares:  # a link is never kept without a share; be safe on reads anyway
            continue
        all_tags = sorted({t for s in link_shares for t in s.tags})
        page = pages.get(row.id)
        link = Link(
            id=row.id,
            key=row.key,
            url=row.url,
            # A title a person gave (an import, the CLI) wins over the page's own.
            title=row.title or (page and page.title),
            description=row.description or (page and page.description),
            tags=tuple(all_tags),
            share_count=len(link_shares),
            first_sharer_name=link_shares[0].sharer_name,
            first_shared_at=link_shares[0].shared_at,
            site_name=page and page.site_name,
        )
        records[row.id] = LinkRecord(link, tuple(link_shares), page)
    return records


def _file_one(conn: Connection, new: NewShare) -> Filed:
    link_id = _LINK_ID_BY_KEY.scalar(conn, {"key": new.key})
    if link_id is not None:
        same = _SAME_EVENT if new.event_id is not None else _SAME_PERSON_AND_TIME
        existing = same.scalar(conn, _share_values(link_id, new))
        if existing is not None:
            return _filed(conn, link_id, existing, new_link=False, new_share=False)
        if new.after_earlier_shares:
            first = conn.execute(_FIRST_SHARED_AT, {"link_id": link_id}).scalar_one_or_none()
            if first is not None and new.shared_at < first:
                new = replace(new, shared_at=first)  # ties rank by id: after the first
        share_id = _add_share(conn, link_id, new)
        # Only what this share adds to the search document: no need to read the others.
        conn.execute(_ADD_TO_LINK, {
            "link": link_id, "new_title": new.title, "new_description": new.description,
            "more_words": " " + _search_text(new, with_url=False),
        })
        if new.visibility.publishable:  # the public view may change; a private share adds nothing to it
            _rebuild_published(conn, link_id)
        return _filed(conn, link_id, share_id, new_link=False, new_share=True)

    # A new link's record is all in `new`: no need to read it back, nor to write it twice.
    share = Share(
        id=0, link_id=0, url=new.url, sharer_id=new.sharer_id, sharer_name=new.sharer_name,
        source=new.source, place=new.place, event_id=new.event_id, visibility=new.visibility,
        shared_at=new.shared_at, note=new.note, tags=_unique_sorted(new.tags), title=new.title,
        description=new.description,
    )
    link = Link(
        id=0, key=new.key, url=new.url, title=new.title, description=new.description,
        tags=share.tags, share_count=1, first_sharer_name=new.sharer_name, first_shared_at=new.shared_at,
    )
    view = view_of(LinkRecord(link, (share,)))  # None for a private share; no page yet either way
    link_id = _INSERT_LINK.scalar(conn, {
        "key": new.key, "url": new.url, "title": new.title, "description": new.description,
        "search_document": _search_text(new, with_url=True), "filed_at": utcnow(),
        "published_url": view and view.url, "published_document": view.search_text() if view else "",
    })
    share_id = _add_share(conn, link_id, new)
    _PAGE_TO_FETCH.run(conn, {"link_id": link_id, "now": utcnow()})
    share = replace(share, id=share_id, link_id=link_id)
    link = replace(link, id=link_id)
    return Filed(link, share, new_link=True, new_share=True, first_share=share, shares=(share,))


def _add_share(conn: Connection, link_id: int, new: NewShare) -> int:
    share_id = _INSERT_SHARE.scalar(conn, _share_values(link_id, new))
    _INSERT_TAGS.run_many(conn, [{"share_id": share_id, "tag": tag} for tag in _unique_sorted(new.tags)])
    return share_id


def _filed(conn: Connection, link_id: int, share_id: int, *, new_link: bool, new_share: bool) -> Filed:
    record = load_records(conn, [link_id])[link_id]
    share = next(s for s in record.shares if s.id == share_id)
    return Filed(record.link, share, new_link=new_link, new_share=new_share, first_share=record.shares[0],
                 shares=record.shares)


def _rebuild_published(conn: Connection, link_id: int) -> None:
    """The public view's URL and search text (watchbot/published.py), after anything that can
    change it. A page fetched from another URL than the one now published is fetched again
    from that one: what it said is not published meanwhile (see view_of)."""
    record = load_records(conn, [link_id]).get(link_id)
    view = view_of(record) if record is not None else None
    conn.execute(update(links).where(links.c.id == link_id).values(
        published_url=view and view.url, published_document=view.search_text() if view else ""))
    page = record and record.page
    if view is not None and page is not None and page.fetched_url != view.url and page.state in _REFETCHED:
        conn.execute(update(link_pages).where(link_pages.c.link_id == link_id).values(
            state=PageState.PENDING.value, next_fetch_at=utcnow()))


def _links_in_order(conn: Connection, id_query) -> list[Link]:
    ids = list(conn.execute(id_query).scalars())
    records = load_records(conn, ids)
    return [records[i].link for i in ids if i in records]


def _records_of(conn: Connection, id_query) -> tuple[list[int], dict[int, LinkRecord]]:
    ids = list(conn.execute(id_query).scalars())
    return ids, load_records(conn, ids)


# The statements of the filing path, built once and run on the driver's cursor (prepared.py):
# SQLAlchemy's work per execution cost more than running them (see docs/benchmarks.md).
# A link's own key, or another key it is known by (its final or canonical URL, a merged link).
LINK_ID_BY_KEY = union_all(
    select(links.c.id).where(links.c.key == bindparam("key")),
    select(link_aliases.c.link_id).where(link_aliases.c.key == bindparam("key")),
).limit(1)
_LINK_ID_BY_KEY = Prepared(LINK_ID_BY_KEY)


def _inserting(table, *names: str, returning=None) -> Prepared:
    """INSERT of these columns, each value given by name (a prepared statement fills no default)."""
    statement = insert(table).values({name: bindparam(name, type_=table.c[name].type) for name in names})
    return Prepared(statement.returning(returning) if returning is not None else statement)


_SHARE_COLUMNS = ("link_id", "url", "sharer_id", "sharer_name", "source", "place", "event_id", "visibility",
                  "shared_at", "note", "title", "description")
_INSERT_LINK = _inserting(links, "key", "url", "title", "description", "search_document", "filed_at",
                          "published_url", "published_document", returning=links.c.id)
_INSERT_SHARE = _inserting(shares, *_SHARE_COLUMNS, returning=shares.c.id)
_INSERT_TAGS = _inserting(share_tags, "share_id", "tag")
# Every new link waits for its page to be fetched (enrich/), due at once.
_PAGE_TO_FETCH = Prepared(insert(link_pages).values(
    link_id=bindparam("link_id"), state=PageState.PENDING.value, attempts=0,
    next_fetch_at=bindparam("now", type_=UTCDateTime),
))
_FIRST_SHARED_AT = select(func.min(shares.c.shared_at)).where(shares.c.link_id == bindparam("link_id"))
# The share a new one repeats: the same source event, or (without one) the same person and time.
_SAME_EVENT = Prepared(select(shares.c.id).where(
    shares.c.link_id == bindparam("link_id"),
    shares.c.source == bindparam("source"),
    shares.c.event_id == bindparam("event_id"),
).limit(1))
_SAME_PERSON_AND_TIME = Prepared(select(shares.c.id).where(
    shares.c.link_id == bindparam("link_id"),
    shares.c.sharer_id == bindparam("sharer_id"),
    shares.c.shared_at == bindparam("shared_at", type_=UTCDateTime),
).limit(1))
_ADD_TO_LINK = (
    update(links)
    .where(links.c.id == bindparam("link"))
    .values(
        title=func.coalesce(links.c.title, bindparam("new_title", type_=Text)),
        description=func.coalesce(links.c.description, bindparam("new_description", type_=Text)),
        search_document=links.c.search_document + bindparam("more_words", type_=Text),
    )
)

# A page fetched from another URL than the published one is fetched again from that one (pending
# pages are due anyway; a refused one would be refused again, its host being the same).
_REFETCHED = (PageState.OK, PageState.FAILED, PageState.DEAD)


def _share_values(link_id: int, new: NewShare) -> dict:
    return {
        "link_id": link_id, "url": new.url, "sharer_id": new.sharer_id, "sharer_name": new.sharer_name,
        "source": new.source.value, "place": new.place, "event_id": new.event_id,
        "visibility": new.visibility.value, "shared_at": new.shared_at, "note": new.note,
        "title": new.title, "description": new.description,
    }


def _search_text(new: NewShare, *, with_url: bool) -> str:
    """The words a share brings to its link's search document (links.search_document)."""
    url = [new.url] if with_url else []
    return " ".join(filter(None, [*url, new.title, new.description, new.note, *new.tags]))


def _unique_sorted(tags: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(tags)))


def _links_tagged(tag: str):
    return (
        select(shares.c.link_id)
        .join(share_tags, share_tags.c.share_id == shares.c.id)
        .where(share_tags.c.tag == tag)
    )


def page_of_row(row) -> Page:
    return Page(
        state=PageState(row.state), final_url=row.final_url, canonical_url=row.canonical_url, title=row.title,
        description=row.description, site_name=row.site_name, language=row.language, image_url=row.image_url,
        author=row.author, published_at=row.published_at, reason=row.reason, attempts=row.attempts,
        fetched_at=row.fetched_at, next_fetch_at=row.next_fetch_at, fetched_url=row.fetched_url,
    )


def _share(row, tags: tuple[str, ...]) -> Share:
    return Share(
        id=row.id,
        link_id=row.link_id,
        url=row.url,
        sharer_id=row.sharer_id,
        sharer_name=row.sharer_name,
        source=Source(row.source),
        place=row.place,
        event_id=row.event_id,
        visibility=Visibility(row.visibility),
        shared_at=row.shared_at,
        note=row.note,
        tags=tags,
        title=row.title,
        description=row.description,
    )
