"""`watchbot export` and `watchbot import`: backups, published formats and bookmarks files."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from dataclasses import replace
from pathlib import Path

import click

from watchbot.cli.context import Context, decodable, normalised_tag_option, with_store
from watchbot.formats.export import FORMATS, write_export
from watchbot.formats.imports import IMPORT_FORMATS, ImportProblem, count_rows, detect_format, read_import
from watchbot.intake import Rules, file_post
from watchbot.links import MAX_TAGS_PER_SHARE
from watchbot.model import Post, Source, Visibility, rewritten
from watchbot.store import Store
from watchbot.store.links import LinkStore
from watchbot.store.rooms import RoomStore

MAX_IMPORT_BYTES = 1 << 30


def _as_kept(post: Post, direct_chats: set[str]) -> Post:
    """A share of a room this store knows as a direct chat is direct, whatever the file says."""
    if post.source is Source.MATRIX and post.place in direct_chats:
        return replace(post, visibility=rewritten(Visibility.DIRECT, post.visibility))
    return post


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True,
              help="csv and json keep everything (a backup); html and atom hold only what may be published.")
@click.option("--tag", default=None, help="Only links with this tag.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="File to write (default: standard output).")
@with_store
async def export_command(ctx: Context, store: Store, fmt: str, tag, output) -> None:
    """Export links and their shares."""
    tag = normalised_tag_option(tag, Rules.from_settings(ctx.settings))
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
    batches = LinkStore(store).iter_record_batches(tag=tag)

    def records():
        while True:
            try:
                batch = asyncio.run_coroutine_threadsafe(anext(batches), loop).result()
            except StopAsyncIteration:
                return
            yield from batch

    return await asyncio.to_thread(write_export, records(), fmt, out)


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(IMPORT_FORMATS), default=None,
              help="Default: guessed from the content and the file name.")
@click.option("--by", default=None, callback=decodable, help="Who to credit for bookmarks, which name no sharer.")
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
    direct_chats = await RoomStore(store).direct_chats()
    counts = {"filed": 0, "duplicate": 0, "replayed": 0, "skipped": 0, "cut": 0}
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
            result = await file_post(store, _as_kept(post, direct_chats), rules)
            for problem in result.problems:
                counts["skipped"] += 1
                click.echo(f"\n{file}:{line}: {problem}; skipped.", err=True)
            for note in result.notes:  # filed, less what is past a bound
                counts["cut"] += 1
                click.echo(f"\n{file}:{line}: {note}", err=True)
            for link_result in result.results:
                counts[link_result.outcome.value] += 1
    click.echo(
        f"Imported {counts['filed']} new link(s), {counts['duplicate']} more share(s) of known links; "
        f"{counts['replayed']} already there, {counts['skipped']} skipped"
        + (f"; {counts['cut']} filed with tags left out (at most {MAX_TAGS_PER_SHARE} per link)." if counts["cut"]
           else ".")
    )
