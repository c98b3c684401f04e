"""Wiring: the adapters the settings ask for, the page fetcher and the web pages, run under one
TaskGroup until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import signal

from watchbot.config import Settings
from watchbot.intake import Rules
from watchbot.store import Store

log = logging.getLogger(__name__)


class NothingToRun(Exception):
    """No network is configured."""


def build_adapters(settings: Settings, store: Store) -> list:
    rules = Rules.from_settings(settings)
    adapters = []
    if settings.matrix_enabled:
        from watchbot.networks.matrix import MatrixAdapter  # nio is imported only when needed

        adapters.append(MatrixAdapter(settings, store, rules))
    if settings.fediverse_enabled:
        from watchbot.networks.fediverse import FediverseAdapter  # Mastodon.py only when needed

        adapters.append(FediverseAdapter(settings, store, rules))
    return adapters


def feed_poller(settings: Settings, store: Store, adapters: list):
    """The feed poller, its alerts posted by every network, and known to the `feed` command."""
    from watchbot.feeds.poller import poller_from_settings

    async def alert(alert) -> None:
        for adapter in adapters:
            await adapter.announce(alert.text(), alert.html(), key=f"alert:{alert.feed_id}:{alert.link}")

    async def disabled(notice) -> None:
        for adapter in adapters:
            await adapter.announce(notice.text(), notice.html(), key=f"disabled:{notice.feed_id}", public=False)

    poller = poller_from_settings(settings, store, on_alert=alert, on_disabled=disabled)
    for adapter in adapters:
        adapter.feeds = poller
    return poller


async def run_bot(settings: Settings, store: Store) -> None:
    """Run every configured adapter until a signal stops them; then return normally."""
    adapters = build_adapters(settings, store)
    if not adapters:
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
    for adapter in adapters:
        adapter.other_networks = [other for other in adapters if other is not adapter]
    workers = list(adapters)
    if settings.feeds_enabled:
        workers.append(feed_poller(settings, store, adapters))
    if settings.digest_enabled:
        from watchbot.digest.scheduler import DigestScheduler

        scheduler = DigestScheduler(settings, store, adapters)
        for adapter in adapters:
            adapter.digest_approved = scheduler.wake
        workers.append(scheduler)
    if settings.fetch_enabled:
        from watchbot.enrich.worker import Enricher
        from watchbot.fetch import FetchOptions

        workers.append(Enricher.from_options(store, FetchOptions.from_settings(settings)))
    if settings.web_port is not None:
        from watchbot.web.serve import WebServer  # aiohttp's server and Jinja2 only when asked
        from watchbot.web.site import WebOptions

        workers.append(WebServer(WebOptions.from_settings(settings), store))
    try:
        async with asyncio.TaskGroup() as group:
            for worker in workers:
                group.create_task(worker.run(), name=type(worker).__name__)
    except asyncio.CancelledError:
        if not stopping.is_set():
            raise
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("stopped")
