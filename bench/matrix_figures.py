"""Matrix: the bot beside a bare nio client doing the same protocol work on the same Synapse.

A throwaway Synapse (the test suite's, on 127.0.0.1) holds two rooms of three members with the
same sender: one with watchbot (`MatrixAdapter(...).run()` in this process, SQLite store), one
with a plain reactor: a bare nio client with no store and no intake, which syncs the same way
(30 s long-poll from its last position), fills a gap after downtime the same way (`/messages`
forwards from its last position, oldest first, pages of 100, the next page read while this one is
handled, as the adapter's `_fill_gap`), and answers every message from someone else with an
`m.reaction`, sent by a sender task of its own as the adapter's outbox sends them: in waves of up to
SEND_WINDOW (8) at once, each wave started when the one before is done. The third member never
syncs: a room of two is a private conversation to the bot. The gate's limits are raised so that
neither side refuses anything.

- Reaction: the sender posts one link, the next only once the reaction to the previous one
  arrived; the time from just before `room_send` to the sync response of the sender's own client
  that carries the reaction. One message per side in turn (A B B A ...).
- Catch-up: the reader (the bot, or the plain client) is stopped; the sender posts N messages
  with one link each; the reader starts again, and two times are taken from its start: every
  message filed (the bot: its store holds N new shares; the plain client: it has read N
  messages), and every reaction seen by the sender. Rounds alternate which side goes first, in
  the harness's mirrored order (bare, bot, bot, bare, ...): which side ran first on the same
  Synapse moved the ratio (2.34× one way, 0.96× the other), so each order's rounds are also
  given as figures of their own.
- Memory: `watchbot run` as an operator starts it (Matrix on this Synapse, an SQLite store
  already made, as at any start but the first), its resident memory (VmRSS from /proc) once its first sync is done and it has been idle
  for a few seconds; beside a bare nio client process, syncing the same account type idle.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nio

from bench.harness import Figure, interleave
from watchbot.config import Settings
from watchbot.devserver import running_synapse
from watchbot.intake import Rules
from watchbot.networks.matrix import BACKFILL_PAGE, SYNC_TIMEOUT_MS, MatrixAdapter
from watchbot.networks.matrix.adapter import SEND_WINDOW
from watchbot.processes import stop
from watchbot.store import Store

ROOT = Path(__file__).resolve().parent.parent
REACTION_TIMEOUT = 30.0
# The gap of the catch-up rows (issue 14: 10,000); WATCHBOT_BENCH_GAP sets another for a shorter run.
CATCH_UP_GAP = int(os.environ.get("WATCHBOT_BENCH_GAP", "10000"))
PLAIN_KEY = "👍"
CLIENT_CONFIG = nio.AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, encryption_enabled=False,
                                      store_sync_tokens=False)


class Watcher:
    """The sender's own client, syncing in its own task: when each reaction arrives."""

    def __init__(self, client: nio.AsyncClient, reactors: set[str]) -> None:
        self.client = client
        self.reactors = reactors
        self.arrived: dict[str, float] = {}  # event id reacted to -> perf_counter at receipt

    async def run(self) -> None:
        while True:
            response = await self.client.sync(timeout=SYNC_TIMEOUT_MS)
            received = time.perf_counter()
            if not isinstance(response, nio.SyncResponse):
                await asyncio.sleep(1)
                continue
            for info in response.rooms.join.values():
                for event in info.timeline.events:
                    source = event.source
                    if source.get("type") == "m.reaction" and source.get("sender") in self.reactors:
                        target = source.get("content", {}).get("m.relates_to", {}).get("event_id")
                        self.arrived.setdefault(target, received)

    async def all_reacted(self, event_ids: list[str], timeout: float) -> float:
        """When the last of these events' reactions arrived (perf_counter)."""
        deadline = time.perf_counter() + timeout
        while not all(e in self.arrived for e in event_ids):
            if time.perf_counter() > deadline:
                missing = sum(e not in self.arrived for e in event_ids)
                raise TimeoutError(f"{missing} of {len(event_ids)} reactions missing after {timeout:g} s")
            await asyncio.sleep(0.005)
        return max(self.arrived[e] for e in event_ids)


