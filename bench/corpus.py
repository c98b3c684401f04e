"""A store holding what a real one holds, built once and kept in bench/.cache.

Every link has its page row (fetched: title, site, description), and its search document holds
what filing and fetching put there (URL, page title and description, the note, the tags); every
share is public, so the public view (published URL and text, page fetched from that URL) is the
same, as `links.rebuild_search_document` would write it. One
sharer (HEAVY_SHARER) has thousands of earlier shares, spread over the three years; a tenth of
the week's links were shared before as well (a link shared again). Links grow in time with their
number, as they do in a real store: three years of links, then the week's.

Words, so that searches have known answers: COMMON_WORD is in one link of four; each
``topic<n>`` word is in about 20 links (RARE_EVERY).

The migrated schema comes from `Store.open` itself (tables, indexes, the FTS5 table and its
triggers); the rows are then written with sqlite3's executemany, so the FTS triggers run for each.
The cache file is named by the schema's head revision and the sizes: a new migration builds it
again.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sqlite3
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from watchbot.digest.schedule import last_period  # noqa: E402
from watchbot.model import Period  # noqa: E402
from watchbot.store import Store  # noqa: E402

BUILDER_VERSION = 3  # raise it when what is built here changes (2, 3: the public view filled, pages' fetched_url)
# WATCHBOT_BENCH_CACHE moves it (the test of the quick mode keeps its store in its own directory).
CACHE = Path(os.environ.get("WATCHBOT_BENCH_CACHE") or Path(__file__).resolve().parent / ".cache")
ZONE = ZoneInfo("Europe/Paris")
SCHEDULE = "0 17 * * fri"
# The benchmarks' own "now": the digest's week is the one before it, whatever day they run.
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
HEAVY_SHARER = "@heavy:example.org"
COMMON_WORD = "release"
RARE_EVERY = 20
TAGS = ["rust", "python", "security", "linux", "web", "databases", "ai", "networking", "go", "devops"]
WORDS = ("async kernel memory safety browser wasm compiler postgres sqlite matrix fediverse "
         "federation protocol design").split()


@dataclass(frozen=True)
class Size:
    links: int
    week: int  # links first shared in the digest's week
    heavy: int  # earlier shares of HEAVY_SHARER

    @property
    def topics(self) -> int:
        return max(self.links // RARE_EVERY, 1)


FULL = Size(links=1_000_000, week=2_000, heavy=3_000)
QUICK = Size(links=4_000, week=200, heavy=300)


def period() -> Period:
    return last_period(SCHEDULE, ZONE, NOW)


def head_revision() -> str:
    from alembic.script import ScriptDirectory
    from importlib import resources
    return ScriptDirectory(str(resources.files("watchbot.store") / "migrations")).get_current_head() or "none"


def cached_store(size: Size, *, log=print) -> Path:
    """The path of the store of this size, built first if the cache has none for this schema."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"store-{head_revision()}-{size.links}-{size.week}-{size.heavy}-v{BUILDER_VERSION}.db"
    if path.exists():
        return path
    building = path.with_suffix(f".building-{os.getpid()}")
    for stale in CACHE.glob(f"{path.stem}.building-*"):  # an interrupted build
        stale.unlink()
    began = time.perf_counter()
    older = sorted(CACHE.glob(f"store-*-{size.links}-{size.week}-{size.heavy}-v{BUILDER_VERSION}.db"),
                   key=lambda found: found.stat().st_mtime)
    if older:  # the same store at an older schema: migrated as an operator's would be (a copy: kept)
        log(f"migrating a copy of {older[-1].name} into {path.name}; kept for later runs")
        shutil.copyfile(older[-1], building)
        asyncio.run(_migrated(building))
    else:
        log(f"building the benchmark store ({size.links:,} links) into {path.name}; kept for later runs")
        asyncio.run(_migrated(building))
        _fill(building, size, period())
    connection = sqlite3.connect(building)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.execute("PRAGMA journal_mode=DELETE")  # one self-contained file to copy
    connection.close()
    building.rename(path)
    log(f"built in {time.perf_counter() - began:.0f} s, {path.stat().st_size / 1e6:.0f} MB")
    return path


async def _migrated(path: Path) -> None:
    store = await Store.open(f"sqlite:///{path}")
    await store.close()


def stamp(at: datetime) -> str:
    """As SQLAlchemy writes a UTCDateTime on SQLite (microseconds always there: text order is time order)."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def link_words(n: int, size: Size) -> str:
    """The words of link n's page title: COMMON_WORD in one link of four, a topic in ~20."""
    rng = random.Random(n)
    common = [COMMON_WORD] if n % 4 == 0 else []
    return " ".join([*common, *rng.sample(WORDS, 2), f"topic{n % size.topics}"])


def _fill(path: Path, size: Size, week: Period) -> None:
    rng = random.Random(7)
    old = size.links - size.week
    three_years = timedelta(days=3 * 365)
    history_start = week.start - three_years
    heavy_every = max(old // size.heavy, 1) if size.heavy else 0
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")  # building only; the benchmarks use the store's own settings
    share_id = 0
    with connection:
        for first in range(1, size.links + 1, 50_000):
            link_rows, share_rows, tag_rows, page_rows = [], [], [], []
            for n in range(first, min(first + 50_000, size.links + 1)):
                if n <= old:
                    at = history_start + three_years * (n / (old + 1))
                else:
                    at = week.start + (week.end - week.start) * ((n - old) / (size.week + 1))
                site = f"site{n % 5000}.example"
                url = f"https://{site}/post/{n}"
                title = f"{link_words(n, size).capitalize()} ({n})"
                description = f"What {site} wrote about it, number {n}."
                tags = rng.sample(TAGS, 1 + n % 2)
                heavy = heavy_every and n <= old and n % heavy_every == 0 and n // heavy_every <= size.heavy
                sharer = HEAVY_SHARER if heavy else f"@user{n % 300}:example.org"
                note = f"worth a read {n}"
                document = " ".join([url, title, description, note, *tags])
                # Every share is public: the public view is the link's own URL and words.
                link_rows.append((n, url, url, document, url, document, stamp(at)))
                page_rows.append((n, "ok", url, url, title, description, f"Site {n % 5000}", "en", stamp(at)))
                sharings = [(sharer, at)]
                if n > old and n % 10 == 0:  # shared before, and again this week
                    sharings.insert(0, (f"@user{(n + 7) % 300}:example.org", week.start - timedelta(days=30)))
                for who, when in sharings:
                    share_id += 1
                    share_rows.append((share_id, n, url, who, who[1:].split(":")[0], "matrix", "!room:example.org",
                                       f"$event{share_id}", "public", stamp(when), note))
                    tag_rows += [(share_id, tag) for tag in tags]
            connection.executemany(
                "INSERT INTO links (id, key, url, search_document, published_url, published_document, filed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", link_rows)
            connection.executemany(
                "INSERT INTO link_pages (link_id, state, final_url, fetched_url, title, description, site_name, "
                "language, attempts, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)", page_rows)
            connection.executemany(
                "INSERT INTO shares (id, link_id, url, sharer_id, sharer_name, source, place, event_id, visibility, "
                "shared_at, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", share_rows)
            connection.executemany("INSERT INTO share_tags (share_id, tag) VALUES (?, ?)", tag_rows)
    # No ANALYZE: watchbot never runs it, so its planner works without statistics, as here.
    connection.close()
