"""`watchbot mod …`: moderation from the server's shell, with an admin's rights, logged as the
local user ("cli:alice"). The same actions as the moderators' chat commands."""

from __future__ import annotations

import getpass

import click

from watchbot.cli.context import Context, with_store
from watchbot.commands import Caller, Command, Desk
from watchbot.network import NoNetworks
from watchbot.policy import Power, Role
from watchbot.store import Store


@click.group("mod")
def mod() -> None:
    """Moderate from the shell: ban, block, the review queue (as the chat's moderators do), forget someone."""


async def _run(ctx: Context, store: Store, name: str, *args: str) -> None:
    caller = Caller(f"cli:{getpass.getuser()}", getpass.getuser(), Power(Role.ADMIN, None, store_wide=True))
    desk = Desk.from_settings(store, ctx.settings, networks=NoNetworks)  # the shell tells no network
    reply = await desk.run(Command(name, tuple(arg for arg in args if arg)), caller)
    click.echo(reply.text)
    if reply.text.startswith(("Usage:", "Nothing waits for review as", "There is no")):
        raise SystemExit(1)


def _command(name: str, summary: str, argument: str | None = None, *, reason: bool = False) -> None:
    """`watchbot mod NAME [ARGUMENT] [REASON…]`, running the chat command of that name."""

    @with_store
    async def run(ctx: Context, store: Store, **given) -> None:
        await _run(ctx, store, name, *(given.get(argument.lower(), ""),) if argument else (),
                   *given.get("reason", ()))

    run.__doc__ = summary
    if reason:
        run = click.argument("reason", nargs=-1)(run)
    if argument:
        run = click.argument(argument.lower())(run)
    mod.command(name, help=summary)(run)


_command("ban", "Ignore what ACCOUNT shares (@user:server, or user@server on the fediverse).", "ACCOUNT",
         reason=True)
_command("unban", "Let ACCOUNT share again.", "ACCOUNT")
_command("block", "Refuse links to DOMAIN (spam.example; *.spam.example with its subdomains).", "DOMAIN",
         reason=True)
_command("unblock", "File links to DOMAIN again.", "DOMAIN")
_command("queue", "What newcomers shared that waits for review.")
_command("approve", "File a post waiting for review (ID from: watchbot mod queue).", "ID")
_command("reject", "Drop a post waiting for review.", "ID")
_command("forget", "Forget ACCOUNT as `forget me` does, for someone who asked otherwise (an email): everything "
         "they shared and their name leave the store; the log keeps the action under a pseudonym, and your name.",
         "ACCOUNT")
