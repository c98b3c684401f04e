"""The glue of `watchbot run`: the parts `build_bot` builds, run by `run_bot` as the command runs
them, on the real Synapse and the Mastodon stand-in (mastodon_mock) at once. The digest is driven
through its period's end by a test clock handed to `build_bot` (its `clock` and `wait`): nothing
here builds a scheduler, an adapter or a wake-up by hand.

Each test fails when the wiring it proves is cut (issue 30): the scheduler left out of the
workers, the edit of posted digests after `forget me`, deleted statuses left in the digest, the
review room's approval not reaching the scheduler.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import nio
import pytest

from tests.mastodon_server import MastodonServer
from tests.matrix_helpers import create_room, wait_for_event
from tests.test_matrix_bot import Scene, is_membership, is_reaction_to, room_with_bot, say
from tests.test_matrix_faults import history
from watchbot.bot import Bot, build_bot, run_bot
from watchbot.config import Settings
from watchbot.digest.schedule import current_period
from watchbot.model import Period, utcnow
from watchbot.networks.fediverse import CURSOR, FediverseAdapter
from watchbot.networks.fediverse.events import html_to_text
from watchbot.networks.matrix import MatrixAdapter
from watchbot.published import as_utc
from watchbot.store import Store
from watchbot.store.cursors import CursorStore
from watchbot.store.digests import DigestRuns
from watchbot.store.replies import ReplyStore

DIGEST = "Tech watch"  # how every digest begins, in a room and on the fediverse
DEADLINE = 30.0  # seconds any one awaited thing may take on a loaded machine


class HandClock:
    """The bot's clock and its scheduler's `wait`: it starts at the real time (what is shared
    carries the servers' real timestamps) and moves only when the test moves it. A wait ends when
    the clock reaches its end or its event is set (the scheduler's wake-up), never by itself."""

    def __init__(self) -> None:
        self.start = self.now = utcnow()
        self.waits = 0  # how many times the scheduler went back to waiting: its passes done
        self._moved = asyncio.Event()

    def __call__(self) -> datetime:
        return self.now

    def move_to(self, moment: datetime) -> None:
        self.now = moment
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()

    async def wait(self, event: asyncio.Event, seconds: float) -> None:
        end = self.now + timedelta(seconds=seconds)
        self.waits += 1
        while not event.is_set() and self.now < end:
            waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._moved.wait())]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()


@dataclass
class Running:
    bot: Bot
    store: Store
    task: asyncio.Task  # run_bot

    @property
    def matrix(self) -> MatrixAdapter:
        return next(network for network in self.bot.networks if isinstance(network, MatrixAdapter))

    @property
    def fediverse(self) -> FediverseAdapter:
        return next(network for network in self.bot.networks if isinstance(network, FediverseAdapter))


