"""The digest on each outlet, pure: a Mastodon thread within the server's limit, Matrix parts
within an event's size, the same digest as JSON."""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchbot.digest.build import Digest, DigestLink, Section
from watchbot.digest.render import render_json, render_markdown, render_matrix, render_matrix_parts, render_thread
from watchbot.model import Period
from watchbot.status_text import StatusLimits, status_length

UTC = ZoneInfo("UTC")
PERIOD = Period(datetime(2026, 11, 13, 16, tzinfo=timezone.utc), datetime(2026, 11, 20, 16, tzinfo=timezone.utc))


def digest_of(sections: list[tuple[str, list[DigestLink]]], *, left_out: int = 0) -> Digest:
    links = [link for _, group in sections for link in group]
    return Digest(PERIOD, len(links) + left_out, len({n for link in links for n in link.sharers}),
                  tuple(tag for tag, _ in sections[:3]), tuple(Section(tag, tuple(group)) for tag, group in sections),
                  left_out)


def link(n: int, title: str | None = None, sharers: tuple[str, ...] = ("alice",)) -> DigestLink:
    return DigestLink(n, f"https://example.com/{n}/" + "long-path-" * 10, title, ("rust",), sharers)


def test_a_small_week_is_one_root_post_and_one_reply():
    digest = digest_of([("rust", [link(1, "Async Rust"), link(2)]), ("security", [link(3, "A CVE")])])
    root, reply = render_thread(digest, UTC)
    assert root.startswith("Tech watch 13 Nov – 20 Nov 2026: 3 links from 1 person")
    assert root.endswith("#rust #security")  # the public post's hashtags make it discoverable
    assert reply.splitlines()[0] == "#rust"
    assert "Async Rust — https://example.com/1/" in reply and "(alice)" in reply


def test_a_long_title_is_shortened_and_many_sharers_are_counted():
    many = tuple(f"person{n}" for n in range(7))
    digest = digest_of([("rust", [link(1, "word " * 300, many)])])
    [_, reply] = render_thread(digest, UTC)
    assert status_length(reply) <= 500 and "…" in reply
    assert "(person0, person1, person2, 4 more)" in reply


def test_the_thread_follows_the_servers_limit():
    digest = digest_of([("rust", [link(n, f"Title {n}") for n in range(40)])], left_out=12)
    short = render_thread(digest, UTC, StatusLimits(500))
    roomy = render_thread(digest, UTC, StatusLimits(5000))
    assert len(roomy) == 2 < len(short)
    assert short[-1].endswith("And 12 more in the archive.")


def test_matrix_parts_split_between_sections_when_an_event_would_be_too_big():
    digest = digest_of([(f"tag{t}", [link(t * 100 + n, "x" * 200) for n in range(30)]) for t in range(8)])
    parts = render_matrix_parts(digest, UTC, max_bytes=24_000)
    assert len(parts) > 1
    assert all(len(p.text.encode()) + len(p.html.encode()) <= 24_000 for p in parts)
    assert parts[0].text.startswith("Tech watch")
    every = "".join(p.text for p in parts)
    assert all(every.count(f"https://example.com/{t * 100 + n}/") == 1 for t in range(8) for n in range(30))
    assert render_matrix_parts(digest_of([("rust", [link(1)])]), UTC)[0].text.count("\n") == 3  # one part


def test_json_holds_the_same_digest():
    digest = digest_of([("rust", [link(1, "Async Rust", ("alice", "bob"))])], left_out=2)
    data = json.loads(json.dumps(render_json(digest)))
    assert data["sections"][0]["links"][0] == {"id": 1, "url": link(1).url, "title": "Async Rust",
                                               "tags": ["rust"], "sharers": ["alice", "bob"]}
    assert (data["links"], data["more"], data["period"]["start"]) == (3, 2, "2026-11-13T16:00:00+00:00")


titles = st.one_of(st.none(), st.text(min_size=1, max_size=400), st.just("https://title.example/" + "t" * 300))
names = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=300)


