"""event_or_timeout: a wake-up wait that never swallows the cancellation of the task waiting."""

from __future__ import annotations

import asyncio


from watchbot.waits import event_or_timeout


async def test_a_cancellation_at_the_moment_of_a_wake_up_stops_the_waiter():
    """The race that made a stopping bot hang: the sender woken as it was being cancelled."""
    for delay in range(4):  # the cancel lands at each step of the wake-up in turn
        event = asyncio.Event()
        task = asyncio.create_task(event_or_timeout(event, 60))
        await asyncio.sleep(0)
        event.set()
        for _ in range(delay):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            continue
        assert task.result() is True and delay > 0  # finished before the cancel came: fine


async def test_it_says_whether_the_event_came_or_the_time_ran_out():
    event = asyncio.Event()
    assert await event_or_timeout(event, 0.01) is False
    event.set()
    assert await event_or_timeout(event, 60) is True
