"""Mastodon statuses to Posts, without a server: the status JSON as Mastodon documents it."""

from __future__ import annotations

from datetime import datetime, timezone

from watchbot.model import Source, Visibility
from watchbot.networks.fediverse.events import (
    REPLY_VISIBILITY,
    command_text,
    html_to_text,
    LEGACY_KEY,
    idempotency_key,
    legacy_idempotency_key,
    mention_from_a_person,
    opted_out,
    post_from_status,
    reply_text,
    status_links,
)

# A mention of @watch with a link and two hashtags, as Mastodon 4 renders it: the mention is an
# h-card link, the link's visible text is shortened, hashtags are links too.
STATUS = {
    "id": "113450000000000001",
    "uri": "https://social.example/users/alice/statuses/113450000000000001",
    "url": "https://social.example/@alice/113450000000000001",
    "created_at": "2026-11-20T09:15:00.000Z",
    "visibility": "public",
    "content": (
        '<p><span class="h-card" translate="no"><a href="https://bots.example/@watch" class="u-url mention">'
        '@<span>watch</span></a></span> worth it: <a href="https://lwn.net/Articles/1001/" target="_blank" '
        'rel="nofollow noopener noreferrer" translate="no"><span class="invisible">https://</span>'
        '<span class="">lwn.net/Articles/1001/</span><span class="invisible"></span></a> '
        '<a href="https://social.example/tags/Linux" class="mention hashtag" rel="tag">#<span>Linux</span></a> '
        '<a href="https://social.example/tags/security" class="mention hashtag" rel="tag">#<span>security</span></a></p>'
    ),
    "mentions": [{"id": "7", "username": "watch", "acct": "watch@bots.example", "url": "https://bots.example/@watch"}],
    "tags": [{"name": "Linux", "url": "https://social.example/tags/Linux"},
             {"name": "security", "url": "https://social.example/tags/security"}],
    "account": {"id": "42", "username": "alice", "acct": "alice", "display_name": "Alice",
                "bot": False, "note": "<p>Kernel hacker</p>", "url": "https://social.example/@alice"},
}


def test_a_mention_becomes_a_post_with_the_full_link_and_its_hashtags():
    post = post_from_status(STATUS, "social.example")
    assert post.source is Source.MASTODON
    assert post.links == ("https://lwn.net/Articles/1001/",)
    assert post.extra_tags == ("Linux", "security")
    assert (post.author_id, post.author_name) == ("alice@social.example", "Alice")
    assert post.event_id == STATUS["uri"]
    assert post.visibility is Visibility.PUBLIC
    assert post.at == datetime(2026, 11, 20, 9, 15, tzinfo=timezone.utc)


def test_mention_and_hashtag_links_are_recognised_by_their_urls_when_unmarked():
    # Other servers mark mentions and hashtags differently; their URLs give them away.
    bare = {**STATUS, "content": '<p><a href="https://bots.example/@watch">@watch</a> '
                                 '<a href="https://example.org/post">example.org/post</a> '
                                 '<a href="https://social.example/tags/Linux">#Linux</a></p>'}
    assert status_links(bare) == ["https://example.org/post"]


def test_replies_keep_private_private_and_quiet_public_mentions():
    assert REPLY_VISIBILITY == {"public": "unlisted", "unlisted": "unlisted", "private": "private",
                                "direct": "direct"}
    assert post_from_status({**STATUS, "visibility": "direct"}, "social.example").visibility is Visibility.DIRECT
    assert post_from_status({**STATUS, "visibility": "weird"}, "social.example").visibility is Visibility.DIRECT


def test_consent_from_the_profile():
    assert not opted_out(STATUS["account"])
    assert opted_out({"note": "<p>Please no bots <a href=\"x\">#NoBot</a></p>"})
    assert opted_out({"note": "<p>#noindex</p>"})
    assert opted_out({"note": "", "noindex": True})
    assert not opted_out({"note": "<p>I like #nobotany and C#nobot</p>"})


