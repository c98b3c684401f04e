"""From a message to the bot's reaction: watchbot's Matrix adapter beside a bare nio reactor, in one run.

    python bench/bench_matrix.py [--messages 200]

A throwaway Synapse (the test suite's, on 127.0.0.1) holds two rooms, both with the same sender:
one with the watchbot bot, run in-process as ``MatrixAdapter(settings, store, Rules()).run()``
over a SQLite store in a temporary directory, and one with a plain reactor: a bare nio client with
no store and no intake, which syncs in the same loop shape (``sync(timeout=30 s, since=…)``) and
answers every message from someone else with ``room_send`` of an ``m.reaction``. The ratio of the
two is the price of everything watchbot does between receiving a message and reacting to it
(reading the links, filing them with an fsync, saving the sync position, its send queue), with the
homeserver's own cost (persisting and fanning out two events, two long-polls waking up) common to
both.

Both are measured the same way. The sender posts message i (one distinct link,
``https://bench.example/i``), taking the time just before ``room_send``; its own client, syncing
all along in another task (long-poll, 30 s), takes the time a sync response holding the reaction
to that event returns; latency = receipt - send. Messages go one at a time, the next only once the
reaction to the previous one came back, so a latency never includes queueing behind earlier
messages. A message with no reaction within 30 s counts as a failure and is reported.

Order: interleaved, in blocks of 50 (``--block``) in the order plain, bot, bot, plain, plain, bot,
bot, plain, ... The machine is shared and noisy (2 cores, other jobs come and go over minutes);
running one side entirely after the other would charge any such drift to one side only, while
short alternating blocks in this mirrored (ABBA) order expose both sides to the same conditions
and cancel a steady drift. Both reactors and the watcher stay connected and long-polling for the
whole run, so the process and the homeserver carry the same load whichever room is being
measured. A few unmeasured messages per side first (``--warmup``) take the one-off costs (first
statements prepared, first connections opened) out of the figures.

Results go to standard output as Markdown, to paste into docs/benchmarks.md. Synapse, the bot and
every client are stopped when the run ends, however it ends (Ctrl-C and SIGTERM included).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nio  # noqa: E402

try:  # the throwaway Synapse lives in the package now; the tests kept the old name
    from watchbot.devserver import running_synapse  # noqa: E402
except ImportError:  # pragma: no cover - an older tree
    from tests.synapse_server import running_synapse  # noqa: E402

from watchbot.config import Settings  # noqa: E402
from watchbot.intake import Rules  # noqa: E402
from watchbot.networks.matrix import MatrixAdapter  # noqa: E402
from watchbot.store import Store  # noqa: E402

SYNC_TIMEOUT_MS = 30_000  # the bot's long-poll (watchbot.networks.matrix.SYNC_TIMEOUT_MS)
REACTION_TIMEOUT = 30.0  # seconds after the send; then the message counts as a failure
PLAIN_KEY = "👍"
# The sender, the watcher and the plain reactor: errors are returned, never retried in silence.
CLIENT_CONFIG = nio.AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, encryption_enabled=False,
                                      store_sync_tokens=False)


@dataclass
class Side:
    name: str
    room_id: str
    reactor_id: str
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class Watcher:
    """The sender's own client, syncing in its own task: when each reaction arrives."""

    def __init__(self, client: nio.AsyncClient, reactors: set[str]) -> None:
        self.client = client
        self.reactors = reactors
        self.arrived: dict[str, float] = {}  # event id reacted to -> perf_counter at receipt
        self.waiting: dict[str, asyncio.Future[float]] = {}

    async def run(self) -> None:
        while True:
            response = await self.client.sync(timeout=SYNC_TIMEOUT_MS)
            received = time.perf_counter()
            if not isinstance(response, nio.SyncResponse):
                print(f"watcher: sync failed: {response}", file=sys.stderr)
                await asyncio.sleep(1)
                continue
            for info in response.rooms.join.values():
                for event in info.timeline.events:
                    source = event.source
                    relation = source.get("content", {}).get("m.relates_to", {})
                    if source.get("type") != "m.reaction" or source.get("sender") not in self.reactors:
                        continue
                    target = relation.get("event_id")
                    if target and target not in self.arrived:
                        self.arrived[target] = received
                        waiter = self.waiting.pop(target, None)
                        if waiter is not None and not waiter.done():
                            waiter.set_result(received)

    async def reaction_to(self, event_id: str, timeout: float) -> float:
        if event_id in self.arrived:  # it came in the same sync as, or before, the send's answer
            return self.arrived[event_id]
        waiter = self.waiting[event_id] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(waiter, timeout)
        finally:
            self.waiting.pop(event_id, None)


