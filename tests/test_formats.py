"""Export and import formats: round trips, what publishing leaves out, and files in the wild."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest

from watchbot.formats import (
    FORMATS,
    ImportProblem,
    count_rows,
    detect_format,
    read_import,
    write_export,
)
from watchbot.formats.atom import entry_id
from watchbot.formats.fields import BACKUP_COLUMNS
from watchbot.model import Link, LinkRecord, Page, PageState, Post, Share, Source, Visibility
from watchbot.published import clean_url

ATOM = "{http://www.w3.org/2005/Atom}"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
IMPORT_TIME = datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)
T0 = datetime(2026, 1, 5, 9, 15, 30, 123456, tzinfo=timezone.utc)


# ---------------------------------------------------------------------------------------------
# Building records


def make_share(
    share_id: int,
    url: str,
    *,
    sharer: str = "@alice:example.org",
    name: str = "Alice",
    source: Source = Source.MATRIX,
    place: str = "!watch:example.org",
    event_id: str | None = None,
    visibility: Visibility = Visibility.PUBLIC,
    at: datetime = T0,
    note: str | None = None,
    tags: tuple[str, ...] = (),
    title: str | None = None,
    description: str | None = None,
) -> Share:
    return Share(
        id=share_id,
        link_id=0,  # set by make_record
        url=url,
        sharer_id=sharer,
        sharer_name=name,
        source=source,
        place=place,
        event_id=event_id,
        visibility=visibility,
        shared_at=at,
        note=note,
        tags=tags,
        title=title,
        description=description,
    )


def make_record(
    link_id: int,
    key: str,
    shares: list[Share],
    *,
    title: str | None = None,
    description: str | None = None,
) -> LinkRecord:
    shares = [Share(**{**_fields(share), "link_id": link_id}) for share in shares]
    link = Link(
        id=link_id,
        key=key,
        url=shares[0].url,
        title=title,
        description=description,
        tags=tuple(sorted({tag for share in shares for tag in share.tags})),
        share_count=len(shares),
        first_sharer_name=shares[0].sharer_name,
        first_shared_at=shares[0].shared_at,
    )
    # The title and description are the page's, fetched from the URL published (as the bot does).
    public = sorted((s for s in shares if s.visibility.publishable), key=lambda s: (s.shared_at, s.id))
    page = Page(PageState.OK, title=title, description=description,
                fetched_url=clean_url(public[0].url)) if public and (title or description) else None
    return LinkRecord(link=link, shares=tuple(shares), page=page)


def _fields(share: Share) -> dict:
    return {name: getattr(share, name) for name in Share.__slots__}


def expected_post(record: LinkRecord, share: Share, fmt: str = "csv") -> Post:
    """What importing a backup row must give back: the share, as the Post that made it (with the
    title and description it gave itself from JSON; the link's, which each CSV row repeats, from CSV)."""
    given = share if fmt == "json" else record.link
    return Post(
        source=share.source,
        place=share.place,
        author_id=share.sharer_id,
        author_name=share.sharer_name,
        text="",
        event_id=share.event_id,
        visibility=share.visibility,
        at=share.shared_at,
        note=share.note,
        extra_tags=share.tags,
        links=(share.url,),
        title=given.title,
        description=given.description,
    )


def sample_records() -> list[LinkRecord]:
    return [
        make_record(
            1,
            "https://example.org/async",
            [
                make_share(
                    1,
                    "https://example.org/async?utm_source=x",
                    event_id="$ev1",
                    note='Great, "must read", really',
                    tags=("python", "asyncio"),
                ),
                make_share(
                    2,
                    "https://example.org/async",
                    sharer="bob@fosstodon.org",
                    name="Bob",
                    source=Source.MASTODON,
                    place="fosstodon.org",
                    event_id="111222333",
                    visibility=Visibility.UNLISTED,
                    at=T0 + timedelta(days=2),
                    note="line one\nline two,\r\nline three",
                    tags=("python",),
                ),
                make_share(
                    3,
                    "https://example.org/async#private",
                    sharer="@carol:example.org",
                    name="Carol",
                    event_id="$ev3",
                    visibility=Visibility.PRIVATE,
                    at=T0 + timedelta(days=3),
                    note="secret remark",
                    tags=("internal",),
                    title="Carol's own title",
                ),
            ],
            title="Async Python, “déjà vu” — 非同期",
            description="A guide, with commas, and \"quotes\".",
        ),
        make_record(
            2,
            "https://example.net/secret",
            [
                make_share(
                    4,
                    "https://example.net/secret",
                    name="Alice",
                    event_id="$ev4",
                    visibility=Visibility.DIRECT,
                    at=T0 + timedelta(hours=5),
                    tags=("hidden",),
                    title="Only shared privately",
                    description="Said in a direct chat",
                ),
            ],
            title="Only shared privately",
        ),
        make_record(
            3,
            "https://example.com/cli",
            [
                make_share(
                    5,
                    "https://example.com/cli",
                    sharer="cli-user",
                    name="Dana 🚀",
                    source=Source.CLI,
                    place="cli",
                    event_id=None,
                    at=T0 + timedelta(days=1),
                ),
            ],
        ),
    ]


def export(records: list[LinkRecord], fmt: str, **options) -> tuple[str, int]:
    out = io.StringIO()
    count = write_export(records, fmt, out, now=NOW, **options)
    return out.getvalue(), count


def imported(text: str, fmt: str, **options) -> list[tuple[int, Post] | ImportProblem]:
    items = list(read_import(text, fmt, now=IMPORT_TIME, **options))
    for item in items:
        if isinstance(item, ImportProblem):
            assert_problem_is_well_put(item)
    return items


def assert_problem_is_well_put(problem: ImportProblem) -> None:
    # The CLI goes on with "; skipped.": a message of its own ending in "." would double it.
    assert not problem.message.endswith("."), problem
    assert problem.message[:1].isupper(), problem
    assert problem.line >= 1, problem


def posts_of(items) -> list[Post]:
    assert not [item for item in items if isinstance(item, ImportProblem)], items
    return [post for _, post in items]


# ---------------------------------------------------------------------------------------------
# Backups: CSV and JSON


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_backup_round_trip_gives_back_every_share(fmt):
    records = sample_records()
    text, count = export(records, fmt)
    assert count == 3
    expected = [expected_post(record, share, fmt) for record in records for share in record.shares]
    assert posts_of(imported(text, fmt)) == expected


def test_a_json_export_from_before_shares_kept_their_titles_gives_a_link_shared_both_ways_no_public_title():
    document = json.loads(export(sample_records(), "json")[0])
    for link in document["links"]:
        for share in link["shares"]:
            del share["title"], share["description"]
    posts = posts_of(imported(json.dumps(document), "json"))
    # The first link was shared publicly and privately: its title may be a private share's, so only
    # the private share gets it. A link shared one way only gives its title to every share.
    assert [(post.visibility.value, post.title) for post in posts] == [
        ("public", None), ("unlisted", None), ("private", "Async Python, “déjà vu” — 非同期"),
        ("direct", "Only shared privately"), ("public", None)]
    assert [post.description for post in posts][2:4] == ['A guide, with commas, and "quotes".', None]


FORMULAS = ['=HYPERLINK("https://evil.example","click")', "+1+1", "-2+3", "@SUM(A1:A2)", "\tx", "\rx",
            "'=already quoted", "''+twice", "'plain quote", "a = b"]


def test_csv_cells_a_spreadsheet_would_run_are_neutralised_and_read_back_exactly():
    record = make_record(1, "https://example.org/x", [
        make_share(index, "https://example.org/x", event_id=f"$f{index}", name=formula, note=formula)
        for index, formula in enumerate(FORMULAS, 1)], title="=cmd|' /C calc'!A0", description="@attack")
    text, _ = export([record], "csv")
    rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
    assert not [cell for row in rows for cell in row if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert dict(zip(BACKUP_COLUMNS, rows[0]))["title"] == "'=cmd|' /C calc'!A0"
    assert [dict(zip(BACKUP_COLUMNS, row))["note"] for row in rows][-4:] == [
        "''=already quoted", "'''+twice", "'plain quote", "a = b"]
    expected = [expected_post(record, share) for share in record.shares]
    assert posts_of(imported(text, "csv")) == expected


def test_csv_has_the_documented_columns_and_spellings():
    text, _ = export(sample_records(), "csv")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == BACKUP_COLUMNS == (
        "url", "title", "description", "sharer_id", "sharer_name", "shared_at",
        "source", "place", "event_id", "visibility", "note", "tags",
    )  # fmt: skip
    assert len(rows) == 1 + 5  # one row per share, private ones included
    first = dict(zip(rows[0], rows[1]))
    assert first["url"] == "https://example.org/async?utm_source=x"
    assert first["shared_at"] == "2026-01-05T09:15:30.123456+00:00"
    assert first["tags"] == "python asyncio"
    assert first["visibility"] == "public"
    cli = dict(zip(rows[0], rows[5]))
    assert cli["event_id"] == "" and cli["source"] == "cli" and cli["title"] == ""
    assert {dict(zip(rows[0], row))["visibility"] for row in rows[1:]} == {
        "public", "unlisted", "private", "direct",
    }  # fmt: skip


def test_json_document_shape():
    text, count = export(sample_records(), "json")
    document = json.loads(text)
    assert list(document) == ["format", "version", "exported_at", "links"]
    assert document["format"] == "watchbot-export" and document["version"] == 1
    assert document["exported_at"] == "2026-03-01T12:00:00+00:00"
    link = document["links"][0]
    assert list(link) == ["url", "key", "title", "description", "tags", "shares"]
    assert list(link["shares"][0]) == [
        "url", "sharer_id", "sharer_name", "shared_at", "source", "place",
        "event_id", "visibility", "note", "tags", "title", "description",
    ]  # fmt: skip
    assert document["links"][2]["shares"][0]["event_id"] is None
    assert "非同期" in text and "🚀" in text  # UTF-8 kept, not \u-escaped
    assert text.startswith('{\n  "format"')  # pretty-printed


def test_naive_datetimes_are_taken_as_utc():
    record = make_record(1, "k", [make_share(1, "https://a.example/", at=datetime(2026, 1, 1, 10))])
    text, _ = export([record], "csv")
    assert "2026-01-01T10:00:00+00:00" in text


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_is_deterministic(fmt):
    assert export(sample_records(), fmt, site_url="https://w.example/feed") == export(
        sample_records(), fmt, site_url="https://w.example/feed"
    )


def test_unknown_formats_are_refused_with_a_sentence():
    with pytest.raises(ValueError, match="Unknown export format 'rss'"):
        write_export([], "rss", io.StringIO())
    with pytest.raises(ValueError, match="Unknown import format 'atom'"):
        read_import("", "atom")


# ---------------------------------------------------------------------------------------------
# Publishing: bookmarks and Atom


def test_bookmarks_export_holds_publishable_shares_only():
    text, count = export(sample_records(), "html", title="Our <watch>")
    assert count == 2
    assert text.startswith("<!DOCTYPE NETSCAPE-Bookmark-file-1>\n")
    assert "<TITLE>Our &lt;watch&gt;</TITLE>" in text
    assert "example.net/secret" not in text  # its only share is direct
    assert "secret remark" not in text and "internal" not in text and "#private" not in text
    first_date = int(T0.timestamp())
    assert (
        f'<DT><A HREF="https://example.org/async" ADD_DATE="{first_date}" '
        'TAGS="asyncio,python">Async Python, “déjà vu” — 非同期</A>'
    ) in text
    # Two noting sharers: each note is credited; quotes are escaped.
    assert "<DD>Alice: Great, &quot;must read&quot;, really\n\nBob: line one" in text
    # A link with no title is listed under its URL.
    assert '>https://example.com/cli</A>' in text


def test_bookmarks_export_reads_back():
    text, _ = export(sample_records(), "html")
    posts = posts_of(imported(text, "html", default_sharer="me"))
    assert [post.links for post in posts] == [
        ("https://example.org/async",),
        ("https://example.com/cli",),
    ]
    assert posts[0].extra_tags == ("asyncio", "python")
    assert posts[0].at == T0.replace(microsecond=0)
    assert posts[0].title == "Async Python, “déjà vu” — 非同期"
    assert posts[0].note.startswith('Alice: Great, "must read", really\n\nBob: line one')
    assert posts[1].note is None


def test_atom_feed_structure():
    text, count = export(sample_records(), "atom", title="Tech watch", site_url="https://w.example/feed.xml")
    assert count == 2
    feed = ET.fromstring(text)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}title") == "Tech watch"
    assert feed.findtext(f"{ATOM}id") == "https://w.example/feed.xml"
    assert feed.find(f"{ATOM}link").attrib == {"rel": "self", "href": "https://w.example/feed.xml"}
    # The newest publishable share dates the feed; the private one three days in does not.
    assert feed.findtext(f"{ATOM}updated") == "2026-01-07T09:15:30Z"
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 2
    first = entries[0]
    assert first.findtext(f"{ATOM}id") == entry_id("https://example.org/async")
    assert first.findtext(f"{ATOM}id").startswith("urn:uuid:")
    assert first.findtext(f"{ATOM}title") == "Async Python, “déjà vu” — 非同期"
    # Published without its tracking parameter (the backups keep the URL as posted).
    assert first.find(f"{ATOM}link").get("href") == "https://example.org/async"
    assert first.findtext(f"{ATOM}published") == "2026-01-05T09:15:30Z"
    assert first.findtext(f"{ATOM}updated") == "2026-01-07T09:15:30Z"
    assert first.findtext(f"{ATOM}author/{ATOM}name") == "Alice"
    assert [c.get("term") for c in first.findall(f"{ATOM}category")] == ["asyncio", "python"]
    content = first.find(f"{ATOM}content")
    assert content.get("type") == "text"
    assert "secret remark" not in content.text and "Bob: line one" in content.text
    assert first.findtext(f"{ATOM}summary") == 'A guide, with commas, and "quotes".'
    second = entries[1]
    assert second.findtext(f"{ATOM}title") == "https://example.com/cli"
    assert second.find(f"{ATOM}content") is None and second.find(f"{ATOM}category") is None
    assert second.findtext(f"{ATOM}author/{ATOM}name") == "Dana 🚀"


def test_atom_without_site_url_has_no_self_link_and_a_stable_id():
    text, _ = export(sample_records(), "atom")
    feed = ET.fromstring(text)
    assert feed.find(f"{ATOM}link") is None
    assert feed.findtext(f"{ATOM}id").startswith("urn:uuid:")


def test_atom_entry_ids_depend_on_the_key_alone():
    one = make_record(1, "https://same.example/", [make_share(1, "https://same.example/")])
    other = make_record(99, "https://same.example/", [make_share(7, "https://same.example/?x")])
    ids = [ET.fromstring(export([r], "atom")[0]).findtext(f"{ATOM}entry/{ATOM}id") for r in (one, other)]
    assert ids[0] == ids[1] != entry_id("https://other.example/")


def test_atom_of_only_private_links_is_an_empty_valid_feed():
    records = [r for r in sample_records() if r.link.id == 2]
    text, count = export(records, "atom")
    assert count == 0
    feed = ET.fromstring(text)
    assert feed.findall(f"{ATOM}entry") == []
    assert feed.findtext(f"{ATOM}updated") == "2026-03-01T12:00:00Z"  # `now`, for want of entries


def test_control_characters_do_not_break_the_feed_or_the_bookmarks():
    record = make_record(
        1,
        "k",
        [make_share(1, "https://a.example/", note="bell\x07 and nul\x00 and \ufffe\uffffend", tags=("t\x01",))],
        title="Title\x0b with\x1b controls",
    )
    text, _ = export([record], "atom")
    entry = ET.fromstring(text).find(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == "Title with controls"
    assert entry.findtext(f"{ATOM}content") == "bell and nul and end"
    html_text, _ = export([record], "html")
    assert "\x07" not in html_text and "\x00" not in html_text and "\x0b" not in html_text


# ---------------------------------------------------------------------------------------------
# Bookmark files from elsewhere

FIREFOX = """<!DOCTYPE NETSCAPE-Bookmark-file-1>
<!-- This is an automatically generated file.
     It will be read and overwritten.
     DO NOT EDIT! -->
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'self'; script-src 'none'; img-src data: *; object-src 'none'"></meta>
<TITLE>Bookmarks</TITLE>
<H1>Bookmarks Menu</H1>

<DL><p>
    <DT><H3 ADD_DATE="1700000000" LAST_MODIFIED="1700000100">Mozilla Firefox</H3>
    <DL><p>
        <DT><A HREF="https://support.mozilla.org/products/firefox" ADD_DATE="1700000001" LAST_MODIFIED="1700000002" ICON_URI="https://support.mozilla.org/favicon.ico" ICON="data:image/png;base64,iVBORw0KGgo=">Get Help</A>
    </DL><p>
    <HR>
    <DT><H3 ADD_DATE="1700000000" LAST_MODIFIED="1700000100" PERSONAL_TOOLBAR_FOLDER="true">Bookmarks Toolbar</H3>
    <DL><p>
        <DT><A HREF="https://docs.python.org/3/library/asyncio.html" ADD_DATE="1700001000" LAST_MODIFIED="1700001000" SHORTCUTURL="aio" TAGS="python,asyncio">asyncio &mdash; Asynchronous I/O &amp; more</A>
        <DD>Read the
task groups part
        <DT><A HREF="https://example.org/%C3%A9t%C3%A9?a=1&amp;b=2" ADD_DATE="1700002000">Été</A>
    </DL><p>
</DL>
"""


def test_import_firefox_bookmarks():
    items = imported(FIREFOX, "html", default_sharer="alice")
    assert [line for line, _ in items] == [14, 19, 22]
    help_, asyncio_, ete = (post for _, post in items)
    # Bookmarks have no id of their own: one is derived from sharer and URL, so importing the
    # same file again is recognised as a replay.
    again = [post for _, post in imported(FIREFOX, "html", default_sharer="alice")]
    assert [p.event_id for p in again] == [help_.event_id, asyncio_.event_id, ete.event_id]
    assert len({help_.event_id, asyncio_.event_id, ete.event_id}) == 3
    assert help_.event_id != imported(FIREFOX, "html", default_sharer="bob")[0][1].event_id
    assert help_ == Post(
        event_id=help_.event_id,
        source=Source.IMPORT,
        place="import",
        author_id="alice",
        author_name="alice",
        text="",
        visibility=Visibility.PUBLIC,
        at=datetime(2023, 11, 14, 22, 13, 21, tzinfo=timezone.utc),
        links=("https://support.mozilla.org/products/firefox",),
        title="Get Help",
    )
    assert asyncio_.title == "asyncio — Asynchronous I/O & more"
    assert asyncio_.extra_tags == ("python", "asyncio")
    assert asyncio_.note == "Read the\ntask groups part"
    assert ete.links == ("https://example.org/%C3%A9t%C3%A9?a=1&b=2",)
    assert ete.note is None and ete.extra_tags == ()
    assert count_rows(FIREFOX, "html") == 3


PINBOARD = """<!DOCTYPE NETSCAPE-Bookmark-file-1>
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<TITLE>Pinboard Bookmarks</TITLE>
<H1>Bookmarks</H1>
<dl><p>
<dt><a href="https://lwn.net/Articles/1/" add_date="1600000000" private="0" toread="0" tags="linux kernel">LWN: io_uring</a>
<dd>Good overview; see the &quot;fixed files&quot; section.
<dt><a href="https://internal.example/wiki" add_date="1600000100000" private="1" toread="1" tags="work">Team wiki</a>
<DT><A HREF="https://shaarli.example/?abc" ADD_DATE="1600000200" PRIVATE="0" TAGS="shaarli,notes,selfhosted">Shaarli link</A>
<DD>Notes from Shaarli,
over two lines<br>and a break.
</dl><p>
"""


def test_import_pinboard_and_shaarli_bookmarks():
    posts = posts_of(imported(PINBOARD, "html"))
    assert [post.visibility for post in posts] == [
        Visibility.PUBLIC, Visibility.PRIVATE, Visibility.PUBLIC,
    ]  # fmt: skip
    lwn, wiki, shaarli = posts
    assert lwn.extra_tags == ("linux", "kernel")
    assert lwn.note == 'Good overview; see the "fixed files" section.'
    assert lwn.at == datetime.fromtimestamp(1600000000, timezone.utc)
    assert wiki.at == datetime.fromtimestamp(1600000100, timezone.utc)  # milliseconds understood
    assert wiki.note is None and wiki.extra_tags == ("work",)
    assert shaarli.extra_tags == ("shaarli", "notes", "selfhosted")
    assert shaarli.note == "Notes from Shaarli,\nover two lines\nand a break."
    assert {post.author_id for post in posts} == {"import"}


def test_a_broken_bookmark_is_reported_and_the_others_come_through():
    text = """<!DOCTYPE NETSCAPE-Bookmark-file-1>
<DL><p>
<DT><A HREF="https://one.example/" ADD_DATE="1700000000">One</A>
<DT><A ADD_DATE="1700000000">No address</A>
<DT><A HREF="https://two.example/" ADD_DATE="yesterday">Two</A>
<DT><A HREF="https://three.example/">Three</A>
</DL>
"""
    items = imported(text, "html")
    assert items[1] == ImportProblem(4, "The bookmark has no HREF")
    assert items[2] == ImportProblem(
        5, "The bookmark has an ADD_DATE of 'yesterday', which is not a Unix time"
    )
    (line_one, one), (line_three, three) = items[0], items[3]
    assert (line_one, one.links) == (3, ("https://one.example/",))
    assert (line_three, three.at) == (6, IMPORT_TIME)  # no ADD_DATE: the import's time


# ---------------------------------------------------------------------------------------------
# Bad rows in backups


def test_a_broken_csv_row_is_reported_at_its_line_and_the_others_come_through():
    header = ",".join(BACKUP_COLUMNS)
    good = "https://a.example/,,,@a:x,A,2026-01-01T00:00:00+00:00,matrix,!r:x,$1,public,,"
    text = "\n".join(
        [
            header,
            good,
            # a note over three lines: the next row starts on line 6
            'https://b.example/,,,@a:x,A,2026-01-02T00:00:00Z,matrix,!r:x,$2,public,"one\ntwo\nthree",x',
            "https://c.example/,,,@a:x,A,not a date,matrix,!r:x,$3,public,,",
            "https://d.example/,,,@a:x,A,2026-01-03T00:00:00+01:00,irc,!r:x,$4,public,,",
            "https://e.example/,,,@a:x,A,2026-01-03T00:00:00+00:00,matrix,!r:x,$5,secret,,",
            "https://f.example/,,,@a:x,A,2026-01-03T00:00:00+00:00,matrix",
            ",,,@a:x,A,2026-01-03T00:00:00+00:00,matrix,!r:x,$6,public,,",
            "",
            "https://g.example/,,,@a:x,A,2026-01-04 10:00,Matrix,!r:x,,Unlisted,,a b",
        ]
    )
    items = imported(text, "csv")
    problems = [item for item in items if isinstance(item, ImportProblem)]
    assert problems == [
        ImportProblem(6, "The row has a shared_at of 'not a date', which is not an ISO 8601 date and time"),
        ImportProblem(7, "The row has an unknown source 'irc' (expected one of matrix, mastodon, feed, cli, import)"),
        ImportProblem(8, "The row has an unknown visibility 'secret' (expected one of public, unlisted, private, direct)"),
        ImportProblem(9, "The row has 7 fields but the header has 12"),
        ImportProblem(10, "The row has no url"),
    ]  # fmt: skip
    good_items = [item for item in items if not isinstance(item, ImportProblem)]
    assert [(line, post.links[0]) for line, post in good_items] == [
        (2, "https://a.example/"),
        (3, "https://b.example/"),
        (12, "https://g.example/"),
    ]
    assert good_items[1][1].note == "one\ntwo\nthree"
    g = good_items[2][1]
    assert g.at == datetime(2026, 1, 4, 10, tzinfo=timezone.utc)  # no offset: UTC
    assert (g.visibility, g.source, g.event_id, g.extra_tags) == (
        Visibility.UNLISTED, Source.MATRIX, None, ("a", "b"),
    )  # fmt: skip
    assert count_rows(text, "csv") == len(items) == 8


def test_a_minimal_csv_needs_only_urls():
    text = "\ufeffURL;Comment\n"  # not our separator: one column named "url;comment"
    assert imported(text, "csv") == [
        ImportProblem(1, "The first line is not a header with a url column, so no row can be read")
    ]
    text = "Title,URL,Extra\nHello,https://h.example/,ignored\n"
    [(line, post)] = imported(text, "csv", default_sharer="bob")
    assert line == 2
    assert post.event_id.startswith("import:")  # see test_rows_without_id_or_date_get_a_stable_id
    assert post == Post(
        event_id=post.event_id,
        source=Source.IMPORT,
        place="import",
        author_id="bob",
        author_name="bob",
        text="",
        at=IMPORT_TIME,
        links=("https://h.example/",),
        title="Hello",
    )


def test_json_syntax_error_is_one_problem_at_its_line():
    text, _ = export(sample_records(), "json")
    broken = text.replace('"place": "fosstodon.org",', '"place": "fosstodon.org",,')
    line = broken.splitlines().index(next(l for l in broken.splitlines() if ",," in l)) + 1
    [problem] = imported(broken, "json")
    assert problem.line == line
    assert problem.message.startswith("The file is not valid JSON (")


def test_a_broken_json_share_is_reported_at_its_line():
    text, _ = export(sample_records(), "json")
    document = json.loads(text)
    document["links"][0]["shares"][1]["visibility"] = "friends"
    document["links"][2]["shares"][0]["shared_at"] = "soon"
    del document["links"][1]["shares"][0]["url"]  # falls back to the link's url
    text = json.dumps(document, indent=2, ensure_ascii=False)
    lines = text.splitlines()
    share_starts = [n for n, line in enumerate(lines, start=1) if line == " " * 8 + "{"]
    items = imported(text, "json")
    assert len(items) == 5
    assert items[1] == ImportProblem(
        share_starts[1],
        "Share 2 of link 1 has an unknown visibility 'friends' "
        "(expected one of public, unlisted, private, direct)",
    )
    assert items[4] == ImportProblem(
        share_starts[4],
        "Share 1 of link 3 has a shared_at of 'soon', which is not an ISO 8601 date and time",
    )
    assert items[3][0] == share_starts[3]
    assert items[3][1].links == ("https://example.net/secret",)


def test_json_that_is_not_our_export():
    assert imported('{"links": []}', "json") == [
        ImportProblem(1, 'The file is not a watchbot export (no "format": "watchbot-export")')
    ]
    assert imported('{"format": "watchbot-export", "version": 2, "links": []}', "json") == [
        ImportProblem(1, "The export is version 2, and this watchbot reads version 1")
    ]


def test_count_rows_matches_what_is_read():
    for fmt in ("csv", "json"):
        text, _ = export(sample_records(), fmt)
        assert count_rows(text, fmt) == len(imported(text, fmt)) == 5
    assert count_rows("{oops", "json") == 1


# ---------------------------------------------------------------------------------------------
# Detecting the format


@pytest.mark.parametrize(
    ("head", "filename", "fmt"),
    [
        (export(sample_records(), "csv")[0][:200], None, "csv"),
        ('"title","URL"\n', "links.txt", "csv"),
        (export(sample_records(), "json")[0][:200], "backup.csv", "json"),  # content wins
        ("\ufeff  \n{", None, "json"),
        (FIREFOX[:100], None, "html"),
        (PINBOARD[:100], "pinboard.txt", "html"),
        ("<dl><p><dt><a href='x'>", None, "html"),
        ("anything", "Bookmarks.HTM", "html"),
        ("anything", "export.json", "json"),
        ("name;address\n", "links.csv", "csv"),
    ],
)
def test_detect_format(head, filename, fmt):
    assert detect_format(head, filename) == fmt


def test_detect_format_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="Cannot tell the format of 'notes.txt'"):
        detect_format("just some text", "notes.txt")
    with pytest.raises(ValueError, match="Cannot tell the format of the input"):
        detect_format("")
    with pytest.raises(ValueError, match="is XML"):
        detect_format(export(sample_records(), "atom")[0][:200], "feed.xml")


# ---------------------------------------------------------------------------------------------
# Files that used to crash the import or the store later, or to import nothing without a word


def problems_of(items) -> list[ImportProblem]:
    return [item for item in items if isinstance(item, ImportProblem)]


HAND_MADE_JSON = json.dumps(
    {
        "format": "watchbot-export",
        "version": 1,
        "links": [
            {
                "url": "https://a.example/",
                "shares": [
                    {"sharer_id": "@a:x", "note": "hi"},
                    {"sharer_id": "@a:x", "note": "other"},
                    {"sharer_id": "@b:x", "note": "hi", "shared_at": None},
                    {"sharer_id": "@a:x", "shared_at": "2026-01-01T00:00:00Z"},
                    {"sharer_id": "@a:x", "event_id": "$kept"},
                ],
            }
        ],
    }
)
HAND_MADE_CSV = (
    "url,sharer_id,note,shared_at,event_id\n"
    "https://a.example/,@a:x,hi,,\n"  # an empty shared_at is a problem, see below
    "https://a.example/,@a:x,hi,2026-01-01T00:00:00Z,\n"
    "https://a.example/,@a:x,hi,2026-01-01T00:00:00Z,$kept\n"
)


def test_rows_without_id_or_date_get_a_stable_id():
    # Without a date a share gets the import's time, so only an id of its own can make the second
    # import of the same file a replay rather than every share filed again.
    first = posts_of(imported(HAND_MADE_JSON, "json"))
    later = datetime(2027, 1, 1, tzinfo=timezone.utc)
    second = [post for _, post in read_import(HAND_MADE_JSON, "json", now=later)]
    ids = [post.event_id for post in first]
    assert ids == [post.event_id for post in second]
    assert all(event_id.startswith("import:") for event_id in ids[:3])
    assert len(set(ids[:3])) == 3  # another note, another sharer: another share
    # A row with a date or an id is left exactly as it is (round trips compare every field).
    assert ids[3:] == [None, "$kept"]
    assert first[3].at == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert first[4].at == IMPORT_TIME

    csv_text = "url,sharer_id,note\nhttps://a.example/,@a:x,hi\nhttps://b.example/,,\n"
    csv_ids = [post.event_id for post in posts_of(imported(csv_text, "csv"))]
    assert csv_ids[0] == ids[0]  # the same share, whichever file it comes from
    assert csv_ids[1].startswith("import:") and csv_ids[1] != ids[0]
    again = [post.event_id for _, post in read_import(csv_text, "csv", now=later)]
    assert again == csv_ids
    other_sharer = [post.event_id for _, post in read_import(csv_text, "csv", default_sharer="bob")]
    assert other_sharer[0] == csv_ids[0] and other_sharer[1] != csv_ids[1]  # only b names none

    items = imported(HAND_MADE_CSV, "csv")
    assert items[0] == ImportProblem(
        2, "The row has a shared_at of '', which is not an ISO 8601 date and time"
    )
    assert [post.event_id for _, post in items[1:]] == [None, "$kept"]


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59:59-23:59",  # overflowed when turned into UTC
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00",
        "1899-12-31T23:59:59Z",
        "2200-01-01T00:00:01+00:00",
    ],
)
def test_a_date_out_of_range_is_a_problem(value):
    message = f"has a shared_at of {value!r}, which is not between 1900-01-01 and 2200-01-01 (UTC)"
    assert imported(f"url,shared_at\nhttps://a.example/,{value}\n", "csv") == [
        ImportProblem(2, f"The row {message}")
    ]
    document = {"format": "watchbot-export", "version": 1, "links": [
        {"url": "https://a.example/", "shares": [{"shared_at": value}]},
    ]}  # fmt: skip
    assert imported(json.dumps(document), "json") == [
        ImportProblem(1, f"Share 1 of link 1 {message}")
    ]


