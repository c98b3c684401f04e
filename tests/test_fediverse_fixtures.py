"""Statuses as Mastodon, GoToSocial, Pleroma and Akkoma really render them, read as a user would.

Each file in tests/fixtures/fediverse/ is a Mastodon-API status whose `content` was copied from
that project's own documentation, tests or sample data. The file's "_source" gives the repository,
path and commit, and says which fields were filled in around HTML that came without a status.
The expectations below are what a person looking at the status sees: the links it shares (full,
never the shortened text, never a profile or tag page), its hashtags, its text without the
hidden parts, and a command without the mentions in front of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from watchbot.model import Source, Visibility
from watchbot.networks.fediverse.events import command_text, html_to_text, post_from_status, status_links

FIXTURES = Path(__file__).parent / "fixtures" / "fediverse"


@dataclass(frozen=True)
class Seen:
    """What a user notices in a status."""

    links: tuple[str, ...]  # the pages it shares, in order
    tags: tuple[str, ...]  # its hashtags, as the server lists them in tags[]
    text: str  # its text, as shown (hidden parts left out)
    command: str  # the text with the leading @mentions taken off


SEEN = {
    # Mastodon, the Status entity example of docs.joinmastodon.org: a long link shortened to
    # "theguardian.com/money/2019/dec" by invisible/ellipsis spans (and the docs' "</span}" typo).
    "mastodon_docs_status_long_link.json": Seen(
        links=("https://www.theguardian.com/money/2019/dec/07/i-lost-my-193000-inheritance-with-one-wrong-digit-on-my-sort-code",),
        tags=(),
        text='"I lost my inheritance with one wrong digit on my sort code"\ntheguardian.com/money/2019/dec',
        command='"I lost my inheritance with one wrong digit on my sort code" theguardian.com/money/2019/dec',
    ),
    # Mastodon docs, a mention notification: "@trwnh sup!" with an h-card mention.
    "mastodon_docs_mention.json": Seen(links=(), tags=(), text="@trwnh sup!", command="sup!"),
    # Mastodon docs, hashtag timeline: a hashtag-only status, rel="tag".
    "mastodon_docs_hashtag.json": Seen(links=(), tags=("cats",), text="#cats", command="#cats"),
    # Mastodon docs, hashtag timeline: a chaos.social status seen from mastodon.social. Its hashtag
    # links go to chaos.social while tags[] gives mastodon.social URLs, and they have no rel="tag".
    "mastodon_docs_remote_hashtags_and_hcard.json": Seen(
        links=(),
        tags=("qualitätskatzen", "cats", "mastocats", "catsofmastodon", "greece", "agistri"),
        text="Caught on the hop. 😺 \n#Qualitätskatzen #cats #mastocats #catsofmastodon #Greece #Agistri\n"
             "(photo: @kernpanik | license: CC BY-NC-SA 4.0)",
        command="Caught on the hop. 😺 #Qualitätskatzen #cats #mastocats #catsofmastodon #Greece #Agistri "
                "(photo: @kernpanik | license: CC BY-NC-SA 4.0)",
    ),
    # Mastodon's own sample data: a quote post. Mastodon puts "RE: <link to the quoted post>" in a
    # <p class="quote-inline"> for clients without quotes, and its web UI hides that paragraph: the
    # reader sees the text and the quoted post under it, not a shared link.
    "mastodon_dev_rake_quote_fallback.json": Seen(
        links=(),
        tags=(),
        text="This is a self-quote of a remote formatted post",
        command="This is a self-quote of a remote formatted post",
    ),
    # GoToSocial, its API test's expected status: a hashtag (rel="tag nofollow ...").
    "gotosocial_api_status_hashtag.json": Seen(
        links=(),
        tags=("welcome",),
        text="hello world! #welcome ! first post on the instance :rainbow: !",
        command="hello world! #welcome ! first post on the instance :rainbow: !",
    ),
    # GoToSocial text formatter: an h-card mention, then a hashtag, separated by <br>s.
    "gotosocial_mention_and_hashtag.json": Seen(
        links=(),
        tags=("hashtag",),
        text="Another test @foss_satan\n\n#Hashtag\n\nText\n\n:rainbow:",
        command="Another test @foss_satan #Hashtag Text :rainbow:",
    ),
    # GoToSocial text formatter: the href is percent-encoded, the visible text is not.
    "gotosocial_utf8_link.json": Seen(
        links=("https://example.org/s%C3%B6me_url",),
        tags=(),
        text="here's a link with utf-8 characters in it: https://example.org/söme_url",
        command="here's a link with utf-8 characters in it: https://example.org/söme_url",
    ),
    # Pleroma (quoted by Pleroma-FE's tests): two h-card mentions (data-user, rel="ugc") then "nice".
    "pleroma_two_mentions.json": Seen(links=(), tags=(), text="@benis @hj nice", command="nice"),
    # Pleroma formatter: hashtags are class="hashtag" (no "mention") with rel="tag ugc".
    "pleroma_hashtags.json": Seen(
        links=(), tags=("cofe", "2hu"), text="I love #cofe and #2hu", command="I love #cofe and #2hu",
    ),
    # Pleroma formatter: a bare link, raw "&" and a fragment kept in the href.
    "pleroma_link.json": Seen(
        links=("https://www.youtube.com/watch?v=8Zg1-TufF%20zY?x=1&y=2#blabla",),
        tags=(),
        text="Hey, check out https://www.youtube.com/watch?v=8Zg1-TufF%20zY?x=1&y=2#blabla .",
        command="Hey, check out https://www.youtube.com/watch?v=8Zg1-TufF%20zY?x=1&y=2#blabla .",
    ),
    # Akkoma, markdown: two h-card mentions of the same account and a link shown as "google.com".
    "akkoma_markdown_mentions_and_link.json": Seen(
        links=("http://google.com",),
        tags=(),
        text="hello world\nanother @user__test and @user__test google.com paragraph",
        command="hello world another @user__test and @user__test google.com paragraph",
    ),
}

NAMES = sorted(SEEN)


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def instance_of(status: dict) -> str:
    return urlsplit(status["uri"]).netloc


class _Anchors(HTMLParser):
    """Every <a> of a status: its href, classes, rel and visible text; and the hidden span text.

    Kept apart from the parser under test, so the checks below do not trust its own reading."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[dict] = []
        self.hidden: list[str] = []
        self._open: dict | None = None
        self._spans: list[bool] = []

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        if tag == "a":
            self._open = {"href": (attrs.get("href") or "").strip(), "classes": set((attrs.get("class") or "").split()),
                          "rel": set((attrs.get("rel") or "").split()), "text": ""}
            self.anchors.append(self._open)
        elif tag == "span":
            self._spans.append("invisible" in (attrs.get("class") or "").split())
            if self._spans[-1]:
                self.hidden.append("")

    def handle_endtag(self, tag) -> None:
        if tag == "a":
            self._open = None
        elif tag == "span" and self._spans:
            self._spans.pop()

    def handle_data(self, data) -> None:
        if self._open is not None:
            self._open["text"] += data
        if self._spans and self._spans[-1]:
            self.hidden[-1] += data