class PlainReactor:
    """A bare nio client doing the protocol work the bot does, and nothing else."""

    def __init__(self, client: nio.AsyncClient, since: str) -> None:
        self.client = client
        self.since = since
        self.read = 0  # messages read from others
        self._outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_forever())
        try:
            while True:
                response = await self.client.sync(timeout=SYNC_TIMEOUT_MS, since=self.since)
                if not isinstance(response, nio.SyncResponse):
                    await asyncio.sleep(1)
                    continue
                for room_id, info in response.rooms.join.items():
                    if info.timeline.limited:
                        await self._fill_gap(room_id, info.timeline.prev_batch)
                    self._take(room_id, [e.source for e in info.timeline.events])
                self.since = response.next_batch
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    def _take(self, room_id: str, events: list[dict]) -> None:
        """Count the messages from others and owe each a reaction."""
        for event in events:
            if event.get("type") == "m.room.message" and event.get("sender") != self.client.user_id:
                self.read += 1
                self._outbox.put_nowait((room_id, event["event_id"]))

    async def _fill_gap(self, room_id: str, prev_batch: str | None) -> None:
        """As the adapter's `_fill_gap`: oldest first, page by page, the next page read while
        this one is handled (here: counted, and its reactions owed at once)."""
        if not (self.since and prev_batch):
            return

        def read(token: str) -> asyncio.Task:
            return asyncio.create_task(self.client.room_messages(
                room_id, start=token, end=prev_batch, direction=nio.MessageDirection.front, limit=BACKFILL_PAGE))

        token = self.since
        ahead = read(token)
        try:
            while ahead is not None:
                page = await ahead
                ahead = None
                if not isinstance(page, nio.RoomMessagesResponse):
                    break
                if page.chunk and page.end and page.end != token:
                    token = page.end
                    ahead = read(token)
                self._take(room_id, [event.source for event in page.chunk])
        finally:
            if ahead is not None:
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)

    async def _send_forever(self) -> None:
        """As the adapter's outbox sends reactions: what is owed, up to SEND_WINDOW at once, a wave
        at a time."""
        while True:
            wave = [await self._outbox.get()]
            while len(wave) < SEND_WINDOW and not self._outbox.empty():
                wave.append(self._outbox.get_nowait())
            await asyncio.gather(*(self._react(room_id, event_id) for room_id, event_id in wave))

    async def _react(self, room_id: str, event_id: str) -> None:
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": PLAIN_KEY}}
        await self.client.room_send(room_id, "m.reaction", content)


async def logged_in(url: str, user) -> nio.AsyncClient:
    client = nio.AsyncClient(url, user.user_id, store_path=None, config=CLIENT_CONFIG)
    client.restore_login(user_id=user.user_id, device_id=user.device_id, access_token=user.access_token)
    response = await client.sync(timeout=0)
    if not isinstance(response, nio.SyncResponse):
        await client.close()
        raise RuntimeError(f"first sync of {user.user_id} failed: {response}")
    return client


