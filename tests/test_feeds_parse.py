"""Reading feeds from their bytes: RSS 0.91, 1.0 and 2.0, Atom, JSON Feed 1.1, and feedparser's
classic ill-formed cases (read when they have entries, refused with a reason when they have none)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from watchbot.feeds.parse import MAX_ENTRIES, NotAFeed, cve_ids, parse_feed

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
URL = "https://feeds.example/dir/feed"
RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}


def read(name: str, headers: dict[str, str] = RSS_TYPE, url: str = URL):
    return parse_feed((FIXTURES / name).read_bytes(), headers, url)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def test_an_advisory_feed_gives_links_dates_categories_and_cve_ids():
    feed = read("cert_advisories.rss")
    assert (feed.title, feed.format, feed.home, feed.warning) == (
        "CERT-EX – Security advisories", "RSS 2.0", "https://cert.example.org/advisories/", None)
    first, second, third = feed.entries
    assert first.link == "https://cert.example.org/advisories/CERTEX-2026-AVI-0912/?utm_source=rss&utm_medium=feed"
    assert first.published == utc(2026, 11, 24, 8, 12)  # +0100 read as such
    assert first.tags == ("OpenSSH", "Remote code execution")
    assert first.cve_ids == ("CVE-2026-41022", "CVE-2026-41023")
    # The summary is plain text: tags gone, entities read, on one line.
    assert first.summary.startswith("Multiple vulnerabilities were found in OpenSSH. They allow a remote attacker "
                                    "to execute arbitrary code & to bypass")
    # CVE ids in any case, in the summary and in the link, each once.
    assert second.cve_ids == ("CVE-2026-39990",)
    assert third.cve_ids == ("CVE-2026-38001",)
    # The dedupe keys: the guid, the link's canonical key (tracking parameters dropped), title and date.
    assert first.keys[:2] == ("id:CERTEX-2026-AVI-0912",
                              "link:https://cert.example.org/advisories/CERTEX-2026-AVI-0912/")
    assert first.keys[2].startswith("hash:") and first.key == "id:CERTEX-2026-AVI-0912"


def test_an_atom_blog_gives_absolute_links_and_plain_titles():
    feed = read("atom_blog.atom", {"Content-Type": "application/atom+xml"})
    assert (feed.title, feed.format, feed.home) == ("Notes from the Engine Room", "Atom 1.0", "https://blog.example.net/")
    fsync, core = feed.entries
    assert fsync.title == "Why fsync lies to you"  # an HTML title, as text
    assert fsync.link == "https://blog.example.net/2026/11/fsync-lies/"
    assert core.link == "https://blog.example.net/2026/11/core-dumps/"  # relative to xml:base
    assert fsync.summary == "Your database says the write is durable. Your disk disagrees."
    assert fsync.published == utc(2026, 11, 21, 8, 30)
    assert core.published == utc(2026, 11, 14, 6, 0)
    assert fsync.tags == ("storage", "linux")
    assert fsync.key == "id:tag:blog.example.net,2026-11-21:/fsync-lies"


def test_rss_1_0_and_0_91_are_read_too():
    rdf = read("rss10.rdf", {"Content-Type": "application/rdf+xml"})
    assert (rdf.format, [e.title for e in rdf.entries]) == (
        "RSS 1.0", ["Rust Drivers Land In the Mainline Kernel", "SQLite Turns 26"])
    assert rdf.entries[0].published == utc(2026, 11, 22, 17, 33)
    assert rdf.entries[0].tags == ("linux",)  # dc:subject

    old = read("rss091.xml", {"Content-Type": "text/xml"})
    assert old.format == "RSS 0.91 (Netscape)"
    kernel, slink = old.entries
    # No guid and no date: the link names the entry.
    assert kernel.keys == ("link:http://oldschool.example.org/news/kernel-2.2.html",)
    assert (slink.summary, slink.published) == (None, None)


def test_a_json_feed_1_1_is_read_with_relative_links_and_untitled_posts():
    feed = read("jsonfeed11.json", {"Content-Type": "application/feed+json"})
    assert (feed.title, feed.format, feed.home) == (
        "Microblog of a Sysadmin", "JSON Feed 1.1", "https://micro.example.social/")
    article, note, relative = feed.entries
    assert article.summary == "Logical replication, a manual and patience."
    assert article.tags == ("postgresql", "Ops Life")
    assert article.published == utc(2026, 11, 23, 9, 15)
    # A post without a title: its first words stand for one; external_url is its link.
    assert note.title == "Everybody should read this write-up on CVE-2026-40404 in glibc, it is excellent…"
    assert note.link == "https://lwn.example.net/Articles/998877/"
    assert (note.key, note.cve_ids) == ("id:4711", ("CVE-2026-40404",))
    assert relative.link == "https://feeds.example/2026/11/21/note.html"
    assert relative.published == utc(2026, 11, 21, 7, 0)  # date_modified when not published
    # Served as plain JSON, or as nothing in particular, it is still recognised.
    assert read("jsonfeed11.json", {"Content-Type": "text/plain"}).format == "JSON Feed 1.1"


@pytest.mark.parametrize(("name", "warning", "titles"), [
    ("illformed_undeclared_entity.xml", "not well-formed XML: undefined entity at line 4",
     ["Français & Unicode in URLs", "Second post…"]),
    ("illformed_bad_encoding.xml",
     "its encoding is not the one it declares (document declared as utf-8, but parsed as windows-1252)",
     ["Durcir SSH en cinq étapes"]),
    ("illformed_unclosed_tags.xml", "not well-formed XML: mismatched tag at line 10", ["Tags left open"]),
])
def test_an_ill_formed_feed_with_entries_is_read_with_a_warning(name: str, warning: str, titles: list[str]):
    feed = read(name)
    assert feed.warning == warning
    assert [entry.title for entry in feed.entries] == titles


def test_the_ill_formed_feeds_keep_their_text_right():
    assert read("illformed_undeclared_entity.xml").title == "Café Hackers Blog"
    entry = read("illformed_bad_encoding.xml").entries[0]
    assert entry.summary == "Clés, ciphers et fail2ban : l’essentiel."


@pytest.mark.parametrize(("body", "content_type", "reason"), [
    (b"", "application/rss+xml", f"{URL} sent nothing (an empty body)"),
    (b"<!doctype html><html><head><title>Blog</title></head><body>Hi</body></html>", "text/html",
     f"{URL} is a web page, not a feed; give the address of its RSS or Atom feed"),
    (b"<html><body>served as XML</body></html>", "text/xml",
     f"{URL} is a web page, not a feed; give the address of its RSS or Atom feed"),
    (b"<rss version='2.0'><channel><title>Cut", "text/xml",
     f"{URL} is not a feed that can be read (not well-formed XML: no element found at line 1) and has no entries"),
    (b'{"items": [', "application/json", f"{URL} is not valid JSON (Expecting value: line 1 column 12 (char 11))"),
    (b'{"name": "a package.json"}', "application/json",
     f"{URL} is JSON but not a JSON Feed (it has no list of items)"),
    (b'{"items": []}', "application/json", f"{URL} is JSON but not a JSON Feed (no jsonfeed.org version)"),
    (b"<note><to>Tove</to></note>", "application/xml", f"{URL} is not an RSS, Atom or JSON feed"),
])
def test_what_is_not_a_feed_is_refused_with_one_clear_reason(body: bytes, content_type: str, reason: str):
    with pytest.raises(NotAFeed) as refused:
        parse_feed(body, {"Content-Type": content_type}, URL)
    assert refused.value.reason == reason


def test_a_body_naming_a_local_file_is_read_as_bytes_never_as_that_file(tmp_path: Path):
    secret = tmp_path / "secret.xml"
    secret.write_text("<rss version='2.0'><channel><item><title>secret</title></item></channel></rss>")
    with pytest.raises(NotAFeed):
        parse_feed(str(secret).encode(), {"Content-Type": "text/plain"}, URL)


def test_a_well_formed_empty_feed_is_a_feed_with_no_entries():
    feed = parse_feed(b"<?xml version='1.0'?><rss version='2.0'><channel><title>New blog</title></channel></rss>",
                      RSS_TYPE, URL)
    assert (feed.title, feed.entries) == ("New blog", ())


def test_entries_repeated_in_a_feed_count_once_and_entries_without_a_usable_link_have_none():
    feed = parse_feed(b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Twice</title>
        <item><title>A</title><link>https://a.example/1?utm_source=x</link></item>
        <item><title>A again</title><link>https://a.example/1</link></item>
        <item><title>Script</title><link>javascript:alert(1)</link><guid>s</guid></item>
        <item><title>No link, no id</title><pubDate>Sun, 22 Nov 2026 12:00:00 GMT</pubDate></item>
        </channel></rss>""", RSS_TYPE, URL)
    assert [entry.title for entry in feed.entries] == ["A", "Script", "No link, no id"]
    # A permalink guid is a URL (feedparser makes it absolute): still the entry's id.
    assert feed.entries[1].link is None and feed.entries[1].key == "id:https://feeds.example/dir/s"
    assert feed.entries[2].key.startswith("hash:")


