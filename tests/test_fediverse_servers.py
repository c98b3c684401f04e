"""Every server that speaks Mastodon's client API, not only Mastodon (issue 15).

Each test runs on the stand-in in the profile that matters (tests/mastodon_server.py): MASTODON,
the mock as it is (it counts every character against 500 and refuses with 422, where Mastodon
counts a URL as 23), and OTHER_SERVER, a server that is not Mastodon (a "compatible" version,
400 "Status is too long", no streaming, /api/v2/instance failing with 500, accounts on
`social.example` while the API is at http://127.0.0.1:PORT).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from tests.mastodon_server import MastodonServer
from tests.test_digest_post import bot_statuses, share, this_hour
from tests.test_fediverse_bot import Scene, post, replies_from, until
from tests.waiting import until as until_done
from watchbot.config import Settings
from watchbot.digest.scheduler import DigestScheduler, SchedulerOptions
from watchbot.intake import Rules, file_post
from watchbot.model import Post, Source, Visibility, utcnow
from watchbot.networks.fediverse import CURSOR, STREAM_RETRY_SECONDS, FediverseAdapter
from watchbot.networks.fediverse.events import account_domain, html_to_text
from watchbot.networks.fediverse.pace import Clock, PollPace
from watchbot.store import Store
from watchbot.store.cursors import CursorStore
from watchbot.store.digests import DigestRuns
from watchbot.store.links import LinkStore
from watchbot.store.outbox import OutboxStore
from watchbot.store.servers import adopt_server_name, server_name

DEFAULT_POLL = Settings.model_fields["fediverse_poll_seconds"].default
LIMIT = 500  # both stand-ins refuse a status longer than this, counted as written


def as_written(status: dict) -> int:
    return len(html_to_text(status["content"]))


class CountingClock(Clock):
    """Real time, counting the waits between two polls: a wait begins once a poll has run to its end."""

    def __init__(self) -> None:
        self.waits = 0

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        self.waits += 1
        return await super().wait(event, seconds)


async def answered_once(client, status: dict, scene: Scene, adapter: FediverseAdapter, store: Store,
                        clock: CountingClock) -> dict:
    """The bot's one answer to `status`, once a poll begun after it has run to its end and the
    outbox is empty: a second answer would then be on the server."""
    [answer] = await until(replies_from(client, status["id"], scene.bot), "the answer")
    for _ in range(2):  # woken twice: the second wait proves a whole poll begun after the answer
        waits = clock.waits
        adapter.wake()
        await until_done(lambda: clock.waits > waits, "a poll to run to its end")
    await until_done(lambda: outbox_empty(store), "the outbox to be empty")
    assert len(await replies_from(client, status["id"], scene.bot)()) == 1
    return answer


async def outbox_empty(store: Store) -> bool:
    return not await OutboxStore(store).unsent()


@pytest.fixture
def any_scene(any_server: MastodonServer, tmp_path: Path) -> Scene:
    return Scene(any_server, tmp_path)


async def test_help_reaches_each_server_once_within_its_limits(any_scene: Scene):
    alice, alice_client = any_scene.person("alice")
    clock = CountingClock()
    async with any_scene.running_bot(clock=clock) as (adapter, store):
        asked = await post(alice_client, f"@{any_scene.bot.username} help")
        adapter.wake()
        answer = await answered_once(alice_client, asked, any_scene, adapter, store, clock)
    assert "search" in answer["content"] and as_written(answer) <= LIMIT


async def test_six_long_links_are_filed_and_answered_once_within_each_servers_limits(any_scene: Scene):
    alice, alice_client = any_scene.person("alice")
    links = [f"https://six.example/{n}/" + "y" * (70 - len(f"https://six.example/{n}/")) for n in range(6)]
    assert all(len(link) == 70 for link in links)
    clock = CountingClock()
    async with any_scene.running_bot(clock=clock) as (adapter, store):
        asked = await post(alice_client, f"@{any_scene.bot.username} {' '.join(links)} #longread")
        adapter.wake()
        answer = await answered_once(alice_client, asked, any_scene, adapter, store, clock)
        assert sorted(link.url for link in await LinkStore(store).list_links()) == links
    assert "Filed #" in html_to_text(answer["content"]) and as_written(answer) <= LIMIT


async def test_a_thirty_link_digest_reaches_each_server_as_one_thread_every_link_once(any_server: MastodonServer,
                                                                                     tmp_path: Path):
    async with digest_of_thirty(any_server, tmp_path, "thirty") as (bot, settings, store, adapter, links, period):
        [result] = await DigestScheduler(SchedulerOptions.from_settings(settings), store, [adapter]).post(period)
    assert result.status == "posted", result
    # One thread, each post answering the one before; every link once; every post within the limit.
    await assert_one_thread_with_each_link_once(any_server, bot, links)
    assert max(as_written(s) for s in await bot_statuses(any_server, bot)) <= LIMIT


@asynccontextmanager
async def digest_of_thirty(server: MastodonServer, tmp_path: Path, name: str):
    """A store holding thirty long links shared this hour, and the bot's adapter connected to
    `server`: (the bot's account, settings, store, adapter, the links, the period)."""
    bot = server.create_account(f"{name}{tmp_path.name[-6:].replace('-', '')}", bot=True)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    settings = Settings(_env_file=None, database_url=url, fediverse_instance=server.url,
                        fediverse_access_token=bot.access_token, digest_top=30)
    links = [f"https://{name}.example/{n}/" + "long-path-" * 6 for n in range(30)]
    async with await Store.open(url) as store:
        for n, link in enumerate(links):
            await share(store, link, f"person{n % 4}")
        adapter = FediverseAdapter.from_settings(settings, store, Rules())
        await adapter.connect()
        try:
            yield bot, settings, store, adapter, links, this_hour()
        finally:
            if server.front is not None:  # the Mastodon profile has none
                server.front.refusal = None
                server.front.ignores_idempotency = False
            await adapter.close()


async def assert_one_thread_with_each_link_once(server: MastodonServer, bot, links: list[str]) -> None:
    statuses = await bot_statuses(server, bot)
    assert [s["in_reply_to_id"] for s in statuses[1:]] == [s["id"] for s in statuses[:-1]]
    text = " ".join(html_to_text(s["content"]) for s in statuses)
    assert [text.count(link) for link in links] == [1] * len(links)


async def test_a_digest_refused_half_way_is_resumed_from_the_part_where_it_stopped(other_server: MastodonServer,
                                                                                 tmp_path: Path):
    async with digest_of_thirty(other_server, tmp_path, "resumed") as (bot, settings, store, adapter, links, period):
        other_server.front.refuse_a_post(skip=2)  # the root and one part go out, the third is refused
        [failed] = await DigestScheduler(SchedulerOptions.from_settings(settings), store, [adapter]).post(period)
        assert failed.status == "failed" and "403" in failed.reason, failed
        assert sorted((await DigestRuns(store).state("mastodon:social.example", period)).sent) == [0, 1]
        [resumed] = await DigestScheduler(SchedulerOptions.from_settings(settings), store, [adapter]).post(period)
    assert resumed.status == "resumed", resumed
    await assert_one_thread_with_each_link_once(other_server, bot, links)


async def test_a_digest_part_posted_in_pieces_is_resumed_after_the_last_piece_posted(other_server: MastodonServer,
                                                                                       tmp_path: Path):
    """A part the server finds too long goes out in pieces; a run stopped among them goes on after
    the last piece posted, also on a server that ignores Idempotency-Key (the store's record)."""
    async with digest_of_thirty(other_server, tmp_path, "pieces") as (bot, settings, store, adapter, links, period):
        # Counted as Mastodon counts (a URL as 23), which this server does not: parts are refused
        # as too long every time, and posted in pieces.
        adapter.limits = replace(adapter.limits, urls_discounted=True)
        other_server.front.ignores_idempotency = True
        # The root, the first part (refused: too long), its first piece, then a refusal.
        other_server.front.refuse_a_post(skip=3)
        [failed] = await DigestScheduler(SchedulerOptions.from_settings(settings), store, [adapter]).post(period)
        assert failed.status == "failed", failed
        [resumed] = await DigestScheduler(SchedulerOptions.from_settings(settings), store, [adapter]).post(period)
    assert resumed.status == "resumed", resumed
    await assert_one_thread_with_each_link_once(other_server, bot, links)


async def test_a_server_failing_on_v2_is_described_by_v1_and_counted_as_written(other_server: MastodonServer,
                                                                              tmp_path: Path):
    scene = Scene(other_server, tmp_path)
    async with scene.running_bot() as (adapter, store):
        assert set(adapter.server_described) == {"instance_v1"}
        assert adapter.limits.max_characters == LIMIT and not adapter.limits.urls_discounted
    assert any(p.path.rstrip("/") == "/api/v2/instance" and p.status == 500 for p in other_server.front.passed)


async def test_places_outlets_and_accounts_are_named_by_the_accounts_domain_not_the_api_address(
        other_server: MastodonServer, tmp_path: Path):
    assert other_server.url.startswith("http://127.0.0.1:") and other_server.domain == "social.example"
    scene = Scene(other_server, tmp_path)
    alice, alice_client = scene.person("alice")
    async with scene.running_bot() as (adapter, store):
        asked = await post(alice_client, f"@{scene.bot.username} https://named.example/")
        adapter.wake()
        await until(replies_from(alice_client, asked["id"], scene.bot), "the reply")
        [outlet] = adapter.digest_outlets()
        [shared] = (await LinkStore(store).get_link(1)).shares
    assert (shared.place, shared.sharer_id) == ("social.example", f"{alice.username}@social.example")
    assert outlet.name == "mastodon:social.example"


async def test_an_older_store_named_by_the_api_address_is_renamed_and_its_digest_not_posted_twice(
        other_server: MastodonServer, tmp_path: Path):
    scene = Scene(other_server, tmp_path)
    period = this_hour()
    async with await Store.open(scene.database_url) as store:  # as an older version left it
        await file_post(store, Post(source=Source.MASTODON, place="127.0.0.1", author_id="alice@127.0.0.1",
                                    author_name="alice", text="", event_id="https://social.example/s/1",
                                    links=("https://old.example/",), visibility=Visibility.PUBLIC,
                                    at=utcnow() - timedelta(minutes=5)), Rules())
        runs = DigestRuns(store)
        claim = await runs.claim("mastodon:127.0.0.1", period, "an older bot")
        await runs.sent(claim.run_id, 0, "1")
        await runs.finish(claim.run_id)
        await CursorStore(store).set(CURSOR, "")
    async with scene.running_bot() as (adapter, store):
        await asyncio.wait_for(adapter.ready.wait(), 20)
        [shared] = (await LinkStore(store).get_link(1)).shares
        assert (shared.place, shared.sharer_id) == ("social.example", "alice@social.example")
        [result] = await DigestScheduler(SchedulerOptions(zone=adapter.options.zone), store, [adapter]).post(period)
        assert result.status == "already", result
        assert await CursorStore(store).get(CURSOR) is not None
    assert await bot_statuses(other_server, scene.bot) == []


async def test_renaming_the_server_keeps_every_row_and_never_takes_a_name_already_used(database_url: str):
    async with await Store.open(database_url) as store:
        for n, who in enumerate(["alice@10.0.0.1", "bob@far.example"]):
            await file_post(store, Post(source=Source.MASTODON, place="10.0.0.1", author_id=who, author_name=who,
                                        text="", event_id=f"https://x/{n}", links=(f"https://r.example/{n}",),
                                        visibility=Visibility.PUBLIC), Rules())
        period = this_hour()
        runs = DigestRuns(store)
        await runs.claim("mastodon:10.0.0.1", period, "old")
        assert await adopt_server_name(store, "social.example", formerly="10.0.0.1") == 4
        assert await server_name(store) == "social.example"
        shares = [s for link in await LinkStore(store).list_links() for s in (await LinkStore(store).get_link(link.id)).shares]
        assert sorted((s.place, s.sharer_id) for s in shares) == [
            ("social.example", "alice@social.example"), ("social.example", "bob@far.example")]
        assert (await runs.state("mastodon:social.example", period)) is not None
        assert await adopt_server_name(store, "social.example", formerly="social.example") == 0


class RecordingClock(Clock):
    """Real time, but the hour before streaming is looked for again never ends: the test sees it
    asked for, and that no probe follows."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.polls_apart: list[float] = []  # what each wait between two polls was to last

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        self.polls_apart.append(seconds)
        return await super().wait(event, seconds)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds >= STREAM_RETRY_SECONDS:
            await asyncio.Event().wait()
        await super().sleep(seconds)


async def test_without_streaming_the_first_poll_runs_at_once_the_bot_says_so_once_and_answers_at_the_fast_pace(
        other_server: MastodonServer, tmp_path: Path, caplog):
    scene = Scene(other_server, tmp_path)
    scene.streaming = True  # asked for; the server has none
    alice, alice_client = scene.person("alice")
    async with await Store.open(scene.database_url) as store:
        await CursorStore(store).set(CURSOR, "")  # not a first start: the first request is a poll
    clock = RecordingClock()
    since = len(other_server.front.passed)

    def passed(prefix: str) -> list[int]:  # where, among the bot's requests, those to `prefix` came
        ours = [p for p in other_server.front.passed[since:] if not p.path.endswith("/context")]
        return [n for n, p in enumerate(ours) if p.path.startswith(prefix)]

    async def polled_since(count: int) -> bool:
        return len(passed("/api/v1/notifications")) > count

    async def waiting_an_hour() -> bool:
        return STREAM_RETRY_SECONDS in clock.slept

    with caplog.at_level(logging.INFO, logger="watchbot.networks.fediverse"):
        async with scene.running_bot(poll_seconds=DEFAULT_POLL, clock=clock) as (adapter, store):
            await asyncio.wait_for(adapter.ready.wait(), 20)
            await until(lambda: polled_since(0), "the first poll")
            first = await post(alice_client, f"@{scene.bot.username} https://first.example/")
            adapter.wake()
            await until(replies_from(alice_client, first["id"], scene.bot), "the first reply")
            # Not woken: the poll finds it, at the pace kept after a mention (5 s, not 15 or 60).
            second = await post(alice_client, f"@{scene.bot.username} https://second.example/")
            await until(replies_from(alice_client, second["id"], scene.bot), "the second reply")
            # Quiet at the start (15 s between polls), 5 s once a mention came.
            assert clock.polls_apart[0] == DEFAULT_POLL and clock.polls_apart[-1] == adapter.pace.active == 5
            await until(waiting_an_hour, "the probe to end in an hour's wait")
            probes = len(passed("/api/v1/streaming"))
            for _ in range(3):  # later polls look for no stream
                polls = len(passed("/api/v1/notifications"))
                adapter.wake()
                await until(lambda: polled_since(polls), "one more poll")
            assert len(passed("/api/v1/streaming")) == probes
    assert passed("/api/v1/notifications")[0] < passed("/api/v1/streaming")[0], "the first poll before any probe"
    said = [r for r in caplog.records if "offers no streaming" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.WARNING]


def test_the_pace_is_fast_after_a_mention_slower_when_quiet_and_a_safety_net_with_a_stream():
    pace = PollPace(idle=15)
    assert pace.wait(0, live_stream=False) == 15  # quiet since the start
    pace.found(100)
    assert pace.wait(101, live_stream=False) == 5
    assert pace.wait(100 + 119, live_stream=False) == 5
    assert pace.wait(100 + 121, live_stream=False) == 15  # two quiet minutes later
    assert pace.wait(101, live_stream=True) == 60
    assert PollPace(idle=300).wait(0, live_stream=True) == 300  # an operator's slower pace is kept
    # Requests per 5 minutes (one per poll): within Mastodon's 300 with room for the answers.
    assert 300 / pace.active <= 60 and 300 / pace.idle <= 20


def test_the_accounts_domain_comes_from_what_the_server_says_of_itself():
    assert account_domain({"domain": "social.example"}, None, "bot", "127.0.0.1") == "social.example"
    assert account_domain(None, {"uri": "https://pleroma.example"}, "bot", "127.0.0.1") == "pleroma.example"
    # GoToSocial with its accounts on another domain than its host.
    assert account_domain({"domain": "gts.example.org", "account_domain": "example.org"}, None, "bot",
                          "gts.example.org") == "example.org"
    assert account_domain(None, None, "bot@acct.example", "127.0.0.1") == "acct.example"
    assert account_domain(None, None, "bot", "127.0.0.1") == "127.0.0.1"  # said nothing at all
    assert account_domain({"domain": "localhost:3000"}, None, "bot", "localhost") == "localhost"  # no port
