"""How the backup formats (CSV, JSON) name and spell a share's fields, in both directions."""

from __future__ import annotations

import re
from datetime import datetime, timezone

# One CSV row per share. The link's title and description repeat on each of its rows so that any
# single row is enough to recreate the share (and a spreadsheet filter never loses them).
BACKUP_COLUMNS = (
    "url",
    "title",
    "description",
    "sharer_id",
    "sharer_name",
    "shared_at",
    "source",
    "place",
    "event_id",
    "visibility",
    "note",
    "tags",
)

JSON_FORMAT_NAME = "watchbot-export"
JSON_FORMAT_VERSION = 1

_TAG_SEPARATORS = re.compile(r"[\s,]+")

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection: a title
# "=HYPERLINK(...)" from a stranger's page). Such cells are written behind a "'" (which
# spreadsheets show as plain text) and read back without it; a cell that already starts with
# "'"s before one of them gets one more, so every round trip is exact.
_FORMULA_CELL = re.compile(r"'*[=+\-@\t\r]")
_NEUTRALISED_CELL = re.compile(r"'+[=+\-@\t\r]")


def spreadsheet_safe(cell: str) -> str:
    """A CSV cell no spreadsheet runs as a formula (inverse: from_spreadsheet_safe)."""
    return "'" + cell if _FORMULA_CELL.match(cell) else cell


def from_spreadsheet_safe(cell: str) -> str:
    return cell[1:] if _NEUTRALISED_CELL.match(cell) else cell


def as_utc(moment: datetime) -> datetime:
    """The same instant in UTC; a naive datetime (as SQLite hands them back) is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with an explicit offset, microseconds kept so a backup restores exactly."""
    return as_utc(moment).isoformat()


def parse_time(text: str) -> datetime:
    """Inverse of format_time; also takes "Z" and offsets other than UTC.

    A value without offset is taken as UTC: spreadsheets tend to drop offsets when a file is
    edited, and UTC is what the export wrote. Raises TimeOutOfRange for a date outside
    EARLIEST_TIME..LATEST_TIME, and ValueError when it is not ISO 8601.
    """
    return checked_time(datetime.fromisoformat(text.strip()))


# The dates a share can have. Anything outside is a placeholder or a typing mistake (0001-01-01,
# 9999-12-31), and such dates break later: turning them into UTC or a local time overflows.
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST_TIME = datetime(2200, 1, 1, tzinfo=timezone.utc)
TIME_RANGE = f"between {EARLIEST_TIME:%Y-%m-%d} and {LATEST_TIME:%Y-%m-%d} (UTC)"


class TimeOutOfRange(ValueError):
    """A date and time that is one, but outside EARLIEST_TIME..LATEST_TIME."""


def checked_time(moment: datetime) -> datetime:
    """`moment` in UTC if it lies in EARLIEST_TIME..LATEST_TIME; raises TimeOutOfRange if not."""
    try:
        moment = as_utc(moment)
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 west of it
        raise TimeOutOfRange(f"{moment.isoformat()} is not {TIME_RANGE}") from None
    if not EARLIEST_TIME <= moment <= LATEST_TIME:
        raise TimeOutOfRange(f"{moment.isoformat()} is not {TIME_RANGE}")
    return moment


def join_tags(tags: tuple[str, ...] | list[str]) -> str:
    return " ".join(tags)


def split_tags(text: str) -> tuple[str, ...]:
    """Tags from one cell or attribute: spaces (our CSV, Pinboard) or commas (Netscape TAGS).

    Tags therefore cannot contain spaces or commas; intake's tag rules already exclude both.
    """
    return tuple(tag for tag in _TAG_SEPARATORS.split(text) if tag)
