"""The Mastodon stream watchdog: keeps a stream open beside the polls, and never delays one.

The streaming API only says "something came": the poll that follows reads it from the cursor, so
a stream that drops (or was never offered) loses nothing. Server-Sent Events first (the token
travels in a header, Mastodon.py's client on a thread of its own); a WebSocket where the server
has no SSE (GoToSocial, Akkoma); neither: said once, and asked again hourly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mastodon import Mastodon, StreamListener

from watchbot.isolation import one_line
from watchbot.networks.fediverse.pace import Clock, PollPace
from watchbot.networks.fediverse.stream import StreamUnavailable, follow_websocket

log = logging.getLogger(__name__)

SSE_PROBE_SECONDS = 10.0  # an SSE stream not receiving by then: the server has none
STREAM_RETRY_SECONDS = 3600.0  # a server without streaming is asked again hourly, not at each poll
STREAM_REOPEN_SECONDS = 5.0  # a stream that ended is opened again after this (never in a tight loop)


class StreamWatchdog:
    """`wake()` asks the adapter for a poll now; `call(function, ...)` runs a blocking call off the
    event loop; `streaming_base` is set once the server said where its streaming API is."""

    def __init__(self, instance: str, token: Any, wake: Callable[[], None], *,
                 call: Callable[..., Awaitable[Any]], clock: Clock, pace: PollPace) -> None:
        self._instance = instance
        self._token = token  # a SecretStr, read only to open a stream
        self._wake = wake
        self._call = call
        self.clock = clock
        self.pace = pace
        self.streaming_base = ""
        self.stream = None  # Mastodon.py's SSE stream
        self.websocket: asyncio.Task | None = None  # or the WebSocket, where SSE is absent
        self.sse_offered = True
        self.live = False  # a stream is open and receiving
        self._stream_refused: str | None = None

    async def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
        if self.websocket is not None:
            self.websocket.cancel()
            await asyncio.gather(self.websocket, return_exceptions=True)

    async def run(self) -> None:
        """The watchdog, beside the polls (it never delays one). The streaming API only says
        "something came": the poll that follows reads it from the cursor, so a stream that drops
        (or was never offered) loses nothing. A stream that ends is opened again; a server with
        none is said so once and asked again hourly. Server-Sent Events first (the token travels
        in a header); WebSocket where the server has no SSE (GoToSocial, Akkoma)."""
        while True:
            try:
                opened = await self._open_stream()
            except Exception as error:  # noqa: BLE001 -- the polls go on, whatever streaming does
                log.warning("Mastodon: looking for a stream failed (%s); polling meanwhile", one_line(str(error), 160))
                opened = False
            if opened:
                await self._until_the_stream_ends()
                self.live = False
                self._wake()  # a poll now, then the pace kept without a stream
                await self.clock.sleep(STREAM_REOPEN_SECONDS)
            else:
                await self.clock.sleep(STREAM_RETRY_SECONDS)

    async def _open_stream(self) -> bool:
        if self.sse_offered and await self._open_sse():
            return True
        self.sse_offered = False  # not again: the WebSocket is the way with this server
        opened = asyncio.Event()
        self.websocket = asyncio.create_task(follow_websocket(
            self.streaming_base, self._token.get_secret_value(),
            self._wake, on_open=lambda: (opened.set(), self._streaming_opened())))
        waiting = asyncio.create_task(opened.wait())
        await asyncio.wait({self.websocket, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if opened.is_set():
            return True
        self._websocket_ended()
        return False

    async def _until_the_stream_ends(self) -> None:
        if self.stream is not None:
            while self.stream.is_alive():
                await self.clock.sleep(STREAM_REOPEN_SECONDS)
            self.stream = None
            self.sse_offered = True
            log.warning("Mastodon: the stream ended; polling meanwhile")
        elif self.websocket is not None:
            await asyncio.wait({self.websocket})
            self._websocket_ended()

    async def _open_sse(self) -> bool:
        loop = asyncio.get_running_loop()
        listener = _WakeOnMention(lambda: loop.call_soon_threadsafe(self._wake))
        try:
            # Its own client and thread: the API client stays on its one worker thread.
            streamer = await self._call(
                Mastodon, api_base_url=self._instance,
                access_token=self._token.get_secret_value(),
                request_timeout=30, version_check_mode="none")
            stream = await self._call(streamer.stream_user, listener, run_async=True,
                                      reconnect_async=True, reconnect_async_wait_sec=5)
        except Exception as error:  # noqa: BLE001 -- no SSE: the WebSocket or polling will do
            log.debug("Mastodon: no streaming over SSE (%s); trying WebSocket", error)
            return False
        # Mastodon.py connects on its own thread and keeps retrying a refused connection there:
        # a stream that is not receiving soon is a server without SSE.
        deadline = time.monotonic() + SSE_PROBE_SECONDS
        while not stream.is_receiving() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if not stream.is_receiving():
            stream.close()
            log.debug("Mastodon: no streaming over SSE; trying WebSocket")
            return False
        self.stream = stream
        self._streaming_opened()
        return True

    def _streaming_opened(self) -> None:
        log.info("Mastodon: following mentions live (%s), polling every %.0f s as well",
                 "SSE" if self.sse_offered else "WebSocket", self.pace.wait(0, live_stream=True))
        self._stream_refused = None
        self.live = True
        self._wake()  # what came before the stream opened

    def _websocket_ended(self) -> None:
        """Read how the last WebSocket ended (asyncio warns about an exception never read)."""
        task, self.websocket = self.websocket, None
        if task is None or task.cancelled():
            return
        error = task.exception()
        if isinstance(error, StreamUnavailable):
            # Said once; the watchdog asks again hourly, quietly while the answer is the same.
            level = logging.DEBUG if self._stream_refused == str(error) else logging.WARNING
            log.log(level, "Mastodon: the server offers no streaming (%s); polling every %.0f s while "
                    "mentions come, every %.0f s when quiet, and looking for streaming again hourly",
                    error, self.pace.active, self.pace.idle)
            self._stream_refused = str(error)
        elif error is not None:
            log.warning("Mastodon: the stream failed (%s); polling meanwhile", type(error).__name__)
        else:
            log.warning("Mastodon: the stream ended; polling meanwhile")


class _WakeOnMention(StreamListener):
    """Runs on Mastodon.py's stream thread: only pokes the event loop."""

    def __init__(self, wake: Callable[[], object]) -> None:
        super().__init__()
        self._wake = wake

    def on_notification(self, notification) -> None:
        if notification.get("type") == "mention":
            self._wake()
