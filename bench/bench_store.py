"""Filing and searching links: watchbot's own path against plain SQLite, in one run.

    python bench/bench_store.py [--links 100000] [--queries 200]

Filing goes through intake.file_post, exactly as a message from the bot would (link extraction,
canonical key, tags, one transaction per message with SQLite at synchronous=FULL). The baseline
inserts the same rows with the sqlite3 module, one committed transaction per row, with the same
pragmas: the ratio is the price of everything watchbot does beyond storing a row. Search runs the
store's full-text search, beside a LIKE scan of the same table as the naive baseline.
Results go to standard output as Markdown, to paste into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from watchbot.intake import Rules, file_post  # noqa: E402
from watchbot.links import canonical_key  # noqa: E402
from watchbot.model import Post, Source  # noqa: E402
from watchbot.store import Store  # noqa: E402

WORDS = ("rust async kernel memory safety python release security advisory browser wasm linux "
         "compiler database postgres sqlite matrix fediverse federation protocol design").split()
TAGS = [f"tag{i}" for i in range(40)] + ["rust", "python", "security", "linux", "web"]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def make_posts(count: int, seed: int = 7) -> list[Post]:
    rng = random.Random(seed)
    posts = []
    for i in range(count):
        # A rare topic word per link (each in ~20 links), so searches are selective as real ones are.
        words = " ".join(rng.choices(WORDS, k=5)) + f" topic{rng.randrange(count // 20 or 1)}"
        tags = " ".join(f"#{t}" for t in rng.sample(TAGS, k=2))
        url = f"https://site{i % 997}.example/{rng.choice(WORDS)}/{i}?utm_source=bench"
        posts.append(Post(
            source=Source.MATRIX, place="!bench:example.org", author_id=f"@user{i % 200}:example.org",
            author_name=f"user{i % 200}", text=f"{words} {url} {tags}", event_id=f"$bench{i}",
            at=T0 + timedelta(seconds=i), note=words,
        ))
    return posts


async def file_with_watchbot(posts: list[Post], url: str) -> tuple[float, float]:
    rules = Rules()
    async with await Store.open(url) as store:
        wall, cpu = time.perf_counter(), time.process_time()
        for post in posts:
            await file_post(store, post, rules)
        return time.perf_counter() - wall, time.process_time() - cpu


def file_with_plain_sqlite(posts: list[Post], path: Path) -> tuple[float, float]:
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        db.execute(f"PRAGMA {pragma}")
    db.execute("CREATE TABLE links (id INTEGER PRIMARY KEY, url TEXT, key TEXT UNIQUE, sharer TEXT, "
               "shared_at TEXT, note TEXT, tags TEXT)")
    # The rows are prepared beforehand: the baseline measures storing, nothing else.
    rows = [(_url(p), canonical_key(_url(p)), p.author_name, p.at.isoformat(), p.note,
             " ".join(t for t in p.text.split() if t.startswith("#"))) for p in posts]
    wall, cpu = time.perf_counter(), time.process_time()
    for row in rows:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO links (url, key, sharer, shared_at, note, tags) VALUES (?, ?, ?, ?, ?, ?)", row)
        db.execute("COMMIT")
    result = time.perf_counter() - wall, time.process_time() - cpu
    db.close()
    return result


def _url(post: Post) -> str:
    return next(word for word in post.text.split() if word.startswith("https://"))


async def search_with_watchbot(url: str, queries: list[str]) -> list[float]:
    async with await Store.open(url) as store:
        timings = []
        for query in queries:
            start = time.perf_counter()
            await store.search(query, limit=20)
            timings.append(time.perf_counter() - start)
        return timings


def search_with_like(path: Path, queries: list[str]) -> list[float]:
    db = sqlite3.connect(path)
    timings = []
    for query in queries:
        clauses = " AND ".join("search_document LIKE ?" for _ in query.split())
        start = time.perf_counter()
        db.execute(f"SELECT id FROM links WHERE {clauses} ORDER BY id DESC LIMIT 20",
                   [f"%{w}%" for w in query.split()]).fetchall()
        timings.append(time.perf_counter() - start)
    db.close()
    return timings


def export_in_child(url: str, fmt: str, out: Path) -> tuple[float, float]:
    """`watchbot export` as a person runs it: (wall seconds, peak RSS of that process in MB).

    The child reports its own VmHWM: ru_maxrss of children would inherit this process's peak
    across fork and exec on Linux, and so report the benchmark's memory, not the export's.
    """
    code = ("import atexit, sys; atexit.register(lambda: print(open('/proc/self/status').read()"
            ".split('VmHWM:')[1].split()[0], file=sys.stderr)); "
            "from watchbot.cli import main; sys.argv = ['watchbot'] + sys.argv[1:]; main()")
    start = time.perf_counter()
    child = subprocess.run([sys.executable, "-c", code, "export", "--format", fmt, "-o", str(out)], check=True,
                           env={"WATCHBOT_DATABASE_URL": url, "PATH": "/usr/bin:/bin",
                                "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
                           capture_output=True, text=True)
    wall = time.perf_counter() - start
    return wall, int(child.stderr.split()[-1]) / 1024


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the stores in this directory.")
    args = parser.parse_args()

    posts = make_posts(args.links)
    rng = random.Random(11)
    topics = max(args.links // 20, 1)
    # Two kinds of query: one common word (in about a quarter of all links), and a selective one
    # (a rare topic word, in ~20 links, with a common word).
    common = [rng.choice(WORDS) for _ in range(args.queries // 2)]
    selective = [f"topic{rng.randrange(topics)} {rng.choice(WORDS)}" for _ in range(args.queries // 2)]
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        watchbot_db, plain_db = Path(tmp) / "watchbot.db", Path(tmp) / "plain.db"
        plain_wall, plain_cpu = file_with_plain_sqlite(posts, plain_db)
        wb_wall, wb_cpu = asyncio.run(file_with_watchbot(posts, f"sqlite:///{watchbot_db}"))
        searches = {kind: (asyncio.run(search_with_watchbot(f"sqlite:///{watchbot_db}", queries)),
                           search_with_like(watchbot_db, queries))
                    for kind, queries in (("one common word", common), ("a rare and a common word", selective))}
        size_mb = sum(f.stat().st_size for f in Path(tmp).glob("watchbot.db*")) / 1e6
        export_wall, export_rss = export_in_child(f"sqlite:///{watchbot_db}", "json", Path(tmp) / "all.json")
        export_mb = (Path(tmp) / "all.json").stat().st_size / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    n = args.links
    print(f"Machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}; {n:,} links, {len(common) + len(selective)} queries\n")
    print("| filing | wall | CPU | per link (wall) |")
    print("|---|---|---|---|")
    print(f"| watchbot (intake.file_post) | {wb_wall:.1f} s | {wb_cpu:.1f} s | {wb_wall / n * 1e3:.2f} ms |")
    print(f"| plain sqlite3, one transaction per row | {plain_wall:.1f} s | {plain_cpu:.1f} s | "
          f"{plain_wall / n * 1e3:.2f} ms |")
    print(f"| ratio watchbot / plain | {wb_wall / plain_wall:.1f}x | {wb_cpu / plain_cpu:.1f}x | |\n")
    print("| search, 20 results | watchbot FTS5 median | p95 | LIKE scan median | p95 | LIKE / FTS5 (median) |")
    print("|---|---|---|---|---|---|")
    for kind, (fts, like) in searches.items():
        print(f"| {kind} | {statistics.median(fts) * 1e3:.2f} ms | {p95(fts) * 1e3:.2f} ms | "
              f"{statistics.median(like) * 1e3:.2f} ms | {p95(like) * 1e3:.2f} ms | "
              f"{statistics.median(like) / statistics.median(fts):.1f}x |")
    print()
    print(f"Store size on disk: {size_mb:.0f} MB; peak RSS of the benchmark process: {peak_mb:.0f} MB.\n")
    print(f"`watchbot export --format json` of the whole store: {export_wall:.1f} s, "
          f"{export_mb:.0f} MB written, peak RSS of that process {export_rss:.0f} MB.")


if __name__ == "__main__":
    main()
