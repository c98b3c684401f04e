"""An Atom 1.0 feed (RFC 4287) of the publishable links, one entry per link.

`write_atom` is the export (`watchbot export --format atom`, from the store's records);
`write_published_atom` writes links already read as published views (the web's feeds), with a
link to each link's page and to the feed's own page when a site is given.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from watchbot.formats.fields import as_utc
from watchbot.formats.published import one_line, xml_safe
from watchbot.model import LinkRecord
from watchbot.published import PublishedLink, view_of

ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"

# Entry ids are urn:uuid:<UUIDv5 of the link's canonical key>: a registered URN scheme (RFC 4122,
# unlike an ad hoc "urn:sha256:"), needing no domain we own (unlike a tag: URI), and the same in
# every store holding the link, so readers never show a link twice after a restore or a move.
# They change only if the canonical key's rules change. This namespace must never change.
_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://watchbot.invalid/atom-ids")


def entry_id(key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, 'link:' + key)}"


def feed_id(title: str, site_url: str | None) -> str:
    return site_url or f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, 'feed:' + title)}"


def atom_time(moment: datetime) -> str:
    """RFC 3339 to the second with "Z": the spelling every feed reader parses."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class FeedPages:
    """A feed served by the web: the page it stands for, and each link's page."""

    page_url: str
    link_page: Callable[[PublishedLink], str]


def write_atom(
    records: Iterable[LinkRecord],
    out: TextIO,
    *,
    title: str,
    site_url: str | None,
    now: datetime,
) -> int:
    links = [link for link in map(view_of, records) if link is not None]
    return write_published_atom(links, out, title=title, feed_url=site_url, now=now)


def write_published_atom(
    links: Iterable[PublishedLink],
    out: TextIO,
    *,
    title: str,
    feed_url: str | None,
    now: datetime,
    pages: FeedPages | None = None,
) -> int:
    """The feed of `links` (published views, in the order given); how many entries it holds."""
    links = list(links)
    # Tag names are written unqualified under a default xmlns attribute, rather than through
    # ET.register_namespace, which would change ElementTree's global state for the whole process.
    feed = ET.Element("feed", {"xmlns": ATOM_NAMESPACE})
    _text(feed, "id", feed_id(title, feed_url))
    _text(feed, "title", one_line(title))
    # The feed changes only when an entry does, so an unchanged store gives an unchanged feed.
    _text(feed, "updated", atom_time(feed_updated(links, now)))
    if feed_url:
        ET.SubElement(feed, "link", {"rel": "self", "href": feed_url})
    if pages is not None:
        ET.SubElement(feed, "link", {"rel": "alternate", "type": "text/html", "href": pages.page_url})
    _text(feed, "generator", "watchbot")
    for link in links:
        _add_entry(feed, link, pages)
    ET.indent(feed)
    out.write('<?xml version="1.0" encoding="utf-8"?>\n')
    out.write(ET.tostring(feed, encoding="unicode"))
    out.write("\n")
    return len(links)


def feed_updated(links: Iterable[PublishedLink], now: datetime) -> datetime:
    """The feed's `updated`: its newest visible share (`now` for an empty feed)."""
    return max((link.last_shared_at for link in links), default=now)


def _add_entry(feed: ET.Element, link: PublishedLink, pages: FeedPages | None) -> None:
    entry = ET.SubElement(feed, "entry")
    _text(entry, "id", entry_id(link.key))
    _text(entry, "title", one_line(link.title or link.url))
    # The link itself is what a reader opens; its page on the site (who shared it, where) is related.
    ET.SubElement(entry, "link", {"rel": "alternate", "href": one_line(link.url)})
    if pages is not None:
        ET.SubElement(entry, "link", {"rel": "related", "type": "text/html", "href": pages.link_page(link)})
    _text(entry, "published", atom_time(link.first_shared_at))
    _text(entry, "updated", atom_time(link.last_shared_at))
    author = ET.SubElement(entry, "author")
    _text(author, "name", one_line(link.first_sharer_name))
    for tag in link.tags:
        ET.SubElement(entry, "category", {"term": one_line(tag)})
    # Both as type="text": notes and page descriptions are plain text, never markup to render.
    if link.description:
        _text(entry, "summary", xml_safe(link.description), type="text")
    if link.notes:
        _text(entry, "content", xml_safe(link.notes), type="text")


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = text
    return element
