"""The store as an audience may read it: every read answers with `PublishedLink`s only.

Commands, the digest and the web read links through `PublishedReader(store, audience)`, never
through the full records, so no answer can reach a private share's URL, tags, note, sharer or
title by accident. Which links an audience sees is chosen in SQL from the shares it may see; what
it reads of each is `watchbot.published.view_of`, the one definition of the published view.

Public search matches `links.published_document`, the public view's own text, kept beside each
link by `rebuild_search_document` (watchbot/store/links.py) and indexed like the full document
(decision 4). A private place (a direct chat) also finds its own shares: candidates from the full
index, kept only if the place's view holds every word.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, column, func, or_, select, text
from sqlalchemy.engine import Connection

from watchbot.model import PUBLIC, Audience, Source, Visibility
from watchbot.published import (
    LinkSummary,
    PeriodLink,
    PublishedLink,
    SharedThen,
    as_utc,
    clean_url,
    summary_of,
    view_of,
)
from watchbot.store.links import load_records
from watchbot.store.search import FULL, PUBLISHED, TAG_SEPARATOR, parameters, ranked, search_tokens, split_tags
from watchbot.store.prepared import Prepared
from watchbot.store.schema import UTCDateTime, link_pages, links, share_tags, shares
from watchbot.store.store import Readers, Store

PUBLISHABLE = tuple(v.value for v in Visibility if v.publishable)
# How many candidates a private place's search looks at before giving up on more.
PLACE_CANDIDATES = 200
# How many of the newest shares a tagged listing probes before it gathers the tag's shares instead.
TAG_WINDOW = 2000
# How many of the newest visible shares `recent` walks before it groups them all.
RECENT_WINDOW = 2000


class PublishedReader:
    """The store as `audience` may read it (the public by default): what every public answer is
    made from."""

    def __init__(self, store: Store | Readers, audience: Audience = PUBLIC) -> None:
        self._store = store
        self.audience = audience

    def _visible(self):
        """The SQL condition on `shares` for the shares this audience sees (Audience.sees)."""
        return _visible_on(shares, self.audience)

    def _views(self, conn: Connection, ids: list[int]) -> list[PublishedLink]:
        records = load_records(conn, ids)
        views = (view_of(records[i], self.audience) for i in ids if i in records)
        return [view for view in views if view is not None]

    async def link(self, link_id: int) -> PublishedLink | None:
        """The link, or None when this audience may see no share of it ("There is no link #N")."""
        found = await self._store.read(lambda conn: self._views(conn, [link_id]))
        return found[0] if found else None

    async def recent(self, *, limit: int = 10, tag: str | None = None,
                     since: datetime | None = None) -> list[PublishedLink]:
        """The links most recently shared where this audience saw it, the latest first."""
        return await self._store.read(lambda conn: self._views(conn, self._recent_ids(conn, limit, tag, since)))

    def _recent_ids(self, conn: Connection, limit: int, tag: str | None, since: datetime | None) -> list[int]:
        """The numbers of the `limit` links whose latest visible share is latest. Grouping every
        share by link reads the whole table (680 ms for the front page at 1,000,000 links,
        bench/web_figures.py), so the shares newer than the RECENT_WINDOW-th newest are walked
        first, by the shared_at index: a link's first appearance there is its latest share, so the
        order is the grouping's. Only when they hold too few links (a rare tag) is the grouping
        run, over the tag's few shares."""
        newer = [self._visible()] + ([shares.c.shared_at >= since] if since is not None else [])
        edge = conn.execute(select(shares.c.shared_at).where(*newer).order_by(shares.c.shared_at.desc())
                            .offset(RECENT_WINDOW).limit(1)).scalar_one_or_none()
        walk = select(shares.c.link_id).where(*newer).order_by(shares.c.shared_at.desc(), shares.c.link_id.desc())
        if edge is not None:
            walk = walk.where(shares.c.shared_at > edge)
        if tag is not None:
            walk = walk.where(select(share_tags.c.share_id).where(
                share_tags.c.share_id == shares.c.id, share_tags.c.tag == tag).exists())
        found = list(dict.fromkeys(conn.execute(walk).scalars()))  # first appearances, in order
        if len(found) >= limit or edge is None:
            return found[:limit]
        last = func.max(shares.c.shared_at).label("last")
        query = (select(shares.c.link_id, last).where(*newer).group_by(shares.c.link_id)
                 .order_by(last.desc(), shares.c.link_id.desc()).limit(limit))
        if tag is not None:
            query = query.where(shares.c.id.in_(select(share_tags.c.share_id).where(share_tags.c.tag == tag)))
        return list(conn.execute(query).scalars())

    async def top(self, *, since: datetime, limit: int = 10) -> list[tuple[PublishedLink, int]]:
        """The links most people shared since `since` (visible shares only), most first."""
        sharers = func.count(shares.c.sharer_id.distinct()).label("sharers")
        last = func.max(shares.c.shared_at).label("last")
        query = (select(shares.c.link_id, sharers, last).where(shares.c.shared_at >= since, self._visible())
                 .group_by(shares.c.link_id).order_by(sharers.desc(), last.desc(), shares.c.link_id.desc())
                 .limit(limit))

        def read(conn: Connection) -> list[tuple[PublishedLink, int]]:
            counts = {row.link_id: row.sharers for row in conn.execute(query)}
            return [(view, counts[view.id]) for view in self._views(conn, list(counts))]

        return await self._store.read(read)

    async def shared_between(self, start: datetime, end: datetime) -> list[PeriodLink]:
        """Every link with a visible share in [start, end) (a digest's links), with all its
        visible shares (earlier ones too: the URL shown is the first's), in one query, run on the
        driver's cursor (`period_query`)."""
        query = period_query(self.audience)

        def read(conn: Connection) -> list[PeriodLink]:
            return _period_links(query.all(conn, {"start": start, "end": end}), UTCDateTime.reader(conn.dialect))

        return await self._store.read(read)

    async def tag_counts(self) -> list[tuple[str, int]]:
        """Each tag of a visible share, with the number of links carrying it, the most used first."""
        count = func.count(shares.c.link_id.distinct()).label("links")
        query = (select(share_tags.c.tag, count).join(shares, shares.c.id == share_tags.c.share_id)
                 .where(self._visible()).group_by(share_tags.c.tag).order_by(count.desc(), share_tags.c.tag))
        return await self._store.read(lambda conn: [(row.tag, row.links) for row in conn.execute(query)])

    async def search(self, words: str, *, limit: int = 20) -> list[LinkSummary]:
        """Links whose view holds every word (as a word prefix), best matches first (store/search.py
        says what "best" is), as a list shows them. Public matches are read in one query; a
        private place's own shares are matched on the full index, each held to the place's view."""
        tokens = search_tokens(words)
        if not tokens:
            return []

        def read(conn: Connection) -> list[LinkSummary]:
            dialect = self._store.dialect
            found = _summaries(conn.execute(_summary_query(dialect, self.audience),
                                            parameters(dialect, tokens, limit)))
            if self.audience.place is not None:  # and what was shared here, held to the place's view
                public = {summary.id for summary in found}
                here = select(ranked(dialect, FULL, in_place=True).c.id)
                values = parameters(dialect, tokens, PLACE_CANDIDATES, place=self.audience.place)
                candidates = [i for i in conn.execute(here, values).scalars() if i not in public]
                views = [view for view in self._views(conn, candidates) if _holds_every(view.search_text(), tokens)]
                found = [summary_of(view) for view in views] + found
            return found[:limit]

        return await self._store.read(read)

    async def page(self, *, limit: int, before: int | None = None, tag: str | None = None,
                   since: datetime | None = None, until: datetime | None = None,
                   words: str | None = None) -> list[PublishedLink]:
        """A page of links, the highest number first (the web API's listing): those below
        `before`, with a visible share in [since, until) carrying `tag`, whose view holds `words`.
        Numbers never go back, so `before` pages through a store that grows without repeats."""
        query = (select(shares.c.link_id).where(self._visible()).group_by(shares.c.link_id)
                 .order_by(shares.c.link_id.desc()).limit(limit))
        if before is not None:
            query = query.where(shares.c.link_id < before)
        if since is not None:
            query = query.where(shares.c.shared_at >= since)
        if until is not None:
            query = query.where(shares.c.shared_at < until)
        if words is not None:
            tokens = search_tokens(words)
            if not tokens:
                return []
            query = query.where(shares.c.link_id.in_(self._public_matches(tokens)))
        if tag is None:
            return await self._store.read(lambda conn: self._views(conn, list(conn.execute(query).scalars())))
        return await self._store.read(lambda conn: self._views(conn, self._tagged_page(conn, query, tag, limit,
                                                                                       before)))

    def _tagged_page(self, conn: Connection, query, tag: str, limit: int, before: int | None) -> list[int]:
        """`query` held to links with a visible share tagged `tag`, in two tries. SQLite either
        gathers every share of the tag before ordering (a common tag: a tenth of the store) or
        walks the links from the newest, probing each (a rare tag: the whole store). So: probe
        the newest TAG_WINDOW shares first, which finds a common tag's page at once, and gather
        the tag's shares only when that window holds too few (a rare tag: few shares to gather)."""
        tagged = select(share_tags.c.share_id).where(share_tags.c.share_id == shares.c.id, share_tags.c.tag == tag)
        edge = select(shares.c.link_id).where(self._visible()).order_by(shares.c.link_id.desc()).offset(TAG_WINDOW)
        if before is not None:
            edge = edge.where(shares.c.link_id < before)
        window_starts = conn.execute(edge.limit(1)).scalar_one_or_none()
        if window_starts is not None:
            near = list(conn.execute(query.where(shares.c.link_id > window_starts, tagged.exists())).scalars())
            if len(near) >= limit:
                return near
        return list(conn.execute(query.where(
            shares.c.id.in_(select(share_tags.c.share_id).where(share_tags.c.tag == tag)))).scalars())

    def _public_matches(self, tokens: list[str]):
        """Every link whose public view holds each token (unranked: a filter, not a search)."""
        if self._store.dialect == "postgresql":
            return text(
                "SELECT id FROM links WHERE published_url IS NOT NULL "
                "AND to_tsvector('simple', published_document) @@ to_tsquery('simple', :q)"
            ).bindparams(q=" & ".join(f"{t}:*" for t in tokens)).columns(column("id"))
        return text("SELECT rowid FROM published_fts WHERE published_fts MATCH :q").bindparams(
            q=" AND ".join(f'"{t}"*' for t in tokens)).columns(column("rowid"))

