"""From mention to answer on a server without streaming, at default settings, and what idling costs.

    python bench/bench_no_streaming.py [--quiet 20] [--busy 20] [--idle-seconds 300]

The server is the test suite's stand-in for a server that speaks Mastodon's API without being
Mastodon (tests/mastodon_server.py, OTHER_SERVER: no streaming API at all), on 127.0.0.1. The bot
is FediverseAdapter over a SQLite store, in-process, with default settings (streaming asked for,
WATCHBOT_FEDIVERSE_POLL_SECONDS at its default), in real time: no clock is scaled.

- quiet: a mention to a bot that has heard nothing for a while (a bot just started, its first
  poll done, is in that state), made at a random moment of its polling cycle; one bot per sample.
- busy: mentions one after the other, each at a random moment after the previous answer, as in
  a conversation (the bot polls at its faster pace after a mention).
- idle: a bot left alone, counting every request it makes (the stand-in's front sees them all).

A latency runs from the moment the mention's post returned to the moment the server answered the
bot's reply (seen by the front, so the measurement itself adds no requests). Goal: median <= 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.mastodon_server import OTHER_SERVER, MastodonServer, running_mastodon  # noqa: E402
from watchbot.config import Settings  # noqa: E402
from watchbot.intake import Rules  # noqa: E402
from watchbot.networks.fediverse import CURSOR, FediverseAdapter  # noqa: E402
from watchbot.store import Store  # noqa: E402
from watchbot.store.cursors import CursorStore  # noqa: E402


class Bench:
    def __init__(self, server: MastodonServer, workdir: Path) -> None:
        self.server = server
        self.workdir = workdir
        self.person = server.create_account(f"person{uuid.uuid4().hex[:6]}")
        self.client = server.client(self.person)

    async def bot(self) -> tuple[FediverseAdapter, Store, asyncio.Task]:
        """A new bot account and a fresh bot on it, started and past its first poll."""
        account = self.server.create_account(f"bot{uuid.uuid4().hex[:6]}", bot=True)
        url = f"sqlite:///{self.workdir / (account.username + '.db')}"
        settings = Settings(_env_file=None, database_url=url, fediverse_instance=self.server.url,
                            fediverse_access_token=account.access_token)  # defaults otherwise
        store = await Store.open(url)
        adapter = FediverseAdapter.from_settings(settings, store, Rules())
        adapter.bench_account = account
        task = asyncio.create_task(adapter.run())
        while await CursorStore(store).get(CURSOR) is None:
            await asyncio.sleep(0.05)
        return adapter, store, task

    async def stop(self, adapter: FediverseAdapter, store: Store, task: asyncio.Task) -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()

    async def latency(self, adapter: FediverseAdapter, n: int) -> float:
        """Mention the bot; seconds until the server took its reply."""
        text = f"@{adapter.bench_account.username} https://bench.example/{uuid.uuid4().hex}/{n}"
        await asyncio.to_thread(self.client.status_post, text)
        posted = time.monotonic()
        seen = len(self.server.front.passed)
        while True:
            for passed in self.server.front.passed[seen:]:
                if passed.method == "POST" and passed.path == "/api/v1/statuses" and passed.at > posted:
                    return passed.at - posted
            await asyncio.sleep(0.02)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, values: list[float]) -> str:
    return (f"| {name} | {len(values)} | {statistics.median(values):.1f} s | {quantile(values, 0.95):.1f} s "
            f"| {max(values):.1f} s |")


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    rng = random.Random(args.seed)
    pace = Settings.model_fields["fediverse_poll_seconds"].default
    with tempfile.TemporaryDirectory() as tmp, running_mastodon(Path(tmp) / "server", profile=OTHER_SERVER) as server:
        bench = Bench(server, Path(tmp))
        quiet = []
        for n in range(args.quiet):
            adapter, store, task = await bench.bot()
            await asyncio.sleep(rng.uniform(0, pace))  # a random moment of its quiet cycle
            quiet.append(await bench.latency(adapter, n))
            await bench.stop(adapter, store, task)
            print(f"quiet {n + 1}/{args.quiet}: {quiet[-1]:.2f} s", file=sys.stderr)

        adapter, store, task = await bench.bot()
        await bench.latency(adapter, -1)  # the conversation's first mention
        busy = []
        for n in range(args.busy):
            await asyncio.sleep(rng.uniform(0, adapter.pace.active * 2))
            busy.append(await bench.latency(adapter, n))
            print(f"busy {n + 1}/{args.busy}: {busy[-1]:.2f} s", file=sys.stderr)
        await bench.stop(adapter, store, task)

        adapter, store, task = await bench.bot()
        await asyncio.sleep(adapter.pace.active_for)  # past the faster pace of its start, if any
        since = len(server.front.passed)
        await asyncio.sleep(args.idle_seconds)
        idle = server.front.passed[since:]
        await bench.stop(adapter, store, task)

    print(f"\n{date.today()}, Python {platform.python_version()}, {platform.machine()}, "
          f"default settings (WATCHBOT_FEDIVERSE_POLL_SECONDS={pace}), seed {args.seed}\n")
    print("| mentions | count | median | p95 | max |")
    print("|---|---|---|---|---|")
    print(line("to a quiet bot", quiet))
    print(line("in a conversation", busy))
    print(line("all", quiet + busy))
    paths: dict[str, int] = {}
    for passed in idle:
        paths[f"{passed.method} {passed.path}"] = paths.get(f"{passed.method} {passed.path}", 0) + 1
    per_five = len(idle) * 300 / args.idle_seconds
    print(f"\nidle: {len(idle)} requests in {args.idle_seconds:g} s = {per_five:.0f} per 5 minutes "
          f"({per_five / 300:.0%} of Mastodon's 300); {paths}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", type=int, default=20, help="mentions to a quiet bot")
    parser.add_argument("--busy", type=int, default=20, help="mentions in a conversation")
    parser.add_argument("--idle-seconds", type=float, default=300.0, help="how long to count an idle bot's requests")
    parser.add_argument("--seed", type=int, default=15)
    asyncio.run(main(parser.parse_args()))
