"""`watchbot links …`, `watchbot tags` and `watchbot modlog`: the links filed, read and removed from
the shell."""

from __future__ import annotations

import asyncio
import getpass
import json
from typing import TYPE_CHECKING

import click

from watchbot.cli.context import (LINK_ID, Context, decodable, normalised_tag_option, parse_since, valid_tags,
                                  with_store)
from watchbot.intake import Rules, describe, file_post
from watchbot.model import Link, LinkRecord, PageState, Post, Source, Visibility
from watchbot.store import Store
from watchbot.store.links import LinkStore
from watchbot.store.pages import LinkPages

if TYPE_CHECKING:
    from watchbot.config import Settings


@click.group()
def links() -> None:
    """File, list, search, show and remove links."""


@links.command("add")
@click.argument("url")
@click.option("--tag", "tags", multiple=True, callback=valid_tags,
              help="A tag (repeat for more); #hashtags in --note count too.")
@click.option("--by", "by", default=None, callback=decodable, help="Who shared it (default: your login name).")
@click.option("--note", default=None, callback=decodable, help="A few words on why it is worth reading.")
@click.option("--private", is_flag=True, help="Searchable here, never published (digests, feeds, web).")
@with_store
async def links_add(ctx: Context, store: Store, url: str, tags, by, note, private) -> None:
    """File URL, or record one more share of it if it is already filed."""
    name = by or getpass.getuser()
    post = Post(
        source=Source.CLI,
        place="cli",
        author_id=f"cli:{name}",
        author_name=name,
        text=note or "",
        links=(url,),
        note=note,
        extra_tags=tuple(tags),
        visibility=Visibility.PRIVATE if private else Visibility.PUBLIC,
    )
    result = await file_post(store, post, Rules.from_settings(ctx.settings))
    for link_result in result.results:
        click.echo(describe(link_result, ctx.settings.zone))
    for note in result.notes:
        click.echo(note)
    if result.problems:
        raise click.ClickException(" ".join(result.problems))


@links.command("list")
@click.option("--tag", default=None, help="Only links with this tag.")
@click.option("--since", default=None, help="Shared since: a date (2026-11-01) or an age (7d, 12h, 2w).")
@click.option("--by", default=None, help="Shared by this name or id.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts.")
@with_store
async def links_list(ctx: Context, store: Store, tag, since, by, limit, as_json) -> None:
    """Links, the most recently shared first."""
    rules = Rules.from_settings(ctx.settings)
    tag = normalised_tag_option(tag, rules)
    found = await LinkStore(store).list_links(tag=tag, since=parse_since(since), by=by, limit=limit)
    _print_links(found, as_json, ctx.settings)


@links.command("search")
@click.argument("words", nargs=-1, required=True)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts.")
@with_store
async def links_search(ctx: Context, store: Store, words, limit, as_json) -> None:
    """Full-text search over URL, title, notes and tags (every word must match)."""
    found = await LinkStore(store).search(" ".join(words), limit=limit)
    if not found and not as_json:
        click.echo("Nothing found.")
        return
    _print_links(found, as_json, ctx.settings)


@links.command("show")
@click.argument("link_id", type=LINK_ID)
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts.")
@with_store
async def links_show(ctx: Context, store: Store, link_id: int, as_json: bool) -> None:
    """One link with every share of it."""
    record = await LinkStore(store).get_link(link_id)
    if record is None:
        raise click.ClickException(f"there is no link #{link_id}")
    if as_json:
        click.echo(json.dumps(_record_json(record), indent=2, ensure_ascii=False))
        return
    link, zone = record.link, ctx.settings.zone
    click.echo(f"#{link.id} {link.url}")
    if link.title:
        click.echo(f"  {link.title}" + (f" ({link.site_name})" if link.site_name else ""))
    if link.tags:
        click.echo(f"  tags: {', '.join(link.tags)}")
    click.echo(f"  key: {link.key}")
    for line in _page_lines(record, zone):
        click.echo(f"  {line}")
    for merge in await LinkPages(store).merges(link.id):
        undone = f", undone {merge.undone_at.astimezone(zone):%Y-%m-%d}" if merge.undone_at else ""
        click.echo(f"  merged: #{merge.merged_id} {merge.merged_url} into #{merge.kept_id} "
                   f"({merge.reason}, {merge.at.astimezone(zone):%Y-%m-%d}{undone})")
    for share in record.shares:
        when = share.shared_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        where = f"{share.source.value}:{share.place}" if share.place != share.source.value else share.source.value
        private = "" if share.visibility.publishable else f" ({share.visibility.value})"
        click.echo(f"  - {when} {share.sharer_name} via {where}{private}")
        if share.note:
            click.echo(f"    {share.note}")


def _page_lines(record: LinkRecord, zone) -> list[str]:
    page = record.page
    if page is None:
        return []
    if page.state is PageState.OK:
        lines = [f"page: fetched {page.fetched_at.astimezone(zone):%Y-%m-%d %H:%M}" if page.fetched_at else "page: ok"]
        if page.final_url and page.final_url != record.link.url:
            lines.append(f"now at: {page.final_url}")
        if page.canonical_url and page.canonical_url not in (page.final_url, record.link.url):
            lines.append(f"canonical: {page.canonical_url}")
        return lines
    if page.state is PageState.PENDING:
        return ["page: not fetched yet"]
    when = f", next try {page.next_fetch_at.astimezone(zone):%Y-%m-%d %H:%M}" if page.next_fetch_at else ""
    return [f"page: {page.state.value} after {page.attempts} attempt(s): {page.reason}{when}"]


