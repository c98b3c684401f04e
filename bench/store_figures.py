"""Filing, the weekly digest and search, each beside plain sqlite3 doing the same work on the same store.

Both sides work on the store of bench/corpus.py (every link with its page row, a sharer with
thousands of earlier shares), with the same schema: the same tables, indexes, FTS5 table and
triggers, as migrated by watchbot.

- Filing: watchbot files the message through `intake.file_post` with the gate (as the Matrix
  adapter does: the role from the settings, the ban and the gate's facts read in the filing's
  transaction, one hop to the store's thread), SQLite at WAL and
  synchronous=FULL. The baseline, on its own copy of the same store with the same connection
  settings, writes the same rows in one transaction: it looks the link's key up (and its
  aliases), then inserts the link (the FTS trigger indexes it), the share, its tags and the page
  row to fetch. The message's canonical key and tags are computed beforehand for the baseline:
  it measures the database work; everything else is watchbot's price, the gate's reads included.
  A second figure, without a target, gives the baseline the gate's reads too (the author's ban,
  the blocklist, the author's shares and held posts of the last hour and day, as plain SQL on the
  same indexes): what is left is the price of watchbot's own code.
- Digest: watchbot reads the week (as the weekly job does), builds and renders the digest for
  Matrix and as a Mastodon thread, as the weekly job does. Two baselines, each a figure: one SQL
  query returning the same rows (the week's links, each with all its shares, their tags and its
  page), written by hand; and the digest's own SQL, the very statement `shared_between` runs
  (`period_query`, compiled for SQLite, with the same parameters), on plain sqlite3: what is left
  above it is watchbot's price for the read's Python, the build and the rendering.
- Search: public search, `PublishedReader(store).search` (20 display rows, as the room command and
  the web read it) beside the same FTS5 statement on the public index (the newest 1,000 matches
  ranked by bm25, watchbot.store.search) joined to the rows a display needs (the link, its page's
  title and site, its tags, shares and first sharer), for a rare word (~20 matches: every match
  is a candidate) and the common word (a quarter of all links).

The digest and search only read, but opening a store takes its write lock and puts its WAL files
beside it: they work on a copy of the cached store, as filing does, so bench/.cache is only read.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from bench import corpus
from bench.corpus import stamp
from bench.harness import Figure, interleave
from watchbot.config import Settings
from watchbot.digest.build import build_digest
from watchbot.digest.render import render_matrix_parts, render_thread
from watchbot.intake import Rules, file_post, read_post
from watchbot.links import published_url
from watchbot.model import PUBLIC, Post, Source, utcnow
from watchbot.moderation import Moderation, ModerationOptions
from watchbot.store import Store
from watchbot.store.published import PUBLISHABLE, PublishedReader, period_query
from watchbot.store.search import CANDIDATES

PRAGMAS = ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=10000")  # database.py's


def plain_connection(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        connection.execute(f"PRAGMA {pragma}")
    return connection


# -- filing --------------------------------------------------------------------------------------

def messages(count: int) -> list[Post]:
    rng = random.Random(11)
    posts = []
    for i in range(count):
        words = " ".join(rng.sample(corpus.WORDS, 4))
        url = f"https://news{i % 97}.example/{rng.choice(corpus.WORDS)}/{i}?utm_source=bench"
        posts.append(Post(source=Source.MATRIX, place="!room:example.org", author_id=corpus.HEAVY_SHARER,
                          author_name="heavy", text=f"{words} {url} #rust #python", event_id=f"$filing{i}",
                          note=words))
    return posts


_GATE_FACTS = """
SELECT (SELECT 1 FROM bans WHERE account = :who),
       (SELECT sum(shared_at >= :hour) FROM shares WHERE sharer_id = :who AND shared_at >= :day),
       (SELECT count(*) FROM shares WHERE sharer_id = :who AND shared_at >= :day),
       (SELECT sum(at >= :hour) FROM review_queue WHERE author_id = :who AND state = 'held' AND at >= :day),
       (SELECT count(*) FROM review_queue WHERE author_id = :who AND state = 'held' AND at >= :day)
