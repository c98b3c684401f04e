"""Wiring: every part the settings ask for, built complete from its own options, and run under
one TaskGroup until SIGTERM or Ctrl-C.

The parts that need each other meet in one `Networks` list (watchbot/network.py), built empty
first: the desk tells the moderators through it, the feed poller's alerts and the scheduler's
digests go out through it, and each network joins it once built. Nothing is patched onto an
adapter afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from watchbot.commands import Desk
from watchbot.config import Settings
from watchbot.intake import Rules
from watchbot.model import utcnow
from watchbot.network import Networks
from watchbot.store import Store

log = logging.getLogger(__name__)


class NothingToRun(Exception):
    """No network is configured."""


@dataclass
class Bot:
    """Everything `watchbot run` runs, built from the settings; `workers` run side by side."""

    networks: Networks
    desk: Desk
    workers: list = field(default_factory=list)
    scheduler: object | None = None  # the DigestScheduler, when the digest is enabled
    poller: object | None = None  # the FeedPoller, when feeds are followed


def build_networks(settings: Settings, store: Store, *, desk: Desk | None = None,
                   on_digest_approved: Callable[[], None] | None = None,
                   clock: Callable[[], datetime] = utcnow) -> Networks:
    """The networks the settings configure, joined in one list, their commands on one desk;
    `clock` says what time it is where they record a date (build_bot's)."""
    networks = desk.networks if desk is not None else Networks()
    desk = desk or Desk.from_settings(store, settings, networks=networks)
    rules = Rules.from_settings(settings)
    if settings.matrix_enabled:
        from watchbot.networks.matrix import MatrixAdapter, MatrixOptions  # nio is imported only when needed

        networks.join(MatrixAdapter(MatrixOptions.from_settings(settings), store, rules, desk=desk,
                                   on_digest_approved=on_digest_approved))
    if settings.fediverse_enabled:
        from watchbot.networks.fediverse import FediverseAdapter, FediverseOptions  # Mastodon.py only when needed

        networks.join(FediverseAdapter(FediverseOptions.from_settings(settings), store, rules, desk=desk,
                                       wall_clock=clock))
    return networks


def feed_poller(settings: Settings, store: Store, networks: Networks):
    """The feed poller, its alerts posted by every network."""
    from watchbot.feeds.poller import poller_from_settings

    async def alert(alert) -> None:
        await networks.announce(alert.text(), alert.html(), key=f"alert:{alert.feed_id}:{alert.link}")

    async def disabled(notice) -> None:
        await networks.announce(notice.text(), notice.html(), key=f"disabled:{notice.feed_id}", public=False)

    return poller_from_settings(settings, store, on_alert=alert, on_disabled=disabled)


def build_bot(settings: Settings, store: Store, *, clock: Callable[[], datetime] = utcnow,
              wait: Callable[[asyncio.Event, float], Awaitable[None]] | None = None) -> Bot:
    """Every part of `watchbot run`. `clock` and `wait` reach the digest's schedule (a test drives
    the bot through a period's end with them); `clock` also dates the digest's runs and the
    fediverse's outbox."""
    networks = Networks()
    poller = feed_poller(settings, store, networks) if settings.feeds_enabled else None
    desk = Desk.from_settings(store, settings, networks=networks, feeds=poller)
    scheduler = None
    if settings.digest_enabled:
        from watchbot.digest.scheduler import DigestScheduler, SchedulerOptions

        timing = {"clock": clock} | ({"wait": wait} if wait is not None else {})
        scheduler = DigestScheduler(SchedulerOptions.from_settings(settings), store, networks, **timing)
    build_networks(settings, store, desk=desk, on_digest_approved=scheduler.wake if scheduler else None,
                   clock=clock)
    workers: list = [*networks, *([poller] if poller else []), *([scheduler] if scheduler else [])]
    if settings.fetch_enabled:
        from watchbot.enrich.worker import Enricher
        from watchbot.fetch import FetchOptions

        workers.append(Enricher.from_options(store, FetchOptions.from_settings(settings)))
    if settings.web_port is not None:
        from watchbot.web.process import WebProcess  # the pages in a process of their own (decision 30)

        workers.append(WebProcess(settings))
    return Bot(networks, desk, workers, scheduler, poller)


async def run_bot(settings: Settings, store: Store, *, bot: Bot | None = None) -> None:
    """Run every configured part until a signal stops them; then return normally."""
    bot = bot or build_bot(settings, store)
    if not bot.networks:
        raise NothingToRun(
            "nothing to run: no network is configured; set WATCHBOT_MATRIX_* or WATCHBOT_FEDIVERSE_* "
            "(see README, 'Production')"
        )
    from watchbot.store.failures import FailureStore

    unresolved = await FailureStore(store).count_unresolved()
    if unresolved:
        log.warning("%d failed event(s) wait for an operator: see `watchbot failed`", unresolved)
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    stopping = asyncio.Event()

    def stop(name: str) -> None:
        log.info("%s received: stopping", name)
        stopping.set()
        main.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig.name)
    try:
        async with asyncio.TaskGroup() as group:
            for worker in bot.workers:
                group.create_task(worker.run(), name=type(worker).__name__)
    except asyncio.CancelledError:
        if not stopping.is_set():
            raise
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("stopped")