class Glue:
    """One bot on both networks: its Matrix account and the people of the Matrix tests' scene,
    an account of its own on the stand-in, a test clock, and a schedule whose period in progress
    has about half an hour on either side of now (an hour's boundary is never crossed by a test)."""

    def __init__(self, matrix: Scene, mastodon: MastodonServer) -> None:
        self.matrix = matrix
        self.mastodon = mastodon
        self.fedi_bot = mastodon.create_account(f"glue{uuid.uuid4().hex[:6]}", bot=True)
        self.time = HandClock()
        self.schedule = f"{(self.time.start.minute + 30) % 60} * * * *"
        self.running: Running | None = None

    def settings(self, allowed: list[str], **more) -> Settings:
        bot = self.matrix.bot
        return Settings(
            _env_file=None, database_url=self.matrix.database_url,
            matrix_homeserver=self.matrix.server.url, matrix_user_id=bot.user_id,
            matrix_access_token=bot.access_token, matrix_device_id=bot.device_id, matrix_allowed_inviters=allowed,
            fediverse_instance=self.mastodon.url, fediverse_access_token=self.fedi_bot.access_token,
            fediverse_streaming=False, digest_schedule=self.schedule, timezone="UTC", web_port=None,
            fetch_enabled=False, feeds_enabled=False,  # no page fetched, no feed polled: the digest's path only
            **more)

    @property
    def period(self) -> Period:
        """The period in progress when the test began: what the first digest covers."""
        return current_period(self.schedule, ZoneInfo("UTC"), self.time.start)

    @asynccontextmanager
    async def run(self, settings: Settings) -> AsyncIterator[Running]:
        """`watchbot run`'s own wiring: build_bot with the test clock, then run_bot; stopped after."""
        store = await Store.open(settings.database_url)
        bot = build_bot(settings, store, clock=self.time, wait=self.time.wait)
        task = asyncio.create_task(run_bot(settings, store, bot=bot))
        self.running = Running(bot, store, task)
        try:
            # Mentions are answered from the fediverse's first start on: wait for it.
            async def started() -> bool:  # its cursor is set ("" when there was no mention yet)
                return await CursorStore(store).get(CURSOR) is not None

            await self.until(started, "the fediverse's first start")
            await self.until(lambda: self.time.waits >= 1, "the scheduler's first check")
            yield self.running
        finally:
            self.running = None
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await store.close()

    async def until(self, check, what: str, timeout: float = DEADLINE):
        """What `check()` gives once it is truthy; fails at the deadline, or at once if the bot stopped."""
        deadline = time.monotonic() + timeout
        while True:
            if self.running is not None and self.running.task.done():
                self.running.task.result()  # its exception, if it died
                raise AssertionError("run_bot returned while the test waited for " + what)
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:g} s for {what}")
            await asyncio.sleep(0.05)

    async def move_to(self, moment: datetime) -> None:
        """Move the clock and wait for the scheduler's pass at that time to be over."""
        done = self.time.waits
        self.time.move_to(moment)
        await self.until(lambda: self.time.waits > done, f"the scheduler's pass at {moment:%H:%M:%S}")

    async def end_the_period(self) -> None:
        await self.move_to(self.period.end + timedelta(seconds=1))

    async def another_pass(self) -> None:
        """A pass later in the next period: the scheduler rechecks at least every 15 minutes."""
        await self.move_to(self.time.now + timedelta(minutes=16))

    async def digest_threads(self) -> list[list[dict]]:
        """The digests on the bot's fediverse account, each as its thread of statuses (root first)."""
        client = self.mastodon.client(self.fedi_bot)
        statuses = list(reversed(await asyncio.to_thread(client.account_statuses, self.fedi_bot.id, limit=40)))
        threads: list[list[dict]] = []
        thread_of: dict[str, list[dict]] = {}
        for status in statuses:
            parent = status["in_reply_to_id"]
            if parent is None and html_to_text(status["content"]).startswith(DIGEST):
                threads.append([status])
                thread_of[str(status["id"])] = threads[-1]
            elif parent is not None and str(parent) in thread_of:
                thread_of[str(parent)].append(status)
                thread_of[str(status["id"])] = thread_of[str(parent)]
        return threads

    async def room_digests(self, client: nio.AsyncClient, room_id: str) -> list[dict]:
        """The digests posted in the room (edits aside), as the homeserver has them."""
        return [event for event in await history(client, room_id)
                if event.get("sender") == self.matrix.bot.user_id and event["type"] == "m.room.message"
                and event["content"].get("body", "").startswith(DIGEST) and "m.relates_to" not in event["content"]]


def text_of(thread: list[dict]) -> str:
    return "\n".join(html_to_text(status["content"]) for status in thread)


def is_digest(bot_id: str):
    return lambda e: (e.source.get("sender") == bot_id and e.source["content"].get("msgtype") == "m.notice"
                      and e.source["content"].get("body", "").startswith(DIGEST))


def is_edit_of(event_id: str):
    return lambda e: (e.source["content"].get("m.relates_to", {}).get("rel_type") == "m.replace"
                      and e.source["content"]["m.relates_to"].get("event_id") == event_id)


