"""The privacy matrix: every public surface x every way a private share can arrive.

A private share (a direct chat) of the same page as a public share carries canary strings in
its URL (a tracking parameter, a fragment, a second private-only link), its tags, its note, its
title, its sharer's name and id; the page server echoes what it was asked into the page's title.
Whatever a public audience reads (each room command, the "already shared" reply, the digest in
each format, the publishing exports, a report, the moderation log outside the moderators' room,
the web pages and the digests' JSON and Atom)
must hold none of them, on SQLite and on PostgreSQL. Each arrival builds its store once and every
surface is read from it; a failure names each surface that leaked and what.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from io import StringIO
from itertools import count
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.page_server import PageServer, serving_pages
from watchbot.model import Period
from watchbot.commands import Caller, parse_command, run_command
from watchbot.config import Settings
from watchbot.digest.build import build_digest
from watchbot.digest.render import render_json, render_markdown, render_matrix, render_matrix_parts, render_thread
from watchbot.digest.schedule import week_of
from watchbot.enrich.worker import Enricher
from watchbot.fetch import GuardedClient, parse_allow_networks
from watchbot.formats import write_export
from watchbot.intake import Rules, describe, file_post, refile_post
from watchbot.links import HOST_TRACKING_PARAMS, TRACKING_PARAMS
from watchbot.model import Post, Source, Visibility, utcnow
from watchbot.moderation import Moderation, ModerationOptions
from watchbot.policy import Power, Role
from watchbot.store import Store
from watchbot.store.digests import DigestRuns
from watchbot.store.links import LinkStore
from watchbot.store.pages import LinkPages
from watchbot.store.published import PublishedReader
from watchbot.web.app import build_app
from watchbot.web.site import Site, WebOptions

UTC = ZoneInfo("UTC")
PUBLIC_ROOM, DIRECT_CHAT, MODERATORS_ROOM = "!pub:x", "!dm:x", "!mods:x"
ALICE = Caller("@alice:x", "Alice", Power(Role.MEMBER, PUBLIC_ROOM))
BOB = Caller("@bob:x", "Bob", Power(Role.MEMBER, PUBLIC_ROOM))
ADMIN_IN_PUBLIC = Caller("@root:x", "root", Power(Role.ADMIN, PUBLIC_ROOM, store_wide=True))
WATCH_MOD = Caller("@watch:x", "watch", Power(Role.MODERATOR, MODERATORS_ROOM, store_wide=True))
CANARIES = ("CANARYURL", "CANARYFRAG", "CANARYPATH", "canarytag", "canarynote", "CANARYTITLE", "CANARYDESC",
            "Canaryname", "canaryid")
ARRIVALS = ("private_first", "public_first", "merge", "title_from_private_url", "feed_entry", "edit")
_events = count(1)


@pytest.fixture(scope="module")
def pages() -> Iterator[PageServer]:
    """Pages that say what they were asked: a title from a private URL would carry its canary."""
    async def echo(request: web.Request) -> web.Response:
        asked = request.query_string
        canonical = '<link rel="canonical" href="/post?id=7">' if request.path.startswith("/amp") else ""
        return web.Response(text=f"<title>Post {asked}</title><meta name='description' content='About {asked}'>"
                                 f"{canonical}", content_type="text/html")

    with serving_pages() as server:
        server.handle("/post", echo)
        server.handle("/amp/post", echo)
        yield server


def public_url(pages: PageServer) -> str:
    return pages.url("/post?id=7&utm_source=mastodon&fbclid=PUBTRACK")


def published(pages: PageServer) -> str:
    return pages.url("/post?id=7")


def private_url(pages: PageServer, *, amp: bool = False) -> str:
    path = "/amp/post?utm_campaign=CANARYURL" if amp else "/post?id=7&utm_campaign=CANARYURL"
    return pages.url(f"{path}#CANARYFRAG")


def _post(place: str, who: Caller | tuple[str, str], text: str, visibility: Visibility, hours_ago: float,
          **more) -> Post:
    author_id, name = (who.user_id, who.name) if isinstance(who, Caller) else who
    return Post(source=more.pop("source", Source.MATRIX), place=place, author_id=author_id, author_name=name,
                text=text, event_id=more.pop("event_id", f"$e{next(_events)}"), visibility=visibility,
                at=utcnow() - timedelta(hours=hours_ago), **more)


def private_post(pages: PageServer, hours_ago: float, *, amp: bool = False, text: str | None = None,
                 event_id: str | None = None) -> Post:
    words = text if text is not None else (
        f"{private_url(pages, amp=amp)} and https://secret.example/CANARYPATH #canarytag")
    return _post(DIRECT_CHAT, ("@canaryid:x", "Canaryname"), words, Visibility.DIRECT, hours_ago,
                 note="canarynote", title="CANARYTITLE", description="CANARYDESC",
                 **({"event_id": event_id} if event_id else {}))


def public_post(pages: PageServer, hours_ago: float) -> Post:
    return _post(PUBLIC_ROOM, ALICE, f"{public_url(pages)} #public", Visibility.PUBLIC, hours_ago)


async def fetch_due_pages(store: Store, enricher: Enricher) -> None:
    """What the bot's page worker would do: fetch every page due, until none is."""
    for _ in range(5):
        due = await LinkPages(store).due(utcnow() + timedelta(seconds=1), 50)
        if not due:
            return
        for link_id, url in due:
            await enricher.enrich(link_id, url)


