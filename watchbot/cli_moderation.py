"""`watchbot mod …`: moderation from the server's shell, with an admin's rights, logged as the
local user ("cli:alice"). The same actions as the moderators' chat commands."""

from __future__ import annotations

import getpass

import click

from watchbot.cli import Context, with_store
from watchbot.commands import Caller, Command, run_command
from watchbot.moderation import Moderation
from watchbot.store import Store


@click.group("mod")
def mod() -> None:
    """Moderate from the shell: ban, block, the review queue (as the chat's moderators do)."""


async def _run(ctx: Context, store: Store, name: str, *args: str) -> None:
    caller = Caller(f"cli:{getpass.getuser()}", getpass.getuser(), is_moderator=True, is_admin=True)
    reply = await run_command(store, Command(name, tuple(arg for arg in args if arg)), caller, ctx.settings.zone,
                              moderation=Moderation(store, ctx.settings))
    click.echo(reply.text)
    if reply.text.startswith(("Usage:", "Nothing waits for review as", "There is no")):
        raise SystemExit(1)


@mod.command("ban")
@click.argument("account")
@click.argument("reason", nargs=-1)
@with_store
async def ban(ctx: Context, store: Store, account: str, reason: tuple[str, ...]) -> None:
    """Ignore what ACCOUNT shares (@user:server, or user@server on the fediverse)."""
    await _run(ctx, store, "ban", account, *reason)


@mod.command("unban")
@click.argument("account")
@with_store
async def unban(ctx: Context, store: Store, account: str) -> None:
    """Let ACCOUNT share again."""
    await _run(ctx, store, "unban", account)


@mod.command("block")
@click.argument("domain")
@click.argument("reason", nargs=-1)
@with_store
async def block(ctx: Context, store: Store, domain: str, reason: tuple[str, ...]) -> None:
    """Refuse links to DOMAIN (spam.example; *.spam.example with its subdomains)."""
    await _run(ctx, store, "block", domain, *reason)


@mod.command("unblock")
@click.argument("domain")
@with_store
async def unblock(ctx: Context, store: Store, domain: str) -> None:
    """File links to DOMAIN again."""
    await _run(ctx, store, "unblock", domain)


@mod.command("queue")
@with_store
async def queue(ctx: Context, store: Store) -> None:
    """What newcomers shared that waits for review."""
    await _run(ctx, store, "queue")


@mod.command("approve")
@click.argument("held_id")
@with_store
async def approve(ctx: Context, store: Store, held_id: str) -> None:
    """File a post waiting for review."""
    await _run(ctx, store, "approve", held_id)


@mod.command("reject")
@click.argument("held_id")
@with_store
async def reject(ctx: Context, store: Store, held_id: str) -> None:
    """Drop a post waiting for review."""
    await _run(ctx, store, "reject", held_id)
