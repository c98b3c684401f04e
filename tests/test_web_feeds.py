"""The Atom feeds (watchbot/web/feeds.py) served on loopback, parsed back with feedparser."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import feedparser

from watchbot.formats.atom import entry_id
from watchbot.store import Store
from watchbot.store.links import LinkStore
from watchbot.web.answers import KEEP_SECONDS
from tests.test_web_api import HOSTILE_NOTE, HOSTILE_TITLE
from tests.web_serving import BASE_URL, serving, share
from tests.test_web_api import PRIVATE

ATOM = "{http://www.w3.org/2005/Atom}"


async def test_the_feed_of_everything_is_valid_atom_newest_first_with_both_links(store: Store):
    older = (await share(store, "https://example.org/old #rust", hours_ago=5))[0]
    newer = (await share(store, "https://example.org/new?utm_source=x #python", hours_ago=1, title="New things"))[0]
    async with serving(store) as client:
        answer = await client.get("/feeds/links.atom")
        body = await answer.read()
    assert answer.status == 200 and answer.content_type == "application/atom+xml"
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.id == f"{BASE_URL}/feeds/links.atom"
    assert feed.feed.updated == "2026-11-30T11:00:00Z"
    assert {(link.rel, link.href) for link in feed.feed.links} == {
        ("self", f"{BASE_URL}/feeds/links.atom"), ("alternate", f"{BASE_URL}/")}
    first, second = feed.entries
    assert first.title == "New things" and first.link == "https://example.org/new"
    assert {(link.rel, link.href) for link in first.links} == {
        ("alternate", "https://example.org/new"), ("related", f"{BASE_URL}/links/{newer}")}
    assert first.published == first.updated == "2026-11-30T11:00:00Z"
    assert second.id == entry_id((await LinkStore(store).get_link(older)).link.key)  # the export's ids: stable


async def test_hostile_titles_and_notes_are_escaped_text_in_the_feed(store: Store):
    await share(store, "https://example.org/a #rust", hours_ago=1, title=HOSTILE_TITLE, note=HOSTILE_NOTE)
    async with serving(store) as client:
        body = await (await client.get("/feeds/links.atom")).text()
    assert "<script>" not in body and "<img" not in body and "</textarea>" not in body
    entry = ET.fromstring(body).find(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == HOSTILE_TITLE  # the same text, only escaped
    assert entry.find(f"{ATOM}content").get("type") == "text"
    assert entry.findtext(f"{ATOM}content") == HOSTILE_NOTE
    feed = feedparser.parse(body)
    assert not feed.bozo and feed.entries[0].title == HOSTILE_TITLE


@PRIVATE
async def test_a_tags_feed_holds_its_tag_only_and_public_shares_only(store: Store, place, who, visibility, source):
    await share(store, "https://example.org/a #rust", hours_ago=3)
    await share(store, "https://example.org/b #python", hours_ago=2)
    await share(store, "https://example.org/c #rust", hours_ago=1, who=who, place=place, visibility=visibility,
                source=source)
    async with serving(store) as client:
        answer = await client.get("/feeds/tags/Rust.atom")
        feed = feedparser.parse(await answer.read())
        empty = feedparser.parse(await (await client.get("/feeds/tags/nobody-uses-this.atom")).read())
    assert answer.status == 200 and not feed.bozo
    assert feed.feed.id == f"{BASE_URL}/feeds/tags/rust.atom" and feed.feed.title == "watchbot: #rust"
    assert [entry.link for entry in feed.entries] == ["https://example.org/a"]
    assert not empty.bozo and empty.entries == []


async def test_a_reader_holding_the_feed_gets_304_and_a_changed_feed_again(store: Store):
    await share(store, "https://example.org/a #rust", hours_ago=3)
    now = [0.0]
    async with serving(store, ticks=lambda: now[0]) as client:
        first = await client.get("/feeds/links.atom")
        etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
        assert modified == "Mon, 30 Nov 2026 09:00:00 GMT"  # the newest share
        same = await client.get("/feeds/links.atom", headers={"If-None-Match": etag})
        assert same.status == 304 and await same.read() == b"" and same.headers["ETag"] == etag
        assert (await client.get("/feeds/links.atom", headers={"If-Modified-Since": modified})).status == 304
        await share(store, "https://example.org/b #rust", hours_ago=1)
        now[0] += KEEP_SECONDS  # the feed as it was is given for KEEP_SECONDS at most
        changed = await client.get("/feeds/links.atom", headers={"If-None-Match": etag,
                                                                  "If-Modified-Since": modified})
        assert changed.status == 200 and changed.headers["ETag"] != etag
        assert len(feedparser.parse(await changed.read()).entries) == 2
        stale = await client.get("/feeds/links.atom", headers={"If-Modified-Since": modified})
        assert stale.status == 200


async def test_a_retag_changes_the_etag_though_no_share_is_newer(store: Store):
    [link_id] = await share(store, "https://example.org/a #rust", hours_ago=3)
    now = [0.0]
    async with serving(store, ticks=lambda: now[0]) as client:
        etag = (await client.get("/feeds/links.atom")).headers["ETag"]
        record = await LinkStore(store).get_link(link_id)
        await LinkStore(store).change_tags(link_id, add=["go"], remove=[], share_ids=[each.id for each in record.shares])
        now[0] += KEEP_SECONDS
        again = await client.get("/feeds/links.atom", headers={"If-None-Match": etag})
        assert again.status == 200 and "go" in [t.term for t in feedparser.parse(await again.read()).entries[0].tags]
