"""The feed poller against feeds served on 127.0.0.1 (allow-listed for these tests alone), filing
into a real store (SQLite and PostgreSQL): first polls, new entries, conditional requests,
redirects, 410, errors and their backoff, alerts."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import delete

from tests.page_server import PageServer, serving_pages
from tests.waiting import until
from watchbot.feeds import Alert, FeedDisabled, FeedError, FeedOptions, FeedPoller, Result
from watchbot.feeds.poller import BACKOFF_CEILING, MAX_FEED_BYTES
from watchbot.fetch import FetchOptions, GuardedClient, parse_allow_networks
from watchbot.intake import Rules, file_post
from watchbot.model import Post, Source
from watchbot.store import Store
from watchbot.store.links import LinkStore
from watchbot.store.schema import feed_entries

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
START = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
EVERY = timedelta(minutes=30)


class Clock:
    """The poller's time, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class FeedSite:
    """One feed on the page server that answers conditional requests as a web server would:
    304 when the client's ETag or date matches, the body otherwise."""

    def __init__(self, pages: PageServer, path: str, body: str | bytes,
                 content_type: str = "application/rss+xml; charset=utf-8") -> None:
        self.path = path
        self.body = body.encode() if isinstance(body, str) else body
        self.content_type = content_type
        self.version = 1
        self.requests: list[dict[str, str]] = []
        self.url = pages.handle(path, self._serve)

    def update(self, body: str | bytes) -> None:
        self.body = body.encode() if isinstance(body, str) else body
        self.version += 1

    @property
    def etag(self) -> str:
        return f'"v{self.version}"'

    async def _serve(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.headers))
        modified = format_datetime(START + timedelta(minutes=self.version), usegmt=True)
        validators = {"ETag": self.etag, "Last-Modified": modified}
        if request.headers.get("If-None-Match") == self.etag:
            return web.Response(status=304, headers=validators)
        return web.Response(body=self.body, headers={"Content-Type": self.content_type, **validators})


def rss(*items: tuple[str, str, str, str | None], title: str = "Example Advisories") -> str:
    """An RSS 2.0 feed of (guid, link, title, ISO date) items, newest first as feeds list them."""
    entries = []
    for guid, link, entry_title, day in items:
        date = f"<pubDate>{format_datetime(datetime.fromisoformat(day), usegmt=True)}</pubDate>" if day else ""
        entries.append(f"<item><title>{entry_title}</title><link>{link}</link><guid isPermaLink=\"false\">{guid}"
                       f"</guid>{date}<category>Security advisories</category></item>")
    return (f"<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>{title}</title>"
            f"<link>https://advisories.example/</link>{''.join(entries)}</channel></rss>")


ONE = ("a-1", "https://advisories.example/a-1", "Advisory one", "2026-11-20T10:00:00+00:00")
TWO = ("a-2", "https://advisories.example/a-2", "Advisory two (CVE-2026-1111)", "2026-11-21T10:00:00+00:00")
THREE = ("a-3", "https://advisories.example/a-3", "Advisory three", "2026-11-22T10:00:00+00:00")
FOUR = ("a-4", "https://advisories.example/a-4?utm_source=rss", "OpenSSH flaw CVE-2026-2222",
        "2026-11-24T11:00:00+00:00")


@pytest.fixture(scope="module")
def pages() -> Iterator[PageServer]:
    with serving_pages() as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def told() -> list:
    return []


@pytest.fixture
async def poller(store: Store, clock: Clock, told: list) -> FeedPoller:
    async def on_alert(alert: Alert) -> None:
        told.append(alert)

    async def on_disabled(notice: FeedDisabled) -> None:
        told.append(notice)

    client = GuardedClient(user_agent="watchbot-tests", allow=parse_allow_networks("127.0.0.1/32"), timeout=5)
    yield FeedPoller(store, client, every=EVERY, on_alert=on_alert, on_disabled=on_disabled, clock=clock)
    await client.aclose()


