"""Is the bot alive and well? Each network's adapter keeps a pulse in the store; `watchbot status`
(and the Docker HEALTHCHECK through it) reads the pulses and says, one line per network.

A network is well when it synced or polled within STALE_AFTER and has not stopped. The pulse is
written at most once a minute while all is well (a row overwritten, not a log), and at once when
a network stops, with the line saying what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from watchbot.model import utcnow
from watchbot.store import Store
from watchbot.store.heartbeats import Heartbeat, HeartbeatStore

WRITE_EVERY = timedelta(seconds=60)
# Matrix long-polls 30 s at a time and Mastodon polls every minute at most: five minutes without a
# good answer is an outage, not a slow server.
STALE_AFTER = timedelta(minutes=5)


class Pulse:
    """One network's heartbeat, as its adapter sees it."""

    def __init__(self, store: Store, network: str, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.beats = HeartbeatStore(store)
        self.network = network
        self.clock = clock
        self._written: datetime | None = None

    async def ok(self) -> None:
        """A good sync or poll; written when the last write is a minute old."""
        now = self.clock()
        if self._written is None or now - self._written >= WRITE_EVERY:
            await self.beats.beat(self.network, now)
            self._written = now

    async def stopped(self, problem: str) -> None:
        await self.beats.beat(self.network, self.clock(), problem)
        self._written = None


@dataclass(frozen=True, slots=True)
class Health:
    healthy: bool
    lines: list[str]
    # The lines that make it unhealthy, alone (what /healthz answers with its 503).
    problems: list[str] = field(default_factory=list)


def assess(beats: Iterable[Heartbeat], networks: Iterable[str], now: datetime, *,
           failed_events: int = 0, outbox_failed: int = 0, outbox_waiting: int = 0) -> Health:
    """How each configured network stands, from its last heartbeat (pure: the caller reads)."""
    by_network = {beat.network: beat for beat in beats}
    lines, problems = [], []
    for network in networks:
        beat = by_network.get(network)
        if beat is None:
            problems.append(f"{network}: no sign of life yet (is `watchbot run` running?)")
            lines.append(problems[-1])
        elif beat.problem:
            problems.append(f"{network}: stopped {_ago(now - beat.beat_at)}: {beat.problem}")
            lines.append(problems[-1])
        elif now - beat.beat_at > STALE_AFTER:
            problems.append(f"{network}: no good sync or poll for {duration(now - beat.beat_at)} "
                            "(see the bot's log)")
            lines.append(problems[-1])
        else:
            lines.append(f"{network}: ok, last good sync or poll {_ago(now - beat.beat_at)}")
    if failed_events:
        lines.append(f"{failed_events} failed event(s) wait for you: see `watchbot failed`")
    # Said, not unwell: a network that cannot send also stops syncing or says why it stopped.
    if outbox_waiting:
        lines.append(f"{outbox_waiting} answer(s) waiting to be sent")
    if outbox_failed:
        lines.append(f"{outbox_failed} answer(s) could not be sent and are kept: see `watchbot outbox --failed`")
    return Health(not problems, lines, problems)


def _ago(delta: timedelta) -> str:
    return f"{duration(delta)} ago"


def duration(delta: timedelta) -> str:
    """How long, as a person reads it at a glance: 40 s, 12 min, 5 h."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