def test_the_ends_of_the_date_range_are_dates():
    text = "url,shared_at\nhttps://a.example/,1900-01-01T00:00:00Z\nhttps://b.example/,2200-01-01T00:00:00Z\n"
    assert [post.at.year for post in posts_of(imported(text, "csv"))] == [1900, 2200]


@pytest.mark.parametrize(
    "add_date",
    ["99999999999", "253402300800000000000000", "-3000000000", "-99999999999", "-" + "9" * 30],
)
def test_a_bookmark_date_out_of_range_is_a_problem(add_date):
    text = f'<DL><p>\n<DT><A HREF="https://a.example/" ADD_DATE="{add_date}">A</A>\n</DL>\n'
    assert imported(text, "html") == [
        ImportProblem(
            2,
            f"The bookmark has an ADD_DATE of {add_date!r}, "
            "which is not between 1900-01-01 and 2200-01-01 (UTC)",
        )
    ]


TEXT_FIELDS = ["url", "title", "description", "sharer_id", "sharer_name", "place", "event_id", "note", "tags"]


@pytest.mark.parametrize("name", TEXT_FIELDS)
@pytest.mark.parametrize(
    ("bad", "what"),
    [
        ("\x00", "a NUL character"),
        ("\ud800", "an invalid character (\\ud800, half of a UTF-16 pair)"),
        ("\udfff", "an invalid character (\\udfff, half of a UTF-16 pair)"),
    ],
)
def test_a_text_field_the_database_cannot_store_is_a_problem(name, bad, what):
    share = {"url": "https://a.example/", "shared_at": "2026-01-01T00:00:00Z", name: f"x{bad}y"}
    link = {"url": share.pop("url")} if name != "url" else {}
    for key in ("title", "description"):
        if key in share:
            link[key] = share.pop(key)
    document = {"format": "watchbot-export", "version": 1, "links": [{**link, "shares": [share]}]}
    for dumped in (json.dumps(document), json.dumps(document, ensure_ascii=False)):
        assert imported(dumped, "json") == [
            ImportProblem(1, f"Share 1 of link 1 has {what} in its {name}")
        ]
    if name in ("tags",):
        document["links"][0]["shares"][0]["tags"] = ["fine", f"x{bad}y"]
        assert imported(json.dumps(document), "json") == [
            ImportProblem(1, f"Share 1 of link 1 has {what} in its tags")
        ]
    if bad == "\x00":  # a CSV file is UTF-8, which has no surrogates; it can hold a NUL byte
        columns = ["url", name] if name != "url" else ["url"]
        cells = ["https://a.example/", f"x{bad}y"] if name != "url" else [f"https://a.example/{bad}"]
        text = ",".join(columns) + "\n" + ",".join(cells) + "\n"
        assert imported(text, "csv") == [ImportProblem(2, f"The row has {what} in its {name}")]


