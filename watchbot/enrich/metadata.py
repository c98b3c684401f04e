"""A page's title, description, image and the rest, read from its HTML.

Everything here is pure: the worker fetches the page (address guard, redirects, size cap) and hands
over the bytes; `decode_html` turns them into text as a browser would, `parse_page` reads what the
page says about itself, `apply_oembed` adds what its oEmbed endpoint says, and `same_site` tells
whether the canonical URL a page claims may be believed.

Every text value is cleaned for the digest: entities decoded, whitespace collapsed, control and
bidi characters removed (a hostile title must not reorder the text around it), and capped.
Nothing here raises on bad input: a page we cannot read simply tells us less.
"""

from __future__ import annotations

import codecs
import html as html_entities
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

from yarl import URL

from watchbot.links import MAX_URL_LENGTH

__all__ = ["PageMeta", "apply_oembed", "decode_html", "parse_page", "same_site"]


@dataclass(frozen=True, slots=True)
class PageMeta:
    """What a page says about itself; None for anything it does not say (or says unusably)."""

    title: str | None = None
    description: str | None = None
    site_name: str | None = None
    author: str | None = None  # from oEmbed's author_name (`apply_oembed`); pages vary too much
    language: str | None = None  # a BCP 47 tag such as "en-US"
    image_url: str | None = None
    published: datetime | None = None  # aware, UTC
    # As the page claims it: check it with `same_site` before trusting it.
    canonical_url: str | None = None
    oembed_url: str | None = None  # a JSON oEmbed endpoint to fetch for better data
    refresh_url: str | None = None  # where a <meta http-equiv="refresh"> sends the reader


# --- Decoding ------------------------------------------------------------------------------------

_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
# How far to look for <meta charset>: the HTML standard's prescan reads 1024 bytes; a few more
# catch pages with a long preamble (comments, inline styles) at no cost.
_PRESCAN_BYTES = 4096

# Labels browsers know that Python's codec registry does not (WHATWG Encoding Standard).
_WHATWG_LABELS = {
    "unicode-1-1-utf-8": "utf-8", "unicode11utf8": "utf-8", "unicode20utf8": "utf-8",
    "x-unicode20utf8": "utf-8", "windows-31j": "cp932", "x-sjis": "cp932",
    "x-euc-jp": "euc_jp", "windows-949": "cp949", "x-gbk": "gb18030", "cn-big5": "big5hkscs",
    "x-x-big5": "big5hkscs", "koi8-ru": "koi8_u", "iso-8859-8-i": "iso8859_8",
    "csiso88598i": "iso8859_8", "logical": "iso8859_8", "mac": "mac_roman",
    "x-mac-roman": "mac_roman", "x-mac-cyrillic": "mac_cyrillic", "x-mac-ukrainian": "mac_cyrillic",
    "windows-874": "cp874", "dos-874": "cp874",
    **{f"x-cp{n}": f"cp{n}" for n in range(1250, 1259)},
}
# Where browsers read a label as a superset of what it names: pages labelled latin-1 or ASCII
# are written in windows-1252 (curly quotes at 0x93), Shift_JIS ones in Microsoft's cp932, ...
_AS_BROWSERS_READ = {
    "ascii": "cp1252", "iso8859-1": "cp1252", "iso8859-9": "cp1254", "iso8859-11": "cp874",
    "tis-620": "cp874", "shift_jis": "cp932", "euc_kr": "cp949", "gb2312": "gb18030",
    "gbk": "gb18030", "big5": "big5hkscs", "utf-16": "utf-16-le",
}
# The encodings of the web, as Python names them. Anything else is ignored: Python also knows
# codecs no page may use (UTF-7, which smuggles markup past filters; "unicode_escape"; "rot13").
_WEB_ENCODINGS = frozenset({
    "utf-8", "utf-16-le", "utf-16-be", "cp866", "koi8-r", "koi8-u", "mac-roman", "mac-cyrillic",
    "cp874", "gb18030", "big5hkscs", "euc_jp", "iso2022_jp", "cp932", "cp949",
    *(f"iso8859-{n}" for n in (2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)),
    *(f"cp{n}" for n in range(1250, 1259)),
})