@functools.lru_cache(maxsize=256)  # a statement per audience: SQLAlchemy compiles it once
def _summary_query(dialect: str, audience: Audience):
    """What a list shows of each ranked link (LinkSummary), by the rules of `view_of`."""
    best = ranked(dialect, PUBLISHED)
    visible = _visible_on(seen := shares.alias("seen"), audience)

    def first(column, *, given: bool = False):
        """The column of the first visible share (holding it, with `given`: a title, a description)."""
        query = select(column).where(seen.c.link_id == links.c.id, visible)
        if given:
            query = query.where(column != "")
        return query.order_by(seen.c.shared_at, seen.c.id).limit(1).scalar_subquery()

    tags = (select(func.aggregate_strings(share_tags.c.tag, TAG_SEPARATOR))
            .select_from(share_tags.join(seen, seen.c.id == share_tags.c.share_id))
            .where(seen.c.link_id == links.c.id, visible).scalar_subquery())
    sharers = select(func.count(seen.c.sharer_id.distinct())).where(seen.c.link_id == links.c.id, visible)
    return (select(links.c.id, links.c.published_url, first(seen.c.url).label("first_url"),
                   first(seen.c.visibility).label("first_visibility"),
                   first(func.coalesce(func.nullif(seen.c.sharer_name, ""), seen.c.sharer_id)).label("first_name"),
                   first(seen.c.shared_at).label("first_at"), first(seen.c.title, given=True).label("title"),
                   first(seen.c.description, given=True).label("description"), tags.label("tags"),
                   sharers.scalar_subquery().label("sharers"), link_pages.c.title.label("page_title"),
                   link_pages.c.description.label("page_description"), link_pages.c.site_name,
                   link_pages.c.fetched_url)
            .select_from(best.join(links, links.c.id == best.c.id)
                         .outerjoin(link_pages, link_pages.c.link_id == links.c.id))
            .order_by(best.c.rank, best.c.id.desc()))