def test_a_good_surrogate_pair_is_a_character():
    document = {"format": "watchbot-export", "version": 1, "links": [
        {"url": "https://a.example/", "shares": [{"note": "\U0001f680", "shared_at": "2026-01-01T00:00:00Z"}]},
    ]}  # fmt: skip
    [post] = posts_of(imported(json.dumps(document), "json"))  # written as "\ud83d\ude80"
    assert post.note == "\U0001f680"


@pytest.mark.parametrize(
    ("entry", "what"),
    [
        ('<DT><A HREF="https://a.example/\x00">A</A>', "a NUL character in its HREF"),
        ('<DT><A HREF="https://a.example/">A\x00</A>', "a NUL character in its title"),
        ('<DT><A HREF="https://a.example/" TAGS="a,\x00">A</A>', "a NUL character in its TAGS"),
        ('<DT><A HREF="https://a.example/">A</A>\n<DD>note\x00', "a NUL character in its note"),
        ('<DT><A HREF="https://a.example/\ud800">A</A>', "an invalid character (\\ud800, half of a UTF-16 pair) in its HREF"),
    ],
)
def test_a_bookmark_field_the_database_cannot_store_is_a_problem(entry, what):
    assert imported(f"<DL><p>\n{entry}\n</DL>\n", "html") == [ImportProblem(2, f"The bookmark has {what}")]


