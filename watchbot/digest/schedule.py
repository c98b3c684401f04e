"""Digest periods from a cron schedule in the community's timezone.

A period runs from one scheduled time to the next ("0 17 * * fri": Friday 17:00 to Friday 17:00).
cronsim evaluates the schedule on the local wall clock, as Debian's cron does, so a daylight-saving
change neither skips nor doubles a digest.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from watchbot.model import Period

DEFAULT_SCHEDULE = "0 17 * * fri"


def check_schedule(expression: str) -> str:
    """The expression, or ValueError with one sentence saying what is wrong."""
    try:
        CronSim(expression, datetime(2026, 1, 1))
    except CronSimError as error:
        raise ValueError(f"{expression!r} is not a cron schedule ({error}); example: 0 17 * * fri") from None
    return expression


def current_period(expression: str, zone: ZoneInfo, now: datetime) -> Period:
    """The period in progress at `now`: since the last scheduled time, until the next."""
    local = now.astimezone(zone)
    end = next(CronSim(expression, local))
    start = _previous(expression, local, including=True)
    return Period(_utc(start), _utc(end))


def last_period(expression: str, zone: ZoneInfo, now: datetime) -> Period:
    """The last complete period before `now` (what a digest posted at its end covers)."""
    local = now.astimezone(zone)
    end = _previous(expression, local, including=True)
    start = _previous(expression, end, including=False)
    return Period(_utc(start), _utc(end))


def week_of(period: Period, zone: ZoneInfo) -> str:
    """The ISO week a period belongs to, as its web page names it ("2026-W49"): the week holding
    its middle, in the community's timezone, so a Friday-to-Friday period is the week it mostly
    covers, and the name never depends on when it is asked."""
    middle = (period.start + (period.end - period.start) / 2).astimezone(zone)
    year, week, _ = middle.isocalendar()
    return f"{year}-W{week:02d}"


def week_bounds(week: str) -> tuple[datetime, datetime] | None:
    """The Monday 00:00 and the next Monday (naive, local) of "2026-W49", or None for no such week."""
    try:
        year, number = week.split("-W")
        # ASCII digits only: "２０２６" and "²⁰²⁶" are digits to isdigit, and one name per week.
        if len(year) != 4 or len(number) != 2 or not (year + number).isascii() or not (year + number).isdigit():
            return None
        monday = datetime.fromisocalendar(int(year), int(number), 1)
        return monday, monday + timedelta(days=7)
    except (ValueError, OverflowError):  # OverflowError: the last week of year 9999 ends past it
        return None


def _previous(expression: str, moment: datetime, *, including: bool) -> datetime:
    # cronsim works in whole minutes and iterates strictly before its start: start one minute on
    # to include `moment` itself when it falls on a scheduled time.
    probe = moment.replace(second=0, microsecond=0)
    if including:
        probe += timedelta(minutes=1)
    return next(CronSim(expression, probe, reverse=True))


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)
