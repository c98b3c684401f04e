"""What every route of the web app shares: the store, the settings, a clock and the public URL.

One `Site` is made per app and kept in `app[SITE]`; routes read it from there, so a test can
build an app on any store with a fixed clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from watchbot.config import Settings
from watchbot.model import utcnow
from watchbot.store import Store


@dataclass(frozen=True)
class Site:
    store: Store
    settings: Settings
    # The address readers use (WATCHBOT_WEB_BASE_URL), without a trailing slash: links in feeds,
    # the API and the digests are absolute, so they work wherever they are read.
    base_url: str
    clock: Callable[[], datetime] = field(default=utcnow)

    def url(self, path: str) -> str:
        """The absolute URL of a path of this site ("/tags/rust" -> "https://watch.example/tags/rust")."""
        return self.base_url + path


SITE = web.AppKey("site", Site)
