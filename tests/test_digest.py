"""The digest: periods from a schedule, what goes in and in which order, how it reads."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from watchbot.commands import Caller, parse_command, run_command
from watchbot.digest.build import build_digest
from watchbot.digest.preview import preview
from watchbot.digest.render import render_markdown, render_matrix
from watchbot.digest.schedule import check_schedule, current_period, last_period, week_bounds, week_of
from watchbot.intake import Rules, file_post
from watchbot.model import Period, Post, Source, Visibility
from watchbot.published import PeriodLink, SharedThen
from watchbot.store import Store
from watchbot.store.published import PublishedReader
from watchbot.store.reactions import ReactionStore

PARIS = ZoneInfo("Europe/Paris")
FRIDAY_17 = "0 17 * * fri"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# -- periods ----------------------------------------------------------------------------------


def test_the_period_in_progress_runs_from_the_last_friday_17h_to_the_next():
    period = current_period(FRIDAY_17, PARIS, utc(2026, 11, 22, 12))
    assert period == Period(utc(2026, 11, 20, 16), utc(2026, 11, 27, 16))  # 17:00 in Paris is 16:00 UTC
    assert last_period(FRIDAY_17, PARIS, utc(2026, 11, 22, 12)) == Period(utc(2026, 11, 13, 16), utc(2026, 11, 20, 16))


def test_at_the_scheduled_minute_a_new_period_begins():
    assert current_period(FRIDAY_17, PARIS, utc(2026, 11, 20, 16)).start == utc(2026, 11, 20, 16)
    assert last_period(FRIDAY_17, PARIS, utc(2026, 11, 20, 16)).end == utc(2026, 11, 20, 16)


def test_daylight_saving_weeks_neither_skip_nor_double_a_digest():
    # Over a year of Fridays in Paris, each period starts where the previous one ended, each
    # boundary is 17:00 local time, and a period lasts a week give or take the hour that moved.
    moment, periods = utc(2026, 1, 2, 18), []
    for _ in range(53):
        period = current_period(FRIDAY_17, PARIS, moment)
        periods.append(period)
        moment = period.end + timedelta(minutes=1)
    for before, after in zip(periods, periods[1:]):
        assert before.end == after.start
    assert {p.start.astimezone(PARIS).strftime("%a %H:%M") for p in periods} == {"Fri 17:00"}
    assert {p.end - p.start for p in periods} <= {timedelta(days=7), timedelta(days=7, hours=1),
                                                  timedelta(days=6, hours=23)}


def test_a_bad_schedule_is_one_sentence():
    with pytest.raises(ValueError, match="is not a cron schedule"):
        check_schedule("every friday")


# -- content and order ------------------------------------------------------------------------


async def share(store: Store, who: str, text: str, at: datetime, *, event: str,
                visibility: Visibility = Visibility.PUBLIC, source: Source = Source.MATRIX) -> None:
    await file_post(store, Post(source=source, place="!r:x", author_id=f"@{who.lower()}:x", author_name=who,
                                text=text, event_id=event, visibility=visibility, at=at), Rules())


WEEK = Period(utc(2026, 11, 13, 16), utc(2026, 11, 20, 16))


async def test_ranked_by_sharers_grouped_under_the_strongest_tag_private_and_out_of_period_left_out(store: Store):
    await share(store, "Alice", "https://a.example/popular #rust #async", utc(2026, 11, 14), event="$1")
    await share(store, "Bob", "https://a.example/popular #rust", utc(2026, 11, 15), event="$2",
                source=Source.MASTODON)
    await share(store, "Carol", "https://b.example/rust-only #rust", utc(2026, 11, 14, 1), event="$3")
    await share(store, "Dave", "https://c.example/async-only #async", utc(2026, 11, 16), event="$4")
    await share(store, "Erin", "https://d.example/untagged", utc(2026, 11, 17), event="$5")
    await share(store, "Frank", "https://e.example/secret #rust", utc(2026, 11, 17), event="$6",
                visibility=Visibility.DIRECT)
    await share(store, "Gina", "https://f.example/too-late #rust", utc(2026, 11, 21), event="$7")
    await share(store, "Hana", "https://g.example/more-rust #rust", utc(2026, 11, 18), event="$8")

    digest = build_digest(await PublishedReader(store).shared_between(WEEK.start, WEEK.end), WEEK)
    assert (digest.link_count, digest.sharer_count) == (5, 6)
    assert digest.top_tags == ("rust", "async")  # 3 links, 2 links
    assert [(s.tag, [link.url for link in s.links]) for s in digest.sections] == [
        # 2 sharers first, then by first shared; the popular link is under rust only, not twice
        ("rust", ["https://a.example/popular", "https://b.example/rust-only", "https://g.example/more-rust"]),
        ("async", ["https://c.example/async-only"]),
        ("other", ["https://d.example/untagged"]),
    ]
    assert digest.sections[0].links[0].sharers == ("Alice", "Bob")  # across Matrix and Mastodon


async def test_a_cap_leaves_the_rest_to_the_archive(store: Store):
    for i in range(5):
        await share(store, f"P{i}", f"https://x.example/{i} #t", utc(2026, 11, 14, i), event=f"${i}")
    digest = build_digest(await PublishedReader(store).shared_between(WEEK.start, WEEK.end), WEEK, top=3)
    assert digest.left_out == 2 and sum(len(s.links) for s in digest.sections) == 3
    text = render_matrix(digest, PARIS, archive_url="https://watch.example/archive").text
    assert text.endswith("And 2 more in the archive: https://watch.example/archive.")


# -- how it reads -----------------------------------------------------------------------------


async def test_rendering_credits_by_name_escapes_and_never_pings(store: Store):
    await share(store, "Ali <script>", "https://a.example/?q=b&x=1 #web", utc(2026, 11, 14), event="$1")
    digest = build_digest(await PublishedReader(store).shared_between(WEEK.start, WEEK.end), WEEK)
    rendered = render_matrix(digest, PARIS)
    assert rendered.text.splitlines()[0] == "Tech watch 13 Nov – 20 Nov 2026: 1 link from 1 person; top tags: web."
    assert "#web" in rendered.text and "(Ali <script>)" in rendered.text
    assert "<script>" not in rendered.html and "Ali &lt;script&gt;" in rendered.html
    assert "matrix.to" not in rendered.html and "@" not in rendered.text  # names, not mentions
    assert 'href="https://a.example/?q=b&amp;x=1"' in rendered.html
    assert "- [https://a.example/?q=b&x=1](https://a.example/?q=b&x=1) — Ali <script>" in render_markdown(digest, PARIS)


async def test_a_look_alike_host_reads_in_punycode_in_every_rendering_and_a_plain_idn_as_written(store: Store):
    from watchbot.digest.render import render_thread

    await share(store, "Alice", "https://аррӏе.com/ #web", utc(2026, 11, 14), event="$1")
    await share(store, "Bob", "https://gοοgle.com/ #web", utc(2026, 11, 14, 1), event="$2")  # Greek omicrons
    await share(store, "Carol", "https://例え.jp/ #web", utc(2026, 11, 14, 2), event="$3")
    assert (await PublishedReader(store).link(1)).url == "https://xn--80ak6aa92e.com/"
    digest = build_digest(await PublishedReader(store).shared_between(WEEK.start, WEEK.end), WEEK)
    matrix = render_matrix(digest, PARIS)
    thread = "\n".join(render_thread(digest, PARIS))
    for text in (matrix.text, matrix.html, render_markdown(digest, PARIS), thread):
        assert "https://xn--80ak6aa92e.com/" in text and "https://xn--ggle-0nda.com/" in text
        assert "аррӏе" not in text and "gοοgle" not in text
        assert "https://例え.jp/" in text


async def test_preview_of_the_week_so_far_and_an_empty_week(store: Store):
    now = utc(2026, 11, 22, 12)
    empty = await preview(store, FRIDAY_17, PARIS, top=20, now=now)
    assert render_matrix(empty, PARIS, so_far=True).text == "Tech watch 20 Nov – 27 Nov 2026 (so far): nothing shared yet."
    await share(store, "Alice", "https://a.example/ #rust", utc(2026, 11, 21), event="$1")
    await share(store, "Bob", "https://b.example/ #rust", utc(2026, 11, 19), event="$2")  # last week
    assert (await preview(store, FRIDAY_17, PARIS, top=20, now=now)).link_count == 1
    assert (await preview(store, FRIDAY_17, PARIS, top=20, now=now, last=True)).link_count == 1


async def test_digest_preview_as_a_chat_command(store: Store):
    await share(store, "Alice", "https://a.example/new #rust", datetime.now(timezone.utc), event="$1")
    reply = await run_command(store, parse_command("!watch digest preview"), Caller("@b:x", "B"), PARIS)
    assert "(so far): 1 link from 1 person" in reply.text and "https://a.example/new (Alice)" in reply.text
    assert "<h4>#rust</h4>" in reply.html


async def test_what_only_feeds_brought_has_a_section_of_its_own_after_what_people_shared(store: Store):
    await share(store, "Alice", "https://a.example/shared-by-both #rust", utc(2026, 11, 14), event="$1")
    await share(store, "CERT advisories", "https://a.example/shared-by-both #security", utc(2026, 11, 15),
                event="feed:1", source=Source.FEED)
    for n in range(4):
        await share(store, "CERT advisories", f"https://cert.example/{n} #security", utc(2026, 11, 15 + n),
                    event=f"feed:{n + 2}", source=Source.FEED)
    digest = build_digest(await PublishedReader(store).shared_between(WEEK.start, WEEK.end), WEEK, feed_top=3)
    [section] = digest.sections  # a person shared it: it is ranked with people's links, feed credited too
    assert [link.sharers for link in section.links] == [("Alice", "CERT advisories")]
    assert [link.url for link in digest.feed_links] == [f"https://cert.example/{n}" for n in (3, 2, 1)]  # newest
    assert (digest.link_count, digest.feed_count) == (1, 4)
    text = render_matrix(digest, PARIS).text
    assert "1 link from 2 people" not in text and "; 4 from feeds." in text.splitlines()[0]
    assert text.index("From the feeds") > text.index("https://a.example/shared-by-both")


async def test_reactions_and_favourites_rank_links_that_as_many_people_shared(store: Store):
    await share(store, "Alice", "https://a.example/quiet #rust", utc(2026, 11, 14), event="$quiet")
    await share(store, "Bob", "https://b.example/liked #rust", utc(2026, 11, 15), event="$liked")
    await share(store, "Carol", "https://c.example/starred #rust", utc(2026, 11, 16), event="https://s.example/1",
                source=Source.MASTODON)
    for who in ("@dan:x", "@erin:x", "@dan:x"):  # dan twice: counted once
        await ReactionStore(store).add(Source.MATRIX, "$liked", who)
    assert not await ReactionStore(store).add(Source.MATRIX, "$nothing-shared", "@dan:x")
    counts = await ReactionStore(store).counts(Source.MATRIX, ["$liked", "$quiet"])
    assert counts == {"$liked": 2}
    reactions = {(Source.MATRIX, "$liked"): 2, (Source.MASTODON, "https://s.example/1"): 5}
    digest = build_digest(await PublishedReader(store).shared_between(WEEK.start, WEEK.end), WEEK, reactions=reactions)
    assert [link.url for link in digest.sections[0].links] == [
        "https://c.example/starred", "https://b.example/liked", "https://a.example/quiet"]


async def test_a_room_s_digest_points_to_its_week_s_page_once_the_pages_have_an_address(store: Store):
    from watchbot.config import Settings
    from watchbot.networks.matrix import MatrixDigestOutlet

    for i in range(5):
        await share(store, f"P{i}", f"https://x.example/{i} #t", utc(2026, 11, 14, i), event=f"$w{i}")
    digest = build_digest(await PublishedReader(store).shared_between(WEEK.start, WEEK.end), WEEK, top=3)
    settings = Settings(_env_file=None, timezone="Europe/Paris", web_base_url="https://watch.example",
                        digest_archive_url="https://old.example/archive")
    outlet = MatrixDigestOutlet(None, "!room:x", scoped=False, archive=settings.digest_archive_for)
    [part] = outlet.parts(digest, PARIS)
    assert part.text.endswith(f"And 2 more in the archive: https://watch.example/weeks/{week_of(WEEK, PARIS)}.")


def test_a_period_s_week_is_the_one_holding_its_middle_whenever_asked():
    friday_to_friday = Period(utc(2026, 11, 27, 16), utc(2026, 12, 4, 16))  # 17:00 in Paris
    assert week_of(friday_to_friday, PARIS) == "2026-W49"  # Mon 30 Nov - Sun 6 Dec holds most of it
    monday_to_monday = Period(utc(2026, 12, 27, 23), utc(2027, 1, 3, 23))  # across the new year, in Paris
    assert week_of(monday_to_monday, PARIS) == "2026-W53"
    # Across the change to summer time (29 March 2026 in Paris): still one week.
    assert week_of(Period(utc(2026, 3, 27, 16), utc(2026, 4, 3, 15)), PARIS) == "2026-W14"
    assert week_bounds("2026-W53") == (datetime(2026, 12, 28), datetime(2027, 1, 4))
    assert week_bounds("2026-W54") is None and week_bounds("2026-w1") is None and week_bounds("x") is None


# -- what mutation testing found unchecked (docs/mutation.md): the digest built from light links ---

def period_link(n: int, *shares: tuple[str, datetime] | tuple[str, datetime, tuple[str, ...]],
                place: str = "!r:x") -> PeriodLink:
    """A link of the period, shared by each (name, when[, tags]) in that order."""
    return PeriodLink(n, f"https://{n}.example/", None, tuple(
        SharedThen(f"@{s[0].lower()}:x", s[0], Source.MATRIX, place, f"${n}-{i}", s[1], s[2] if len(s) > 2 else ())
        for i, s in enumerate(shares)))


def urls(digest) -> list[str]:
    return [link.url for section in digest.sections for link in section.links]


def test_a_share_made_at_the_periods_first_instant_is_in_it_and_one_at_its_end_is_in_the_next():
    digest = build_digest([period_link(1, ("Alice", WEEK.start)), period_link(2, ("Bob", WEEK.end)),
                           period_link(3, ("Carol", WEEK.start - timedelta(seconds=1)), ("Dan", utc(2026, 11, 15)))],
                          WEEK)
    assert urls(digest) == ["https://1.example/", "https://3.example/"]
    assert digest.sections[0].links[1].sharers == ("Dan",)  # Carol shared it the week before


def test_a_rooms_own_digest_holds_only_what_was_shared_in_that_room():
    links = [period_link(1, ("Alice", utc(2026, 11, 14)), place="!a:x"),
             period_link(2, ("Bob", utc(2026, 11, 15)), place="!b:x")]
    assert urls(build_digest(links, WEEK, place="!a:x")) == ["https://1.example/"]
    assert urls(build_digest(links, WEEK)) == ["https://1.example/", "https://2.example/"]


def test_as_many_sharers_and_reactions_the_link_shared_first_comes_first():
    later, earlier = period_link(1, ("Alice", utc(2026, 11, 16))), period_link(2, ("Bob", utc(2026, 11, 14)))
    assert urls(build_digest([later, earlier], WEEK)) == ["https://2.example/", "https://1.example/"]
    # One reaction lifts the later one; a message nobody reacted to counts for nothing.
    reactions = {(Source.MATRIX, "$1-0"): 1, (Source.MATRIX, "$unrelated"): 3}
    assert urls(build_digest([later, earlier], WEEK, reactions=reactions)) == [
        "https://1.example/", "https://2.example/"]


def test_tags_of_equal_weight_are_named_and_sectioned_alphabetically_three_at_most():
    at = utc(2026, 11, 14)
    links = [period_link(n, ("Alice", at, (tag,))) for n, tag in enumerate(["zig", "rust", "go", "c"], 1)]
    digest = build_digest(links, WEEK)
    assert digest.top_tags == ("c", "go", "rust")
    assert [section.tag for section in digest.sections] == ["c", "go", "rust", "zig"]


def test_the_other_section_comes_last_even_when_links_are_tagged_other():
    at = utc(2026, 11, 14)
    links = [period_link(1, ("Alice", at, ("other",))), period_link(2, ("Bob", at, ("other",))),
             period_link(3, ("Carol", at)), period_link(4, ("Dan", at, ("rust",)))]
    assert [section.tag for section in build_digest(links, WEEK).sections] == ["rust", "other"]


# -- what mutation testing found unchecked (docs/mutation.md): periods to the second ---------------

@pytest.mark.parametrize("moment", [utc(2026, 11, 20, 15, 59, 30), utc(2026, 11, 20, 15, 59, 0, 500_000)])
def test_in_the_minute_before_the_digest_the_period_is_still_the_one_in_progress(moment):
    assert current_period(FRIDAY_17, PARIS, moment) == Period(utc(2026, 11, 13, 16), utc(2026, 11, 20, 16))
    assert last_period(FRIDAY_17, PARIS, moment) == Period(utc(2026, 11, 6, 16), utc(2026, 11, 13, 16))


def test_a_periods_week_is_named_in_the_communitys_timezone():
    # Its middle is Sunday 23:30 UTC, already Monday in Paris.
    assert week_of(Period(utc(2026, 11, 26, 23, 30), utc(2026, 12, 3, 23, 30)), PARIS) == "2026-W49"
    # Friday 00:00 to Friday 00:00: the middle (Monday noon) is in the new week; a third in is not.
    assert week_of(Period(utc(2026, 11, 12, 23), utc(2026, 11, 19, 23)), PARIS) == "2026-W47"


def test_a_week_is_named_only_one_way():
    assert week_bounds("2026-W49") == (datetime(2026, 11, 30), datetime(2026, 12, 7))
    assert week_bounds("2026-W5") is None and week_bounds("+2026-W49") is None and week_bounds(" 2026-W49") is None
    # Other scripts' digits, a fifth digit, and the last week of 9999 (whose end overflows).
    assert week_bounds("２０２６-W49") is None and week_bounds("02026-W49") is None and week_bounds("9999-W52") is None


def test_period_bounds_are_in_utc_whatever_the_servers_timezone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        period = current_period(FRIDAY_17, PARIS, utc(2026, 11, 22, 12))
        assert period.start.isoformat() == "2026-11-20T16:00:00+00:00"
        assert period.end.isoformat() == "2026-11-27T16:00:00+00:00"
        # Its middle is Sunday 18:00 UTC, already Monday in Tokyo: the week is named in UTC, as asked.
        assert week_of(Period(utc(2026, 11, 26, 6), utc(2026, 12, 3, 6)), ZoneInfo("UTC")) == "2026-W48"
    finally:
        monkeypatch.undo()
        time.tzset()
