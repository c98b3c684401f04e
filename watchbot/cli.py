"""The command line: file, list, search, export and import links without any chat network."""

from __future__ import annotations

import asyncio
import functools
import getpass
import json
import logging
import os
import re
import stat
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
from dotenv import dotenv_values

from watchbot import __version__, logs
from watchbot.config import ConfigError, Settings, load_settings, unknown_settings
from watchbot.formats.export import FORMATS, write_export
from watchbot.formats.imports import IMPORT_FORMATS, ImportProblem, count_rows, detect_format, read_import
from watchbot.intake import Rules, describe, file_post
from watchbot.model import Link, LinkRecord, PageState, Post, Source, Visibility, utcnow
from watchbot.store import DatabaseURLError, Store, StoreNotReady, StoreUnavailable, redacted
from watchbot.store.pages import LinkPages

log = logging.getLogger("watchbot")

# Link ids fit both databases' INTEGER columns (PostgreSQL's is 32-bit).
LINK_ID = click.IntRange(1, 2**31 - 1)
MAX_IMPORT_BYTES = 1 << 30
CONNECT_SECONDS = 60  # `digest post`: how long to wait for a network before giving up


def _decodable(ctx, param, value: str | None) -> str | None:
    """Refuse text that was not valid in the terminal's encoding (Python keeps such bytes as
    lone surrogates, which no database can store)."""
    if value is not None and any(0xD800 <= ord(char) <= 0xDFFF for char in value):
        raise click.BadParameter("contains bytes that are not valid text in this terminal's encoding")
    return value


def _valid_tags(ctx, param, values: tuple[str, ...]) -> tuple[str, ...]:
    from watchbot.links import normalise_tag

    for value in values:
        _decodable(ctx, param, value)
        if normalise_tag(value) is None:
            raise click.BadParameter(
                f"{value!r} is not a tag: letters, digits, - and _, at most 64 (such as rust or web-security)"
            )
    return values


@dataclass
class Context:
    env_file: str | None
    verbose: bool = False
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.env_file)
            except ConfigError as error:
                raise click.ClickException(
                    "the configuration has problems (run `watchbot check` for all of them):\n  "
                    + "\n  ".join(error.problems)
                ) from None
            logs.apply(self._settings.log_level, self._settings.log_format, verbose=self.verbose)
        return self._settings

    async def open_store(self) -> Store:
        try:
            return await Store.open(self.settings.database_url)
        except (DatabaseURLError, StoreNotReady, StoreUnavailable) as error:
            raise click.ClickException(str(error)) from None
        except OSError as error:
            raise click.ClickException(
                f"cannot open the store at {redacted(self.settings.database_url)}: {error}"
            ) from None