def _visible_on(table, audience: Audience):
    """The SQL condition on `table` (shares, or another name for it) for the shares `audience`
    sees (Audience.sees)."""
    public = table.c.visibility.in_(PUBLISHABLE)
    if audience.place is None:
        return public
    here = table.c.place == audience.place
    if audience.person is not None:
        here = and_(here, table.c.sharer_id == audience.person)
    return or_(public, here)


def _summaries(rows) -> list[LinkSummary]:
    found = []
    for row in rows:
        if row.first_url is None:
            continue  # no share this audience sees (the index is a step behind a removal)
        url = row.published_url if row.first_visibility in PUBLISHABLE and row.published_url else clean_url(row.first_url)
        page = row.fetched_url == url  # the page's words are published only when fetched from this URL
        found.append(LinkSummary(
            id=row.id, url=url, title=row.title or (page and row.page_title) or None,
            description=row.description or (page and row.page_description) or None,
            site_name=row.site_name if page else None,
            tags=split_tags(row.tags),
            first_sharer_name=row.first_name, first_shared_at=as_utc(row.first_at), sharer_count=row.sharers))
    return found


_PERIOD_COLUMNS = (
    shares.c.link_id, shares.c.url, shares.c.visibility, shares.c.sharer_id, shares.c.sharer_name,
    shares.c.source, shares.c.place, shares.c.event_id, shares.c.shared_at, shares.c.title,
    select(func.aggregate_strings(share_tags.c.tag, TAG_SEPARATOR)).where(share_tags.c.share_id == shares.c.id)
    .scalar_subquery().label("tags"),
    links.c.published_url, link_pages.c.title.label("page_title"), link_pages.c.fetched_url,
)


