"""Titles and previews: pages served on 127.0.0.1 (allow-listed for these tests alone), fetched by
the worker into a real store (SQLite and PostgreSQL), merged when they are the same page."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from itertools import count

import pytest
from aiohttp import web
from click.testing import CliRunner

from tests.page_server import PageServer, serving_pages
from tests.waiting import until
from watchbot.cli import cli
from watchbot.enrich.worker import Enricher
from watchbot import __version__
from watchbot.fetch import FetchOptions, GuardedClient, parse_allow_networks
from watchbot.intake import Rules, file_post
from watchbot.model import PageState, Post, Source, Visibility, utcnow
from watchbot.store import Store
from watchbot.store.links import LinkStore
from watchbot.store.pages import LinkPages

ARTICLE = """<!doctype html><html lang="en"><head>
<title>Article | Example News</title>
<meta property="og:title" content="Kernel 7.0 released">
<meta property="og:description" content="What is new in the kernel, in five minutes.">
<meta property="og:site_name" content="Example News">
<link rel="canonical" href="/article">
</head><body><h1>Kernel 7.0 released</h1></body></html>"""
_events = count(1)


@pytest.fixture(scope="module")
def pages() -> Iterator[PageServer]:
    with serving_pages() as server:
        yield server


@pytest.fixture
async def enricher(store: Store) -> Enricher:
    client = GuardedClient(user_agent="watchbot-tests", allow=parse_allow_networks("127.0.0.1/32"), timeout=5)
    yield Enricher(store, client)
    await client.aclose()


async def share(store: Store, url: str, who: str = "alice", visibility=Visibility.PUBLIC) -> int:
    result = await file_post(store, Post(source=Source.MATRIX, place="!room:x", author_id=f"@{who}:x", author_name=who,
                                         text=f"{url} #kernel", event_id=f"$e{next(_events)}", visibility=visibility),
                             Rules())
    return result.results[0].filed.link.id


async def test_a_new_link_gets_its_title_site_and_description(store: Store, enricher: Enricher, pages: PageServer):
    url = pages.page("/article", ARTICLE)
    link_id = await share(store, url)
    assert (await LinkStore(store).get_link(link_id)).page.state is PageState.PENDING
    looked = await enricher.enrich(link_id, url)
    assert looked.line() == f"#{link_id} {url}: “Kernel 7.0 released”, Example News"
    record = await LinkStore(store).get_link(link_id)
    assert (record.link.title, record.link.site_name) == ("Kernel 7.0 released", "Example News")
    assert record.link.description == "What is new in the kernel, in five minutes."
    assert record.page.language == "en"
    # The page's words are searchable, and nothing is due any more.
    assert [link.id for link in await LinkStore(store).search("five minutes")] == [link_id]
    assert await LinkPages(store).due(utcnow(), 10) == []


async def test_every_fetch_names_the_operators_contact_so_site_owners_can_reach_them(
        store: Store, pages: PageServer):
    # An Enricher made from its options alone (WATCHBOT_FETCH_CONTACT and _ALLOW_NETWORKS in `watchbot run`).
    agents = []

    async def page(request: web.Request) -> web.Response:
        agents.append(request.headers.get("User-Agent"))
        return web.Response(text="<title>Contact us</title>", content_type="text/html")

    url = pages.handle("/contact", page)
    enricher = Enricher.from_options(store, FetchOptions(contact="https://watch.example/about",
                                                         allow=parse_allow_networks("127.0.0.1/32"), timeout_seconds=5))
    try:
        looked = await enricher.enrich(await share(store, url), url)
    finally:
        await enricher.client.aclose()
    assert looked.state is PageState.OK
    assert agents == [f"watchbot/{__version__} (link titles for a community's shared tech watch; "
                      "+https://watch.example/about)"]


async def page_read(store: Store, link_id: int):
    """The link's record once its page has been read."""
    record = await LinkStore(store).get_link(link_id)
    return record if record.page.state is PageState.OK else None