def test_a_long_csv_field_is_read_and_the_limit_is_put_back():
    note = "word " * 60_000  # 300 kB, over the csv module's 128 KiB default
    record = make_record(1, "k", [make_share(1, "https://a.example/", note=note)])
    text, _ = export([record], "csv")
    limit = csv.field_size_limit()
    assert count_rows(text, "csv") == 1
    items = read_import(text + text.split("\n", 1)[1], "csv", now=IMPORT_TIME)
    (_, first) = next(items)
    assert csv.field_size_limit() == limit  # not left raised while the caller holds a row
    assert [first.note] + [post.note for _, post in items] == [note, note]
    assert csv.field_size_limit() == limit


def test_a_csv_field_beyond_the_limit_stops_the_read_at_its_line():
    header = "url,note\n"
    good = "https://a.example/,fine\n"
    huge = 'https://b.example/,"' + "x" * (16 * 1024 * 1024 + 1) + '\nhttps://evil.example/,x\n"\n'
    text = header + good + huge + good
    items = imported(text, "csv")
    assert [item[1].links for item in items[:1]] == [("https://a.example/",)]
    assert items[1:] == [
        ImportProblem(
            3,
            "The row cannot be read as CSV (field larger than field limit (16777216)), "
            "and neither can the rest of the file",
        )
    ]
    assert count_rows(text, "csv") == len(items) == 2


