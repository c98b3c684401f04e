"""Readers apart from the bot (decision 30): a page that reads for long holds up no filing, a
filing in the middle of its transaction holds up no page, and a lane of readers cannot write.
On SQLite (WAL) and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import select

from tests.test_store import share
from watchbot.model import PUBLIC
from watchbot.store import Store
from watchbot.store.links import LinkStore
from watchbot.store.published import PublishedReader
from watchbot.store.schema import links

HELD = 30.0  # seconds a held transaction would wait: far beyond what the test allows it


def _held_until(released: threading.Event, then):
    """A transaction that waits for `released` before it does `then(conn)` and ends."""
    def work(conn):
        if not released.wait(HELD):
            raise TimeoutError("never released")
        return then(conn)
    return work


async def test_a_page_reading_for_long_holds_up_no_filing(store: Store):
    released = threading.Event()
    pages = store.readers("pages", threads=1)
    slow_page = asyncio.create_task(pages.read(_held_until(released, lambda conn: conn.execute(
        select(links.c.id)).all())))
    try:
        # While the page reads, a member's link is filed and read back on the bot's own thread.
        [filed] = await asyncio.wait_for(LinkStore(store).file_shares([share()]), timeout=10)
        assert (await LinkStore(store).get_link(filed.link.id)).link.url == "https://example.com/a"
        assert not slow_page.done()
    finally:
        released.set()
    await slow_page


async def test_a_filing_in_its_transaction_holds_up_no_page(store: Store):
    [filed] = await LinkStore(store).file_shares([share()])
    released = threading.Event()
    # The bot's thread is in the middle of a write transaction (SQLite: it holds the write lock).
    writing = asyncio.create_task(store.write(_held_until(released, lambda conn: None)))
    try:
        pages = store.readers("pages", threads=1)
        shown = await asyncio.wait_for(PublishedReader(pages, PUBLIC).link(filed.link.id), timeout=10)
        assert shown is not None and shown.url == "https://example.com/a"
        assert not writing.done()
    finally:
        released.set()
    await writing


async def test_many_readers_wait_for_each_other_not_for_the_bot(store: Store):
    released = threading.Event()
    pages = store.readers("pages", threads=2)
    held = [asyncio.create_task(pages.read(_held_until(released, lambda conn: 1))) for _ in range(6)]
    try:
        # Every page thread is taken and four readers wait; the operator's lane still answers,
        # and so does the bot.
        ops = store.readers("ops", threads=1)
        assert await asyncio.wait_for(ops.read(lambda conn: conn.execute(select(1)).scalar()), timeout=10) == 1
        await asyncio.wait_for(LinkStore(store).file_shares([share()]), timeout=10)
    finally:
        released.set()
    assert await asyncio.gather(*held) == [1] * 6


async def test_a_lane_of_readers_cannot_write(store: Store):
    pages = store.readers("pages", threads=1)
    assert pages is store.readers("pages", threads=1)  # one lane per name, made once
    with pytest.raises(AttributeError):
        pages.write  # noqa: B018 - what a web route would try