async def test_the_worker_fetches_what_is_filed_while_it_runs(store: Store, enricher: Enricher, pages: PageServer,
                                                             monkeypatch):
    import watchbot.enrich.worker as worker

    monkeypatch.setattr(worker, "IDLE_SECONDS", 0.1)
    url = pages.page("/live", ARTICLE.replace("/article", "/live"))
    task = asyncio.create_task(enricher.run())
    try:
        link_id = await share(store, url)
        record = await until(lambda: page_read(store, link_id), "the page to be read")
        assert record.link.title == "Kernel 7.0 released"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_short_link_redirecting_to_a_known_page_is_merged_and_can_be_unmerged(
        store: Store, enricher: Enricher, pages: PageServer):
    article = pages.page("/merge/article", ARTICLE.replace('href="/article"', 'href="/merge/article"'))
    short = pages.redirect("/merge/s/1", "/merge/article")
    kept = await share(store, article, "alice")
    gone = await share(store, short, "bob")
    looked = await enricher.enrich(gone, short)
    assert looked.merge is not None and (looked.merge.kept_id, looked.merge.merged_id) == (kept, gone)
    assert "merged" in looked.line()
    record = await LinkStore(store).get_link(kept)
    assert {s.sharer_name for s in record.shares} == {"alice", "bob"}
    assert await LinkStore(store).get_link(gone) is None
    # A later share of the short link is a share of the article.
    assert await share(store, short, "carol") == kept

    merge = await LinkPages(store).unmerge(gone, actor="cli:test")
    assert merge is not None and merge.merged_id == gone
    back = await LinkStore(store).get_link(gone)
    assert [s.sharer_name for s in back.shares] == ["bob"]
    assert {s.sharer_name for s in (await LinkStore(store).get_link(kept)).shares} == {"alice", "carol"}
    # Fetched again, it is not merged again: someone said they differ.
    assert (await enricher.enrich(gone, short)).merge is None
    assert await LinkStore(store).get_link(gone) is not None


async def test_a_message_that_shared_both_urls_keeps_its_share_through_merge_and_unmerge(
        store: Store, enricher: Enricher, pages: PageServer):
    article = pages.page("/both/article", ARTICLE.replace('href="/article"', 'href="/both/article"'))
    short = pages.redirect("/both/s", "/both/article")
    result = await file_post(store, Post(source=Source.MATRIX, place="!room:x", author_id="@dan:x", author_name="dan",
                                         text=f"{article} and {short}", event_id="$both"), Rules())
    kept, gone = (r.filed.link.id for r in result.results)
    await enricher.enrich(gone, short)
    assert [s.sharer_name for s in (await LinkStore(store).get_link(kept)).shares] == ["dan"]  # counted once
    await LinkPages(store).unmerge(gone, actor="cli:test")
    assert [s.url for s in (await LinkStore(store).get_link(gone)).shares] == [short]


async def test_a_canonical_link_on_the_same_site_joins_the_amp_page_to_the_article(
        store: Store, enricher: Enricher, pages: PageServer):
    story = pages.page("/story", "<title>The story</title>")
    amp = pages.page("/amp/story", '<title>The story (AMP)</title><link rel="canonical" href="/story">')
    elsewhere = pages.page("/claims", '<title>Claims</title><link rel="canonical" href="https://other.example/x">')
    kept = await share(store, story)
    gone = await share(store, amp)
    await enricher.enrich(gone, amp)
    assert await LinkStore(store).get_link(gone) is None and (await LinkStore(store).get_link(kept)).link.share_count == 2
    claims = await share(store, elsewhere)
    looked = await enricher.enrich(claims, elsewhere)
    assert looked.merge is None and looked.page.canonical_url is None  # another site's claim is not trusted
    # Nor a page claiming to be the site's home page (a common mistake that would merge a whole site).
    home = pages.page("/", "<title>Home</title>")
    await enricher.enrich(await share(store, home), home)
    lazy = pages.page("/post/1", f'<title>A post</title><link rel="canonical" href="{pages.base}/">')
    looked = await enricher.enrich(await share(store, lazy), lazy)
    assert looked.merge is None and looked.page.canonical_url is None


async def test_failures_are_remembered_retried_or_marked_dead_never_deleted(
        store: Store, enricher: Enricher, pages: PageServer):
    busy = pages.page("/busy", "busy", status=503, headers={"Retry-After": "3600"})
    gone = pages.page("/gone", "gone", status=410)
    image = pages.page("/picture.png", b"\x89PNG....", content_type="image/png")
    busy_id, gone_id, image_id = [await share(store, url) for url in (busy, gone, image)]
    looked = await enricher.enrich(busy_id, busy)
    assert looked.state is PageState.FAILED and "503" in looked.reason
    page = (await LinkStore(store).get_link(busy_id)).page
    assert page.attempts == 1 and page.next_fetch_at >= utcnow() + timedelta(minutes=59)  # Retry-After heeded
    assert (await enricher.enrich(gone_id, gone)).state is PageState.DEAD
    assert (await LinkStore(store).get_link(gone_id)).link.url == gone  # marked, not deleted
    looked = await enricher.enrich(image_id, image)
    assert looked.state is PageState.OK and looked.page.title is None  # it works; it is not a page
    assert await LinkPages(store).due(utcnow() + timedelta(days=3), 10) == [(busy_id, busy)]


