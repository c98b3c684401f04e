"""The digest on each outlet, pure: a Mastodon thread within the server's limit, Matrix parts
within an event's size, the same digest as JSON."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from watchbot.digest.build import Digest, DigestLink, Section
from watchbot.digest.render import render_json, render_matrix_parts, render_thread
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