@pytest.mark.parametrize("text", ["[" * 100_000, '{"a":' * 100_000, '{"links": ' + "[" * 5_000])
def test_deeply_nested_json_is_one_problem(text):
    assert imported(text, "json") == [
        ImportProblem(1, "The file is not a watchbot export: its JSON is nested too deeply")
    ]
    assert count_rows(text, "json") == 1


def test_a_json_number_too_long_to_read_is_one_problem():
    text = '{"format": "watchbot-export", "version": 1, "links": [' + "1" * 5000 + "]}"
    assert imported(text, "json") == [
        ImportProblem(
            1, "The file cannot be read as JSON (Exceeds the limit (4300 digits) for integer string conversion)"
        )
    ]


CUT_HEAD = """<!DOCTYPE NETSCAPE-Bookmark-file-1>
<DL><p>
<DT><A HREF="https://one.example/" ADD_DATE="1700000000">One</A>
<DD>a note
"""


def test_a_bookmarks_file_cut_inside_a_tag_says_so():
    # The <A> tag is not whole: whatever it held after the cut (ADD_DATE, TAGS) is lost, so the
    # bookmark is a problem rather than a share filed with a wrong date or tags for good.
    for tail in ['<DT><A HREF="https://two.example/" ADD_DA', "<DT><A", '<A HREF="https://two.exa']:
        items = imported(CUT_HEAD + tail, "html")
        assert len(items) == 2, tail
        assert items[0][1].note == "a note"  # the cut tag is not taken for text of the note
        assert items[1] == ImportProblem(
            5,
            "The file ends in the middle of this bookmark's <A> tag, so the bookmark cannot be "
            "read (is the file cut off?)",
        )


