"""A member's answer and the operator's /healthz while readers load the heaviest page (issue 25).

`watchbot run` as an operator runs it, in a process of its own: Matrix on a throwaway Synapse
(the test suite's, on 127.0.0.1), the web pages on, on a copy of the store of bench/corpus.py
(1,000,000 links in the full size). A member (a nio client in this process) sends a link in a room
with the bot and a bystander; the time is from just before the send to the sync response of the
member's own client that carries the bot's reaction (as bench/matrix_figures.py). After each
reaction, one GET of /healthz, timed as a monitor sees it.

- The heaviest page: each of PAGES fetched a few times, once unmeasured first; the slowest median.
- Blocks without readers and with READERS readers looping on that page (bench/looping_readers.py,
  a process of its own, as readers elsewhere on the network), in the order A B B A ...: the
  reaction with readers against without (target ≤ 1.2×), and /healthz's p95 with readers against
  without (target ≤ 3×).

The machine has two cores for Synapse, the bot, the readers' process and this one: the readers
take what the bot leaves, which is the point.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import nio

from bench import corpus
from bench.harness import Figure, load
from bench.matrix_figures import REACTION_TIMEOUT, Watcher, logged_in, wait_until_joined
from watchbot.devserver import running_synapse
from watchbot.processes import free_port, stop

ROOT = Path(__file__).resolve().parent.parent
READERS = 20
PAGES = ("/", "/tags", "/tags/rust", "/weeks", "/search?q=rust", "/api/links", "/api/links?tag=rust", "/api/tags",
         "/api/search?q=rust", "/feeds/links.atom")  # not /metrics: it is never open to readers
START_TIMEOUT = 300.0  # `watchbot run` on a million links: its first sync and its web server


class Running:
    """`watchbot run` on its own process, its room, and the member who sends links."""

    def __init__(self, server, scratch: Path, store_path: Path) -> None:
        self.server, self.scratch, self.store_path = server, scratch, store_path
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.sent = 0

    async def start(self) -> None:
        member, bot, bystander_user = (self.server.register(name) for name in ("member", "readersbot", "bystander"))
        self.bot_id = bot.user_id
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.scratch),
               "PYTHONPATH": str(ROOT), "WATCHBOT_DATABASE_URL": f"sqlite:///{self.store_path}",
               "WATCHBOT_MATRIX_HOMESERVER": self.server.url, "WATCHBOT_MATRIX_USER_ID": bot.user_id,
               "WATCHBOT_MATRIX_ACCESS_TOKEN": bot.access_token, "WATCHBOT_MATRIX_DEVICE_ID": bot.device_id,
               "WATCHBOT_MATRIX_ALLOWED_INVITERS": member.user_id, "WATCHBOT_LINKS_PER_HOUR": "10000",
               "WATCHBOT_LINKS_PER_DAY": "100000", "WATCHBOT_WEB_PORT": str(self.port),
               "WATCHBOT_WEB_BASE_URL": self.base}
        self.log = open(self.scratch / "watchbot.log", "wb")  # noqa: SIM115 - closed in close()
        self.bot = subprocess.Popen([sys.executable, "-m", "watchbot", "run"], env=env, cwd=self.scratch,
                                    stdout=self.log, stderr=subprocess.STDOUT)
        self.member = await logged_in(self.server.url, member)
        self.bystander = await logged_in(self.server.url, bystander_user)
        created = await self.member.room_create(name="readers bench", invite=[bot.user_id, bystander_user.user_id])
        if not isinstance(created, nio.RoomCreateResponse):
            raise RuntimeError(f"could not create the room: {created}")
        self.room = created.room_id
        await self.bystander.join(self.room)
        await wait_until_joined(self.member, self.room, bot.user_id, timeout=START_TIMEOUT)
        await self.member.sync(timeout=0)
        self.watcher = Watcher(self.member, {bot.user_id})
        self.watching = asyncio.create_task(self.watcher.run())
        self.web = aiohttp.ClientSession(self.base, timeout=aiohttp.ClientTimeout(total=120))
        deadline = time.monotonic() + START_TIMEOUT
        while True:  # the web pages answer (the bot joined, so they are on their way)
            try:
                async with self.web.get("/healthz") as answer:
                    await answer.read()
                break
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline or self.bot.poll() is not None:
                    raise RuntimeError(f"watchbot's web pages never answered; see {self.scratch / 'watchbot.log'}")
                await asyncio.sleep(0.2)

    async def reaction(self) -> float:
        """ms from the member's send to the bot's reaction in the member's sync."""
        if self.bot.poll() is not None:
            raise RuntimeError(f"watchbot stopped; see {self.scratch / 'watchbot.log'}")
        self.sent += 1
        began = time.perf_counter()
        response = await self.member.room_send(self.room, "m.room.message",
                                               {"msgtype": "m.text", "body": f"https://readers.example/{self.sent}"})
        if not isinstance(response, nio.RoomSendResponse):
            raise RuntimeError(f"send failed: {response}")
        return (await self.watcher.all_reacted([response.event_id], REACTION_TIMEOUT) - began) * 1000

    async def fetch(self, path: str) -> float:
        """ms for one GET of `path`, its whole answer read."""
        began = time.perf_counter()
        async with self.web.get(path) as answer:
            await answer.read()
        return (time.perf_counter() - began) * 1000

    async def close(self) -> None:
        self.watching.cancel()
        await asyncio.gather(self.watching, return_exceptions=True)
        await self.web.close()
        await self.member.close()
        await self.bystander.close()
        stop(self.bot, 30)
        self.log.close()