def site(pages: PageServer, request, body: str | bytes, name: str = "feed", **kwargs) -> FeedSite:
    """A feed at a path of its own for this test (the page server is shared by the module)."""
    return FeedSite(pages, f"/{slug(request)}/{name}", body, **kwargs)


def slug(request) -> str:
    return re.sub(r"\W", "-", request.node.name)


async def shares_of(store: Store, url: str):
    found = [link for link in await LinkStore(store).list_links(limit=100) if link.url == url]
    return (await LinkStore(store).get_link(found[0].id)).shares if found else ()


async def test_the_first_poll_records_what_is_there_and_later_polls_file_what_is_new(
        store: Store, poller: FeedPoller, pages: PageServer, clock: Clock, request):
    feed = site(pages, request, rss(THREE, TWO, ONE))
    added = await poller.add(feed.url, tags=["security"], added_by="cli:admin")
    assert (added.result, added.recorded, added.filed) == (Result.FIRST, 3, ())
    assert await LinkStore(store).count_links() == 0  # nothing old is filed

    feed.update(rss(FOUR, THREE, TWO, ONE))
    assert await poller.poll_due() == []  # not due yet
    clock.advance(EVERY)
    [polled] = await poller.poll_due()
    assert polled.result is Result.NEW
    assert [f.entry.title for f in polled.filed] == ["OpenSSH flaw CVE-2026-2222"]
    [share] = await shares_of(store, "https://advisories.example/a-4?utm_source=rss")
    assert (share.source, share.sharer_name, share.place) == (Source.FEED, "Example Advisories", feed.url)
    assert share.tags == ("security", "security-advisories")  # the feed's tags and the entry's category
    assert share.shared_at == datetime(2026, 11, 24, 11, 0, tzinfo=timezone.utc)
    record = await LinkStore(store).get_link(polled.filed[0].link_id)
    assert record.link.title == "OpenSSH flaw CVE-2026-2222"
    assert polled.lines(timezone.utc)[1].endswith("https://advisories.example/a-4?utm_source=rss [CVE-2026-2222]")

    clock.advance(EVERY)
    feed.update(rss(FOUR, THREE, TWO, ONE))  # a new ETag, the same entries
    [again] = await poller.poll_due()
    assert (again.result, again.filed) == (Result.NOTHING_NEW, ())
    assert await LinkStore(store).count_links() == 1


async def test_a_poller_made_from_its_options_polls_at_the_watchs_pace_with_its_aliases(
        store: Store, pages: PageServer, clock: Clock, request):
    # What `watchbot run` makes of WATCHBOT_FEEDS_EVERY, WATCHBOT_TAG_ALIASES and WATCHBOT_FETCH_*.
    options = FeedOptions(every=timedelta(hours=2), rules=Rules(tag_aliases={"sec": "security"}),
                          fetch=FetchOptions(contact="ops@watch.example", allow=parse_allow_networks("127.0.0.1/32")))
    poller = FeedPoller.from_options(store, options, clock=clock)
    try:
        feed = site(pages, request, rss(ONE))
        await poller.add(feed.url, tags=["sec"], added_by="cli:admin")  # no --every: the watch's pace
        [state] = await poller.feeds.all()
        assert (state.tags, state.every) == (("security",), timedelta(hours=2))
        assert feed.requests[0]["User-Agent"].endswith("; +ops@watch.example)")
        feed.update(rss(TWO, ONE))
        clock.advance(EVERY)
        assert await poller.poll_due() == []  # the default half hour is not this watch's pace
        clock.advance(timedelta(hours=2) - EVERY)
        [polled] = await poller.poll_due()
        assert [f.entry.title for f in polled.filed] == ["Advisory two (CVE-2026-1111)"]
        [share] = await shares_of(store, TWO[1])
        assert share.tags == ("security", "security-advisories")
    finally:
        await poller.client.aclose()