async def test_a_link_to_a_private_address_is_refused_and_the_reason_kept(store: Store, enricher: Enricher):
    with serving_pages("127.0.0.2") as inside:  # loopback, but not in this test's allow-list
        url = inside.page("/admin", "<title>secret</title>")
        link_id = await share(store, url)
        looked = await enricher.enrich(link_id, url)
        assert looked.state is PageState.REFUSED and "loopback" in looked.reason
        assert inside.hits["/admin"] == 0
    page = (await LinkStore(store).get_link(link_id)).page
    assert page.state is PageState.REFUSED and "loopback" in page.reason and page.next_fetch_at is None


async def test_wrappers_are_unwrapped_and_interstitials_followed(store: Store, enricher: Enricher, pages: PageServer):
    target = pages.page("/target", "<title>The target</title>")
    wrapped = f"https://www.google.com/url?q={target}&sa=D"
    tco = pages.page("/t.co/abc", f'<head><meta name="referrer" content="always"><noscript>'
                                  f'<META http-equiv="refresh" content="0;URL={target}"></noscript>'
                                  f'<title>{target}</title></head>')
    for url in (wrapped, tco):
        link_id = await share(store, url)
        looked = await enricher.enrich(link_id, url)
        assert looked.page.title == "The target" and looked.page.final_url == target, looked.line()


async def test_oembed_wins_where_the_page_advertises_it(store: Store, enricher: Enricher, pages: PageServer):
    async def oembed(request: web.Request) -> web.Response:
        return web.json_response({"type": "video", "version": "1.0", "title": "A talk on Rust",
                                  "author_name": "Ferris", "provider_name": "VideoSite"})

    pages.handle("/oembed", oembed)
    video = pages.page("/watch", f'<title>watch - VideoSite</title><link rel="alternate" '
                                 f'type="application/json+oembed" href="{pages.url("/oembed")}?url=x">')
    link_id = await share(store, video)
    looked = await enricher.enrich(link_id, video)
    assert (looked.page.title, looked.page.author, looked.page.site_name) == ("A talk on Rust", "Ferris", "VideoSite")


def test_refresh_and_unmerge_from_the_command_line(tmp_path, pages: PageServer, monkeypatch):
    for name in list(os.environ):
        if name.startswith("WATCHBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    env = {"WATCHBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}", "WATCHBOT_FETCH_ALLOW_NETWORKS": "127.0.0.1/32"}

    def run(*args: str):
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    article = pages.page("/cli/article", ARTICLE.replace('href="/article"', 'href="/cli/article"'))
    short = pages.redirect("/cli/s", "/cli/article")
    for url in (article, short, "http://10.0.0.1/internal"):
        assert run("links", "add", url).exit_code == 0
    result = run("links", "refresh", "--all")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"#1 {article}: “Kernel 7.0 released”, Example News" in lines
    assert any(line.startswith(f"#2 {short}: the same page as #1") for line in lines), lines
    assert any(line.startswith("#3 http://10.0.0.1/internal: refused:") and "private" in line for line in lines)
    shown = run("links", "show", "1").output
    assert "merged: #2" in shown and "Kernel 7.0 released (Example News)" in shown
    assert "refused after 1 attempt(s)" in run("links", "show", "3").output
    result = run("links", "unmerge", "2")
    assert result.exit_code == 0 and "is its own link again" in result.output
    assert json.loads(run("links", "show", "2", "--json").output)["url"] == short
    again = run("links", "unmerge", "2")
    assert again.exit_code == 1 and "was not merged" in again.output
    assert run("links", "refresh").exit_code == 2  # ids or --all


async def test_a_blocked_domain_hidden_behind_a_redirect_or_a_wrapper_is_removed_once_resolved(
        store: Store, enricher: Enricher, pages: PageServer):
    from watchbot.store.moderation import ModerationStore

    landing = pages.page("/landing", "<title>Buy now</title>")
    short = pages.redirect("/s/spam", landing)
    wrapped = f"https://www.google.com/url?q={landing}"
    await ModerationStore(store).block("127.0.0.1", actor="@mod:x", reason="spam landing pages")
    for url in (short, wrapped):
        link_id = await share(store, url)
        looked = await enricher.enrich(link_id, url)
        assert looked.state is PageState.REFUSED and "127.0.0.1 is blocked" in looked.reason
        assert await LinkStore(store).get_link(link_id) is None
    entries = await ModerationStore(store).log_entries()
    assert [e.action for e in entries[:2]] == ["remove-link", "remove-link"] and entries[0].actor == "watchbot"