@settings(max_examples=80, deadline=None)
@given(groups=st.lists(st.tuples(
           st.from_regex(r"[a-z][a-z0-9-]{0,63}", fullmatch=True),
           st.lists(st.tuples(titles, st.lists(names, min_size=1, max_size=6)), min_size=1, max_size=12)),
           min_size=1, max_size=6, unique_by=lambda g: g[0]),
       maximum=st.sampled_from([500, 1000, 5000]))
def test_no_post_over_the_limit_no_url_cut_every_link_once(groups, maximum):
    counter = iter(range(10_000))
    sections = [(tag, [DigestLink(n := next(counter), f"https://links.example/{n}/" + "p" * (n % 200), title, (tag,),
                                  tuple(people)) for title, people in entries]) for tag, entries in groups]
    limits = StatusLimits(maximum)
    posts = render_thread(digest_of(sections), UTC, limits)
    assert all(status_length(post, limits) <= maximum for post in posts)
    urls = [url for post in posts[1:] for url in re.findall(r"https://links\.example/\d+/p*", post)]
    expected = [lnk.url for _, group in sections for lnk in group]
    assert sorted(urls) == sorted(expected)  # each once, whole


def test_matrix_parts_fit_even_with_huge_urls_and_long_names():
    huge = [DigestLink(n, f"https://huge.example/{n}/" + "x" * 2000, None, ("rust",), ("N" * 300,) * 5)
            for n in range(40)]
    parts = render_matrix_parts(digest_of([("rust", huge)]), UTC, max_bytes=24_000)
    assert len(parts) > 1 and all(len(p.text.encode()) + len(p.html.encode()) <= 24_000 for p in parts)
    assert all(part.html.count("<ul>") == part.html.count("</ul>") for part in parts)  # well-formed
    assert parts[1].text.startswith("#rust")  # a section going on names its tag again
    every = "".join(p.html for p in parts)
    assert all(every.count(f'href="https://huge.example/{n}/') == 1 for n in range(40))


def test_a_thread_never_has_an_empty_post_even_when_one_line_is_too_long_alone():
    # A URL a strict count reads in full: the unit is longer than a post by itself.
    odd = DigestLink(1, "https://odd.example/" + ")" * 600, None, ("rust",), ("alice",))
    posts = render_thread(digest_of([("rust", [link(2, "Fine"), odd, link(3, "Fine too")])]), UTC,
                          StatusLimits(500, urls_discounted=False))
    assert all(post.strip() for post in posts)
    assert all(status_length(post, StatusLimits(500, urls_discounted=False)) <= 500 for post in posts)


# -- what mutation testing found unchecked (docs/mutation.md): each outlet's words, in full ---------

PARIS = ZoneInfo("Europe/Paris")
# 23:30 UTC is the next day in Paris: the dates a reader sees are the community's.
LATE = Period(datetime(2026, 11, 13, 23, 30, tzinfo=timezone.utc), datetime(2026, 11, 20, 23, 30, tzinfo=timezone.utc))
ARCHIVE = "https://watch.example/w"
MARKED = DigestLink(1, 'https://a.example/async?x=1&y="2"', "[Rust] *async* _now_ `x` \\ back", ("rust",),
                    ("Alice", "Bob", "Ada " + "L" * 90, "Dan", "Erin"))
UNTITLED = DigestLink(2, "https://b.example/", None, ("rust",), ("Carol",))
THREE = DigestLink(3, "https://c.example/go", "Go <generics> & you", ("go",), ("Bob", "Carol", "N" * 60))
FED = DigestLink(4, "https://feed.example/post", "From a blog", (), ("Some Blog",))
FED_UNTITLED = DigestLink(5, "https://feed.example/other", None, (), ("Other Blog",))
WEEK = Digest(LATE, 5, 6, ("rust", "go"), (Section("rust", (MARKED, UNTITLED)), Section("go", (THREE,))), 2,
              (FED, FED_UNTITLED), 2)
HEAD = "Tech watch 14 Nov – 21 Nov 2026: 5 links from 6 people; top tags: rust, go; 2 from feeds."
ADA = "Ada " + "L" * 55 + "…"  # a name is cut at 60 characters in a notice
NS = "N" * 60  # and one of 60 is not