async def heaviest(running: Running, tries: int) -> tuple[str, dict[str, float]]:
    """The page that costs most to make: each asked at new addresses (a counter in the query), so
    that no answer kept a few seconds serves it, once unmeasured first."""
    medians = {}
    for path in PAGES:
        joiner = "&" if "?" in path else "?"
        await running.fetch(f"{path}{joiner}probe=first")
        medians[path] = statistics.median([await running.fetch(f"{path}{joiner}probe={n}") for n in range(tries)])
    return max(medians, key=medians.__getitem__), medians


class LoopingReaders:
    """bench/looping_readers.py on `url`, started and stopped per block."""

    def __init__(self, url: str, readers: int, *, new_addresses: bool) -> None:
        self.url, self.readers, self.new_addresses = url, readers, new_addresses
        self.answers = 0
        self.refused = 0
        self.seconds = 0.0

    def __enter__(self) -> LoopingReaders:
        command = [sys.executable, "-m", "bench.looping_readers", self.url, str(self.readers)]
        self.process = subprocess.Popen(command + (["--new-addresses"] if self.new_addresses else []),
                                        cwd=ROOT, stdout=subprocess.PIPE, text=True)
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the looping readers did not start")
        self.began = time.perf_counter()
        return self

    def __exit__(self, *_exc) -> None:
        self.process.terminate()
        said, _ = self.process.communicate(timeout=60)
        self.seconds += time.perf_counter() - self.began
        answers, refused = (int(part.split()[-1]) for part in said.strip().split(","))
        self.answers += answers
        self.refused += refused


async def measure(server, scratch: Path, store_path: Path, *, quick: bool, log=print) -> list[Figure]:
    running = Running(server, scratch, store_path)
    await running.start()
    try:
        page, medians = await heaviest(running, 3 if quick else 10)
        log("pages alone, made anew, median ms: " + ", ".join(f"{path} {ms:.1f}" for path, ms in medians.items()))
        for _ in range(1 if quick else 3):  # warm-up: the first links of a run file slower
            await running.reaction()
        found = []
        for new_addresses in (False, True):
            found += await _with_and_without(running, page, new_addresses=new_addresses, quick=quick)
        return found
    finally:
        await running.close()


async def _with_and_without(running: Running, page: str, *, new_addresses: bool, quick: bool) -> list[Figure]:
    """The reaction and /healthz in blocks without and with readers looping on `page`."""
    readers = LoopingReaders(running.base + page, READERS, new_addresses=new_addresses)
    kind = "at new addresses (nothing kept serves them)" if new_addresses else "at one address"
    who = f"{READERS} readers looping on {page}"
    reaction = Figure(f"readers {kind}: a member's Matrix message to the bot's reaction, with {who} vs without "
                      "(`watchbot run`, web on)", "ms", base_name="no readers", target="≤ 1.2×", max_ratio=1.2)
    health = Figure(f"readers {kind}: GET /healthz p95, with {who} vs without (`watchbot run`, web on)", "ms",
                    base_name="no readers", target="≤ 3× (p95)", max_ratio=3.0, compared=0.95)
    blocks, per_block = (2, 3) if quick else (8, 25)
    reaction.load_before = health.load_before = load()
    for block in range(blocks):
        loaded = block % 4 in (1, 2)  # A B B A: a drifting machine weighs on both
        side = "ours" if loaded else "base"
        with readers if loaded else _nothing():
            for _ in range(per_block):
                getattr(reaction, side).append(await running.reaction())
                getattr(health, side).append(await running.fetch("/healthz"))
    reaction.load_after = health.load_after = load()
    served = f"the readers got {readers.answers / max(readers.seconds, 1e-9):.0f} answers/s"
    if readers.refused:
        served += f" ({readers.refused} of {readers.answers} not 200)"
    reaction.note = health.note = served
    return [reaction, health]


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc) -> None:
        return None


def figures(*, quick: bool, log=print) -> list[Figure]:
    size = corpus.QUICK if quick else corpus.FULL
    cached = corpus.cached_store(size, log=log)
    with tempfile.TemporaryDirectory(prefix="bench-readers-") as scratch:
        store_path = Path(scratch) / "watchbot.db"
        shutil.copyfile(cached, store_path)  # the bot writes: never into the cache
        with running_synapse(Path(scratch) / "synapse") as server:
            measured = asyncio.run(measure(server, Path(scratch), store_path, quick=quick, log=log))
    for figure in measured:
        log(f"{figure.name}: {figure.note}")
    return measured
