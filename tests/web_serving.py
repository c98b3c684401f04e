"""The web app served on loopback for a test: a real aiohttp server on a free port, on a real store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from itertools import count

from aiohttp.test_utils import TestClient, TestServer

from watchbot.intake import Rules, file_post
from watchbot.model import Post, Source, Visibility
from watchbot.store import Store
from watchbot.web.app import build_app
from watchbot.web.site import Site, WebOptions

# The tests' own "now": nothing here reads the wall clock.
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
BASE_URL = "https://watch.example"
_events = count(1)


@asynccontextmanager
async def serving(store: Store, *, ticks: Callable[[], float] = time.monotonic,
                  **options) -> AsyncIterator[TestClient]:
    """A client of the web app on `store`, its clock stopped at NOW, with these options (and
    `ticks` for the seconds of what it keeps a while)."""
    site = Site(store=store, options=WebOptions(base_url=BASE_URL, **options), clock=lambda: NOW, ticks=ticks)
    client = TestClient(TestServer(build_app(site), host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def share(store: Store, text: str, *, hours_ago: float, who: tuple[str, str] = ("@alice:x", "Alice"),
                place: str = "!pub:x", visibility: Visibility = Visibility.PUBLIC, **more) -> list[int]:
    """File what `who` posted in `place` `hours_ago` hours before NOW; the ids of the links filed."""
    post = Post(source=more.pop("source", Source.MATRIX), place=place, author_id=who[0], author_name=who[1],
                text=text, event_id=f"$web{next(_events)}", visibility=visibility,
                at=NOW - timedelta(hours=hours_ago), **more)
    result = await file_post(store, post, Rules())
    return [each.filed.link.id for each in result.results]