async def test_backfill_files_the_newest_entries_now_and_alerts_none(
        store: Store, poller: FeedPoller, pages: PageServer, told: list, request):
    feed = site(pages, request, rss(ONE, THREE, TWO))  # not in date order: the dates decide
    added = await poller.add(feed.url, backfill=2, alert=True, added_by="cli:admin")
    assert [f.entry.title for f in added.filed] == ["Advisory two (CVE-2026-1111)", "Advisory three"]
    assert added.recorded == 1
    assert told == []  # old news is not an alert


async def test_alert_feeds_hand_each_new_entry_over_with_its_cve_ids(
        poller: FeedPoller, pages: PageServer, clock: Clock, told: list, request):
    feed = site(pages, request, rss(ONE))
    await poller.add(feed.url, alert=True, added_by="@mod:x")
    # Feeds add trackers to their links; an alert publishes the link without them.
    flood = [(f"f-{n}", f"https://advisories.example/f-{n}?utm_source=rss", f"Flood {n} CVE-2026-{9000 + n}",
              f"2026-11-24T0{n}:00:00+00:00") for n in range(8)]
    feed.update(rss(FOUR, *flood, ONE))
    clock.advance(EVERY)
    [polled] = await poller.poll_due()
    assert len(polled.filed) == 9
    assert len(told) == 5  # a flood is cut short: the last alert counts the rest
    assert [alert.more for alert in told] == [0, 0, 0, 0, 4]
    assert told[0] == Alert(told[0].feed_id, "Example Advisories", "Flood 0 CVE-2026-9000",
                            "https://advisories.example/f-0", ("CVE-2026-9000",))
    assert told[0].text() == ("Example Advisories: Flood 0 CVE-2026-9000\nhttps://advisories.example/f-0\n"
                              "CVE-2026-9000")
    assert '<a href="https://www.cve.org/CVERecord?id=CVE-2026-9000">CVE-2026-9000</a>' in told[0].html()
    assert told[-1].text().endswith("… and 4 more new from Example Advisories (in the digest).")


async def test_an_unchanged_feed_costs_a_304_even_after_a_restart(
        store: Store, poller: FeedPoller, pages: PageServer, clock: Clock, request):
    feed = site(pages, request, rss(TWO, ONE))
    await poller.add(feed.url, added_by="cli:admin")
    assert "If-None-Match" not in feed.requests[0]
    # A new poller on the same store: everything it needs is in the store.
    restarted = FeedPoller(store, poller.client, every=EVERY, clock=clock)
    clock.advance(EVERY)
    [polled] = await restarted.poll_due()
    assert polled.result is Result.UNCHANGED
    assert feed.requests[-1]["If-None-Match"] == '"v1"'
    assert feed.requests[-1]["If-Modified-Since"] == format_datetime(START + timedelta(minutes=1), usegmt=True)
    [state] = await poller.feeds.all()
    assert (state.polled_at, state.next_poll_at, state.errors) == (clock.now, clock.now + EVERY, 0)


async def test_a_feed_that_changes_its_entry_ids_files_only_what_is_really_new(
        store: Store, poller: FeedPoller, pages: PageServer, clock: Clock, request):
    feed = site(pages, request, rss(TWO, ONE))
    await poller.add(feed.url, added_by="cli:admin")
    renamed = [("new-id-" + guid, link, title, day) for guid, link, title, day in (THREE, TWO, ONE)]
    feed.update(rss(*renamed))
    clock.advance(EVERY)
    [polled] = await poller.poll_due()
    assert [f.entry.title for f in polled.filed] == ["Advisory three"]
    # The links change too (a new domain), but title and date still name the entries.
    moved = [(guid, link.replace("advisories.example", "cert.example"), title, day)
             for guid, link, title, day in renamed]
    feed.update(rss(*moved))
    clock.advance(EVERY)
    [polled] = await poller.poll_due()
    assert polled.filed == ()
    assert await LinkStore(store).count_links() == 1


