"""The privacy matrix: every public surface x every kind of non-public share x every way it arrives.

Four kinds of share may not be published, and each is filed here as its network's glue files it:
a direct chat and a private (invite-only) room on Matrix (their visibility read from the rooms'
records, as the adapter reads it), a followers-only status and a direct status on the fediverse
(the Post made by `post_from_status` from the status's JSON). Each carries canary strings of its
own (a tracking parameter and a fragment of its URL, a second link only it shares, its tag, note,
title, description, sharer's name and id, its room's name), beside a public share of the same
page; the page server echoes what it was asked into the page's title.

Whatever a public audience reads (each room command, the "already shared" reply, the digest as
built for each outlet and rendered by it, the publishing exports, a report, the moderation log
outside the moderators' room, the web pages, the JSON API, the Atom feeds, /metrics) must hold no
canary of any kind, and must show the public share (or the answer that says it looked: "Nothing
found"), so an empty answer fails. A private place reading its own shares (the direct chat, the
private room, a fediverse sharer answered where they shared) must show its own and no other's.
On SQLite and PostgreSQL; each arrival builds its store once and every surface is read from it;
a failure names each surface, the kind that leaked and what.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from io import StringIO
from itertools import count
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text as sql_text

from tests.page_server import PageServer, serving_pages
from watchbot.commands import Caller, DigestOptions, parse_command, run_command
from watchbot.config import Settings
from watchbot.digest.build import Digest
from watchbot.digest.render import render_json, render_markdown, render_matrix, render_matrix_parts, render_thread
from watchbot.digest.schedule import week_of
from watchbot.digest.scheduler import DigestScheduler, SchedulerOptions
from watchbot.enrich.worker import Enricher
from watchbot.fetch import GuardedClient, parse_allow_networks
from watchbot.formats import write_export
from watchbot.intake import Rules, describe, file_post, refile_post
from watchbot.links import HOST_TRACKING_PARAMS, TRACKING_PARAMS
from watchbot.model import Audience, Period, Post, Source, Visibility, utcnow
from watchbot.moderation import Moderation, ModerationOptions
from watchbot.networks.fediverse.events import post_from_status
from watchbot.networks.fediverse.outlets import MastodonDigestOutlet
from watchbot.networks.matrix.events import acknowledgements, owed_in
from watchbot.networks.matrix.outlets import MatrixDigestOutlet, MatrixDraftOutlet
from watchbot.outbox import Sender
from watchbot.policy import Power, Role
from watchbot.rooms import RoomState, treatment_of
from watchbot.status_text import StatusLimits
from watchbot.store import Store
from watchbot.store.digests import DigestRuns
from watchbot.store.failures import FailureStore
from watchbot.store.links import LinkStore
from watchbot.store.pages import LinkPages
from watchbot.store.published import PublishedReader
from watchbot.store.reactions import ReactionStore
from watchbot.store.rooms import RoomStore
from watchbot.web.app import build_app
from watchbot.web.site import Site, WebOptions

UTC = ZoneInfo("UTC")
PUBLIC_ROOM, DIRECT_CHAT, PRIVATE_ROOM, MODERATORS_ROOM = "!pub:x", "!dm:x", "!private:x", "!mods:x"
INSTANCE = "social.example"  # the bot's fediverse server: the place of every status filed from it
ALICE = Caller("@alice:x", "Alice", Power(Role.MEMBER, PUBLIC_ROOM))
BOB = Caller("@bob:x", "Bob", Power(Role.MEMBER, PUBLIC_ROOM))
ADMIN_IN_PUBLIC = Caller("@root:x", "root", Power(Role.ADMIN, PUBLIC_ROOM, store_wide=True))
WATCH_MOD = Caller("@watch:x", "watch", Power(Role.MODERATOR, MODERATORS_ROOM, store_wide=True))
ARRIVALS = ("private_first", "public_first", "merge", "title_from_private_url", "feed_entry", "edit")
PUBLIC_SHOWN = "/post?id=7"  # the public share's URL, as published
_events = count(1)


@dataclass(frozen=True)
class Kind:
    """A kind of share that may not be published, with canaries of its own."""

    code: str  # in every canary of this kind: "dm" -> CANARYURLDM, canarytagdm, ...
    name: str
    network: Source
    place: str
    status_visibility: str | None = None  # the status's own word, on the fediverse

    def canary(self, word: str) -> str:
        return word + (self.code.upper() if word.isupper() or word[0].isupper() else self.code)

    @property
    def sharer_id(self) -> str:
        return f"@canaryid{self.code}:x" if self.network is Source.MATRIX else f"canaryid{self.code}@{INSTANCE}"

    @property
    def sharer_name(self) -> str:
        return self.canary("Canaryname")

    @property
    def room_name(self) -> str | None:
        return self.canary("Canaryroom") if self.network is Source.MATRIX else None

    @property
    def canaries(self) -> tuple[str, ...]:
        words = ("CANARYURL", "CANARYFRAG", "CANARYPATH", "canarytag", "canarynote", "CANARYTITLE", "CANARYDESC",
                 "Canaryname", "canaryid")
        return tuple(self.canary(word) for word in words) + ((self.room_name,) if self.room_name else ())

    @property
    def secret_url(self) -> str:
        """A link only this share holds."""
        return f"https://secret.example/{self.canary('CANARYPATH')}"


DM = Kind("dm", "direct chat", Source.MATRIX, DIRECT_CHAT)
ROOM = Kind("room", "private room", Source.MATRIX, PRIVATE_ROOM)
FOLLOWERS = Kind("fol", "followers-only status", Source.MASTODON, INSTANCE, "private")
DIRECT_STATUS = Kind("dst", "direct status", Source.MASTODON, INSTANCE, "direct")
KINDS = (DM, ROOM, FOLLOWERS, DIRECT_STATUS)
# The words of each kind a search may be asked (a URL is one word on PostgreSQL: its parts are not).
SEARCHED = ("canarytag", "canarynote", "canaryurl", "canarytitle", "canarydesc", "canaryname", "canarypath")


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


def private_url(pages: PageServer, kind: Kind = DM, *, amp: bool = False) -> str:
    campaign = kind.canary("CANARYURL")
    path = f"/amp/post?utm_campaign={campaign}" if amp else f"/post?id=7&utm_campaign={campaign}"
    return pages.url(f"{path}#{kind.canary('CANARYFRAG')}")


def _post(place: str, who: Caller | tuple[str, str], text: str, visibility: Visibility, hours_ago: float,
          **more) -> Post:
    author_id, name = (who.user_id, who.name) if isinstance(who, Caller) else who
    return Post(source=more.pop("source", Source.MATRIX), place=place, author_id=author_id, author_name=name,
                text=text, event_id=more.pop("event_id", f"$e{next(_events)}"), visibility=visibility,
                at=utcnow() - timedelta(hours=hours_ago), **more)


async def record_rooms(store: Store) -> None:
    """The rooms as the Matrix adapter records them from their state: the public room, the
    invite-only room and the direct chat (each named, the private ones with a canary)."""
    rooms = RoomStore(store)
    await rooms.record(PUBLIC_ROOM, "Public room", treatment_of(RoomState(join_rule="public")), at=utcnow())
    await rooms.record(PRIVATE_ROOM, ROOM.room_name, treatment_of(RoomState(join_rule="invite")), at=utcnow())
    await rooms.record(DIRECT_CHAT, DM.room_name, treatment_of(RoomState(direct=True)), at=utcnow())


async def room_visibility(store: Store, room_id: str) -> Visibility:
    """How the Matrix adapter files a message of this room: as the room's record says."""
    return (await RoomStore(store).get(room_id)).visibility


