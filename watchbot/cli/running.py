"""`watchbot run` and `watchbot demo`: the bot itself, on the configured networks or a throwaway one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from watchbot.cli.context import Context, with_store

if TYPE_CHECKING:
    from watchbot.store import Store


@click.command("demo")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the homeserver, accounts and store in this directory (default: a temporary one, "
                   "removed at exit); running the demo again on it goes on from there.")
@click.option("--no-wait", is_flag=True, help="Stop after the tour instead of waiting for Ctrl-C.")
@click.pass_obj
def demo_command(ctx: Context, keep: Path | None, no_wait: bool) -> None:
    """See the bot at work: a throwaway Matrix homeserver on 127.0.0.1, sample messages, and a
    room to try it in with any Matrix client, until Ctrl-C."""
    from zoneinfo import ZoneInfo

    from watchbot.demo import DemoError, run_demo

    try:
        status = run_demo(keep, wait=not no_wait, zone=ZoneInfo("UTC"))
    except DemoError as error:
        raise click.ClickException(str(error)) from None
    if status:
        sys.exit(status)


@click.command("run")
@with_store
async def run_command(ctx: Context, store: Store) -> None:
    """Run the bot: follow the configured networks until stopped (SIGTERM, Ctrl-C)."""
    from watchbot.bot import NothingToRun, run_bot

    try:
        await run_bot(ctx.settings, store)
    except NothingToRun as error:
        raise click.ClickException(str(error)) from None
