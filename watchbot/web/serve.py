"""Serving the web app: a worker for the bot's TaskGroup (`watchbot run`) or the whole process
(`watchbot web`). It listens until cancelled, then closes its connections and stops cleanly.

It listens through connections.py's guard (a cap on connections, a deadline on each request's
head, aiohttp's own answers dressed as ours) rather than aiohttp's TCPSite, and while it listens
the loop's complaints that it cannot accept a connection are said once a minute (accept_errors.py).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from watchbot.store import Store
from watchbot.web.accept_errors import AcceptFailures
from watchbot.web.app import build_app
from watchbot.web.connections import Connections
from watchbot.web.site import Site, WebOptions

log = logging.getLogger(__name__)
SHUTDOWN_SECONDS = 5.0  # how long requests in flight may finish once stopping
# Connections the kernel queues for us to accept (asyncio's default is 100): a burst of readers
# waits there rather than being refused by the kernel.
BACKLOG = 512


class WebServer:
    def __init__(self, options: WebOptions, store: Store, *, port: int | None = None) -> None:
        self.site = Site(store=store, options=options)
        self.host = options.host
        self.port = options.port if port is None else port
        self.bound: asyncio.Event = asyncio.Event()  # set once listening (tests read `self.port`)
        self.failed: str | None = None  # why it could not listen, in one sentence
        self.connections: Connections | None = None  # once listening: how many are held

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        runner = web.AppRunner(build_app(self.site), access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
        await runner.setup()
        accept_failures = AcceptFailures(loop)
        accept_failures.install()
        try:
            options = self.site.options
            assert runner.server is not None
            self.connections = Connections(runner.server, head_timeout=options.head_timeout,
                                           max_connections=options.max_connections, loop=loop)
            try:
                listening = await loop.create_server(self.connections, self.host, self.port, backlog=BACKLOG)
            except OSError as error:
                # Said once and given up: the bot goes on without its pages (`watchbot web` exits).
                self.failed = f"cannot listen on {self.host}:{self.port} ({error.strerror or error})"
                log.error("web pages not served: %s; set WATCHBOT_WEB_HOST/WATCHBOT_WEB_PORT", self.failed)
                return
            try:
                self.port = listening.sockets[0].getsockname()[1]  # the port chosen, when asked for 0
                log.info("web pages served on http://%s:%d/ (public address %s)", self.host, self.port,
                         self.site.base_url)
                self.bound.set()
                await asyncio.Event().wait()  # until cancelled
            finally:
                listening.close()  # no new connection; the runner closes those held
                self.connections.close_refusals()
        finally:
            await runner.cleanup()
            accept_failures.uninstall()
            log.info("web pages stopped")
