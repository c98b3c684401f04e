"""`watchbot digest …`: the weekly digest, previewed or posted from the shell."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import click

from watchbot.cli.context import Context, with_store
from watchbot.model import utcnow
from watchbot.store import Store

CONNECT_SECONDS = 60  # `digest post`: how long to wait for a network before giving up


@click.group()
def digest() -> None:
    """The weekly digest."""


@digest.command("preview")
@click.option("--period", type=click.Choice(["current", "last"]), default="current", show_default=True,
              help="current: the period in progress, so far; last: the last complete one.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "html", "json"]), default="text",
              show_default=True)
@with_store
async def digest_preview(ctx: Context, store: Store, period: str, fmt: str) -> None:
    """Show the digest as it would be posted; posts nothing."""
    from watchbot.digest.preview import preview
    from watchbot.digest.render import render_json, render_markdown, render_matrix

    settings = ctx.settings
    built = await preview(store, settings.digest_schedule, settings.zone, top=settings.digest_top,
                          last=period == "last", feed_top=settings.feeds_digest_cap)
    so_far = period == "current"
    if fmt == "markdown":
        click.echo(render_markdown(built, settings.zone, so_far=so_far, archive_url=settings.digest_archive_for(built.period)),
                   nl=False)
    elif fmt == "json":
        click.echo(json.dumps(render_json(built), indent=2, ensure_ascii=False))
    else:
        rendered = render_matrix(built, settings.zone, so_far=so_far, archive_url=settings.digest_archive_for(built.period))
        click.echo(rendered.html if fmt == "html" else rendered.text)


@digest.command("post")
@click.option("--period", "which", default="last", show_default=True,
              help="last: the last complete period; or a date (YYYY-MM-DD) inside the period to post.")
@click.option("--outlet", "outlets", multiple=True,
              help="Only this outlet (matrix:!room:server, mastodon:server); repeat for several.")
@click.option("--again", is_flag=True, help="Post it even where it was posted already.")
@with_store
async def digest_post(ctx: Context, store: Store, which: str, outlets: tuple[str, ...], again: bool) -> None:
    """Post a period's digest now, to every room and account the bot posts to (once per period
    and place, unless --again)."""
    from watchbot.bot import build_networks
    from watchbot.digest.schedule import current_period, last_period
    from watchbot.digest.scheduler import DigestScheduler, SchedulerOptions

    settings = ctx.settings
    if which == "last":
        period = last_period(settings.digest_schedule, settings.zone, utcnow())
    else:
        try:
            day = datetime.strptime(which, "%Y-%m-%d").replace(tzinfo=settings.zone)
        except ValueError:
            raise click.BadParameter("last, or a date such as 2026-11-20", param_hint="--period") from None
        period = current_period(settings.digest_schedule, settings.zone, day)
        if period.end > utcnow():
            raise click.ClickException("that period is not over yet (watchbot digest preview shows it so far)")
    adapters = build_networks(settings, store)
    if not adapters:
        raise click.ClickException("no network is configured to post to (WATCHBOT_MATRIX_*, WATCHBOT_FEDIVERSE_*)")
    try:
        for adapter in adapters:
            try:  # the adapters wait for a network that is away; a person at the shell should not
                async with asyncio.timeout(CONNECT_SECONDS):
                    await adapter.connect()
            except TimeoutError:
                raise click.ClickException(f"could not reach {type(adapter).__name__.removesuffix('Adapter')} "
                                           f"within {CONNECT_SECONDS} s; nothing was posted") from None
        # A person asked for it: no review round first.
        results = await DigestScheduler(SchedulerOptions.from_settings(settings), store, adapters).post(period, again=again, only=outlets,
                                                                        review=False)
    finally:
        for adapter in adapters:
            await adapter.close()
    if not results:
        raise click.ClickException("no outlet to post to" + (f" named {', '.join(outlets)}" if outlets else ""))
    for posted in results:
        click.echo(posted.line())
    if any(posted.status in ("failed", "busy") for posted in results):
        raise SystemExit(1)