def test_a_bookmarks_file_cut_after_a_whole_tag_files_the_bookmark():
    text = CUT_HEAD + '<DT><A HREF="https://two.example/" ADD_DATE="1700000000">Tw'
    posts = posts_of(imported(text, "html"))
    assert [(post.links, post.title) for post in posts] == [
        (("https://one.example/",), "One"),
        (("https://two.example/",), "Tw"),
    ]
    assert posts_of(imported(CUT_HEAD + "</DL", "html"))  # a cut closing tag loses nothing


@pytest.mark.parametrize(
    ("text", "advice"),
    [
        (export(sample_records(), "json")[0], "it looks like a JSON export, so use --format json"),
        (export(sample_records(), "csv")[0], "it looks like a CSV export, so use --format csv"),
        ("just some words\n", "use --format csv or --format json if it is one"),
        ("<html><body><p>No links here</p></body></html>", "use --format csv or --format json if it is one"),
    ],
)
def test_a_file_that_is_not_bookmarks_is_one_problem(text, advice):
    assert imported(text, "html") == [
        ImportProblem(
            1,
            "This does not look like a bookmarks HTML file (there is no <DL> list and no <A> "
            f"link in it); {advice}",
        )
    ]


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("", "html"),
        (" \n\n", "html"),
        ("<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<TITLE>Bookmarks</TITLE>\n<DL><p>\n</DL><p>\n", "html"),
        ("", "csv"),
        ("\n\n", "csv"),
        (",".join(BACKUP_COLUMNS) + "\n", "csv"),
        ("", "json"),
        ('{"format": "watchbot-export", "version": 1, "links": []}', "json"),
    ],
)
def test_an_empty_file_is_nothing_to_import(text, fmt):
    if fmt == "json" and not text:
        # An empty file is not JSON at all: that stays a problem.
        assert imported(text, fmt) == [ImportProblem(1, "The file is not valid JSON (Expecting value)")]
    else:
        assert imported(text, fmt) == []