def test_a_feed_lists_at_most_a_thousand_entries():
    items = "".join(f"<item><link>https://many.example/{n}</link></item>" for n in range(MAX_ENTRIES + 5))
    feed = parse_feed(f"<rss version='2.0'><channel>{items}</channel></rss>".encode(), RSS_TYPE, URL)
    assert len(feed.entries) == MAX_ENTRIES


def test_cve_ids_are_found_in_any_case_and_given_once_in_upper_case():
    assert cve_ids("Fix for cve-2024-3094 (xz)", "https://nvd.example/vuln/detail/CVE-2024-3094",
                   "and CVE-2021-44228, CVE-2021-4422812 but not CVE-21-1 nor XCVE-2020-1234") == (
        "CVE-2024-3094", "CVE-2021-44228", "CVE-2021-4422812")
    assert cve_ids(None, "") == ()


def test_a_hostile_feed_neither_expands_entities_nor_reads_files():
    laughs = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
    body = (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol0 "lol">{laughs}'
            '<!ENTITY xxe SYSTEM "file:///etc/passwd">]><rss version="2.0"><channel><title>&lol9;</title>'
            "<item><title>&xxe;</title><link>https://a.example/</link></item></channel></rss>")
    feed = parse_feed(body.encode(), RSS_TYPE, URL)
    assert len(feed.title or "") < 100
    assert "root:" not in (feed.entries[0].title or "")