async def plain_reactor(client: nio.AsyncClient) -> None:
    """Reacts to every message from someone else: sync, then room_send of an m.reaction."""
    since = client.next_batch
    while True:
        response = await client.sync(timeout=SYNC_TIMEOUT_MS, since=since)
        if not isinstance(response, nio.SyncResponse):
            print(f"plain reactor: sync failed: {response}", file=sys.stderr)
            await asyncio.sleep(1)
            continue
        for room_id, info in response.rooms.join.items():
            for event in info.timeline.events:
                source = event.source
                if source.get("type") == "m.room.message" and source.get("sender") != client.user_id:
                    content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": source["event_id"],
                                                "key": PLAIN_KEY}}
                    answer = await client.room_send(room_id, "m.reaction", content)
                    if isinstance(answer, nio.RoomSendError):
                        print(f"plain reactor: could not react: {answer}", file=sys.stderr)
        since = response.next_batch


async def logged_in(url: str, user) -> nio.AsyncClient:
    client = nio.AsyncClient(url, user.user_id, store_path=None, config=CLIENT_CONFIG)
    client.restore_login(user_id=user.user_id, device_id=user.device_id, access_token=user.access_token)
    response = await client.sync(timeout=0)
    if not isinstance(response, nio.SyncResponse):
        await client.close()
        raise RuntimeError(f"first sync of {user.user_id} failed: {response}")
    return client