async def arrive(kind: str, store: Store, pages: PageServer, enricher: Enricher) -> None:
    """The private share and the public one, in the way `kind` says."""
    if kind == "private_first":
        await file_post(store, private_post(pages, 5), Rules())
        await file_post(store, public_post(pages, 4), Rules())
    elif kind == "public_first":
        await file_post(store, public_post(pages, 5), Rules())
        await fetch_due_pages(store, enricher)
        await file_post(store, private_post(pages, 4), Rules())
    elif kind == "merge":  # two URLs, one page: the private one is the older link, and is kept
        await file_post(store, private_post(pages, 5, amp=True), Rules())
        await file_post(store, public_post(pages, 4), Rules())
    elif kind == "title_from_private_url":  # its page fetched while only the private share existed
        await file_post(store, private_post(pages, 5), Rules())
        await fetch_due_pages(store, enricher)
        await file_post(store, public_post(pages, 4), Rules())
        return  # read before the page worker fetches it again from the public URL
    elif kind == "feed_entry":  # the public share is a feed's entry, filed after the private one
        await file_post(store, private_post(pages, 5), Rules())
        await file_post(store, _post("https://feeds.example/atom", ("https://feeds.example/atom", "Example feed"),
                                     "", Visibility.PUBLIC, 4, source=Source.FEED, links=(public_url(pages),),
                                     title="Feed entry title", extra_tags=("public",)), Rules())
    elif kind == "edit":  # a direct message edited to share the link
        await file_post(store, public_post(pages, 5), Rules())
        await file_post(store, private_post(pages, 4, text="hello", event_id="$dm-edit"), Rules())
        await refile_post(store, private_post(pages, 4, event_id="$dm-edit"), Rules())
    else:
        raise ValueError(kind)
    await fetch_due_pages(store, enricher)


Surface = Callable[[Store, Moderation, PageServer], Awaitable[str]]


def command(caller: Caller, text: str) -> Surface:
    async def run(store: Store, gate: Moderation, pages: PageServer) -> str:
        reply = await run_command(store, parse_command(text), caller, UTC, moderation=gate)
        return "\n".join(filter(None, [reply.text, reply.html, reply.for_moderators]))
    return run


async def the_link_id(store: Store, pages: PageServer) -> int:
    [link] = await PublishedReader(store).search("public")  # its tag (PostgreSQL reads a URL as one word)
    return link.id


def command_on_the_link(caller: Caller, text: str) -> Surface:
    async def run(store: Store, gate: Moderation, pages: PageServer) -> str:
        return await command(caller, text.format(id=await the_link_id(store, pages)))(store, gate, pages)
    return run


def search_for(word: str) -> Surface:
    async def run(store: Store, gate: Moderation, pages: PageServer) -> str:
        said = await command(BOB, f"!watch search {word}")(store, gate, pages)
        return said.replace(f"“{word}”", "“…”")  # the answer repeats the question: not a leak
    return run


