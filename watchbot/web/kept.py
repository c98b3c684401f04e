"""A value the pages read often and the store computes slowly, kept for a stated lifetime.

Counting every tag of a million links takes a second and a half; twenty readers of /tags must not
make it twenty times a second. A `Kept` value is read from the store at most once per lifetime:
once it is older, the next reader still gets it at once while one fresh read runs in the
background (the readers after it get the fresh one). Only the very first reader waits, and
readers who arrive together share that one read. If a fresh read fails, the last value stays and
is read again a lifetime later; the log says why once per failure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Kept(Generic[T]):
    def __init__(self, name: str, read: Callable[[], Awaitable[T]], *, lifetime: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name  # for the log
        self.lifetime = lifetime  # seconds
        self._read = read
        self._clock = clock
        self._value: T | None = None
        self._read_at: float | None = None  # when the value was read (the clock's seconds)
        self._reading: asyncio.Task[None] | None = None

    async def get(self) -> T:
        if self._read_at is None:  # nothing yet: wait for the one read under way
            await asyncio.shield(self._refresh())
            if self._read_at is None:  # it failed: this reader is told so
                raise LookupError(f"{self.name} could not be read")
        elif self._clock() - self._read_at >= self.lifetime:
            self._refresh()  # in the background: this reader gets the value it is replacing
        return self._value  # type: ignore[return-value]

    def _refresh(self) -> asyncio.Task[None]:
        if self._reading is None or self._reading.done():
            self._reading = asyncio.create_task(self._read_now(), name=f"kept-{self.name}")
        return self._reading

    async def _read_now(self) -> None:
        started = self._clock()
        try:
            value = await self._read()
        except Exception as error:  # noqa: BLE001 - the last value stays; said once per failure
            log.error("%s could not be read: %s", self.name, str(error).splitlines()[0] if str(error) else
                      type(error).__name__)
            if self._read_at is not None:
                self._read_at = started  # try again a lifetime from now, not at every request
            return
        self._value, self._read_at = value, started

    async def close(self) -> None:
        """Stop a read under way (the server is stopping)."""
        if self._reading is not None and not self._reading.done():
            self._reading.cancel()
            await asyncio.gather(self._reading, return_exceptions=True)
