"""The event loop's complaint that it cannot accept a connection, said once a minute.

When the process runs out of file descriptors (EMFILE) or memory for sockets, asyncio's listening
socket cannot `accept()`: it tells the loop's exception handler, with a traceback, and tries again
a second later, for as long as it lasts. Under a flood of connections that was 39 MB of log in
80 s. While the web server listens, this handler says it once a minute, in one line, with how
many times it happened meanwhile; every other message goes on to the handler that was there
before (the default one: `watchbot run` shares its loop with the bot, whose errors stay as they were).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# asyncio's words (selector_events.py, _accept_connection), the only message this handler takes.
OUT_OF_RESOURCES = "socket.accept() out of system resource"
EVERY_SECONDS = 60.0  # at most one line per this many seconds


class AcceptFailures:
    """An exception handler for the loop: `install()` while the server listens, `uninstall()` after."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, clock: Callable[[], float] = time.monotonic,
                 every: float = EVERY_SECONDS) -> None:
        self._loop = loop
        self._clock = clock
        self._every = every
        self._previous = loop.get_exception_handler()  # None: the loop's default
        self._said_at: float | None = None
        self._unsaid = 0  # failures since the last line

    def install(self) -> None:
        self._previous = self._loop.get_exception_handler()
        self._loop.set_exception_handler(self)

    def uninstall(self) -> None:
        # Only our own: a handler set after ours (by someone else) is not ours to remove.
        if self._loop.get_exception_handler() is self:
            self._loop.set_exception_handler(self._previous)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != OUT_OF_RESOURCES:
            self._pass_on(loop, context)
            return
        now = self._clock()
        if self._said_at is not None and now - self._said_at < self._every:
            self._unsaid += 1
            return
        error = context.get("exception")
        why = (getattr(error, "strerror", None) or str(error)) if error is not None else "no reason given"
        since = f" ({self._unsaid} more times since the last such line)" if self._unsaid else ""
        log.error("the web server cannot accept connections: %s%s; it tries again every second, and says so "
                  "once a minute", why, since)
        self._said_at, self._unsaid = now, 0

    def _pass_on(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if self._previous is None:
            loop.default_exception_handler(context)
        else:
            self._previous(loop, context)
