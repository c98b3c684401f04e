"""A sliding-window budget: at most `limit` uses in any `window` seconds. Pure: time is given.

Mastodon allows 300 requests per 5 minutes and 300 posts per 3 hours per account; staying inside
them on our side keeps the bot polite even with a server that does not send rate-limit headers.
"""

from __future__ import annotations

from collections import deque


class Budget:
    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._uses: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds to wait before the next use fits (0: now)."""
        while self._uses and self._uses[0] <= now - self.window:
            self._uses.popleft()
        if len(self._uses) < self.limit:
            return 0.0
        return self._uses[0] + self.window - now

    def spend(self, now: float) -> None:
        self._uses.append(now)