"""
_KEY = "SELECT id FROM links WHERE key = :key UNION ALL SELECT link_id FROM link_aliases WHERE key = :key LIMIT 1"


def plain_filing(connection: sqlite3.Connection, post: Post, rules: Rules, *, gate_reads: bool):
    """The baseline's filing of one message: the rows prepared now, the database work timed."""
    reading = read_post(post, rules)
    (url, key), = reading.links
    tags = reading.tags
    document = " ".join([url, post.note or "", *tags])
    public_url = published_url(url)  # the public view's columns too: a public share is published at once
    public_document = " ".join([public_url, post.note or "", *sorted(tags)])

    def file() -> float:
        began = time.perf_counter()
        now = utcnow()
        when = {"who": post.author_id, "hour": stamp(now - timedelta(hours=1)), "day": stamp(now - timedelta(days=1))}
        connection.execute("BEGIN IMMEDIATE")
        if gate_reads:
            connection.execute(_GATE_FACTS, when).fetchone()
            list(connection.execute("SELECT pattern FROM blocked_domains"))
        if connection.execute(_KEY, {"key": key}).fetchone() is not None:
            raise AssertionError("every message of the benchmark shares a new link")
        link_id = connection.execute(
            "INSERT INTO links (key, url, search_document, filed_at, published_url, published_document) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (key, url, document, stamp(now), public_url, public_document)).fetchone()[0]
        share_id = connection.execute(
            "INSERT INTO shares (link_id, url, sharer_id, sharer_name, source, place, event_id, visibility, "
            "shared_at, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (link_id, url, post.author_id, post.author_name, post.source.value, post.place, post.event_id,
             post.visibility.value, stamp(post.at), post.note)).fetchone()[0]
        connection.executemany("INSERT INTO share_tags (share_id, tag) VALUES (?, ?)",
                               [(share_id, tag) for tag in sorted(set(tags))])
        connection.execute(
            "INSERT INTO link_pages (link_id, state, attempts, next_fetch_at) VALUES (?, 'pending', 0, ?)",
            (link_id, stamp(now)))
        connection.execute("COMMIT")
        return (time.perf_counter() - began) * 1000

    return file


async def filing(store_path: Path, count: int, *, gate_reads: bool) -> Figure:
    if gate_reads:
        figure = Figure("filing, as above, vs plain sqlite3 doing the gate's reads too (no target: where the time "
                        "goes)", "ms", base_name="plain sqlite3 + gate's reads", target="–")
    else:
        figure = Figure("filing a message with one link: intake, gate and store vs plain sqlite3 writing the same "
                        "rows (link + both FTS triggers, share, tags, page), WAL + synchronous=FULL", "ms",
                        base_name="plain sqlite3", target="≤ 2×", max_ratio=2.0)
    posts = messages(count + 10)
    rules = Rules()
    with tempfile.TemporaryDirectory(prefix="bench-filing-") as scratch:
        ours_path, base_path = Path(scratch) / "ours.db", Path(scratch) / "base.db"
        shutil.copyfile(store_path, ours_path)
        shutil.copyfile(store_path, base_path)
        settings = Settings(_env_file=None, database_url=f"sqlite:///{ours_path}", links_per_hour=10_000,
                            links_per_day=100_000)
        store = await Store.open(settings.database_url)
        gate = Moderation(store, ModerationOptions.from_settings(settings))
        connection = plain_connection(base_path)
        try:
            async def ours(i: int) -> float:
                post = posts[i + 10 if i >= 0 else -i - 1]
                began = time.perf_counter()
                role = gate.role_unread(post.author_id)  # as the Matrix adapter: the gate reads the ban
                result = await file_post(store, post, rules, gate=gate, role=role)
                elapsed = (time.perf_counter() - began) * 1000
                assert result.results, result.problems
                return elapsed

            def base(i: int) -> float:
                return plain_filing(connection, posts[i + 10 if i >= 0 else -i - 1], rules, gate_reads=gate_reads)()

            await interleave(figure, ours, base, repeat=count, warmup=5)
        finally:
            connection.close()
            await store.close()
    return figure


# -- the digest ---------------------------------------------------------------------------------

_WEEK = f"""
WITH week AS (
    SELECT DISTINCT link_id FROM shares
    WHERE shared_at >= :start AND shared_at < :end AND visibility IN ({", ".join(f"'{v}'" for v in PUBLISHABLE)})
)
SELECT l.id, l.key, l.url, l.title, l.description, p.title, p.description, p.site_name, p.state,
       s.id, s.sharer_id, s.sharer_name, s.source, s.place, s.event_id, s.visibility, s.shared_at, s.note,
       (SELECT group_concat(t.tag, ' ') FROM share_tags t WHERE t.share_id = s.id)
FROM week JOIN links l ON l.id = week.link_id JOIN shares s ON s.link_id = l.id
LEFT JOIN link_pages p ON p.link_id = l.id
ORDER BY l.id, s.shared_at, s.id
"""


async def week_of(store: Store, period):
    """What the weekly job reads."""
    return await PublishedReader(store).shared_between(period.start, period.end)


