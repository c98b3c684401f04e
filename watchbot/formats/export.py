"""Writing a store's links out, in one of FORMATS.

csv and json are complete backups (every share, private ones too, each with its visibility);
html (Netscape bookmarks) and atom are for publishing and hold publishable shares only.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TextIO

from watchbot.formats.atom import write_atom
from watchbot.formats.backup import write_csv, write_json
from watchbot.formats.bookmarks import write_bookmarks
from watchbot.formats.fields import as_utc
from watchbot.model import LinkRecord, utcnow

FORMATS = ("csv", "json", "html", "atom")


def write_export(
    records: Iterable[LinkRecord],
    fmt: str,
    out: TextIO,
    *,
    title: str = "watchbot",
    site_url: str | None = None,
    now: datetime | None = None,
) -> int:
    """Write `records` to `out` in their given order; returns how many links were written.

    The same records and `now` always give the same bytes. `now` only stamps the JSON export
    (and dates an Atom feed that has no entry). Open `out` with encoding="utf-8".
    """
    moment = as_utc(now) if now is not None else utcnow()
    if fmt == "csv":
        return write_csv(records, out)
    if fmt == "json":
        return write_json(records, out, now=moment)
    if fmt == "html":
        return write_bookmarks(records, out, title=title)
    if fmt == "atom":
        return write_atom(records, out, title=title, site_url=site_url, now=moment)
    raise ValueError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
