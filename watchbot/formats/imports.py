"""Reading links in: our CSV and JSON backups, and Netscape bookmark files from anywhere.

Every share read becomes one `Post` for intake, as if it had just been posted; a row that cannot
be read becomes an `ImportProblem` and the rest of the file carries on.
"""

from __future__ import annotations


import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePath
from typing import Any

from watchbot.formats.bookmarks import RawBookmark, parse_bookmarks
from watchbot.formats.fields import (
    BACKUP_COLUMNS,
    JSON_FORMAT_NAME,
    JSON_FORMAT_VERSION,
    as_utc,
    parse_time,
    split_tags,
)
from watchbot.formats.json_lines import LocatedDict, loads_with_lines
from watchbot.model import Post, Source, Visibility, utcnow

IMPORT_FORMATS = ("csv", "json", "html")

BOOKMARK_PLACE = "import"


@dataclass(frozen=True)
class ImportProblem:
    line: int  # 1-based line number in the file where the bad row starts
    message: str  # one clear sentence


ImportItem = tuple[int, Post] | ImportProblem


class _BadRow(Exception):
    """Why a row cannot become a Post: a predicate ("has no url") completed by the caller."""


# ---------------------------------------------------------------------------------------------
# Which format


_EXTENSIONS = {".csv": "csv", ".json": "json", ".html": "html", ".htm": "html"}


def detect_format(head: str, filename: str | None = None) -> str:
    """The import format of a file from its first few kilobytes, else from its extension."""
    start = head.lstrip("\ufeff \t\r\n")
    lowered = start[:4096].lower()
    if lowered.startswith("<?xml"):
        raise ValueError(
            f"{_described(filename)} is XML (an Atom feed?), which cannot be imported; "
            "import a CSV or JSON export or a bookmarks HTML file."
        )
    if lowered.startswith("<"):
        return "html"
    if lowered.startswith(("{", "[")):
        return "json"
    first_line = start.splitlines()[0] if start else ""
    if "url" in (cell.strip().lower() for cell in next(csv.reader([first_line]), [])):
        return "csv"
    if filename:
        fmt = _EXTENSIONS.get(PurePath(filename).suffix.lower())
        if fmt:
            return fmt
    raise ValueError(
        f"Cannot tell the format of {_described(filename)}: expected a watchbot CSV or JSON "
        "export or a bookmarks HTML file."
    )


def _described(filename: str | None) -> str:
    return repr(filename) if filename else "the input"


def count_rows(text: str, fmt: str) -> int:
    """How many items read_import will yield, for a progress bar (approximate for html)."""
    _check_format(fmt)
    if fmt == "csv":
        rows = csv.reader(io.StringIO(_without_bom(text), newline=""))
        return max(sum(1 for row in rows if row) - 1, 0)
    if fmt == "json":
        try:
            document = json.loads(text)
            return sum(len(link.get("shares") or [None]) for link in document["links"])
        except (ValueError, TypeError, KeyError, AttributeError):
            return 1  # read_import will report the one problem
    return len(re.findall(r"<a\s", text, flags=re.IGNORECASE))


# ---------------------------------------------------------------------------------------------
# Reading


def read_import(
    text: str,
    fmt: str,
    *,
    default_sharer: str = "import",
    now: datetime | None = None,
) -> Iterator[ImportItem]:
    """(line, Post) per share in file order, or an ImportProblem for a row that cannot be read.

    `default_sharer` credits the rows that name no sharer (every bookmark). `now` stands in for
    a missing date; it defaults to the time of the import. Raises ValueError for an unknown
    format at once, not at the first item.
    """
    _check_format(fmt)
    context = _Defaults(sharer=default_sharer, now=as_utc(now) if now else utcnow())
    text = _without_bom(text)
    if fmt == "csv":
        return _read_csv(text, context)
    if fmt == "json":
        return _read_json(text, context)
    return _read_bookmarks(text, context)


def _check_format(fmt: str) -> None:
    if fmt not in IMPORT_FORMATS:
        choices = ", ".join(IMPORT_FORMATS)
        raise ValueError(f"Unknown import format {fmt!r}; choose one of {choices}.")


def _without_bom(text: str) -> str:
    return text.removeprefix("\ufeff")  # Excel and Windows editors start UTF-8 files with one


