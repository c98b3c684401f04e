"""Mastodon's streaming API over WebSocket: a "wake up, a mention came" signal, nothing more.

Some servers speaking Mastodon's client API (GoToSocial, Akkoma) stream only over WebSocket, at
``GET /api/v1/streaming?stream=user`` on the streaming host the instance advertises. Each text
frame is ``{"stream": ["user"], "event": "notification", "payload": "<Notification as a JSON
string>"}``. Polling stays the source of truth: a frame only tells the poller to look now, so a
lost or malformed frame costs at most one poll interval.

- ``streaming_base`` picks the ws(s):// base from the instance documents (v2
  ``configuration.urls.streaming``, v1 ``urls.streaming_api``), else the API's own host.
- ``is_mention_frame`` tells a mention from every other frame, and never raises.
- ``follow_websocket`` follows one connection until the server closes it; a failed handshake
  raises ``StreamUnavailable`` so the caller can poll instead. No reconnect loop here: the
  caller's watchdog opens a new stream when this one has ended.

The access token travels as the ``access_token`` query parameter (Mastodon, GoToSocial and
Akkoma all accept it), so it is part of the URL: no URL is ever logged or put in an exception
that leaves this module.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp
from yarl import URL

log = logging.getLogger(__name__)

STREAM_PATH = "/api/v1/streaming"
HANDSHAKE_TIMEOUT = 30.0  # seconds for connecting and the Upgrade answer
CLOSE_TIMEOUT = 5.0  # seconds to wait for the server's answer to our close frame
_WS_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


class StreamUnavailable(Exception):
    """The WebSocket stream could not be opened (refused, not found, unauthorised, timed out):
    follow mentions by polling alone. The message names the server and path, never the query
    (so never the access token). ``status`` is the HTTP status the server answered the
    handshake with, None when it never answered (connection refused, timeout, bad URL)."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


# -- pure ---------------------------------------------------------------------------------


def _get(document: Mapping | None, *keys: str) -> Any:
    value: Any = document
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _as_ws(url: Any, *, origin_only: bool = False) -> str | None:
    """``url`` with an http(s) scheme turned into ws(s), without a trailing slash; None if it is
    not an absolute http/https/ws/wss URL. A bare host name is taken as https."""
    if not isinstance(url, str) or not url.strip():
        return None
    url = url.strip()
    if "://" not in url:
        url = "https://" + url
    try:
        parts = urlsplit(url)
        scheme = _WS_SCHEMES.get(parts.scheme.lower())
        if scheme is None or not parts.hostname:
            return None
        path = "" if origin_only else parts.path.rstrip("/")
        return urlunsplit((scheme, parts.netloc, path, "", ""))
    except ValueError:  # e.g. an invalid port
        return None


def streaming_base(instance_v2: Mapping | None, instance_v1: Mapping | None, api_base_url: str) -> str:
    """The ws:// or wss:// base of the streaming API, without a trailing slash.

    The instance's own word first (v2 ``configuration.urls.streaming``, then v1
    ``urls.streaming_api``), as Mastodon's web client does, keeping any path; an advertised
    http(s) URL is turned into ws(s). Missing or unusable, the API's own scheme and host.
    """
    for advertised in (_get(instance_v2, "configuration", "urls", "streaming"),
                       _get(instance_v1, "urls", "streaming_api")):
        base = _as_ws(advertised)
        if base is not None:
            return base
    base = _as_ws(api_base_url, origin_only=True)
    if base is None:
        raise ValueError(f"not a server URL: {api_base_url!r}")
    return base


def is_mention_frame(text: str) -> bool:
    """True for a ``notification`` event whose Notification (a JSON string in ``payload``) is a
    ``mention``; False for anything else, malformed frames included. Never raises."""
    try:
        frame = json.loads(text)
        if not isinstance(frame, dict) or frame.get("event") != "notification":
            return False
        payload = frame.get("payload")
        if not isinstance(payload, str):
            return False
        notification = json.loads(payload)
        return isinstance(notification, dict) and notification.get("type") == "mention"
    except Exception:  # noqa: BLE001 -- whatever came, it is not a mention we can read
        return False


def _server_error(text: str) -> str | None:
    """The ``error`` of an error frame (``{"error": "Unknown stream type", "status": 400}``)."""
    try:
        frame = json.loads(text)
    except Exception:  # noqa: BLE001
        return None
    if isinstance(frame, dict) and "event" not in frame and isinstance(frame.get("error"), str):
        return frame["error"][:200]
    return None


# -- the connection -----------------------------------------------------------------------


