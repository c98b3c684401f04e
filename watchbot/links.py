"""Links and hashtags in messages, and the key that tells whether two links are the same page.

Everything here is pure: no network, no store. The dedupe key (`canonical_key`) is conservative on
purpose: filing the same article twice is a small nuisance, merging two different pages loses one
of them. So only differences that never change the page are removed (host case, default port,
tracking parameters, in-page anchors); anything that might matter (path case, trailing slash,
query order, http vs https, "www.") is kept.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from linkify_it import LinkifyIt
from yarl import URL

from watchbot.hosts import shown_in_punycode
from watchbot.markup import END, START, Tag, tokens

__all__ = [
    "MAX_TAGS_PER_SHARE",
    "MAX_TAG_LENGTH",
    "MAX_URL_LENGTH",
    "InvalidURL",
    "canonical_key",
    "extract_hashtags",
    "extract_hrefs",
    "extract_links",
    "extract_urls",
    "keyed_links",
    "normalise_tag",
    "normalise_tags",
    "prose",
    "published_url",
]

MAX_URL_LENGTH = 2048
MAX_TAG_LENGTH = 50  # a longer word is not a tag (a pasted sentence, a hash)
MAX_TAGS_PER_SHARE = 10  # kept per share, in the order given: more is noise on every page that lists them


class InvalidURL(ValueError):
    """A link that cannot be filed; the message is one clear sentence for a user."""


# --- Tracking parameters -------------------------------------------------------------------------
# Names are compared case-insensitively (mail tools write UTM_SOURCE); a name ending in "*" is a
# prefix. Only names that never select content belong here: generic names such as `ref`, `source`
# or `s` carry meaning on many sites (GitHub `?ref=branch`), so they are dropped per host below.

TRACKING_PARAMS: frozenset[str] = frozenset({
    "utm_*",
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid",
    "mc_eid", "mc_cid", "_hsenc", "_hsmi", "igshid", "li_fat_id", "mkt_tok",
    "oly_anon_id", "oly_enc_id", "vero_id", "_gl", "ref_src", "ref_url",
})


class HostParams(NamedTuple):
    """Parameter names that apply on some hosts only (the host itself or any subdomain)."""

    domains: tuple[str, ...]
    names: frozenset[str]
    # When set, only on paths matching it: the same name may mean something elsewhere on the site.
    path: re.Pattern[str] | None = None


# Share-button tracking that only these sites add, and where the name selects nothing.
HOST_TRACKING_PARAMS: tuple[HostParams, ...] = (
    HostParams(("youtube.com", "youtu.be"), frozenset({"si", "feature"})),
    HostParams(("open.spotify.com",), frozenset({"si"})),
    HostParams(("instagram.com",), frozenset({"igsh"})),
    # `s` and `t` are share-sheet noise on a status link; on other pages (search) they may not be.
    HostParams(
        ("twitter.com", "x.com"), frozenset({"s", "t"}), re.compile(r"(?:/[^/]+)*/status/\d+")
    ),
)

# Sites whose pages are *about* these parameters (campaign URL builders): there the parameters are
# the content, so they are kept.
TRACKING_KEPT_ON: tuple[HostParams, ...] = (
    HostParams(
        ("ga-dev-tools.google", "ga-dev-tools.web.app", "ga-dev-tools.appspot.com"),
        frozenset({"utm_*"}),
    ),
)

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
# What a host may be once yarl has IDNA-encoded and lowercased it (IPv6 literals are checked apart).
# "_" is allowed: it is not valid in host names, but real DNS names carry it.
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
# Controls, format characters (zero-width, bidi), lone surrogates (bytes that were not text)
# and separators (spaces, line breaks).
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})


# --- The canonical key ---------------------------------------------------------------------------


def canonical_key(url: str) -> str:
    """The dedupe key of a link: equal keys mean the same page. Raises InvalidURL."""
    url = url.strip()  # pasted links often carry surrounding blanks; they are not part of the link
    _check_scheme(url)
    _check_characters(url)
    parsed = _parse(url)
    host = _canonical_host(parsed)
    path = parsed.raw_path
    query = _without_tracking(parsed.raw_query_string, host, path)
    fragment = _kept_fragment(parsed.raw_fragment)
    if path == "/" and not query and fragment is None:
        path = ""  # "https://ex.com/" and "https://ex.com" are the same request
    key = f"{parsed.scheme}://{_userinfo(parsed)}{host}{_port(parsed)}{path}"
    if query:
        key += f"?{query}"
    if fragment is not None:
        key += f"#{fragment}"
    # Percent-encoding can make the key longer than the link, and a key must itself be fileable.
    if len(key) > MAX_URL_LENGTH:
        raise InvalidURL(f"this link is longer than {MAX_URL_LENGTH} characters once encoded")
    return key


def published_url(url: str) -> str:
    """The link as it is published: the URL as posted, less what the dedupe key drops because it
    never changes the page (tracking parameters, in-page anchors), by the key's own rules, and
    with a host that could pass for another in punycode (watchbot/hosts.py), as browsers show it.
    Everything else (host and path as spelled, meaningful parameters and their order) stays as
    the sharer wrote it. Raises InvalidURL, as `canonical_key` does, for what cannot be filed."""
    url = url.strip()
    _check_scheme(url)
    _check_characters(url)
    parsed = _parse(url)
    # The query starts at the first "?" and the fragment at the first "#" (RFC 3986), so the
    # posted text is cut there rather than rebuilt: a rebuilt URL would be re-encoded.
    before_fragment = url.split("#", 1)[0]
    address, has_query, _ = before_fragment.partition("?")
    host = _canonical_host(parsed)
    if not address.isascii() and shown_in_punycode(parsed.host or ""):
        address = _with_host(address, host)
    query = _without_tracking(parsed.raw_query_string, host, parsed.raw_path) if has_query else ""
    fragment = _kept_fragment(parsed.raw_fragment)
    return address + (f"?{query}" if query else "") + (f"#{fragment}" if fragment is not None else "")


def _with_host(address: str, host: str) -> str:
    """`scheme://[userinfo@]host[:port][/path]` with another host (no query or fragment here)."""
    scheme, separator, rest = address.partition("://")
    if not separator:
        return address
    authority, slash, path = rest.partition("/")
    userinfo, at, host_and_port = authority.rpartition("@")
    port = host_and_port.partition(":")[2]
    return f"{scheme}://{userinfo}{at}{host}{':' + port if port else ''}{slash}{path}"


def _check_scheme(url: str) -> None:
    match = _SCHEME.match(url)
    if match is None or match[1].lower() not in _DEFAULT_PORTS:
        raise InvalidURL("only http and https links are filed")


def _check_characters(url: str) -> None:
    # Length first, so that a huge paste is not scanned character by character.
    if len(url) > MAX_URL_LENGTH:
        raise InvalidURL(f"this link is longer than {MAX_URL_LENGTH} characters")
    # Spaces would be silently encoded by the parser, and invisible format characters (zero-width,
    # bidi overrides) make a link look like another one. Of those, ASCII has only the space and
    # the control characters: most links are ASCII, and checked without a look-up per character.
    if url.isascii():
        invisible = " " in url or not url.isprintable()
    else:
        invisible = any(unicodedata.category(char) in _INVISIBLE for char in url)
    if invisible:
        raise InvalidURL("this link contains spaces or invisible characters")


def _parse(url: str) -> URL:
    # ValueError covers yarl's refusals and IDNA's UnicodeError; some malformed authorities crash
    # its splitter instead (IndexError on "http://[]@", yarl 1.25).
    try:
        return URL(url)
    except (ValueError, IndexError):
        raise InvalidURL("this link could not be read as a web address") from None


def _canonical_host(parsed: URL) -> str:
    host = parsed.raw_host  # lowercased, IDNA-encoded by yarl
    if not host:
        raise InvalidURL("this link has no host name")
    if ":" in host:  # IPv6 literal, already validated by yarl
        return f"[{host}]"
    if host.endswith("."):
        host = host[:-1]  # "example.com." is the fully qualified spelling of "example.com"
    if not _HOST_NAME.fullmatch(host) or not _punycode_decodes(host):
        raise InvalidURL("this link's host name is not valid")
    return host


def _punycode_decodes(host: str) -> bool:
    # yarl does not check "xn--" labels it is given; one that does not decode names no server.
    if "xn--" not in host:
        return True
    try:
        host.encode("ascii").decode("idna")
    except UnicodeError:
        return False
    return True


def _userinfo(parsed: URL) -> str:
    # Kept: a user part can select a different resource (and dropping it is not ours to decide).
    if parsed.raw_user is None:
        return ""
    if parsed.raw_password is None:
        return f"{parsed.raw_user}@"
    return f"{parsed.raw_user}:{parsed.raw_password}@"


def _port(parsed: URL) -> str:
    port = parsed.explicit_port
    if port is None or port == _DEFAULT_PORTS[parsed.scheme]:
        return ""
    return f":{port}"


def _without_tracking(raw_query: str, host: str, path: str) -> str:
    """The query with tracking parameters removed; order and values untouched."""
    # Split on "&" only: ";" separators are rare and splitting on them could drop meaningful text.
    # Empty pairs ("a=1&&b=2") are dropped: every query parser ignores them.
    pairs = (pair for pair in raw_query.split("&") if pair)
    return "&".join(pair for pair in pairs if not _is_tracking(pair.split("=", 1)[0], host, path))


def _is_tracking(name: str, host: str, path: str) -> bool:
    name = name.lower()
    if _name_matches(name, TRACKING_PARAMS):
        return not any(_rule_applies(rule, name, host, path) for rule in TRACKING_KEPT_ON)
    return any(_rule_applies(rule, name, host, path) for rule in HOST_TRACKING_PARAMS)


def _rule_applies(rule: HostParams, name: str, host: str, path: str) -> bool:
    return (
        _on_domain(host, rule.domains)
        and _name_matches(name, rule.names)
        and (rule.path is None or rule.path.match(path) is not None)
    )


def _name_matches(name: str, names: frozenset[str]) -> bool:
    return name in names or any(n.endswith("*") and name.startswith(n[:-1]) for n in names)


def _on_domain(host: str, domains: Iterable[str]) -> bool:
    return any(host == domain or host.endswith(f".{domain}") for domain in domains)


def _kept_fragment(fragment: str) -> str | None:
    # A fragment is an anchor inside the page, except for single-page apps that route on it
    # ("#/settings", "#!/route"): there it selects the page.
    if fragment.startswith(("/", "!")):
        return fragment
    return None


# --- Links in plain text -------------------------------------------------------------------------

# Email addresses are not links to file; of the fuzzy (scheme-less) links, only "www." ones are
# (filtered in `_url_spans`), so the fuzzy search, half of linkify's time on a short message, runs
# only on a text that has a "www.". Without it, a fuzzy match could only hide a link, never add one.
_LINKIFY = LinkifyIt(options={"fuzzy_email": False, "fuzzy_link": False})
_LINKIFY_WWW = LinkifyIt(options={"fuzzy_email": False})
_WWW = re.compile(r"www\.", re.IGNORECASE)


def extract_urls(text: str) -> list[str]:
    """http(s) and "www." links of plain text, in order, without exact duplicates."""
    return _unique(url for _, _, url in _url_spans(text))


# Every link we file has one of these, and most chat messages have none: skip linkify for them.
_LINK_MARKERS = re.compile(r"https?:|www\.", re.IGNORECASE)


@functools.lru_cache(maxsize=32)
def _url_spans(text: str) -> tuple[tuple[int, int, str], ...]:
    """(start, end, url) of the links of `text` worth filing.

    Cached: reading one message asks for its links, then again to blank them out before looking
    for hashtags, and linkify is the costly part of reading a message.
    """
    if not _LINK_MARKERS.search(text):
        return ()
    return tuple(
        (match.index, match.last_index, match.url)
        for match in (_LINKIFY_WWW if _WWW.search(text) else _LINKIFY).match(text) or ()
        if _is_explicit_link(match.schema, match.raw)
    )


def _is_explicit_link(schema: str, raw: str) -> bool:
    # Bare domains are left out: "config.py" or "notes.md" are file names far more often than
    # links (.py and .md are top-level domains). "www." says "this is a link" clearly enough.
    if schema:
        return schema.lower() in ("http:", "https:")
    return raw[:4].lower() == "www."


# --- Links in HTML -------------------------------------------------------------------------------

_WEB_LINK = re.compile(r"https?://", re.IGNORECASE)
# A pill is how Matrix clients show a mention of a user; "@" may come percent-encoded.
_MATRIX_USER_PILL = re.compile(r"https://matrix\.to/#/(?:@|%40)", re.IGNORECASE)
_SKIPPED_CLASSES = frozenset({"mention", "hashtag"})


def extract_hrefs(html: str) -> list[str]:
    """http(s) targets of the <a> elements of `html`, in order, without mentions and hashtags."""
    hrefs: list[str] = []
    fallbacks: list[str] = []  # open elements whose content quotes another message
    for kind, token in tokens(html):
        if kind == START:
            if is_quote_fallback(token):
                fallbacks.append(token.tag)
            elif token.tag == "a" and not fallbacks:
                href = _fileable_href(token)
                if href is not None:
                    hrefs.append(href)
        elif kind == END and fallbacks and fallbacks[-1] == token.tag:
            fallbacks.pop()
    return _unique(hrefs)


def is_quote_fallback(tag: Tag) -> bool:
    """Elements that quote another message for clients that cannot show it, and that clients
    hide: their links belong to that message, not to this one. <mx-reply> is Matrix's reply
    fallback; class "quote-inline" is Mastodon's "RE: <link>" fallback for quote posts."""
    return tag.tag == "mx-reply" or "quote-inline" in (tag.attr("class") or "").split()