async def already_shared(store: Store, gate: Moderation, pages: PageServer) -> str:
    result = await file_post(store, _post(PUBLIC_ROOM, BOB, public_url(pages), Visibility.PUBLIC, 1), Rules())
    return "\n".join(describe(r, UTC) for r in result.results)


async def the_digest(store: Store):
    period = Period(utcnow() - timedelta(days=7), utcnow() + timedelta(minutes=1))
    return build_digest(await PublishedReader(store).shared_between(period.start, period.end), period)


def digest_as(render: Callable) -> Surface:
    async def run(store: Store, gate: Moderation, pages: PageServer) -> str:
        return str(render(await the_digest(store)))
    return run


def export_as(fmt: str) -> Surface:
    async def run(store: Store, gate: Moderation, pages: PageServer) -> str:
        out = StringIO()
        await _write(store, fmt, out)
        return out.getvalue()
    return run


async def _write(store: Store, fmt: str, out: StringIO) -> None:
    write_export([record async for record in LinkStore(store).iter_records()], fmt, out, now=utcnow())


async def modlog_after_removing_a_private_link(store: Store, gate: Moderation, pages: PageServer) -> str:
    [secret] = [link for link in await LinkStore(store).search("secret") if "CANARYPATH" in link.url]
    removed = await command(WATCH_MOD, f"!watch rm {secret.id}")(store, gate, pages)
    assert removed.startswith(f"Removed #{secret.id}")
    return await command(ADMIN_IN_PUBLIC, "!watch modlog")(store, gate, pages)


def on_the_web(path: str, asked: str | None = None) -> Surface:
    """What the web's JSON API or Atom feeds answer at `path` (`{id}`: the link's number). The
    answer repeats what was `asked` (a search's words, a feed's tag): that is not a leak."""
    async def run(store: Store, gate: Moderation, pages: PageServer) -> str:
        from tests.web_serving import serving

        async with serving(store) as client:
            answer = await client.get(path.format(id=await the_link_id(store, pages)))
            said = f"{answer.status} " + await answer.text()
        if asked is not None:
            for echo in (f'"query": "{asked}"', f"#{asked}<", f"/tags/{asked}.atom", f"/tags/{asked}\""):
                said = said.replace(echo, "…")
        return said
    return run


async def posted_week(store: Store) -> str:
    """The week of `the_digest`'s period, its digest recorded as posted (once)."""
    runs = DigestRuns(store)
    posted = await runs.posted_periods()
    if posted:
        return week_of(posted[0], UTC)
    period = (await the_digest(store)).period
    claim = await runs.claim("matrix:!pub:x", period, "test")
    await runs.finish(claim.run_id)
    return week_of(period, UTC)


def web_page(path: str, *, repeats: str | None = None) -> Surface:
    """A web page or feed; {id}: the public link's number, {week}: a week whose digest went out;
    `repeats`: the words it repeats as asked (a search), which are no leak."""
    async def run(store: Store, gate: Moderation, pages: PageServer) -> str:
        site = Site(store=store, options=WebOptions(base_url="https://watch.example"))
        where = path.format(id=await the_link_id(store, pages), week=await posted_week(store))
        async with TestClient(TestServer(build_app(site), host="127.0.0.1")) as client:
            response = await client.get(where)
            assert response.status == 200, where
            page = await response.text()
        return page.replace(repeats, "…") if repeats else page
    return run


