"""The web application: one aiohttp app, the routes of each module added to it.

Each module (pages, feeds, api, ops) owns its routes and adds them with `add_routes(app)`; this
module only puts them together, with the headers every answer carries.
"""

from __future__ import annotations

from aiohttp import web

from watchbot.model import PUBLIC
from watchbot.store.published import PublishedReader
from watchbot.web import api, archive, feeds, ops, pages
from watchbot.web.answers import ANSWERS, KeptAnswers, kept_answers
from watchbot.web.guard import guard
from watchbot.web.kept import Kept
from watchbot.web.site import SITE, TAG_COUNTS, TAG_COUNTS_SECONDS, Site

# Every answer, pages and errors alike: nothing loads but our own stylesheet (and images, were we
# to serve any), no script runs, no form posts elsewhere, and no other site may frame the pages.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@web.middleware
async def security_headers(request: web.Request, handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:  # aiohttp's own answers (404 of an unknown path, 405) too
        error.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    return response


async def _stop_kept(app: web.Application) -> None:
    await app[TAG_COUNTS].close()


def build_app(site: Site) -> web.Application:
    # The headers first, so that the token's 401 carries them too; the token before the kept
    # answers, so that a kept answer is only ever given to whoever may read it.
    app = web.Application(middlewares=[security_headers, guard, kept_answers])
    app[SITE] = site
    app[ANSWERS] = KeptAnswers(ticks=site.ticks)
    app[TAG_COUNTS] = Kept("tag counts", PublishedReader(site.pages, PUBLIC).tag_counts,
                           lifetime=TAG_COUNTS_SECONDS, clock=site.ticks)
    app.on_cleanup.append(_stop_kept)
    # Each part adds its own routes; see its module.
    pages.add_routes(app)
    archive.add_routes(app)
    api.add_routes(app)
    feeds.add_routes(app)
    ops.add_routes(app)
    return app