async def wait_until_joined(client: nio.AsyncClient, room_id: str, user_id: str, timeout: float = 60) -> None:
    """Until ``user_id`` is a member of ``room_id``, as the room's state says."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = await client.joined_members(room_id)
        if isinstance(state, nio.JoinedMembersResponse) and any(m.user_id == user_id for m in state.members):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{user_id} did not join {room_id} within {timeout:g} s")


async def send_one(sender: nio.AsyncClient, watcher: Watcher, side: Side, body: str) -> float | str:
    """One message and its reaction: the latency in seconds, or why it failed."""
    sent = time.perf_counter()
    response = await sender.room_send(side.room_id, "m.room.message", {"msgtype": "m.text", "body": body})
    if not isinstance(response, nio.RoomSendResponse):
        return f"send failed: {response}"
    remaining = REACTION_TIMEOUT - (time.perf_counter() - sent)
    try:
        received = await watcher.reaction_to(response.event_id, max(remaining, 0.001))
    except TimeoutError:
        return f"no reaction to {response.event_id} ({body}) within {REACTION_TIMEOUT:g} s"
    return received - sent


def block_order(messages: int, block: int) -> list[tuple[int, int]]:
    """(side index, message index) in blocks: plain, bot, bot, plain, plain, bot, ... (0 = plain)."""
    order: list[tuple[int, int]] = []
    done = [0, 0]
    k = 0
    while min(done) < messages:
        which = 0 if k % 4 in (0, 3) else 1
        count = min(block, messages - done[which])
        order += [(which, done[which] + j) for j in range(count)]
        done[which] += count
        k += 1
    return order


async def measure(server, tmp: Path, messages: int, block: int, warmup: int) -> tuple[Side, Side, float]:
    sender_user = server.register("sender")
    bot_user = server.register("watchbot")
    plain_user = server.register("plain")
    # A third member in both rooms: a room of two is a private conversation to the bot, and links
    # are most often shared in group rooms. Never syncs; only there.
    bystander_user = server.register("bystander")
    database_url = f"sqlite:///{tmp / 'watchbot.db'}"
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        matrix_homeserver=server.url,
        matrix_user_id=bot_user.user_id,
        matrix_access_token=bot_user.access_token,
        matrix_device_id=bot_user.device_id,
        matrix_allowed_inviters=[sender_user.user_id],
    )
    clients: list[nio.AsyncClient] = []
    tasks: list[asyncio.Task] = []
    store = await Store.open(database_url)
    try:
        sender = await logged_in(server.url, sender_user)
        clients.append(sender)
        plain = await logged_in(server.url, plain_user)
        clients.append(plain)
        bystander = await logged_in(server.url, bystander_user)
        clients.append(bystander)
        tasks.append(asyncio.create_task(MatrixAdapter(settings, store, Rules()).run(), name="watchbot"))

        rooms = {}
        for name, invitee in (("plain", plain_user), ("watchbot", bot_user)):
            created = await sender.room_create(name=f"bench {name}", invite=[invitee.user_id, bystander_user.user_id])
            if not isinstance(created, nio.RoomCreateResponse):
                raise RuntimeError(f"could not create the {name} room: {created}")
            rooms[name] = created.room_id
            joined = await bystander.join(created.room_id)
            if not isinstance(joined, nio.JoinResponse):
                raise RuntimeError(f"the bystander could not join: {joined}")
        joined = await plain.join(rooms["plain"])
        if not isinstance(joined, nio.JoinResponse):
            raise RuntimeError(f"the plain reactor could not join: {joined}")
        await wait_until_joined(sender, rooms["watchbot"], bot_user.user_id)  # the bot accepts the invite
        await plain.sync(timeout=0)  # its position after its own join
        tasks.append(asyncio.create_task(plain_reactor(plain), name="plain"))

        await sender.sync(timeout=0)
        watcher = Watcher(sender, {bot_user.user_id, plain_user.user_id})
        tasks.append(asyncio.create_task(watcher.run(), name="watcher"))
        sides = (Side("plain", rooms["plain"], plain_user.user_id),
                 Side("watchbot", rooms["watchbot"], bot_user.user_id))

        for side in sides:  # unmeasured: first statements, first connections
            for i in range(warmup):
                outcome = await send_one(sender, watcher, side, f"warming up https://bench.example/warmup-{i}")
                if isinstance(outcome, str):
                    raise RuntimeError(f"{side.name}, warming up: {outcome}")

        started = time.perf_counter()
        for which, i in block_order(messages, block):
            side = sides[which]
            for task in tasks:  # a reactor that died would only show up as timeouts
                if task.done():
                    task.result()
                    raise RuntimeError(f"{task.get_name()} stopped")
            outcome = await send_one(sender, watcher, side, f"https://bench.example/{i}")
            if isinstance(outcome, str):
                side.failures.append(outcome)
                print(f"{side.name}: {outcome}", file=sys.stderr)
            else:
                side.latencies.append(outcome)
        return sides[0], sides[1], time.perf_counter() - started
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in clients:
            await client.close()
        await store.close()


def p95(values: list[float]) -> float:
    """The 95th percentile, never above the largest value (inclusive method, as few as 2 values)."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def report(plain: Side, bot: Side, messages: int, block: int, elapsed: float, command: str) -> None:
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
          f"{platform.python_version()}, Synapse {version('matrix-synapse')} (SQLite), "
          f"matrix-nio {version('matrix-nio')}, {date.today().isoformat()}; {messages} messages a side, "
          f"interleaved in blocks of {block}\n")
    print("| send → reaction seen by the sender | median | p95 | max | failures (no reaction in 30 s) |")
    print("|---|---|---|---|---|")
    for label, side in (("watchbot (MatrixAdapter, SQLite store)", bot), ("plain nio reactor", plain)):
        print(f"| {label} | {ms(median(side.latencies))} | {ms(p95(side.latencies))} | "
              f"{ms(max(side.latencies, default=float('nan')))} | {len(side.failures)} of {messages} |")
    print(f"| ratio watchbot / plain | {median(bot.latencies) / median(plain.latencies):.2f}x | "
          f"{p95(bot.latencies) / p95(plain.latencies):.2f}x | | |\n")
    print(f"Measured part of the run: {elapsed:.0f} s.\n")
    print(f"```sh\n{command}\n```")


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up as Ctrl-C does


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200, help="Messages measured per side (default 200).")
    parser.add_argument("--block", type=int, default=50, help="Messages per block when interleaving (default 50).")
    parser.add_argument("--warmup", type=int, default=5, help="Unmeasured messages per side first (default 5).")
    args = parser.parse_args()
    if args.messages < 2 or args.block < 1 or args.warmup < 0:
        parser.error("--messages must be at least 2, --block at least 1, --warmup at least 0")
    signal.signal(signal.SIGTERM, _terminate)
    command = "python bench/bench_matrix.py " + " ".join(sys.argv[1:]) if sys.argv[1:] else \
        "python bench/bench_matrix.py"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-matrix-") as scratch, \
                running_synapse(Path(scratch) / "synapse") as server:
            plain, bot, elapsed = asyncio.run(measure(server, Path(scratch), args.messages, args.block, args.warmup))
    except KeyboardInterrupt:
        print("interrupted: Synapse and the bot stopped", file=sys.stderr)
        sys.exit(130)
    report(plain, bot, args.messages, args.block, elapsed, command)


if __name__ == "__main__":
    main()
