"""A week's digest out of a big store: building and rendering it, beside the plain SQL query.

    python bench/bench_digest.py [--links 1000000] [--week 2000] [--repeat 7]

A fresh SQLite store (migrated as `watchbot run` does) is filled with `--links` links, one share
each with one or two tags, spread over three years; `--week` of them are shared in the last
complete week. The rows are written with sqlite3's executemany in one transaction (filing a
million links through intake would take 20 minutes and measure something else: see
bench_store.py).

Measured, alternately, `--repeat` times each:
- watchbot: `store.published().shared_between` for the week (the links, their public shares and
  tags, each as its published view), `build_digest` (rank, group, cap), then rendering for Matrix
  and as a Mastodon thread.
- plain SQL: one sqlite3 query selecting the same rows (the week's publishable shares joined to
  their links and tags), fetched into Python tuples, nothing else.
The ratio of the medians is the price of everything the digest does beyond reading its rows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from watchbot.digest.build import build_digest  # noqa: E402
from watchbot.digest.render import render_matrix_parts, render_thread  # noqa: E402
from watchbot.digest.schedule import last_period  # noqa: E402
from watchbot.store import Store  # noqa: E402

TAGS = ["rust", "python", "security", "linux", "web", "databases", "ai", "networking", "go", "devops"]
PLAIN_QUERY = """
SELECT l.id, l.url, l.title, s.sharer_name, s.shared_at, t.tag
FROM shares s JOIN links l ON l.id = s.link_id LEFT JOIN share_tags t ON t.share_id = s.id
WHERE s.shared_at >= ? AND s.shared_at < ? AND s.visibility IN ('public', 'unlisted')
"""


def fill(path: str, links: int, week: int, start: datetime, end: datetime) -> None:
    rng = random.Random(7)
    span = (end - start).total_seconds()
    three_years = timedelta(days=3 * 365).total_seconds()
    connection = sqlite3.connect(path)
    with connection:
        link_rows, share_rows, tag_rows = [], [], []
        for n in range(1, links + 1):
            if n <= week:
                at = start + timedelta(seconds=rng.random() * span)
            else:
                at = start - timedelta(seconds=60 + rng.random() * three_years)
            stamp = at.replace(tzinfo=None).isoformat(sep=" ")
            url = f"https://site{n % 5000}.example/post/{n}"
            link_rows.append((n, url.lower(), url, f"Post number {n}", url, stamp))
            share_rows.append((n, n, url, f"@user{n % 300}:x", f"user{n % 300}", "matrix", "!room:x", f"$e{n}",
                               "public", stamp))
            tag_rows += [(n, tag) for tag in rng.sample(TAGS, 1 + n % 2)]
        connection.executemany(
            "INSERT INTO links (id, key, url, title, search_document, filed_at) VALUES (?, ?, ?, ?, ?, ?)", link_rows)
        connection.executemany(
            "INSERT INTO shares (id, link_id, url, sharer_id, sharer_name, source, place, event_id, visibility, "
            "shared_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", share_rows)
        connection.executemany("INSERT INTO share_tags (share_id, tag) VALUES (?, ?)", tag_rows)
    connection.close()


async def main(links: int, week: int, repeat: int) -> None:
    zone = ZoneInfo("Europe/Paris")
    period = last_period("0 17 * * fri", zone, datetime.now(timezone.utc))
    with tempfile.TemporaryDirectory() as directory:
        path = f"{directory}/bench.db"
        store = await Store.open(f"sqlite:///{path}")  # the schema, migrated
        await store.close()
        began = time.perf_counter()
        fill(path, links, week, period.start, period.end)
        filled = time.perf_counter() - began
        store = await Store.open(f"sqlite:///{path}")
        plain = sqlite3.connect(path)
        bounds = [moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
                  for moment in (period.start, period.end)]

        async def ours() -> int:
            records = await store.published().shared_between(period.start, period.end)
            digest = build_digest(records, period, top=20)
            render_matrix_parts(digest, zone)
            render_thread(digest, zone)
            return digest.link_count

        def theirs() -> int:
            return len({row[0] for row in plain.execute(PLAIN_QUERY, bounds).fetchall()})

        assert await ours() == theirs() == week, "both sides must see the same week"
        timings: dict[str, list[float]] = {"watchbot": [], "plain": []}
        for _ in range(repeat):
            for side in ("watchbot", "plain"):
                began = time.perf_counter()
                if side == "watchbot":
                    await ours()
                else:
                    theirs()
                timings[side].append(time.perf_counter() - began)
        plain.close()
        await store.close()
        size = os.path.getsize(path)

    ours_ms = statistics.median(timings["watchbot"]) * 1000
    plain_ms = statistics.median(timings["plain"]) * 1000
    print(f"## A week's digest from {links:,} links ({date.today().isoformat()})\n")
    print(f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} cores; "
          f"`python bench/bench_digest.py --links {links} --week {week} --repeat {repeat}`; "
          f"store {size / 1e6:.0f} MB, filled in {filled:.0f} s\n")
    print("| links in the week | watchbot: read, build, render (median) | plain SQL, same rows (median) | ratio |")
    print("|---|---|---|---|")
    print(f"| {week:,} | {ours_ms:.1f} ms | {plain_ms:.1f} ms | {ours_ms / plain_ms:.1f}x |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--week", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.links, arguments.week, arguments.repeat))
