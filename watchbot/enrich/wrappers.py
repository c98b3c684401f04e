"""The real target of a redirect wrapper, read from the wrapper's own URL: no fetching.

Search results, social networks and chat tools wrap the links people copy from them
(https://www.google.com/url?q=..., https://l.facebook.com/l.php?u=..., AMP caches). The target is
spelled out in the wrapper URL, so `unwrap` reads it from there: filing the wrapper would file a
redirect (and its tracking) instead of the page.

Shorteners such as t.co, bit.ly or lnkd.in are deliberately not here: their URL does not say where
they lead. They are resolved by fetching them, through their HTTP redirect or, as t.co does for
browsers, the <meta http-equiv="refresh"> of the page they serve (`metadata.PageMeta.refresh_url`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote

from yarl import URL

from watchbot.links import InvalidURL, canonical_key

__all__ = ["MAX_NESTING", "unwrap"]

# Wrappers do get nested (a Google result for a Facebook-shared link); a few layers is plenty and
# the limit ends a wrapper that points at itself.
MAX_NESTING = 5

_GOOGLE_HOST = re.compile(r"(?:www\.)?google\.(?:com?\.)?[a-z]{2,3}")  # google.com, google.co.uk
_AMP_CACHE_SUFFIX = ".cdn.ampproject.org"
_AMP_CACHE_PATH = re.compile(r"/[cv]/")  # /c/ serves the page, /v/ the viewer around it
# Parameters the AMP viewer and caches add to the page's own query.
_AMP_VIEWER_PARAMS = frozenset({"amp_js_v", "usqp"})


def unwrap(url: str) -> str | None:
    """The http(s) target of a known wrapper URL, wrappers inside it unwrapped too.

    None when `url` is not a wrapper we know, or when the target it names (at any layer) is not
    an http or https URL: a wrapper around javascript: is not a link to file.
    """
    current, unwrapped = url.strip(), False
    for _ in range(MAX_NESTING):
        parsed = _parse(current)
        target_of = _rule_for(parsed) if parsed is not None else None
        if target_of is None:
            break
        target = _web_target(target_of(parsed))
        if target is None:
            return None
        current, unwrapped = target, True
    return current if unwrapped else None


_Rule = Callable[[URL], str | None]


def _rule_for(url: URL) -> _Rule | None:
    """How to read the target of `url`, if it is a wrapper we know."""
    if url.scheme not in ("http", "https"):
        return None
    host, path = (url.raw_host or "").rstrip("."), url.raw_path
    if _GOOGLE_HOST.fullmatch(host):
        if path == "/url":
            # Search results put the target in `url` (`q` blank); Docs, Gmail, Calendar in `q`.
            return _query_param("url", "q")
        if path.startswith("/amp/"):
            return lambda wrapper: _amp_target(wrapper, wrapper.raw_path[len("/amp"):])
    if host.endswith(_AMP_CACHE_SUFFIX) and _AMP_CACHE_PATH.match(path):
        return lambda wrapper: _amp_target(wrapper, wrapper.raw_path[2:])  # after /c or /v
    if host in ("l.facebook.com", "lm.facebook.com") and path == "/l.php":
        return _query_param("u")
    if host in ("www.youtube.com", "youtube.com", "m.youtube.com") and path == "/redirect":
        return _query_param("q")
    if host == "slack-redir.net" and path == "/link":
        return _query_param("url")
    if host == "href.li" and path in ("", "/"):
        return _href_li_target
    return None


def _query_param(*names: str) -> _Rule:
    """The first of these query parameters that is not blank."""
    return lambda wrapper: next(filter(None, map(wrapper.query.get, names)), None)


def _amp_target(wrapper: URL, rest: str) -> str | None:
    """The page behind an AMP viewer or cache path: "/s/example.com/path" is https, and
    "/example.com/path" http. The viewer's own parameters and fragment are left behind."""
    scheme, rest = ("https", rest[len("/s/"):]) if rest.startswith("/s/") else ("http", rest[1:])
    if not rest:
        return None
    target = f"{scheme}://{rest}"
    query = "&".join(
        pair for pair in wrapper.raw_query_string.split("&")
        if pair and pair.split("=", 1)[0] not in _AMP_VIEWER_PARAMS
    )
    return f"{target}?{query}" if query else target


def _href_li_target(wrapper: URL) -> str | None:
    # The whole query is the target, unencoded ("https://href.li/?https://example.com/?a=1"), so
    # its own fragment is the target's too. Some writers percent-encode it.
    target = wrapper.raw_query_string
    if target.lower().startswith(("http%3a", "https%3a")):
        target = unquote(target)
    if wrapper.raw_fragment:
        target += f"#{wrapper.raw_fragment}"
    return target


def _web_target(target: str | None) -> str | None:
    """`target` if it is a link that could be filed: http(s), a valid host, no spaces or
    invisible characters (the checks of `canonical_key`)."""
    if not target:
        return None
    # A space is what decoding the wrapper's query made of "+" or "%20"; a browser sends "%20".
    target = target.strip().replace(" ", "%20")
    try:
        canonical_key(target)
    except InvalidURL:
        return None
    return target


def _parse(url: str) -> URL | None:
    try:
        return URL(url)
    except (ValueError, TypeError, IndexError):  # IndexError: see links._parse
        return None
