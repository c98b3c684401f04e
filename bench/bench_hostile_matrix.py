"""The message after a hostile one, on a real Synapse: how soon the bot acknowledges it.

    python bench/bench_hostile_matrix.py [--rounds 5]

bench/bench_hostile.py times the reading of each hostile shape alone; this one measures what a
member notices. A throwaway Synapse (the test suite's, on 127.0.0.1) holds one room with the
bot (MatrixAdapter over a SQLite store, in-process), a sender and a bystander. Each round sends
a predecessor message, then at once an ordinary message with one link, and times the ordinary
message from its send to the bot's reaction, seen by the sender's client. The predecessor is
either one of bench_hostile's shapes at up to 60 KiB of `formatted_body` (cut to fit Matrix's
64 KiB event limit), or an ordinary message of the same size: the ratio of the two is what a hostile message
costs the next person. Rounds are interleaved (ordinary, shape, shape, ordinary, ...) so a
drifting machine weighs on both sides. Goal: the next message acknowledged within 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import nio  # noqa: E402
from bench_hostile import SHAPES, ordinary  # noqa: E402
from bench.matrix_figures import REACTION_TIMEOUT, Watcher, logged_in, wait_until_joined  # noqa: E402

from watchbot.config import Settings  # noqa: E402
from watchbot.devserver import running_synapse  # noqa: E402
from watchbot.intake import Rules  # noqa: E402
from watchbot.networks.matrix import MatrixAdapter  # noqa: E402
from watchbot.store import Store  # noqa: E402

SIZE = 60 * 1024
EVENT_BYTES = 63_000  # what the content may take of Synapse's 65,536-byte event, envelope aside


def fitting(html: str) -> str:
    """`html`, cut until the event's JSON (quotes escaped) fits under Matrix's limit."""
    while len(json.dumps(html).encode()) > EVENT_BYTES:
        html = html[: len(html) * 9 // 10]
    return html


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


async def after(sender: nio.AsyncClient, watcher: Watcher, room_id: str, html: str, n: int) -> float:
    """Send `html` as a message, then an ordinary link: seconds from that link's send to its reaction."""
    content = {"msgtype": "m.text", "body": "see this", "format": "org.matrix.custom.html", "formatted_body": html}
    response = await sender.room_send(room_id, "m.room.message", content)
    if not isinstance(response, nio.RoomSendResponse):
        raise RuntimeError(f"the predecessor was refused: {response}")
    sent = time.perf_counter()
    probe = await sender.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": f"https://next.example/{n}"})
    if not isinstance(probe, nio.RoomSendResponse):
        raise RuntimeError(f"the probe was refused: {probe}")
    return await watcher.all_reacted([probe.event_id], REACTION_TIMEOUT) - sent


async def measure(server, tmp: Path, rounds: int) -> dict[str, list[float]]:
    sender_user, bot_user, bystander_user = (server.register(name) for name in ("sender", "watchbot", "bystander"))
    database_url = f"sqlite:///{tmp / 'watchbot.db'}"
    settings = Settings(_env_file=None, database_url=database_url, matrix_homeserver=server.url,
                        matrix_user_id=bot_user.user_id, matrix_access_token=bot_user.access_token,
                        matrix_device_id=bot_user.device_id, matrix_allowed_inviters=[sender_user.user_id])
    store = await Store.open(database_url)
    sender = await logged_in(server.url, sender_user)
    bystander = await logged_in(server.url, bystander_user)
    tasks = [asyncio.create_task(MatrixAdapter.from_settings(settings, store, Rules()).run())]
    try:
        created = await sender.room_create(name="bench", invite=[bot_user.user_id, bystander_user.user_id])
        await bystander.join(created.room_id)
        await wait_until_joined(sender, created.room_id, bot_user.user_id)
        await sender.sync(timeout=0)
        watcher = Watcher(sender, {bot_user.user_id})
        tasks.append(asyncio.create_task(watcher.run()))
        await after(sender, watcher, created.room_id, ordinary(1000), 0)  # warm-up
        times: dict[str, list[float]] = {"an ordinary message": [], **{name: [] for name in SHAPES}}
        n = 1
        for name, make in SHAPES.items():
            html = fitting(make(SIZE)[:SIZE])
            for k in range(rounds * 2):
                ordinary_first = k % 4 in (0, 3)
                predecessor = ordinary(len(html)) if ordinary_first else html
                times["an ordinary message" if ordinary_first else name].append(
                    await after(sender, watcher, created.room_id, predecessor, n))
                n += 1
        return times
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in (sender, bystander):
            await client.close()
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="Rounds per shape and side (default 5).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-hostile-matrix-") as scratch, \
            running_synapse(Path(scratch) / "synapse") as server:
        times = asyncio.run(measure(server, Path(scratch), args.rounds))
    baseline = median(times["an ordinary message"])
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"Synapse {version('matrix-synapse')} (SQLite), {date.today().isoformat()}; {args.rounds} rounds "
          f"per shape, interleaved with as many after an ordinary message of the same size\n")
    print("| the message before (up to 60 KiB of formatted_body) | next link acknowledged: median | max | ratio |")
    print("|---|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {ms(median(values))} | {ms(max(values))} | {median(values) / baseline:.2f}x |")
    print(f"\n```sh\npython bench/bench_hostile_matrix.py --rounds {args.rounds}\n```")


if __name__ == "__main__":
    main()
