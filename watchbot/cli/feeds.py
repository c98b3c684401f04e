"""`watchbot feeds …`: follow RSS, Atom and JSON feeds whose entries are filed like shared links."""

from __future__ import annotations

import getpass
import json

import click

from watchbot.cli.context import Context, valid_tags, with_store
from watchbot.feeds.poller import MAX_BACKFILL, FeedError, FeedPoller, parse_every, poller_from_settings
from watchbot.feeds.results import describe_added, describe_state
from watchbot.store import Store
from watchbot.store.feeds import FeedStore, Subscription

FEED_ID = click.IntRange(1, 2**31 - 1)


def _every(ctx, param, value: str | None):
    if value is None:
        return None
    try:
        return parse_every(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@click.group()
def feeds() -> None:
    """Follow feeds (RSS, Atom, JSON Feed): their new entries are filed as shares."""


@feeds.command("add")
@click.argument("url")
@click.option("--tag", "tags", multiple=True, callback=valid_tags, help="A tag for every entry (repeat for more).")
@click.option("--alert", is_flag=True, help="Post each new entry to the rooms at once, as well as in the digest.")
@click.option("--every", callback=_every, default=None, metavar="DURATION",
              help="How often to poll it: 30m, 2h, 1d (default: WATCHBOT_FEEDS_EVERY).")
@click.option("--backfill", type=click.IntRange(0, MAX_BACKFILL), default=0, show_default=True,
              help="File this many of its newest entries now; otherwise only entries published from now on.")
@with_store
async def feeds_add(ctx: Context, store: Store, url: str, tags, alert: bool, every, backfill: int) -> None:
    """Follow the feed at URL (it is fetched once now, to check it is a feed)."""
    async with _poller(ctx, store) as poller:
        try:
            polled = await poller.add(url, tags=tags, alert=alert, every=every, backfill=backfill,
                                      added_by=f"cli:{getpass.getuser()}")
        except FeedError as error:
            raise click.ClickException(error.reason) from None
    click.echo(describe_added(polled))
    for line in polled.lines(ctx.settings.zone)[1:]:
        click.echo(line)


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts.")
@with_store
async def feeds_list(ctx: Context, store: Store, as_json: bool) -> None:
    """The feeds followed, with how each is doing."""
    followed = await FeedStore(store).all()
    if as_json:
        click.echo(json.dumps([_feed_json(feed) for feed in followed], indent=2, ensure_ascii=False))
        return
    if not followed:
        click.echo("No feeds yet; add one with: watchbot feeds add URL")
        return
    zone = ctx.settings.zone
    for feed in followed:
        click.echo(f"#{feed.id:<4} {feed.name}{_tags(feed)}{' (alert)' if feed.alert else ''}")
        click.echo(f"      {feed.url}")
        click.echo(f"      {describe_state(feed, zone)}")


@feeds.command("rm")
@click.argument("feed_id", type=FEED_ID)
@with_store
async def feeds_rm(ctx: Context, store: Store, feed_id: int) -> None:
    """Stop following a feed (what it filed stays filed)."""
    removed = await FeedStore(store).remove(feed_id)
    if removed is None:
        raise click.ClickException(f"there is no feed #{feed_id} (see `watchbot feeds list`)")
    click.echo(f"No longer following feed #{feed_id} “{removed.name}”; what it filed stays filed.")


@feeds.command("check")
@click.argument("url")
@with_store
async def feeds_check(ctx: Context, store: Store, url: str) -> None:
    """Fetch URL and show what a poll would file; files nothing."""
    async with _poller(ctx, store) as poller:
        try:
            checked = await poller.check(url)
        except FeedError as error:
            raise click.ClickException(error.reason) from None
    for line in checked.lines(ctx.settings.zone):
        click.echo(line)


@feeds.command("poll")
@with_store
async def feeds_poll(ctx: Context, store: Store) -> None:
    """Poll every feed now, once, and print what each gave (alert feeds' entries are printed
    here, not posted: the rooms see them in the digest)."""

    async def show_alert(alert) -> None:
        click.echo(f"  alert: {alert.text().splitlines()[0]}")

    async with _poller(ctx, store, on_alert=show_alert) as poller:
        results = await poller.poll_all()
    if not results:
        click.echo("No feeds to poll; add one with: watchbot feeds add URL")
    for polled in results:
        for line in polled.lines(ctx.settings.zone):
            click.echo(line)


class _poller:
    """A FeedPoller from the settings, its HTTP client closed at the end."""

    def __init__(self, ctx: Context, store: Store, **callbacks) -> None:
        self.poller: FeedPoller = poller_from_settings(ctx.settings, store, **callbacks)

    async def __aenter__(self) -> FeedPoller:
        return self.poller

    async def __aexit__(self, *exc_info) -> None:
        await self.poller.client.aclose()


def _tags(feed: Subscription) -> str:
    return f" [{', '.join(feed.tags)}]" if feed.tags else ""


def _feed_json(feed: Subscription) -> dict:
    def iso(moment) -> str | None:
        return moment.isoformat() if moment else None

    return {
        "id": feed.id, "url": feed.url, "title": feed.title, "format": feed.format, "tags": list(feed.tags),
        "alert": feed.alert, "every_seconds": int(feed.every.total_seconds()), "added_by": feed.added_by,
        "added_at": iso(feed.added_at), "polled_at": iso(feed.polled_at), "next_poll_at": iso(feed.next_poll_at),
        "errors": feed.errors, "last_error": feed.last_error, "disabled_at": iso(feed.disabled_at),
        "disabled_reason": feed.disabled_reason,
    }