def test_bookmark_dates_in_finer_units_down_to_nanoseconds():
    dates = ["1600000200", "1600000200000", "1600000200000000", "1600000200000000000"]
    text = "<DL><p>\n" + "".join(
        f'<DT><A HREF="https://a.example/{n}" ADD_DATE="{d}">A</A>\n' for n, d in enumerate(dates)
    )
    expected = datetime.fromtimestamp(1600000200, timezone.utc)
    assert [post.at for post in posts_of(imported(text, "html"))] == [expected] * 4


def test_a_file_read_as_the_wrong_backup_format_says_which_to_use():
    csv_text, json_text = export(sample_records(), "csv")[0], export(sample_records(), "json")[0]
    assert imported(csv_text, "json") == [
        ImportProblem(
            1, "The file is not valid JSON (Expecting value); it looks like a CSV export, so use --format csv"
        )
    ]
    assert imported(FIREFOX, "csv") == [
        ImportProblem(
            1,
            "The first line is not a header with a url column, so no row can be read; "
            "it looks like a bookmarks HTML file, so use --format html",
        )
    ]
    assert imported(json_text, "csv")[0].message.endswith("; it looks like a JSON export, so use --format json")
    # An error further in is a broken file of the right format: no advice.
    assert imported('{"format": oops}', "json") == [ImportProblem(1, "The file is not valid JSON (Expecting value)")]
