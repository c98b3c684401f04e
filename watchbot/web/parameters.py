"""Reading what a client writes in a path or a query: numbers, dates and weeks, bounded.

Every route that reads one reads it here, so a bad value is a 400 or a 404 and never a 500.
`str.isdigit` alone is not a check: it accepts "²" and "١٢", which `int()` then refuses, and a
number of 5,000 digits, which `int()` refuses too (Python's limit on converting long strings).
A date is read by `datetime.fromisoformat`, then brought to UTC, where an offset near the ends
of time would overflow: so the year is bounded after the conversion, not before.

Pure: the web's handlers turn BadParameter into their own answer (api.py's JSON line, a page's
404), and others may call these on anything a client sent.
"""

from __future__ import annotations

from datetime import datetime, timezone

from watchbot.digest.schedule import week_bounds

# Link numbers are INTEGER on both databases, at most 2³¹ − 1 on PostgreSQL (which fails a query
# given a larger one for it): past it no link exists.
LINK_MAX = 2**31 - 1
# The years a date may name, once in UTC: the Unix epoch (nothing was shared before it) to the
# last year `datetime` holds.
FIRST_YEAR, LAST_YEAR = 1970, 9999
# A date longer than this is not one (the longest ISO form, with microseconds and an offset, is 32).
MAX_DATE_LENGTH = 40
DATE_EXAMPLE = "such as 2026-11-30 or 2026-11-30T12:00:00Z"


class BadParameter(ValueError):
    """A parameter that cannot be read; its message is the one line the client is told."""


def bounded_int(raw: str, *, minimum: int, maximum: int) -> int | None:
    """The whole number `raw` writes in ASCII digits alone (no sign, no space, no other script's
    digits), when it lies in [minimum, maximum]; None otherwise. A number longer than `maximum`
    is refused by its length, before `int()` is asked about it."""
    if not (raw.isascii() and raw.isdigit()):
        return None
    significant = raw.lstrip("0") or "0"
    if len(significant) > len(str(maximum)):
        return None
    number = int(significant)
    return number if minimum <= number <= maximum else None


def positive_int(raw: str, name: str, maximum: int, *, larger_is_maximum: bool = False) -> int:
    """A whole number from 1 to `maximum` (a page number, a limit), or BadParameter saying so.
    With `larger_is_maximum`, a larger number is read as `maximum` (asking for more than is
    served is no error: the API's `limit`)."""
    number = bounded_int(raw, minimum=1, maximum=maximum)
    if number is None and larger_is_maximum and is_number(raw) and raw.strip("0"):
        number = maximum  # digits, not all zeros, and still refused: past the maximum
    if number is None:
        raise BadParameter(f"{name}: expected a whole number from 1 to {maximum}, such as {name}={min(maximum, 50)}.")
    return number


def link_number(raw: str) -> int | None:
    """The link `raw` names, if it could name one: 1 to LINK_MAX in ASCII digits. None for any
    other text, or a number past every link (the caller says there is no such link)."""
    return bounded_int(raw, minimum=1, maximum=LINK_MAX)


def is_number(raw: str) -> bool:
    """Does `raw` write a whole number, however large (ASCII digits only)?"""
    return raw.isascii() and raw.isdigit()


def moment(raw: str, name: str) -> datetime:
    """A date (2026-11-30: midnight UTC) or a date and time (2026-11-30T12:00:00Z, or with an
    offset; naive is UTC), in UTC, from FIRST_YEAR to LAST_YEAR; or BadParameter."""
    text = raw.strip()
    try:
        if not text.isascii() or len(text) > MAX_DATE_LENGTH:
            raise ValueError(text)
        read = datetime.fromisoformat(text)
        in_utc = read.replace(tzinfo=timezone.utc) if read.tzinfo is None else read.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: an offset that takes it past year 1 or 9999
        raise BadParameter(f"{name}: expected a date {DATE_EXAMPLE}.") from None
    if not FIRST_YEAR <= in_utc.year <= LAST_YEAR:
        raise BadParameter(f"{name}: expected a date from {FIRST_YEAR} to {LAST_YEAR}, {DATE_EXAMPLE}.")
    return in_utc


def iso_week(raw: str) -> str | None:
    """`raw` when it names an ISO week as the archive does ("2026-W49", from FIRST_YEAR to
    LAST_YEAR), else None: the week pages answer 404 to anything else."""
    bounds = week_bounds(raw)
    if bounds is None or not FIRST_YEAR <= bounds[0].year <= LAST_YEAR:
        return None
    return raw
