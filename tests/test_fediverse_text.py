"""Status length as Mastodon counts it, and text cut to fit: pure."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from watchbot.status_text import (
    ELLIPSIS,
    StatusLimits,
    fit,
    limits_from_instance,
    minimal_reply,
    status_length,
)


def test_urls_count_as_23_and_mentions_without_their_server():
    long_url = "https://example.com/" + "a" * 200
    assert status_length(long_url) == 23
    assert status_length(f"see {long_url}!") == 4 + 23 + 1
    assert status_length("@alice@social.example hi") == len("@alice hi")
    assert status_length("mail me: alice@social.example") == len("mail me: alice@social.example")  # no mention
    assert status_length("example.com") == len("example.com")  # no scheme, no discount


def test_graphemes_are_counted_not_code_points():
    assert status_length("👩‍👩‍👧") == 1  # one family, five code points
    assert status_length("e\u0301") == 1  # e + combining acute
    assert status_length("🇫🇷") == 1


def test_the_limits_are_read_from_the_server_with_mastodons_defaults():
    mastodon = {"version": "4.3.2"}
    assert limits_from_instance(mastodon) == StatusLimits(500, 23)
    v2 = {**mastodon, "configuration": {"statuses": {"max_characters": 5000, "characters_reserved_per_url": 25}}}
    assert limits_from_instance(v2) == StatusLimits(5000, 25)
    v1 = {**mastodon, "configuration": {"statuses": {"max_characters": 1000}}}
    assert limits_from_instance(None, v1) == StatusLimits(1000, 23)
    odd = {**mastodon, "configuration": {"statuses": {"max_characters": "lots", "characters_reserved_per_url": -1}}}
    assert limits_from_instance(odd) == StatusLimits(500, 23)


def test_servers_other_than_mastodon_and_silent_ones_are_counted_conservatively():
    akkoma = {"version": "2.7.2 (compatible; Akkoma 3.13.2)", "max_toot_chars": 5000}
    assert limits_from_instance(None, akkoma) == StatusLimits(5000, 23, urls_discounted=False)
    assert limits_from_instance(None, None) == StatusLimits(500, 23, urls_discounted=False)  # said nothing
    strict = StatusLimits(500, 23, urls_discounted=False)
    long_url = "https://example.com/" + "a" * 200
    assert status_length(long_url, strict) == len(long_url)  # every character
    assert status_length("see https://a.io", strict) == 4 + 23  # a URL never less than Mastodon counts it
    assert status_length("@alice@social.example hi", strict) == len("@alice@social.example hi")
    # A server counting as written counts code points: a family emoji is five, not one grapheme.
    assert status_length("👩‍👩‍👧", strict) == 5
    assert len(fit("👩‍👩‍👧 " * 200, strict)) <= 500
    cut = fit("https://a.io/" + ")" * 600, strict)
    assert status_length(cut, strict) <= 500 and cut.endswith(ELLIPSIS)


def test_fit_keeps_what_fits_and_cuts_between_words_never_inside_a_url():
    short = "Filed #1: https://example.com/x"
    assert fit(short) == short
    url = "https://example.com/" + "p" * 300
    text = "word " * 95 + url + " tail"
    cut = fit(text)
    assert cut.endswith(ELLIPSIS) and status_length(cut) <= 500
    assert url in cut or url[:30] not in cut  # all of the URL or none of it
    assert fit("x" * 600) == "x" * 499 + ELLIPSIS  # one word too long: cut by graphemes


@settings(max_examples=200, deadline=None)
@given(
    words=st.lists(st.one_of(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30),
        st.from_regex(r"https://[a-z]{1,10}\.example/[a-z0-9]{0,80}", fullmatch=True),
        st.sampled_from(["👩‍👩‍👧", "@bob@server.example", "\n"]),
    ), max_size=120),
    maximum=st.integers(min_value=40, max_value=600),
)
def test_fit_never_goes_over_the_limit_nor_cuts_a_url(words, maximum):
    limits = StatusLimits(maximum, 23)
    text = " ".join(words)
    cut = fit(text, limits)
    assert status_length(cut, limits) <= maximum
    if cut != text:
        kept = cut.removesuffix(ELLIPSIS).rstrip()
        assert text.startswith(kept)
        # Cut between words: the kept words are whole words of the text, unless a single word
        # (never a URL) was too long on its own and was cut by graphemes.
        whole = text.split()
        pieces = kept.split()
        assert pieces == whole[: len(pieces)] or (
            len(pieces) <= 1 and not whole[0].startswith("https://")
        ), (pieces, whole)


def test_a_minimal_reply_keeps_the_mentions_and_the_link_numbers():
    assert minimal_reply("@alice Filed #12 https://a.example/x [rust]. Filed #13 https://b.example/.") == \
        "@alice Filed #12–#13."
    assert minimal_reply("@bob@far.example Filed #3 https://a.example/. Already shared by c (#9).") == \
        "@bob@far.example Filed #3, #9."
    assert minimal_reply("@carol Commands: help, search WORDS. Ask a moderator for more.") == \
        "@carol Commands: help, search WORDS."
