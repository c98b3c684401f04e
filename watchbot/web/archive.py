"""The digest archive: which weeks had a digest, and each week's digest, for the week pages
(pages.py), the JSON API (/api/digests) and the Atom feed of digests (/feeds/digests.atom).

Which weeks: the digest runs posted to some outlet (store/digests.py), so a week appears once its
digest went out and keeps its URL for good. What each holds: the published view of that period
(`PublishedReader(store, PUBLIC).shared_between`), built as the bot builds the digest; so a
sharer who said `forget me` leaves the archive as they leave the store.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections import OrderedDict
from datetime import datetime, timezone

from aiohttp import web

from watchbot.digest.build import Digest, build_digest
from watchbot.digest.render import render_json, render_matrix, summary
from watchbot.digest.schedule import week_of
from watchbot.formats.atom import ATOM_NAMESPACE, atom_time
from watchbot.formats.published import one_line, xml_safe
from watchbot.model import PUBLIC, Period
from watchbot.store.digests import DigestRuns
from watchbot.store.published import PublishedReader
from watchbot.web.site import SITE, Site

FEED_ENTRIES = 20  # the latest digests in the Atom feed
NOTHING_YET = datetime(1970, 1, 1, tzinfo=timezone.utc)  # the feed's date before any digest
# Digest entry ids: a UUIDv5 of the period's start, the same in every store (as formats/atom.py's
# link ids). This namespace must never change.
_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://watchbot.invalid/atom-ids/digests")


async def posted_weeks(site: Site) -> OrderedDict[str, list[Period]]:
    """Each week that had a digest, the latest first, with its periods (one, on a weekly schedule)."""
    weeks: OrderedDict[str, list[Period]] = OrderedDict()
    for period in await DigestRuns(site.pages).posted_periods():
        weeks.setdefault(week_of(period, site.options.zone), []).append(period)
    for periods in weeks.values():
        periods.sort(key=lambda period: period.start)
    return weeks


async def digest_of(site: Site, period: Period, *, top: int | None = None) -> Digest:
    """The period's digest from the published view; `top` None: every link of it (the archive
    holds what the posted digest left out: "and N more in the archive")."""
    links = await PublishedReader(site.pages, PUBLIC).shared_between(period.start, period.end)
    return build_digest(links, period, top=len(links) if top is None else top, feed_top=len(links) if top is None
                        else site.options.feeds_digest_cap)


async def week_digests(site: Site, week: str, *, top: int | None = None) -> list[Digest] | None:
    """The digests of a week ("2026-W49"), or None when no digest was posted that week."""
    periods = (await posted_weeks(site)).get(week)
    if not periods:
        return None
    return [await digest_of(site, period, top=top) for period in periods]


def week_url(site: Site, week: str) -> str:
    return site.url(f"/weeks/{week}")


async def api_digests(request: web.Request) -> web.Response:
    site = request.app[SITE]
    weeks = await posted_weeks(site)
    return web.json_response({"digests": [
        {"week": week, "url": week_url(site, week), "data": site.url(f"/api/digests/{week}"),
         "periods": [_period(period) for period in periods]}
        for week, periods in weeks.items()]})


async def api_digest(request: web.Request) -> web.Response:
    site = request.app[SITE]
    week = request.match_info["week"]
    digests = await week_digests(site, week, top=site.options.digest_top)
    if digests is None:
        return web.json_response({"error": f"no digest was posted in week {week}"}, status=404)
    # Each as it was posted (the top links); the week's page has them all.
    return web.json_response({"week": week, "url": week_url(site, week),
                              "digests": [render_json(digest) for digest in digests]})


async def digests_feed(request: web.Request) -> web.Response:
    site = request.app[SITE]
    zone = site.options.zone
    weeks = await posted_weeks(site)
    entries = [(week, period) for week, periods in weeks.items() for period in reversed(periods)][:FEED_ENTRIES]
    feed = ET.Element("feed", {"xmlns": ATOM_NAMESPACE})
    _text(feed, "id", site.url("/feeds/digests.atom"))
    _text(feed, "title", "Tech watch: the digests")
    # Unchanged archive, unchanged feed: the latest digest's end, never the clock.
    _text(feed, "updated", atom_time(entries[0][1].end if entries else NOTHING_YET))
    ET.SubElement(feed, "link", {"rel": "self", "href": site.url("/feeds/digests.atom")})
    ET.SubElement(feed, "link", {"rel": "alternate", "href": site.url("/weeks")})
    _text(feed, "generator", "watchbot")
    for week, period in entries:
        digest = await digest_of(site, period, top=site.options.digest_top)
        entry = ET.SubElement(feed, "entry")
        _text(entry, "id", f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, period.start.isoformat())}")
        _text(entry, "title", one_line(summary(digest, zone)))
        ET.SubElement(entry, "link", {"rel": "alternate", "href": week_url(site, week)})
        _text(entry, "published", atom_time(period.end))
        _text(entry, "updated", atom_time(period.end))
        author = ET.SubElement(entry, "author")
        _text(author, "name", "watchbot")
        # Plain text, as the room reads it: titles and names are strangers' words, never markup.
        text = render_matrix(digest, zone, archive_url=week_url(site, week)).text
        _text(entry, "content", xml_safe(text), type="text")
    ET.indent(feed)
    body = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"
    return web.Response(text=body, content_type="application/atom+xml", charset="utf-8")


def _period(period: Period) -> dict:
    return {"start": period.start.isoformat(), "end": period.end.isoformat()}


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = text
    return element


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/digests", api_digests)
    app.router.add_get("/api/digests/{week}", api_digest)
    app.router.add_get("/feeds/digests.atom", digests_feed)