async def test_a_link_leading_to_another_site_never_stands_for_that_sites_page(
        store: Store, enricher: Enricher, pages: PageServer):
    target = pages.page("/real/article", "<title>The real article</title>")
    wrapped = f"https://www.google.com/url?q={target}"  # another site, leading to the article
    trick = await share(store, wrapped, "mallory")
    await enricher.enrich(trick, wrapped)
    # Alice shares the article itself: it is a link of its own, not "already shared by mallory".
    real = await share(store, target, "alice")
    assert real != trick
    # Once both are known, the redirecting link is folded into the real page's, not the reverse.
    looked = await enricher.enrich(trick, wrapped)
    assert (looked.merge.kept_id, looked.merge.merged_id) == (real, trick)
    record = await LinkStore(store).get_link(real)
    assert record.link.url == target and {s.sharer_name for s in record.shares} == {"alice", "mallory"}


async def test_forget_me_reaches_shares_kept_in_merge_records_so_unmerge_cannot_bring_them_back(
        store: Store, enricher: Enricher, pages: PageServer):
    from watchbot.store.moderation import ModerationStore

    article = pages.page("/forget/article", "<title>Article</title>")
    short = pages.redirect("/forget/s", "/forget/article")
    result = await file_post(store, Post(source=Source.MATRIX, place="!room:x", author_id="@alice:x",
                                         author_name="alice", text=f"{article} {short} #secret",
                                         event_id="$both-forget"), Rules())
    kept, gone = (r.filed.link.id for r in result.results)
    await enricher.enrich(gone, short)  # alice's share of the short link is kept in the merge record
    assert (await ModerationStore(store).forget("@alice:x")).shares == 2
    await LinkPages(store).unmerge(gone, actor="cli:test")
    assert await LinkStore(store).get_link(gone) is None and await LinkStore(store).count_links() == 0  # nothing of hers came back


async def test_a_page_whose_reading_raises_is_kept_as_failed_and_the_worker_goes_on(
        store: Store, enricher: Enricher, pages: PageServer, monkeypatch):
    import watchbot.enrich.worker as worker
    from tests.poison import eventually
    from watchbot.store.failures import RETRIED, FailureStore

    monkeypatch.setattr(worker, "IDLE_SECONDS", 0.1)
    bad_url = pages.page("/raises/bad", ARTICLE.replace("/article", "/raises/bad"))
    good_url = pages.page("/raises/good", ARTICLE.replace("/article", "/raises/good"))
    real_found, met = enricher.pages.found, []

    async def found(link_id, page, other_keys):  # a bug after the page was read, for one link
        if link_id == bad:
            met.append(link_id)
            raise KeyError("og:nothing")
        return await real_found(link_id, page, other_keys)

    monkeypatch.setattr(enricher.pages, "found", found)
    bad = await share(store, bad_url)
    task = asyncio.create_task(enricher.run())
    try:
        good = await share(store, good_url)
        await eventually(lambda: _state_is(store, good, PageState.OK), "the good page to be read")
        [failure] = await eventually(lambda: FailureStore(store).list(), "the bad page to be kept as failed")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert (failure.source, failure.place, failure.event_id, failure.reason) == (
        "page", bad_url, str(bad), "KeyError: 'og:nothing'")
    page = (await LinkStore(store).get_link(bad)).page
    assert (page.state, page.reason, page.next_fetch_at) == (PageState.FAILED, "unexpected error: KeyError: "
                                                             "'og:nothing'", None)
    assert await LinkPages(store).due(utcnow() + timedelta(days=365), 10) == []  # not tried again on its own
    assert met == [bad]

    monkeypatch.setattr(enricher.pages, "found", real_found)
    await FailureStore(store).ask_retry([failure.id])
    await enricher.retry_asked()
    assert (await FailureStore(store).get(failure.id)).resolution == RETRIED
    assert (await LinkStore(store).get_link(bad)).link.title == "Kernel 7.0 released"


async def _state_is(store: Store, link_id: int, state: PageState) -> bool:
    return (await LinkStore(store).get_link(link_id)).page.state is state
