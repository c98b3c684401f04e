"""The feed poller: fetch each feed when it is due, file its new entries as shares, say so.

- Conditional requests (ETag, Last-Modified): a feed that has not changed answers 304 and costs
  one small request. Each feed has its own interval; errors push the next poll back (doubling,
  up to a ceiling), or to when the server's Retry-After says.
- A permanent redirect (301/308 on every hop) moves the feed to its new address; a 410 disables
  it, and the rooms are told once (`on_disabled`), even across restarts.
- The first poll of a feed files nothing old: it records what the feed holds (unless asked to
  file the newest few, `backfill`). Later polls file each entry none of whose keys was seen.
- An entry is filed as a share credited to the feed, with the feed's tags and the entry's own;
  a link someone already shared stays one link with one more share. A replayed poll (a crash
  between filing and recording) files nothing twice: the share's event id names the entry.
- Alert feeds hand each new entry to `on_alert` at once (a few per poll; the rest are counted).
- An entry that cannot be filed (a bug) is kept as a failed event (isolation.py, `watchbot
  failed`) and the feed's other entries go on; a feed whose poll fails backs off alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from watchbot.durations import parse_duration
from watchbot.feeds.alerts import Alert, FeedDisabled
from watchbot.feeds.parse import Entry, Feed, NotAFeed, parse_feed
from watchbot.feeds.results import Checked, FiledEntry, Polled, Result
from watchbot.fetch import Fetched, FetchFailed, FetchOptions, FetchRefused, GuardedClient
from watchbot.intake import IntakeResult, Outcome, Rules, file_post
from watchbot.isolation import Isolation
from watchbot.links import MAX_TAGS_PER_SHARE, normalise_tags
from watchbot.model import Post, Source, post_from_json, post_to_json, utcnow
from watchbot.moderation import Moderation, ModerationOptions
from watchbot.policy import Role
from watchbot.published import clean_url
from watchbot.store import Store
from watchbot.store.feeds import FeedAlreadyFollowed, FeedStore, Subscription

log = logging.getLogger(__name__)

MIN_EVERY = timedelta(minutes=5)  # politeness towards the sites polled
MAX_EVERY = timedelta(days=7)
BACKOFF_CEILING = timedelta(hours=24)  # a failing feed is still tried once a day
MAX_FEED_BYTES = 5_000_000  # a feed is read whole (a cut one is an error), under this cap
MAX_BACKFILL = 50
ALERTS_PER_POLL = 5
IDLE_SECONDS = 60.0  # the longest the worker sleeps: feeds added meanwhile are seen by then
ACCEPT = ("application/atom+xml, application/rss+xml, application/feed+json, application/rdf+xml;q=0.9, "
          "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5")
_NOISE_TAGS = frozenset({"uncategorized", "uncategorised", "general", "misc"})
_GONE_REASON = "the server says it is gone for good (410)"

OnAlert = Callable[[Alert], Awaitable[None]]
OnDisabled = Callable[[FeedDisabled], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """What the feed poller needs to know from the settings."""

    every: timedelta = timedelta(minutes=30)  # for a feed added without an interval (WATCHBOT_FEEDS_EVERY)
    fetch: FetchOptions = field(default_factory=FetchOptions)
    rules: Rules = field(default_factory=Rules)  # entries are filed as shares are

    @classmethod
    def from_settings(cls, settings) -> FeedOptions:
        return cls(parse_duration(settings.feeds_every), FetchOptions.from_settings(settings),
                   Rules.from_settings(settings))


class FeedError(Exception):
    """A feed that cannot be followed or checked; `reason` is one line for a person."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after  # seconds, when the server said when to come back


@dataclass
class _Fetch:
    """A fetch of a feed that went through, and what it said."""

    fetched: Fetched
    feed: Feed | None = None  # None for a 304
    moved_to: str | None = None