@dataclass(frozen=True, slots=True)
class _Defaults:
    sharer: str
    now: datetime


# ---------------------------------------------------------------------------------------------
# Fields shared by CSV and JSON rows. None means the file has no such column or key: a default
# applies. An empty value where one is needed (date, source, visibility) is a problem instead.


def _share_post(fields: Mapping[str, Any], defaults: _Defaults) -> Post:
    url = _text(fields, "url")
    if not url or not url.strip():
        raise _BadRow("has no url")
    sharer_id = _text(fields, "sharer_id") or defaults.sharer
    source = _enum(fields, "source", Source, Source.IMPORT)
    return Post(
        source=source,
        place=_optional_text(fields, "place", BOOKMARK_PLACE),
        author_id=sharer_id,
        author_name=_text(fields, "sharer_name") or sharer_id,
        text="",
        event_id=_text(fields, "event_id") or None,
        visibility=_enum(fields, "visibility", Visibility, Visibility.PUBLIC),
        at=_time(fields, "shared_at", defaults.now),
        note=_text(fields, "note") or None,
        extra_tags=_tags(fields, "tags"),
        links=(url.strip(),),
        title=_text(fields, "title") or None,
        description=_text(fields, "description") or None,
    )


def _text(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, str):
        raise _BadRow(f"has a {name} that is not text")
    return value


def _optional_text(fields: Mapping[str, Any], name: str, default: str) -> str:
    value = _text(fields, name)
    return default if value is None else value


def _enum(fields: Mapping[str, Any], name: str, kind: type, default: Any) -> Any:
    value = _text(fields, name)
    if value is None:
        return default
    try:
        return kind(value.strip().lower())
    except ValueError:
        expected = ", ".join(member.value for member in kind)
        raise _BadRow(f"has an unknown {name} {value!r} (expected one of {expected})") from None


def _time(fields: Mapping[str, Any], name: str, default: datetime) -> datetime:
    value = _text(fields, name)
    if value is None:
        return default
    try:
        return parse_time(value)
    except ValueError:
        raise _BadRow(
            f"has a {name} of {value!r}, which is not an ISO 8601 date and time"
        ) from None