def test_the_markdown_export_reads_in_full():
    assert render_markdown(WEEK, PARIS, archive_url=ARCHIVE) == f"""# {HEAD}

## #rust

- [\\[Rust\\] \\*async\\* \\_now\\_ \\`x\\` \\\\ back](https://a.example/async?x=1&y="2") — Alice, Bob, Ada {"L" * 90}, Dan, Erin
- [https://b.example/](https://b.example/) — Carol

## #go

- [Go <generics> & you](https://c.example/go) — Bob, Carol, {NS}

## From the feeds

- [From a blog](https://feed.example/post) — Some Blog
- [https://feed.example/other](https://feed.example/other) — Other Blog

And 2 more in the archive: {ARCHIVE}.
"""


def test_the_matrix_notice_reads_in_full_as_text_and_as_html():
    notice = render_matrix(WEEK, PARIS, so_far=True)
    head = HEAD.replace("2026:", "2026 (so far):")
    assert notice.text == f"""{head}

#rust
- [Rust] *async* _now_ `x` \\ back — https://a.example/async?x=1&y="2" (Alice, Bob, {ADA}, 2 more)
- https://b.example/ (Carol)

#go
- Go <generics> & you — https://c.example/go (Bob, Carol, {NS})

From the feeds
- From a blog — https://feed.example/post (Some Blog)
- https://feed.example/other (Other Blog)

And 2 more in the archive."""
    assert notice.html == (
        f"<p><strong>{head}</strong></p>"
        '<h4>#rust</h4><ul><li><a href="https://a.example/async?x=1&amp;y=&quot;2&quot;">[Rust] *async* _now_ `x` '
        f"\\ back</a> — Alice, Bob, {ADA}, 2 more</li>"
        '<li><a href="https://b.example/">https://b.example/</a> — Carol</li></ul>'
        '<h4>#go</h4><ul><li><a href="https://c.example/go">Go &lt;generics&gt; &amp; you</a> — Bob, Carol, '
        f"{NS}</li></ul>"
        '<h4>From the feeds</h4><ul><li><a href="https://feed.example/post">From a blog</a> — Some Blog</li>'
        '<li><a href="https://feed.example/other">https://feed.example/other</a> — Other Blog</li></ul>'
        "<p>And 2 more in the archive.</p>")


def test_the_json_holds_every_field_of_the_digest():
    assert render_json(WEEK) == {
        "period": {"start": "2026-11-13T23:30:00+00:00", "end": "2026-11-20T23:30:00+00:00"},
        "links": 5, "sharers": 6, "top_tags": ["rust", "go"],
        "sections": [
            {"tag": "rust", "links": [
                {"id": 1, "url": MARKED.url, "title": MARKED.title, "tags": ["rust"], "sharers": list(MARKED.sharers)},
                {"id": 2, "url": UNTITLED.url, "title": None, "tags": ["rust"], "sharers": ["Carol"]}]},
            {"tag": "go", "links": [
                {"id": 3, "url": THREE.url, "title": THREE.title, "tags": ["go"], "sharers": list(THREE.sharers)}]}],
        "more": 2,
        "from_feeds": [{"id": 4, "url": FED.url, "title": "From a blog", "feeds": ["Some Blog"]},
                       {"id": 5, "url": FED_UNTITLED.url, "title": None, "feeds": ["Other Blog"]}],
    }


def test_the_mastodon_thread_reads_in_full():
    assert render_thread(WEEK, PARIS, StatusLimits(500), archive_url=ARCHIVE) == [
        f"{HEAD}\n\n#rust #go",
        '#rust\n[Rust] *async* _now_ `x` \\ back — https://a.example/async?x=1&y="2" (Alice, Bob, Ada…)\n'
        f"https://b.example/ (Carol)\n#go\nGo <generics> & you — https://c.example/go (Bob, Carol, {NS})\n"
        "From the feeds\nFrom a blog — https://feed.example/post (Some Blog)\n"
        f"https://feed.example/other (Other Blog)\nAnd 2 more in the archive: {ARCHIVE}.",
    ]