# Each surface, and what of the public share it must show (so an empty answer cannot pass).
SURFACES: dict[str, tuple[Surface, str | None]] = {
    "show": (command_on_the_link(BOB, "!watch show {id}"), "/post?id=7"),
    "recent": (command(BOB, "!watch recent 10"), "/post?id=7"),
    "search public": (command(BOB, "!watch search public"), "/post?id=7"),
    **{f"search {word}": (search_for(word), "Nothing found")
       for word in ("canarytag", "canarynote", "canaryurl", "canarytitle", "canarydesc", "canaryname", "canarypath")},
    "tags": (command(BOB, "!watch tags"), "public (1)"),
    # An admin retags every share of it, the private one too: the room sees the public tags only.
    "tag +x": (command_on_the_link(ADMIN_IN_PUBLIC, "!watch tag {id} +extra"), "is now tagged"),
    "top week": (command(BOB, "!watch top week"), "/post?id=7"),
    "digest preview": (command(BOB, "!watch digest preview"), None),  # its period may have just begun
    "report": (command_on_the_link(BOB, "!watch report {id} spam"), "Report on #"),
    "already shared": (already_shared, "your share is counted too"),
    "digest matrix": (digest_as(lambda d: render_matrix(d, UTC)), "/post?id=7"),
    "digest matrix parts": (digest_as(lambda d: render_matrix_parts(d, UTC, max_bytes=300)), "/post?id=7"),
    "digest markdown": (digest_as(lambda d: render_markdown(d, UTC)), "/post?id=7"),
    "digest mastodon thread": (digest_as(lambda d: render_thread(d, UTC)), "/post?id=7"),
    "digest json": (digest_as(lambda d: json.dumps(render_json(d), ensure_ascii=False)), "/post?id=7"),
    "export html": (export_as("html"), "/post?id=7"),
    "export atom": (export_as("atom"), "/post?id=7"),
    "modlog outside the moderators' room": (modlog_after_removing_a_private_link, "a link shared privately"),
    "web /api/links": (on_the_web("/api/links"), "/post?id=7"),
    "web /api/links/ID": (on_the_web("/api/links/{id}"), "/post?id=7"),
    "web /api/search": (on_the_web("/api/search?q=public"), "/post?id=7"),
    **{f"web /api/search {word}": (on_the_web(f"/api/search?q={word}", word), '"links": []')
       for word in ("canarytag", "canarynote", "canarytitle", "canaryname", "canarypath")},
    "web /api/links?q=canarynote": (on_the_web("/api/links?q=canarynote"), '"links": []'),
    "web /api/tags": (on_the_web("/api/tags"), '"tag": "public"'),
    "web /feeds/links.atom": (on_the_web("/feeds/links.atom"), "/post?id=7"),
    "web /feeds/tags/public.atom": (on_the_web("/feeds/tags/public.atom"), "/post?id=7"),
    "web /feeds/tags/canarytag.atom": (on_the_web("/feeds/tags/canarytag.atom", "canarytag"), "200 "),
    "web front page": (web_page("/"), 'href="/tags/public"'),
    "web link page": (web_page("/links/{id}"), "/post?id=7"),
    "web tag page": (web_page("/tags/public"), 'href="/tags/public"'),
    "web tags": (web_page("/tags"), 'href="/tags/public"'),
    "web search public": (web_page("/search?q=public"), 'href="/tags/public"'),
    **{f"web search {word}": (web_page(f"/search?q={word}", repeats=word), "Nothing found")
       for word in ("canarytag", "canarynote", "canaryurl", "canarytitle", "canarydesc", "canaryname", "canarypath")},
    "web week page": (web_page("/weeks/{week}"), 'href="/links/'),
    "web digests json": (web_page("/api/digests/{week}"), "/post?id=7"),
    "web digests atom": (web_page("/feeds/digests.atom"), "/post?id=7"),
}


@pytest.fixture
async def enricher(store: Store) -> Enricher:
    client = GuardedClient(user_agent="watchbot-tests", allow=parse_allow_networks("127.0.0.1/32"), timeout=5)
    yield Enricher(store, client)
    await client.aclose()


@pytest.mark.parametrize("kind", ARRIVALS)
async def test_no_canary_of_a_private_share_reaches_a_public_surface(
        kind: str, store: Store, pages: PageServer, enricher: Enricher):
    await arrive(kind, store, pages, enricher)
    gate = Moderation(store, ModerationOptions.from_settings(Settings(_env_file=None, admins=["@root:x"], moderators_room=MODERATORS_ROOM)))
    leaks, missing = {}, {}
    for name, (surface, shown) in SURFACES.items():
        said = await surface(store, gate, pages)
        found = [canary for canary in CANARIES if canary.lower() in said.lower()]
        if found:
            leaks[name] = found
        if shown is not None and shown not in said:
            missing[name] = said[:300]
    assert leaks == {}
    assert missing == {}
    # The store still holds what was posted, as posted: the backups keep it whole.
    backup = StringIO()
    await _write(store, "json", backup)
    assert all(canary in backup.getvalue() for canary in ("CANARYURL", "CANARYFRAG", "canarynote", "Canaryname"))


