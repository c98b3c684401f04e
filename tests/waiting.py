"""Waiting in the tests: for a condition, with a deadline to fail by, never a fixed sleep before an
assertion (a sleep is only ever the behaviour under test: a slow server, a quiet connection).

    await until(lambda: LinkStore(store).count_links(), "the link to be filed")  # an async check
    await until(lambda: len(sent) == 3, "the three parts to be sent")        # or a plain one

Where the point is "it happened once and not again", wait for the first, then for the sender to
be idle (a condition on the store or the server, such as an empty outbox), then count.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

__all__ = ["until"]

#: How often a condition is looked at again; short, since each look is cheap.
EVERY = 0.05


async def until(check: Callable[[], Any], what: str, timeout: float = 30, *, every: float = EVERY) -> Any:
    """What ``check()`` gives once it is truthy (awaited first when it is awaitable).

    Raises TimeoutError after ``timeout`` seconds, naming ``what`` and the last value seen: a
    failure that says what did not happen, rather than a hung suite or a later, vaguer assertion.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}; last seen: {result!r}")
        await asyncio.sleep(every)