def test_the_summary_of_a_quiet_week():
    quiet = Digest(LATE, 0, 0, (), (), 0, (), 3)
    assert render_markdown(quiet, PARIS) == "# Tech watch 14 Nov – 21 Nov 2026: nothing shared yet (3 from feeds).\n"
    one = Digest(LATE, 1, 1, (), (Section("other", (UNTITLED,)),), 0)
    assert render_thread(one, PARIS)[0] == "Tech watch 14 Nov – 21 Nov 2026: 1 link from 1 person."


def test_a_split_notice_reads_in_full_its_last_part_the_archive_line_alone_when_it_does_not_fit():
    parts = render_matrix_parts(WEEK, PARIS, archive_url=ARCHIVE, max_bytes=700)
    assert [part.text for part in parts] == [
        f"{HEAD}\n\n#rust\n"
        f'- [Rust] *async* _now_ `x` \\ back — https://a.example/async?x=1&y="2" (Alice, Bob, {ADA}, 2 more)\n'
        "- https://b.example/ (Carol)",
        f"#go\n- Go <generics> & you — https://c.example/go (Bob, Carol, {NS})\n\n"
        "From the feeds\n- From a blog — https://feed.example/post (Some Blog)\n- https://feed.example/other (Other Blog)",
        f"And 2 more in the archive: {ARCHIVE}.",
    ]
    assert [part.html for part in parts] == [
        f"<p><strong>{HEAD}</strong></p>"
        '<h4>#rust</h4><ul><li><a href="https://a.example/async?x=1&amp;y=&quot;2&quot;">[Rust] *async* _now_ `x` '
        f'\\ back</a> — Alice, Bob, {ADA}, 2 more</li><li><a href="https://b.example/">https://b.example/</a> — '
        "Carol</li></ul>",
        f'<h4>#go</h4><ul><li><a href="https://c.example/go">Go &lt;generics&gt; &amp; you</a> — Bob, Carol, {NS}'
        '</li></ul><h4>From the feeds</h4><ul><li><a href="https://feed.example/post">From a blog</a> — Some Blog'
        '</li><li><a href="https://feed.example/other">https://feed.example/other</a> — Other Blog</li></ul>',
        f"<p>And 2 more in the archive: {ARCHIVE}.</p>",
    ]
    # With room for it, the archive line ends the last part.
    roomier = render_matrix_parts(WEEK, PARIS, archive_url=ARCHIVE, max_bytes=500)
    assert roomier[-1].text.endswith(f"(Other Blog)\n\nAnd 2 more in the archive: {ARCHIVE}.")
    assert roomier[-1].html.endswith(f"</ul><p>And 2 more in the archive: {ARCHIVE}.</p>")


def size(part) -> int:
    return len(part.text.encode()) + len(part.html.encode())


def test_a_notice_that_fits_to_the_byte_is_not_split_and_a_part_is_filled_to_within_a_byte():
    whole = render_matrix(WEEK, PARIS, archive_url=ARCHIVE)
    assert render_matrix_parts(WEEK, PARIS, archive_url=ARCHIVE, max_bytes=size(whole)) == [whole]
    assert len(render_matrix_parts(WEEK, PARIS, archive_url=ARCHIVE, max_bytes=size(whole) - 1)) > 1
    first = render_matrix_parts(WEEK, PARIS, archive_url=ARCHIVE, max_bytes=700)[0]
    # The size counted for a part is its own, and one byte more (the newline after its last line).
    assert render_matrix_parts(WEEK, PARIS, archive_url=ARCHIVE, max_bytes=size(first) + 1)[0] == first
    assert render_matrix_parts(WEEK, PARIS, archive_url=ARCHIVE, max_bytes=size(first))[0] != first


def test_at_any_size_every_part_fits_closes_its_lists_and_every_link_and_the_archive_line_appear_once():
    for max_bytes in range(420, 1500, 9):
        parts = render_matrix_parts(WEEK, PARIS, archive_url=ARCHIVE, max_bytes=max_bytes)
        assert all(size(part) <= max_bytes for part in parts), max_bytes
        assert all(part.html.count("<ul>") == part.html.count("</ul>") for part in parts), max_bytes
        every = "".join(part.html for part in parts)
        assert all(every.count(f'href="{html.escape(lnk.url)}"') == 1
                   for lnk in (MARKED, UNTITLED, THREE, FED, FED_UNTITLED)), max_bytes
        assert every.count("And 2 more in the archive") == 1 and parts[-1].text.endswith(f"{ARCHIVE}.")
        assert parts[0].html.startswith(f"<p><strong>{HEAD}</strong></p>")


