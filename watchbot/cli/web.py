"""`watchbot web`: the web pages alone, read-only, for a deployment where they run apart from
the bot (on the same SQLite file or PostgreSQL). The store is opened without migrating, as
`watchbot status` opens it: the bot owns the schema."""

from __future__ import annotations

import asyncio

import click

from watchbot.cli.context import Context
from watchbot.store import StoreNotReady, StoreUnavailable, redacted


@click.command("web")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Listen on this port (default: WATCHBOT_WEB_PORT).")
@click.pass_obj
def web(ctx: Context, port: int | None) -> None:
    """Serve the web pages alone, read-only, until stopped (SIGTERM, Ctrl-C)."""
    settings = ctx.settings
    if settings.web_base_url is None:
        raise click.ClickException("set WATCHBOT_WEB_BASE_URL, the pages' public address "
                                   "(such as https://watch.example.org)")
    if port is None and settings.web_port is None:
        raise click.ClickException("set WATCHBOT_WEB_PORT, or give --port")
    from watchbot.web.process import serve

    try:
        failed = asyncio.run(serve(settings, port=port))
    except StoreNotReady as error:
        raise click.ClickException(f"the store is not ready ({error}): start `watchbot run` first") from None
    except (StoreUnavailable, OSError) as error:
        raise click.ClickException(f"cannot open the store at {redacted(settings.database_url)}: {error}") from None
    if failed:
        raise click.ClickException(f"the web pages cannot be served: {failed}")