def anchors_of(content: str) -> _Anchors:
    reader = _Anchors()
    reader.feed(content)
    reader.close()
    return reader


def test_every_fixture_is_checked_and_says_where_it_comes_from():
    assert sorted(p.name for p in FIXTURES.glob("*.json")) == NAMES
    servers = set()
    for name in NAMES:
        status = load(name)
        source = status["_source"]
        assert source["repository"] and source["path"] and len(source["commit"]) == 40, name
        assert {"content", "mentions", "tags", "account", "visibility", "uri", "id", "created_at"} <= status.keys()
        servers.add(name.split("_")[0])
    assert servers == {"mastodon", "gotosocial", "pleroma", "akkoma"}


@pytest.mark.parametrize("name", NAMES)
def test_the_shared_links_are_exactly_the_real_links(name):
    status = load(name)
    assert tuple(status_links(status)) == SEEN[name].links
    assert post_from_status(status, instance_of(status)).links == SEEN[name].links


@pytest.mark.parametrize("name", NAMES)
def test_no_mention_hashtag_profile_link_nor_shortened_text_is_filed(name):
    status = load(name)
    links = status_links(status)
    anchors = anchors_of(status["content"]).anchors
    mention_and_tag_pages = {m["url"] for m in status["mentions"]} | {t["url"] for t in status["tags"]}
    mention_and_tag_pages |= {a["href"] for a in anchors if a["classes"] & {"mention", "hashtag"} or "tag" in a["rel"]}
    assert not set(links) & mention_and_tag_pages
    # Every link is an <a>'s full href, never what the <a> shows when that differs.
    hrefs = {a["href"] for a in anchors}
    shown = {a["text"] for a in anchors} - hrefs
    assert set(links) <= hrefs
    assert not set(links) & shown


@pytest.mark.parametrize("name", NAMES)
def test_hashtags_come_through_extra_tags(name):
    status = load(name)
    post = post_from_status(status, instance_of(status))
    assert post.extra_tags == SEEN[name].tags
    # Each hashtag the reader sees is one the post carries.
    shown = {a["text"].lstrip("#").casefold() for a in anchors_of(status["content"]).anchors
             if a["text"].startswith("#")}
    assert shown <= {tag.casefold() for tag in post.extra_tags}


@pytest.mark.parametrize("name", NAMES)
def test_the_text_reads_as_shown_without_the_hidden_parts(name):
    status = load(name)
    text = html_to_text(status["content"])
    assert text == SEEN[name].text
    for hidden in anchors_of(status["content"]).hidden:
        assert not hidden or hidden not in text


@pytest.mark.parametrize("name", NAMES)
def test_a_command_is_the_text_without_the_leading_mentions(name):
    status = load(name)
    assert command_text(status, "watch") == SEEN[name].command


@pytest.mark.parametrize("name", NAMES)
def test_the_post_keeps_who_where_and_how_visible(name):
    status = load(name)
    instance = instance_of(status)
    post = post_from_status(status, instance)
    acct = status["account"]["acct"]
    assert post.source is Source.MASTODON
    assert post.author_id == (acct if "@" in acct else f"{acct}@{instance}")
    assert post.event_id == status["uri"]
    assert post.visibility is {"public": Visibility.PUBLIC, "unlisted": Visibility.UNLISTED}[status["visibility"]]
    assert post.html == status["content"]