def _fileable_href(a: Tag) -> str | None:
    href = (a.attr("href") or "").strip()  # entities are already decoded by the tokenizer
    if not _WEB_LINK.match(href) or _MATRIX_USER_PILL.match(href):
        return None
    # Mastodon and its kin mark mentions and hashtags; they point to profiles and tag pages.
    classes, rel = set((a.attr("class") or "").split()), (a.attr("rel") or "").split()
    if classes & _SKIPPED_CLASSES or "tag" in rel:
        return None
    return href


# --- Every link of a message ---------------------------------------------------------------------

# The Matrix reply fallback of a plain body: quoted lines "> <@user:server> ..." then a blank line.
_MATRIX_REPLY_FALLBACK = re.compile(r"\A> (?:\* )?<@[^\s>]+:[^\s>]+>[^\n]*(?:\n>[^\n]*)*\n\n")


def extract_links(text: str, html: str | None) -> list[str]:
    """The links of a message, as posted, one per page (by canonical key)."""
    return [link for link, _ in keyed_links(text, html)]


def keyed_links(text: str, html: str | None) -> list[tuple[str, str]]:
    """(link as posted, its canonical key) for each page a message links to, in order; links
    that cannot be filed are left out (callers that report them call canonical_key themselves)."""
    # The hrefs come first: an <a>'s visible text is often shortened, its href never is.
    candidates = extract_hrefs(html) if html else []
    text_urls = extract_urls(_without_reply_fallback(text))
    candidates += [url for url in text_urls if not _truncated(url)]
    links: dict[str, str] = {}  # key -> link, the first of each page
    for link in candidates:
        try:
            links.setdefault(canonical_key(link), link)
        except InvalidURL:
            continue
    return [(link, key) for key, link in links.items()]


