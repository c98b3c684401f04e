"""`watchbot failed …`: the events the bot could not handle (it kept them and moved on), to retry
or forget.

A retry is asked here and done by the running bot, by the worker that failed the event: only it
has what the event needs (the Matrix client and its rooms, the Mastodon connection, the answers
to send). See docs/decisions.md, "Failed events are kept, and retried by the bot that failed them".
"""

from __future__ import annotations

import json

import click

from watchbot.cli.context import Context, with_store
from watchbot.store import Store
from watchbot.store.failures import FailedEvent, FailureStore, FORGOTTEN

FAILED_ID = click.IntRange(1, 2**31 - 1)
# When the running bot gets to a retry, per worker.
WHEN = {
    "matrix": "at its next sync",
    "mastodon": "at its next poll of the server",
    "feed": "after its next round of feeds",
    "page": "when its page fetcher is next idle",
}


@click.group(invoke_without_command=True)
@click.option("--all", "everything", is_flag=True, help="The resolved ones too.")
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts.")
@click.pass_context
def failed(click_ctx: click.Context, everything: bool, as_json: bool) -> None:
    """Events the bot could not handle and kept: list them (the newest first), retry or forget them."""
    if click_ctx.invoked_subcommand is None:
        click_ctx.invoke(_list, everything=everything, as_json=as_json)


@with_store
async def _list(ctx: Context, store: Store, everything: bool, as_json: bool) -> None:
    listed = await FailureStore(store).list(resolved=everything, limit=1000)
    if as_json:
        click.echo(json.dumps([_json(failure) for failure in listed], indent=2, ensure_ascii=False))
        return
    if not listed:
        click.echo("No failed events." if everything else "No failed events waiting.")
        return
    zone = ctx.settings.zone
    for failure in listed:
        when = failure.failed_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        click.echo(f"#{failure.id:<4} {when} {failure.source} {failure.event_id} in {failure.place} "
                   f"({_state(failure, zone)})")
        click.echo(f"      {failure.reason}")


@failed.command("retry")
@click.argument("ids", nargs=-1, type=FAILED_ID)
@click.option("--all", "every", is_flag=True, help="Every failed event waiting that can be retried.")
@with_store
async def failed_retry(ctx: Context, store: Store, ids: tuple[int, ...], every: bool) -> None:
    """Ask the running bot to handle these events again, as if they came now."""
    if bool(ids) == every:
        raise click.UsageError("give failed event ids, or --all")
    failures = FailureStore(store)
    for number in ids:
        failure = await _open(failures, number)
        if failure.payload is None:
            raise click.ClickException(
                f"failed event #{number} was kept without the event itself (it was too large), so it cannot be "
                f"retried; `watchbot failed forget {number}` closes it")
    marked = await failures.ask_retry(None if every else ids)
    if not marked:
        click.echo("Nothing to retry.")
    for failure in marked:
        click.echo(f"#{failure.id} {failure.source} {failure.event_id}: the running bot retries it "
                   f"{WHEN.get(failure.source, 'soon')}.")
    if marked:
        click.echo("`watchbot failed` shows what is still waiting.")


@failed.command("forget")
@click.argument("ids", nargs=-1, type=FAILED_ID, required=True)
@with_store
async def failed_forget(ctx: Context, store: Store, ids: tuple[int, ...]) -> None:
    """Close these failed events without retrying them (they stay listed with --all)."""
    failures = FailureStore(store)
    for number in ids:
        await _open(failures, number)
    for number in ids:
        failure = await failures.resolve(number, FORGOTTEN)
        click.echo(f"#{number} {failure.source} {failure.event_id}: forgotten.")


async def _open(failures: FailureStore, number: int) -> FailedEvent:
    failure = await failures.get(number)
    if failure is None:
        raise click.ClickException(f"there is no failed event #{number} (see `watchbot failed`)")
    if failure.resolved:
        raise click.ClickException(f"failed event #{number} is closed already ({failure.resolution})")
    return failure


def _state(failure: FailedEvent, zone) -> str:
    parts = [f"{failure.attempts} attempt{'s' if failure.attempts != 1 else ''}"]
    if failure.resolved_at is not None:
        parts.append(f"{failure.resolution} {failure.resolved_at.astimezone(zone):%Y-%m-%d %H:%M}")
    elif failure.retry_asked_at is not None:
        parts.append("retry asked")
    elif failure.payload is None:
        parts.append("cannot be retried")
    return ", ".join(parts)


def _json(failure: FailedEvent) -> dict:
    def iso(moment) -> str | None:
        return moment.isoformat() if moment else None

    return {
        "id": failure.id, "source": failure.source, "place": failure.place, "event_id": failure.event_id,
        "reason": failure.reason, "failed_at": iso(failure.failed_at), "attempts": failure.attempts,
        "retryable": failure.payload is not None, "retry_asked_at": iso(failure.retry_asked_at),
        "resolved_at": iso(failure.resolved_at), "resolution": failure.resolution,
    }
