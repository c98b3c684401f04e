"""What the pages keep a while (watchbot/web/kept.py): read once per lifetime, behind the reader,
once for readers who come together, and the last value kept when a fresh read fails."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.web_serving import NOW
from watchbot.web.kept import Kept


class Source:
    """A store's slow count, by hand: each read gives the next value, or fails when told to."""

    def __init__(self) -> None:
        self.reads = 0
        self.failing = False
        self.gate = asyncio.Event()
        self.gate.set()

    async def read(self) -> int:
        await self.gate.wait()
        self.reads += 1
        if self.failing:
            raise OSError("disk I/O error\nsecond line")
        return self.reads


async def test_readers_who_come_together_share_one_read_then_it_is_kept_for_its_lifetime():
    source, now = Source(), [0.0]
    kept = Kept("counts", source.read, lifetime=60, clock=lambda: now[0])
    source.gate.clear()
    readers = [asyncio.create_task(kept.get()) for _ in range(20)]
    await asyncio.sleep(0)
    source.gate.set()
    assert await asyncio.gather(*readers) == [1] * 20 and source.reads == 1
    now[0] = 59.9
    assert await kept.get() == 1 and source.reads == 1


async def test_an_old_value_is_given_at_once_while_the_fresh_one_is_read():
    source, now = Source(), [0.0]
    kept = Kept("counts", source.read, lifetime=60, clock=lambda: now[0])
    assert await kept.get() == 1
    now[0] = 60
    source.gate.clear()  # the fresh read is slow
    assert await asyncio.wait_for(kept.get(), timeout=5) == 1
    assert await asyncio.wait_for(kept.get(), timeout=5) == 1  # and started once
    source.gate.set()
    await asyncio.sleep(0.01)
    assert await kept.get() == 2 and source.reads == 2
    await kept.close()


async def test_a_failed_read_keeps_the_last_value_and_is_tried_again_a_lifetime_later(caplog):
    source, now = Source(), [0.0]
    kept = Kept("tag counts", source.read, lifetime=60, clock=lambda: now[0])
    assert await kept.get() == 1
    source.failing, now[0] = True, 61
    with caplog.at_level(logging.ERROR, logger="watchbot.web.kept"):
        assert await kept.get() == 1
        await asyncio.sleep(0.01)
        assert await kept.get() == 1  # not read again at once: the failure waits a lifetime
    assert source.reads == 2
    assert [r.getMessage() for r in caplog.records] == ["tag counts could not be read: disk I/O error"]
    source.failing, now[0] = False, 122
    await kept.get()
    await asyncio.sleep(0.01)
    assert await kept.get() == 3


async def test_the_first_read_failing_is_an_error_for_its_reader():
    source = Source()
    source.failing = True
    kept = Kept("tag counts", source.read, lifetime=60)
    with pytest.raises(LookupError):
        await kept.get()


# -- answers kept a few seconds (watchbot/web/answers.py), on a served app ----------------------


async def test_a_page_is_the_same_for_its_lifetime_then_shows_what_changed(store):
    from tests.web_serving import serving, share
    from watchbot.web.answers import KEEP_SECONDS

    now = [0.0]
    await share(store, "https://example.org/a #rust", hours_ago=3)
    async with serving(store, ticks=lambda: now[0]) as client:
        first = await (await client.get("/api/links")).json()
        await share(store, "https://example.org/b #rust", hours_ago=1)
        now[0] += KEEP_SECONDS - 0.1
        kept = await (await client.get("/api/links")).json()
        other_address = await (await client.get("/api/links?limit=5")).json()  # another answer: made now
        now[0] += 0.1
        later = await (await client.get("/api/links")).json()
    assert len(first["links"]) == len(kept["links"]) == 1
    assert len(other_address["links"]) == len(later["links"]) == 2


async def test_readers_who_come_together_get_one_making_of_the_page(store, monkeypatch):
    from tests.web_serving import serving, share
    from watchbot.store import published

    await share(store, "https://example.org/a #rust", hours_ago=3)
    reads = []
    original = published.PublishedReader.page

    async def counted(self, **kwargs):
        reads.append(kwargs)
        return await original(self, **kwargs)

    monkeypatch.setattr(published.PublishedReader, "page", counted)
    async with serving(store) as client:
        answers = await asyncio.gather(*(client.get("/api/links") for _ in range(20)))
        bodies = {await answer.read() for answer in answers}
    assert [answer.status for answer in answers] == [200] * 20 and len(bodies) == 1
    assert len(reads) == 1


async def test_health_and_errors_are_never_kept(store):
    from tests.web_serving import serving, share
    from watchbot.store.heartbeats import HeartbeatStore

    async with serving(store, networks=("matrix",)) as client:
        unwell = await client.get("/healthz")
        missing = await client.get("/api/links/1")
        await share(store, "https://example.org/a #rust", hours_ago=3)
        await HeartbeatStore(store).beat("matrix", NOW)
        well = await client.get("/healthz")
        found = await client.get("/api/links/1")
    assert (unwell.status, well.status) == (503, 200)
    assert (missing.status, found.status) == (404, 200)


async def test_a_kept_feed_still_answers_304_to_whoever_holds_it(store):
    from tests.web_serving import serving, share

    await share(store, "https://example.org/a #rust", hours_ago=3)
    async with serving(store) as client:
        first = await client.get("/feeds/links.atom")
        feed = await first.read()
        held = await client.get("/feeds/links.atom", headers={"If-None-Match": first.headers["ETag"]})
        nothing = await held.read()
        other = await client.get("/feeds/links.atom", headers={"If-None-Match": '"not-it"'})
        again = await other.read()
    assert held.status == 304 and held.headers["ETag"] == first.headers["ETag"] and nothing == b""
    assert other.status == 200 and again == feed
    assert held.headers["Content-Security-Policy"]  # the app's headers, on kept answers too