@functools.lru_cache(maxsize=256)  # a statement per audience, compiled once per dialect
def period_query(audience: Audience) -> Prepared:
    """The rows of `shared_between` for `audience`: each visible share of the links with one in
    [:start, :end). A week is thousands of rows: they are read on the driver's cursor, without
    SQLAlchemy's result objects, and `shared_at` comes back raw for `UTCDateTime.reader`
    (decision 24; the benchmark: bench/store_figures.py)."""
    visible = _visible_on(shares, audience)
    period = (select(shares.c.link_id).distinct()
              .where(shares.c.shared_at >= bindparam("start", type_=UTCDateTime),
                     shares.c.shared_at < bindparam("end", type_=UTCDateTime), visible).subquery())
    return Prepared(select(*_PERIOD_COLUMNS)
                    .select_from(period.join(shares, shares.c.link_id == period.c.link_id)
                                 .join(links, links.c.id == shares.c.link_id)
                                 .outerjoin(link_pages, link_pages.c.link_id == shares.c.link_id))
                    .where(visible).order_by(shares.c.link_id, shares.c.shared_at, shares.c.id),
                    raw=("shared_at",))


def _period_links(rows, moment: Callable[[Any], datetime]) -> list[PeriodLink]:
    """The rows of `shared_between` (one per visible share, by link, oldest first), as `view_of`
    would read them: the URL is the first visible share's, the title a visible share's own, else
    the page's when it was fetched from that URL. A week is thousands of rows (benchmarks:
    bench/store_figures.py): they are unpacked by position, each distinct text of tags is split
    once, and `moment` makes `shared_at` a datetime (`UTCDateTime.reader`)."""
    found: list[PeriodLink] = []
    tags_of: dict[str | None, tuple[str, ...]] = {}
    current, link_shares, title, page_title, fetched_url, url = None, [], None, None, None, ""
    for (link_id, share_url, visibility, sharer_id, sharer_name, source, place, event_id, shared_at, share_title,
         tags, published_url, row_page_title, row_fetched_url) in rows:
        if link_id != current:
            if current is not None:
                shown = title or (page_title if fetched_url == url else None) or None
                found.append(PeriodLink(current, url, shown, tuple(link_shares)))
            current, link_shares, title = link_id, [], None
            page_title, fetched_url = row_page_title, row_fetched_url
            # links.published_url is the public view's URL, kept by the store: the first public
            # share's, cleaned. Only a private place's own share, first, makes another.
            url = published_url if visibility in PUBLISHABLE and published_url else clean_url(share_url)
        title = title or share_title
        split = tags_of.get(tags)
        if split is None:
            split = tags_of[tags] = split_tags(tags)
        link_shares.append(SharedThen(sharer_id, sharer_name, _SOURCES[source], place, event_id, moment(shared_at),
                                      split))
    if current is not None:
        shown = title or (page_title if fetched_url == url else None) or None
        found.append(PeriodLink(current, url, shown, tuple(link_shares)))
    return found


_SOURCES = {source.value: source for source in Source}


def _holds_every(document: str, tokens: list[str]) -> bool:
    """Does `document` hold every token as the start of one of its words (as both indexes match)?"""
    words = re.findall(r"\w+", unicodedata.normalize("NFKC", document).casefold())
    return all(any(word.startswith(token) for word in words) for token in tokens)
