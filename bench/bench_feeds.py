"""Polling feeds: 200 feeds per cycle, of which 195 have not changed and answer 304.

    python bench/bench_feeds.py [--feeds 200] [--changed 5] [--cycles 10] [--entries 50] [--latency 0.02]

The feeds are served by an aiohttp application in a process of its own (so the CPU time measured
is the poller's alone), listening on 20 loopback addresses (127.0.0.2, ...) so that the per-host
limit does not cap the run. Each feed is RSS 2.0 with `--entries` items (about 300 bytes each)
and answers each request after `--latency` seconds, 304 when the client's If-None-Match is its
current ETag. Before each cycle, outside the measured time, `--changed` feeds get one new entry.

The poller is `FeedPoller.poll_due` with the default settings (8 feeds at once, 2 per host), its
clock moved on by one interval per cycle so that every feed is due, filing into a fresh SQLite
store through the guarded client (127.0.0.0/8 allow-listed for this run alone). Measured:

- the first cycle: every feed fetched whole and parsed, its entries recorded (nothing filed);
- steady cycles with conditional requests: 304 for the unchanged feeds, the changed ones parsed
  and their new entry filed (the median of `--cycles` cycles);
- the same steady cycles against a server that ignores the validators (always 200): what the
  304s save.

Results go to standard output as Markdown, for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from watchbot.feeds.poller import FeedPoller  # noqa: E402
from watchbot.fetch import GuardedClient, parse_allow_networks  # noqa: E402
from watchbot.store import Store  # noqa: E402
from watchbot.store.feeds import FeedStore  # noqa: E402

HOSTS = [f"127.0.0.{n}" for n in range(2, 22)]
EVERY = timedelta(minutes=30)
START = datetime(2026, 11, 24, tzinfo=timezone.utc)


def rss(feed: int, version: int, entries: int) -> bytes:
    items = []
    for n in range(version + entries - 1, version - 1, -1):  # newest first, one more per version
        day = format_datetime(START + timedelta(hours=n), usegmt=True)
        items.append(f"<item><title>Feed {feed}, entry {n}: a title of a usual length</title>"
                     f"<link>https://site{feed}.example/posts/{n}</link><guid>feed-{feed}-entry-{n}</guid>"
                     f"<pubDate>{day}</pubDate><description>A summary of entry {n}, in a sentence or two, "
                     f"as most feeds give.</description></item>")
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Feed {feed}</title>"
            f"<link>https://site{feed}.example/</link>{''.join(items)}</channel></rss>").encode()


def serve(port_pipe, entries: int, latency: float) -> None:
    """The feeds' server, in its own process; /control changes feeds and modes between cycles."""
    versions: dict[int, int] = {}
    bodies: dict[tuple[int, int], bytes] = {}
    state = {"conditional": True}

    async def feed(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        version = versions.setdefault(n, 1)
        await asyncio.sleep(latency)
        etag = f'"{n}-{version}"'
        if state["conditional"] and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        if (n, version) not in bodies:
            bodies[(n, version)] = rss(n, version, entries)
        return web.Response(body=bodies[(n, version)], headers={"Content-Type": "application/rss+xml", "ETag": etag})

    async def control(request: web.Request) -> web.Response:
        for n in filter(None, request.query.get("bump", "").split(",")):
            versions[int(n)] = versions.get(int(n), 1) + 1
        if "conditional" in request.query:
            state["conditional"] = request.query["conditional"] == "1"
        return web.Response(text="ok")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{n}", feed)
        app.router.add_get("/control", control)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        first = web.TCPSite(runner, HOSTS[0], 0)
        await first.start()
        port = first._server.sockets[0].getsockname()[1]
        for host in HOSTS[1:]:
            await web.TCPSite(runner, host, port).start()
        port_pipe.send(port)
        await asyncio.Event().wait()

    asyncio.run(main())


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


async def cycle(poller: FeedPoller, clock: Clock) -> tuple[float, float, dict[str, int], int]:
    """One polling cycle: wall and CPU seconds, results by kind, entries filed."""
    clock.now += EVERY
    cpu, wall = time.process_time(), time.perf_counter()
    polled = await poller.poll_due()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    kinds: dict[str, int] = {}
    for result in polled:
        kinds[result.result.value] = kinds.get(result.result.value, 0) + 1
    return wall, cpu, kinds, sum(len(result.filed) for result in polled)


async def main(feeds: int, changed: int, cycles: int, entries: int, latency: float) -> None:
    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(target=serve, args=(send, entries, latency), daemon=True)
    server.start()
    port = receive.recv()
    control = f"http://{HOSTS[0]}:{port}/control"
    rows = []
    try:
        with tempfile.TemporaryDirectory() as directory:
            store = await Store.open(f"sqlite:///{directory}/bench.db")
            clock = Clock()
            client = GuardedClient(user_agent="watchbot-bench", allow=parse_allow_networks("127.0.0.0/8"))
            poller = FeedPoller(store, client, every=EVERY, clock=clock)
            for n in range(feeds):
                await FeedStore(store).add(f"http://{HOSTS[n % len(HOSTS)]}:{port}/feed/{n}", tags=(), alert=False,
                                           every=EVERY, backfill=0, added_by="bench", now=START)
            async with aiohttp.ClientSession() as session:
                first = await cycle(poller, clock)
                rows.append(("first poll (all fetched, nothing filed)", first))
                for conditional in (True, False):
                    await (await session.get(control, params={"conditional": "1" if conditional else "0"})).read()
                    runs = []
                    for c in range(cycles):
                        bumped = ",".join(str((c * changed + k) % feeds) for k in range(changed))
                        await (await session.get(control, params={"bump": bumped})).read()
                        runs.append(await cycle(poller, clock))
                    median = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
                    wall = statistics.median(run[0] for run in runs)
                    cpu = statistics.median(run[1] for run in runs)
                    label = ("steady, conditional requests (median)" if conditional
                             else "steady, server ignores validators (median)")
                    rows.append((label, (wall, cpu, median[2], median[3])))
            await client.aclose()
            await store.close()
    finally:
        server.kill()

    print(f"## Polling feeds ({date.today().isoformat()})\n")
    print(f"Python {platform.python_version()}, {os.cpu_count()} cores; `python bench/bench_feeds.py --feeds {feeds} "
          f"--changed {changed} --cycles {cycles} --entries {entries} --latency {latency}`\n")
    print("| cycle | feeds | answers | entries filed | wall | CPU | CPU per feed |")
    print("|---|---|---|---|---|---|---|")
    for label, (wall, cpu, kinds, filed) in rows:
        answers = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
        print(f"| {label} | {sum(kinds.values())} | {answers} | {filed} | {wall * 1000:.0f} ms | "
              f"{cpu * 1000:.0f} ms | {cpu / max(sum(kinds.values()), 1) * 1000:.2f} ms |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--changed", type=int, default=5)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.02)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.feeds, arguments.changed, arguments.cycles, arguments.entries, arguments.latency))