def status(kind: Kind, who: tuple[str, str], content: str, hours_ago: float, *, uri: str | None = None,
           tags: tuple[str, ...] = ()) -> dict:
    """A status as the Mastodon API gives it, mentioning the bot."""
    acct, name = who
    mention = (f'<span class="h-card"><a href="https://{INSTANCE}/@watch" class="u-url mention">'
               f'@<span>watch</span></a></span>')
    hashtags = " ".join(f'<a href="https://{INSTANCE}/tags/{tag}" class="mention hashtag" rel="tag">'
                        f'#<span>{tag}</span></a>' for tag in tags)
    return {"id": str(next(_events)), "uri": uri or f"https://{INSTANCE}/users/{acct}/statuses/{next(_events)}",
            "visibility": kind.status_visibility,
            "created_at": (utcnow() - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z"),
            "account": {"id": acct, "acct": acct, "username": acct, "display_name": name},
            "content": f"<p>{mention} {content} {hashtags}</p>",
            "mentions": [{"url": f"https://{INSTANCE}/@watch", "acct": "watch"}],
            "tags": [{"name": tag, "url": f"https://{INSTANCE}/tags/{tag}"} for tag in tags]}


def anchor(url: str) -> str:
    return f'<a href="{html.escape(url)}" rel="nofollow noopener">{html.escape(url)}</a>'


async def private_post(kind: Kind, store: Store, pages: PageServer, hours_ago: float, *, amp: bool = False,
                       links: bool = True, event_id: str | None = None) -> Post:
    """This kind's share of the page, and of its secret link, with its canaries, filed as its
    network's glue files it (or, `links` false, the message before an edit added them)."""
    url = private_url(pages, kind, amp=amp)
    tag = kind.canary("canarytag")
    given = {"note": kind.canary("canarynote"), "title": kind.canary("CANARYTITLE"),
             "description": kind.canary("CANARYDESC")}
    if kind.network is Source.MATRIX:
        text = f"{url} and {kind.secret_url} #{tag}" if links else "hello"
        return _post(kind.place, (kind.sharer_id, kind.sharer_name), text, await room_visibility(store, kind.place),
                     hours_ago, **given, **({"event_id": event_id} if event_id else {}))
    content = f"{anchor(url)} and {anchor(kind.secret_url)}" if links else "hello"
    made = post_from_status(status(kind, (f"canaryid{kind.code}", kind.sharer_name), content, hours_ago,
                                   uri=event_id, tags=(tag,) if links else ()), INSTANCE)
    # A status gives no note nor title today; a share filed with them must keep them private all the same.
    return replace(made, **given)


async def file_privately(store: Store, pages: PageServer, hours_ago: float, *, lead: int, **how) -> None:
    """Every kind's private share, `lead` first, a minute apart."""
    for n, kind in enumerate(KINDS[lead:] + KINDS[:lead]):
        await file_post(store, await private_post(kind, store, pages, hours_ago - n / 60, **how), Rules())


async def public_post(store: Store, pages: PageServer, hours_ago: float) -> Post:
    return _post(PUBLIC_ROOM, ALICE, f"{public_url(pages)} #public", await room_visibility(store, PUBLIC_ROOM),
                 hours_ago)


async def fetch_due_pages(store: Store, enricher: Enricher) -> None:
    """What the bot's page worker would do: fetch every page due, until none is."""
    for _ in range(5):
        due = await LinkPages(store).due(utcnow() + timedelta(seconds=1), 50)
        if not due:
            return
        for link_id, url in due:
            await enricher.enrich(link_id, url)


async def arrive(arrival: str, store: Store, pages: PageServer, enricher: Enricher) -> None:
    """Every kind's private share and the public one, in the way `arrival` says; each arrival
    puts another kind first (the one whose URL and page a link may have been filed with)."""
    lead = ARRIVALS.index(arrival) % len(KINDS)
    await record_rooms(store)
    if arrival == "private_first":
        await file_privately(store, pages, 5, lead=lead)
        await file_post(store, await public_post(store, pages, 4), Rules())
    elif arrival == "public_first":
        await file_post(store, await public_post(store, pages, 5), Rules())
        await fetch_due_pages(store, enricher)
        await file_privately(store, pages, 4, lead=lead)
    elif arrival == "merge":  # two URLs, one page: the private one is the older link, and is kept
        await file_privately(store, pages, 5, lead=lead, amp=True)
        await file_post(store, await public_post(store, pages, 4), Rules())
    elif arrival == "title_from_private_url":  # its page fetched while only the private shares existed
        await file_privately(store, pages, 5, lead=lead)
        await fetch_due_pages(store, enricher)
        await file_post(store, await public_post(store, pages, 4), Rules())
        return  # read before the page worker fetches it again from the public URL
    elif arrival == "feed_entry":  # the public share is a feed's entry, filed after the private ones
        await file_privately(store, pages, 5, lead=lead)
        await file_post(store, _post("https://feeds.example/atom", ("https://feeds.example/atom", "Example feed"),
                                     "", Visibility.PUBLIC, 4, source=Source.FEED, links=(public_url(pages),),
                                     title="Feed entry title", extra_tags=("public",)), Rules())
    elif arrival == "edit":  # each private message edited to share the link
        await file_post(store, await public_post(store, pages, 5), Rules())
        for n, kind in enumerate(KINDS[lead:] + KINDS[:lead]):
            event_id = (f"$edit-{kind.code}" if kind.network is Source.MATRIX
                        else f"https://{INSTANCE}/s/edit-{kind.code}")
            await file_post(store, await private_post(kind, store, pages, 4 - n / 60, links=False, event_id=event_id),
                            Rules())
            await refile_post(store, await private_post(kind, store, pages, 4 - n / 60, event_id=event_id), Rules())
    else:
        raise ValueError(arrival)
    await fetch_due_pages(store, enricher)


def schedule_since_two_days() -> str:
    """A yearly digest schedule whose current period began two days ago: every share here is in
    it, whatever day and hour the tests run (a weekly one may have just begun)."""
    start = utcnow() - timedelta(days=2)
    return f"{start.minute} {start.hour} {start.day} {start.month} *"


# -- the surfaces ---------------------------------------------------------------------------------


@dataclass
class Scene:
    """What every surface reads: the store after an arrival, moderation, and the web app on it."""

    store: Store
    gate: Moderation
    pages: PageServer
    client: TestClient
    schedule: str
    _link_id: int | None = None
    _week: str | None = None

    async def link_id(self) -> int:
        """The public link's number (found by its tag: PostgreSQL reads a URL as one word)."""
        if self._link_id is None:
            [link] = await PublishedReader(self.store).search("public")
            self._link_id = link.id
        return self._link_id

    async def expand(self, text: str) -> str:
        """`text` with {id} the public link's number and {week} the posted week."""
        if "{id}" in text:
            text = text.replace("{id}", str(await self.link_id()))
        return text.replace("{week}", await self.week()) if "{week}" in text else text

    async def week(self) -> str:
        """The week of `the_digest`'s period, its digest recorded as posted (once)."""
        if self._week is None:
            runs = DigestRuns(self.store)
            period = (await the_digest(self.store)).period
            claim = await runs.claim("matrix:!pub:x", period, "test")
            await runs.finish(claim.run_id)
            self._week = week_of(period, UTC)
        return self._week


Read = Callable[[Scene], Awaitable[str]]


@dataclass(frozen=True)
class Surface:
    """Something an audience reads, and what it must show. `own`: a private place reading its own
    shares, so that kind's canaries may appear there (and `own_shows` of them must)."""

    name: str
    read: Read
    shows: str
    own: Kind | None = None
    own_shows: tuple[str, ...] = field(default=())


def command(caller: Caller, text: str) -> Read:
    async def run(scene: Scene) -> str:
        reply = await run_command(scene.store, parse_command(await scene.expand(text)), caller, UTC,
                                  DigestOptions(schedule=scene.schedule), moderation=scene.gate)
        return "\n".join(filter(None, [reply.text, reply.html, reply.for_moderators]))
    return run


def search_for(caller: Caller, word: str) -> Read:
    async def run(scene: Scene) -> str:
        said = await command(caller, f"!watch search {word}")(scene)
        return said.replace(f"“{word}”", "“…”")  # the answer repeats the question: not a leak
    return run


def already_shared(who: tuple[str, str], place: str, visibility: Visibility | None = None,
                   kind: Kind | None = None) -> Read:
    """What `who` is told on sharing the public URL in `place` (a status on the fediverse, as
    `kind` says), after everyone else."""
    async def run(scene: Scene) -> str:
        if kind is not None and kind.network is Source.MASTODON:
            post = post_from_status(status(kind, (who[0].split("@")[0], who[1]), anchor(public_url(scene.pages)), 1),
                                    INSTANCE)
        else:
            post = _post(place, who, public_url(scene.pages),
                         visibility or await room_visibility(scene.store, place), 1)
        result = await file_post(scene.store, post, Rules())
        return "\n".join(describe(r, UTC) for r in result.results)
    return run


async def the_digest(store: Store, place: str | None = None) -> Digest:
    """The digest of the last seven days, as the scheduler builds it for an outlet scoped to `place`."""
    period = Period(utcnow() - timedelta(days=7), utcnow() + timedelta(minutes=1))
    return await DigestScheduler(SchedulerOptions(), store, []).digest(period, place)


def digest_as(render: Callable[[Digest], object], place: str | None = None) -> Read:
    async def run(scene: Scene) -> str:
        return str(render(await the_digest(scene.store, place)))
    return run


def outlet_parts(outlet, place: str | None = None) -> Read:
    """The parts an outlet would post (each outlet's own rendering; its digest scoped as it is)."""
    async def run(scene: Scene) -> str:
        parts = outlet.parts(await the_digest(scene.store, place), UTC)
        return "\n".join(f"{part.text}\n{part.html or ''}" for part in parts)
    return run


def the_digest_unbuilt() -> Read:
    """The period's links as the digest reads them, before it is built: no share the public may not see."""
    async def run(scene: Scene) -> str:
        period = Period(utcnow() - timedelta(days=7), utcnow() + timedelta(minutes=1))
        return repr(await PublishedReader(scene.store).shared_between(period.start, period.end))
    return run


def export_as(fmt: str) -> Read:
    async def run(scene: Scene) -> str:
        out = StringIO()
        await _write(scene.store, fmt, out)
        return out.getvalue()
    return run


async def _write(store: Store, fmt: str, out: StringIO) -> None:
    write_export([record async for record in LinkStore(store).iter_records()], fmt, out, now=utcnow())


METRICS_TOKEN = "metrics-token-for-the-matrix"


def on_the_web(path: str, *, repeats: str | None = None, token: str | None = None) -> Read:
    """A web page, API answer or feed ({id}: the public link's number, {week}: a week whose digest
    went out), its status first. It repeats what was asked (`repeats`: a search's words, a
    feed's tag): that is not a leak."""
    async def run(scene: Scene) -> str:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        answer = await scene.client.get(await scene.expand(path), headers=headers)
        said = f"{answer.status} " + await answer.text()
        if repeats is not None:  # only where and as each route repeats it
            for echo in (f'"query": "{repeats}"', f"#{repeats}<", f"/tags/{repeats}.atom", f"/tags/{repeats}\"",
                         f'value="{repeats}"', f"<bdi>{repeats}</bdi>", f"Search: {repeats} ·",
                         f"tagged {repeats}.", f"#<bdi>{repeats}</bdi>"):
                said = said.replace(echo, "…")
        return said
    return run


async def modlog_after_removing_the_private_links(scene: Scene) -> str:
    secrets = [link for link in await LinkStore(scene.store).search("secret") if "CANARYPATH" in link.url]
    assert len(secrets) == len(KINDS)
    for secret in secrets:
        removed = await command(WATCH_MOD, f"!watch rm {secret.id}")(scene)
        assert removed.startswith(f"Removed #{secret.id}")
    return await command(ADMIN_IN_PUBLIC, "!watch modlog")(scene)


def in_place(kind: Kind) -> Caller:
    """Someone asking where `kind`'s share was made, answered for that place: a Matrix room's
    audience (its own shares, the public's), or on the fediverse the audience of an answer to
    that very share (Audience.of_share: that person's own shares there)."""
    if kind.network is Source.MATRIX:
        return Caller(kind.sharer_id, kind.sharer_name, Power(Role.MEMBER, kind.place), Audience(place=kind.place))
    return Caller(kind.sharer_id, kind.sharer_name, Power(Role.MEMBER, kind.place),
                  Audience(place=kind.place, person=kind.sharer_id))


def public_surfaces(arrival: str) -> list[Surface]:
    """What the public reads, before anything changes the store."""
    found = "Nothing found"
    # A feed's entry is the one public share of "feed_entry": the public room shared nothing itself.
    in_the_public_room = "nothing shared yet" if arrival == "feed_entry" else PUBLIC_SHOWN
    return [
        Surface("show", command(BOB, "!watch show {id}"), PUBLIC_SHOWN),
        Surface("recent", command(BOB, "!watch recent 10"), PUBLIC_SHOWN),
        Surface("search public", command(BOB, "!watch search public"), PUBLIC_SHOWN),
        Surface("search canary", search_for(BOB, "canary"), found),
        *(Surface(f"search {word}{kind.code}", search_for(BOB, f"{word}{kind.code}"), found)
          for kind in KINDS for word in SEARCHED),
        Surface("tags", command(BOB, "!watch tags"), "public (1)"),
        Surface("top week", command(BOB, "!watch top week"), PUBLIC_SHOWN),
        Surface("top month", command(BOB, "!watch top month"), PUBLIC_SHOWN),
        Surface("digest preview", command(BOB, "!watch digest preview"), PUBLIC_SHOWN),
        *(Surface(f"digest preview asked in the {kind.name}", command(in_place(kind), "!watch digest preview"),
                  PUBLIC_SHOWN) for kind in KINDS),
        # The digest: the links as it reads them, built for each outlet, rendered as each posts it.
        Surface("digest's links", the_digest_unbuilt(), PUBLIC_SHOWN),
        Surface("digest matrix", digest_as(lambda d: render_matrix(d, UTC)), PUBLIC_SHOWN),
        Surface("digest matrix parts", digest_as(lambda d: render_matrix_parts(d, UTC, max_bytes=300)), PUBLIC_SHOWN),
        Surface("digest markdown", digest_as(lambda d: render_markdown(d, UTC)), PUBLIC_SHOWN),
        Surface("digest mastodon thread", digest_as(lambda d: render_thread(d, UTC)), PUBLIC_SHOWN),
        Surface("digest json", digest_as(lambda d: json.dumps(render_json(d), ensure_ascii=False)), PUBLIC_SHOWN),
        Surface("outlet: the public room", outlet_parts(MatrixDigestOutlet(None, PUBLIC_ROOM, scoped=False)),
                PUBLIC_SHOWN),
        Surface("outlet: the public room, its own links", outlet_parts(
            MatrixDigestOutlet(None, PUBLIC_ROOM, scoped=True), PUBLIC_ROOM), in_the_public_room),
        Surface("outlet: the private room", outlet_parts(MatrixDigestOutlet(None, PRIVATE_ROOM, scoped=False)),
                PUBLIC_SHOWN),
        # Scoped to its own links, a private room's digest has none: what was said there stays there.
        Surface("outlet: the private room, its own links", outlet_parts(
            MatrixDigestOutlet(None, PRIVATE_ROOM, scoped=True), PRIVATE_ROOM), "nothing shared yet"),
        Surface("outlet: the review room's draft", outlet_parts(MatrixDraftOutlet(None, MODERATORS_ROOM, scoped=False)),
                PUBLIC_SHOWN),
        Surface("outlet: the fediverse thread", outlet_parts(MastodonDigestOutlet(
            INSTANCE, None, None, StatusLimits(), language="en", archive_for=lambda period: None)), PUBLIC_SHOWN),
        Surface("export html", export_as("html"), PUBLIC_SHOWN),
        Surface("export atom", export_as("atom"), PUBLIC_SHOWN),
        # The web: pages, the JSON API, the feeds, the archive, the operators' routes.
        Surface("web /", on_the_web("/"), 'href="/tags/public"'),
        Surface("web /links/ID", on_the_web("/links/{id}"), PUBLIC_SHOWN),
        Surface("web /tags", on_the_web("/tags"), 'href="/tags/public"'),
        Surface("web /tags/public", on_the_web("/tags/public"), 'href="/links/{id}"'),
        *(Surface(f"web /tags/canarytag{kind.code}", on_the_web(f"/tags/canarytag{kind.code}",
                                                                repeats=f"canarytag{kind.code}"), "404 ")
          for kind in KINDS),
        Surface("web /search?q=public", on_the_web("/search?q=public"), 'href="/links/{id}"'),
        Surface("web /search?q=canary", on_the_web("/search?q=canary", repeats="canary"), "Nothing found"),
        *(Surface(f"web /search?q={word}{kind.code}", on_the_web(f"/search?q={word}{kind.code}",
                                                                 repeats=f"{word}{kind.code}"), "Nothing found")
          for kind in KINDS for word in SEARCHED),
        Surface("web /weeks", on_the_web("/weeks"), 'href="/weeks/{week}"'),
        Surface("web /weeks/WEEK", on_the_web("/weeks/{week}"), 'href="/links/{id}"'),
        Surface("web /about", on_the_web("/about"), "Public room"),
        Surface("web /api/links", on_the_web("/api/links"), PUBLIC_SHOWN),
        Surface("web /api/links/ID", on_the_web("/api/links/{id}"), PUBLIC_SHOWN),
        Surface("web /api/links?tag=public", on_the_web("/api/links?tag=public"), PUBLIC_SHOWN),
        Surface("web /api/search?q=public", on_the_web("/api/search?q=public"), PUBLIC_SHOWN),
        *(Surface(f"web /api/search?q={word}{kind.code}", on_the_web(f"/api/search?q={word}{kind.code}",
                                                                     repeats=f"{word}{kind.code}"), '"links": []')
          for kind in KINDS for word in SEARCHED),
        *(Surface(f"web /api/links?q=canarynote{kind.code}", on_the_web(f"/api/links?q=canarynote{kind.code}"),
                  '"links": []') for kind in KINDS),
        *(Surface(f"web /api/links?tag=canarytag{kind.code}", on_the_web(f"/api/links?tag=canarytag{kind.code}",
                                                                         repeats=f"canarytag{kind.code}"),
                  '"links": []') for kind in KINDS),
        Surface("web /api/tags", on_the_web("/api/tags"), '"tag": "public"'),
        Surface("web /api/digests", on_the_web("/api/digests"), '"week"'),
        Surface("web /api/digests/WEEK", on_the_web("/api/digests/{week}"), PUBLIC_SHOWN),
        Surface("web /feeds/links.atom", on_the_web("/feeds/links.atom"), PUBLIC_SHOWN),
        Surface("web /feeds/tags/public.atom", on_the_web("/feeds/tags/public.atom"), PUBLIC_SHOWN),
        *(Surface(f"web /feeds/tags/canarytag{kind.code}.atom",
                  on_the_web(f"/feeds/tags/canarytag{kind.code}.atom", repeats=f"canarytag{kind.code}"), "200 <?xml")
          for kind in KINDS),
        Surface("web /feeds/digests.atom", on_the_web("/feeds/digests.atom"), PUBLIC_SHOWN),
        Surface("web /metrics", on_the_web("/metrics", token=METRICS_TOKEN), 'published="true"'),
    ]


def own_place_surfaces() -> list[Surface]:
    """Each private place reading its own shares: its own canaries shown, no other kind's. The
    public share shows there too (its tag, last of the link's tags)."""
    said = []
    for kind in KINDS:
        me = in_place(kind)
        note, name, tag, path = (kind.canary(word) for word in ("canarynote", "Canaryname", "canarytag", "CANARYPATH"))
        said.append(Surface(f"show, in the {kind.name}", command(me, "!watch show {id}"), "public]", kind,
                            (note, name, tag)))
        if kind.network is Source.MATRIX:  # the place's own listings (the fediverse answers commands publicly)
            said += [
                Surface(f"recent, in the {kind.name}", command(me, "!watch recent 10"), "public]", kind, (path, tag)),
                Surface(f"search canary, in the {kind.name}", search_for(me, "canary"), "public]", kind, (path, tag)),
                Surface(f"tags, in the {kind.name}", command(me, "!watch tags"), "public (1)", kind, (tag,)),
                *(Surface(f"search {word}{other.code}, in the {kind.name}", search_for(me, f"{word}{other.code}"),
                          "Nothing found", kind) for other in KINDS if other is not kind for word in SEARCHED),
            ]
    return said


def changing_surfaces() -> list[Surface]:
    """What changes the store as it answers, read last (the moderation log's removals the very last)."""
    said = [
        # An admin retags every share of it, the private ones too: the room sees the public tags only,
        # the one added among them (it goes on a share the room reads).
        Surface("tag +extra", command(ADMIN_IN_PUBLIC, "!watch tag {id} +extra"), "is now tagged: extra"),
        Surface("report", command(BOB, "!watch report {id} spam"), "Report on #"),
        Surface("already shared", already_shared(("@carol:x", "Carol"), PUBLIC_ROOM), "your share is counted too"),
        # Someone else in each private place is told nothing of the shares made there before theirs.
        Surface("already shared, by another in the private room", already_shared(("@dave:x", "Dave"), PRIVATE_ROOM),
                "your share is counted too"),
        *(Surface(f"already shared, by another in a {kind.name}",
                  already_shared((f"other{kind.code}@{INSTANCE}", "Other"), INSTANCE, kind=kind),
                  "your share is counted too") for kind in (FOLLOWERS, DIRECT_STATUS)),
        # The direct chat's own person is told of their own share.
        Surface("already shared, again in the direct chat", already_shared((DM.sharer_id, DM.sharer_name), DIRECT_CHAT),
                "counted", DM),
        Surface("modlog outside the moderators' room", modlog_after_removing_the_private_links,
                "a link shared privately"),
    ]
    return said


@pytest.fixture
async def enricher(store: Store) -> Enricher:
    client = GuardedClient(user_agent="watchbot-tests", allow=parse_allow_networks("127.0.0.1/32"), timeout=5)
    yield Enricher(store, client)
    await client.aclose()


def gate_of(store: Store) -> Moderation:
    return Moderation(store, ModerationOptions.from_settings(Settings(
        _env_file=None, admins=["@root:x"], moderators_room=MODERATORS_ROOM)))


async def test_every_kind_is_filed_as_its_network_files_it(store: Store, pages: PageServer):
    await record_rooms(store)
    made = {kind.name: await private_post(kind, store, pages, 1) for kind in KINDS}
    assert {name: (post.source, post.place, post.visibility) for name, post in made.items()} == {
        "direct chat": (Source.MATRIX, DIRECT_CHAT, Visibility.DIRECT),
        "private room": (Source.MATRIX, PRIVATE_ROOM, Visibility.PRIVATE),
        "followers-only status": (Source.MASTODON, INSTANCE, Visibility.PRIVATE),
        "direct status": (Source.MASTODON, INSTANCE, Visibility.DIRECT),
    }
    fediverse = made["followers-only status"]
    assert fediverse.author_id == "canaryidfol@social.example" and fediverse.extra_tags == ("canarytagfol",)
    assert fediverse.links == (private_url(pages, FOLLOWERS), FOLLOWERS.secret_url)  # not the mention, not the tag


@pytest.mark.parametrize("arrival", ARRIVALS)
async def test_no_canary_of_a_private_share_reaches_a_public_surface(
        arrival: str, store: Store, pages: PageServer, enricher: Enricher):
    await arrive(arrival, store, pages, enricher)
    schedule = schedule_since_two_days()
    site = Site(store=store, options=WebOptions(base_url="https://watch.example", digest_schedule=schedule,
                                                metrics_token=METRICS_TOKEN))
    leaks, missing, unshown = {}, {}, {}
    async with TestClient(TestServer(build_app(site), host="127.0.0.1")) as client:
        scene = Scene(store, gate_of(store), pages, client, schedule)
        await scene.week()  # its digest posted: the archive has a week
        for surface in public_surfaces(arrival) + own_place_surfaces() + changing_surfaces():
            said = (await surface.read(scene)).lower()
            found = {kind.code: [canary for canary in kind.canaries if canary.lower() in said]
                     for kind in KINDS if kind is not surface.own}
            if any(found.values()):
                leaks[surface.name] = {code: canaries for code, canaries in found.items() if canaries}
            if (await scene.expand(surface.shows)).lower() not in said:
                missing[surface.name] = said[:300]
            if [canary for canary in surface.own_shows if canary.lower() not in said]:
                unshown[surface.name] = said[:300]
    assert not leaks, "\n".join(f"{name} leaks {found}" for name, found in leaks.items())
    assert not missing, "\n".join(f"{name} does not show the public share: {said!r}" for name, said in missing.items())
    assert not unshown, "\n".join(f"{name} does not show its own place's share: {said!r}"
                                   for name, said in unshown.items())
    # The store still holds what was posted, as posted: the backups keep it whole.
    backup = StringIO()
    await _write(store, "json", backup)
    for kind in KINDS:
        assert all(canary in backup.getvalue() for canary in (kind.canary(word) for word in (
            "CANARYURL", "CANARYFRAG", "canarynote", "Canaryname")))


async def test_the_moderators_room_sees_what_the_log_says_of_a_private_link(store: Store):
    await file_post(store, _post(DIRECT_CHAT, ("@canaryid:x", "Canaryname"), "https://secret.example/CANARYPATH",
                                 Visibility.DIRECT, 1), Rules())
    gate = gate_of(store)
    [link] = await LinkStore(store).list_links()

    async def ask(caller: Caller, text: str) -> str:
        return (await run_command(store, parse_command(text), caller, UTC, moderation=gate)).text

    await ask(WATCH_MOD, f"!watch rm {link.id}")
    assert "https://secret.example/CANARYPATH" in await ask(WATCH_MOD, "!watch modlog")
    assert "CANARYPATH" not in await ask(ADMIN_IN_PUBLIC, "!watch modlog")


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

    async def ask(text: str) -> str:
        reply = await run_command(store, parse_command(text), BOB, UTC, moderation=gate)
        return "\n".join(filter(None, [reply.text, reply.html, reply.for_moderators]))

    said = []
    for i, (url, clean) in enumerate(tracked_urls()):  # "Filed #N URL" as the sharer is told
        result = await file_post(store, _post(PUBLIC_ROOM, ALICE, f"{url} #tracked", Visibility.PUBLIC, 2 + i / 100),
                                 Rules())
        said.append(describe(result.results[0], UTC))
    digest = await the_digest(store)
    said += [await ask("!watch recent 10"), await ask("!watch search tracked"), await ask("!watch top week"),
             str(render_matrix(digest, UTC)), render_markdown(digest, UTC), "\n".join(render_thread(digest, UTC)),
             json.dumps(render_json(digest))]
    for fmt in ("html", "atom"):
        out = StringIO()
        await _write(store, fmt, out)
        said.append(out.getvalue())
    for url, clean in tracked_urls():
        [link] = [link for link in await PublishedReader(store).recent(limit=20) if link.url == clean]
        said.append(await ask(f"!watch show {link.id}"))
        said.append(await ask(f"!watch report {link.id}"))
    text = "\n".join(said)
    assert "trk" not in text and "#section" not in text
    for url, clean in tracked_urls():  # path, case and meaningful parameters kept
        assert clean in text
    # The URL as posted stays in the store and the backups.
    out = StringIO()
    await _write(store, "csv", out)
    assert all(url in out.getvalue() for url, _ in tracked_urls())


# -- a direct share moved by export and import (decision 35) ---------------------------------------


@pytest.fixture
def watchbot_cli(tmp_path, monkeypatch):
    """`watchbot ARGS` on the store at `url`, as a person runs it from the shell (no stray .env,
    no WATCHBOT_ variable but the database's): its output. Call it in a thread from a test."""
    from click.testing import CliRunner

    from watchbot.cli import cli

    for name in list(os.environ):
        if name.startswith("WATCHBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)

    def run(url: str, *args: str) -> str:
        result = CliRunner().invoke(cli, list(args), env={"WATCHBOT_DATABASE_URL": url}, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return run


def the_direct_chats_canaries(said: str) -> list[str]:
    return [canary for canary in DM.canaries if canary.lower() in said.lower()]


async def test_a_direct_share_moved_by_export_and_import_is_never_made_public_by_rooms_set(
        database_url: str, pages: PageServer, watchbot_cli, tmp_path):
    # The old store: a direct chat's share (with its canaries) and a public share of the same page.
    old_url = f"sqlite:///{tmp_path / 'old.db'}"
    old = await Store.open(old_url)
    await record_rooms(old)
    await file_post(old, await private_post(DM, old, pages, 5), Rules())
    await file_post(old, await public_post(old, pages, 4), Rules())
    await old.close()
    backup = tmp_path / "all.json"
    await asyncio.to_thread(watchbot_cli, old_url, "export", "--format", "json", "-o", str(backup))
    said = await asyncio.to_thread(watchbot_cli, database_url, "import", str(backup))
    assert "Imported 2 new link(s), 1 more share(s) of known links" in said

    # The JSON backup round-trips exactly, `direct` included.
    def links_of(url: str) -> list:
        return json.loads(watchbot_cli(url, "export", "--format", "json"))["links"]

    moved = await asyncio.to_thread(links_of, database_url)
    assert moved == await asyncio.to_thread(links_of, old_url)
    assert {share["visibility"] for link in moved for share in link["shares"] if share["place"] == DIRECT_CHAT} == {
        "direct"}

    # The new store missed the invite: the bot records the chat by its join rule, and the operator
    # sets it public for the past too. The direct shares are left as they are, and the answer says so.
    store = await Store.open(database_url)
    try:
        await RoomStore(store).record(PUBLIC_ROOM, "Public room", treatment_of(RoomState(join_rule="public")),
                                      at=utcnow())
        await RoomStore(store).record(DIRECT_CHAT, DM.room_name, treatment_of(RoomState(join_rule="invite")),
                                      at=utcnow())
        listed = await asyncio.to_thread(watchbot_cli, database_url, "rooms")
        assert f"{DIRECT_CHAT} “{DM.room_name}”: private (only people let in may join (join rule invite))" in listed
        said = await asyncio.to_thread(watchbot_cli, database_url, "rooms", "set", DIRECT_CHAT, "public", "--past")
        assert f"0 share(s) in {DIRECT_CHAT} are now public (0 link(s))." in said
        assert "2 direct shares were left private: direct chats are never published." in said
        # A backup edited to say otherwise changes nothing either: those shares are there already.
        edited = backup.read_text().replace('"visibility": "direct"', '"visibility": "public"')
        assert edited != backup.read_text()
        backup.write_text(edited)
        said = await asyncio.to_thread(watchbot_cli, database_url, "import", str(backup))
        assert "Imported 0 new link(s), 0 more share(s) of known links; 3 already there" in said

        # Nothing of the direct share on any public surface; the public share on each.
        surfaces = {"export atom": await asyncio.to_thread(watchbot_cli, database_url, "export", "--format", "atom")}
        digest = await the_digest(store)
        surfaces["digest"] = render_markdown(digest, UTC) + json.dumps(render_json(digest), ensure_ascii=False)
        surfaces["search"] = repr(await PublishedReader(store).search("public")) + "".join(
            [repr(await PublishedReader(store).search(f"{word}{DM.code}")) for word in SEARCHED])
        surfaces["!watch search"] = await command(BOB, "!watch search public")(scene_of(store))
        site = Site(store=store, options=WebOptions(base_url="https://watch.example"))
        async with TestClient(TestServer(build_app(site), host="127.0.0.1")) as client:
            for path in ("/api/links", "/api/search?q=public", "/feeds/links.atom"):
                surfaces[path] = await (await client.get(path)).text()
        leaks = {name: the_direct_chats_canaries(said) for name, said in surfaces.items()
                 if the_direct_chats_canaries(said)}
        assert not leaks, leaks
        assert [name for name, said in surfaces.items() if PUBLIC_SHOWN not in said] == []
        assert [share.visibility for record in [record async for record in LinkStore(store).iter_records()]
                for share in record.shares if share.place == DIRECT_CHAT] == [Visibility.DIRECT] * 2
    finally:
        await store.close()


def scene_of(store: Store) -> Scene:
    """Enough of a Scene for a command (no web client, no pages)."""
    return Scene(store, gate_of(store), None, None, schedule_since_two_days())


async def test_an_import_into_a_store_that_knows_the_direct_chat_files_its_shares_as_direct(
        database_url: str, pages: PageServer, watchbot_cli, tmp_path):
    backup = tmp_path / "edited.json"
    old = await Store.open(f"sqlite:///{tmp_path / 'old.db'}")
    await record_rooms(old)
    await file_post(old, await private_post(DM, old, pages, 5), Rules())
    out = StringIO()
    await _write(old, "json", out)
    await old.close()
    backup.write_text(out.getvalue().replace('"visibility": "direct"', '"visibility": "public"'))
    store = await Store.open(database_url)
    try:
        await record_rooms(store)  # this store's bot knows the chat (its invite, or its m.direct)
        said = await asyncio.to_thread(watchbot_cli, database_url, "import", str(backup))
        assert "Imported 2 new link(s)" in said
        assert [share.visibility for record in [record async for record in LinkStore(store).iter_records()]
                for share in record.shares] == [Visibility.DIRECT] * 2
        assert await PublishedReader(store).recent() == []
    finally:
        await store.close()


# -- forget me: nothing of them stays, in any table or in the files -------------------------------

GONE = "@canaryidgone:x"
GONE_NAMES = ("Canarynamegonefirst", "Canarynamegonelater")  # one display name, then another
GONE_WORDS = ("quetzalgonenote", "vorpalgonenote", "zephyrgonenote")  # in their notes and messages
GONE_NEEDLES = ("canaryidgone", *GONE_NAMES, *GONE_WORDS, "GONEREF")  # GONEREF: in the URL they posted


async def file_answered(store: Store, gate: Moderation, post: Post) -> None:
    """A message filed as the Matrix adapter files it: its answers owed in the outbox."""
    event = {"event_id": post.event_id, "sender": post.author_id, "content": {"body": post.text}}
    await file_post(store, post, Rules(), gate=gate, role=Role.MEMBER,
                    answers=lambda result: owed_in(post.place, acknowledgements(result, event, UTC)))


async def sqlite_file(store: Store, database_url: str) -> bytes:
    """The main database file, every write in it (the WAL checkpointed and emptied), lower-cased."""
    path = Path(database_url.removeprefix("sqlite:///"))
    connection = sqlite3.connect(path)
    try:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        connection.close()
    assert busy == 0 and Path(f"{path}-wal").stat().st_size == 0
    return path.read_bytes().lower()


async def postgres_hits(store: Store, needle: str) -> list[str]:
    """Every text column of every table holding `needle` (any case), as table.column."""
    def read(conn) -> list[str]:
        columns = conn.execute(sql_text(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND data_type IN ('text', 'character varying', 'json', 'jsonb')")).all()
        return [f"{table}.{column}" for table, column in columns if conn.execute(sql_text(
            f'SELECT count(*) FROM "{table}" WHERE lower("{column}"::text) LIKE :needle'),
            {"needle": f"%{needle.lower()}%"}).scalar_one()]
    return await store.read(read)


async def found_anywhere(store: Store, database_url: str) -> dict[str, list[str]]:
    if database_url.startswith("sqlite"):
        data = await sqlite_file(store, database_url)
        return {needle: ["the file"] for needle in GONE_NEEDLES if needle.lower().encode() in data}
    return {needle: hits for needle in GONE_NEEDLES if (hits := await postgres_hits(store, needle))}


async def test_forget_me_leaves_nothing_of_them_in_any_table_nor_in_the_files(store: Store, database_url: str):
    """A member shares with notes under two display names, is answered (sent and waiting), has a
    failed event (and is named in another's), a post held, a reaction, a direct chat named after them, reports a link and is
    named in moderation reasons; then says `forget me`. Their account, both names and the words
    of their notes are then in no table (PostgreSQL: every text column) and nowhere in the SQLite
    file, the full-text index's segments and the free pages included."""
    gate = gate_of(store)
    await record_rooms(store)
    first, later = (Caller(GONE, name, Power(Role.MEMBER, PUBLIC_ROOM)) for name in GONE_NAMES)
    await file_answered(store, gate, _post(PUBLIC_ROOM, first, "https://only-theirs.example/ #gonetag",
                                           Visibility.PUBLIC, 6, note=GONE_WORDS[0]))
    await file_answered(store, gate, _post(PUBLIC_ROOM, later, "https://both.example/post?utm_source=GONEREF",
                                           Visibility.PUBLIC, 5, note=GONE_WORDS[1]))
    await file_answered(store, gate, _post(PUBLIC_ROOM, later, "https://only-theirs.example/", Visibility.PUBLIC, 4.5))
    await file_answered(store, gate, _post(PUBLIC_ROOM, BOB, "https://both.example/post", Visibility.PUBLIC, 4))
    sent = await Sender(store, "matrix", lambda item: asyncio.sleep(0, f"$sent{item.id}")).send_due()
    assert sent == 6  # four reactions, and replies to their repeat and to Bob's ("Already shared by" them)
    await file_answered(store, gate, _post(PUBLIC_ROOM, ("@carol:x", "Carol"), "https://both.example/post",
                                           Visibility.PUBLIC, 3))  # its answer, naming them, waits
    await FailureStore(store).record("matrix", PUBLIC_ROOM, "$gonefailed", "ValueError: cannot read it", json.dumps(
        {"event_id": "$gonefailed", "sender": GONE, "type": "m.room.message",
         "content": {"body": f"https://failed.example/ {GONE_WORDS[2]}"}}))
    await FailureStore(store).record("matrix", PUBLIC_ROOM, "$bobfailed", "ValueError: cannot read it", json.dumps(
        {"event_id": "$bobfailed", "sender": BOB.user_id, "type": "m.room.message",
         "content": {"body": f"thanks, {GONE_NAMES[1]}!"}}))  # another's event, naming them
    await gate.records.hold(_post(PUBLIC_ROOM, later, f"https://held.example/ {GONE_WORDS[2]}", Visibility.PUBLIC, 2))
    [both] = [link for link in await LinkStore(store).list_links() if "both.example" in link.url]
    [bobs] = [share for share in (await LinkStore(store).get_link(both.id)).shares if share.sharer_id == BOB.user_id]
    assert await ReactionStore(store).add(Source.MATRIX, bobs.event_id, GONE)
    await RoomStore(store).record("!gonedm:x", GONE_NAMES[1], treatment_of(RoomState(direct=True)), at=utcnow())
    for caller, said in ((later, f"!watch report {both.id} spam"),
                         (WATCH_MOD, f"!watch block spam.example per {GONE_NAMES[0]}'s own words"),
                         (WATCH_MOD, f"!watch ban @troll:x {GONE} asked, as {GONE_NAMES[1].lower()}")):
        await command(caller, said)(Scene(store, gate, None, None, ""))
    assert set(await found_anywhere(store, database_url)) == set(GONE_NEEDLES)  # all there, before

    said = await command(later, "!watch forget me")(Scene(store, gate, None, None, ""))
    assert said.startswith("Done: 3 share(s) of yours removed (1 link(s) nobody else shared went with them); "
                           "removed with them: ")
    assert all(part in said for part in ("1 event(s) I had kept", "1 post(s) in the review queue", "1 report(s)",
                                         "1 reaction(s)", "Kept: what was done, in the moderation log"))
    assert not await found_anywhere(store, database_url)
    [failed] = await FailureStore(store).list()  # Bob's, without the event that named them
    assert (failed.event_id, failed.payload) == ("$bobfailed", None)
    # What stays: Bob's share (under the URL he posted), and what was done, under a pseudonym.
    [left] = await LinkStore(store).list_links()
    assert left.url == "https://both.example/post" and left.first_sharer_name == "Bob"
    log = await command(WATCH_MOD, "!watch modlog")(Scene(store, gate, None, None, ""))
    [pseudonym] = set(re.findall(r"forgotten-[0-9a-f]{8}", log))
    assert f"{pseudonym} forget {pseudonym}: 3 share(s)" in log and f"per {pseudonym}'s own words" in log
    if database_url.startswith("sqlite"):  # what is deleted is overwritten, whatever the build's default
        assert await store.read(lambda conn: conn.exec_driver_sql("PRAGMA secure_delete").scalar()) == 1
