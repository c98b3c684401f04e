"""What moderation's gate adds to filing a message: `file_post` with and without it, in one run.

    python bench/bench_gate.py [--posts 2000]

A fresh SQLite store; each message shares one new link. Alternating blocks of 100 messages
with the gate (a member: ban lookup, blocklist, the hour's and day's counts) and without it,
so that both sides see the same store growing and the same machine noise. Review of newcomers is
off (the default), as are the limits' effects (set high): this measures the checks, not refusals.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from watchbot.config import Settings  # noqa: E402
from watchbot.intake import Rules, file_post  # noqa: E402
from watchbot.model import Post, Source  # noqa: E402
from watchbot.moderation import Moderation, ModerationOptions  # noqa: E402
from watchbot.policy import Role  # noqa: E402
from watchbot.store import Store  # noqa: E402


async def main(posts: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/bench.db"
        settings = Settings(_env_file=None, database_url=url, links_per_hour=10_000, links_per_day=100_000)
        store = await Store.open(url)
        gate = Moderation(store, ModerationOptions.from_settings(settings))
        timings: dict[str, list[float]] = {"with the gate": [], "without": []}
        for n in range(posts):
            side = "with the gate" if (n // 100) % 2 == 0 else "without"
            post = Post(source=Source.MATRIX, place="!r:x", author_id=f"@user{n % 50}:x", author_name="user",
                        text=f"https://bench.example/{n} #rust", event_id=f"$b{n}")
            began = time.perf_counter()
            if side == "with the gate":
                await file_post(store, post, Rules(), gate=gate, role=Role.MEMBER)
            else:
                await file_post(store, post, Rules())
            timings[side].append(time.perf_counter() - began)
        await store.close()
    gated, plain = (statistics.median(timings[k]) * 1000 for k in ("with the gate", "without"))
    print(f"## The moderation gate on the filing path ({date.today().isoformat()})\n")
    print(f"Python {platform.python_version()}, {os.cpu_count()} cores; `python bench/bench_gate.py --posts {posts}`\n")
    print("| messages | with the gate (median) | without (median) | ratio |")
    print("|---|---|---|---|")
    print(f"| {posts} | {gated:.2f} ms | {plain:.2f} ms | {gated / plain:.2f}x |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000)
    asyncio.run(main(parser.parse_args().posts))