def _without_reply_fallback(text: str) -> str:
    return _MATRIX_REPLY_FALLBACK.sub("", text, count=1)


def _truncated(url: str) -> bool:
    # "https://example.com/very/lo…" is the display form of a longer link: filing it files a 404.
    return url.endswith("\u2026")


# --- Hashtags ------------------------------------------------------------------------------------

# A "#" right after these is not a hashtag: "C#", "&#39;", "page/#anchor", "(x)#y", "?a=#b".
_NOT_BEFORE_HASHTAG = frozenset("/&)=")
# Joins words inside a hashtag name ("#l·l"), never at its ends.
_TAG_JOINERS = "·"


def extract_hashtags(text: str) -> list[str]:
    """Hashtag names (without "#") as written, in order, without exact duplicates."""
    text = prose(text)
    names: list[str] = []
    for match in re.finditer("#", text):
        start = match.start()
        if start and (_is_word_char(text[start - 1]) or text[start - 1] in _NOT_BEFORE_HASHTAG):
            continue
        name = _tag_name_at(text, start + 1)
        # A letter is required: "#1" is an issue number, "#_" nothing.
        if any(char.isalpha() for char in name):
            names.append(name)
    return _unique(names)


def prose(text: str) -> str:
    """What a message says in its own words: without the quote of the message it answers
    (Matrix's reply fallback), and with its links blanked (their anchors are not hashtags)."""
    return _blank_urls(_without_reply_fallback(text))


