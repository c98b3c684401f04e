"""The published view of a link: what an audience may read of it, computed once, here.

Whatever a public audience reads (room answers, the digest, Atom and bookmark exports, reports)
is a `PublishedLink`, made by `view_of` from the shares that audience may see (`Audience.sees`)
and from nothing else: the URL shown (the first such share's, without tracking parameters), the
title, the tags, the notes, the sharers, the counts. A share the audience may not see adds
nothing but a count without a name (`hidden`, `seen_before`). The store keeps the public view's
URL and search text beside each link (store/published.py), so public search matches only it.
"""

from __future__ import annotations

import functools

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import NamedTuple

from watchbot.links import InvalidURL, published_url
from watchbot.model import PUBLIC, Audience, LinkRecord, Share, Source


@dataclass(frozen=True, slots=True)
class PublishedLink:
    id: int
    key: str
    url: str  # the first visible share's URL, without tracking parameters
    title: str | None  # a visible sharer's own title, else the page's if fetched from `url`
    description: str | None
    site_name: str | None
    tags: tuple[str, ...]  # the visible shares' tags, sorted
    # The visible shares, oldest first, each with its URL cleaned as `url` is.
    shares: tuple[Share, ...]
    hidden: int = 0  # shares this audience may not see: counted, never named
    seen_before: bool = False  # one of those came before the first visible share

    @property
    def first(self) -> Share:
        return self.shares[0]

    @property
    def first_sharer_name(self) -> str:
        return self.first.sharer_name or self.first.sharer_id

    @property
    def first_shared_at(self) -> datetime:
        return as_utc(self.first.shared_at)

    @property
    def last_shared_at(self) -> datetime:
        return max(as_utc(share.shared_at) for share in self.shares)

    @property
    def sharer_count(self) -> int:
        return len({share.sharer_id for share in self.shares})

    @property
    def notes(self) -> str | None:
        """The visible notes, each credited to its sharer unless it is the only one and the
        first sharer's own."""
        noted = [share for share in self.shares if share.note and share.note.strip()]
        if not noted:
            return None
        if len(noted) == 1 and noted[0].sharer_id == self.first.sharer_id:
            return noted[0].note.strip()
        return "\n\n".join(f"{share.sharer_name or share.sharer_id}: {share.note.strip()}" for share in noted)

    def search_text(self) -> str:
        """The words public search may match (store/published.py keeps it per link)."""
        return " ".join(filter(None, [self.url, self.title, self.description, self.site_name,
                                      *(share.note for share in self.shares), *self.tags]))


class SharedThen(NamedTuple):
    """One visible share as the digest reads it: who, where, when, with which tags. A named tuple,
    as `PeriodLink`: a week is thousands of them, and a frozen dataclass costs three times a
    tuple to make (decision 24)."""

    sharer_id: str
    sharer_name: str | None
    source: Source
    place: str | None
    event_id: str | None
    shared_at: datetime
    tags: tuple[str, ...]  # sorted, each once


class PeriodLink(NamedTuple):
    """A link of a period as the digest reads it (`PublishedReader(...).shared_between`): the
    view's URL and title, and its visible shares, oldest first. The same rules as `view_of`, read
    in one query, without what the digest never shows (notes, descriptions, share URLs)."""

    id: int
    url: str
    title: str | None
    shares: tuple[SharedThen, ...]


@dataclass(frozen=True, slots=True)
class LinkSummary:
    """A link as a list shows it (search results): the fields of `PublishedLink` a listing
    reads, computed by the same rules from the shares the audience sees."""

    id: int
    url: str
    title: str | None
    description: str | None
    site_name: str | None
    tags: tuple[str, ...]
    first_sharer_name: str
    first_shared_at: datetime
    sharer_count: int


def summary_of(view: PublishedLink) -> LinkSummary:
    return LinkSummary(view.id, view.url, view.title, view.description, view.site_name, view.tags,
                       view.first_sharer_name, view.first_shared_at, view.sharer_count)


def view_of(record: LinkRecord, audience: Audience = PUBLIC) -> PublishedLink | None:
    """The link as `audience` may read it, or None when it may see no share of it."""
    ordered = sorted(record.shares, key=lambda share: (as_utc(share.shared_at), share.id))
    visible = [share for share in ordered if audience.sees(share)]
    if not visible:
        return None
    url = clean_url(visible[0].url)
    titled = next((share for share in visible if share.title), None)
    described = next((share for share in visible if share.description), None)
    page = record.page if record.page is not None and record.page.fetched_url == url else None
    return PublishedLink(
        id=record.link.id,
        key=record.link.key,
        url=url,
        title=(titled and titled.title) or (page and page.title) or None,
        description=(described and described.description) or (page and page.description) or None,
        site_name=page and page.site_name,
        tags=tuple(sorted({tag for share in visible for tag in share.tags})),
        shares=tuple(replace(share, url=clean_url(share.url)) for share in visible),
        hidden=len(ordered) - len(visible),
        seen_before=ordered[0] is not visible[0],
    )


@functools.lru_cache(maxsize=4096)
def clean_url(url: str) -> str:
    """`links.published_url`, for a URL the store already holds (so one that was filed).
    Cached: a link's URL is cleaned for its view, each of its shares and the answer that names it."""
    try:
        return published_url(url)
    except InvalidURL:  # filed under rules since tightened: show nothing of its query
        return url.split("?", 1)[0].split("#", 1)[0]



def as_utc(moment: datetime) -> datetime:
    """The same instant in UTC; a naive datetime (as SQLite hands them back) is taken as UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