def test_a_long_title_fills_its_post_to_the_servers_limit_and_no_further():
    long = Digest(LATE, 1, 1, ("rust",), (Section("rust", (DigestLink(9, "https://t.example/", "word " * 150,
                                                                       ("rust",), ("Alice",)),)),), 0)
    for limit in (200, 300, 500):
        limits = StatusLimits(limit)
        [_, reply] = render_thread(long, PARIS, limits)
        assert status_length(reply, limits) == limit


def first_unit(post: str) -> str:
    """The first line of a post, with the link line under it when it is a heading."""
    lines = post.split("\n")
    heading = lines[0] == "From the feeds" or re.fullmatch(r"#[a-z0-9-]+", lines[0])
    return "\n".join(lines[:2] if heading and len(lines) > 1 else lines[:1])


def test_thread_posts_are_filled_as_far_as_the_server_counts_and_never_further():
    sections = [(tag, [DigestLink(n, f"https://{tag}.example/{n}", f"Title {n} " + "w " * (n % 7), (tag,),
                                  ("alice",) * (1 + n % 4)) for n in range(base, base + 6)])
                for base, tag in ((0, "rust"), (10, "go"), (20, "c"))]
    digest = digest_of(sections, left_out=4)
    for limits in [StatusLimits(n) for n in range(150, 260)] + [StatusLimits(300, characters_reserved_per_url=60)]:
        posts = render_thread(digest, UTC, limits)
        assert all(status_length(post, limits) <= limits.max_characters for post in posts), limits
        for post, after in zip(posts[1:], posts[2:]):
            assert status_length(f"{post}\n{first_unit(after)}", limits) > limits.max_characters, (limits, post)


@pytest.mark.parametrize("limits", [StatusLimits(200), StatusLimits(300, characters_reserved_per_url=60),
                                    StatusLimits(300, urls_discounted=False)], ids=str)
@pytest.mark.parametrize("title", ["x" * 600, "https://title.example/" + "t" * 600], ids=["word", "url"])
@pytest.mark.parametrize("from_feeds", [False, True], ids=["shared", "from feeds"])
def test_a_title_too_long_for_a_post_is_cut_to_the_servers_own_count(limits, title, from_feeds):
    lnk = DigestLink(9, "https://t.example/", title, ("rust",), ("Alice",))
    digest = Digest(LATE, 1, 1, ("rust",), () if from_feeds else (Section("rust", (lnk,)),), 0,
                    (lnk,) if from_feeds else (), int(from_feeds))
    [_, reply] = render_thread(digest, PARIS, limits)
    # A word is cut to fill the post; a URL is never cut, and is counted as this server counts it.
    assert status_length(reply, limits) <= limits.max_characters
    if title.startswith("x") or not limits.urls_discounted:
        assert status_length(reply, limits) == limits.max_characters


def test_on_a_server_with_very_short_posts_every_post_still_fits():
    limits = StatusLimits(60)
    posts = render_thread(WEEK, PARIS, limits, archive_url=ARCHIVE)
    assert all(status_length(post, limits) <= 60 for post in posts)
    assert posts[0].startswith("Tech watch 14 Nov") and posts[-1].startswith("And 2 more in the archive")


def test_the_markdown_export_of_the_week_so_far_and_of_a_link_two_feeds_brought():
    both = DigestLink(6, "https://feed.example/both", "XKCD 927", (), ("Some Blog", "Planet"))
    digest = Digest(LATE, 0, 0, (), (), 0, (both,), 1)
    assert render_markdown(digest, PARIS, so_far=True).splitlines() == [
        "# Tech watch 14 Nov – 21 Nov 2026 (so far): nothing shared yet (1 from feeds).", "", "## From the feeds", "",
        "- [XKCD 927](https://feed.example/both) — Some Blog, Planet"]