def _tags(fields: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = fields.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        return split_tags(value)
    if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
        return tuple(tag for tag in value if tag)
    raise _BadRow(f"has {name} that are neither text nor a list of texts")


# ---------------------------------------------------------------------------------------------
# CSV: a header naming its columns (in any order, any case; only url is required), then one row
# per share. Columns other than BACKUP_COLUMNS are ignored, so spreadsheet extras do no harm.


def _read_csv(text: str, defaults: _Defaults) -> Iterator[ImportItem]:
    # newline="" keeps line breaks inside quoted notes as they were, as the csv module requires.
    reader = csv.reader(io.StringIO(text, newline=""))
    header: dict[str, int] | None = None
    width = 0
    row_start = 1
    while True:
        row_start = reader.line_num + 1  # line_num counts lines consumed, rows can span several
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield ImportProblem(row_start, f"The row cannot be read as CSV ({error}).")
            continue
        if not row:
            continue  # a blank line
        if header is None:
            header, problem = _csv_header(row)
            if problem:
                yield ImportProblem(row_start, problem)
                return
            width = len(row)
            continue
        if len(row) != width:
            yield ImportProblem(
                row_start, f"The row has {len(row)} fields but the header has {width}."
            )
            continue
        fields = {name: row[index] for name, index in header.items()}
        try:
            yield row_start, _share_post(fields, defaults)
        except _BadRow as bad:
            yield ImportProblem(row_start, f"The row {bad}.")


def _csv_header(row: list[str]) -> tuple[dict[str, int], str | None]:
    names = [cell.strip().lower() for cell in row]
    for name in set(names):
        if name and names.count(name) > 1:
            return {}, f"The header names the column {name!r} more than once."
    if "url" not in names:
        return {}, "The first line is not a header with a url column, so no row can be read."
    return {name: names.index(name) for name in BACKUP_COLUMNS if name in names}, None


# ---------------------------------------------------------------------------------------------
# JSON: our export document. Problems point at the line where the share's object starts. The
# link-level key and tags are not read: intake recomputes the key, and tags live on shares.


def _read_json(text: str, defaults: _Defaults) -> Iterator[ImportItem]:
    try:
        document = loads_with_lines(text)
    except json.JSONDecodeError as error:
        yield ImportProblem(error.lineno, f"The file is not valid JSON ({error.msg}).")
        return
    problem = _json_document_problem(document)
    if problem:
        yield ImportProblem(getattr(document, "line", 1), problem)
        return
    for link_number, link in enumerate(document["links"], start=1):
        yield from _json_link(link, link_number, document.line, defaults)


def _json_document_problem(document: Any) -> str | None:
    if not isinstance(document, dict) or document.get("format") != JSON_FORMAT_NAME:
        return f"The file is not a watchbot export (no \"format\": \"{JSON_FORMAT_NAME}\")."
    version = document.get("version")
    if version != JSON_FORMAT_VERSION:
        return (
            f"The export is version {version!r}, "
            f"and this watchbot reads version {JSON_FORMAT_VERSION}."
        )
    if not isinstance(document.get("links"), list):
        return "The export has no list of links."
    return None


def _json_link(
    link: Any, number: int, parent_line: int, defaults: _Defaults
) -> Iterator[ImportItem]:
    if not isinstance(link, LocatedDict):
        yield ImportProblem(parent_line, f"Link {number} is not an object.")
        return
    shares = link.get("shares")
    if not isinstance(shares, list) or not shares:
        yield ImportProblem(link.line, f"Link {number} has no list of shares.")
        return
    for share_number, share in enumerate(shares, start=1):
        where = f"Share {share_number} of link {number}"
        if not isinstance(share, LocatedDict):
            yield ImportProblem(link.line, f"{where} is not an object.")
            continue
        # A share without its own url was posted as the link's url; title and description are
        # the link's.
        fields = {"url": link.get("url"), **share}
        fields["title"] = link.get("title")
        fields["description"] = link.get("description")
        try:
            yield share.line, _share_post(fields, defaults)
        except _BadRow as bad:
            yield ImportProblem(share.line, f"{where} {bad}.")


# ---------------------------------------------------------------------------------------------
# Bookmarks: anyone's, so they are credited to default_sharer and come from Source.IMPORT.


def _read_bookmarks(text: str, defaults: _Defaults) -> Iterator[ImportItem]:
    for bookmark in parse_bookmarks(text):
        try:
            yield bookmark.line, _bookmark_post(bookmark, defaults)
        except _BadRow as bad:
            yield ImportProblem(bookmark.line, f"The bookmark {bad}.")


def _bookmark_post(bookmark: RawBookmark, defaults: _Defaults) -> Post:
    attributes = bookmark.attributes
    url = (attributes.get("href") or "").strip()
    if not url:
        raise _BadRow("has no HREF")
    return Post(
        source=Source.IMPORT,
        place=BOOKMARK_PLACE,
        author_id=defaults.sharer,
        author_name=defaults.sharer,
        text="",
        # Bookmarks carry no id of their own; one made of who and what makes importing the same
        # file twice a replay, even for bookmarks without ADD_DATE (which get the import time).
        event_id="bookmark:" + hashlib.sha256(f"{defaults.sharer}\n{url}".encode()).hexdigest()[:32],
        visibility=Visibility.PRIVATE if attributes.get("private") == "1" else Visibility.PUBLIC,
        at=_bookmark_time(attributes.get("add_date"), defaults.now),
        note=bookmark.note or None,
        extra_tags=split_tags(attributes.get("tags") or ""),
        links=(url,),
        title=bookmark.title or None,
    )


def _bookmark_time(add_date: str | None, import_time: datetime) -> datetime:
    """ADD_DATE is Unix seconds; some tools write milliseconds or microseconds instead.

    A missing, empty or zero ADD_DATE (some exporters write 0 for "unknown") gives the import
    time: the bookmark exists, and inventing 1970 for it would be worse than saying "now".
    """
    value = (add_date or "").strip()
    if not value or value == "0":
        return import_time
    try:
        number = int(value)
    except ValueError:
        raise _BadRow(f"has an ADD_DATE of {value!r}, which is not a Unix time") from None
    # Seconds reach 10**11 only in the year 5138: anything bigger is in a finer unit.
    while number >= 10**11:
        number //= 1000
    try:
        return datetime.fromtimestamp(number, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise _BadRow(f"has an ADD_DATE of {value!r}, which is not a Unix time") from None
