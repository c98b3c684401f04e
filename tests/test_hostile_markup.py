"""Markup that a stranger wrote never crashes nor stalls the bot: the message readers of every
network, fed arbitrary text, HTML-ish soup, and the shapes that broke html.parser.

Time is measured in bench/bench_hostile.py, never here; the test of linear work below counts the
lines of watchbot's own code that run, which does not depend on the machine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchbot.feeds.parse import parse_feed
from watchbot.intake import Rules, read_post
from watchbot.links import InvalidURL, canonical_key, extract_hrefs, extract_links
from watchbot.networks.fediverse.events import (
    command_text,
    html_to_text,
    opted_out,
    post_from_status,
    status_links,
)
from watchbot.networks.matrix.events import post_from_event

WATCHBOT = str(Path(__file__).resolve().parent.parent / "watchbot")
FIRST = '<a href="https://first.example/">first</a> '

# Pieces of markup that parsers trip on, put together in any order.
FRAGMENTS = [
    "<a ", "<a href=", 'href="https://x.org/', "href='", "<![", "<![CDATA[", "]]>", "<!--", "-->", "--!>",
    "<!", "</", "<", ">", "/>", "<mx-reply>", "</mx-reply>", '<p class="quote-inline">', "</p>", "<p>",
    '<span class="invisible">', "</span>", "<br>", "<script>", "</script>", "<style>", "<textarea>",
    "<svg>", "<math>", "<table>", "<div>", "<li>", "&#", "&#x", "&#1114112;", "&amp", "&copy=", "&",
    '"', "'", "=", " ", "\n", "\x00", "\ud800", "#tag", "https://x.org/t", '<a class="mention" ',
    "rel=tag ", "<?", "<!DOCTYPE", "é", "\u202e",
]
soup = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=60).map("".join)
anything = st.one_of(st.text(), soup)
hostile = settings(max_examples=150, deadline=None)
# An operator may raise the limit on a message's length (up to 10 million characters): the readers
# are tested past the default one.
RULES = Rules(max_post_chars=1_000_000)


def matrix_message(body: str, html: str) -> dict:
    return {"type": "m.room.message", "event_id": "$e", "sender": "@mallory:example.org",
            "origin_server_ts": 1_763_800_000_000,
            "content": {"msgtype": "m.text", "body": body, "format": "org.matrix.custom.html",
                        "formatted_body": html}}


def status(content: str, note: str = "") -> dict:
    return {"id": "1", "uri": "https://social.example/users/mallory/statuses/1", "visibility": "public",
            "created_at": "2026-11-20T09:15:00.000Z", "content": content, "mentions": [], "tags": [],
            "account": {"id": "2", "username": "mallory", "acct": "mallory", "note": note}}


def read_matrix(html: str, body: str = ""):
    post = post_from_event(matrix_message(body, html), "!room:example.org", own_user_id="@watch:example.org",
                           sender_name="Mallory")
    return read_post(post, RULES)


def read_mastodon(html: str):
    return read_post(post_from_status(status(html), "social.example", max_chars=RULES.max_post_chars), RULES)


# --- Whatever the markup, the readers read it --------------------------------------------------


@hostile
@given(body=anything, html=anything)
def test_a_matrix_message_is_read_whatever_it_holds(body: str, html: str):
    reading = read_matrix(FIRST + html, body)
    # What came before the soup is read as it was written, whatever follows.
    assert reading.links[0] == ("https://first.example/", "https://first.example")
    assert all(canonical_key(url) == key for url, key in reading.links)


@hostile
@given(content=anything, note=anything)
def test_a_status_is_read_whatever_it_holds(content: str, note: str):
    hostile_status = status(FIRST + content, note)
    assert status_links(hostile_status)[0] == "https://first.example/"
    assert read_mastodon(FIRST + content).links[0][0] == "https://first.example/"
    assert html_to_text("<p>hello</p>" + content).startswith("hello")
    assert command_text(status("<p>@watch search rust</p>" + content), "watch").startswith("search rust")
    assert opted_out({"note": "#nobot " + note})
    opted_out(hostile_status["account"])  # any answer will do: it did not raise


@hostile
@given(text=anything, html=st.one_of(st.none(), anything))
def test_the_links_of_any_message_can_all_be_filed_and_differ(text: str, html: str | None):
    links = extract_links(text, html)
    keys = [canonical_key(link) for link in links]
    assert len(set(keys)) == len(keys)
    for href in extract_hrefs(html or ""):  # every href that can be filed is one of the links
        try:
            assert canonical_key(href) in keys
        except InvalidURL:
            pass


@hostile
@given(html=anything)
def test_a_feed_entrys_markup_is_read_whatever_it_holds(html: str):
    feed = {"version": "https://jsonfeed.org/version/1.1",
            "items": [{"id": "1", "url": "https://x.org/1", "content_html": "<p>CVE-2026-1234</p><p>" + html}]}
    [entry] = parse_feed(json.dumps(feed).encode(), {"Content-Type": "application/feed+json"},
                         "https://x.org/feed.json").entries
    assert entry.cve_ids[0] == "CVE-2026-1234"
    assert entry.summary is not None and entry.summary.startswith("CVE-2026-1234")


# --- The shapes that broke html.parser ----------------------------------------------------------

AFTER = '<p><a href="https://after.example/">after</a></p>'
SHAPES = {
    # name: (markup, whether a link after it is still a link, as a browser reads it)
    "64 KiB of '<a '": ("<a " * 21_800, True),  # one tag; its attributes absorb the link's "<a"
    "unclosed comments": ("<!--" * 16_000, False),  # a comment to the end: nothing after is markup
    "'<![' repeated": ("<![" * 21_000, True),  # one bogus comment, up to the next ">" (AFTER's <p>)
    "20,000 nested <div>": ("<div>" * 20_000, True),
    "20,000 nested <a>": ('<a href="https://x.org/deep">' * 20_000, True),
    "formatting reopened": ("".join(f"<b {i}>" for i in range(3_000)) + "".join(f"<i {i}>" for i in range(3_000))
                            + "x</b>" * 3_000, True),
    "a 60 KB attribute": ('<a title="' + "x" * 60_000 + '">t</a>', True),
}


@pytest.mark.parametrize("name", SHAPES)
def test_hostile_shapes_are_read_to_their_end(name: str):
    markup, link_after = SHAPES[name]
    expected = ["https://first.example/", "https://after.example/"] if link_after else ["https://first.example/"]
    hrefs = [h for h in extract_hrefs(FIRST + markup + AFTER) if h != "https://x.org/deep"]
    assert hrefs == expected
    assert [url for url, _ in read_matrix(FIRST + markup + AFTER).links if url != "https://x.org/deep"] == expected
    assert [url for url, _ in read_mastodon(FIRST + markup + AFTER).links if url != "https://x.org/deep"] == expected
    assert html_to_text(FIRST + markup + AFTER).startswith("first")


def test_a_word_paste_and_a_broken_status_keep_their_links():
    paste = '<p><![ if !IE ]></p><p>read <a href="https://x.org/after">this</a></p><![endif]>'
    assert [url for url, _ in read_matrix(paste, "read this").links] == ["https://x.org/after"]
    broken = '<p>odd <![<![ markup</p><p><a href="https://x.org/a">a</a></p>'
    assert [url for url, _ in read_mastodon(broken).links] == ["https://x.org/a"]


# --- Work grows with the message, not with its square -------------------------------------------


def lines_run(read, markup: str) -> int:
    """How many lines of watchbot's own code run while `read` reads `markup`."""
    count = 0

    def in_watchbot(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return in_watchbot

    def on_call(frame, event, arg):
        return in_watchbot if frame.f_code.co_filename.startswith(WATCHBOT) else None

    sys.settrace(on_call)
    try:
        read(markup)
    finally:
        sys.settrace(None)
    return count


GROWING = {  # name: one level or piece of a shape, repeated
    "nested <div> with a link each": '<div><a href="https://x.org/{i}">{i}</a>',
    "nested <mx-reply>": "<mx-reply><blockquote>{i}",
    "nested invisible spans": '<span class="invisible"><p>{i}',
    "pasted conditional comments": "<p>{i} <![ if !IE ]>",
    "links": '<a href="https://x.org/{i}">{i}</a> ',
}
READERS = {"Matrix": read_matrix, "Mastodon": read_mastodon, "html_to_text": html_to_text}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("shape", GROWING)
def test_reading_four_times_more_runs_about_four_times_more_code(shape: str, reader: str):
    def markup(n: int) -> str:
        return "".join(GROWING[shape].format(i=i) for i in range(n))

    small, large = (lines_run(READERS[reader], markup(n)) for n in (1_000, 4_000))
    assert small > 1_000  # every piece was read
    assert large <= 4.4 * small