_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_META_TAG = re.compile(rb"<meta[\s/]([^>]*)", re.IGNORECASE)
_TAG_ATTRIBUTE = re.compile(rb"""([^\s/>=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]*)))?""")
_CHARSET_PARAMETER = re.compile(r"""charset\s*=\s*["']?([^\s"';]*)""", re.IGNORECASE)


def decode_html(body: bytes, http_charset: str | None) -> str:
    """The text of a page as a browser would decode it. Undecodable bytes become U+FFFD.

    In order: a byte order mark, the charset of the HTTP Content-Type, a <meta> declaration near
    the start, then UTF-8. Unknown or unsuitable charset names are skipped.
    """
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(encoding, "replace")
    encoding = _web_encoding(http_charset) or _declared_encoding(body[:_PRESCAN_BYTES]) or "utf-8"
    return body.decode(encoding, "replace")


def _web_encoding(label: str | None) -> str | None:
    """The Python codec for a charset label as browsers read it; None if not one of the web's."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _WHATWG_LABELS.get(label, label)
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return None
    name = _AS_BROWSERS_READ.get(name, name)
    return name if name in _WEB_ENCODINGS else None


def _declared_encoding(prefix: bytes) -> str | None:
    # The first usable declaration wins, as in the HTML standard's prescan; comments are skipped.
    for match in _META_TAG.finditer(_COMMENT.sub(b"", prefix)):
        attrs = _prescan_attributes(match[1])
        label = attrs.get("charset")
        if label is None and attrs.get("http-equiv", "").strip().lower() == "content-type":
            parameter = _CHARSET_PARAMETER.search(attrs.get("content", ""))
            label = parameter[1] if parameter else None
        encoding = _web_encoding(label)
        if encoding is not None:
            # A page found by reading it as ASCII cannot be UTF-16: browsers take it as UTF-8.
            return "utf-8" if encoding.startswith("utf-16") else encoding
    return None


def _prescan_attributes(raw: bytes) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for match in _TAG_ATTRIBUTE.finditer(raw):
        value = next((group for group in match.groups()[1:] if group is not None), b"")
        # Latin-1 maps bytes 1:1: labels are ASCII, and nothing else here needs to be exact.
        attrs.setdefault(match[1].decode("latin-1").lower(), value.decode("latin-1"))
    return attrs


# --- Reading the page ----------------------------------------------------------------------------

# The properties read from <meta> (property=, name= or itemprop=), lowercased.
_META_KEYS = frozenset({
    "og:title", "og:description", "og:site_name", "og:locale", "article:published_time",
    "og:image", "og:image:url", "og:image:secure_url",
    "twitter:title", "twitter:description", "twitter:image", "twitter:image:src",
    "description", "date", "datepublished",
})
_HTTP_EQUIV_KEYS = frozenset({"content-language", "refresh"})
# Elements whose content is not the document's: SVG and MathML carry <title>s of their own (an
# icon's tooltip), and a <template> is inert until a script uses it.
_FOREIGN = frozenset({"svg", "math", "template"})

# Work caps. The fetcher caps the size first; these bound what a hostile page can cost us here.
_MAX_HTML_CHARS = 2_000_000
_MAX_START_TAGS = 5_000
# The body is only read for metadata a page put there (YouTube serves its OpenGraph tags and its
# oEmbed link inside <body>): such tags come early, so reading stops after this many elements.
_MAX_BODY_START_TAGS = 1_000
_MAX_RAW_TITLE = 3_000  # characters of a <title> kept before cleaning (an unclosed one runs on)


class _StopReading(Exception):
    """Raised from inside the parser once it has read all it will."""


class _PageReader(HTMLParser):
    """Collects <html lang>, the head's <title> and the <meta>/<link> values we use.

    Values are kept per source (head, body), first one wins. <title> is only taken from the head.
    """

    # A <title> is read as ordinary markup, its text ending at the next tag, on every Python
    # version: those from 3.11.13 read it as RCDATA, as browsers do, so that an unclosed <title>
    # would swallow the rest of the head. The cost: "<title>A <b>B</b></title>" reads "A".
    RCDATA_CONTENT_ELEMENTS = ()

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang: str | None = None
        self.title: str | None = None
        self.head: dict[str, str] = {}
        self.body: dict[str, str] = {}
        self._title_parts: list[str] | None = None  # while inside the first <title>
        self._title_length = 0
        self._in_body = False
        self._foreign: list[str] = []  # open <svg>, <math>, <template> elements
        self._start_tags = 0
        self._body_start_tags = 0

    def read(self, html: str) -> None:
        try:
            self.feed(html)
            self.close()
        except _StopReading:
            pass
        except AssertionError:
            pass  # how html.parser gives up on markup it cannot read; `_defused` avoids known cases
        self._end_title()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._end_title()  # an unclosed <title> ends at the next tag
        self._count_start_tag()
        if tag in _FOREIGN:
            self._foreign.append(tag)
        elif self._foreign:
            return
        elif tag in ("body", "frameset"):
            self._in_body = True
        elif tag == "html" and self.lang is None:
            first = _first_attrs(attrs)
            self.lang = first.get("lang") or first.get("xml:lang")
        elif tag == "title" and not self._in_body and self.title is None:
            self._title_parts = []
        elif tag == "meta":
            self._read_meta(_first_attrs(attrs))
        elif tag == "link":
            self._read_link(_first_attrs(attrs))
        elif tag == "base" and not self._in_body:
            self._keep("base", _first_attrs(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        self._end_title()
        if self._foreign and self._foreign[-1] == tag:
            self._foreign.pop()

    def handle_data(self, data: str) -> None:
        if self._title_parts is not None and self._title_length < _MAX_RAW_TITLE:
            self._title_parts.append(data)
            self._title_length += len(data)

    def _count_start_tag(self) -> None:
        self._start_tags += 1
        if self._in_body:
            self._body_start_tags += 1
        if self._start_tags > _MAX_START_TAGS or self._body_start_tags > _MAX_BODY_START_TAGS:
            raise _StopReading

    def _end_title(self) -> None:
        if self._title_parts is not None:
            self.title = "".join(self._title_parts)
            self._title_parts = None

    def _read_meta(self, attrs: Mapping[str, str]) -> None:
        content = attrs.get("content")
        if content is None:
            return
        # One element may serve several names: <meta property="og:title" name="twitter:title">.
        for attribute in ("property", "name", "itemprop"):
            key = attrs.get(attribute, "").strip().lower()
            if key in _META_KEYS:
                self._keep(key, content)
        http_equiv = attrs.get("http-equiv", "").strip().lower()
        if http_equiv in _HTTP_EQUIV_KEYS:
            self._keep(f"http-equiv:{http_equiv}", content)

    def _read_link(self, attrs: Mapping[str, str]) -> None:
        rel = attrs.get("rel", "").lower().split()  # a list of tokens: rel="canonical nofollow"
        href = attrs.get("href")
        if "canonical" in rel:
            self._keep("canonical", href)
        link_type = attrs.get("type", "").strip().lower()
        if "alternate" in rel and link_type == "application/json+oembed":
            self._keep("oembed", href)

    def _keep(self, key: str, value: str | None) -> None:
        # First one wins, as browsers do with duplicate tags; blank values do not count.
        if value and value.strip():
            (self.body if self._in_body else self.head).setdefault(key, value)


def _first_attrs(attrs: list[tuple[str, str | None]]) -> dict[str, str]:
    # Browsers use the first of repeated attributes; a dict() of the list would keep the last.
    first: dict[str, str] = {}
    for name, value in attrs:
        first.setdefault(name, value or "")
    return first


_LONE_LESS_THAN = re.compile(r"<(?![a-zA-Z/!?])")


def _defused(html: str) -> str:
    """`html` without what makes Python 3.11's html.parser slow or give up.

    For each "<" that starts a construct it never sees the end of, the parser rescans to the end
    of the input, so that "<a " repeated over 30 KB takes seconds and over 1 MB hours. Each change
    below gives the same reading as the parser's own, in linear time.
    """
    html = html[:_MAX_HTML_CHARS]
    # A "<" that no ">" follows starts no tag: the text before it (an unclosed title's) is kept.
    cut = html.find("<", html.rfind(">") + 1)
    if cut >= 0:
        html = html[:cut]
    # A comment opened after the last "-->" never closes: the parser reads "<!--" as text.
    last_close = html.rfind("-->")
    start = last_close + 3 if last_close >= 0 else 0
    html = html[:start] + html[start:].replace("<!--", "&lt;!--")
    # "<![CDATA[", "<![if ...]>": browsers read these as a bogus comment up to the next ">" in
    # HTML, the parser as marked sections that it rescans for, or rejects (AssertionError).
    # With a space it reads them as browsers do.
    html = html.replace("<![", "<! [")
    # A "<" that starts nothing ("a < b", "<<<<") is text, which the parser hands over one
    # character at a time: as "&lt;" it goes in one piece.
    return _LONE_LESS_THAN.sub("&lt;", html)


# --- From what was read to PageMeta --------------------------------------------------------------

_TITLE_LENGTH = 300
_DESCRIPTION_LENGTH = 500
_TEXT_LENGTH = 200

_TITLE_KEYS = ("og:title", "twitter:title")
_DESCRIPTION_KEYS = ("og:description", "twitter:description", "description")
_IMAGE_KEYS = ("og:image", "og:image:url", "og:image:secure_url", "twitter:image",
               "twitter:image:src")
_PUBLISHED_KEYS = ("article:published_time", "date", "datepublished")


def parse_page(html: str, base_url: str) -> PageMeta:
    """What a page says about itself, from its head (see PageMeta). Never raises.

    OpenGraph first, then Twitter cards, then <title> and <meta name="description">. Values that
    a page put in its <body> (YouTube does) are used only where its head says nothing, and a
    <title> is only ever taken from the head. URLs are made absolute against `base_url` (or the
    page's <base href>), and only http and https ones are kept.
    """
    reader = _PageReader()
    reader.read(_defused(html))
    head, body = reader.head, reader.body
    base = _base(base_url, head.get("base"))
    return PageMeta(
        title=_first_text(
            [*_values(head, keys=_TITLE_KEYS), reader.title, *_values(body, keys=_TITLE_KEYS)],
            _TITLE_LENGTH,
        ),
        description=_first_text(_values(head, body, keys=_DESCRIPTION_KEYS), _DESCRIPTION_LENGTH),
        site_name=_first_text(_values(head, body, keys=("og:site_name",)), _TEXT_LENGTH),
        language=_language(reader.lang, _values(head, body, keys=("og:locale",)),
                           _values(head, body, keys=("http-equiv:content-language",))),
        image_url=_first_url(_values(head, body, keys=_IMAGE_KEYS), base),
        published=_first_date(_values(head, body, keys=_PUBLISHED_KEYS)),
        canonical_url=_first_url(_values(head, body, keys=("canonical",)), base),
        oembed_url=_first_url(_values(head, body, keys=("oembed",)), base),
        refresh_url=_first_url(
            [_refresh_target(value) for value in _values(head, body, keys=("http-equiv:refresh",))],
            base,
        ),
    )


def _values(*tables: Mapping[str, str], keys: Iterable[str]) -> list[str | None]:
    """The values of `keys` in order of preference: each key in the first table, then the next."""
    return [table.get(key) for table in tables for key in keys]


def _first_text(candidates: Iterable[str | None], limit: int) -> str | None:
    return next(filter(None, (_clean_text(value, limit) for value in candidates)), None)


def _first_url(candidates: Iterable[str | None], base: str | None) -> str | None:
    return next(filter(None, (_web_url(value, base) for value in candidates)), None)


def _first_date(candidates: Iterable[str | None]) -> datetime | None:
    return next(filter(None, (_datetime(value) for value in candidates)), None)


# --- Text ----------------------------------------------------------------------------------------

# C0 and C1 controls (whitespace ones become spaces below), lone surrogates (oEmbed JSON can hold
# them) and the bidi controls that reorder the text around them (RLO, LRI, RLM, ALM, ...).
_UNWANTED_CHARS = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_WHITESPACE = re.compile(r"\s+")
_TRAILING_PUNCTUATION = " ,;:"


def _clean_text(value: object, limit: int) -> str | None:
    """One line of plain text at most `limit` characters long; None when nothing is left."""
    if not isinstance(value, str):
        return None
    # Once more after html.parser: many sites encode their og: values twice ("&amp;amp;"), and
    # oEmbed providers send entities in JSON strings too. The cost: a title that is about
    # entities ("What &amp;amp; means") loses one level.
    text = html_entities.unescape(value)
    text = _WHITESPACE.sub(" ", _UNWANTED_CHARS.sub("", text)).strip()
    return _shortened(text, limit) or None


def _shortened(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    # At the last space that leaves room for the ellipsis, unless that throws away half of the
    # text (a single long word, or a script written without spaces): then mid-word.
    space = text.rfind(" ", 0, limit)
    cut = text[:space] if space >= limit // 2 else text[: limit - 1]
    return cut.rstrip(_TRAILING_PUNCTUATION) + "…"


# BCP 47 in its general shape ("en", "en-US", "zh-Hant-TW", "sr-Latn"): enough to keep out
# template leftovers ("{{ lang }}") and prose.
_LANGUAGE_TAG = re.compile(r"[a-zA-Z]{1,8}(?:-[a-zA-Z0-9]{1,8})*")


def _language(
    html_lang: str | None, locales: Iterable[str | None], content_languages: Iterable[str | None]
) -> str | None:
    # og:locale is written with "_" (en_US); Content-Language may list several ("en, fr").
    firsts = (value and value.split(",")[0] for value in content_languages)
    for value in (html_lang, *locales, *firsts):
        tag = (value or "").strip().replace("_", "-")
        if len(tag) <= 64 and _LANGUAGE_TAG.fullmatch(tag):
            return tag
    return None


def _datetime(value: str | None) -> datetime | None:
    """An ISO 8601 date or date-time as an aware UTC datetime; no offset is read as UTC."""
    if not value or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 with a positive offset
        return None


# --- URLs ----------------------------------------------------------------------------------------

# The URL parser of browsers drops tabs and newlines anywhere, and controls and spaces at the ends.
_URL_NOISE = re.compile("[\t\n\r]")
_URL_STRIPPED = "".join(chr(code) for code in range(0x21))
_PLAIN_URL = re.compile("[!-~]+")  # printable ASCII, no space
# "0;URL=https://example.com/", "5; url='/next'", "0,https://example.com/": the delay, a
# separator, "URL=" if present, then the target (HTML's "shared declarative refresh steps").
_REFRESH = re.compile(r"\s*(?:\d+|\.)[\d.]*(?:[\s;,]+(?:url\s*=\s*)?(?P<url>.*))?", re.I | re.S)


def _base(base_url: str, base_href: str | None) -> str | None:
    """What relative URLs resolve against: the page's <base href> if usable, else its URL."""
    page = _web_url(base_url, None)
    if page is None:
        return None
    return _web_url(base_href, page) or page


def _web_url(value: object, base: str | None) -> str | None:
    """`value` as an absolute http(s) URL (resolved against `base`), or None.

    Kept as the page wrote it when that is plain ASCII: re-encoding it (as yarl would, turning
    "%2C" into ",") can break URLs signed over their exact text, as image CDNs do.
    """
    if not isinstance(value, str):
        return None
    text = _URL_NOISE.sub("", value).strip(_URL_STRIPPED)
    if not text or len(text) > MAX_URL_LENGTH:
        return None
    try:
        text = urljoin(base, text) if base is not None else text
        url = URL(text)
    except (ValueError, TypeError, IndexError):  # malformed; IndexError: see links._parse
        return None
    if url.scheme not in ("http", "https") or not url.raw_host:
        return None  # javascript:, data:, or a relative URL with nothing to resolve it against
    # Spaces, controls, non-ASCII (bidi characters too): yarl's encoded form is safe to show.
    result = text if _PLAIN_URL.fullmatch(text) else str(url)
    return result if len(result) <= MAX_URL_LENGTH else None


def _refresh_target(content: str | None) -> str | None:
    match = _REFRESH.match(content or "")
    if match is None or not match["url"]:
        return None  # not a refresh, or one that reloads the same page
    target = match["url"].strip()
    if target[:1] in ("'", '"'):
        target = target[1:].split(target[0], 1)[0]
    return target


# --- oEmbed --------------------------------------------------------------------------------------


def apply_oembed(meta: PageMeta, oembed: Mapping[str, Any]) -> PageMeta:
    """`meta` with what the page's oEmbed response says: oEmbed wins where it says something.

    Values of the wrong type (a number for a title) are ignored, as is a response that is not an
    object at all.
    """
    if not isinstance(oembed, Mapping):
        return meta
    return replace(
        meta,
        title=_clean_text(oembed.get("title"), _TITLE_LENGTH) or meta.title,
        author=_clean_text(oembed.get("author_name"), _TEXT_LENGTH) or meta.author,
        site_name=_clean_text(oembed.get("provider_name"), _TEXT_LENGTH) or meta.site_name,
        # The spec wants absolute URLs here; a relative one has nothing to be resolved against.
        image_url=_web_url(oembed.get("thumbnail_url"), None) or meta.image_url,
    )


# --- Canonical URLs ------------------------------------------------------------------------------

# Prefixes that name the same site: "www.", and the mobile and AMP editions many sites serve.
_SAME_SITE_PREFIXES = ("www", "m", "amp")


def same_site(a: str, b: str) -> bool:
    """Whether `b`, a canonical URL claimed by the page at `a`, may be believed.

    Any page can claim any canonical URL, so only one on the same site is trusted: the same host
    once a leading "www.", "m." or "amp." label is set aside (never the last two labels, so
    "www.com" stays itself), the same port, and the same scheme or an upgrade from http to
    https. Other subdomains do not count as the same site: without the public suffix list,
    "alice.github.io" and "bob.github.io" cannot be told from "blog.example.com" and
    "www.example.com".
    """
    page, canonical = _web_url(a, None), _web_url(b, None)
    if page is None or canonical is None:
        return False
    page_url, canonical_url = URL(page), URL(canonical)
    upgrade = page_url.scheme == "http" and canonical_url.scheme == "https"
    return (
        (page_url.scheme == canonical_url.scheme or upgrade)
        and _site_host(page_url) == _site_host(canonical_url)
        and _non_default_port(page_url) == _non_default_port(canonical_url)
    )


def _site_host(url: URL) -> str:
    labels = (url.raw_host or "").rstrip(".").split(".")
    if len(labels) > 2 and labels[0] in _SAME_SITE_PREFIXES:
        labels = labels[1:]
    return ".".join(labels)


def _non_default_port(url: URL) -> int | None:
    port = url.explicit_port
    return None if port == {"http": 80, "https": 443}[url.scheme] else port
