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
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePath
from typing import Any

from watchbot.formats.bookmarks import CutOff, RawBookmark, looks_like_bookmarks, parse_bookmarks
from watchbot.formats.fields import (
    BACKUP_COLUMNS,
    JSON_FORMAT_NAME,
    JSON_FORMAT_VERSION,
    TIME_RANGE,
    TimeOutOfRange,
    as_utc,
    checked_time,
    from_spreadsheet_safe,
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
    message: str  # one clear sentence, without its final period: the caller goes on with it


ImportItem = tuple[int, Post] | ImportProblem


class _BadRow(Exception):
    """Why a row cannot become a Post: a predicate ("has no url") completed by the caller."""


# ---------------------------------------------------------------------------------------------
# Which format


_EXTENSIONS = {".csv": "csv", ".json": "json", ".html": "html", ".htm": "html"}
_FORMAT_NAMES = {"csv": "a CSV export", "json": "a JSON export", "html": "a bookmarks HTML file"}


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


def _not_this_format(text: str, fmt: str, why: str) -> ImportProblem:
    """The problem of a file read as `fmt` that is something else, with the --format to use."""
    advice = _other_format_advice(text, fmt)
    if advice is None:
        others = " or ".join(f"--format {other}" for other in IMPORT_FORMATS if other != fmt)
        advice = f"use {others} if it is one"
    return ImportProblem(1, f"This does not look like {_FORMAT_NAMES[fmt]} ({why}); {advice}")


def _other_format_advice(text: str, fmt: str) -> str | None:
    """The advice to use another --format, when the content is plainly of that format."""
    try:
        likely = detect_format(text[:4096])
    except ValueError:
        return None
    if likely == fmt:
        return None
    return f"it looks like {_FORMAT_NAMES[likely]}, so use --format {likely}"


def count_rows(text: str, fmt: str) -> int:
    """How many items read_import will yield, for a progress bar (approximate for html)."""
    _check_format(fmt)
    if fmt == "csv":
        rows = 0
        reader = csv.reader(io.StringIO(_without_bom(text), newline=""))
        try:
            with _csv_field_limit():
                for row in reader:
                    rows += 1 if row else 0
        except csv.Error:
            return max(rows, 1)  # the rows before it (header included), then the one problem
        return max(rows - 1, 0)
    if fmt == "json":
        try:
            document = json.loads(text)
            return sum(len(link.get("shares") or [None]) for link in document["links"])
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
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
    url = url.strip()
    sharer_id = _text(fields, "sharer_id") or defaults.sharer
    note = _text(fields, "note") or None
    event_id = _text(fields, "event_id") or None
    if event_id is None and fields.get("shared_at") is None:
        # Nothing tells this share apart from a second import of it: without a date it would get
        # the import's time, so the store's "same person, same instant" check could not see the
        # replay. An id made of who, what and why makes it one, as for bookmarks.
        event_id = _derived_event_id("import:", sharer_id, url, note or "")
    return Post(
        source=_enum(fields, "source", Source, Source.IMPORT),
        place=_optional_text(fields, "place", BOOKMARK_PLACE),
        author_id=sharer_id,
        author_name=_text(fields, "sharer_name") or sharer_id,
        text="",
        event_id=event_id,
        visibility=_enum(fields, "visibility", Visibility, Visibility.PUBLIC),
        at=_time(fields, "shared_at", defaults.now),
        note=note,
        extra_tags=_tags(fields, "tags"),
        links=(url,),
        title=_text(fields, "title") or None,
        description=_text(fields, "description") or None,
    )


def _derived_event_id(prefix: str, *parts: str) -> str:
    # JSON keeps the parts apart whatever they contain, and its \u escapes make it ASCII.
    return prefix + hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def _text(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _BadRow(f"has a {name} that is not text")
    return _checked_text(value, name)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _checked_text(value: str, name: str) -> str:
    """`value` if a database can store it: PostgreSQL refuses NUL in text, and a lone surrogate
    (JSON's "\\ud800" without its pair) is no character at all and cannot be encoded."""
    if "\x00" in value:
        raise _BadRow(f"has a NUL character in its {name}")
    surrogate = _SURROGATE.search(value)
    if surrogate:
        code = f"\\u{ord(surrogate.group()):04x}"
        raise _BadRow(f"has an invalid character ({code}, half of a UTF-16 pair) in its {name}")
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
    except TimeOutOfRange:
        raise _BadRow(f"has a {name} of {value!r}, which is not {TIME_RANGE}") from None
    except (ValueError, OverflowError):
        raise _BadRow(
            f"has a {name} of {value!r}, which is not an ISO 8601 date and time"
        ) from None


def _tags(fields: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = fields.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        return split_tags(_checked_text(value, name))
    if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
        return tuple(_checked_text(tag, name) for tag in value if tag)
    raise _BadRow(f"has {name} that are neither text nor a list of texts")


# ---------------------------------------------------------------------------------------------
# CSV: a header naming its columns (in any order, any case; only url is required), then one row
# per share. Columns other than BACKUP_COLUMNS are ignored, so spreadsheet extras do no harm.


# A field may be as long as this: the csv module's default, 128 KiB, is less than a note can be,
# while no share needs anywhere near 16 MiB.
_CSV_FIELD_LIMIT = 16 * 1024 * 1024


@contextmanager
def _csv_field_limit() -> Iterator[None]:
    """Our field limit while reading. csv.field_size_limit is process-wide, so it is set for
    each read and put back, never left set between rows (other code may read CSV meanwhile)."""
    previous = csv.field_size_limit(_CSV_FIELD_LIMIT)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _read_csv(text: str, defaults: _Defaults) -> Iterator[ImportItem]:
    # newline="" keeps line breaks inside quoted notes as they were, as the csv module requires.
    reader = csv.reader(io.StringIO(text, newline=""))
    header: dict[str, int] | None = None
    width = 0
    row_start = 1
    while True:
        row_start = reader.line_num + 1  # line_num counts lines consumed, rows can span several
        try:
            with _csv_field_limit():
                row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            # After an error the reader does not know where the next row starts (a quoted field
            # can span lines): reading on would take pieces of the broken field for rows.
            yield ImportProblem(
                row_start,
                f"The row cannot be read as CSV ({error}), and neither can the rest of the file",
            )
            return
        if not row:
            continue  # a blank line
        if header is None:
            header, problem = _csv_header(row)
            if problem:
                advice = _other_format_advice(text, "csv")
                yield ImportProblem(row_start, f"{problem}; {advice}" if advice else problem)
                return
            width = len(row)
            continue
        if len(row) != width:
            yield ImportProblem(
                row_start, f"The row has {len(row)} fields but the header has {width}"
            )
            continue
        fields = {name: from_spreadsheet_safe(row[index]) for name, index in header.items()}
        try:
            yield row_start, _share_post(fields, defaults)
        except _BadRow as bad:
            yield ImportProblem(row_start, f"The row {bad}")


def _csv_header(row: list[str]) -> tuple[dict[str, int], str | None]:
    names = [cell.strip().lower() for cell in row]
    for name in set(names):
        if name and names.count(name) > 1:
            return {}, f"The header names the column {name!r} more than once"
    if "url" not in names:
        return {}, "The first line is not a header with a url column, so no row can be read"
    return {name: names.index(name) for name in BACKUP_COLUMNS if name in names}, None


# ---------------------------------------------------------------------------------------------
# JSON: our export document. Problems point at the line where the share's object starts. The
# link-level key and tags are not read: intake recomputes the key, and tags live on shares.


def _read_json(text: str, defaults: _Defaults) -> Iterator[ImportItem]:
    try:
        document = loads_with_lines(text)
    except json.JSONDecodeError as error:
        message = f"The file is not valid JSON ({error.msg})"
        advice = _other_format_advice(text, "json") if not text[: error.pos].strip() else None
        yield ImportProblem(error.lineno, f"{message}; {advice}" if advice else message)
        return
    except RecursionError:
        # Lists or objects inside each other thousands deep: an export is four levels deep.
        yield ImportProblem(1, "The file is not a watchbot export: its JSON is nested too deeply")
        return
    except ValueError as error:  # a number of more digits than int() takes, which has no line
        yield ImportProblem(1, f"The file cannot be read as JSON ({str(error).split(':')[0]})")
        return
    problem = _json_document_problem(document)
    if problem:
        yield ImportProblem(getattr(document, "line", 1), problem)
        return
    for link_number, link in enumerate(document["links"], start=1):
        yield from _json_link(link, link_number, document.line, defaults)


def _json_document_problem(document: Any) -> str | None:
    if not isinstance(document, dict) or document.get("format") != JSON_FORMAT_NAME:
        return f"The file is not a watchbot export (no \"format\": \"{JSON_FORMAT_NAME}\")"
    version = document.get("version")
    if version != JSON_FORMAT_VERSION:
        return (
            f"The export is version {version!r}, "
            f"and this watchbot reads version {JSON_FORMAT_VERSION}"
        )
    if not isinstance(document.get("links"), list):
        return "The export has no list of links"
    return None


def _json_link(
    link: Any, number: int, parent_line: int, defaults: _Defaults
) -> Iterator[ImportItem]:
    if not isinstance(link, LocatedDict):
        yield ImportProblem(parent_line, f"Link {number} is not an object")
        return
    shares = link.get("shares")
    if not isinstance(shares, list) or not shares:
        yield ImportProblem(link.line, f"Link {number} has no list of shares")
        return
    mixed = len({_publishable(share) for share in shares}) > 1
    for share_number, share in enumerate(shares, start=1):
        where = f"Share {share_number} of link {number}"
        if not isinstance(share, LocatedDict):
            yield ImportProblem(link.line, f"{where} is not an object")
            continue
        # A share without its own url was posted as the link's url.
        fields = {"url": link.get("url"), **share}
        if "title" not in share and "description" not in share:
            # An export from before shares kept their own: the link's title and description, which
            # a private share may have given, go to its public shares only if it has no other.
            given = not mixed or not _publishable(share)
            fields["title"] = link.get("title") if given else None
            fields["description"] = link.get("description") if given else None
        try:
            yield share.line, _share_post(fields, defaults)
        except _BadRow as bad:
            yield ImportProblem(share.line, f"{where} {bad}")


def _publishable(share: Any) -> bool:
    """Whether a share of the file may be published, as far as its visibility can be read (what
    cannot be read is left to _share_post to report)."""
    visibility = share.get("visibility") if isinstance(share, Mapping) else None
    try:
        return Visibility(visibility.strip().lower()).publishable if isinstance(visibility, str) else visibility is None
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------
# Bookmarks: anyone's, so they are credited to default_sharer and come from Source.IMPORT.


def _read_bookmarks(text: str, defaults: _Defaults) -> Iterator[ImportItem]:
    found = False
    for bookmark in parse_bookmarks(text):
        found = True
        if isinstance(bookmark, CutOff):
            # Not filed, though its HREF may be whole: whatever comes after it in the tag (the
            # ADD_DATE, the TAGS) may be cut, and once filed, importing the whole file later
            # would be a replay that could not put them right.
            yield ImportProblem(
                bookmark.line,
                "The file ends in the middle of this bookmark's <A> tag, so the bookmark "
                "cannot be read (is the file cut off?)",
            )
            continue
        try:
            yield bookmark.line, _bookmark_post(bookmark, defaults)
        except _BadRow as bad:
            yield ImportProblem(bookmark.line, f"The bookmark {bad}")
    if not found and text.strip() and not looks_like_bookmarks(text):
        yield _not_this_format(text, "html", "there is no <DL> list and no <A> link in it")


def _bookmark_post(bookmark: RawBookmark, defaults: _Defaults) -> Post:
    attributes = bookmark.attributes
    for name in ("href", "tags"):
        _checked_text(attributes.get(name) or "", name.upper())
    url = (attributes.get("href") or "").strip()
    if not url:
        raise _BadRow("has no HREF")
    title = _checked_text(bookmark.title, "title")
    note = _checked_text(bookmark.note, "note")
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
        note=note or None,
        extra_tags=split_tags(attributes.get("tags") or ""),
        links=(url,),
        title=title or None,
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
    # Seconds reach 10**11 only in the year 5138: anything bigger is in a finer unit, down to
    # nanoseconds. (Dividing on and on would make any long number a date in the 1970s.)
    for _finer_unit in ("milliseconds", "microseconds", "nanoseconds"):
        if number < 10**11:
            break
        number //= 1000
    try:
        return checked_time(datetime.fromtimestamp(number, timezone.utc))
    except (TimeOutOfRange, OverflowError, OSError, ValueError):
        raise _BadRow(f"has an ADD_DATE of {value!r}, which is not {TIME_RANGE}") from None
