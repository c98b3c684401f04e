"""The store as an audience may read it: every read answers with `PublishedLink`s only.

Commands, the digest and (to come) the web read links through `Store.published(audience)`, never
through the full records, so no answer can reach a private share's URL, tags, note, sharer or
title by accident. Which links an audience sees is chosen in SQL from the shares it may see; what
it reads of each is `watchbot.published.view_of`, the one definition of the published view.

Public search matches `links.published_document`, the public view's own text, kept beside each
link by `Store.rebuild_search_document` and indexed like the full document (decision 4). A
private place (a direct chat) also finds its own shares: candidates from the full index, kept
only if the place's view holds every word.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, column, func, or_, select, text
from sqlalchemy.engine import Connection

from watchbot.model import Audience, Visibility
from watchbot.published import PublishedLink, view_of
from watchbot.store.schema import share_tags, shares

if TYPE_CHECKING:
    from watchbot.store.store import Store

PUBLISHABLE = tuple(v.value for v in Visibility if v.publishable)
# How many candidates a private place's search looks at before giving up on more.
PLACE_CANDIDATES = 200
# How many of the newest shares a tagged listing probes before it gathers the tag's shares instead.
TAG_WINDOW = 2000


class PublishedReader:
    """Reads for one audience. Made by `Store.published(audience)`."""

    def __init__(self, store: Store, audience: Audience) -> None:
        self._store = store
        self.audience = audience

    def _visible(self):
        """The SQL condition on `shares` for the shares this audience sees (Audience.sees)."""
        public = shares.c.visibility.in_(PUBLISHABLE)
        if self.audience.place is None:
            return public
        here = shares.c.place == self.audience.place
        if self.audience.person is not None:
            here = and_(here, shares.c.sharer_id == self.audience.person)
        return or_(public, here)

    def _views(self, conn: Connection, ids: list[int]) -> list[PublishedLink]:
        records = self._store.load_records(conn, ids)
        views = (view_of(records[i], self.audience) for i in ids if i in records)
        return [view for view in views if view is not None]

    async def link(self, link_id: int) -> PublishedLink | None:
        """The link, or None when this audience may see no share of it ("There is no link #N")."""
        found = await self._store.read(lambda conn: self._views(conn, [link_id]))
        return found[0] if found else None

    async def recent(self, *, limit: int = 10, tag: str | None = None,
                     since: datetime | None = None) -> list[PublishedLink]:
        """The links most recently shared where this audience saw it, the latest first."""
        last = func.max(shares.c.shared_at).label("last")
        query = (select(shares.c.link_id, last).where(self._visible()).group_by(shares.c.link_id)
                 .order_by(last.desc(), shares.c.link_id.desc()).limit(limit))
        if tag is not None:
            query = query.where(shares.c.id.in_(select(share_tags.c.share_id).where(share_tags.c.tag == tag)))
        if since is not None:
            query = query.where(shares.c.shared_at >= since)
        return await self._store.read(lambda conn: self._views(conn, list(conn.execute(query).scalars())))

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

    async def shared_between(self, start: datetime, end: datetime) -> list[PublishedLink]:
        """Every link with a visible share in [start, end) (a digest's links)."""
        query = (select(shares.c.link_id).distinct()
                 .where(shares.c.shared_at >= start, shares.c.shared_at < end, self._visible()))
        return await self._store.read(lambda conn: self._views(conn, list(conn.execute(query).scalars())))

    async def tag_counts(self) -> list[tuple[str, int]]:
        """Each tag of a visible share, with the number of links carrying it, the most used first."""
        count = func.count(shares.c.link_id.distinct()).label("links")
        query = (select(share_tags.c.tag, count).join(shares, shares.c.id == share_tags.c.share_id)
                 .where(self._visible()).group_by(share_tags.c.tag).order_by(count.desc(), share_tags.c.tag))
        return await self._store.read(lambda conn: [(row.tag, row.links) for row in conn.execute(query)])

    async def search(self, words: str, *, limit: int = 20) -> list[PublishedLink]:
        """Links whose view holds every word (as a word prefix), best matches first."""
        from watchbot.store.store import search_tokens

        tokens = search_tokens(words)
        if not tokens:
            return []

        def read(conn: Connection) -> list[PublishedLink]:
            public = list(conn.execute(self._public_search(tokens, limit)).scalars())
            found = self._views(conn, public)
            if self.audience.place is not None:  # and what was shared here, held to the place's view
                candidates = [i for i in conn.execute(self._full_search_here(tokens)).scalars() if i not in public]
                here = [view for view in self._views(conn, candidates) if _holds_every(view.search_text(), tokens)]
                found = here + found
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
            from watchbot.store.store import search_tokens

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

    def _public_search(self, tokens: list[str], limit: int):
        if self._store.dialect == "postgresql":
            return text(
                "SELECT id FROM links WHERE published_url IS NOT NULL "
                "AND to_tsvector('simple', published_document) @@ to_tsquery('simple', :q) "
                "ORDER BY ts_rank(to_tsvector('simple', published_document), to_tsquery('simple', :q)) DESC, "
                "id DESC LIMIT :limit"
            ).bindparams(q=" & ".join(f"{t}:*" for t in tokens), limit=limit)
        return text(
            "SELECT rowid FROM published_fts WHERE published_fts MATCH :q "
            "ORDER BY bm25(published_fts), rowid DESC LIMIT :limit"
        ).bindparams(q=" AND ".join(f'"{t}"*' for t in tokens), limit=limit)

    def _full_search_here(self, tokens: list[str]):
        # Candidates only: each is then held to the place's own view, person and all.
        here = " AND {id} IN (SELECT link_id FROM shares WHERE place = :place)"
        if self._store.dialect == "postgresql":
            return text(
                "SELECT id FROM links WHERE to_tsvector('simple', search_document) @@ to_tsquery('simple', :q)"
                + here.format(id="id") + " ORDER BY id DESC LIMIT :limit"
            ).bindparams(q=" & ".join(f"{t}:*" for t in tokens), place=self.audience.place, limit=PLACE_CANDIDATES)
        return text(
            "SELECT rowid FROM links_fts WHERE links_fts MATCH :q" + here.format(id="rowid")
            + " ORDER BY rowid DESC LIMIT :limit"
        ).bindparams(q=" AND ".join(f'"{t}"*' for t in tokens), place=self.audience.place, limit=PLACE_CANDIDATES)


def _holds_every(document: str, tokens: list[str]) -> bool:
    """Does `document` hold every token as the start of one of its words (as both indexes match)?"""
    words = re.findall(r"\w+", unicodedata.normalize("NFKC", document).casefold())
    return all(any(word.startswith(token) for word in words) for token in tokens)
