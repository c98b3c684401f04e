"""The pages a person reads: the front page, a page per tag, per week (the digest archive), per
link, search, and about. Server-rendered HTML (templates/), no script, one stylesheet of our own.

Every read goes through `PublishedReader(store, PUBLIC)`: the pages show the published view and never
a full record, so a private share or a forgotten sharer cannot reach them.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from watchbot.digest.render import summary
from watchbot.digest.schedule import current_period
from watchbot.links import normalise_tag
from watchbot.model import PUBLIC, Visibility
from watchbot.store.published import PublishedReader
from watchbot.store.rooms import RoomStore
from watchbot.web import archive, parameters
from watchbot.web.paging import page_number, page_of
from watchbot.web.site import SITE, TAG_COUNTS
from watchbot.web.templates import render

STATIC = Path(__file__).parent / "static"
LATEST = 20  # links on the front page (it stays well under 50 KB with everything it loads)
PER_TAG = 50
FOUND = 30  # search results shown
MAX_QUERY = 200  # characters of a search: more is no longer a search


async def front(request: web.Request) -> web.Response:
    site = request.app[SITE]
    options = site.options
    period = current_period(options.digest_schedule, options.zone, site.clock())
    week = await archive.digest_of(site, period, top=options.digest_top)
    latest = await PublishedReader(site.pages, PUBLIC).recent(limit=LATEST)
    return render(request, "front.html", title="Tech watch", week=week,
                  week_summary=summary(week, options.zone, so_far=True), latest=latest)


async def tags(request: web.Request) -> web.Response:
    number = page_number(request.query.get("page"))
    counts, more = page_of(await request.app[TAG_COUNTS].get(), number or 1, request.app[SITE].options.tags_per_page)
    if number is None or (number > 1 and not counts):
        return _not_found(request, "There is no such page of tags.")
    return render(request, "tags.html", title="Tags" if number == 1 else f"Tags, page {number}", counts=counts,
                  page=number, more=more)


async def tag(request: web.Request) -> web.Response:
    name = request.match_info["tag"]
    links = []
    if normalise_tag(name) == name:  # a tag as stored; anything else names no tag
        links = await PublishedReader(request.app[SITE].pages, PUBLIC).recent(limit=PER_TAG, tag=name)
    if not links:
        return _not_found(request, f"No link is tagged {name}.")
    return render(request, "tag.html", title=f"#{name}", tag=name, links=links)


async def weeks(request: web.Request) -> web.Response:
    posted = await archive.posted_weeks(request.app[SITE])
    return render(request, "weeks.html", title="Past weeks", weeks=list(posted))


async def week(request: web.Request) -> web.Response:
    site = request.app[SITE]
    name = request.match_info["week"]
    digests = await archive.week_digests(site, name) if parameters.iso_week(name) else None
    if digests is None:
        return _not_found(request, f"No digest was posted in week {name}.")
    return render(request, "week.html", title=f"Week {name}", week=name,
                  digests=[(summary(digest, site.options.zone), digest) for digest in digests])


async def link(request: web.Request) -> web.Response:
    number = request.match_info["id"]
    link_id = parameters.link_number(number)  # None: no link could have this number
    found = None if link_id is None else await PublishedReader(request.app[SITE].pages, PUBLIC).link(link_id)
    if found is None:
        return _not_found(request, f"There is no link #{number}.")
    title = found.title or found.url
    return render(request, "link.html", title=title, link=found)


async def search(request: web.Request) -> web.Response:
    words = request.query.get("q", "").strip()[:MAX_QUERY]
    found = await PublishedReader(request.app[SITE].pages, PUBLIC).search(words, limit=FOUND) if words else []
    return render(request, "search.html", title=f"Search: {words}" if words else "Search", words=words, found=found)


async def about(request: web.Request) -> web.Response:
    site = request.app[SITE]
    # Public rooms only: a private room's name and id are not the public's to read.
    rooms = [room for room in await RoomStore(site.pages).joined() if room.visibility is Visibility.PUBLIC]
    return render(request, "about.html", title="About", rooms=rooms, instance=site.options.fediverse_instance,
                  prefix=site.options.command_prefix)


async def stylesheet(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "style.css", headers={"Cache-Control": "public, max-age=86400"})


async def favicon(request: web.Request) -> web.FileResponse:
    # Our own, so a browser asks nobody else for one (and gets no 404 from us).
    return web.FileResponse(STATIC / "favicon.svg", headers={"Cache-Control": "public, max-age=86400",
                                                             "Content-Type": "image/svg+xml"})


def _not_found(request: web.Request, sentence: str) -> web.Response:
    return render(request, "not_found.html", status=404, title="Not found", sentence=sentence)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", front)
    app.router.add_get("/tags", tags)
    app.router.add_get("/tags/{tag}", tag)
    app.router.add_get("/weeks", weeks)
    app.router.add_get("/weeks/{week}", week)
    app.router.add_get("/links/{id}", link)
    app.router.add_get("/search", search)
    app.router.add_get("/about", about)
    app.router.add_get("/style.css", stylesheet)
    app.router.add_get("/favicon.svg", favicon)
