"""What a feed says, from its bytes: pure, no I/O.

RSS 0.9x/1.0/2.0 and Atom are read by feedparser (liberal: a feed that is not well-formed but
has entries is used, and the problem is kept as a warning); JSON Feed 1.0/1.1 by the small reader
below, because the released feedparser (6.0) does not read it.

Each entry gets the keys it is known by, strongest first: its id, its link's canonical key, and a
hash of its title and date. A feed that changes its entry ids, or its links' tracking parameters,
still names entries it showed before by one of the others.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urljoin

from watchbot.links import InvalidURL, canonical_key
from watchbot.markup import START, TEXT, tokens

MAX_ENTRIES = 1000  # read from one feed (feeds list the newest first); the rest is ignored
TITLE_LENGTH = 300
SUMMARY_LENGTH = 300
MAX_ENTRY_TAGS = 8

_CVE = re.compile(r"\bCVE-(\d{4})-(\d{4,7})\b", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
# C0/C1 controls and the bidi controls that reorder text around them.
_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_XML_DECLARATION = re.compile(rb"(?:\xef\xbb\xbf)?\s*<\?xml\s")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_JSON_TYPES = ("application/feed+json", "application/json")


class NotAFeed(ValueError):
    """The bytes are not a feed that can be read; `reason` is one line for a person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Entry:
    keys: tuple[str, ...]  # what it is known by, strongest first; never empty
    link: str | None  # absolute http(s) URL, or None (nothing to file)
    title: str | None
    summary: str | None  # plain text, short
    published: datetime | None  # aware UTC
    tags: tuple[str, ...]  # the feed's categories, as given
    cve_ids: tuple[str, ...]  # CVE-2026-12345, from the title and the link

    @property
    def key(self) -> str:
        """The entry's own name: where it is filed from (the share's event id)."""
        return self.keys[0]


@dataclass(frozen=True, slots=True)
class Feed:
    title: str | None
    home: str | None  # the site the feed is about
    format: str  # "RSS 2.0", "Atom 1.0", "JSON Feed 1.1", ...
    entries: tuple[Entry, ...]  # as the feed lists them, each once
    warning: str | None = None  # what was wrong with a feed that could still be read


def parse_feed(body: bytes, headers: Mapping[str, str], url: str) -> Feed:
    """The feed in `body`, fetched from `url` with these response headers; NotAFeed if none."""
    content_type = (headers.get("Content-Type") or headers.get("content-type") or "").split(";")[0].strip().lower()
    if not body.strip():
        raise NotAFeed(f"{url} sent nothing (an empty body)")
    if content_type in _JSON_TYPES or body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{":
        return _json_feed(body, url)
    return _xml_feed(body, headers, content_type, url)


def cve_ids(*texts: str | None) -> tuple[str, ...]:
    """CVE identifiers in these texts, upper-cased, each once, in order of appearance."""
    found = (f"CVE-{m[1]}-{m[2]}" for text in texts if text for m in _CVE.finditer(text))
    return tuple(dict.fromkeys(found))


# -- RSS and Atom, by feedparser -----------------------------------------------------------------


def _xml_feed(body: bytes, headers: Mapping[str, str], content_type: str, url: str) -> Feed:
    import feedparser  # here: a bot that follows no RSS or Atom feed never holds it (memory at idle)

    # A BytesIO, never the bytes: feedparser reads a bytes argument that names a file as that file.
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers={"content-type": headers.get("Content-Type") or headers.get("content-type") or "",
                          "content-location": url},
    )
    problem = _bozo_reason(parsed, declared=_XML_DECLARATION.match(body) is not None) if parsed.get("bozo") else None
    if not parsed.entries:
        if content_type in _HTML_TYPES or (not parsed.version and b"<html" in body[:2048].lower()):
            raise NotAFeed(f"{url} is a web page, not a feed; give the address of its RSS or Atom feed")
        if problem is not None:
            raise NotAFeed(f"{url} is not a feed that can be read ({problem}) and has no entries")
        if not parsed.version:
            raise NotAFeed(f"{url} is not an RSS, Atom or JSON feed")
    entries = [_xml_entry(entry, url) for entry in parsed.entries[:MAX_ENTRIES]]
    return Feed(
        title=_plain(parsed.feed.get("title"), TITLE_LENGTH),
        home=_http_url(parsed.feed.get("link"), url),
        format=feedparser.api.SUPPORTED_VERSIONS.get(parsed.version or "", "") or "RSS or Atom",
        entries=_each_once(entries),
        warning=problem,
    )


def _bozo_reason(parsed, *, declared: bool) -> str:
    import feedparser

    error = parsed.get("bozo_exception")
    if isinstance(error, feedparser.NonXMLContentType):
        return "it is not served as a feed (Content-Type)"
    if isinstance(error, feedparser.CharacterEncodingOverride):
        return f"its encoding is not the one it declares ({error})"
    line = getattr(error, "getLineNumber", None)
    message = getattr(error, "getMessage", None)
    if callable(line) and callable(message):  # a SAXParseException
        # feedparser puts an XML declaration on its own line before a document without one.
        return f"not well-formed XML: {message()} at line {line() if declared else max(line() - 1, 1)}"
    return str(error) or type(error).__name__


def _xml_entry(entry, url: str) -> Entry:
    title_type = (entry.get("title_detail") or {}).get("type", "text/plain")
    title = _plain(entry.get("title"), TITLE_LENGTH, markup="html" in title_type)
    link = _http_url(entry.get("link"), url)
    published = _struct_time(entry.get("published_parsed") or entry.get("updated_parsed"))
    tags = [tag.get("term") or tag.get("label") for tag in entry.get("tags") or ()]
    return _entry(
        entry_id=entry.get("id"), link=link, title=title,
        summary=_plain(entry.get("summary"), None, markup=True),
        published=published, tags=tags,
    )


