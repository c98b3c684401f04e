"""Web pages on 127.0.0.1 for the tests: an aiohttp server on a thread of its own.

Its own thread and loop, so a synchronous caller (click's CliRunner, which runs its own event
loop) can fetch from it as well as async tests can. Pages are added per test with `page()`,
`redirect()` or a handler; `hits` counts the requests each path received.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class PageServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.hits: Counter[str] = Counter()
        self._handlers: dict[str, Handler] = {}

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def handle(self, path: str, handler: Handler) -> str:
        self._handlers[path] = handler
        return self.url(path)

    def page(self, path: str, html: str | bytes, *, content_type: str = "text/html; charset=utf-8",
             status: int = 200, headers: dict[str, str] | None = None) -> str:
        body = html.encode() if isinstance(html, str) else html

        async def serve(request: web.Request) -> web.Response:
            return web.Response(body=body, status=status, headers={"Content-Type": content_type, **(headers or {})})

        return self.handle(path, serve)

    def redirect(self, path: str, location: str, status: int = 301) -> str:
        async def serve(request: web.Request) -> web.Response:
            return web.Response(status=status, headers={"Location": location})

        return self.handle(path, serve)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] += 1
        handler = self._handlers.get(request.path)
        if handler is None:
            return web.Response(status=404, text="not here")
        return await handler(request)


@contextmanager
def serving_pages(host: str = "127.0.0.1") -> Iterator[PageServer]:
    server = PageServer(host)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner: web.AppRunner | None = None

    async def start() -> None:
        nonlocal runner
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", server._dispatch)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        server.port = site._server.sockets[0].getsockname()[1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="page-server", daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
