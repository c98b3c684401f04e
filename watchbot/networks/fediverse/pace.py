"""How often the Mastodon adapter polls for mentions, and the clock it waits on.

Polling is the source of truth; a live stream only says "look now". Without one, the poll is
what answers people, so it runs often while mentions come and more slowly when the account is
quiet. The figures, against Mastodon's 300 requests per 5 minutes per account (a poll is one
request when nothing came):

- every ACTIVE_SECONDS (5 s) for ACTIVE_FOR (2 minutes) after a poll that found a mention: 60
  requests per 5 minutes, a fifth of the budget, the rest left for the answers; a mention in a
  conversation is read 2.5 s after it was made, in the median;
- every `idle` seconds otherwise (WATCHBOT_FEDIVERSE_POLL_SECONDS, 15 s by default): 20 requests
  per 5 minutes; the first mention after a quiet spell is read 7.5 s after it was made in the
  median, 15 s at worst;
- with a live stream, every max(idle, SAFETY_NET_SECONDS) (60 s): only the safety net for a frame
  the stream lost.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from watchbot.waits import event_or_timeout

ACTIVE_SECONDS = 5.0
ACTIVE_FOR = 120.0
SAFETY_NET_SECONDS = 60.0


@dataclass
class PollPace:
    idle: float
    active: float = ACTIVE_SECONDS
    active_for: float = ACTIVE_FOR
    safety_net: float = SAFETY_NET_SECONDS
    last_found: float | None = None  # when a poll last found a mention (the clock's time)

    def found(self, now: float) -> None:
        self.last_found = now

    def wait(self, now: float, *, live_stream: bool) -> float:
        """Seconds until the next poll."""
        if live_stream:
            return max(self.idle, self.safety_net)
        if self.last_found is not None and now - self.last_found < self.active_for:
            return min(self.active, self.idle)
        return self.idle


class Clock:
    """Time as the adapter sees it: tests and benchmarks pass one of their own."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        """Until `event` is set (True) or `seconds` have passed (False)."""
        return await event_or_timeout(event, seconds)