async def test_a_link_a_person_shared_stays_one_link_with_one_more_share_from_the_feed(
        store: Store, poller: FeedPoller, pages: PageServer, clock: Clock, request):
    # Alice shares it after the feed published it (11:00) and before the bot polls the feed (12:30):
    # she brought it to the community first, and stays first.
    person = Post(source=Source.MATRIX, place="!room:x", author_id="@alice:x", author_name="alice",
                  text="must read https://advisories.example/a-4 #ssh", event_id="$alice1", at=START)
    await file_post(store, person, Rules())
    feed = site(pages, request, rss(ONE))
    await poller.add(feed.url, added_by="cli:admin")
    feed.update(rss(FOUR, ONE))  # FOUR's link, with a tracking parameter
    clock.advance(EVERY)
    [polled] = await poller.poll_due()
    assert "(shared before: one more share)" in polled.lines(timezone.utc)[1]
    assert await LinkStore(store).count_links() == 1
    [link] = await LinkStore(store).list_links()
    record = await LinkStore(store).get_link(link.id)
    assert [s.sharer_name for s in record.shares] == ["alice", "Example Advisories"]


async def test_a_poll_replayed_after_a_crash_files_nothing_twice(
        store: Store, poller: FeedPoller, pages: PageServer, clock: Clock, told: list, request):
    feed = site(pages, request, rss(ONE))
    await poller.add(feed.url, alert=True, added_by="cli:admin")
    feed.update(rss(FOUR, ONE))
    clock.advance(EVERY)
    await poller.poll_due()
    assert len(told) == 1
    # A crash after filing and before the new entry's keys were written: they are lost.
    await store.write(lambda conn: conn.execute(delete(feed_entries).where(feed_entries.c.seen_at > START)))
    feed.update(rss(FOUR, ONE))
    clock.advance(EVERY)
    [polled] = await poller.poll_due()
    assert polled.filed == () and len(told) == 1
    [link] = await LinkStore(store).list_links()
    assert link.share_count == 1


async def test_a_permanent_redirect_moves_the_feed_and_a_temporary_one_does_not(
        poller: FeedPoller, pages: PageServer, clock: Clock, request):
    feed = site(pages, request, rss(ONE))
    old = pages.redirect(f"/{slug(request)}/old", feed.url, status=301)
    temporary = pages.redirect(f"/{slug(request)}/temporary", old, status=302)
    added = await poller.add(temporary, added_by="cli:admin")
    assert added.feed.url == temporary  # a 302 on the way: where it lives for good is not known
    clock.advance(EVERY)
    await poller.poll_due()
    assert (await poller.feeds.get(added.feed.id)).url == temporary

    await poller.feeds.remove(added.feed.id)
    added = await poller.add(old, added_by="cli:admin")
    assert added.feed.url == feed.url  # followed where it lives now


async def test_a_feed_moved_while_followed_is_followed_at_its_new_address(
        poller: FeedPoller, pages: PageServer, clock: Clock, request):
    feed = site(pages, request, rss(ONE))
    added = await poller.add(feed.url, added_by="cli:admin")
    new = site(pages, request, rss(TWO, ONE), name="new-address")
    new.version = 5  # its own validators
    pages.redirect(feed.path, new.url, status=301)
    clock.advance(EVERY)
    [polled] = await poller.poll_due()
    assert polled.moved_to == new.url
    assert [f.entry.title for f in polled.filed] == ["Advisory two (CVE-2026-1111)"]
    assert (await poller.feeds.get(added.feed.id)).url == new.url
    hits = pages.hits[feed.path]
    clock.advance(EVERY)
    await poller.poll_due()
    assert pages.hits[feed.path] == hits  # the old address is not asked again