def with_store(command: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async command with the store open, and close it whatever happens."""

    @click.pass_obj
    @functools.wraps(command)
    def run(ctx: Context, *args, **kwargs) -> None:
        async def main() -> None:
            store = await ctx.open_store()
            try:
                await command(ctx, store, *args, **kwargs)
            finally:
                await store.close()

        asyncio.run(main())

    return run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--env-file",
    default=".env",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Settings file read beside the WATCHBOT_* environment variables.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens in detail.")
@click.version_option(__version__, prog_name="watchbot")
@click.pass_context
def cli(click_ctx: click.Context, env_file: str, verbose: bool) -> None:
    """watchbot: a community's tech watch, filed, searched and digested."""
    logs.start(verbose)  # WATCHBOT_LOG_LEVEL and WATCHBOT_LOG_FORMAT once settings load
    named = click_ctx.get_parameter_source("env_file") is not click.core.ParameterSource.DEFAULT
    if named and not Path(env_file).is_file() and click_ctx.invoked_subcommand != "login":
        raise click.BadParameter(f"{env_file} does not exist", param_hint="--env-file")
    click_ctx.obj = Context(env_file, verbose)


# -- links ------------------------------------------------------------------------------------


@cli.group()
def links() -> None:
    """File, list, search, show and remove links."""


@links.command("add")
@click.argument("url")
@click.option("--tag", "tags", multiple=True, callback=_valid_tags,
              help="A tag (repeat for more); #hashtags in --note count too.")
@click.option("--by", "by", default=None, callback=_decodable, help="Who shared it (default: your login name).")
@click.option("--note", default=None, callback=_decodable, help="A few words on why it is worth reading.")
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
    tag = _normalised_tag_option(tag, rules)
    found = await store.list_links(tag=tag, since=parse_since(since), by=by, limit=limit)
    _print_links(found, as_json, ctx.settings)


@links.command("search")
@click.argument("words", nargs=-1, required=True)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts.")
@with_store
async def links_search(ctx: Context, store: Store, words, limit, as_json) -> None:
    """Full-text search over URL, title, notes and tags (every word must match)."""
    found = await store.search(" ".join(words), limit=limit)
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
    record = await store.get_link(link_id)
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
    from watchbot.enrich.worker import Enricher, client_from_settings

    if bool(link_ids) == every:
        raise click.UsageError("give link ids, or --all")
    targets = await LinkPages(store).urls(None if every else list(link_ids))
    missing = sorted(set(link_ids) - {link_id for link_id, _ in targets})
    settings = ctx.settings
    enricher = Enricher(store, client_from_settings(settings), concurrency=settings.fetch_concurrency)
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
    record = await store.remove_link(link_id, actor=f"cli:{getpass.getuser()}", reason=reason)
    if record is None:
        raise click.ClickException(f"there is no link #{link_id}")
    click.echo(f"Removed #{link_id} {record.link.url} ({record.link.share_count} share(s)).")


@cli.command("modlog")
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


@cli.command("tags")
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts.")
@with_store
async def tags_command(ctx: Context, store: Store, as_json: bool) -> None:
    """Tags with the number of links carrying each."""
    counts = await store.tag_counts()
    if as_json:
        click.echo(json.dumps([{"tag": t, "links": n} for t, n in counts], indent=2, ensure_ascii=False))
    elif not counts:
        click.echo("No tags yet.")
    else:
        width = max(len(t) for t, _ in counts)
        for tag, count in counts:
            click.echo(f"{tag:<{width}}  {count}")


# -- export and import ------------------------------------------------------------------------


@cli.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True,
              help="csv and json keep everything (a backup); html and atom hold only what may be published.")
@click.option("--tag", default=None, help="Only links with this tag.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="File to write (default: standard output).")
@with_store
async def export_command(ctx: Context, store: Store, fmt: str, tag, output) -> None:
    """Export links and their shares."""
    tag = _normalised_tag_option(tag, Rules.from_settings(ctx.settings))
    if output is None:
        await _stream_export(store, tag, fmt, sys.stdout)
        return
    target = Path(output)
    if target.is_symlink():
        target = target.resolve()  # write the file the link points to; keep the link
    try:
        count = await _export_to(store, tag, fmt, target)
    except OSError as error:
        raise click.ClickException(f"cannot write {output}: {error.strerror or error}") from None
    click.echo(f"Exported {count} link(s) to {target}.", err=True)


async def _export_to(store: Store, tag: str | None, fmt: str, target: Path) -> int:
    if target.exists() and not target.is_file():
        # A device or a pipe (/dev/stdout, a FIFO): written to as it is, never renamed over.
        with target.open("w", encoding="utf-8", newline="") as out:
            return await _stream_export(store, tag, fmt, out)
    # A file is written beside the target and renamed, so a failed export leaves no half file.
    # It keeps an existing file's mode; a new one is private (a backup holds private shares).
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o600
    partial = target.with_name(target.name + ".partial")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with open(descriptor, "w", encoding="utf-8", newline="") as out:
            count = await _stream_export(store, tag, fmt, out)
        os.chmod(partial, mode)
        partial.replace(target)
        return count
    finally:
        partial.unlink(missing_ok=True)


async def _stream_export(store: Store, tag: str | None, fmt: str, out) -> int:
    """Write the export on a worker thread that pulls records from the store batch by batch, so
    memory stays flat whatever the size of the store."""
    loop = asyncio.get_running_loop()
    batches = store.iter_record_batches(tag=tag)

    def records():
        while True:
            try:
                batch = asyncio.run_coroutine_threadsafe(anext(batches), loop).result()
            except StopAsyncIteration:
                return
            yield from batch

    return await asyncio.to_thread(write_export, records(), fmt, out)


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(IMPORT_FORMATS), default=None,
              help="Default: guessed from the content and the file name.")
