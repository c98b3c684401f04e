"""The web server's connections, below the app: how many are held, how long one may say nothing,
and aiohttp's own answers dressed as ours.

aiohttp accepts every connection the listening socket hands it. Held by clients that send nothing,
about a thousand of them (the usual file limit) stopped every reader. So:

- `Connections` is the protocol factory given to `loop.create_server`: aiohttp's request handler
  (`GuardedHandler`) for each connection up to `max_connections` (WebOptions), and past it a
  `Refusal`: 503, Retry-After and one line, then the connection is closed. The cap sits well under
  the file limit, so the process always has descriptors left for its store, its feeds and the bot.
- A request's head must arrive within `head_timeout` (WebOptions) of the connection's start or of
  the previous answer's end, or the connection is closed: that is aiohttp's keep-alive timeout,
  which since aiohttp 3.14.4 also runs from a connection's start (pyproject.toml asks for it). The
  same timeout closes a keep-alive connection left idle.
- A request's body: no route reads one (the site only reads), and what a client sends anyway is
  read and dropped after the answer for BODY_SECONDS at most (aiohttp's lingering time).
- `GuardedHandler.handle_error`: a request aiohttp cannot parse (a malformed request line, a line
  or a header past the limits below) is answered by aiohttp itself, before any middleware or
  on_response_prepare (aiohttp issue 6463). Our headers are added to that answer here, and it is
  logged in one debug line: it is the client's mistake, where aiohttp logs a traceback for each.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from aiohttp import web

from watchbot.web.headers import ANSWER_HEADERS

log = logging.getLogger(__name__)

# What is left of a request's body after the answer is read and dropped for this long at most,
# then the connection is closed (aiohttp's lingering_time, 10 s by default).
BODY_SECONDS = 5.0
# aiohttp's own limits, kept: a request line (so its path and query), or a header, longer than
# this many bytes gets 400; more headers than MAX_HEADERS too.
MAX_LINE_BYTES = 8190
MAX_FIELD_BYTES = 8190
MAX_HEADERS = 128
# A refused connection: told when to come back (by then, held connections have timed out)...
RETRY_AFTER_SECONDS = 10
# ...and closed once the client has read the answer, or after this long: reading what it sent
# meanwhile before closing sends a FIN rather than a reset that could lose the 503.
REFUSAL_LINGER_SECONDS = 1.0
REFUSAL_TEXT = "This watch is answering as many readers as it can: please try again in a few seconds.\n"


class Connections:
    """The listening socket's protocol factory: a handler per connection, up to the cap."""

    def __init__(self, server: web.Server, *, head_timeout: float, max_connections: int,
                 loop: asyncio.AbstractEventLoop) -> None:
        self._server = server
        self._loop = loop
        self._cap = max_connections
        self._head_timeout = head_timeout
        # Counted when made, not when connected: asyncio makes a whole batch of accepted
        # connections' protocols before any of them is connected. Weak, so that a handler whose
        # connection failed before it began (and so never ends) is not counted forever.
        self._open: weakref.WeakSet[GuardedHandler] = weakref.WeakSet()
        self._refusals: set[Refusal] = set()

    @property
    def count(self) -> int:
        """Connections held now (refusals aside)."""
        return len(self._open)

    def __call__(self) -> asyncio.Protocol:
        if len(self._open) >= self._cap:
            return Refusal(self._refusals)
        handler = GuardedHandler(self._server, self, loop=self._loop, keepalive_timeout=self._head_timeout,
                                 lingering_time=BODY_SECONDS, max_line_size=MAX_LINE_BYTES,
                                 max_field_size=MAX_FIELD_BYTES, max_headers=MAX_HEADERS, access_log=None)
        self._open.add(handler)
        return handler

    def ended(self, handler: GuardedHandler) -> None:
        self._open.discard(handler)

    def close_refusals(self) -> None:
        """On stopping: the handlers are aiohttp's to close (AppRunner.cleanup); the refusals ours."""
        for refusal in list(self._refusals):
            refusal.close()


class GuardedHandler(web.RequestHandler):
    """aiohttp's handler of one connection, counted, with its own error answers dressed as ours."""

    def __init__(self, manager: web.Server, connections: Connections, **options: Any) -> None:
        super().__init__(manager, **options)
        self._counted_by = connections

    def connection_lost(self, exc: BaseException | None) -> None:
        self._counted_by.ended(self)
        super().connection_lost(exc)

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:  # not the client's doing: aiohttp logs it with its traceback, once
            answer = super().handle_error(request, status, exc, message)
        else:
            first_line = (message or HTTPStatus(status).phrase).strip().splitlines()[0].rstrip(":")
            log.debug("answered %d to a request that cannot be read, from %s: %s", status, request.remote,
                      first_line)
            if request.writer.output_size > 0:  # as aiohttp: an answer already began, none can follow
                raise ConnectionError("an answer was already being sent; the connection is closed")
            answer = web.Response(status=status, text=f"{status} {HTTPStatus(status).phrase}: {first_line}\n")
            answer.force_close()
        answer.headers.update(ANSWER_HEADERS)
        return answer


class Refusal(asyncio.Protocol):
    """A connection past the cap: told 503 at once, then closed."""

    def __init__(self, refusals: set[Refusal]) -> None:
        self._refusals = refusals
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._refusals.add(self)
        transport.write(refusal_bytes())
        if transport.can_write_eof():
            transport.write_eof()  # the client reads the answer, then the end
        self._timer = asyncio.get_running_loop().call_later(REFUSAL_LINGER_SECONDS, self.close)

    def data_received(self, data: bytes) -> None:
        pass  # a request we will not read: dropped

    def eof_received(self) -> bool:
        return False  # the client is done too: the transport closes

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._refusals.discard(self)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def refusal_bytes() -> bytes:
    """The 503 a connection past the cap is given, whole: status line, headers, one line of text."""
    body = REFUSAL_TEXT.encode("utf-8")
    headers = {"Date": formatdate(usegmt=True), **ANSWER_HEADERS, "Retry-After": str(RETRY_AFTER_SECONDS),
               "Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body)),
               "Connection": "close"}
    head = "HTTP/1.1 503 Service Unavailable\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (head + "\r\n").encode("latin-1") + body