def _redact(text: str, token: str) -> str:
    """Belt and braces: our messages are built without the URL, but never let the token pass."""
    if token:
        for form in {token, quote(token, safe=""), quote(token)}:
            text = text.replace(form, "***")
    return text


def _why(error: BaseException) -> str:
    """What went wrong, without the URL (aiohttp puts the whole URL, query included, in
    WSServerHandshakeError, InvalidURL and friends)."""
    if isinstance(error, aiohttp.WSServerHandshakeError):
        if error.status == 200 and error.message == "Invalid response status":
            return "the server answered 200 instead of switching to WebSocket"
        return f"HTTP {error.status} ({error.message})" if error.status != 101 else error.message
    if isinstance(error, aiohttp.InvalidURL):
        return "invalid streaming URL"
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"cannot connect to {error.host}:{error.port} ({error.strerror or type(error.os_error).__name__})"
    if isinstance(error, (TimeoutError, asyncio.TimeoutError)):
        return f"no answer within {HANDSHAKE_TIMEOUT:g} s"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "the server closed the connection during the handshake"
    return type(error).__name__


async def follow_websocket(
    base: str,
    access_token: str,
    on_mention: Callable[[], object],
    *,
    session: aiohttp.ClientSession | None = None,
    heartbeat: float = 30.0,
    on_open: Callable[[], object] | None = None,
) -> None:
    """Follow ``{base}/api/v1/streaming?stream=user`` and call ``on_mention()`` for each
    mention frame. Both callbacks run on the event loop and must not block.

    ``on_open()``, if given, is called once the server has accepted the connection: a poll
    then catches what came between the last poll and the stream's start.

    Returns when the connection ends: the server closed it, or it died (no pong within
    ``heartbeat / 2`` seconds after a ping, sent after ``heartbeat`` seconds of silence).
    Raises StreamUnavailable when it cannot be opened. Exceptions from ``on_mention`` propagate.

    Without ``session`` a private one is used, ignoring proxies from the environment
    (``trust_env=False``). A given session is used as it is; its ClientTimeout should have
    ``total=None`` (aiohttp's default of 300 s is meant for requests, not a stream).
    """
    try:
        url = URL(base.rstrip("/") + STREAM_PATH).update_query(stream="user")
        if not url.absolute or url.scheme not in ("ws", "wss", "http", "https"):
            raise ValueError
    except ValueError:
        raise StreamUnavailable(_redact(f"not a streaming URL: {base!r}", access_token)) from None
    where = f"{url.scheme}://{url.raw_authority}{url.raw_path}"  # what may be said: no query
    url = url.update_query(access_token=access_token)

    own_session = session is None
    if session is None:
        session = aiohttp.ClientSession(
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=HANDSHAKE_TIMEOUT),
        )
    try:
        reason, status = None, None
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                ws = await session.ws_connect(
                    url,
                    heartbeat=heartbeat,
                    autoping=True,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_TIMEOUT),
                )
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
            reason = _redact(f"{where}: {_why(error)}", access_token)
            status = error.status if isinstance(error, aiohttp.WSServerHandshakeError) else None
        if reason is not None:
            # Raised here, outside the except block, so not even __context__ holds aiohttp's
            # exception (and with it the URL and its token).
            log.debug("Mastodon streaming: cannot open %s", reason)
            raise StreamUnavailable(reason, status)
        async with ws:
            log.debug("Mastodon streaming: following %s", where)
            if on_open is not None:
                on_open()
            await _read(ws, on_mention, access_token)
            log.debug("Mastodon streaming: %s ended (close code %s)", where, ws.close_code)
    finally:
        if own_session:
            await session.close()


async def _read(ws: aiohttp.ClientWebSocketResponse, on_mention: Callable[[], object], token: str) -> None:
    while True:
        try:
            message = await ws.receive()
        except (aiohttp.ClientError, OSError) as error:  # the connection broke: it has ended
            log.debug("Mastodon streaming: connection lost (%s)", type(error).__name__)
            return
        if message.type is aiohttp.WSMsgType.TEXT:
            if is_mention_frame(message.data):
                on_mention()
            elif (error := _server_error(message.data)) is not None:
                log.warning("Mastodon streaming: the server says %r", _redact(error, token))
        elif message.type is aiohttp.WSMsgType.ERROR:
            # e.g. ServerTimeoutError: no pong in time, a dead connection
            log.debug("Mastodon streaming: connection lost (%s)", type(message.data).__name__)
            return
        elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
            return
        # BINARY (Mastodon sends text only), PING/PONG (answered by autoping): nothing to do
