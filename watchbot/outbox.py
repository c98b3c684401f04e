"""Sending what the outbox holds, once: one sender per network, in order, retrying with backoff.

The network's adapter gives a `deliver(item)` that sends one item with its key as the server's
idempotency key (so a send repeated after a crash is one message) and returns the server's id for
it. `deliver` raises `TryLater` for what time may mend (a server away, a rate limit, a 5xx) and
`CannotSend` for what it will not (a room the bot left, a status deleted): the first is retried
with backoff, the second, and an item still failing after MAX_ATTEMPTS, is kept as failed for
the operator (`watchbot outbox`) and never sent by itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from watchbot.isolation import one_line
from watchbot.model import utcnow
from watchbot.store import Store
from watchbot.store.outbox import EMPTIED_WHEN_SENT, SENT_KEPT, OutboxItem, OutboxStore
from watchbot.waits import event_or_timeout

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12  # with the backoff below: about six hours of trying
FIRST_WAIT = timedelta(seconds=2)
LONGEST_WAIT = timedelta(hours=1)
IDLE_CHECK = 60.0  # seconds: even unwoken, the sender looks again (an item due later)
PRUNE_EVERY = timedelta(hours=1)  # sent answers older than SENT_KEPT go at this pace


class TryLater(Exception):
    """Time may mend it; `retry_after` when the server said how long to wait."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class CannotSend(Exception):
    """Sending it again would fail again."""


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: 2 s, 4 s, 8 s … up to an hour."""
    return min(FIRST_WAIT * (2 ** max(0, attempts - 1)), LONGEST_WAIT)


class Sender:
    def __init__(self, store: Store, network: str, deliver: Callable[[OutboxItem], Awaitable[str | None]], *,
                 clock: Callable[[], datetime] = utcnow, unordered: frozenset[str] = frozenset(),
                 window: int = 1) -> None:
        """`unordered`: kinds whose items may be sent in any order among themselves (a reaction
        names the message it answers), up to `window` at once; every other item is sent alone,
        after what was owed before it."""
        self.outbox = OutboxStore(store)
        self.network = network
        self.deliver = deliver
        self.clock = clock
        self.unordered = unordered
        self.window = max(1, window)
        self._wake = asyncio.Event()
        self._pruned_at: datetime | None = None

    def wake(self) -> None:
        """Something was owed: look now rather than at the next check."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            await self.send_due()
            await self.prune()
            await self._sleep_until_due()

    async def send_due(self) -> int:
        """Send everything due now, in order; the number of items sent."""
        sent = 0
        while True:
            items = await self.outbox.due(self.network, self.clock())
            if not items:
                return sent
            stalled = set()  # places whose item must wait: their later items wait too
            wave: list[OutboxItem] = []  # unordered items, sent together
            for item in items:
                if item.place in stalled:
                    continue
                if item.kind in self.unordered:
                    wave.append(item)
                    if len(wave) >= self.window:
                        sent += await self._send_wave(wave, stalled)
                        wave = []
                    continue
                sent += await self._send_wave(wave, stalled)  # what was owed before it goes first
                wave = []
                if item.place not in stalled:
                    sent += await self._send_wave([item], stalled)
            sent += await self._send_wave(wave, stalled)
            if stalled:
                return sent

    async def prune(self) -> int:
        """Delete the answers sent long enough ago (OutboxStore.prune_sent), at most once per
        PRUNE_EVERY of the sender's clock: how many."""
        now = self.clock()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return 0
        self._pruned_at = now
        pruned = await self.outbox.prune_sent(self.network, now)
        if pruned:
            log.info("%s: %d answer(s) sent more than %d days ago deleted", self.network.capitalize(), pruned,
                     SENT_KEPT.days)
        return pruned

    async def _send_wave(self, wave: list[OutboxItem], stalled: set[str]) -> int:
        """Send these items at once (each marked sent on its own); a place with one that must
        wait stalls. The number sent."""
        wave = [item for item in wave if item.place not in stalled]
        if not wave:
            return 0
        done = await asyncio.gather(*(self._send(item) for item in wave))
        stalled.update(item.place for item, ok in zip(wave, done) if not ok)
        return sum(done)

    async def _send(self, item: OutboxItem) -> bool:
        try:
            remote_id = await self.deliver(item)
        except TryLater as error:
            attempts = item.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                await self._give_up(item, f"{error} (tried {attempts} times)")
                return True  # given up: the place's later answers go on
            wait = timedelta(seconds=error.retry_after) if error.retry_after else backoff(attempts)
            log.warning("%s: could not send the %s for %s (%s); trying again in %.0f s", self.network.capitalize(),
                        item.kind, item.place, error, wait.total_seconds())
            await self.outbox.retry_later(item.id, str(error), self.clock() + wait)
            return False
        except CannotSend as error:
            await self._give_up(item, str(error))
            return True
        except Exception as error:  # noqa: BLE001 -- a bug in sending one item never stops the others
            log.exception("%s: a bug while sending the %s for %s", self.network.capitalize(), item.kind, item.place)
            await self._give_up(item, f"{type(error).__name__}: {one_line(str(error), 300)}")
            return True
        await self.outbox.sent(item.id, self.clock(), remote_id, emptied=bool(item.payload.get(EMPTIED_WHEN_SENT)))
        return True

    async def _give_up(self, item: OutboxItem, reason: str) -> None:
        log.error("%s: gave up sending the %s for %s: %s (kept: see `watchbot outbox --failed`)", self.network.capitalize(),
                  item.kind, item.place, reason)
        await self.outbox.give_up(item.id, reason, self.clock())

    async def _sleep_until_due(self) -> None:
        timeout = IDLE_CHECK
        due_at = await self.outbox.next_due_at(self.network)
        if due_at is not None:
            timeout = min(IDLE_CHECK, max(0.0, (due_at - self.clock()).total_seconds()))
        await event_or_timeout(self._wake, timeout)
