"""The read-only JSON API: links (filtered, paged), one link, tags, search.

Every answer is computed from `PublishedReader(store, PUBLIC)`: the published view, never a private
share, nor anything of a person who used `forget me`. Strings go out as they were written
(JSON escapes them; whoever shows them must escape them too). A bad parameter gets 400 and one
line saying what is expected; guard.py answers 401 and the router's 404s in the same shape.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from urllib.parse import quote, urlencode

from aiohttp import web

from watchbot.links import normalise_tag
from watchbot.model import PUBLIC
from watchbot.published import LinkSummary, PublishedLink, as_utc
from watchbot.store.published import PublishedReader
from watchbot.web import parameters
from watchbot.web.guard import json_error
from watchbot.web.paging import page_number, page_of
from watchbot.web.parameters import BadParameter
from watchbot.web.site import SITE, TAG_COUNTS, Site

DEFAULT_LIMIT = 20
MAX_LIMIT = 100  # a larger limit is served as this many: one request never reads the whole store

_dumps = functools.partial(json.dumps, ensure_ascii=False)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/links", links)
    app.router.add_get("/api/links/{id}", one_link)
    app.router.add_get("/api/tags", tags)
    app.router.add_get("/api/search", search)


def _answer(body: dict) -> web.Response:
    return web.json_response(body, dumps=_dumps)


def iso(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def link_json(site: Site, link: PublishedLink) -> dict:
    """One link as the API gives it: its published view and the page that shows it."""
    return {
        **_listed(link),
        "last_shared_at": iso(link.last_shared_at),
        "shares": [{"by": share.sharer_name or share.sharer_id, "source": str(share.source),
                    "place": share.place, "at": iso(as_utc(share.shared_at))} for share in link.shares],
        "page": site.url(f"/links/{link.id}"),
    }


def summary_json(site: Site, link: LinkSummary) -> dict:
    """A search result as the API gives it: what a list shows (the search reads no more, so it
    stays one query at a million links); the link's own address gives the rest."""
    return {
        **_listed(link),
        "first_shared_by": link.first_sharer_name,
        "sharers": link.sharer_count,
        "page": site.url(f"/links/{link.id}"),
        "api": site.url(f"/api/links/{link.id}"),
    }


def _listed(link: PublishedLink | LinkSummary) -> dict:
    """What a link and a search result both say of a link."""
    return {"id": link.id, "url": link.url, "title": link.title, "description": link.description,
            "site_name": link.site_name, "tags": list(link.tags), "first_shared_at": iso(link.first_shared_at)}


def tag_page(site: Site, tag: str) -> str:
    return site.url(f"/tags/{quote(tag, safe='')}")


# -- parameters (read by parameters.py: bounded, ASCII digits only) -----------------------------


def limit_of(request: web.Request) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    return parameters.positive_int(raw, "limit", MAX_LIMIT, larger_is_maximum=True)


def moment_of(request: web.Request, name: str) -> datetime | None:
    """A date (2026-11-30, midnight UTC) or a date and time (2026-11-30T12:00:00Z); naive is UTC."""
    raw = request.query.get(name)
    if raw is None or not raw.strip():
        return None
    return parameters.moment(raw, name)


def tag_of(request: web.Request, raw: str | None) -> str | None:
    if raw is None:
        return None
    tag = normalise_tag(raw, request.app[SITE].options.tag_aliases)
    if tag is None:
        raise BadParameter("tag: not a tag (letters, digits, - and _, such as tag=rust).")
    return tag


def before_of(request: web.Request) -> int | None:
    raw = request.query.get("before")
    if raw is None:
        return None
    number = parameters.link_number(raw)
    if number is None:
        raise BadParameter("before: expected a link number, as given in “next”.")
    return number


def words_of(request: web.Request, *, required: bool) -> str | None:
    words = request.query.get("q", "").strip()
    if not words:
        if required:
            raise BadParameter("q: say what to search for, such as q=rust async.")
        return None
    return words


def _reading_parameters(handler):
    """A BadParameter raised while reading the query becomes a 400 with its one line."""
    @functools.wraps(handler)
    async def read(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except BadParameter as error:
            return json_error(400, str(error))
    return read


# -- routes --------------------------------------------------------------------------------------


@_reading_parameters
async def links(request: web.Request) -> web.Response:
    """`GET /api/links?tag=&since=&until=&q=&before=&limit=`: the newest links first; `next`
    is the URL of the following page (None on the last)."""
    site = request.app[SITE]
    limit = limit_of(request)
    filters = {"tag": tag_of(request, request.query.get("tag")), "since": moment_of(request, "since"),
               "until": moment_of(request, "until"), "words": words_of(request, required=False)}
    # One more than asked: whether a next page exists, without a count over the whole store.
    found = await PublishedReader(site.pages, PUBLIC).page(limit=limit + 1, before=before_of(request), **filters)
    shown = found[:limit]
    following = None
    if len(found) > limit:
        kept = {name: value for name, value in request.query.items() if name not in ("before", "limit")}
        following = site.url("/api/links?" + urlencode({**kept, "limit": limit, "before": shown[-1].id}))
    return _answer({"links": [link_json(site, link) for link in shown], "next": following})


@_reading_parameters
async def one_link(request: web.Request) -> web.Response:
    site = request.app[SITE]
    raw = request.match_info["id"]
    if not parameters.is_number(raw):
        raise BadParameter("A link's number is a whole number, such as /api/links/12.")
    number = parameters.link_number(raw)  # None: a number past every link's
    link = None if number is None else await PublishedReader(site.pages, PUBLIC).link(number)
    if link is None:
        return json_error(404, f"There is no link #{raw.lstrip('0') or '0'}.")
    return _answer(link_json(site, link))


@_reading_parameters
async def tags(request: web.Request) -> web.Response:
    """`GET /api/tags?page=`: each public tag and how many links carry it, the most used first,
    `tags_per_page` a page; `next` is the following page's URL (None on the last). The counts are
    at most TAG_COUNTS_SECONDS old."""
    site = request.app[SITE]
    number = page_number(request.query.get("page"))
    if number is None:
        raise BadParameter("page: expected a page number from 1, such as page=2.")
    counts, more = page_of(await request.app[TAG_COUNTS].get(), number, site.options.tags_per_page)
    following = site.url(f"/api/tags?page={number + 1}") if more else None
    return _answer({"tags": [{"tag": tag, "count": count, "page": tag_page(site, tag)} for tag, count in counts],
                    "next": following})


@_reading_parameters
async def search(request: web.Request) -> web.Response:
    """`GET /api/search?q=&limit=`: the bot's own search (`search WORDS`), best matches first."""
    site = request.app[SITE]
    words = words_of(request, required=True)
    found = await PublishedReader(site.pages, PUBLIC).search(words, limit=limit_of(request))
    return _answer({"query": words, "links": [summary_json(site, link) for link in found]})
