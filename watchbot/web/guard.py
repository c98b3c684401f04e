"""What every request passes first: the tokens of a private deployment, and errors said as the
API says them (one JSON line with the right status).

Who may read what (decided here for every route, so a new route cannot be forgotten):
- `/healthz`: everyone (a load balancer asks it, and it says "ok" or which part is unwell).
- `/metrics`: only with WATCHBOT_WEB_METRICS_TOKEN, else WATCHBOT_WEB_API_TOKEN; with neither set,
  nobody (its counts say when the watch is used: an operator's, not the public's).
- everything else: everyone, unless WATCHBOT_WEB_API_TOKEN is set (a private deployment): then
  only with it, the pages included unless WATCHBOT_WEB_PUBLIC_PAGES says they stay public.

A token is sent as "Authorization: Bearer TOKEN" (the API, feed readers that can) or as the
password of HTTP Basic authentication, any user name (browsers, which then ask for it once; most
feed readers). It is compared in constant time and never written anywhere: a refused request is
told only that a token is needed.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web
from aiohttp.typedefs import Handler

from watchbot.web.site import SITE, WebOptions

OPEN = ("/healthz",)
METRICS = "/metrics"
DATA = ("/api/", "/feeds/")  # never public once a token is set, whatever WATCHBOT_WEB_PUBLIC_PAGES says
CLOSED = ""  # the token of a route nobody may read (no token is the empty string)


def json_error(status: int, message: str) -> web.Response:
    """One line saying what was wrong, as JSON, with its status."""
    return web.json_response({"error": message}, status=status)


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def token_needed(path: str, options: WebOptions) -> str | None:
    """The token a request for `path` must bear: None when it needs none, CLOSED when none opens it."""
    if path in OPEN:
        return None
    if path == METRICS:
        return options.metrics_token or options.api_token or CLOSED
    if options.api_token is None or (options.public_pages and not path.startswith(DATA)):
        return None
    return options.api_token


def _refused(request: web.Request, token: str) -> web.Response:
    if token == CLOSED:
        message = "/metrics is closed: set WATCHBOT_WEB_METRICS_TOKEN and scrape it with that token."
    elif request.path.startswith(DATA) or request.path == METRICS:
        message = "This watch's API and feeds need a token: send it as “Authorization: Bearer TOKEN”."
    else:
        message = "This watch is private: its pages ask for the token its members were given."
    response = json_error(401, message) if _is_api(request) else web.Response(status=401, text=message + "\n")
    # A browser asks its reader for a password on Basic; clients of the API and feeds send Bearer.
    response.headers["WWW-Authenticate"] = ('Bearer realm="watchbot"' if request.path.startswith(DATA)
                                            or request.path == METRICS else 'Basic realm="watchbot", charset="UTF-8"')
    return response


def token_matches(header: str | None, token: str) -> bool:
    """Does an Authorization header carry `token`, as a bearer token or as Basic's password?
    (constant time in the token; a token that is CLOSED is matched by nothing)"""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(given.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        given = decoded.partition(":")[2]
    elif scheme.lower() != "bearer":
        return False
    # Bytes, since compare_digest refuses non-ASCII str; the time depends on the lengths only.
    return token != CLOSED and hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"),
                                                   token.encode("utf-8"))


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = token_needed(request.path, request.app[SITE].options)
    if token is not None and not token_matches(request.headers.get("Authorization"), token):
        return _refused(request, token)
    if not _is_api(request):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as error:  # the router's 404 and 405 under /api/, said in JSON too
        if error.status < 400:
            raise
        return json_error(error.status, _said(error))


def _said(error: web.HTTPException) -> str:
    if error.status == 404:
        return "There is no such API address: see /api/links, /api/tags and /api/search."
    if error.status == 405:
        return "The API only reads: use GET."
    return error.reason