@links.command("refresh")
@click.argument("link_ids", nargs=-1, type=LINK_ID)
@click.option("--all", "every", is_flag=True, help="Every link in the store.")
@with_store
async def links_refresh(ctx: Context, store: Store, link_ids: tuple[int, ...], every: bool) -> None:
    """Fetch links' pages now and say, per link, what was found or why not."""
    from watchbot.enrich.worker import Enricher
    from watchbot.fetch import FetchOptions

    if bool(link_ids) == every:
        raise click.UsageError("give link ids, or --all")
    targets = await LinkPages(store).urls(None if every else list(link_ids))
    missing = sorted(set(link_ids) - {link_id for link_id, _ in targets})
    enricher = Enricher.from_options(store, FetchOptions.from_settings(ctx.settings))
    try:
        for looked in await asyncio.gather(*(enricher.enrich(link_id, url) for link_id, url in targets)):
            click.echo(looked.line())
    finally:
        await enricher.client.aclose()
    if missing:
        raise click.ClickException("there is no link " + ", ".join(f"#{n}" for n in missing))


@links.command("unmerge")
@click.argument("link_id", type=LINK_ID)
@with_store
async def links_unmerge(ctx: Context, store: Store, link_id: int) -> None:
    """Undo the merge that folded link LINK_ID into another (see `links show`)."""
    merge = await LinkPages(store).unmerge(link_id, actor=f"cli:{getpass.getuser()}")
    if merge is None:
        raise click.ClickException(f"#{link_id} was not merged into another link (see `watchbot links show`)")
    click.echo(f"#{merge.merged_id} {merge.merged_url} is its own link again, apart from #{merge.kept_id}.")


@links.command("rm")
@click.argument("link_id", type=LINK_ID)
@click.option("--reason", default=None, help="Kept in the moderation log.")
@with_store
async def links_rm(ctx: Context, store: Store, link_id: int, reason) -> None:
    """Remove a link and all its shares."""
    record = await LinkStore(store).remove_link(link_id, actor=f"cli:{getpass.getuser()}", reason=reason)
    if record is None:
        raise click.ClickException(f"there is no link #{link_id}")
    click.echo(f"Removed #{link_id} {record.link.url} ({record.link.share_count} share(s)).")


@click.command("modlog")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@with_store
async def modlog_command(ctx: Context, store: Store, limit: int) -> None:
    """The moderation log, the newest first: who did what, when, and why."""
    from watchbot.store.moderation import ModerationStore

    entries = await ModerationStore(store).log_entries(limit)
    if not entries:
        click.echo("The moderation log is empty.")
    for entry in entries:
        reason = f" ({entry.reason})" if entry.reason else ""
        click.echo(f"{entry.at.astimezone(ctx.settings.zone):%Y-%m-%d %H:%M} {entry.actor} {entry.action} "
                   f"{entry.target}{reason}")


@click.command("tags")
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts.")
@with_store
async def tags_command(ctx: Context, store: Store, as_json: bool) -> None:
    """Tags with the number of links carrying each."""
    counts = await LinkStore(store).tag_counts()
    if as_json:
        click.echo(json.dumps([{"tag": t, "links": n} for t, n in counts], indent=2, ensure_ascii=False))
    elif not counts:
        click.echo("No tags yet.")
    else:
        width = max(len(t) for t, _ in counts)
        for tag, count in counts:
            click.echo(f"{tag:<{width}}  {count}")


def _print_links(found: list[Link], as_json: bool, settings: Settings) -> None:
    if as_json:
        click.echo(json.dumps([_link_json(link) for link in found], indent=2, ensure_ascii=False))
        return
    for link in found:
        day = link.first_shared_at.astimezone(settings.zone).strftime("%Y-%m-%d")
        shares = f" ({link.share_count} shares)" if link.share_count > 1 else ""
        tags = f" [{', '.join(link.tags)}]" if link.tags else ""
        click.echo(f"#{link.id:<5} {day} {link.first_sharer_name}: {link.url}{tags}{shares}")
        if link.title:
            click.echo(f"       {link.title}")


def _link_json(link: Link) -> dict:
    return {
        "id": link.id,
        "url": link.url,
        "key": link.key,
        "title": link.title,
        "description": link.description,
        "tags": list(link.tags),
        "shares": link.share_count,
        "first_shared_by": link.first_sharer_name,
        "first_shared_at": link.first_shared_at.isoformat(),
    }


def _record_json(record: LinkRecord) -> dict:
    return {
        **_link_json(record.link),
        "shares": [
            {
                "url": s.url,
                "sharer_id": s.sharer_id,
                "sharer_name": s.sharer_name,
                "source": s.source.value,
                "place": s.place,
                "event_id": s.event_id,
                "visibility": s.visibility.value,
                "shared_at": s.shared_at.isoformat(),
                "note": s.note,
                "tags": list(s.tags),
            }
            for s in record.shares
        ],
    }
