"""The web application: one aiohttp app, the routes of each module added to it.

Each module (pages, feeds, api, ops) owns its routes and adds them with `add_routes(app)`; this
module only puts them together, with the headers every answer carries.
"""

from __future__ import annotations

from aiohttp import web

from watchbot.web import api, feeds, ops
from watchbot.web.guard import guard
from watchbot.web.site import SITE, Site


def build_app(site: Site) -> web.Application:
    app = web.Application(middlewares=[guard])
    app[SITE] = site
    # Each part adds its own routes; see its module.
    api.add_routes(app)
    feeds.add_routes(app)
    ops.add_routes(app)
    return app
