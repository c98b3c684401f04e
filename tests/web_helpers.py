"""What the web tests share: a store with public, hostile and private shares on fixed dates, a
posted digest, a test client on the web app (aiohttp's TestServer on a free loopback port), and
the web server itself (web/serve.py, its connection guard included) on a free loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from itertools import count

from aiohttp.test_utils import TestClient, TestServer

from watchbot.digest.schedule import current_period, last_period
from watchbot.intake import Rules, file_post
from watchbot.model import Post, Source, Visibility
from watchbot.store import Store
from watchbot.store.digests import DigestRuns
from watchbot.web.app import build_app
from watchbot.web.serve import WebServer
from watchbot.web.site import Site, WebOptions

UTC = timezone.utc
BASE_URL = "https://watch.example"
# A Wednesday: the digest of "0 17 * * fri" for 27 Nov - 4 Dec (week 49) is out; week 50 goes on.
NOW = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
SCHEDULE = "0 17 * * fri"
LAST_WEEK, THIS_WEEK = "2026-W49", "2026-W50"
HOSTILE_TITLE = "<script>alert('title')</script>Fast \u202egnp.exe</b><i>"
HOSTILE_NOTE = "</blockquote><img src=x onerror=alert(1)><a href='javascript:alert(2)'>click"
HOSTILE_NAME = "Mallory <svg onload=alert(3)>"
CANARIES = ("CANARYURL", "canarytag", "canarynote", "CANARYTITLE", "CANARYDESC", "Canaryname", "canaryid",
            "CANARYPATH")
_events = count(1)
# (place, sharer, visibility, source) of each kind of share the public may not read.
PRIVATE_KINDS = (
    ("!dm:x", ("@canaryid:x", "Canaryname"), Visibility.DIRECT, Source.MATRIX),
    ("!secret:x", ("@canaryidroom:x", "Canaryname in a room"), Visibility.PRIVATE, Source.MATRIX),
    ("social.example", ("canaryid@social.example", "Canaryname followers"), Visibility.PRIVATE, Source.MASTODON),
    ("social.example", ("canaryiddm@social.example", "Canaryname direct"), Visibility.DIRECT, Source.MASTODON),
)


def web_options(**more) -> WebOptions:
    return WebOptions(base_url=BASE_URL, digest_schedule=SCHEDULE, **more)


def post(text: str, at: datetime, *, who: tuple[str, str] = ("@alice:x", "Alice"), place: str = "!pub:x",
         visibility: Visibility = Visibility.PUBLIC, **more) -> Post:
    return Post(source=more.pop("source", Source.MATRIX), place=place, author_id=who[0], author_name=who[1],
                text=text, event_id=f"$w{next(_events)}", visibility=visibility, at=at, **more)


async def fill(store: Store) -> None:
    """Last week: a public link, a hostile one, and private shares (with canaries) of the first;
    this week: one more public link. Last week's digest is posted to a room."""
    last = last_period(SCHEDULE, UTC, NOW)
    day = last.start + timedelta(days=2)
    await file_post(store, post("https://rust.example/async?utm_source=x #rust #async", day,
                                note="A good read"), Rules())
    await file_post(store, post("https://evil.example/page #security", day + timedelta(hours=1),
                                who=("@mallory:x", HOSTILE_NAME), title=HOSTILE_TITLE, note=HOSTILE_NOTE), Rules())
    # The same canaries from every kind of share that is never published: a direct chat, an
    # invite-only room, a followers-only status and a direct one (the same links: no new number).
    for place, who, visibility, source in PRIVATE_KINDS:
        await file_post(store, post("https://rust.example/async?utm_campaign=CANARYURL and "
                                    "https://secret.example/CANARYPATH #canarytag", day + timedelta(hours=2),
                                    who=who, place=place, visibility=visibility, source=source,
                                    note="canarynote", title="CANARYTITLE", description="CANARYDESC"), Rules())
    now_period = current_period(SCHEDULE, UTC, NOW)
    await file_post(store, post("https://python.example/whatsnew #python", now_period.start + timedelta(days=1),
                                who=("@bob:x", "Bob")), Rules())
    runs = DigestRuns(store)
    claim = await runs.claim("matrix:!pub:x", last, "test")
    await runs.finish(claim.run_id)


@asynccontextmanager
async def web_client(store: Store, options: WebOptions | None = None, **more) -> AsyncIterator[TestClient]:
    site = Site(store=store, options=options or web_options(**more), clock=lambda: NOW)
    async with TestClient(TestServer(build_app(site), host="127.0.0.1")) as client:
        yield client


@asynccontextmanager
async def listening(store: Store, **options) -> AsyncIterator[WebServer]:
    """The web server as `watchbot run` runs it, on a free loopback port (`server.port`), its clock
    stopped at NOW, with these WebOptions."""
    server = WebServer(web_options(**options), store, port=0)
    server.site = Site(store=store, options=server.site.options, clock=lambda: NOW)
    task = asyncio.create_task(server.run())
    bound = asyncio.create_task(server.bound.wait())
    await asyncio.wait([task, bound], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    try:
        assert server.bound.is_set(), f"the web server did not listen: {server.failed}"
        yield server
    finally:
        bound.cancel()
        task.cancel()
        await asyncio.gather(task, bound, return_exceptions=True)