async def test_a_410_disables_the_feed_and_the_rooms_are_told_once(
        poller: FeedPoller, pages: PageServer, clock: Clock, told: list, request):
    feed = site(pages, request, rss(ONE))
    added = await poller.add(feed.url, added_by="cli:admin")
    pages.page(feed.path, "gone", status=410)
    clock.advance(EVERY)
    [polled] = await poller.poll_due()
    assert polled.result is Result.DISABLED
    assert polled.lines(timezone.utc) == [
        f"#{added.feed.id} Example Advisories: disabled: the server says it is gone for good (410)"]

    failures = []

    async def room_unreachable(notice: FeedDisabled) -> None:
        failures.append(notice)
        raise ConnectionError("homeserver down")

    poller.on_disabled, told_for_real = room_unreachable, poller.on_disabled
    await poller.tell_disabled()
    assert len(failures) == 1 and told == []  # not told: tried again next time
    poller.on_disabled = told_for_real
    await poller.tell_disabled()
    await poller.tell_disabled()
    assert told == [FeedDisabled(added.feed.id, "Example Advisories", feed.url,
                                 "the server says it is gone for good (410)")]
    assert "stopped following the feed “Example Advisories”" in told[0].text()
    clock.advance(timedelta(days=30))
    hits = pages.hits[feed.path]
    assert await poller.poll_due() == []  # a disabled feed is not polled
    assert pages.hits[feed.path] == hits


async def test_errors_back_off_doubling_up_to_a_ceiling_and_a_success_resets_them(
        poller: FeedPoller, pages: PageServer, clock: Clock, request):
    feed = site(pages, request, rss(ONE))
    added = await poller.add(feed.url, every=timedelta(hours=2), added_by="cli:admin")
    pages.page(feed.path, "oops", status=500)
    waits = []
    for _ in range(6):
        clock.now = (await poller.feeds.get(added.feed.id)).next_poll_at
        [polled] = await poller.poll_due()
        assert polled.result is Result.FAILED
        waits.append(polled.next_poll_at - clock.now)
    assert waits == [timedelta(hours=h) for h in (2, 4, 8, 16)] + [BACKOFF_CEILING] * 2
    assert polled.lines(timezone.utc)[0].startswith(
        f"#{added.feed.id} Example Advisories: failed (6 in a row): {feed.url} answered 500 Internal Server Error")

    pages.page(feed.path, "busy", status=503, headers={"Retry-After": "172800"})
    clock.now = polled.next_poll_at
    [polled] = await poller.poll_due()
    assert polled.next_poll_at - clock.now == BACKOFF_CEILING  # Retry-After, within the ceiling

    FeedSite(pages, feed.path, rss(TWO, ONE)).version = 2  # back, and changed
    clock.now = polled.next_poll_at
    [polled] = await poller.poll_due()
    assert [f.entry.title for f in polled.filed] == ["Advisory two (CVE-2026-1111)"]
    state = await poller.feeds.get(added.feed.id)
    assert (state.errors, state.last_error, state.next_poll_at) == (0, None, clock.now + timedelta(hours=2))


async def test_a_slow_feed_fails_with_a_clear_reason_and_is_tried_again(
        store: Store, clock: Clock, pages: PageServer, request):
    feed = site(pages, request, rss(ONE))

    async def slow(web_request: web.Request) -> web.Response:
        for _ in range(40):  # gives up as soon as the client has
            if web_request.transport is None or web_request.transport.is_closing():
                break
            await asyncio.sleep(0.05)
        return web.Response(text="late")

    client = GuardedClient(user_agent="watchbot-tests", allow=parse_allow_networks("127.0.0.1/32"), timeout=0.3)
    poller = FeedPoller(store, client, every=EVERY, clock=clock)
    try:
        added = await poller.add(feed.url, added_by="cli:admin")
        pages.handle(feed.path, slow)
        clock.advance(EVERY)
        [polled] = await poller.poll_due()
    finally:
        await client.aclose()
    assert polled.result is Result.FAILED
    assert polled.reason == f"{feed.url} took longer than 0.3 s"
    assert (await poller.feeds.get(added.feed.id)).errors == 1


