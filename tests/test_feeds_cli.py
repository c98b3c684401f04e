"""`watchbot feeds …` and the `feed` chat command as people use them: feeds served on 127.0.0.1
(allow-listed for these tests), a real store, what is printed or answered."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from click.testing import CliRunner

from tests.page_server import PageServer, serving_pages
from watchbot.cli import cli
from watchbot.commands.registry import refusal_of
from watchbot.commands import Caller, parse_command, run_command
from watchbot.feeds import FeedPoller
from watchbot.policy import Power, Role
from watchbot.fetch import GuardedClient, parse_allow_networks
from watchbot.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
CERT = (FIXTURES / "cert_advisories.rss").read_bytes()
CERT_TITLE = "CERT-EX – Security advisories"
UTC = ZoneInfo("UTC")
MODERATOR = Caller("@mod:x", "Mod", Power(Role.MODERATOR, "!mods:x", store_wide=True))  # the moderators' room
ROOM_MODERATOR = Caller("@roommod:x", "Roommod", Power(Role.MODERATOR, "!room:x"))  # feeds reach every room
MEMBER = Caller("@member:x", "Member")


@pytest.fixture(scope="module")
def pages() -> Iterator[PageServer]:
    with serving_pages() as server:
        yield server


@pytest.fixture
def run(tmp_path: Path, monkeypatch):
    """Run `watchbot ARGS` against a store in tmp_path; returns the click Result."""
    for name in list(os.environ):
        if name.startswith("WATCHBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, code: int = 0):
        env = {"WATCHBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'watchbot.db'}",
               "WATCHBOT_FETCH_ALLOW_NETWORKS": "127.0.0.1/32"}
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    return invoke


def serve(pages: PageServer, path: str, body: bytes, content_type: str = "application/rss+xml") -> str:
    """A feed that answers If-None-Match with 304, as most servers do."""

    async def feed(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"cert-1"':
            return web.Response(status=304, headers={"ETag": '"cert-1"'})
        return web.Response(body=body, headers={"Content-Type": content_type, "ETag": '"cert-1"'})

    return pages.handle(path, feed)


def with_entry(feed: bytes, guid: str, title: str) -> bytes:
    item = (f"<item><title>{title}</title><link>https://cert.example.org/advisories/{guid}/</link>"
            f"<guid isPermaLink=\"false\">{guid}</guid><pubDate>Tue, 24 Nov 2026 18:00:00 +0100</pubDate></item>")
    return feed.replace(b"<item>", item.encode() + b"<item>", 1)


# -- the command line -----------------------------------------------------------------------------


def test_add_list_and_rm_a_feed(run, pages: PageServer):
    url = serve(pages, "/cli/cert.rss", CERT)
    added = run("feeds", "add", url, "--tag", "Security", "--alert", "--every", "2h")
    assert added.output == (f"Following feed #1 “{CERT_TITLE}” (RSS 2.0), every 2h [security], alert: "
                            "3 entries recorded, none filed (new ones will be).\n")
    assert run("links", "list").output == ""  # nothing old is filed

    listed = run("feeds", "list").output.splitlines()
    assert listed[:2] == [f"#1    {CERT_TITLE} [security] (alert)", f"      {url}"]
    assert listed[2].startswith("      every 2h, last polled ")
    [as_json] = json.loads(run("feeds", "list", "--json").output)
    assert (as_json["url"], as_json["every_seconds"], as_json["tags"]) == (url, 7200, ["security"])

    again = run("feeds", "add", url, code=1)
    assert again.output == f"Error: {url} is already followed as feed #1\n"
    assert run("feeds", "rm", "1").output == f"No longer following feed #1 “{CERT_TITLE}”; what it filed stays filed.\n"
    assert run("feeds", "rm", "1", code=1).output == "Error: there is no feed #1 (see `watchbot feeds list`)\n"
    assert run("feeds", "list").output == "No feeds yet; add one with: watchbot feeds add URL\n"


def test_backfill_files_the_newest_entries_with_their_cve_ids(run, pages: PageServer):
    url = serve(pages, "/cli/backfill.rss", CERT)
    added = run("feeds", "add", url, "--backfill", "1").output.splitlines()
    assert added[0].endswith(": 2 entries recorded, 1 filed.")
    assert added[1] == ("  #1 CERTEX-2026-AVI-0912: Multiple vulnerabilities in OpenSSH (CVE-2026-41022, CVE-2026-41023) "
                        "https://cert.example.org/advisories/CERTEX-2026-AVI-0912/?utm_source=rss&utm_medium=feed "
                        "[CVE-2026-41022, CVE-2026-41023]")
    shown = run("links", "show", "1").output
    assert f"via feed:{url}" in shown and CERT_TITLE in shown
    assert "tags: openssh, remote-code-execution" in shown


def test_what_is_not_a_feed_is_one_clear_line(run, pages: PageServer):
    page = pages.page("/cli/blog.html", "<!doctype html><html><head><title>A blog</title></head><body></body></html>")
    assert run("feeds", "add", page, code=1).output == (
        f"Error: {page} is a web page, not a feed; give the address of its RSS or Atom feed\n")
    missing = pages.url("/cli/missing.rss")
    assert run("feeds", "add", missing, code=1).output == f"Error: {missing} answered 404 Not Found\n"
    empty = pages.page("/cli/empty.rss", b"<rss version='2.0'><channel><title>Broken", content_type="text/xml")
    assert run("feeds", "check", empty, code=1).output.startswith(f"Error: {empty} is not a feed that can be read")
    too_often = run("feeds", "add", pages.url("/cli/x"), "--every", "1m", code=2)
    assert "a feed is polled every 5m at the most often" in too_often.output
    assert run("feeds", "list").output == "No feeds yet; add one with: watchbot feeds add URL\n"


def test_check_shows_what_would_be_filed_and_files_nothing(run, pages: PageServer):
    url = serve(pages, "/cli/check.json", (FIXTURES / "jsonfeed11.json").read_bytes(), "application/feed+json")
    checked = run("feeds", "check", url).output.splitlines()
    assert checked[0] == ("“Microblog of a Sysadmin” (JSON Feed 1.1), 3 entries; not followed: following it would "
                          "record these and file none (or the newest N with --backfill N)")
    assert checked[1:5] == [
        "  - 2026-11-23 Upgrading to PostgreSQL 17 without downtime",
        "       https://micro.example.social/2026/11/23/postgres-17.html",
        "  - 2026-11-22 Everybody should read this write-up on CVE-2026-40404 in glibc, it is excellent… "
        "[CVE-2026-40404]",
        "       https://lwn.example.net/Articles/998877/",
    ]
    assert run("links", "list").output == "" and "No feeds yet" in run("feeds", "list").output


def test_poll_says_what_each_feed_gave(run, pages: PageServer):
    quiet = serve(pages, "/cli/quiet.rss", CERT)
    busy_body = {"now": CERT}

    async def busy(request: web.Request) -> web.Response:
        return web.Response(body=busy_body["now"], headers={"Content-Type": "application/rss+xml"})

    busy_url = pages.handle("/cli/busy.rss", busy)
    run("feeds", "add", quiet)
    run("feeds", "add", busy_url, "--alert")
    busy_body["now"] = with_entry(CERT, "CERTEX-2026-AVI-0913", "Vulnerability in curl (CVE-2026-50001)")
    polled = run("feeds", "poll").output.splitlines()
    assert polled == [
        f"  alert: {CERT_TITLE}: Vulnerability in curl (CVE-2026-50001)",
        f"#1 {CERT_TITLE}: unchanged (304)",
        f"#2 {CERT_TITLE}: 1 new",
        "  #1 Vulnerability in curl (CVE-2026-50001) https://cert.example.org/advisories/CERTEX-2026-AVI-0913/ "
        "[CVE-2026-50001]",
    ]
    assert run("feeds", "poll").output.splitlines() == [f"#1 {CERT_TITLE}: unchanged (304)",
                                                        f"#2 {CERT_TITLE}: nothing new"]


# -- the chat command -----------------------------------------------------------------------------


@pytest.fixture
async def feeds(store: Store) -> FeedPoller:
    client = GuardedClient(user_agent="watchbot-tests", allow=parse_allow_networks("127.0.0.1/32"), timeout=5)
    yield FeedPoller(store, client)
    await client.aclose()


async def say(store: Store, text: str, caller: Caller = MODERATOR, feeds: FeedPoller | None = None) -> str:
    return (await run_command(store, parse_command(text), caller, UTC, feeds=feeds)).text


async def test_moderators_follow_list_and_remove_feeds_from_the_room(store: Store, feeds: FeedPoller,
                                                                     pages: PageServer):
    url = serve(pages, "/chat/cert.rss", CERT)
    added = await say(store, f"!watch feed add {url} #Security #cve alert every 2h backfill 1", feeds=feeds)
    assert added == (f"Following feed #1 “{CERT_TITLE}” (RSS 2.0), every 2h [security, cve], alert: "
                     "2 entries recorded, 1 filed.")
    listed = await say(store, "!watch feed list", feeds=feeds)
    assert listed.startswith(f"#1 {CERT_TITLE} — {url} [security, cve] (alert): every 2h, last polled ")
    assert "CERTEX-2026-AVI-0912" in await say(store, "!watch recent")  # the backfilled entry is filed
    assert await say(store, "!watch feed rm 1", feeds=feeds) == (
        f"No longer following feed #1 “{CERT_TITLE}”; what it filed stays filed.")
    assert await say(store, "!watch feed rm 1", feeds=feeds) == "There is no feed #1."


async def test_the_feed_command_says_clearly_what_is_wrong(store: Store, feeds: FeedPoller, pages: PageServer):
    assert await say(store, "!watch feed list", MEMBER, feeds) == refusal_of("feed")
    assert await say(store, "!watch feed list", ROOM_MODERATOR, feeds) == refusal_of("feed")
    assert await say(store, "!watch feed list") == "Feeds are not available here."
    assert await say(store, "!watch feed", feeds=feeds) == (
        "Usage: feed add URL [#tag …] [alert] [every 30m] [backfill N], feed list, or feed rm ID")
    assert (await say(store, "!watch feed add https://x.example/f every 1m", feeds=feeds)).startswith(
        "a feed is polled every 5m at the most often")
    assert (await say(store, "!watch feed add https://x.example/f loudly", feeds=feeds)).startswith(
        "I do not understand “loudly”.")
    page = pages.page("/chat/page.html", "<!doctype html><html><body>hello</body></html>")
    assert await say(store, f"!watch feed add {page}", feeds=feeds) == (
        f"I cannot follow it: {page} is a web page, not a feed; give the address of its RSS or Atom feed")
    assert "feed" in (await say(store, "!watch nonsense")).split("Try: ")[1].split()
    assert any(line.startswith("feed add URL") for line in (await say(store, "!watch help")).splitlines())
