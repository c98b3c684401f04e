"""What a digest holds: the links of a period, ranked, each under one tag. A pure function.

Only what may be published goes in: the published views of links (watchbot/published.py, read as
light `PeriodLink`s), so their shares from public or unlisted messages, made in the period, and the
URL without trackers.
Links are ranked by how many people shared them (across Matrix, Mastodon and feeds), then by the
reactions and favourites their messages had, then by when they were first shared; each appears
once, under its strongest tag (the tag most links of the period carry), and the sharers are
credited by name. Links only feeds brought go in a section of their own, after what people shared.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from watchbot.model import Period, Source
from watchbot.published import PeriodLink

UNTAGGED = "other"


@dataclass(frozen=True, slots=True)
class DigestLink:
    link_id: int
    url: str
    title: str | None
    tags: tuple[str, ...]
    sharers: tuple[str, ...]  # display names, first sharer first


@dataclass(frozen=True, slots=True)
class Section:
    tag: str
    links: tuple[DigestLink, ...]


@dataclass(frozen=True, slots=True)
class Digest:
    period: Period
    link_count: int  # every link of the period, shown or not
    sharer_count: int
    top_tags: tuple[str, ...]
    sections: tuple[Section, ...]
    left_out: int  # links beyond the cap: "and N more in the archive"
    # What only feeds brought (no person shared it), in a section of its own, newest first.
    feed_links: tuple[DigestLink, ...] = ()
    feed_count: int = 0


def build_digest(links: Iterable[PeriodLink], period: Period, *, top: int = 20, place: str | None = None,
                 feed_top: int = 10, reactions: Mapping[tuple[Source, str], int] | None = None) -> Digest:
    """`place`: only what was shared there (a room's own digest); None: everything. `feed_top`:
    how many links only feeds brought are shown, in their own section. `reactions`: per shared
    message (source, event id), the reactions or favourites it had: they rank links that the
    same number of people shared."""
    entries = [entry for entry in (_entry(link, period, place, reactions or {}) for link in links)
               if entry is not None]
    shared = [entry for entry in entries if entry.people]
    from_feeds = [entry for entry in entries if not entry.people]
    # Most sharers first, then the earliest shared: a stable order whatever the store returned.
    shared.sort(key=lambda e: (-len(e.sharers), -e.reactions, e.first_shared_at, e.published.id))
    tag_weight = Counter(tag for entry in shared for tag in entry.tags)
    by_tag: dict[str, list[DigestLink]] = {}
    for entry in shared[:top]:
        link = entry.link
        by_tag.setdefault(_strongest_tag(link, tag_weight), []).append(link)
    sections = sorted(by_tag.items(), key=lambda item: (item[0] == UNTAGGED, -tag_weight[item[0]], item[0]))
    from_feeds.sort(key=lambda e: (e.first_shared_at, e.published.id), reverse=True)  # the newest first
    return Digest(
        period=period,
        link_count=len(shared),
        sharer_count=len({person for entry in shared for person in entry.people}),
        top_tags=tuple(tag for tag, _ in sorted(tag_weight.items(), key=lambda i: (-i[1], i[0]))[:3]),
        sections=tuple(Section(tag, tuple(links)) for tag, links in sections),
        left_out=max(len(shared) - top, 0),
        feed_links=tuple(entry.link for entry in from_feeds[:feed_top]),
        feed_count=len(from_feeds),
    )


class _Entry(NamedTuple):
    """A link of the period, ranked. A named tuple: one is made for each of a week's thousands of
    links, and a frozen dataclass costs twice as much to make (decision 24)."""

    published: PeriodLink
    tags: tuple[str, ...]  # of its shares in the period
    sharers: tuple[str, ...]  # display names, first sharer first
    first_shared_at: datetime
    people: frozenset[str]  # who shared it, feeds left out: none means only feeds brought it
    reactions: int

    @property
    def link(self) -> DigestLink:
        """Made only for the links shown (a week holds thousands)."""
        return DigestLink(self.published.id, self.published.url, self.published.title, self.tags, self.sharers)


def _entry(published: PeriodLink, period: Period, place: str | None,
           reactions: Mapping[tuple[Source, str], int]) -> _Entry | None:
    start, end = period.start, period.end
    shares = [s for s in published.shares if start <= s.shared_at < end and (place is None or s.place == place)]
    if not shares:
        return None
    first = shares[0]
    if len(shares) == 1:  # most links of a week: spared the generators below (a week is thousands)
        sharers, tags = (first.sharer_name,), first.tags
        people = frozenset() if first.source is Source.FEED else frozenset((first.sharer_id,))
    else:
        sharers = tuple(dict.fromkeys(s.sharer_name for s in shares))
        tags = tuple(sorted({tag for s in shares for tag in s.tags}))
        people = frozenset(s.sharer_id for s in shares if s.source is not Source.FEED)
    count = 0
    if reactions:
        count = sum(reactions.get((s.source, s.event_id), 0) for s in shares if s.event_id)
    return _Entry(published, tags, sharers, first.shared_at, people, count)


def _strongest_tag(link: DigestLink, weight: Counter) -> str:
    if not link.tags:
        return UNTAGGED
    return min(link.tags, key=lambda tag: (-weight[tag], tag))
