"""What every request to the JSON API and the feeds passes first: the optional bearer token, and
errors said as the API says them (one JSON line with the right status).

The token (WATCHBOT_WEB_API_TOKEN) guards every path under GUARDED, whichever module serves it
(the digests' API and feed too), so a private deployment cannot forget one route. It is compared
in constant time and never written anywhere: a refused request is told only that a token is needed.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Handler

from watchbot.web.site import SITE

GUARDED = ("/api/", "/feeds/")


def json_error(status: int, message: str) -> web.Response:
    """One line saying what was wrong, as JSON, with its status."""
    return web.json_response({"error": message}, status=status)


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def _refused(request: web.Request) -> web.Response:
    message = "This watch's API and feeds need a token: send it as “Authorization: Bearer TOKEN”."
    response = json_error(401, message) if _is_api(request) else web.Response(status=401, text=message + "\n")
    response.headers["WWW-Authenticate"] = 'Bearer realm="watchbot"'
    return response


def bearer_matches(header: str | None, token: str) -> bool:
    """Does an Authorization header carry `token` as its bearer token? (constant time)"""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Bytes, since compare_digest refuses non-ASCII str; the time depends on the lengths only.
    return hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8"))


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(GUARDED):
        token = request.app[SITE].options.api_token
        if token is not None and not bearer_matches(request.headers.get("Authorization"), token):
            return _refused(request)
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