async def wait_until_joined(client: nio.AsyncClient, room_id: str, user_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = await client.joined_members(room_id)
        if isinstance(state, nio.JoinedMembersResponse) and any(m.user_id == user_id for m in state.members):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{user_id} did not join {room_id} within {timeout:g} s")


class Bench:
    """Synapse's users and rooms, the bot and the plain reactor, for the in-process figures."""

    def __init__(self, server, scratch: Path) -> None:
        self.server = server
        self.scratch = scratch
        self.tasks: dict[str, asyncio.Task] = {}
        self.clients: list[nio.AsyncClient] = []

    async def start(self) -> None:
        server = self.server
        sender_user, self.bot_user = server.register("sender"), server.register("watchbot")
        self.plain_user, bystander_user = server.register("plain"), server.register("bystander")
        self.db_path = self.scratch / "watchbot.db"
        self.settings = Settings(
            _env_file=None, database_url=f"sqlite:///{self.db_path}", matrix_homeserver=server.url,
            matrix_user_id=self.bot_user.user_id, matrix_access_token=self.bot_user.access_token,
            matrix_device_id=self.bot_user.device_id, matrix_allowed_inviters=[sender_user.user_id],
            links_per_hour=10_000, links_per_day=100_000,
        )
        self.store = await Store.open(self.settings.database_url)
        self.sender = await logged_in(server.url, sender_user)
        bystander = await logged_in(server.url, bystander_user)
        self.clients += [self.sender, bystander]
        self.start_bot()
        self.rooms = {}
        for name, invitee in (("plain", self.plain_user), ("watchbot", self.bot_user)):
            created = await self.sender.room_create(name=f"bench {name}",
                                                    invite=[invitee.user_id, bystander_user.user_id])
            if not isinstance(created, nio.RoomCreateResponse):
                raise RuntimeError(f"could not create the {name} room: {created}")
            self.rooms[name] = created.room_id
            await bystander.join(created.room_id)
        plain = await logged_in(server.url, self.plain_user)
        await plain.join(self.rooms["plain"])
        await wait_until_joined(self.sender, self.rooms["watchbot"], self.bot_user.user_id)
        await plain.sync(timeout=0)
        self.plain_since = plain.next_batch
        await plain.close()
        await self.start_plain()
        await self.sender.sync(timeout=0)
        self.watcher = Watcher(self.sender, {self.bot_user.user_id, self.plain_user.user_id})
        self.tasks["watcher"] = asyncio.create_task(self.watcher.run())

    def start_bot(self) -> None:
        self.tasks["watchbot"] = asyncio.create_task(MatrixAdapter.from_settings(self.settings, self.store, Rules()).run())

    async def start_plain(self) -> None:
        client = nio.AsyncClient(self.server.url, self.plain_user.user_id, store_path=None, config=CLIENT_CONFIG)
        client.restore_login(user_id=self.plain_user.user_id, device_id=self.plain_user.device_id,
                             access_token=self.plain_user.access_token)
        self.plain = PlainReactor(client, self.plain_since)
        self.tasks["plain"] = asyncio.create_task(self.plain.run())

    async def stop(self, name: str) -> None:
        task = self.tasks.pop(name)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if name == "plain":
            self.plain_since = self.plain.since
            await self.plain.client.close()

    async def close(self) -> None:
        for name in list(self.tasks):
            await self.stop(name)
        for client in self.clients:
            await client.close()
        await self.store.close()

    def check_alive(self) -> None:
        for name, task in self.tasks.items():  # a reader that died would only show up as timeouts
            if task.done():
                task.result()
                raise RuntimeError(f"{name} stopped")

    async def send(self, side: str, body: str) -> tuple[str, float]:
        sent = time.perf_counter()
        response = await self.sender.room_send(self.rooms[side], "m.room.message", {"msgtype": "m.text", "body": body})
        if not isinstance(response, nio.RoomSendResponse):
            raise RuntimeError(f"send failed: {response}")
        return response.event_id, sent

    async def round_trip(self, side: str, body: str) -> float:
        self.check_alive()
        event_id, sent = await self.send(side, body)
        return (await self.watcher.all_reacted([event_id], REACTION_TIMEOUT) - sent) * 1000

    def bot_shares(self) -> int:
        connection = sqlite3.connect(self.db_path)
        try:
            return connection.execute("SELECT count(*) FROM shares").fetchone()[0]
        finally:
            connection.close()

    async def catch_up(self, side: str, count: int, tag: str) -> tuple[float, float]:
        """(seconds until every message was filed or read, seconds until every reaction was seen)."""
        await self.stop(side)
        before = self.bot_shares() if side == "watchbot" else 0
        sent = []
        for start in range(0, count, 10):  # ten in flight: the sending is not measured
            sent += await asyncio.gather(*(self.send(side, f"https://catchup.example/{tag}/{i}")
                                           for i in range(start, min(start + 10, count))))
        event_ids = [event_id for event_id, _ in sent]
        began = time.perf_counter()
        if side == "watchbot":
            self.start_bot()
            while self.bot_shares() - before < count:
                self.check_alive()
                await asyncio.sleep(0.01)
        else:
            await self.start_plain()
            while self.plain.read < count:
                self.check_alive()
                await asyncio.sleep(0.001)
        filed = time.perf_counter() - began
        reacted = await self.watcher.all_reacted(event_ids, max(300.0, count * 0.2)) - began
        return filed, reacted


async def in_process_figures(server, scratch: Path, *, quick: bool) -> list[Figure]:
    bench = Bench(server, scratch)
    await bench.start()
    try:
        reaction = Figure("Matrix: a member's message to the bot's reaction, as the member sees it, vs a bare nio "
                          "reactor on the same Synapse", "ms", base_name="bare nio", target="≤ 1.1×", max_ratio=1.1)
        await interleave(reaction,
                         lambda i: bench.round_trip("watchbot", f"https://bench.example/bot/{i}"),
                         lambda i: bench.round_trip("plain", f"https://bench.example/plain/{i}"),
                         repeat=6 if quick else 200, warmup=1 if quick else 5)
        return [reaction, *await catch_up_figures(bench, 10 if quick else CATCH_UP_GAP, rounds=2)]
    finally:
        await bench.close()


async def catch_up_figures(bench: Bench, count: int, *, rounds: int) -> list[Figure]:
    """The catch-up rows: a gap of `count` messages, each side `rounds` times, in the harness's
    mirrored order (round 0: bare then bot, round 1: bot then bare, ...); then the same rows
    for the rounds where the bot ran first and for those where the bare client did."""
    filed = Figure(f"Matrix catch-up of {count:,} messages after downtime: all filed vs a bare nio client "
                   "reading them", "s", base_name="bare nio", target="≤ 1.5×", max_ratio=1.5)
    reacted = Figure(f"Matrix catch-up of {count:,} messages after downtime: all reactions seen vs a bare nio "
                     "client reacting to them, both up to 8 at once", "s", base_name="bare nio", target="≤ 1.5×",
                     max_ratio=1.5)
    results: dict[str, list[float]] = {}

    async def side(name: str, i: int) -> float:
        got, seen = await bench.catch_up(name, count, f"{name}{i}")
        results.setdefault(name, []).append(seen)
        return got

    await interleave(filed, lambda i: side("watchbot", i), lambda i: side("plain", i), repeat=rounds)
    reacted.ours, reacted.base = results["watchbot"], results["plain"]
    reacted.load_before, reacted.load_after = filed.load_before, filed.load_after
    return [filed, reacted, *by_order(filed, "all filed"), *by_order(reacted, "all reactions seen")]


def by_order(figure: Figure, what: str) -> list[Figure]:
    """`figure`'s rounds split by which side ran first (harness.interleave: the baseline in even
    rounds), each a figure of its own without a target: they show how much the order weighs."""
    split = []
    for first, parity in (("the bot", 1), ("the bare client", 0)):
        part = Figure(f"Matrix catch-up, {what}, rounds where {first} ran first", figure.unit,
                      base_name=figure.base_name, target="–",
                      ours=figure.ours[parity::2], base=figure.base[parity::2])
        part.load_before, part.load_after = figure.load_before, figure.load_after
        split.append(part)
    return split


# -- memory of `watchbot run`, in a process of its own -------------------------------------------

_BARE_CLIENT = """
import asyncio, os, sys, nio
async def main():
    client = nio.AsyncClient(os.environ["HS"], os.environ["USER_ID"], store_path=None)
    client.restore_login(os.environ["USER_ID"], os.environ["DEVICE_ID"], os.environ["TOKEN"])
    first = True
    while True:
        response = await client.sync(timeout=0 if first else 30000, since=client.next_batch)
        if first:
            print("synced", flush=True)
            first = False
asyncio.run(main())
"""


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS:")).split()[1]) / 1024


def _resident(command: list[str], env: dict[str, str], ready, settle: float) -> float:
    """Start a process, wait until `ready()` says it has started, let it settle, read its RSS (MB)."""
    process = subprocess.Popen(command, env=env, cwd=env["HOME"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ready(process):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[:3]} did not start (exit {process.returncode})")
            time.sleep(0.1)
        time.sleep(settle)
        return _rss_mb(process.pid)
    finally:
        stop(process, 10)


def memory_figure(server, scratch: Path, *, quick: bool) -> Figure:
    figure = Figure("resident memory of `watchbot run`, idle (Matrix on Synapse, SQLite) vs a bare nio client "
                    "process syncing", "MB", base_name="bare nio", target="< 70 MB", max_median=70.0)
    bot, plain = server.register("memorybot"), server.register("memoryplain")
    settle = 1.0 if quick else 5.0

    def ours(i: int) -> float:
        home = scratch / f"memory-{i}"
        home.mkdir(exist_ok=True)
        database = home / "watchbot.db"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "PYTHONPATH": str(ROOT),
               "WATCHBOT_DATABASE_URL": f"sqlite:///{database}", "WATCHBOT_MATRIX_HOMESERVER": server.url,
               "WATCHBOT_MATRIX_USER_ID": bot.user_id, "WATCHBOT_MATRIX_ACCESS_TOKEN": bot.access_token,
               "WATCHBOT_MATRIX_DEVICE_ID": bot.device_id}

        def ready(_process) -> bool:  # the first sync is done when Matrix's heartbeat is in the store
            try:
                connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
                try:
                    beat = connection.execute("SELECT 1 FROM heartbeats WHERE network = 'matrix'").fetchone()
                    return beat is not None
                finally:
                    connection.close()
            except sqlite3.Error:
                return False

        # The store made first, as a bot restarted on its store finds it: a first start migrates
        # (Alembic, 48 MB of imports) once, which is not what an idle bot holds from then on.
        subprocess.run([sys.executable, "-m", "watchbot", "links", "list"], env=env, cwd=home, check=True,
                       stdout=subprocess.DEVNULL)
        return _resident([sys.executable, "-m", "watchbot", "run"], env, ready, settle)

    def base(i: int) -> float:
        home = scratch / f"memory-plain-{i}"
        home.mkdir(exist_ok=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "HS": server.url,
               "USER_ID": plain.user_id, "DEVICE_ID": plain.device_id, "TOKEN": plain.access_token}
        return _resident([sys.executable, "-c", _BARE_CLIENT], env,
                         lambda process: process.stdout.readline().strip() == "synced", settle)

    asyncio.run(interleave(figure, ours, base, repeat=1 if quick else 3))
    return figure


def figures(*, quick: bool, log=print) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as scratch, \
            running_synapse(Path(scratch) / "synapse") as server:
        found = asyncio.run(in_process_figures(server, Path(scratch), quick=quick))
        found.append(memory_figure(server, Path(scratch), quick=quick))
    return found


def catch_up_only(gap: int, rounds: int) -> list[Figure]:
    """The catch-up rows alone, on a throwaway Synapse (no reaction or memory rows)."""
    async def run(server, scratch: Path) -> list[Figure]:
        bench = Bench(server, scratch)
        await bench.start()
        try:
            return await catch_up_figures(bench, gap, rounds=rounds)
        finally:
            await bench.close()

    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as scratch, \
            running_synapse(Path(scratch) / "synapse") as server:
        return asyncio.run(run(server, Path(scratch)))


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.matrix_figures --gap 2000 --rounds 4`: the catch-up rows alone."""
    import argparse
    from datetime import datetime, timezone

    from bench import harness

    parser = argparse.ArgumentParser(prog="python -m bench.matrix_figures", description=catch_up_only.__doc__)
    parser.add_argument("--gap", type=int, default=CATCH_UP_GAP, help="messages sent while the reader is down")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of each side, in the mirrored order")
    args = parser.parse_args(argv)
    before = harness.machine()
    began = datetime.now(timezone.utc)
    found = catch_up_only(args.gap, args.rounds)
    print(f"`python -m bench.matrix_figures --gap {args.gap} --rounds {args.rounds}`, {began:%Y-%m-%d %H:%M}–"
          f"{datetime.now(timezone.utc):%H:%M} UTC\n")
    print(f"Before: {before}  \nAfter: {harness.machine()}\n")
    print(harness.table(found))
    for figure in found[:2]:
        print(f"\n{figure.name}: per round, ours / base (s): "
              + ", ".join(f"{a:.1f} / {b:.1f}" for a, b in zip(figure.ours, figure.base, strict=False)))


if __name__ == "__main__":
    main()
