"""What every route of the web app shares: the store's readers, the web's options, a clock and the
public URL.

One `Site` is made per app and kept in `app[SITE]`; routes read it from there, so a test can
build an app on any store with a fixed clock. Routes read through `site.pages` (the readers' lane
of the pages, the API and the feeds) or `site.ops` (/healthz and /metrics: a lane of their own, so
a monitor is answered however many readers load the pages), never the bot's thread (decision 30).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from watchbot.model import utcnow
from watchbot.store import Store
from watchbot.store.store import Readers
from watchbot.web.kept import Kept

# Threads reading for the pages at once: readers beyond them wait their turn (in the event loop,
# not in a thread), and the bot's own thread is never one of them. Two cores read at most two at
# a time; a third keeps the lane busy while a page's answer is being written out.
PAGE_READERS = 3
# How long the tag counts of /tags and /api/tags are kept before they are counted again (in the
# background: web/kept.py). Counting every tag takes 1.5 s at 1,000,000 links; a new tag shows
# within a minute.
TAG_COUNTS_SECONDS = 60.0

# The server's own defences (connections.py, decision 32), as WebOptions' defaults:
HEAD_TIMEOUT = 10.0  # seconds to send a request's head; a browser or a proxy sends it at once
MAX_CONNECTIONS = 256  # held at once: well under the usual 1,024 open files


@dataclass(frozen=True, slots=True)
class WebOptions:
    """What the web pages and their server need to know from the settings."""

    # The address readers use (WATCHBOT_WEB_BASE_URL), without a trailing slash: links in feeds,
    # the API and the digests are absolute, so they work wherever they are read.
    base_url: str
    host: str = "127.0.0.1"
    port: int | None = None
    timezone: str = "UTC"  # dates as the pages show them
    digest_schedule: str = "0 17 * * fri"  # the weeks of the front page and the archive
    digest_top: int = 20
    feeds_digest_cap: int = 10
    command_prefix: str = "!watch"  # the About page
    fediverse_instance: str | None = None  # the About page: where to mention the bot
    tag_aliases: Mapping[str, str] = field(default_factory=dict)  # a tag asked of the API or the feeds
    api_token: str | None = field(default=None, repr=False)  # when set, a private deployment (guard.py)
    metrics_token: str | None = field(default=None, repr=False)  # /metrics' own; else the API's; else closed
    public_pages: bool = False  # with the API's token: the HTML pages stay public all the same
    tags_per_page: int = 200  # /tags and /api/tags: the whole list of a large watch is thousands
    networks: tuple[str, ...] = ()  # those configured ("matrix", "mastodon"): /healthz expects each
    # Seconds a connection has to send a request's head, from its start or from its previous
    # answer, before it is closed; an idle keep-alive connection is closed after as long.
    head_timeout: float = HEAD_TIMEOUT
    # Connections held at once; the next is answered 503 and closed. The process's open files
    # (1,024 by default) are shared with the store, the feeds and the bot.
    max_connections: int = MAX_CONNECTIONS

    @classmethod
    def from_settings(cls, settings) -> WebOptions:
        if settings.web_base_url is None:
            raise ValueError("the web pages need WATCHBOT_WEB_BASE_URL")
        token, metrics = settings.web_api_token, settings.web_metrics_token
        return cls(
            base_url=settings.web_base_url, host=settings.web_host, port=settings.web_port,
            timezone=settings.timezone, digest_schedule=settings.digest_schedule, digest_top=settings.digest_top,
            feeds_digest_cap=settings.feeds_digest_cap, command_prefix=settings.command_prefix,
            fediverse_instance=settings.fediverse_instance, tag_aliases=settings.tag_aliases,
            api_token=None if token is None else token.get_secret_value(),
            metrics_token=None if metrics is None else metrics.get_secret_value(),
            public_pages=settings.web_public_pages,
            networks=tuple(name for name, enabled in (("matrix", settings.matrix_enabled),
                                                      ("mastodon", settings.fediverse_enabled)) if enabled),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Site:
    store: Store
    options: WebOptions
    clock: Callable[[], datetime] = field(default=utcnow)
    ticks: Callable[[], float] = field(default=time.monotonic)  # seconds, for what is kept a while

    @property
    def base_url(self) -> str:
        return self.options.base_url

    @property
    def pages(self) -> Readers:
        """Where pages, the API and the feeds read."""
        return self.store.readers("pages", threads=PAGE_READERS)

    @property
    def ops(self) -> Readers:
        """Where /healthz and /metrics read: one thread, behind no page."""
        return self.store.readers("ops", threads=1)

    def url(self, path: str) -> str:
        """The absolute URL of a path of this site ("/tags/rust" -> "https://watch.example/tags/rust")."""
        return self.base_url + path


SITE = web.AppKey("site", Site)
TAG_COUNTS = web.AppKey("tag_counts", Kept)  # each public tag with its links, the most used first
