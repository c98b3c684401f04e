"""What a digest holds: the links of a period, ranked, each under one tag. A pure function.

Only what may be published goes in: shares from public or unlisted messages, made in the period.
Links are ranked by how many people shared them (across Matrix, Mastodon and feeds), then by
when they were first shared; each appears once, under its strongest tag (the tag most links of the
period carry), and the sharers are credited by name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from watchbot.digest.schedule import Period
from watchbot.model import LinkRecord

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


def build_digest(records: Iterable[LinkRecord], period: Period, *, top: int = 20, place: str | None = None) -> Digest:
    """`place`: only what was shared there (a room's own digest); None: everything."""
    entries = [entry for entry in (_entry(record, period, place) for record in records) if entry is not None]
    # Most sharers first, then the earliest shared: a stable order whatever the store returned.
    entries.sort(key=lambda e: (-len(e[0].sharers), e[1], e[0].link_id))
    tag_weight = Counter(tag for link, _ in entries for tag in link.tags)
    shown = [link for link, _ in entries[:top]]
    by_tag: dict[str, list[DigestLink]] = {}
    for link in shown:
        by_tag.setdefault(_strongest_tag(link, tag_weight), []).append(link)
    sections = sorted(by_tag.items(), key=lambda item: (item[0] == UNTAGGED, -tag_weight[item[0]], item[0]))
    sharer_count = len({name for link, _ in entries for name in link.sharers})
    return Digest(
        period=period,
        link_count=len(entries),
        sharer_count=sharer_count,
        top_tags=tuple(tag for tag, _ in sorted(tag_weight.items(), key=lambda i: (-i[1], i[0]))[:3]),
        sections=tuple(Section(tag, tuple(links)) for tag, links in sections),
        left_out=max(len(entries) - top, 0),
    )


def _entry(record: LinkRecord, period: Period, place: str | None):
    shares = [s for s in record.shares if s.visibility.publishable and period.contains(s.shared_at)
              and (place is None or s.place == place)]
    if not shares:
        return None
    sharers = tuple(dict.fromkeys(s.sharer_name for s in shares))
    tags = tuple(sorted({tag for s in shares for tag in s.tags}))
    link = DigestLink(record.link.id, shares[0].url, record.link.title, tags, sharers)
    return link, shares[0].shared_at


def _strongest_tag(link: DigestLink, weight: Counter) -> str:
    if not link.tags:
        return UNTAGGED
    return min(link.tags, key=lambda tag: (-weight[tag], tag))
