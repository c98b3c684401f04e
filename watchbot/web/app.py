"""The web application: one aiohttp app, the routes of each module added to it.

Each module (pages, feeds, api, ops) owns its routes and adds them with `add_routes(app)`; this
module only puts them together, with what every answer shares: its headers (headers.py, added as
it is prepared, so aiohttp's own 404s and 405s carry them too) and a 500 for our own failures.
"""

from __future__ import annotations

import logging

from aiohttp import web

from watchbot.model import PUBLIC
from watchbot.store.published import PublishedReader
from watchbot.web import api, archive, feeds, ops, pages
from watchbot.web.answers import ANSWERS, KeptAnswers, kept_answers
from watchbot.web.guard import guard, json_error
from watchbot.web.headers import ANSWER_HEADERS, SECURITY_HEADERS
from watchbot.web.kept import Kept
from watchbot.web.site import SITE, TAG_COUNTS, TAG_COUNTS_SECONDS, Site

__all__ = ["SECURITY_HEADERS", "build_app"]

log = logging.getLogger(__name__)
# The largest request body the app would read (aiohttp's client_max_size; 1 MiB by default). The
# site only reads, so no route reads a body at all: this is the bound should one ever start to.
MAX_REQUEST_BYTES = 16 * 1024


async def dress(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """Every answer the app prepares: pages, data, redirects and errors alike."""
    response.headers.update(ANSWER_HEADERS)


@web.middleware
async def failures(request: web.Request, handler) -> web.StreamResponse:
    """A handler that raises is our bug: logged once with its traceback, answered 500."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        # The path only: a query may hold a reader's search words.
        log.exception("%s %s failed", request.method, request.path)
        said = "The watch failed to answer this; its log says why."
        if request.path.startswith("/api/"):
            return json_error(500, said)
        return web.Response(status=500, text=said + "\n")


async def _stop_kept(app: web.Application) -> None:
    await app[TAG_COUNTS].close()


def build_app(site: Site) -> web.Application:
    # Failures outermost, so that the token's 401 and the API's JSON errors pass through it; the
    # token before the kept answers, so that a kept answer is only ever given to whoever may read it.
    app = web.Application(middlewares=[failures, guard, kept_answers], client_max_size=MAX_REQUEST_BYTES)
    app.on_response_prepare.append(dress)
    app[SITE] = site
    app[ANSWERS] = KeptAnswers(ticks=site.ticks)
    app[TAG_COUNTS] = Kept("tag counts", lambda: PublishedReader(site.pages, PUBLIC).tag_counts(),
                           lifetime=TAG_COUNTS_SECONDS, clock=site.ticks)
    app.on_cleanup.append(_stop_kept)
    # Each part adds its own routes; see its module.
    pages.add_routes(app)
    archive.add_routes(app)
    api.add_routes(app)
    feeds.add_routes(app)
    ops.add_routes(app)
    return app