def name_of(user_id: str) -> str:
    """How the digest credits a Matrix member: their display name, here their user name."""
    return user_id.split(":")[0][1:]


async def mention(client, text: str) -> dict:
    return await asyncio.to_thread(client.status_post, text)


@pytest.fixture
def glue(scene: Scene, mastodon_server: MastodonServer) -> Glue:
    return Glue(scene, mastodon_server)


async def test_the_digest_is_posted_at_the_periods_end_in_the_room_and_on_the_fediverse_once_each(glue: Glue):
    alice, alice_client = await glue.matrix.person("alice")
    _, bob_client = await glue.matrix.person("bob")
    async with glue.run(glue.settings([alice.user_id])) as running:
        room_id = await room_with_bot(glue.matrix, alice_client, bob_client)
        for client, text in ((alice_client, "https://glue.example/one #rust"),
                             (bob_client, "https://glue.example/two #rust")):
            shared = await say(client, room_id, text)
            await wait_for_event(client, room_id, is_reaction_to(shared), timeout=DEADLINE)
        # Nothing goes out before the period's end.
        assert await glue.room_digests(alice_client, room_id) == [] and await glue.digest_threads() == []

        await glue.end_the_period()
        notice = await wait_for_event(alice_client, room_id, is_digest(glue.matrix.bot.user_id), timeout=DEADLINE)
        body = notice.source["content"]["body"]
        assert "2 links from 2 people" in body
        assert "https://glue.example/one" in body and "https://glue.example/two" in body
        [thread] = await glue.digest_threads()
        assert thread[0]["visibility"] == "public"
        assert "https://glue.example/one" in text_of(thread) and "https://glue.example/two" in text_of(thread)
        # The runs were dated by the clock build_bot was given, and so was the fediverse's outbox.
        runs = DigestRuns(running.store)
        for outlet in (f"matrix:{room_id}", f"mastodon:{running.fediverse.instance}"):
            state = await runs.state(outlet, glue.period)
            assert state.status == "posted" and as_utc(state.finished_at) == glue.time.now
        assert running.fediverse.sender.deliver.started == glue.time.start

        await glue.another_pass()  # woken again, later: nothing is posted twice
        assert len(await glue.room_digests(alice_client, room_id)) == 1
        assert [[status["id"] for status in t] for t in await glue.digest_threads()] == [
            [status["id"] for status in thread]]


async def test_forget_me_edits_the_posted_digest_in_the_room_and_on_the_fediverse(glue: Glue):
    alice, alice_client = await glue.matrix.person("alice")
    bob, bob_client = await glue.matrix.person("bob")
    async with glue.run(glue.settings([alice.user_id])):
        room_id = await room_with_bot(glue.matrix, alice_client, bob_client)
        for client, text in ((alice_client, "https://kept.example/ #rust"),
                             (bob_client, "https://bobs.example/ #rust")):
            shared = await say(client, room_id, text)
            await wait_for_event(client, room_id, is_reaction_to(shared), timeout=DEADLINE)
        await glue.end_the_period()
        notice = await wait_for_event(alice_client, room_id, is_digest(glue.matrix.bot.user_id), timeout=DEADLINE)
        bob_name = name_of(bob.user_id)
        assert bob_name in notice.source["content"]["body"]
        [thread] = await glue.digest_threads()
        assert bob_name in text_of(thread) and all(status["edited_at"] is None for status in thread)

        await say(bob_client, room_id, "!watch forget me")
        await wait_for_event(bob_client, room_id, lambda e: e.source["content"].get("body", "").startswith("Done: 1"),
                             timeout=DEADLINE)
        await glue.another_pass()
        edit = await wait_for_event(alice_client, room_id, is_edit_of(notice.event_id), timeout=DEADLINE)
        new = edit.source["content"]["m.new_content"]
        assert bob_name not in new["body"] and "https://kept.example/" in new["body"]
        assert "bobs.example" not in new["body"] + new["formatted_body"]
        [edited] = await glue.digest_threads()  # the same thread, its statuses edited in place
        assert [status["id"] for status in edited] == [status["id"] for status in thread]
        assert any(status["edited_at"] is not None for status in edited)
        assert bob_name not in text_of(edited) and "bobs.example" not in text_of(edited)
        assert "https://kept.example/" in text_of(edited)


