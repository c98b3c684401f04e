"""Waiting for an asyncio.Event with a time limit, without losing a cancellation.

On Python 3.11, `asyncio.wait_for(event.wait(), t)` returns normally when the task is cancelled
at the moment the event is set, swallowing the cancellation (fixed in 3.12): a loop that waits
for a wake-up that way may never stop. `asyncio.timeout` tells its own cancellation from the
caller's, so it is used instead.
"""

from __future__ import annotations

import asyncio


async def event_or_timeout(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` have passed; True when it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