async def test_a_huge_feed_is_an_error_and_a_big_one_is_read(
        poller: FeedPoller, pages: PageServer, clock: Clock, request):
    items = "".join(f"<item><title>Entry {n}</title><link>https://big.example/{n}</link><guid>g{n}</guid></item>"
                    for n in range(1100))
    big = site(pages, request, f"<?xml version='1.0'?><rss version='2.0'><channel><title>Big</title>{items}"
                               "</channel></rss>")
    added = await poller.add(big.url, added_by="cli:admin")
    assert added.recorded == 1000  # the first thousand entries a feed lists are read

    filler = "<item><title>padding</title><description>" + "x" * 10_000 + "</description></item>"
    huge = FeedSite(pages, big.path + "-huge", rss(ONE).replace("</channel>", filler * 600 + "</channel>"))
    assert len(huge.body) > MAX_FEED_BYTES
    with pytest.raises(FeedError, match=f"^{huge.url} is larger than {MAX_FEED_BYTES} bytes$"):
        await poller.add(huge.url, added_by="cli:admin")
    assert [feed.url for feed in await poller.feeds.all()] == [big.url]  # nothing kept of it


async def test_a_broken_feed_with_entries_is_read_and_one_without_is_an_error(
        store: Store, poller: FeedPoller, pages: PageServer, clock: Clock, request):
    broken = site(pages, request, (FIXTURES / "illformed_undeclared_entity.xml").read_bytes())
    added = await poller.add(broken.url, backfill=5, added_by="cli:admin")
    assert added.warning == "not well-formed XML: undefined entity at line 4"
    assert [f.entry.title for f in added.filed] == ["Second post…", "Français & Unicode in URLs"]

    page = pages.page(f"/{slug(request)}/page", "<!doctype html><html><head><title>Blog</title></head>"
                                                    "<body><p>Hello</p></body></html>")
    with pytest.raises(FeedError, match="is a web page, not a feed; give the address of its RSS or Atom feed"):
        await poller.add(page, added_by="cli:admin")
    pages.page(broken.path, b"<rss version='2.0'><channel><title>Cut short</chan", content_type="text/xml")
    clock.advance(EVERY)
    [polled] = await poller.poll_due()
    assert polled.result is Result.FAILED
    assert polled.reason.endswith("is not a feed that can be read (not well-formed XML: "
                                  "unclosed token at line 1) and has no entries")
    assert await LinkStore(store).count_links() == 2  # nothing lost


async def test_a_feed_is_followed_once_and_checking_files_nothing(
        store: Store, poller: FeedPoller, pages: PageServer, request):
    feed = site(pages, request, rss(TWO, ONE))
    await poller.add(feed.url, added_by="cli:admin")
    with pytest.raises(FeedError, match=r"is already followed as feed #\d+"):
        await poller.add(feed.url, added_by="cli:admin")
    feed.update(rss(THREE, TWO, ONE))
    checked = await poller.check(feed.url)
    assert [entry.title for entry in checked.new] == ["Advisory three"]
    assert checked.lines(timezone.utc)[0].endswith(f"followed as #{checked.subscription.id}: "
                                                   "the next poll would file 1")
    assert await LinkStore(store).count_links() == 0
    [polled] = await poller.poll_all()  # and the poll files it, since the check recorded nothing
    assert [f.entry.title for f in polled.filed] == ["Advisory three"]


async def test_the_worker_polls_what_is_due_alerts_and_tells_until_cancelled(
        poller: FeedPoller, pages: PageServer, clock: Clock, told: list, request):
    alerting = site(pages, request, rss(ONE))
    gone = site(pages, request, rss(ONE), name="gone")
    await poller.add(alerting.url, alert=True, added_by="@mod:x")
    await poller.add(gone.url, added_by="@mod:x")
    alerting.update(rss(FOUR, ONE))
    pages.page(gone.path, "gone", status=410)
    clock.advance(EVERY)
    worker = asyncio.create_task(poller.run())
    try:
        await until(lambda: len(told) == 2, "the alert and the notice of the feed disabled")
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert sorted(type(notice).__name__ for notice in told) == ["Alert", "FeedDisabled"]
    assert worker.cancelled()


