"""The digest posted exactly once per (outlet, period): the run engine on both databases, then
against a real Synapse and against the Mastodon stand-in (mastodon_mock; no Mastodon runs here)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from itertools import count
from pathlib import Path

import pytest

from tests.mastodon_server import MastodonServer
from tests.matrix_helpers import wait_for_event
from tests.test_matrix_bot import Scene, direct_chat_with_bot, room_with_bot, say
from tests.waiting import until
from watchbot.config import Settings
from watchbot.digest.build import Digest
from watchbot.digest.claims import poster_name
from watchbot.digest.post import post_digest
from watchbot.network import DigestSendError, Offers, Part
from watchbot.digest.schedule import last_period, week_of
from watchbot.digest.scheduler import FIRST_START, DigestScheduler, SchedulerOptions
from watchbot.intake import Rules, file_post
from watchbot.model import Period, Post, Source, utcnow
from watchbot.networks.fediverse import FediverseAdapter
from watchbot.networks.fediverse.events import html_to_text
from watchbot.networks.matrix import MatrixAdapter
from watchbot.store import Store
from watchbot.store import digests as digest_store
from watchbot.store.cursors import CursorStore
from watchbot.store.digests import DigestRuns
from watchbot.store.links import LinkStore

UTC = Settings(_env_file=None).zone
_events = count(1)


def this_hour() -> Period:
    now = utcnow()
    return Period(now - timedelta(hours=1), now + timedelta(hours=1))


async def share(store: Store, url: str, who: str = "alice", **post) -> None:
    await file_post(store, Post(**{"source": Source.MATRIX, "place": "!room:x", "author_id": f"@{who}:x",
                                   "author_name": who, "text": f"{url} #rust", "event_id": f"$d{next(_events)}",
                                   **post}), Rules())


class RecordingOutlet:
    """Our own Outlet interface, recording what it is asked to send (no network peer behind it);
    it can fail at a chosen part, as an outlet whose server went away would."""

    def __init__(self, name: str = "test:outlet", parts: int = 3, fail_at: int | None = None) -> None:
        self.name, self.scope = name, None
        self.count, self.fail_at = parts, fail_at
        self.sent: list[tuple[str, str | None, str]] = []  # (text, reply_to, key)
        self.periods: list[Period] = []

    def parts(self, digest: Digest, zone) -> list[Part]:
        self.periods.append(digest.period)
        return [Part(f"part {n}") for n in range(self.count)]

    async def send(self, part: Part, *, reply_to: str | None, key: str) -> str:
        if len(self.sent) == self.fail_at:
            self.fail_at = None
            raise DigestSendError("the server went away")
        self.sent.append((part.text, reply_to, key))
        return f"remote-{len(self.sent)}"


async def links_filed(store: Store, count: int) -> bool:
    return await LinkStore(store).count_links() == count


async def a_digest(store: Store, period: Period) -> Digest:
    settings = Settings(_env_file=None)
    return await DigestScheduler(SchedulerOptions.from_settings(settings), store, []).digest(period)


async def test_a_digest_is_posted_once_per_outlet_and_period(store: Store):
    await share(store, "https://a.example/")
    period, outlet = this_hour(), RecordingOutlet()
    digest = await a_digest(store, period)
    runs = DigestRuns(store)
    first = await post_digest(runs, outlet, digest, UTC)
    assert (first.status, first.remote_ids) == ("posted", ["remote-1", "remote-2", "remote-3"])
    assert [reply_to for _, reply_to, _ in outlet.sent] == [None, "remote-1", "remote-2"]  # a thread
    assert (await post_digest(runs, outlet, digest, UTC)).status == "already"
    assert (await post_digest(runs, RecordingOutlet("test:other"), digest, UTC)).status == "posted"
    again = await post_digest(runs, outlet, digest, UTC, again=True)
    assert again.status == "posted" and len(outlet.sent) == 6
    assert outlet.sent[3][2] != outlet.sent[0][2]  # a deliberate re-send is a new request
    empty = await a_digest(store, Period(period.start - timedelta(days=9), period.start - timedelta(days=2)))
    assert (await post_digest(runs, outlet, empty, UTC)).status == "empty"


async def test_an_interrupted_run_is_resumed_where_it_stopped_by_whoever_comes_next(store: Store):
    await share(store, "https://a.example/")
    digest, runs = await a_digest(store, this_hour()), DigestRuns(store)
    outlet = RecordingOutlet(parts=4, fail_at=2)
    failed = await post_digest(runs, outlet, digest, UTC, owner="host:1")
    assert failed.status == "failed" and "went away" in failed.reason
    # The failed poster gave its claim up: the next one resumes at once, not in ten minutes.
    resumed = await post_digest(runs, outlet, digest, UTC, owner="host:2")
    assert resumed.status == "resumed" and resumed.remote_ids == ["remote-1", "remote-2", "remote-3", "remote-4"]
    assert [text for text, _, _ in outlet.sent] == ["part 0", "part 1", "part 2", "part 3"]  # each once
    assert outlet.sent[2][1] == "remote-2"  # the thread goes on from the last part recorded
    assert (await runs.state(outlet.name, digest.period)).claimed_by == "host:2"


async def test_a_claim_is_kept_while_its_poster_lives_and_taken_over_once_it_is_gone(store: Store, monkeypatch):
    await share(store, "https://a.example/")
    digest, runs = await a_digest(store, this_hour()), DigestRuns(store)
    poster = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # A poster on this host that is still running (it is busy with the run, or hung).
        await runs.claim("test:outlet", digest.period, poster_name(poster.pid))
        assert (await post_digest(runs, RecordingOutlet(), digest, UTC)).status == "busy"
        again = await post_digest(runs, RecordingOutlet(), digest, UTC, again=True)
        assert again.status == "busy"  # --again never posts beside a live poster
    finally:
        poster.kill()
        poster.wait()
    resumed = await post_digest(runs, RecordingOutlet(), digest, UTC)
    assert resumed.status == "resumed" and len(resumed.remote_ids) == 3


async def test_a_poster_on_another_host_is_waited_for_until_its_claim_expires(store: Store, monkeypatch):
    await share(store, "https://a.example/")
    digest, runs = await a_digest(store, this_hour()), DigestRuns(store)
    await runs.claim("test:outlet", digest.period, "elsewhere.example:4242:77")
    assert (await post_digest(runs, RecordingOutlet(), digest, UTC)).status == "busy"
    monkeypatch.setattr(digest_store, "STALE_AFTER", timedelta(0))
    assert (await post_digest(runs, RecordingOutlet(), digest, UTC)).status == "resumed"


async def test_posting_again_says_which_run_it_replaces(store: Store):
    await share(store, "https://a.example/")
    digest, runs = await a_digest(store, this_hour()), DigestRuns(store)
    await post_digest(runs, RecordingOutlet(), digest, UTC)
    again = await post_digest(runs, RecordingOutlet(), digest, UTC, again=True)
    assert again.status == "posted"
    assert re.search(r"test:outlet: posted in 3 part\(s\), replacing the run of \d{4}-\d\d-\d\d \d\d:\d\d UTC, "
                     r"posted \(3 part\(s\) out\)$", again.line()), again.line()
    # A run left unfinished by a poster that is gone is replaced too, and said so.
    await runs.claim("test:other", digest.period, "gone", poster_gone=lambda owner: False)
    replaced = await post_digest(runs, RecordingOutlet("test:other"), digest, UTC, again=True, owner="gone")
    assert "left unfinished (0 part(s) out)" in replaced.line()


async def test_two_processes_on_one_store_never_both_post(database_url: str):
    stores = [await Store.open(database_url) for _ in range(2)]
    try:
        await share(stores[0], "https://a.example/")
        digest = await a_digest(stores[0], this_hour())
        outlets = [RecordingOutlet(), RecordingOutlet()]  # one outlet, as seen by each process
        results = await asyncio.gather(*(post_digest(DigestRuns(store), outlet, digest, UTC, owner=f"p{n}")
                                         for n, (store, outlet) in enumerate(zip(stores, outlets))))
        statuses = sorted(r.status for r in results)
        assert statuses[1] == "posted" and statuses[0] in ("already", "busy"), statuses
        assert sum(len(outlet.sent) for outlet in outlets) == 3
    finally:
        for store in stores:
            await store.close()


class OneOutletNetwork:
    """Stands in for a network (watchbot.network.Network, our own interface, no peer behind it):
    ready, one outlet, no drafts, nothing to recheck."""

    name = "recording"
    offers = Offers(streaming=False, editing=True, reactions=False, drafts=False, rechecks=False)

    def __init__(self, outlet: RecordingOutlet) -> None:
        self.outlet = outlet
        self.ready = asyncio.Event()
        self.ready.set()

    def digest_outlets(self) -> list[RecordingOutlet]:
        return [self.outlet]

    def draft_outlets(self) -> list[RecordingOutlet]:
        return []


async def test_after_downtime_only_the_latest_missed_period_is_posted_with_its_own_dates(store: Store):
    settings = Settings(_env_file=None, digest_schedule="0 17 * * fri", timezone="UTC")
    latest = last_period(settings.digest_schedule, settings.zone, utcnow())
    older = last_period(settings.digest_schedule, settings.zone, latest.start)
    for period in (older, latest):  # the bot was down at both scheduled times
        await share(store, f"https://{period.start:%Y%m%d}.example/", at=period.start + timedelta(hours=1))
    await CursorStore(store).set(FIRST_START, (older.start - timedelta(days=1)).isoformat())  # it ran before
    outlet = RecordingOutlet()
    task = asyncio.create_task(DigestScheduler(SchedulerOptions.from_settings(settings), store, [OneOutletNetwork(outlet)]).run())
    try:
        await until(lambda: len(outlet.sent) == 3, "the three parts to be sent")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert outlet.periods == [latest]
    assert await DigestRuns(store).state(outlet.name, older) is None


async def test_a_first_start_posts_no_period_that_ended_before_it(store: Store):
    settings = Settings(_env_file=None, digest_schedule="0 17 * * fri", timezone="UTC")
    now = datetime(2026, 12, 4, 18, 0, tzinfo=timezone.utc)  # a Friday, after the digest's time
    latest = last_period(settings.digest_schedule, settings.zone, now)
    await share(store, "https://imported.example/", at=latest.start + timedelta(hours=1))  # an import
    outlet = RecordingOutlet()
    scheduler = DigestScheduler(SchedulerOptions.from_settings(settings), store, [OneOutletNetwork(outlet)])
    first_start = await scheduler.first_start(now)
    assert first_start == now and await scheduler.check(now, first_start) == []
    assert await DigestScheduler(SchedulerOptions.from_settings(settings), store, []).first_start() == now  # recorded, not moved by a restart
    # The next period is the bot's own: posted when it ends.
    await share(store, "https://new.example/", at=now + timedelta(hours=1))
    [posted] = await scheduler.check(now + timedelta(days=7), first_start)
    assert posted.status == "posted" and outlet.periods[0].start == latest.end
    # What was filed before can still be posted on purpose (watchbot digest post).
    [asked] = await scheduler.post(latest)
    assert asked.status == "posted"


async def test_a_room_can_have_its_own_digest_or_none(store: Store):
    await share(store, "https://in-room.example/", place="!a:x")
    await share(store, "https://elsewhere.example/", place="!b:x")
    scheduler = DigestScheduler(SchedulerOptions.from_settings(Settings(_env_file=None)), store, [])
    scoped = await scheduler.digest(this_hour(), "!a:x")
    assert [link.url for s in scoped.sections for link in s.links] == ["https://in-room.example/"]
    assert (await scheduler.digest(this_hour())).link_count == 2


# -- against a real Synapse ---------------------------------------------------------------------


async def test_the_room_gets_the_digest_once_as_a_notice_even_from_a_second_process(scene: Scene):
    alice, alice_client = await scene.person("alice")
    bob, bob_client = await scene.person("bob")
    carol, carol_client = await scene.person("carol")
    settings = scene.settings(allowed=[alice.user_id, carol.user_id])
    async with scene.running(settings) as (adapter, store):
        room_id = await room_with_bot(scene, alice_client, bob_client)
        dm_id = await direct_chat_with_bot(scene, carol_client)  # a direct chat: no digest
        await say(alice_client, room_id, "https://lwn.net/Articles/1001/ #linux")
        await say(bob_client, room_id, "https://lwn.net/Articles/1001/ and https://rust-lang.org/ #rust")
        await until(lambda: links_filed(store, 2), "both links to be filed")
        period = this_hour()
        results = await DigestScheduler(SchedulerOptions.from_settings(settings), store, [adapter]).post(period)
        assert [(r.outlet, r.status) for r in results] == [(f"matrix:{room_id}", "posted")], results
        notice = await wait_for_event(alice_client, room_id, lambda e: e.source["content"].get("msgtype") == "m.notice"
                                      and e.source["content"]["body"].startswith("Tech watch"))
        body = notice.source["content"]["body"]
        assert body.startswith("Tech watch") and "2 links from 2 people" in body
        assert "https://lwn.net/Articles/1001/" in notice.source["content"]["formatted_body"]
        assert "@" not in body  # credited by name, nobody pinged

        # Another process on the same store (the CLI, a second bot by mistake) posts nothing more.
        second = MatrixAdapter.from_settings(settings, store, Rules())
        await second.connect()
        try:
            again = await DigestScheduler(SchedulerOptions.from_settings(settings), store, [second]).post(period)
        finally:
            await second.close()
        assert [r.status for r in again] == ["already"]
        await say(alice_client, room_id, "marker")
        await wait_for_event(alice_client, room_id, lambda e: e.source["content"].get("body") == "marker")
        with pytest.raises(TimeoutError):  # no second digest came before the marker (timeout=0: what was seen)
            await wait_for_event(alice_client, room_id, lambda e: e.source["content"].get("body", "").startswith(
                "Tech watch"), timeout=0)
        assert dm_id not in [r.outlet.removeprefix("matrix:") for r in results]


class CrashingAfterSending:
    """Wraps the real Matrix outlet: the homeserver takes part `at`, then the process 'dies'
    before the store records it (the gap idempotency keys close)."""

    def __init__(self, outlet, at: int) -> None:
        self.outlet, self.at, self.calls = outlet, at, 0
        self.name, self.scope = outlet.name, outlet.scope

    def parts(self, digest, zone):
        return self.outlet.parts(digest, zone)

    async def send(self, part, *, reply_to, key):
        event_id = await self.outlet.send(part, reply_to=reply_to, key=key)
        self.calls += 1
        if self.calls == self.at + 1:
            raise DigestSendError("killed")
        return event_id


async def test_a_crash_between_parts_in_a_room_resumes_without_a_duplicate(scene: Scene, monkeypatch):
    import watchbot.digest.render as render

    alice, alice_client = await scene.person("alice")
    bob, bob_client = await scene.person("bob")
    settings = scene.settings(allowed=[alice.user_id])
    async with scene.running(settings) as (adapter, store):
        room_id = await room_with_bot(scene, alice_client, bob_client)
        for n in range(6):  # six tags: six sections, split between parts
            await file_post(store, Post(source=Source.MATRIX, place=room_id, author_id=bob.user_id,
                                        author_name="bob", text=f"https://part.example/{n} #tag{n}",
                                        event_id=f"$p{n}"), Rules())
        monkeypatch.setattr(render, "MATRIX_PART_BYTES", 400)  # a few small parts
        period = this_hour()
        scheduler = DigestScheduler(SchedulerOptions.from_settings(settings), store, [adapter])
        # The bot's own sync has seen the room and its members.
        await until(adapter.digest_outlets, "the room to be an outlet of the digest")
        [outlet] = adapter.digest_outlets()
        digest = await scheduler.digest(period)
        parts = outlet.parts(digest, UTC)
        assert len(parts) >= 3
        crashed = await post_digest(scheduler.runs, CrashingAfterSending(outlet, at=1), digest, UTC, owner="dead")
        assert crashed.status == "failed"
        monkeypatch.setattr(digest_store, "STALE_AFTER", timedelta(0))
        [resumed] = await scheduler.post(period)
        assert resumed.status == "resumed"
        for n in range(len(parts)):  # each part arrives, in order...
            await wait_for_event(alice_client, room_id, lambda e, n=n: e.source["content"].get("body") == parts[n].text)
        # ...and once: part 1, sent twice with one txn id, is one event. A second one would have
        # come before the parts after it, all seen by now (timeout=0: only what was seen).
        with pytest.raises(TimeoutError):
            await wait_for_event(alice_client, room_id, lambda e: e.source["content"].get("body") == parts[1].text,
                                 timeout=0)


# -- against the Mastodon stand-in ----------------------------------------------------------------


async def bot_statuses(server: MastodonServer, account) -> list[dict]:
    client = server.client(account)
    return list(reversed(await asyncio.to_thread(client.account_statuses, account.id, limit=40)))


async def len_at_least(items, count: int) -> bool:
    return len(await items) >= count


class HoldingTheSecondPost:
    """Wraps the adapter's API calls: the server holds the second post it takes (a delay before
    the request reaches its API), the first reply short enough for the stand-in, which refuses a
    longer part with 422 before the outlet posts it in pieces."""

    HOLD = 3.0  # seconds
    TAKEN_UP_TO = 500  # characters, each URL counted in full (tests/mastodon_server.py, MASTODON)

    def __init__(self, adapter: FediverseAdapter, server: MastodonServer) -> None:
        self.api, self.server = adapter._api, server
        self.fault: str | None = None
        adapter._api = self

    async def __call__(self, method: str, *args, **kwargs):
        if (method == "status_post" and self.fault is None and kwargs.get("in_reply_to_id")
                and len(args[0]) <= self.TAKEN_UP_TO):
            self.fault = await asyncio.to_thread(self.server.inject_fault, "delay", path="/api/v1/statuses",
                                                 methods=["POST"], delay=self.HOLD, times=1)
        return await self.api(method, *args, **kwargs)

    async def reached_the_server(self) -> bool:
        """The second post is held by the server: its fault rule has been taken."""
        if self.fault is None:
            return False
        return all(str(rule["id"]) != self.fault for rule in await asyncio.to_thread(self.server.faults))


async def test_the_fediverse_gets_one_thread_resumed_after_a_crash_without_a_duplicate(
        mastodon_server: MastodonServer, tmp_path: Path, monkeypatch):
    import uuid

    bot = mastodon_server.create_account(f"digest{uuid.uuid4().hex[:6]}", bot=True)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    settings = Settings(_env_file=None, database_url=url, fediverse_instance=mastodon_server.url,
                        fediverse_access_token=bot.access_token, web_base_url="https://watch.example")
    store = await Store.open(url)
    for n in range(30):  # long URLs: Mastodon counts 23 each, the stand-in counts them in full
        await share(store, f"https://long.example/{n}/" + "path-" * 20, f"person{n % 4}")
    period = this_hour()

    first = FediverseAdapter.from_settings(settings, store, Rules())
    await first.connect()
    # The second post hangs, and the process dies meanwhile; the server still takes the post.
    held = HoldingTheSecondPost(first, mastodon_server)
    posting = asyncio.create_task(DigestScheduler(SchedulerOptions.from_settings(settings), store, [first]).post(period))
    await until(held.reached_the_server, "the second post to reach the server")
    posting.cancel()  # the process dies; its request, on the adapter's worker thread, goes on
    await asyncio.gather(posting, return_exceptions=True)
    await until(lambda: len_at_least(bot_statuses(mastodon_server, bot), 2), "the held post to land")
    runs = DigestRuns(store)
    assert list((await runs.state(f"mastodon:{first.instance}", period)).sent) == [0]  # the root only
    await first.close()

    monkeypatch.setattr(digest_store, "STALE_AFTER", timedelta(0))  # the dead poster's claim
    second = FediverseAdapter.from_settings(settings, store, Rules())
    await second.connect()
    try:
        [result] = await DigestScheduler(SchedulerOptions.from_settings(settings), store, [second]).post(period)
        assert result.status == "resumed", result
        [again] = await DigestScheduler(SchedulerOptions.from_settings(settings), store, [second]).post(period)
        assert again.status == "already"
    finally:
        await second.close()
        await store.close()

    statuses = await bot_statuses(mastodon_server, bot)
    root, replies = statuses[0], statuses[1:]
    assert root["visibility"] == "public" and root["in_reply_to_id"] is None
    assert "#rust" in root["content"]
    assert all(s["visibility"] == "unlisted" for s in replies)
    # One thread, each post answering the one before (a duplicate would fork it); every link once.
    assert [s["in_reply_to_id"] for s in replies] == [s["id"] for s in statuses[:-1]]
    text = " ".join(html_to_text(s["content"]) for s in statuses)
    shown = [text.count(f"https://long.example/{n}/") for n in range(30)]
    assert sorted(shown) == [0] * 10 + [1] * 20  # the top 20; the rest on the week's page
    assert f"And 10 more in the archive: https://watch.example/weeks/{week_of(period, settings.zone)}" in text


def test_digest_post_from_the_command_line_once_then_again_on_request(mastodon_server: MastodonServer, tmp_path: Path,
                                                                       monkeypatch):
    import os
    import uuid

    from click.testing import CliRunner

    from watchbot.cli import cli

    for name in list(os.environ):
        if name.startswith("WATCHBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    bot = mastodon_server.create_account(f"cli{uuid.uuid4().hex[:6]}", bot=True)
    env = {"WATCHBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}", "WATCHBOT_FEDIVERSE_INSTANCE": mastodon_server.url,
           "WATCHBOT_FEDIVERSE_ACCESS_TOKEN": bot.access_token, "WATCHBOT_TIMEZONE": "UTC"}

    def run(*args: str):
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    # Noon of a day two weeks ago: its period is over whatever the day and hour now.
    noon = (utcnow() - timedelta(days=14)).replace(hour=12, minute=0, second=0, microsecond=0)
    past_day = noon.strftime("%Y-%m-%d")
    month_ago = (utcnow() - timedelta(days=30)).strftime("%Y-%m-%d")
    assert "nothing was shared in this period: not posted" in run("digest", "post", "--period", month_ago).output
    assert "already done for this period: it was empty" in run("digest", "post", "--period", month_ago).output
    # A week ahead: today's own period is over on a Friday evening (the schedule is Fridays at 17:00).
    next_week = (utcnow() + timedelta(days=7)).strftime("%Y-%m-%d")
    assert "not over yet" in run("digest", "post", "--period", next_week).output
    assert run("digest", "post", "--period", "someday").exit_code == 2

    async def backdate():
        store = await Store.open(env["WATCHBOT_DATABASE_URL"])
        await share(store, "https://backdated.example/", at=noon)
        await store.close()
    asyncio.run(backdate())
    first = run("digest", "post", "--period", past_day)
    assert first.exit_code == 0 and "posted in 2 part(s)" in first.output, first.output  # root, and the link
    again = run("digest", "post", "--period", past_day)
    assert "already posted for this period" in again.output
    forced = run("digest", "post", "--period", past_day, "--again")
    assert "posted in 2 part(s)" in forced.output
    assert len(asyncio.run(bot_statuses(mastodon_server, bot))) == 4


async def test_forget_me_edits_the_posted_digest_that_named_them(scene: Scene):
    alice, alice_client = await scene.person("alice")
    bob, bob_client = await scene.person("bob")
    settings = scene.settings(allowed=[alice.user_id])
    async with scene.running(settings) as (adapter, store):
        room_id = await room_with_bot(scene, alice_client, bob_client)
        await say(alice_client, room_id, "https://kept.example/ #rust")
        await say(bob_client, room_id, "https://bobs.example/ #rust")
        await until(lambda: links_filed(store, 2), "both links to be filed")
        await until(adapter.digest_outlets, "the room to be an outlet of the digest")
        scheduler = DigestScheduler(SchedulerOptions.from_settings(settings), store, [adapter])
        [posted] = await scheduler.post(this_hour())
        bob_name = bob.user_id.split(":")[0][1:]
        notice = await wait_for_event(alice_client, room_id, lambda e: e.source["content"].get("body", "")
                                      .startswith("Tech watch"))
        assert bob_name in notice.source["content"]["body"]
        assert await scheduler.amend() == 0  # nothing to edit yet

        await say(bob_client, room_id, "!watch forget me")
        await wait_for_event(bob_client, room_id, lambda e: e.source["content"].get("body", "").startswith("Done: 1"))
        assert await scheduler.amend() == 1
        edit = await wait_for_event(alice_client, room_id, lambda e: e.source["content"].get("m.relates_to", {})
                                    .get("rel_type") == "m.replace")
        assert edit.source["content"]["m.relates_to"]["event_id"] == posted.remote_ids[0] == notice.event_id
        new = edit.source["content"]["m.new_content"]
        assert bob_name not in new["body"] and "https://kept.example/" in new["body"]
        assert "bobs.example" not in new["formatted_body"]
        assert await scheduler.amend() == 0  # edited once



async def test_with_a_review_room_the_draft_goes_there_first_and_a_moderators_check_sends_it(scene: Scene):
    owner, owner_client = await scene.person("owner")
    bob, bob_client = await scene.person("bob")
    base = scene.settings(allowed=[owner.user_id])
    async with scene.running(base):
        room_id = await room_with_bot(scene, owner_client, bob_client)
        review_id = await room_with_bot(scene, owner_client)  # the moderators' small room
    # The review room is named once the bot is in it: the operator sets it and restarts the bot.
    settings = base.model_copy(update={"digest_review_room": review_id})
    store = await Store.open(scene.database_url)
    woken = []
    adapter = MatrixAdapter.from_settings(settings, store, Rules(), on_digest_approved=lambda: woken.append(True))
    task = asyncio.create_task(adapter.run())
    try:
        await say(bob_client, room_id, "https://reviewed.example/ #rust")
        await until(lambda: links_filed(store, 1), "the link to be filed")
        await until(lambda: len(adapter.digest_outlets()) == 1 and adapter.draft_outlets(),
                    "the room and the review room to be outlets")
        scheduler = DigestScheduler(SchedulerOptions.from_settings(settings), store, [adapter])
        period = this_hour()
        [draft] = await scheduler.post(period)
        assert draft.outlet == f"draft:{review_id}" and draft.status == "posted"
        note = await wait_for_event(owner_client, review_id, lambda e: e.source["content"].get("body", "")
                                    .startswith("Draft of the digest"))
        assert (await scheduler.post(period))[0].status == "already"  # the draft once; the rooms wait
        await say(bob_client, room_id, "marker")  # after anything post() could have sent
        await wait_for_event(bob_client, room_id, lambda e: e.source["content"].get("body") == "marker")
        with pytest.raises(TimeoutError):  # no digest before the marker (timeout=0: only what was seen)
            await wait_for_event(bob_client, room_id, lambda e: e.source["content"].get("body", "")
                                 .startswith("Tech watch"), timeout=0)

        await owner_client.room_send(review_id, "m.reaction", {"m.relates_to": {
            "rel_type": "m.annotation", "event_id": note.event_id, "key": "✅"}})
        await wait_for_event(owner_client, review_id, lambda e: e.source["content"].get("body", "")
                             .startswith("Approved: the digest goes out now."))
        assert woken
        [posted] = await scheduler.post(period)
        assert (posted.outlet, posted.status) == (f"matrix:{room_id}", "posted")
        await wait_for_event(bob_client, room_id, lambda e: e.source["content"].get("body", "")
                             .startswith("Tech watch"))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()


async def test_without_approval_the_digest_goes_out_at_the_deadline(store: Store):
    settings = Settings(_env_file=None, digest_review_room="!review:x", digest_review_deadline="1h")
    await share(store, "https://a.example/")
    outlet = RecordingOutlet()
    scheduler = DigestScheduler(SchedulerOptions.from_settings(settings), store, [OneOutletNetwork(outlet)])
    ended_now = Period(utcnow() - timedelta(days=7), utcnow() - timedelta(minutes=5))
    await share(store, "https://b.example/", at=ended_now.start + timedelta(hours=1))
    assert await scheduler.post(ended_now) == []  # no draft room connected: nothing yet, and no post
    overdue = Period(utcnow() - timedelta(days=8), utcnow() - timedelta(hours=2))
    [posted] = await scheduler.post(overdue)
    assert posted.status == "posted" and outlet.periods == [overdue]


def test_digest_post_gives_up_with_one_line_when_a_network_cannot_be_reached(tmp_path: Path, monkeypatch):
    import os
    import socket

    from click.testing import CliRunner

    import watchbot.cli as cli_module
    import watchbot.cli.digest as digest_module

    for name in list(os.environ):
        if name.startswith("WATCHBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(digest_module, "CONNECT_SECONDS", 2)
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {"WATCHBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}", "WATCHBOT_MATRIX_HOMESERVER": f"http://127.0.0.1:{port}",
           "WATCHBOT_MATRIX_USER_ID": "@bot:x", "WATCHBOT_MATRIX_ACCESS_TOKEN": "t", "WATCHBOT_MATRIX_DEVICE_ID": "D"}
    result = CliRunner().invoke(cli_module.cli, ["digest", "post"], env=env)
    assert result.exit_code == 1
    assert result.output.strip() == "Error: could not reach Matrix within 2 s; nothing was posted"
