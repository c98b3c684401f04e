"""One link looked at: fetch its page through the guarded client, read what it says of itself.

The order of sources (oEmbed where the page advertises it, then OpenGraph, Twitter cards, then
<title> and the meta description) is metadata.parse_page's and apply_oembed's business; here are
the steps around it: wrappers unwrapped without a fetch, the page's head read, a meta-refresh
interstitial (t.co) followed like a redirect, the oEmbed document fetched with the same guard.
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import urlsplit

from watchbot.enrich.metadata import PageMeta, apply_oembed, decode_html, parse_page, same_site
from watchbot.enrich.wrappers import unwrap
from watchbot.fetch import FetchError, Fetched, GuardedClient
from watchbot.model import Page, PageState, utcnow

log = logging.getLogger(__name__)

PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})
OEMBED_TYPES = frozenset({"application/json", "application/json+oembed", "text/javascript"})
HEAD_BYTES = 512 * 1024  # the head of a page is all we read; larger pages are cut, not refused
OEMBED_BYTES = 64 * 1024
MAX_REFRESHES = 2  # meta-refresh interstitials followed, beyond the client's own redirects


async def look(client: GuardedClient, url: str) -> Page:
    """What the page at `url` says of itself. Raises FetchError (FetchRefused, FetchFailed)."""
    target = unwrap_all(url)
    fetched, meta = await _read_page(client, target)
    for _ in range(MAX_REFRESHES):
        if not meta.refresh_url or meta.refresh_url == fetched.final_url:
            break
        fetched, meta = await _read_page(client, meta.refresh_url)
    if meta.oembed_url:
        meta = await _with_oembed(client, meta)
    canonical = meta.canonical_url if _believable(fetched.final_url, meta.canonical_url) else None
    return Page(
        state=PageState.OK, final_url=fetched.final_url, canonical_url=canonical, title=meta.title,
        description=meta.description, site_name=meta.site_name, language=meta.language,
        image_url=meta.image_url, author=meta.author, published_at=meta.published, fetched_at=utcnow(),
    )


def _believable(page_url: str, canonical: str | None) -> bool:
    """A canonical URL is believed on the same site only, and never when it is the site's home
    page for a page that is not (a common misconfiguration that would merge a whole site)."""
    if not canonical or not same_site(page_url, canonical):
        return False
    return urlsplit(canonical).path not in ("", "/") or urlsplit(page_url).path in ("", "/")


def unwrap_all(url: str) -> str:
    """A wrapper's target (Google /url?q=, AMP, l.facebook.com ...), without fetching the wrapper."""
    target = unwrap(url)
    return target if target is not None else url


async def _read_page(client: GuardedClient, url: str) -> tuple[Fetched, PageMeta]:
    fetched = await client.fetch(unwrap_all(url), accept=PAGE_TYPES, max_bytes=HEAD_BYTES, truncate=True)
    # Parsing a hostile page can take a quarter of a second: not on the event loop.
    meta = await asyncio.to_thread(_parse, fetched.body, fetched.charset, fetched.final_url)
    return fetched, meta


def _parse(body: bytes, charset: str | None, url: str) -> PageMeta:
    return parse_page(decode_html(body, charset), url)


async def _with_oembed(client: GuardedClient, meta: PageMeta) -> PageMeta:
    """oEmbed is a bonus: the page's own metadata stands if the document cannot be had."""
    try:
        fetched = await client.fetch(meta.oembed_url, accept=OEMBED_TYPES, max_bytes=OEMBED_BYTES)
        document = json.loads(fetched.body)
    except (FetchError, ValueError) as error:
        log.info("oEmbed %s: %s", meta.oembed_url, error)
        return meta
    return apply_oembed(meta, document) if isinstance(document, dict) else meta