def _struct_time(value) -> datetime | None:
    # feedparser gives dates as UTC struct_time.
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), timezone.utc)
    except (OverflowError, ValueError, OSError):
        return None


# -- JSON Feed -----------------------------------------------------------------------------------


def _json_feed(body: bytes, url: str) -> Feed:
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as error:
        raise NotAFeed(f"{url} is not valid JSON ({_first_line(error)})") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise NotAFeed(f"{url} is JSON but not a JSON Feed (it has no list of items)")
    version = str(data.get("version") or "")
    if not version.startswith(("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")):
        raise NotAFeed(f"{url} is JSON but not a JSON Feed (no jsonfeed.org version)")
    items = [item for item in data["items"][:MAX_ENTRIES] if isinstance(item, dict)]
    skipped = min(len(data["items"]), MAX_ENTRIES) - len(items)
    return Feed(
        title=_plain(_string(data.get("title")), TITLE_LENGTH),
        home=_http_url(_string(data.get("home_page_url")), url),
        format="JSON Feed " + {"1": "1.0"}.get(number := version.rsplit("/", 1)[-1], number),
        entries=_each_once([_json_item(item, url) for item in items]),
        warning=f"{skipped} item(s) were not JSON objects and were skipped" if skipped else None,
    )


def _json_item(item: dict, url: str) -> Entry:
    text = _plain(_string(item.get("content_text")), None)
    summary = (_plain(_string(item.get("summary")), None) or text
               or _plain(_string(item.get("content_html")), None, markup=True))
    # A microblog post has no title: its first words stand for one.
    title = _plain(_string(item.get("title")), TITLE_LENGTH) or _plain(summary, 80)
    entry_id = item.get("id")
    tags = item.get("tags") if isinstance(item.get("tags"), list) else []
    return _entry(
        entry_id=str(entry_id) if isinstance(entry_id, (str, int)) and not isinstance(entry_id, bool) else None,
        link=_http_url(_string(item.get("url")) or _string(item.get("external_url")), url),
        title=title, summary=summary,
        published=_rfc3339(_string(item.get("date_published")) or _string(item.get("date_modified"))),
        tags=[tag for tag in tags if isinstance(tag, str)],
    )


def _rfc3339(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _string(value: object) -> str | None:
    return value if isinstance(value, str) else None


# -- one entry, whatever the format --------------------------------------------------------------


def _entry(*, entry_id, link, title, summary, published, tags) -> Entry:
    keys = []
    entry_id = _WHITESPACE.sub(" ", entry_id).strip() if isinstance(entry_id, str) else None
    if entry_id:
        keys.append("id:" + entry_id[:500])
    link_key = _link_key(link)
    if link_key:
        keys.append("link:" + link_key)
    # Title and date together name an entry well; a title alone only when nothing else does (many
    # feeds reuse titles such as "Security update").
    if published is not None or not keys:
        named = f"{title or ''}\n{published.isoformat() if published else ''}"
        keys.append("hash:" + hashlib.sha256(named.encode()).hexdigest()[:32])
    return Entry(
        keys=tuple(keys),
        link=link if link_key else None,
        title=title,
        summary=_shortened(summary, SUMMARY_LENGTH) if summary else None,
        published=published,
        tags=tuple(dict.fromkeys(tag.strip() for tag in tags if tag and tag.strip()))[:MAX_ENTRY_TAGS],
        # The whole summary is read: advisories often name their CVEs only there.
        cve_ids=cve_ids(title, link, summary),
    )


def _link_key(link: str | None) -> str | None:
    if not link:
        return None
    try:
        return canonical_key(link)
    except InvalidURL:
        return None


def _http_url(value: str | None, base: str) -> str | None:
    """`value` made absolute against the feed's URL, if it is an http(s) URL."""
    if not value or not isinstance(value, str):
        return None
    absolute = urljoin(base, value.strip())
    return absolute if absolute.startswith(("http://", "https://")) else None


def _each_once(entries: Iterable[Entry]) -> tuple[Entry, ...]:
    """Entries sharing a key with an earlier one are that entry again (feeds repeat items)."""
    seen: set[str] = set()
    kept = []
    for entry in entries:
        if seen.isdisjoint(entry.keys):
            kept.append(entry)
        seen.update(entry.keys)
    return tuple(kept)


# -- text ----------------------------------------------------------------------------------------


def _markup_text(html: str) -> str:
    """The text of an HTML fragment, without its tags (scripts and styles left out)."""
    parts: list[str] = []
    skipping = 0  # open <script> and <style> elements
    for kind, token in tokens(html):
        if kind == TEXT:
            if not skipping:
                parts.append(token)
        elif token.tag in ("script", "style"):
            if kind == START:
                skipping += 1
            elif skipping:
                skipping -= 1
        elif kind == START and token.tag in ("p", "br", "li", "div"):
            parts.append(" ")
    return "".join(parts)


def _plain(value: object, limit: int | None, *, markup: bool = False) -> str | None:
    """One line of plain text, at most `limit` characters if given; None when nothing is left."""
    if not isinstance(value, str):
        return None
    if markup:
        value = _markup_text(value)
    text = _WHITESPACE.sub(" ", _UNWANTED.sub("", value)).strip()
    return (_shortened(text, limit) if limit else text) or None


def _shortened(text: str, limit: int) -> str:
    """`text` cut at a space to at most `limit` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    space = text.rfind(" ", 0, limit)
    return (text[:space] if space >= limit // 2 else text[: limit - 1]).rstrip(" ,;:") + "…"


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
