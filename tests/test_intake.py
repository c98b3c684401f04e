"""Intake: a message in, links and tags filed, and one clear sentence per link for the sharer."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from watchbot.intake import Outcome, Rules, describe, file_post, read_post
from watchbot.model import Post, Source, Visibility
from watchbot.store import Store
from watchbot.store.cursors import CursorStore
from watchbot.store.links import LinkStore
from watchbot.store.published import PublishedReader

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
RULES = Rules(tag_aliases={"py": "python"}, max_links_per_post=3, max_post_chars=2_000)


def matrix_post(text: str, html: str | None = None, **changes) -> Post:
    values = dict(source=Source.MATRIX, place="!room:example.org", author_id="@alice:example.org",
                  author_name="Alice", text=text, html=html, event_id="$e1", at=T0)
    return Post(**{**values, **changes})


def test_matrix_message_gives_each_link_once_with_normalised_tags():
    post = matrix_post(
        "New release https://Example.com/news?utm_source=rss #Python #py #Security",
        '<p>New release <a href="https://example.com/news">example.com/ne…</a> #Python #py #Security</p>',
    )
    reading = read_post(post, RULES)
    assert reading.links == (("https://example.com/news", "https://example.com/news"),)
    assert reading.tags == ("python", "security")
    assert reading.problems == ()


def test_mastodon_status_links_come_from_hrefs_not_mentions_or_hashtags():
    html = (
        '<p><span class="h-card"><a href="https://social.example/@watch" class="u-url mention">@watch</a>'
        '</span> <a href="https://lwn.net/Articles/1001/" rel="nofollow noopener">'
        '<span class="invisible">https://</span>lwn.net/Articles/10…</a> '
        '<a href="https://social.example/tags/linux" class="mention hashtag" rel="tag">#<span>linux</span></a></p>'
    )
    post = Post(source=Source.MASTODON, place="social.example", author_id="bob@social.example",
                author_name="Bob", text="@watch lwn.net/Articles/10… #linux", html=html, event_id="1")
    reading = read_post(post, RULES)
    assert [url for url, _ in reading.links] == ["https://lwn.net/Articles/1001/"]
    assert reading.tags == ("linux",)


def test_a_huge_message_is_refused_with_a_reason_and_nothing_read():
    reading = read_post(matrix_post("https://example.com/ " * 500), RULES)
    assert reading.links == ()
    assert len(reading.problems) == 1 and "too long" in reading.problems[0]


def test_links_over_the_limit_are_named_not_silently_dropped():
    text = " ".join(f"https://example.com/{i}" for i in range(5))
    reading = read_post(matrix_post(text), RULES)
    assert len(reading.links) == 3
    assert reading.problems == ("This message has 5 links; I filed the first 3 (post the others separately).",)


def test_tags_past_ten_are_left_out_and_said_in_one_line_and_a_51_character_tag_is_none():
    long = "x" * 51
    names = [f"t{i:02d}" for i in range(12)]
    reading = read_post(matrix_post("https://example.com/ " + " ".join(f"#{n}" for n in names) + f" #{long}"), RULES)
    assert reading.tags == tuple(names[:10])
    assert reading.notes == ("Only 10 tags are kept per link: #t10 #t11 were left out.",)
    assert reading.problems == ()
    # Every way tags come in counts together: a source's own tags first, then the text's.
    reading = read_post(matrix_post("https://example.com/ #t10", extra_tags=tuple(names[:10])), RULES)
    assert reading.tags == tuple(names[:10]) and reading.notes == ("Only 10 tags are kept per link: #t10 was left out.",)
    assert read_post(matrix_post(f"https://example.com/ #{'y' * 50}"), RULES).tags == ("y" * 50,)


async def test_filing_tells_what_was_left_out_once(store: Store):
    post = matrix_post("https://example.com/ " + " ".join(f"#t{i:02d}" for i in range(11)))
    first = await file_post(store, post, RULES)
    assert first.notes == ("Only 10 tags are kept per link: #t10 was left out.",) and first.problems == ()
    [link] = await LinkStore(store).list_links()
    assert len(link.tags) == 10 and "t10" not in link.tags
    assert (await file_post(store, post, RULES)).notes == ()  # a replay: told the first time


def test_a_link_the_source_names_that_is_not_fileable_is_reported():
    post = Post(source=Source.CLI, place="cli", author_id="cli:me", author_name="me", text="",
                links=("ftp://files.example.com/x",))
    reading = read_post(post, RULES)
    assert reading.links == ()
    assert reading.problems and reading.problems[0].startswith("ftp://files.example.com/x: ")


async def test_filing_says_new_duplicate_and_replayed(store: Store):
    zone = ZoneInfo("Europe/Paris")
    first = await file_post(store, matrix_post("https://example.com/a #rust"), RULES)
    assert [r.outcome for r in first.results] == [Outcome.FILED]
    assert describe(first.results[0], zone) == f"Filed #{first.results[0].filed.link.id} https://example.com/a [rust]."

    bob = matrix_post("https://EXAMPLE.com/a?fbclid=abc#top", author_id="@bob:example.org", author_name="Bob",
                      event_id="$e2", at=T0 + timedelta(days=1))
    second = await file_post(store, bob, RULES)
    assert [r.outcome for r in second.results] == [Outcome.DUPLICATE]
    assert describe(second.results[0], zone).startswith("Already shared by Alice on 2026-11-20")

    replay = await file_post(store, bob, RULES)
    assert [r.outcome for r in replay.results] == [Outcome.REPLAYED]
    assert not replay.filed_anything
    assert describe(replay.results[0], zone) == (
        f"Already filed from this message: #{replay.results[0].filed.link.id} https://EXAMPLE.com/a.")
    record = await LinkStore(store).get_link(first.results[0].filed.link.id)
    assert [s.sharer_name for s in record.shares] == ["Alice", "Bob"]
    assert record.shares[1].url == "https://EXAMPLE.com/a?fbclid=abc#top"  # kept as posted


async def test_an_earlier_private_share_counts_without_a_name(store: Store):
    zone = ZoneInfo("UTC")
    await file_post(store, matrix_post("https://example.com/a", author_name="Dana", author_id="@dana:example.org",
                                       visibility=Visibility.DIRECT, place="!dm:example.org"), RULES)
    public = await file_post(store, matrix_post("https://example.com/a", author_id="@bob:example.org",
                                                author_name="Bob", event_id="$e2", at=T0 + timedelta(days=1)), RULES)
    link_id = public.results[0].filed.link.id
    assert describe(public.results[0], zone) == f"Shared before by someone (#{link_id}); your share is counted too."
    # In the direct chat, the person is told of the public share, by name, and of their own.
    again = await file_post(store, matrix_post("https://example.com/a", author_name="Dana",
                                               author_id="@dana:example.org", visibility=Visibility.DIRECT,
                                               place="!dm:example.org", event_id="$e3", at=T0 + timedelta(days=2)),
                            RULES)
    assert describe(again.results[0], zone) == f"You already shared #{link_id} on 2026-11-20; counted again."


async def test_a_message_without_links_still_moves_the_cursor(store: Store):
    result = await file_post(store, matrix_post("good morning #coffee"), RULES, cursor=("matrix", "s9"))
    assert result.results == () and result.problems == ()
    assert await CursorStore(store).get("matrix") == "s9"


async def test_private_messages_are_filed_private(store: Store):
    await file_post(store, matrix_post("https://example.com/dm", visibility=Visibility.DIRECT), RULES)
    assert await PublishedReader(store).recent() == []
    assert len(await LinkStore(store).list_links()) == 1