class FeedPoller:
    """Follows feeds: `add`, `check`, `poll_due` (one cycle), `run` (forever).

    `every` is the interval of a feed added without one; `on_alert` and `on_disabled` post to
    the networks (the caller's wiring); `clock` gives the time (tests move it).
    """

    @classmethod
    def from_options(
        cls, store: Store, options: FeedOptions, *, gate: Moderation | None = None, on_alert: OnAlert | None = None,
        on_disabled: OnDisabled | None = None, clock: Callable[[], datetime] = utcnow,
    ) -> FeedPoller:
        """A poller with a client of its own, fetching and filing as the options say."""
        return cls(store, options.fetch.client(), rules=options.rules, every=options.every, on_alert=on_alert,
                   on_disabled=on_disabled, concurrency=options.fetch.concurrency, clock=clock, gate=gate)

    def __init__(
        self, store: Store, client: GuardedClient, *, rules: Rules | None = None,
        every: timedelta = timedelta(minutes=30), on_alert: OnAlert | None = None,
        on_disabled: OnDisabled | None = None, concurrency: int = 8, clock: Callable[[], datetime] = utcnow,
        gate: Moderation | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.rules = rules or Rules()
        self.every = every
        self.on_alert = on_alert
        self.on_disabled = on_disabled
        self.clock = clock
        self.feeds = FeedStore(store)
        self.gate = gate
        self._limit = asyncio.Semaphore(concurrency)
        self.isolation = Isolation(store, Source.FEED.value, "feed entry", log)

    # -- following and checking ------------------------------------------------------------------

    async def add(
        self, url: str, *, tags: Sequence[str] = (), alert: bool = False, every: timedelta | None = None,
        backfill: int = 0, added_by: str,
    ) -> Polled:
        """Follow the feed at `url`, polled at once: FeedError if it is not a feed that can be read
        (nothing is kept then), or if it is followed already."""
        every = every or self.every
        tags = normalise_tags(tags, self.rules.tag_aliases)
        problem = interval_problem(every) or (
            f"backfill takes 0 to {MAX_BACKFILL} entries" if not 0 <= backfill <= MAX_BACKFILL else None) or (
            f"{len(tags)} tags given: at most {MAX_TAGS_PER_SHARE} are kept per link" if len(tags) > MAX_TAGS_PER_SHARE
            else None)
        if problem:
            raise FeedError(problem)
        await self._refuse_if_followed(url)
        got = await self._fetch(url, etag=None, last_modified=None)
        url = got.moved_to or url
        await self._refuse_if_followed(url)
        try:
            subscription = await self.feeds.add(
                url, tags=tags, alert=alert, every=every,
                backfill=backfill, added_by=added_by, now=self.clock())
        except FeedAlreadyFollowed as error:
            raise FeedError(_followed(error.existing)) from None
        return await self._read(subscription, got)

    async def check(self, url: str) -> Checked:
        """Fetch `url` and say what a poll would file now; files and records nothing."""
        got = await self._fetch(url, etag=None, last_modified=None)
        subscription = await self.feeds.by_url(url) or (
            await self.feeds.by_url(got.moved_to) if got.moved_to else None)
        entries = got.feed.entries
        if subscription is not None:
            known = await self.feeds.known_keys(subscription.id, (k for e in entries for k in e.keys))
            entries = tuple(e for e in entries if known.isdisjoint(e.keys))
        return Checked(got.fetched.final_url, got.feed, subscription, entries)

    async def _refuse_if_followed(self, url: str) -> None:
        existing = await self.feeds.by_url(url)
        if existing is not None:
            raise FeedError(_followed(existing))

    # -- polling ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll what is due, forever (until cancelled); tell the rooms of feeds disabled."""
        try:
            while True:
                for polled in await self.poll_due():
                    for line in polled.lines(ZoneInfo("UTC")):
                        log.info("feed: %s", line)
                await self.retry_asked()
                await self.tell_disabled()
                next_due = await self.feeds.next_due_at()
                wait = IDLE_SECONDS if next_due is None else (next_due - self.clock()).total_seconds()
                await asyncio.sleep(min(max(wait, 1.0), IDLE_SECONDS))
        finally:
            await self.client.aclose()

    async def retry_asked(self) -> None:
        """File the entries an operator asked to retry (`watchbot failed retry`), as they were kept."""
        await self.isolation.retry_asked(lambda failure: self._file(post_from_json(json.loads(failure.payload))))

    async def poll_due(self) -> list[Polled]:
        """One cycle: every feed that is due, polled now (a few at once)."""
        return await self._poll_each(await self.feeds.due(self.clock()))

    async def poll_all(self) -> list[Polled]:
        """Every enabled feed, due or not (`watchbot feeds poll`)."""
        return await self._poll_each(await self.feeds.enabled())

    async def _poll_each(self, subscriptions: list[Subscription]) -> list[Polled]:
        return list(await asyncio.gather(*(self._poll_guarded(s) for s in subscriptions)))

    async def _poll_guarded(self, subscription: Subscription) -> Polled:
        try:
            return await self.poll(subscription)
        except Exception as error:  # noqa: BLE001 -- one feed's trouble (a bug) must not stop the others
            reason = self.isolation.reason(error)
            log.error("feed #%d %s: poll failed (%s)", subscription.id, subscription.url, reason)
            log.debug("feed #%d: poll failed", subscription.id, exc_info=error)
            return await self._failed(subscription, f"an unexpected error ({reason})", None)

    async def poll(self, subscription: Subscription) -> Polled:
        """Poll one feed now and keep what it gave."""
        async with self._limit:
            try:
                got = await self._fetch(subscription.url, etag=subscription.etag,
                                        last_modified=subscription.last_modified)
            except _Gone:
                return await self._disable(subscription, _GONE_REASON)
            except FeedError as error:
                return await self._failed(subscription, error.reason, error.retry_after)
            if got.moved_to and got.moved_to != subscription.url:
                subscription, moved = await self._move(subscription, got.moved_to)
                if not moved:
                    return await self._disable(subscription, f"it moved to {got.moved_to}, already followed")
            if got.feed is None:
                now = self.clock()
                next_poll_at = now + subscription.every
                await self.feeds.unchanged(subscription.id, now=now, next_poll_at=next_poll_at)
                return Polled(subscription, Result.UNCHANGED, next_poll_at=next_poll_at, moved_to=got.moved_to)
            return await self._read(subscription, got)

    async def tell_disabled(self) -> None:
        """Tell the rooms, once, of each feed disabled since (kept untold until `on_disabled` works)."""
        if self.on_disabled is None:
            return
        for subscription in await self.feeds.untold():
            notice = FeedDisabled(subscription.id, subscription.name, subscription.url,
                                  subscription.disabled_reason or "disabled")
            try:
                await self.on_disabled(notice)
            except Exception:  # noqa: BLE001 -- told at the next cycle instead
                log.exception("feed #%d: could not tell the rooms it was disabled", subscription.id)
                continue
            await self.feeds.told(subscription.id, self.clock())

    # -- one poll, step by step ------------------------------------------------------------------

    async def _fetch(self, url: str, *, etag: str | None, last_modified: str | None) -> _Fetch:
        headers = {"Accept": ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            fetched = await self.client.fetch(url, headers=headers, max_bytes=MAX_FEED_BYTES)
        except FetchRefused as refused:
            raise FeedError(refused.reason) from None
        except FetchFailed as failed:
            if failed.status == 410:
                raise _Gone(failed.reason) from None
            raise FeedError(failed.reason, retry_after=failed.retry_after) from None
        got = _Fetch(fetched, moved_to=fetched.permanent_redirect)
        if fetched.status == 304:
            return got
        try:
            # feedparser is pure Python: a big feed takes a while, so not on the event loop.
            got.feed = await asyncio.to_thread(parse_feed, fetched.body, fetched.headers, fetched.final_url)
        except NotAFeed as error:
            raise FeedError(error.reason) from None
        except Exception as error:  # noqa: BLE001 -- hostile bytes that trip the parser: one line, logged
            log.error("feed %s: the parser failed (%s)", url, self.isolation.reason(error))
            log.debug("feed %s: the parser failed", url, exc_info=error)
            raise FeedError(f"{url} could not be read (the parser failed: {type(error).__name__})") from None
        return got

    async def _read(self, subscription: Subscription, got: _Fetch) -> Polled:
        """File the entries not seen before (on the first poll, only the backfill) and remember
        every entry's keys and the feed's validators."""
        feed, now = got.feed, self.clock()
        keys = [key for entry in feed.entries for key in entry.keys]
        known = await self.feeds.known_keys(subscription.id, keys)
        unseen = [entry for entry in feed.entries if known.isdisjoint(entry.keys)]
        first = subscription.polled_at is None
        to_file = _newest([e for e in unseen if e.link], subscription.backfill) if first else unseen
        filed = []
        for entry in _oldest_first(e for e in to_file if e.link):
            post = None
            try:
                post = self._post(subscription, feed, entry, now)
                result = await self._file(post)
            except Exception as error:  # noqa: BLE001 -- one entry never stops its feed, nor the others
                # Its keys are remembered below with the others': kept as failed, not tried at each poll.
                await self.isolation.failed(error, place=subscription.url, event_id=_event_id(subscription, entry),
                                            payload=post_to_json(post) if post is not None else None)
                continue
            filed += [FiledEntry(entry, r.outcome, r.filed.link.id) for r in result.results]
            _log_problems(subscription, result)
        next_poll_at = now + subscription.every
        await self.feeds.polled(
            subscription.id, title=feed.title, format=feed.format, etag=got.fetched.headers.get("ETag"),
            last_modified=got.fetched.headers.get("Last-Modified"), new_keys=set(keys) - known, now=now,
            next_poll_at=next_poll_at)
        news = tuple(f for f in filed if f.outcome is not Outcome.REPLAYED)
        if subscription.alert and not first:
            await self._alert(subscription, feed, news)
        return Polled(
            subscription, Result.FIRST if first else Result.NEW if news else Result.NOTHING_NEW, filed=news,
            recorded=len(unseen) - len(news) if first else 0, warning=feed.warning,
            moved_to=got.moved_to, next_poll_at=next_poll_at, title=feed.title, format=feed.format)

    async def _file(self, post: Post) -> IntakeResult:
        # Through moderation's gate as a moderator: no limits or queue, but never a blocked domain.
        return await file_post(self.store, post, self.rules, gate=self.gate, role=Role.MODERATOR)

    def _post(self, subscription: Subscription, feed: Feed, entry: Entry, now: datetime) -> Post:
        categories = [category.replace(" ", "-") for category in entry.tags]
        return Post(
            source=Source.FEED,
            place=subscription.url,
            author_id=f"feed:{subscription.id}",
            author_name=feed.title or subscription.name,
            text="",
            links=(entry.link,),
            # Named by the feed and the entry: a replayed poll is a replay, and two feeds that
            # carry the same entry (a planet and the blog) are two shares.
            event_id=_event_id(subscription, entry),
            extra_tags=(*subscription.tags, *(c for c in categories if c.casefold() not in _NOISE_TAGS)),
            title=entry.title,
            description=entry.summary,
            at=min(entry.published or now, now),  # a date in the future is a feed's mistake
        )

    async def _alert(self, subscription: Subscription, feed: Feed, news: tuple[FiledEntry, ...]) -> None:
        if self.on_alert is None or not news:
            return
        shown = news[:ALERTS_PER_POLL]
        for n, filed in enumerate(shown, 1):
            entry = filed.entry
            more = len(news) - len(shown) if n == len(shown) else 0
            # Published as every link is: without the trackers feeds like to add (utm_source=rss).
            alert = Alert(subscription.id, feed.title or subscription.name, entry.title, clean_url(entry.link),
                          entry.cve_ids, more)
            try:
                await self.on_alert(alert)
            except Exception:  # noqa: BLE001 -- the entry is filed; the digest still shows it
                log.exception("feed #%d: could not post the alert for %s", subscription.id, entry.link)

    async def _failed(self, subscription: Subscription, reason: str, retry_after: float | None) -> Polled:
        errors = subscription.errors + 1
        ceiling = max(BACKOFF_CEILING, subscription.every)
        wait = min(subscription.every * 2 ** min(errors - 1, 20), ceiling)
        if retry_after is not None:
            wait = max(wait, min(timedelta(seconds=retry_after), ceiling))
        next_poll_at = self.clock() + wait
        await self.feeds.failed(subscription.id, reason=reason, errors=errors, next_poll_at=next_poll_at)
        return Polled(subscription, Result.FAILED, reason=reason, next_poll_at=next_poll_at)

    async def _disable(self, subscription: Subscription, reason: str) -> Polled:
        await self.feeds.disable(subscription.id, reason=reason, now=self.clock())
        return Polled(subscription, Result.DISABLED, reason=reason)

    async def _move(self, subscription: Subscription, url: str) -> tuple[Subscription, bool]:
        other = await self.feeds.moved(subscription.id, url)
        if other is not None:
            log.warning("feed #%d moved to %s, which feed #%d follows", subscription.id, url, other.id)
            return subscription, False
        log.info("feed #%d moved for good: %s -> %s", subscription.id, subscription.url, url)
        return await self.feeds.get(subscription.id) or subscription, True


class _Gone(FeedError):
    """A 410: the feed is to be disabled, not retried."""


def interval_problem(every: timedelta) -> str | None:
    if not MIN_EVERY <= every <= MAX_EVERY:
        return "a feed is polled every 5m at the most often, and every 7d at the least"
    return None


def parse_every(text: str) -> timedelta:
    """ "30m" -> 30 minutes, within the allowed range; ValueError with one sentence otherwise."""
    every = parse_duration(text)
    problem = interval_problem(every)
    if problem:
        raise ValueError(problem)
    return every


def poller_from_settings(
    settings, store: Store, *, on_alert: OnAlert | None = None, on_disabled: OnDisabled | None = None,
) -> FeedPoller:
    """The poller of `watchbot run` and `watchbot feeds`: its options, and its moderation gate,
    from the settings."""
    return FeedPoller.from_options(store, FeedOptions.from_settings(settings), gate=Moderation(store, ModerationOptions.from_settings(settings)),
                                   on_alert=on_alert, on_disabled=on_disabled)


def _followed(existing: Subscription) -> str:
    state = f" (disabled: {existing.disabled_reason})" if existing.disabled_at else ""
    return f"{existing.url} is already followed as feed #{existing.id}{state}"


def _event_id(subscription: Subscription, entry: Entry) -> str:
    return f"{subscription.id}:{entry.key}"


def _newest(entries: list[Entry], count: int) -> list[Entry]:
    """The `count` newest entries: by date where dates are given, else as the feed lists them."""
    if count <= 0:
        return []
    dated = sorted((e for e in entries if e.published), key=lambda e: e.published, reverse=True)
    return (dated + [e for e in entries if not e.published])[:count]


def _oldest_first(entries) -> list[Entry]:
    # Feeds list the newest first: reversed, then by date where there is one (stable for the rest).
    listed = list(entries)[::-1]
    if all(e.published for e in listed):
        return sorted(listed, key=lambda e: e.published)
    return listed


def _log_problems(subscription: Subscription, result: IntakeResult) -> None:
    for problem in result.problems:
        log.warning("feed #%d %s: %s", subscription.id, subscription.url, problem)
    for note in result.notes:  # filed, with some of its categories left out
        log.info("feed #%d %s: %s", subscription.id, subscription.url, note)
