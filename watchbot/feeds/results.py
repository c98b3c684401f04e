"""What polling and checking feeds gave, as the command line, the chat command and the log say it.

Pure: results in, lines of text out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from watchbot.feeds.parse import Entry, Feed
from watchbot.intake import Outcome
from watchbot.store.feeds import Subscription


class Result(StrEnum):
    FIRST = "first"  # the first poll: what the feed holds was recorded (and the backfill filed)
    NEW = "new"  # new entries were filed
    NOTHING_NEW = "nothing new"
    UNCHANGED = "unchanged"  # 304
    FAILED = "failed"  # tried again later, with backoff
    DISABLED = "disabled"  # 410: not polled any more


@dataclass(frozen=True, slots=True)
class FiledEntry:
    entry: Entry
    outcome: Outcome
    link_id: int


@dataclass(frozen=True, slots=True)
class Polled:
    """What one poll of one feed gave: for `feeds poll`, the chat command and the log."""

    feed: Subscription
    result: Result
    filed: tuple[FiledEntry, ...] = ()
    recorded: int = 0  # entries seen for the first time and not filed (the first poll; no link)
    reason: str | None = None  # why it failed or was disabled
    warning: str | None = None  # the feed was read in spite of this
    moved_to: str | None = None
    next_poll_at: datetime | None = None
    title: str | None = None  # the feed's title, as this poll read it
    format: str | None = None

    @property
    def name(self) -> str:
        return self.title or self.feed.name

    def lines(self, zone: ZoneInfo) -> list[str]:
        head = f"#{self.feed.id} {self.name}: "
        moved = [f"  moved for good to {self.moved_to}; that address is kept"] if self.moved_to else []
        warned = [f"  warning: {self.warning}; read anyway"] if self.warning else []
        if self.result is Result.FAILED:
            when = self.next_poll_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if self.next_poll_at else "later"
            return [head + f"failed ({self.feed.errors + 1} in a row): {self.reason}; next try {when}", *moved]
        if self.result is Result.DISABLED:
            return [head + f"disabled: {self.reason}", *moved]
        if self.result is Result.UNCHANGED:
            return [head + "unchanged (304)", *moved]
        if self.result is Result.FIRST:
            summary = f"first poll: {_entries(self.recorded)} recorded, {len(self.filed) or 'none'} filed"
        elif self.filed:
            summary = f"{len(self.filed)} new"
        else:
            summary = "nothing new"
        return [head + summary, *moved, *warned, *(f"  {_filed_line(f)}" for f in self.filed)]


def describe_added(polled: Polled) -> str:
    """One sentence on a feed just followed: what it is, how it is polled, what was done."""
    feed = polled.feed
    filed = f"{len(polled.filed)} filed" if polled.filed else "none filed (new ones will be)"
    tags = f" [{', '.join(feed.tags)}]" if feed.tags else ""
    return (f"Following feed #{feed.id} “{polled.name}” ({polled.format}), every {every_text(feed.every)}{tags}"
            f"{', alert' if feed.alert else ''}: {_entries(polled.recorded)} recorded, {filed}.")


def describe_state(feed: Subscription, zone: ZoneInfo) -> str:
    """How a followed feed is doing, in one line."""

    def at(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    if feed.disabled_at:
        return f"disabled {at(feed.disabled_at)}: {feed.disabled_reason}"
    polled = f"last polled {at(feed.polled_at)}" if feed.polled_at else "not polled yet"
    state = f"every {every_text(feed.every)}, {polled}, next {at(feed.next_poll_at)}"
    if feed.errors:
        state += f"; failing ({feed.errors} in a row): {feed.last_error}"
    return state


def every_text(every: timedelta) -> str:
    """30m, 2h, 1d: as the interval would be typed."""
    seconds = int(every.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _entries(count: int) -> str:
    return f"{count} entr{'y' if count == 1 else 'ies'}"


def _filed_line(filed: FiledEntry) -> str:
    entry = filed.entry
    cves = f" [{', '.join(entry.cve_ids)}]" if entry.cve_ids else ""
    again = " (shared before: one more share)" if filed.outcome is Outcome.DUPLICATE else ""
    return f"#{filed.link_id} {entry.title or entry.link} {entry.link}{cves}{again}"


@dataclass(frozen=True, slots=True)
class Checked:
    """What `feeds check` found: the feed, and which entries a poll would file now."""

    url: str
    feed: Feed
    subscription: Subscription | None
    new: tuple[Entry, ...]  # unseen by the subscription (every entry when not followed)

    def lines(self, zone: ZoneInfo) -> list[str]:
        head = f"“{self.feed.title or self.url}” ({self.feed.format}), {_entries(len(self.feed.entries))}"
        if self.subscription is None:
            lines = [head + "; not followed: following it would record these and file none "
                            "(or the newest N with --backfill N)"]
        else:
            filable = sum(1 for entry in self.new if entry.link)
            lines = [head + f"; followed as #{self.subscription.id}: the next poll would file {filable}"]
        if self.feed.warning:
            lines.append(f"warning: {self.feed.warning}; read anyway")
        new_keys = {entry.key for entry in self.new}
        for entry in self.feed.entries:
            mark = "new " if self.subscription is not None and entry.key in new_keys else \
                   "seen" if self.subscription is not None else "-"
            day = entry.published.astimezone(zone).strftime("%Y-%m-%d") if entry.published else "no date   "
            cves = f" [{', '.join(entry.cve_ids)}]" if entry.cve_ids else ""
            lines.append(f"  {mark} {day} {entry.title or '(no title)'}{cves}")
            lines.append(f"       {entry.link or '(no link: nothing to file)'}")
        return lines
