"""`watchbot check` and `watchbot status`: is the configuration right, and how does the running bot
stand. Neither migrates the store: both are safe beside a running bot."""

from __future__ import annotations

import asyncio
import sys

import click

from watchbot.cli.context import Context
from watchbot.config import ConfigError, Settings, load_settings, unknown_settings
from watchbot.model import utcnow
from watchbot.store import DatabaseURLError, Store, StoreNotReady, StoreUnavailable, redacted


@click.command("check")
@click.option("--quiet", is_flag=True, help="Print nothing when all is well (for health checks).")
@click.option("--online", is_flag=True,
              help="Also log in to each network, and write to the store (a row, taken back at once).")
@click.pass_obj
def check_command(ctx: Context, quiet: bool, online: bool) -> None:
    """Check the configuration and that the store opens; one line per problem."""
    problems = unknown_settings(ctx.env_file)
    try:
        settings = load_settings(ctx.env_file)
    except ConfigError as error:
        problems = error.problems + problems
        settings = None
    waiting, facts = 0, []
    if settings is not None:
        store_problems, waiting = asyncio.run(_check_store(settings, write=online))
        problems += store_problems
        if online:
            network_problems, facts = asyncio.run(_check_networks(settings))
            problems += network_problems
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        sys.exit(1)
    if not quiet:
        click.echo(f"Configuration is fine; store: {redacted(settings.database_url)}"
                   + (" (writable)." if online else "."))
        for fact in facts:
            click.echo(fact)
        if waiting:  # not a problem of the configuration: said, but the check passes
            click.echo(f"{waiting} failed event(s) wait for you: see `watchbot failed`.")


@click.command("status")
@click.option("--quiet", is_flag=True, help="Print nothing when all is well (the Docker HEALTHCHECK).")
@click.pass_obj
def status_command(ctx: Context, quiet: bool) -> None:
    """How the running bot stands: each network's last good sync or poll, or why it stopped.

    Exits 1 when a network stopped or fell silent, so an orchestrator can restart the bot."""
    from watchbot.health import assess
    from watchbot.store.failures import FailureStore
    from watchbot.store.heartbeats import HeartbeatStore
    from watchbot.store.outbox import OutboxStore

    settings = ctx.settings
    networks = [name for name, enabled in (("matrix", settings.matrix_enabled),
                                            ("mastodon", settings.fediverse_enabled)) if enabled]

    async def read(store: Store):
        return (await HeartbeatStore(store).all(), await FailureStore(store).count_unresolved(),
                await OutboxStore(store).backlog())

    async def main():
        try:
            store = await Store.open(settings.database_url, migrate=False)  # never migrate under the bot
        except StoreNotReady as error:
            raise click.ClickException(f"the store is not ready ({error}): start `watchbot run` first") from None
        try:
            return await read(store)
        finally:
            await store.close()

    beats, failed, backlog = asyncio.run(main())
    health = assess(beats, networks, utcnow(), failed_events=failed, outbox_failed=backlog.failed,
                    outbox_waiting=backlog.waiting)
    if not health.healthy or not quiet:
        for line in health.lines or ["No network is configured: nothing to watch."]:
            click.echo(line, err=not health.healthy)
    if not health.healthy:
        sys.exit(1)


async def _check_store(settings: Settings, *, write: bool = False) -> tuple[list[str], int]:
    """Problems with the store, and how many failed events wait for an operator."""
    from watchbot.store.failures import FailureStore

    # Read-only: a health check must not migrate under a running bot's feet.
    try:
        store = await Store.open(settings.database_url, migrate=False)
    except StoreNotReady as error:
        if error.current is None:
            return [], 0  # a new store: created at first start
        return [f"WATCHBOT_DATABASE_URL: {error}"], 0
    except (StoreUnavailable, DatabaseURLError, OSError) as error:
        return [f"WATCHBOT_DATABASE_URL: {error}"], 0
    try:
        problems = []
        if write:
            try:
                await store.try_writing()
            except Exception as error:  # noqa: BLE001 -- whatever the database says, in one line
                reason = str(getattr(error, "orig", None) or error).splitlines()[0]
                problems.append(f"WATCHBOT_DATABASE_URL: the store cannot be written to ({reason})")
        return problems, await FailureStore(store).count_unresolved()
    finally:
        await store.close()


async def _check_networks(settings: Settings) -> tuple[list[str], list[str]]:
    """Each configured network logged in to: (problems, what is worth knowing), one line each."""
    problems, facts = [], []
    if settings.matrix_enabled:
        from watchbot.networks.matrix.check import MatrixCheckOptions, check_matrix

        found = await check_matrix(MatrixCheckOptions.from_settings(settings))
        problems += found.problems
        facts += found.facts
    if settings.fediverse_enabled:
        from watchbot.networks.fediverse.check import FediverseCheckOptions, check_fediverse

        found = await asyncio.to_thread(check_fediverse, FediverseCheckOptions.from_settings(settings))
        problems += found.problems
        facts += found.facts
    if not settings.matrix_enabled and not settings.fediverse_enabled:
        facts.append("No network is configured: the bot would only follow feeds.")
    return problems, facts
