"""The web application: one aiohttp app, the routes of each module added to it.

Each module (pages, feeds, api, ops) owns its routes and adds them with `add_routes(app)`; this
module only puts them together, with the headers every answer carries.
"""

from __future__ import annotations

from aiohttp import web

from watchbot.web.site import SITE, Site


def build_app(site: Site) -> web.Application:
    app = web.Application()
    app[SITE] = site
    # Each part adds its own routes; see its module.
    return app
