"""What the pages keep a while (watchbot/web/kept.py): read once per lifetime, behind the reader,
once for readers who come together, and the last value kept when a fresh read fails."""

from __future__ import annotations

import asyncio
import logging

import pytest

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