async def test_the_moderators_room_sees_what_the_log_says_of_a_private_link(store: Store):
    await file_post(store, _post(DIRECT_CHAT, ("@canaryid:x", "Canaryname"), "https://secret.example/CANARYPATH",
                                 Visibility.DIRECT, 1), Rules())
    gate = Moderation(store, ModerationOptions.from_settings(Settings(_env_file=None, admins=["@root:x"], moderators_room=MODERATORS_ROOM)))
    [link] = await LinkStore(store).list_links()
    await command(WATCH_MOD, f"!watch rm {link.id}")(store, gate, None)
    assert "https://secret.example/CANARYPATH" in await command(WATCH_MOD, "!watch modlog")(store, gate, None)
    assert "CANARYPATH" not in await command(ADMIN_IN_PUBLIC, "!watch modlog")(store, gate, None)


async def test_a_page_fetched_from_a_private_url_is_fetched_again_from_the_published_one(
        store: Store, pages: PageServer, enricher: Enricher):
    await arrive("title_from_private_url", store, pages, enricher)
    [link] = await PublishedReader(store).search("public")
    assert link.url == published(pages) and link.title is None  # not the private URL's page
    await fetch_due_pages(store, enricher)
    [link] = await PublishedReader(store).search("public")
    assert link.url == published(pages)
    assert link.title == "Post id=7"  # fetched again from the URL published, once it was public
    assert "CANARYURL" in (await LinkStore(store).get_link(link.id)).link.url  # the store keeps it as posted


# -- tracking parameters ------------------------------------------------------------------------


def tracked_urls() -> list[tuple[str, str]]:
    """(URL with every tracking parameter the dedupe key knows, the URL published), from the
    key's own rule lists: each generic name, and each site's own names on that site."""
    generic = sorted(TRACKING_PARAMS)
    query = "&".join(f"{name.replace('*', 'campaign')}=trk{i}" for i, name in enumerate(generic))
    urls = [(f"https://Blog.Example/Path/Post?id=7&{query}&Keep=Me#section",
             "https://Blog.Example/Path/Post?id=7&Keep=Me")]
    for n, rule in enumerate(HOST_TRACKING_PARAMS):
        path = "/someone/status/123" if rule.path is not None else f"/watch{n}"
        names = "&".join(f"{name}=trk{n}x{i}" for i, name in enumerate(sorted(rule.names)))
        clean = f"https://{rule.domains[0]}{path}?v=keep{n}"
        urls.append((f"{clean}&{names}", clean))
    return urls


async def test_no_published_url_carries_a_tracking_parameter(store: Store):
    gate = Moderation(store, ModerationOptions.from_settings(Settings(_env_file=None, admins=["@root:x"])))
    said = []
    for i, (url, clean) in enumerate(tracked_urls()):  # "Filed #N URL" as the sharer is told
        result = await file_post(store, _post(PUBLIC_ROOM, ALICE, f"{url} #tracked", Visibility.PUBLIC, 2 + i / 100),
                                 Rules())
        said.append(describe(result.results[0], UTC))
    said += [await command(BOB, "!watch recent 10")(store, gate, None),
            await command(BOB, "!watch search tracked")(store, gate, None),
            await command(BOB, "!watch top week")(store, gate, None),
            str(render_matrix(await the_digest(store), UTC)),
            render_markdown(await the_digest(store), UTC),
            "\n".join(render_thread(await the_digest(store), UTC)),
            json.dumps(render_json(await the_digest(store)))]
    for fmt in ("html", "atom"):
        out = StringIO()
        await _write(store, fmt, out)
        said.append(out.getvalue())
    for url, clean in tracked_urls():
        [link] = [link for link in await PublishedReader(store).recent(limit=20) if link.url == clean]
        said.append(await command(BOB, f"!watch show {link.id}")(store, gate, None))
        said.append((await command(BOB, f"!watch report {link.id}")(store, gate, None)))
    text = "\n".join(said)
    assert "trk" not in text and "#section" not in text
    for url, clean in tracked_urls():  # path, case and meaningful parameters kept
        assert clean in text
    # The URL as posted stays in the store and the backups.
    out = StringIO()
    await _write(store, "csv", out)
    assert all(url in out.getvalue() for url, _ in tracked_urls())
