"""Serving the web app: a worker for the bot's TaskGroup (`watchbot run`) or the whole process
(`watchbot web`). It listens until cancelled, then closes its connections and stops cleanly."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from watchbot.store import Store
from watchbot.web.app import build_app
from watchbot.web.site import Site, WebOptions

log = logging.getLogger(__name__)
SHUTDOWN_SECONDS = 5.0  # how long requests in flight may finish once stopping


class WebServer:
    def __init__(self, options: WebOptions, store: Store, *, port: int | None = None) -> None:
        self.site = Site(store=store, options=options)
        self.host = options.host
        self.port = options.port if port is None else port
        self.bound: asyncio.Event = asyncio.Event()  # set once listening (tests read `self.port`)
        self.failed: str | None = None  # why it could not listen, in one sentence

    async def run(self) -> None:
        runner = web.AppRunner(build_app(self.site), access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
        await runner.setup()
        try:
            tcp = web.TCPSite(runner, self.host, self.port)
            try:
                await tcp.start()
            except OSError as error:
                # Said once and given up: the bot goes on without its pages (`watchbot web` exits).
                self.failed = f"cannot listen on {self.host}:{self.port} ({error.strerror or error})"
                log.error("web pages not served: %s; set WATCHBOT_WEB_HOST/WATCHBOT_WEB_PORT", self.failed)
                return
            self.port = runner.addresses[0][1]  # the port chosen, when asked for 0
            log.info("web pages served on http://%s:%d/ (public address %s)", self.host, self.port,
                     self.site.base_url)
            self.bound.set()
            await asyncio.Event().wait()  # until cancelled
        finally:
            await runner.cleanup()
            log.info("web pages stopped")