async def digest(store_path: Path, size: corpus.Size, repeat: int, *, own_sql: bool = False) -> Figure:
    """`own_sql`: the baseline is the statement watchbot runs for the week, on plain sqlite3;
    else the hand-written `_WEEK`, returning the same rows."""
    if own_sql:
        figure = Figure("weekly digest, as above, vs its own SQL (the statement `shared_between` runs, same "
                        "parameters) on plain sqlite3", "ms", base_name="its SQL on sqlite3", target="≤ 3×",
                        max_ratio=3.0)
    else:
        figure = Figure(f"weekly digest from {size.links:,} links ({size.week:,} in the week, each with its page "
                        "row): read, build, render vs one SQL query returning the same rows", "ms",
                        base_name="plain SQL", target="≤ 3×", max_ratio=3.0)
    period = corpus.period()
    store = await Store.open(f"sqlite:///{store_path}", migrate=False)
    connection = plain_connection(store_path)
    if own_sql:
        compiled = period_query(PUBLIC).compiled(store.engine.dialect)
        sql, bounds = compiled.sql, compiled.parameters({"start": period.start, "end": period.end})
    else:
        sql, bounds = _WEEK, {"start": stamp(period.start), "end": stamp(period.end)}
    try:
        async def ours(_i: int) -> float:
            began = time.perf_counter()
            records = await week_of(store, period)
            built = build_digest(records, period, top=20)
            render_matrix_parts(built, corpus.ZONE)
            render_thread(built, corpus.ZONE)
            elapsed = (time.perf_counter() - began) * 1000
            assert built.link_count == size.week, built.link_count
            return elapsed

        def base(_i: int) -> float:
            began = time.perf_counter()
            rows = connection.execute(sql, bounds).fetchall()
            elapsed = (time.perf_counter() - began) * 1000
            assert len({row[0] for row in rows}) == size.week, len(rows)
            return elapsed

        await interleave(figure, ours, base, repeat=repeat, warmup=1)
    finally:
        connection.close()
        await store.close()
    return figure


# -- search -------------------------------------------------------------------------------------

# The newest CANDIDATES matches, ranked by bm25 (watchbot.store.search): the same rows as watchbot's.
_SEARCH = f"""
WITH hits AS (
    SELECT id, rank FROM (
        SELECT rowid AS id, bm25(published_fts) AS rank FROM published_fts WHERE published_fts MATCH :q
        ORDER BY rowid DESC LIMIT {CANDIDATES}
    ) ORDER BY rank, id DESC LIMIT 20
)
SELECT l.id, l.published_url, coalesce(l.title, p.title), coalesce(l.description, p.description), p.site_name,
       (SELECT group_concat(DISTINCT t.tag) FROM share_tags t JOIN shares s ON s.id = t.share_id
        WHERE s.link_id = l.id),
       (SELECT count(*) FROM shares s WHERE s.link_id = l.id),
       (SELECT s.sharer_name || ' ' || s.shared_at FROM shares s WHERE s.link_id = l.id ORDER BY s.shared_at, s.id
        LIMIT 1)
FROM hits JOIN links l ON l.id = hits.id LEFT JOIN link_pages p ON p.link_id = l.id
ORDER BY hits.rank, hits.id DESC
"""


async def search(store_path: Path, size: corpus.Size, repeat: int, *, common: bool) -> Figure:
    if common:
        matches = size.links // 4
        figure = Figure(f"public search for a common word ({matches:,} matches of {size.links:,} links), the newest "
                        f"{CANDIDATES:,} ranked, 20 display rows, vs the same FTS5 statement returning the same rows", "ms", base_name="plain FTS5",
                        target="p95 < 100 ms", max_p95=100.0)
        words = [corpus.COMMON_WORD] * repeat
    else:
        figure = Figure(f"public search for a rare word (~{corpus.RARE_EVERY} matches) at {size.links:,} links, 20 "
                        "display rows, vs the same FTS5 statement returning the same rows", "ms", base_name="plain FTS5",
                        target="≤ 3×, p95 < 20 ms", max_ratio=3.0, max_p95=20.0)
        rng = random.Random(5)
        words = [f"topic{rng.randrange(size.topics)}" for _ in range(repeat)]
    store = await Store.open(f"sqlite:///{store_path}", migrate=False)
    connection = plain_connection(store_path)
    try:
        async def ours(i: int) -> float:
            began = time.perf_counter()
            found = await PublishedReader(store).search(words[i], limit=20)
            elapsed = (time.perf_counter() - began) * 1000
            assert found, words[i]
            return elapsed

        def base(i: int) -> float:
            began = time.perf_counter()
            rows = connection.execute(_SEARCH, {"q": f'"{words[i]}"*'}).fetchall()
            elapsed = (time.perf_counter() - began) * 1000
            assert rows, words[i]
            return elapsed

        await interleave(figure, ours, base, repeat=repeat, warmup=2)
    finally:
        connection.close()
        await store.close()
    return figure


def figures(*, quick: bool, log=print) -> list[Figure]:
    size = corpus.QUICK if quick else corpus.FULL
    store_path = corpus.cached_store(size, log=log)

    async def run(reads: Path) -> list[Figure]:
        return [
            await filing(store_path, 20 if quick else 400, gate_reads=False),
            await filing(store_path, 10 if quick else 200, gate_reads=True),
            await digest(reads, size, 3 if quick else 15),
            await digest(reads, size, 3 if quick else 15, own_sql=True),
            await search(reads, size, 6 if quick else 100, common=False),
            await search(reads, size, 4 if quick else 20, common=True),
        ]

    with read_copy(store_path) as reads:
        return asyncio.run(run(reads))


@contextlib.contextmanager
def read_copy(store_path: Path) -> Iterator[Path]:
    """A copy of the cached store for the benchmarks that read (the cache is never written)."""
    with tempfile.TemporaryDirectory(prefix="bench-reads-") as scratch:
        path = Path(scratch) / store_path.name
        shutil.copyfile(store_path, path)
        yield path