async def test_a_status_deleted_before_the_periods_end_leaves_the_digest(glue: Glue):
    alice, alice_client = await glue.matrix.person("alice")
    dave_client = glue.mastodon.client(glue.mastodon.create_account(f"dave{uuid.uuid4().hex[:6]}"))
    erin_client = glue.mastodon.client(glue.mastodon.create_account(f"erin{uuid.uuid4().hex[:6]}"))
    async with glue.run(glue.settings([alice.user_id])) as running:
        room_id = await room_with_bot(glue.matrix, alice_client)
        gone = await mention(dave_client, f"@{glue.fedi_bot.username} https://deleted-later.example/ #rust")
        kept = await mention(erin_client, f"@{glue.fedi_bot.username} https://still-there.example/ #rust")
        running.fediverse.wake()
        for status in (gone, kept):  # answered: the bot knows the status by its id, and can ask after it
            await glue.until(lambda status=status: ReplyStore(running.store).answered_id_of("mastodon", status["uri"]),
                             f"the bot's answer to {status['uri']}")
        await asyncio.to_thread(dave_client.status_delete, gone["id"])

        await glue.end_the_period()
        notice = await wait_for_event(alice_client, room_id, is_digest(glue.matrix.bot.user_id), timeout=DEADLINE)
        body = notice.source["content"]["body"]
        assert "https://still-there.example/" in body and "deleted-later" not in body
        assert "1 link from 1 person" in body
        [thread] = await glue.digest_threads()
        assert "https://still-there.example/" in text_of(thread) and "deleted-later" not in text_of(thread)


async def test_a_moderators_check_on_the_draft_sends_the_digest_to_the_rooms(glue: Glue):
    owner, owner_client = await glue.matrix.person("owner")  # creates the rooms: their moderator
    _, bob_client = await glue.matrix.person("bob")
    review_id = await create_room(owner_client)  # the moderators' small room, named in the settings
    async with glue.run(glue.settings([owner.user_id], digest_review_room=review_id)):
        room_id = await room_with_bot(glue.matrix, owner_client, bob_client)
        await owner_client.room_invite(review_id, glue.matrix.bot.user_id)
        await wait_for_event(owner_client, review_id, is_membership(glue.matrix.bot.user_id, "join"), timeout=DEADLINE)
        shared = await say(bob_client, room_id, "https://reviewed.example/ #rust")
        await wait_for_event(bob_client, room_id, is_reaction_to(shared), timeout=DEADLINE)

        await glue.end_the_period()  # the draft goes to the review room; the rooms wait
        note = await wait_for_event(owner_client, review_id, lambda e: e.source["content"].get("body", "")
                                    .startswith("Draft of the digest"), timeout=DEADLINE)
        assert await glue.room_digests(bob_client, room_id) == [] and await glue.digest_threads() == []

        # The clock stands still from here: only the approval can wake the scheduler.
        passes = glue.time.waits
        await owner_client.room_send(review_id, "m.reaction", {"m.relates_to": {
            "rel_type": "m.annotation", "event_id": note.event_id, "key": "✅"}})
        await wait_for_event(owner_client, review_id, lambda e: e.source["content"].get("body", "")
                             .startswith("Approved: the digest goes out now."), timeout=DEADLINE)
        notice = await wait_for_event(bob_client, room_id, is_digest(glue.matrix.bot.user_id), timeout=DEADLINE)
        assert "https://reviewed.example/" in notice.source["content"]["body"]
        await glue.until(lambda: glue.time.waits > passes, "the pass the approval woke to end")
        [thread] = await glue.digest_threads()
        assert "https://reviewed.example/" in text_of(thread)
