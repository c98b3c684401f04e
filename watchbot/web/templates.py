"""The pages' templates: Jinja2, autoescaping every value, so a stranger's title, note or name is
text and never markup. Each stranger's string is also wrapped in <bdi> by the templates, so a
right-to-left override in it cannot turn the words around it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from watchbot.model import Source
from watchbot.published import as_utc
from watchbot.web.site import SITE

TEMPLATES = Path(__file__).parent / "templates"
# Where each network's shares come from, in words ("shared by Alice on Matrix").
NETWORKS = {Source.MATRIX: "on Matrix", Source.MASTODON: "on the fediverse", Source.FEED: "from a feed",
            Source.CLI: "by the operator", Source.IMPORT: "in an import"}

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)


def _href(url: str) -> str:
    """A stranger's URL as a link target: web addresses only (filing accepts no other, and this
    holds whatever the store was given by an import of old)."""
    return url if url.lower().startswith(("https://", "http://")) else "#"


# Direction overrides and isolates: kept inside <bdi> in the page, dropped where no element can
# hold them (the <title>, which a tab or a bookmark shows).
_BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def _one_direction(text: str) -> str:
    return text.translate(_BIDI_CONTROLS)


def _network(source: Source) -> str:
    return NETWORKS.get(source, "")


_env.filters["href"] = _href
_env.filters["network"] = _network
_env.filters["one_direction"] = _one_direction


def render(request: web.Request, name: str, *, status: int = 200, **context) -> web.Response:
    site = request.app[SITE]
    zone = site.options.zone

    def when(moment: datetime, fmt: str = "%d %b %Y %H:%M") -> str:
        return as_utc(moment).astimezone(zone).strftime(fmt)

    text = _env.get_template(name).render(path=request.path, when=when, zone=site.options.timezone, **context)
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