async def test_an_entry_on_a_blocked_domain_is_neither_filed_nor_alerted(store: Store, pages: PageServer,
                                                                         clock: Clock, told: list, request):
    from watchbot.config import Settings
    from watchbot.fetch import GuardedClient, parse_allow_networks
    from watchbot.moderation import Moderation, ModerationOptions

    gate = Moderation(store, ModerationOptions.from_settings(Settings(_env_file=None)))
    await gate.records.block("*.evil.example", actor="@mod:x", reason="malware")

    async def on_alert(alert):
        told.append(alert)

    client = GuardedClient(user_agent="watchbot-tests", allow=parse_allow_networks("127.0.0.1/32"))
    poller = FeedPoller(store, client, every=EVERY, on_alert=on_alert, clock=clock, gate=gate)
    try:
        feed = site(pages, request, rss(ONE))
        await poller.add(feed.url, alert=True, added_by="@mod:x")
        bad = ("bad-1", "https://www.evil.example/payload", "Totally safe", "2026-11-24T10:00:00+00:00")
        feed.update(rss(bad, TWO, ONE))
        clock.advance(EVERY)
        [polled] = await poller.poll_due()
        assert [f.entry.link for f in polled.filed] == [TWO[1]]
        assert [alert.link for alert in told] == [TWO[1]]
        assert not any("evil.example" in link.url for link in await LinkStore(store).list_links())
    finally:
        await client.aclose()


async def test_an_entry_that_raises_is_kept_and_the_feeds_other_entries_and_feeds_go_on(
        store: Store, poller: FeedPoller, pages: PageServer, clock: Clock, request, monkeypatch):
    import json

    import watchbot.feeds.poller as feeds_poller
    from tests.poison import Poison
    from watchbot.store.failures import RETRIED, FailureStore

    poison = Poison(monkeypatch, feeds_poller)
    feed = site(pages, request, rss(ONE))
    other = site(pages, request, rss(ONE), name="other")
    added = await poller.add(feed.url, added_by="cli:admin")
    await poller.add(other.url, added_by="cli:admin")
    bad = ("p-1", "https://advisories.example/p-1", "POISON advisory", "2026-11-21T12:00:00+00:00")
    feed.update(rss(THREE, bad, TWO, ONE))  # filed oldest first: two, the poisoned one, three
    other.update(rss(FOUR, ONE))
    clock.advance(EVERY)
    polled = {p.feed.url: p for p in await poller.poll_due()}
    assert polled[feed.url].result is Result.NEW
    assert [f.entry.title for f in polled[feed.url].filed] == ["Advisory two (CVE-2026-1111)", "Advisory three"]
    assert [f.entry.title for f in polled[other.url].filed] == ["OpenSSH flaw CVE-2026-2222"]
    [failure] = await FailureStore(store).list()
    assert (failure.source, failure.place, failure.attempts) == ("feed", feed.url, 1)
    assert failure.event_id.startswith(f"{added.feed.id}:") and poison.met == [failure.event_id]
    assert json.loads(failure.payload)["links"] == ["https://advisories.example/p-1"]
    assert (await poller.feeds.get(added.feed.id)).errors == 0  # the feed itself is fine

    clock.advance(EVERY)
    feed.update(rss(THREE, bad, TWO, ONE))  # a new ETag: read again, the entry is known
    await poller.poll_due()
    assert len(poison.met) == 1

    poison.cure()
    await FailureStore(store).ask_retry([failure.id])
    await poller.retry_asked()
    assert (await FailureStore(store).get(failure.id)).resolution == RETRIED
    [share] = await shares_of(store, "https://advisories.example/p-1")
    assert (share.source, share.event_id, share.place) == (Source.FEED, failure.event_id, feed.url)
