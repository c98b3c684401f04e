"""Killed at any point, answered exactly once: `watchbot run` against the real Synapse, killed with
SIGKILL 20 times during a burst of 500 messages (some of the kills the moment an answer is owed
and not yet sent), restarted each time. Counted on the server: every message has exactly one
reaction from the bot, every repeated link exactly one reply, and every link is filed once."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
from pathlib import Path

import nio

from tests.test_matrix_bot import Scene, await_store, bot_env, room_with_bot, say
from tests.waiting import until
from watchbot.networks.matrix.events import ALREADY_SHARED_REACTION, NEW_LINK_REACTION
from watchbot.store.links import LinkStore
from watchbot.store.outbox import OutboxStore

MESSAGES = 500
KILLS = 20
REPEATED_EVERY = 10  # every tenth message shares a link shared before: a reply is owed too


def message(i: int) -> str:
    if i % REPEATED_EVERY == REPEATED_EVERY - 1:
        return f"again https://burst.example/{i - 1}"  # the link of the message before
    return f"burst https://burst.example/{i} #load"


async def owed_and_unsent(url: str) -> int:
    async with await_store(url) as store:
        return (await OutboxStore(store).backlog("matrix")).waiting


async def filed(url: str) -> int:
    async with await_store(url) as store:
        return await LinkStore(store).count_links()


async def history(client: nio.AsyncClient, room_id: str) -> list[dict]:
    """Every event of the room, oldest first, as the server has them."""
    synced = await client.sync(timeout=0)  # the newest position: paged back from there
    assert isinstance(synced, nio.SyncResponse), synced
    events, token = [], synced.next_batch
    while True:
        page = await client.room_messages(room_id, start=token, limit=1000, direction=nio.MessageDirection.back)
        assert isinstance(page, nio.RoomMessagesResponse), page
        events += [event.source for event in page.chunk]
        if not page.chunk or page.end is None:
            return events[::-1]
        token = page.end


async def test_killed_twenty_times_mid_burst_every_message_is_answered_exactly_once(scene: Scene, tmp_path: Path):
    alice, alice_client = await scene.person("alice")
    env = bot_env(scene, alice.user_id)
    chance = random.Random(14)  # the same kill points on every run

    def start_bot() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "watchbot", "run"], env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    bot = start_bot()
    sent: list[str] = []
    kills_with_answers_owed = 0  # told when an assertion fails: the outcome is what counts
    try:
        room_id = await room_with_bot(scene, alice_client)

        async def burst() -> None:
            for i in range(MESSAGES):
                sent.append(await say(alice_client, room_id, message(i)))

        sending = asyncio.create_task(burst())
        for kill in range(KILLS):
            if kill % 2:  # the moment an answer is owed and not yet sent, when one comes soon
                for _ in range(200):
                    if await owed_and_unsent(scene.database_url):
                        break
                    await asyncio.sleep(0.01)
            else:
                await asyncio.sleep(chance.uniform(0.3, 2.0))
            bot.send_signal(signal.SIGKILL)
            bot.wait(timeout=30)
            kills_with_answers_owed += bool(await owed_and_unsent(scene.database_url))
            bot = start_bot()
        await sending
        # Then left to finish: every message answered (a reaction each, in alice's history).
        # Whatever is still owed after that would be a second answer: once nothing is, count.
        await until(lambda: answered_all(alice_client, room_id, sent), "an answer to every message",
                    timeout=120, every=1)  # the whole history each time: not too often
        await until(lambda: nothing_owed(scene.database_url), "nothing owed", timeout=60)
        events = await history(alice_client, room_id)
    finally:
        bot.send_signal(signal.SIGTERM)
        _, stderr = bot.communicate(timeout=30)
        print(stderr.decode()[-3000:])  # shown when the test fails
    assert bot.returncode == 0, stderr.decode()[-2000:]
    told = f"(of {KILLS} kills, {kills_with_answers_owed} left an answer owed)"

    from_bot = [e for e in events if e.get("sender") == scene.bot.user_id]
    reactions: dict[str, list[str]] = {}
    replies: dict[str, int] = {}
    for event in from_bot:
        relation = event.get("content", {}).get("m.relates_to", {})
        if event["type"] == "m.reaction":
            reactions.setdefault(relation["event_id"], []).append(relation["key"])
        elif "m.in_reply_to" in relation:
            answered = relation["m.in_reply_to"]["event_id"]
            replies[answered] = replies.get(answered, 0) + 1
    assert len(sent) == MESSAGES
    for i, event_id in enumerate(sent):
        repeated = i % REPEATED_EVERY == REPEATED_EVERY - 1
        assert reactions.get(event_id) == [ALREADY_SHARED_REACTION if repeated else NEW_LINK_REACTION], (i, event_id, told)
        assert replies.get(event_id, 0) == (1 if repeated else 0), (i, event_id, told)
    assert sum(len(keys) for keys in reactions.values()) == MESSAGES, told  # nothing else answered
    assert sum(replies.values()) == MESSAGES // REPEATED_EVERY, told
    async with await_store(scene.database_url) as store:
        links = await LinkStore(store).list_links(limit=MESSAGES)
    assert len(links) == MESSAGES - MESSAGES // REPEATED_EVERY, told
    assert sorted(link.share_count for link in links) == sorted(
        [2] * (MESSAGES // REPEATED_EVERY) + [1] * (MESSAGES - 2 * (MESSAGES // REPEATED_EVERY))), told


async def answered_all(client: nio.AsyncClient, room_id: str, sent: list[str]) -> bool:
    """Whether every message in `sent` has a reaction, in the room's history as the server has it."""
    events = await history(client, room_id)
    reacted = {event["content"]["m.relates_to"]["event_id"] for event in events if event["type"] == "m.reaction"}
    return reacted >= set(sent)


async def nothing_owed(url: str) -> bool:
    return not await owed_and_unsent(url)
