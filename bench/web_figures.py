"""The web app under load, beside a static file of the same size served by the same aiohttp server.

The app (watchbot.web.app.build_app) runs on the store of bench/corpus.py (1,000,000 links in the
full size) on 127.0.0.1, with one more route of the same app serving files from a directory
(aiohttp's add_static): for each route measured, a file of exactly the size of that route's answer.
Each sample is one GET's latency as an aiohttp client on one kept-alive connection sees it, the
route's and the static file's interleaved (bench/harness.py); requests per second are 1 / the
mean latency of that one connection, given in the note. Client and server share one process and
one event loop, alike for both sides: the ratio is the figure, not the absolute time.

The HTML pages and the JSON API, each a line of ROUTES; then GET /metrics beside itself on a store
of 1,000 links (bench/metrics_figures.py).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from bench import corpus, metrics_figures
from bench.harness import Figure, interleave
from watchbot.store import Store
from watchbot.web.app import build_app
from watchbot.web.site import Site, WebOptions

# (figure name, path): each is measured beside a static file of its answer's size. {rare}: the
# last topic word, in about 20 links and the prefix of no other word (search matches prefixes).
ROUTES = (
    ("web: GET /api/links (20 links)", "/api/links"),
    ("web: GET /api/links?tag=rust", "/api/links?tag=rust"),
    ("web: GET /api/search?q= a rare word", "/api/search?q={rare}"),
    ("web: GET / (the front page)", "/"),
    ("web: GET /tags/rust (a tag page)", "/tags/rust"),
    ("web: GET /search?q= a rare word (the search page)", "/search?q={rare}"),
)


async def measure(store_path: Path, size: corpus.Size, repeat: int) -> list[Figure]:
    store = await Store.open(f"sqlite:///{store_path}", migrate=False)
    site = Site(store=store, options=WebOptions(base_url="http://127.0.0.1"), clock=lambda: corpus.NOW)
    app = build_app(site)
    with tempfile.TemporaryDirectory(prefix="watchbot-web-bench-") as files:
        app.router.add_static("/bench-static/", files)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        tcp = web.TCPSite(runner, "127.0.0.1", 0)
        await tcp.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}",
                                             connector=aiohttp.TCPConnector(limit=1)) as client:
                rare = f"topic{size.topics - 1}"
                return [await _route(client, Path(files), name, path.format(rare=rare), repeat)
                        for name, path in ROUTES]
        finally:
            await runner.cleanup()
            await store.close()


async def _route(client: aiohttp.ClientSession, files: Path, name: str, path: str, repeat: int) -> Figure:
    async with client.get(path) as answer:
        body = await answer.read()
        assert answer.status == 200, (path, answer.status)
    static = f"static-{len(body)}.json"
    (files / static).write_bytes(body)

    def side(url: str):
        async def get(_index: int) -> float:
            began = time.perf_counter()
            async with client.get(url) as answer:
                await answer.read()
            return (time.perf_counter() - began) * 1000
        return get

    figure = Figure(name, "ms", base_name=f"static file of {len(body) / 1024:.1f} KB")
    await interleave(figure, side(path), side(f"/bench-static/{static}"), repeat=repeat, warmup=3)
    figure.note = (f"{1000 / statistics.mean(figure.ours):.0f} req/s vs "
                   f"{1000 / statistics.mean(figure.base):.0f} req/s static")
    return figure


def figures(*, quick: bool, log=print) -> list[Figure]:
    size = corpus.QUICK if quick else corpus.FULL
    store_path = corpus.cached_store(size, log=log)
    measured = asyncio.run(measure(store_path, size, 20 if quick else 300))
    for figure in measured:
        log(f"{figure.name}: {figure.note}")
    return measured + metrics_figures.figures(quick=quick, log=log)  # /metrics beside itself at 1,000 links