def test_commands_and_replies_mention_only_who_asked():
    assert command_text({**STATUS, "content": '<p><span class="h-card"><a class="u-url mention" '
                                              'href="https://bots.example/@watch">@<span>watch</span></a></span> '
                                              "search rust</p>"}, "watch") == "search rust"
    assert reply_text("bob@other.example", ["Filed #1."]) == "@bob@other.example Filed #1."
    assert idempotency_key("reply", "1", "t") == idempotency_key("reply", "1", "t") != idempotency_key("reply", "2", "t")


def test_keys_are_keyed_with_the_token_and_not_found_by_hashing_ids():
    import hashlib
    import hmac

    status_id = "113456789012345678"  # Snowflake-like: close to a clock, so easy to guess
    one, other = idempotency_key("reply", status_id, "token-one"), idempotency_key("reply", status_id, "token-two")
    assert one != other  # the token keys it: another token, another key
    assert one == "watchbot-reply-k" + hmac.new(b"token-one", status_id.encode(), hashlib.sha256).hexdigest()[:32]
    # Hashing the id, as the older unkeyed keys did, does not find it.
    unkeyed = hashlib.sha256(status_id.encode()).hexdigest()
    assert unkeyed[:32] not in one and legacy_idempotency_key("reply", status_id) != one
    assert idempotency_key("favourite", status_id, "token-one") != one
    # The upgrade tells the two forms apart by their shape.
    assert LEGACY_KEY.fullmatch(legacy_idempotency_key("reply", status_id))
    assert not LEGACY_KEY.fullmatch(one)


def test_only_mentions_from_people_are_read_even_from_servers_that_ignore_the_types_filter():
    mention = {"id": "9", "type": "mention", "status": STATUS, "account": STATUS["account"]}
    assert mention_from_a_person(mention, own_id="7") is STATUS
    # What a server ignoring `types` also sends: none of it is a share.
    for kind in ("favourite", "reblog", "status", "update", "poll", "follow"):
        assert mention_from_a_person({**mention, "type": kind}, own_id="7") is None
    assert mention_from_a_person({"id": "9", "type": "mention", "status": None}, own_id="7") is None
    assert mention_from_a_person(mention, own_id="42") is None  # the bot's own post
    from_a_bot = {**STATUS, "account": {**STATUS["account"], "bot": True}}
    assert mention_from_a_person({**mention, "status": from_a_bot}, own_id="7") is None


def test_a_status_with_broken_markup_gives_its_links():
    # "<![<![" made html.parser raise AssertionError: the whole status was lost.
    odd = {**STATUS, "content": '<p>odd <![<![ markup</p><p><a href="https://example.org/a">a</a> '
                                '<a href="https://example.org/b">b</a></p>'}
    assert status_links(odd) == ["https://example.org/a", "https://example.org/b"]
    assert post_from_status(odd, "social.example").links == ("https://example.org/a", "https://example.org/b")
    assert html_to_text(odd["content"]) == "odd \na b"


def test_the_text_a_reader_sees():
    assert html_to_text(STATUS["content"]) == "@watch worth it: lwn.net/Articles/1001/ #Linux #security"
    assert html_to_text("<p>one<br>two<br/>three</p><p>four &amp; five</p>") == "one\ntwo\nthree\nfour & five"
    quote = ('<p class="quote-inline">RE: <a href="https://other.example/s/1">other.example/s/1</a></p>'
             "<p>my take</p>")
    assert html_to_text(quote) == "my take"


def test_a_status_too_long_to_read_is_not_read(monkeypatch):
    def never(html):
        raise AssertionError("a status over the limit was parsed")

    monkeypatch.setattr("watchbot.networks.fediverse.events.extract_hrefs", never)
    long = {**STATUS, "content": "<p>" + "<a " * 30_000 + "</p>"}
    post = post_from_status(long, "social.example", max_chars=65_536)
    assert post.links == () and post.html == long["content"]  # intake refuses it by its length
    assert post.extra_tags == ("Linux", "security")  # from tags[], not from the HTML