def _blank_urls(text: str) -> str:
    # "https://x.org/page#section" holds an anchor, not a hashtag. Spans, not string replacement:
    # linkify turns "www.x.org" into "http://www.x.org", which is not in the text.
    for start, end, _ in reversed(_url_spans(text)):
        text = f"{text[:start]} {text[end:]}"
    return text


def _tag_name_at(text: str, start: int) -> str:
    end = start
    while end < len(text) and (
        _is_word_char(text[end]) or (end > start and text[end] in _TAG_JOINERS)
    ):
        end += 1
    return text[start:end].rstrip(_TAG_JOINERS)


def _is_word_char(char: str) -> bool:
    # Python's \w (letters, digits, "_") plus combining marks, without which Hindi or Thai words
    # ("हिन्दी", "สวัสดี") would be cut after their first letter.
    return char.isalnum() or char == "_" or unicodedata.category(char)[0] == "M"


# --- Tags ----------------------------------------------------------------------------------------


def normalise_tag(raw: str, aliases: Mapping[str, str] | None = None) -> str | None:
    """The stored form of a tag ("#Rust" -> "rust"), after aliases; None if not a valid tag."""
    return _aliased(_folded_tag(raw), _normalised_aliases(aliases))


def normalise_tags(
    raws: Iterable[str], aliases: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """Normalised tags, invalid ones dropped, duplicates dropped, order kept."""
    table = _normalised_aliases(aliases)  # once, not once per tag
    tags = (_aliased(_folded_tag(raw), table) for raw in raws)
    return tuple(_unique(tag for tag in tags if tag is not None))


def _folded_tag(raw: str) -> str | None:
    # NFKC first so that a full-width "＃ＲＵＳＴ" becomes "#RUST"; NFKC again after casefold,
    # which can un-normalise ("İ" folds to "i" + combining dot), so the result is stable.
    tag = unicodedata.normalize("NFKC", raw).strip().lstrip("#")
    tag = unicodedata.normalize("NFKC", tag.casefold()).strip()
    if not tag or len(tag) > MAX_TAG_LENGTH or not _typable(tag):
        return None
    return tag


def _typable(tag: str) -> bool:
    # Only what a hashtag can hold (plus "-", common in tags given by hand), so a tag can be typed
    # back; "·" only inside, as in hashtags; at least one letter or digit ("-" names nothing).
    allowed = all(_is_word_char(char) or char == "-" or char in _TAG_JOINERS for char in tag)
    return (
        allowed
        and any(char.isalnum() for char in tag)
        and tag[0] not in _TAG_JOINERS
        and tag[-1] not in _TAG_JOINERS
    )


def _normalised_aliases(aliases: Mapping[str, str] | None) -> dict[str, str]:
    # Entries whose key or value is not a valid tag are ignored rather than making tags vanish.
    table: dict[str, str] = {}
    for raw_key, raw_value in (aliases or {}).items():
        key, value = _folded_tag(raw_key), _folded_tag(raw_value)
        if key is not None and value is not None:
            table[key] = value
    return table


def _aliased(tag: str | None, table: Mapping[str, str]) -> str | None:
    # One step only: chains ("a" -> "b" -> "c") and loops are the alias table's business.
    return None if tag is None else table.get(tag, tag)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
