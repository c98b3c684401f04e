"""`watchbot outbox …`: the answers the bot owes and has not sent, waiting or given up on, to send
again or drop.

A retry only puts the answer back in the queue: the running bot's sender of that network sends it
(it looks at least once a minute), with the key it was owed with, so a server that did receive it
the first time takes it as the same message. See docs/decisions.md, "Owed answers are data".
"""

from __future__ import annotations

import json
from datetime import datetime

import click

from watchbot.cli.context import Context, with_store
from watchbot.health import duration
from watchbot.model import utcnow
from watchbot.store import Store
from watchbot.store.outbox import OutboxItem, OutboxStore

ITEM_ID = click.IntRange(1, 2**31 - 1)


@click.group(invoke_without_command=True)
@click.option("--failed", "failed_only", is_flag=True, help="Only the answers given up on.")
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts.")
@click.pass_context
def outbox(click_ctx: click.Context, failed_only: bool, as_json: bool) -> None:
    """Answers the bot owes and has not sent (waiting, or failed): list them, retry or drop them."""
    if click_ctx.invoked_subcommand is None:
        click_ctx.invoke(_list, failed_only=failed_only, as_json=as_json)


@with_store
async def _list(ctx: Context, store: Store, failed_only: bool, as_json: bool) -> None:
    listed = await OutboxStore(store).unsent(failed_only=failed_only)
    if as_json:
        click.echo(json.dumps([_json(item) for item in listed], indent=2, ensure_ascii=False))
        return
    if not listed:
        click.echo("No failed answers." if failed_only else "Every answer owed has been sent.")
        return
    now, zone = utcnow(), ctx.settings.zone
    for item in listed:
        state = "failed" if item.failed_at else "waiting"
        tries = f"{item.attempts} tr{'y' if item.attempts == 1 else 'ies'}"
        owed = f"owed {item.created_at.astimezone(zone):%Y-%m-%d %H:%M} ({duration(now - item.created_at)} ago)"
        click.echo(f"#{item.id:<5} {state:<7} {item.network} {item.kind} in {item.place} ({tries}, {owed})")
        if item.last_error:
            click.echo(f"       {item.last_error}")


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=ITEM_ID)
@click.option("--all-failed", "every", is_flag=True, help="Every failed answer.")
@with_store
async def outbox_retry(ctx: Context, store: Store, ids: tuple[int, ...], every: bool) -> None:
    """Put failed answers back in the queue: the running bot sends them (within a minute)."""
    if bool(ids) == every:
        raise click.UsageError("give answer ids, or --all-failed")
    answers = OutboxStore(store)
    for number in ids:
        item = await answers.get_unsent(number)
        if item is None:
            raise click.ClickException(f"there is no answer #{number} waiting or failed (see `watchbot outbox`)")
        if item.failed_at is None:
            raise click.ClickException(f"answer #{number} has not failed: it is waiting to be sent already")
    put_back = await answers.retry(None if every else ids, utcnow())
    if not put_back:
        click.echo("No failed answers.")
    for item in put_back:
        click.echo(f"#{item.id} {item.network} {item.kind} in {item.place}: back in the queue; "
                   "the running bot sends it within a minute.")


@outbox.command("drop")
@click.argument("item_id", type=ITEM_ID)
@with_store
async def outbox_drop(ctx: Context, store: Store, item_id: int) -> None:
    """Remove an answer that was not sent: it never will be."""
    item = await OutboxStore(store).drop(item_id)
    if item is None:
        raise click.ClickException(f"there is no answer #{item_id} waiting or failed (see `watchbot outbox`)")
    click.echo(f"#{item.id} {item.network} {item.kind} in {item.place}: dropped; it will not be sent.")


def _json(item: OutboxItem) -> dict:
    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    return {
        "id": item.id, "network": item.network, "place": item.place, "kind": item.kind,
        "state": "failed" if item.failed_at else "waiting", "attempts": item.attempts,
        "last_error": item.last_error, "owed_at": iso(item.created_at), "failed_at": iso(item.failed_at),
        "next_attempt_at": None if item.failed_at else iso(item.next_attempt_at),
    }
