"""The complete backups, CSV and JSON: every share, private ones included, nothing lost.

`imports.read_import` reads both back into the Posts that made them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TextIO

from watchbot.formats.fields import (
    BACKUP_COLUMNS,
    JSON_FORMAT_NAME,
    JSON_FORMAT_VERSION,
    format_time,
    join_tags,
    spreadsheet_safe,
)
from watchbot.model import Link, LinkRecord, Share


def write_csv(records: Iterable[LinkRecord], out: TextIO) -> int:
    """One row per share under a header of BACKUP_COLUMNS; streams, so any store size fits.

    Cells a spreadsheet would run as formulas are neutralised (fields.spreadsheet_safe); the
    import reads them back exactly. Rows end in "\\n" rather than the Excel dialect's "\\r\\n",
    so that a file opened in text mode without newline="" does not end up with doubled carriage
    returns; every CSV reader takes both.
    """
    writer = csv.writer(out, lineterminator="\n")
    # With "\n" as terminator the csv module leaves a lone "\r" in a cell unquoted, and readers
    # then cut the row there: rows holding one are written with every cell quoted.
    quoting_all = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(BACKUP_COLUMNS)
    written = 0
    for record in records:
        for share in record.shares:
            row = _csv_row(record.link, share)
            (quoting_all if any("\r" in cell for cell in row) else writer).writerow(row)
        written += bool(record.shares)  # a link without shares has no row to live in
    return written


def _csv_row(link: Link, share: Share) -> list[str]:
    row = {
        "url": share.url,
        "title": link.title or "",
        "description": link.description or "",
        "sharer_id": share.sharer_id,
        "sharer_name": share.sharer_name,
        "shared_at": format_time(share.shared_at),
        "source": share.source.value,
        "place": share.place,
        "event_id": share.event_id or "",
        "visibility": share.visibility.value,
        "note": share.note or "",
        "tags": join_tags(share.tags),
    }
    return [spreadsheet_safe(row[column]) for column in BACKUP_COLUMNS]


def write_json(records: Iterable[LinkRecord], out: TextIO, *, now: datetime) -> int:
    """The whole export as one pretty-printed document, written link by link.

    The bytes are those of json.dump(document, indent=2), but only one link is in memory at a
    time: a store of 100,000 links exports in constant memory (docs/benchmarks.md).
    """
    header = {"format": JSON_FORMAT_NAME, "version": JSON_FORMAT_VERSION, "exported_at": format_time(now)}
    out.write(json.dumps(header, indent=2, ensure_ascii=False).removesuffix("\n}") + ',\n  "links": [')
    count = 0
    for record in records:
        link = json.dumps(_json_link(record), indent=2, ensure_ascii=False).replace("\n", "\n    ")
        out.write(("," if count else "") + "\n    " + link)
        count += 1
    out.write("\n  ]\n}\n" if count else "]\n}\n")
    return count


def _json_link(record: LinkRecord) -> dict[str, Any]:
    link = record.link
    return {
        "url": link.url,
        "key": link.key,
        "title": link.title,
        "description": link.description,
        "tags": list(link.tags),
        "shares": [_json_share(share) for share in record.shares],
    }


def _json_share(share: Share) -> dict[str, Any]:
    return {
        "url": share.url,
        "sharer_id": share.sharer_id,
        "sharer_name": share.sharer_name,
        "shared_at": format_time(share.shared_at),
        "source": share.source.value,
        "place": share.place,
        "event_id": share.event_id,
        "visibility": share.visibility.value,
        "note": share.note,
        "tags": list(share.tags),
        # What this share itself said of the page: a title only a private share gave is never given
        # to the public shares of an import (the link's title above is the operator's view).
        "title": share.title,
        "description": share.description,
    }
