"""Fetching titles: 2,000 links against local pages that each take 200 ms, beside the ideal.

    python bench/bench_enrich.py [--links 2000] [--latency 0.2] [--hosts 20]

The pages are served by one aiohttp application listening on `--hosts` loopback addresses
(127.0.0.2, 127.0.0.3, ...), each page answering after `--latency` seconds, as a slow site would.
The links are spread evenly over the hosts, so the per-host limit (2 by default) does not cap the
run below the total limit. They are filed into a fresh SQLite store, then the worker
(`Enricher.run`, with the default settings: 8 pages at once, 2 per host) fetches them all through
the guarded client, with 127.0.0.0/8 allow-listed for this run alone.

The ideal is links x latency / concurrency: what perfect use of the 8 slots would take. The ratio
(wall / ideal) is the price of everything around the wait: the address check, parsing each head,
writing each page to the store, and how well the work is spread over the slots. CPU time is the
process's own (user + system) for the whole run, divided per link.

Results go to standard output as Markdown, for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web  # noqa: E402

from watchbot.enrich.worker import Enricher  # noqa: E402
from watchbot.fetch import FetchOptions, parse_allow_networks  # noqa: E402
from watchbot.intake import Rules, file_post  # noqa: E402
from watchbot.model import Post, Source, utcnow  # noqa: E402
from watchbot.store import Store  # noqa: E402
from watchbot.store.links import LinkStore  # noqa: E402
from watchbot.store.pages import LinkPages  # noqa: E402

PAGE = """<!doctype html><html lang="en"><head><title>Page {n}</title>
<meta property="og:title" content="Page number {n}"><meta property="og:site_name" content="Bench">
<meta property="og:description" content="A page that took its time to answer.">
</head><body>{filler}</body></html>"""


async def serve(hosts: list[str], latency: float) -> tuple[web.AppRunner, int]:
    filler = "<p>text</p>" * 200  # a page of about 2 KB beyond its head

    async def page(request: web.Request) -> web.Response:
        await asyncio.sleep(latency)
        return web.Response(text=PAGE.format(n=request.match_info["n"], filler=filler), content_type="text/html")

    app = web.Application()
    app.router.add_get("/page/{n}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    first = web.TCPSite(runner, hosts[0], 0)
    await first.start()
    port = first._server.sockets[0].getsockname()[1]
    for host in hosts[1:]:
        await web.TCPSite(runner, host, port).start()
    return runner, port


async def main(links: int, latency: float, host_count: int) -> None:
    hosts = [f"127.0.0.{n}" for n in range(2, 2 + host_count)]
    runner, port = await serve(hosts, latency)
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/bench.db"
        options = FetchOptions(allow=parse_allow_networks("127.0.0.0/8"))  # the defaults otherwise
        store = await Store.open(url)
        for n in range(links):
            await file_post(store, Post(source=Source.CLI, place="bench", author_id="cli:bench", author_name="bench",
                                        text=f"http://{hosts[n % host_count]}:{port}/page/{n}", event_id=f"b{n}"),
                            Rules())
        enricher = Enricher.from_options(store, options)
        pages = LinkPages(store)
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        worker = asyncio.create_task(enricher.run())
        while await pages.due(utcnow(), 1):
            await asyncio.sleep(0.05)
        # The last batch is being written: wait until every link has its title.
        while (await LinkStore(store).search("number", limit=links)).__len__() < links:
            await asyncio.sleep(0.05)
        wall = time.perf_counter() - wall_before
        cpu = time.process_time() - cpu_before
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await store.close()
    await runner.cleanup()

    ideal = links * latency / options.concurrency
    print(f"## Fetching titles ({date.today().isoformat()})\n")
    print(f"Python {platform.python_version()}, {os.cpu_count()} cores; "
          f"`python bench/bench_enrich.py --links {links} --latency {latency} --hosts {host_count}`\n")
    print("| links | latency | concurrency (total / per host) | ideal | wall | wall / ideal | CPU per link |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {links} | {latency * 1000:.0f} ms | {options.concurrency} / {options.per_host} "
          f"| {ideal:.1f} s | {wall:.1f} s | {wall / ideal:.2f}x | {cpu / links * 1000:.2f} ms |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--hosts", type=int, default=20)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.links, arguments.latency, arguments.hosts))