@click.option("--by", default=None, callback=_decodable, help="Who to credit for bookmarks, which name no sharer.")
@with_store
async def import_command(ctx: Context, store: Store, file: str, fmt, by) -> None:
    """Import a watchbot CSV or JSON export, or a browser/linkding/Shaarli/Pinboard bookmarks file."""
    mode = Path(file).stat().st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):  # /dev/zero would be read until memory runs out
        raise click.ClickException(f"{file} is a device, not a file to import")
    if stat.S_ISREG(mode) and Path(file).stat().st_size > MAX_IMPORT_BYTES:
        raise click.ClickException(f"{file} is larger than {MAX_IMPORT_BYTES // 2**20} MiB; split it")
    try:
        text = Path(file).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise click.ClickException(f"cannot read {file}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise click.ClickException(f"{file} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        fmt = fmt or detect_format(text[:4096], file)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    rules = Rules.from_settings(ctx.settings)
    counts = {"filed": 0, "duplicate": 0, "replayed": 0, "skipped": 0}
    total = count_rows(text, fmt)
    with click.progressbar(length=total, label=f"Importing {Path(file).name}", file=sys.stderr,
                           show_pos=True) as bar:
        for item in read_import(text, fmt, default_sharer=by or "import"):
            bar.update(1)
            if isinstance(item, ImportProblem):
                counts["skipped"] += 1
                click.echo(f"\n{file}:{item.line}: {item.message}; skipped.", err=True)
                continue
            line, post = item
            result = await file_post(store, post, rules)
            for problem in result.problems:
                counts["skipped"] += 1
                click.echo(f"\n{file}:{line}: {problem}; skipped.", err=True)
            for link_result in result.results:
                counts[link_result.outcome.value] += 1
    click.echo(
        f"Imported {counts['filed']} new link(s), {counts['duplicate']} more share(s) of known links; "
        f"{counts['replayed']} already there, {counts['skipped']} skipped."
    )


# -- the digest -------------------------------------------------------------------------------


@cli.group()
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
    from watchbot.bot import build_adapters
    from watchbot.digest.schedule import current_period, last_period
    from watchbot.digest.scheduler import DigestScheduler

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
    adapters = build_adapters(settings, store)
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
        results = await DigestScheduler(settings, store, adapters).post(period, again=again, only=outlets,
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


# -- running ----------------------------------------------------------------------------------


@cli.command("demo")
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


@cli.command("run")
@with_store
async def run_command(ctx: Context, store: Store) -> None:
    """Run the bot: follow the configured networks until stopped (SIGTERM, Ctrl-C)."""
    from watchbot.bot import NothingToRun, run_bot

    try:
        await run_bot(ctx.settings, store)
    except NothingToRun as error:
        raise click.ClickException(str(error)) from None


# -- logging in -------------------------------------------------------------------------------


@cli.group()
def login() -> None:
    """Log the bot in to a network once; the token is written to the env file."""


@login.command("matrix")
@click.option("--homeserver", prompt="Homeserver URL (https://matrix.example.org)", help="The homeserver's URL.")
@click.option("--user", prompt="Bot user (@watchbot:example.org)", help="The bot account's user id.")
@click.password_option(prompt="Password (used once, never stored)", confirmation_prompt=False)
@click.pass_obj
def login_matrix(ctx: Context, homeserver: str, user: str, password: str) -> None:
    """Log in with a password, asked once; write the access token and device id to the env file."""
    from watchbot.networks.matrix_login import LoginFailed, log_in, save_login

    if not homeserver.startswith(("https://", "http://")):
        raise click.BadParameter("must start with https:// (or http:// for a local test server)",
                                 param_hint="--homeserver")
    env_file = Path(ctx.env_file or ".env")
    # Logging in again on the same bot reuses its device, when the env file names one.
    known = dotenv_values(env_file) if env_file.is_file() else {}
    same_bot = known.get("WATCHBOT_MATRIX_USER_ID") in (user, None)
    try:
        login = asyncio.run(log_in(homeserver, user, password,
                                   known.get("WATCHBOT_MATRIX_DEVICE_ID") if same_bot else None))
    except LoginFailed as error:
        raise click.ClickException(str(error)) from None
    save_login(login, env_file)
    click.echo(f"Logged in as {login.user_id} (device {login.device_id}); settings written to {env_file}.")


@login.command("fediverse")
@click.option("--instance", prompt="Server URL (https://mastodon.example)", help="The bot account's server.")
@click.pass_obj
def login_fediverse(ctx: Context, instance: str) -> None:
    """Authorise watchbot on the bot's Mastodon account once; write the token to the env file."""
    from watchbot.config import save_settings
    from watchbot.networks.fediverse_login import LoginFailed, finish, register

    if not instance.startswith(("https://", "http://")):
        raise click.BadParameter("must start with https://", param_hint="--instance")
    instance = instance.rstrip("/")
    try:
        client_id, client_secret, url = register(instance)
        click.echo(f"Open this address, log in as the bot's account, and authorise watchbot:\n  {url}")
        code = click.prompt("Then paste the code the server shows")
        token, acct = finish(instance, client_id, client_secret, code)
    except LoginFailed as error:
        raise click.ClickException(str(error)) from None
    env_file = Path(ctx.env_file or ".env")
    save_settings(env_file, {"WATCHBOT_FEDIVERSE_INSTANCE": instance, "WATCHBOT_FEDIVERSE_ACCESS_TOKEN": token})
    click.echo(f"Logged in as @{acct}, flagged as a bot, mentions from strangers accepted; "
               f"settings written to {env_file}.")


# -- configuration ----------------------------------------------------------------------------


@cli.command("check")
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


@cli.command("status")
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
        from watchbot.networks.matrix_check import check_matrix

        found = await check_matrix(settings)
        problems += found.problems
        facts += found.facts
    if settings.fediverse_enabled:
        from watchbot.networks.fediverse_check import check_fediverse

        found = await asyncio.to_thread(check_fediverse, settings)
        problems += found.problems
        facts += found.facts
    if not settings.matrix_enabled and not settings.fediverse_enabled:
        facts.append("No network is configured: the bot would only follow feeds.")
    return problems, facts


# -- helpers ----------------------------------------------------------------------------------


_AGE = re.compile(r"^(\d+)\s*([hdw])$")


def parse_since(value: str | None) -> datetime | None:
    """'2026-11-01', '2026-11-01T10:00+01:00' or an age such as '7d', '12h', '2w'."""
    if value is None:
        return None
    age = _AGE.match(value.strip().lower())
    try:
        if age:
            amount, unit = int(age.group(1)), age.group(2)
            return utcnow() - timedelta(**{{"h": "hours", "d": "days", "w": "weeks"}[unit]: amount})
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is not None:
            moment.astimezone(timezone.utc)  # a date at the edge of time cannot be compared
    except (OverflowError, ValueError):
        raise click.BadParameter(
            f"{value!r} is neither a date (2026-11-01) nor an age (7d, 12h, 2w)", param_hint="--since"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _normalised_tag_option(tag: str | None, rules: Rules) -> str | None:
    from watchbot.links import normalise_tag

    if tag is None:
        return None
    normalised = normalise_tag(tag, rules.tag_aliases)
    if normalised is None:
        raise click.BadParameter(f"{tag!r} is not a tag", param_hint="--tag")
    return normalised


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


def main() -> None:
    cli(prog_name="watchbot")


# The command groups of their own modules (they import this one for its helpers).
from watchbot.cli_failed import failed  # noqa: E402
from watchbot.cli_feeds import feeds  # noqa: E402
from watchbot.cli_moderation import mod  # noqa: E402
from watchbot.cli_rooms import rooms  # noqa: E402

cli.add_command(failed)
cli.add_command(feeds)
cli.add_command(mod)
cli.add_command(rooms)
from watchbot.cli_web import web; cli.add_command(web)  # noqa: E402, E702 -- `watchbot web`
