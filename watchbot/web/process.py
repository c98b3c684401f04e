"""The web pages in a process of their own, beside the bot's (decision 30).

`watchbot run` with WATCHBOT_WEB_PORT starts `WebProcess`: the pages are served by a child process
that runs what `watchbot web` runs (`serve`), on the same settings, at a lower CPU priority. Twenty
readers looping on the heaviest page then cost the bot nothing but the CPU the kernel gives them,
and the kernel gives the bot first: no page is rendered on the bot's event loop, no page's read
waits on the bot's store thread or holds it up.

The child is started with `spawn` (a fresh interpreter: no copy of the bot's threads or open
connections), is sent SIGTERM when the bot stops, and dies with it if the bot is killed. If it
ends on its own it is started again, a little later each time; if it cannot listen (the port is
taken) that is said once and the bot goes on without pages, as before.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal

from watchbot.processes import die_with_parent

log = logging.getLogger(__name__)

# How much less CPU priority the pages have than the bot (nice(1)'s scale, 0 to 19): when both
# want the CPU, the bot's answers and the homeserver beside it go first; idle cores serve pages.
NICENESS = 10
CANNOT_LISTEN = 3  # the child's exit status when its port is taken: not worth starting again
STOP_SECONDS = 10.0  # after SIGTERM, how long the child has to close its connections
RESTART_SECONDS = (1, 5, 30, 60)  # waits before starting an ended child again, the last repeated


async def serve(settings, *, port: int | None = None) -> str | None:
    """Serve the pages on the store of `settings` until cancelled (SIGTERM, SIGINT: set here).
    Returns why it could not listen, or None once stopped. The store is opened without
    migrating: the bot owns the schema (raises StoreNotReady when it is not there yet)."""
    from watchbot.store import Store
    from watchbot.web.serve import WebServer
    from watchbot.web.site import WebOptions

    options = WebOptions.from_settings(settings)  # before the store: a bad setting opens nothing
    store = await Store.open(settings.database_url, migrate=False)
    serving = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, serving.cancel)
    server = WebServer(options, store, port=port)
    try:
        await server.run()
    except asyncio.CancelledError:
        pass  # stopped by a signal: the server closed its connections
    finally:
        await store.close()
    return server.failed


def serve_apart(settings) -> None:  # pragma: no cover - the child's main, run by the tests through `watchbot run`
    """The child's whole life: its log as the bot's, its priority lowered, the pages served."""
    from watchbot import logs

    die_with_parent()
    logs.start(verbose=False)
    logs.apply(settings.log_level, settings.log_format)
    os.nice(NICENESS)
    if asyncio.run(serve(settings)) is not None:
        raise SystemExit(CANNOT_LISTEN)


class WebProcess:
    """The worker of `watchbot run` that keeps the pages' process running until cancelled."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.starts = 0

    async def run(self) -> None:
        context = multiprocessing.get_context("spawn")
        while True:
            child = context.Process(target=serve_apart, args=(self.settings,), name="watchbot-web", daemon=True)
            child.start()
            self.starts += 1
            log.debug("web pages: process %d started", child.pid)
            try:
                await _ended(child)
            except asyncio.CancelledError:
                await asyncio.get_running_loop().run_in_executor(None, _stop, child)
                raise
            if child.exitcode == CANNOT_LISTEN:
                return  # said by the child, in the log: the bot goes on without its pages
            wait = RESTART_SECONDS[min(self.starts, len(RESTART_SECONDS)) - 1]
            log.error("the web pages' process ended (exit status %s); starting it again in %d s",
                      child.exitcode, wait)
            await asyncio.sleep(wait)


async def _ended(child: multiprocessing.process.BaseProcess) -> None:
    """Until the child ends (its sentinel becomes readable), then reap it."""
    loop = asyncio.get_running_loop()
    ended = loop.create_future()
    loop.add_reader(child.sentinel, lambda: ended.done() or ended.set_result(None))
    try:
        await ended
    finally:
        loop.remove_reader(child.sentinel)
    child.join()


def _stop(child: multiprocessing.process.BaseProcess) -> None:
    """SIGTERM, then SIGKILL if it has not closed within STOP_SECONDS."""
    if child.is_alive():
        child.terminate()
        child.join(STOP_SECONDS)
    if child.is_alive():
        child.kill()
        child.join()
