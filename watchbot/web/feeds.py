"""Atom feeds of the watch: everything (`/feeds/links.atom`) and per tag (`/feeds/tags/{tag}.atom`).

Written by the export's own Atom writer (formats/atom.py) from the published view, the links most
recently shared first, at most FEED_ENTRIES of them. Feed readers poll, so every answer carries an
ETag (a hash of the feed itself: a retag or a removal changes it, though no share is newer) and
Last-Modified (the newest share in it); If-None-Match, else If-Modified-Since, gets a 304.
"""

from __future__ import annotations

import hashlib
import io
from datetime import datetime
from urllib.parse import quote

from aiohttp import web

from watchbot.formats.atom import FeedPages, feed_updated, write_published_atom
from watchbot.links import normalise_tag
from watchbot.model import PUBLIC
from watchbot.published import PublishedLink
from watchbot.store.published import PublishedReader
from watchbot.web.site import SITE

FEED_ENTRIES = 50
ATOM_TYPE = "application/atom+xml"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/feeds/links.atom", everything)
    app.router.add_get("/feeds/tags/{tag}.atom", one_tag)


async def everything(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE]
    links = await PublishedReader(site.pages, PUBLIC).recent(limit=FEED_ENTRIES)
    return _feed(request, links, title="watchbot: the latest links", self_path="/feeds/links.atom", page_path="/")


async def one_tag(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE]
    tag = normalise_tag(request.match_info["tag"], site.options.tag_aliases)
    if tag is None:
        return web.Response(status=404, text="There is no such tag (letters, digits, - and _).\n")
    # An unused tag is an empty feed, not a 404: a reader may subscribe before the first link.
    links = await PublishedReader(site.pages, PUBLIC).recent(limit=FEED_ENTRIES, tag=tag)
    quoted = quote(tag, safe="")
    return _feed(request, links, title=f"watchbot: #{tag}", self_path=f"/feeds/tags/{quoted}.atom",
                 page_path=f"/tags/{quoted}")


def _feed(request: web.Request, links: list[PublishedLink], *, title: str, self_path: str,
          page_path: str) -> web.StreamResponse:
    site = request.app[SITE]
    now = site.clock()
    out = io.StringIO()
    pages = FeedPages(page_url=site.url(page_path), link_page=lambda link: site.url(f"/links/{link.id}"))
    write_published_atom(links, out, title=title, feed_url=site.url(self_path), now=now, pages=pages)
    body = out.getvalue().encode("utf-8")
    etag = hashlib.sha256(body).hexdigest()[:32]
    modified = feed_updated(links, now).replace(microsecond=0)
    response = (web.Response(status=304) if _unchanged(request, etag, modified)
                else web.Response(body=body, content_type=ATOM_TYPE, charset="utf-8"))
    response.etag = etag
    response.last_modified = modified
    return response


def _unchanged(request: web.Request, etag: str, modified: datetime) -> bool:
    """Does the reader hold this very feed? If-None-Match decides when sent (RFC 9110, 13.2.2)."""
    if request.if_none_match is not None:
        return any(tag.value in (etag, "*") for tag in request.if_none_match)
    since = request.if_modified_since
    return since is not None and modified <= since
