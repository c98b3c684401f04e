"""How a room's links are filed, decided by the room and not by a head count, on a real Synapse:
what the people in the room see (the bot's notice, `recent`, the digest) and what the store keeps."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nio
from click.testing import CliRunner
from nio.responses import EmptyResponse

from tests.matrix_helpers import wait_for_event
from tests.test_matrix_bot import (
    Scene,
    direct_chat_with_bot,
    is_membership,
    is_reaction_to,
    is_reply_to,
    room_with_bot,
    say,
)
from tests.waiting import until
from watchbot.cli import cli
from watchbot.model import Visibility
from watchbot.store import Store
from watchbot.store.links import LinkStore
from watchbot.store.rooms import RoomStore

PUBLIC_ROOM = nio.RoomPreset.public_chat
INVITE_ONLY = None  # Synapse's private_chat: join rule invite, history shared


def is_treatment_notice(bot_id: str, *words: str):
    def matches(e) -> bool:
        content = e.source.get("content", {})
        body = content.get("body", "")
        return (e.source.get("sender") == bot_id and content.get("msgtype") == "m.notice"
                and "filed as" in body and all(word in body for word in words))
    return matches


async def share(client: nio.AsyncClient, room_id: str, text: str) -> str:
    event_id = await say(client, room_id, text)
    await wait_for_event(client, room_id, is_reaction_to(event_id))
    return event_id


async def ask(client: nio.AsyncClient, room_id: str, command: str) -> str:
    asked = await say(client, room_id, command)
    return (await wait_for_event(client, room_id, is_reply_to(asked))).source["content"]["body"]


async def visibilities(store: Store) -> dict[str, Visibility]:
    return {record.link.url: record.shares[-1].visibility
            for record in [await LinkStore(store).get_link(link.id) for link in await LinkStore(store).list_links(limit=100)]}


async def join(client: nio.AsyncClient, room_id: str) -> None:
    joined = await client.join(room_id)
    assert isinstance(joined, nio.JoinResponse), joined


async def test_a_public_room_tried_alone_is_public_and_stays_so_when_the_community_joins(scene: Scene):
    operator, operator_client = await scene.person("operator")
    bob, bob_client = await scene.person("bob")
    async with scene.running_bot(allowed=[operator.user_id]) as store:
        room_id = await room_with_bot(scene, operator_client, preset=PUBLIC_ROOM)  # the operator and the bot
        notice = await wait_for_event(operator_client, room_id, is_treatment_notice(scene.bot.user_id, "filed as public"))
        body = notice.source["content"]["body"]
        assert "may reach the weekly digest" in body and "The weekly digest is posted here." in body
        assert "watchbot rooms set" in body

        await share(operator_client, room_id, "https://tried-alone.example/")  # two in the room: not a direct chat
        await join(bob_client, room_id)
        await share(bob_client, room_id, "https://community.example/")
        assert await visibilities(store) == {"https://tried-alone.example/": Visibility.PUBLIC,
                                             "https://community.example/": Visibility.PUBLIC}
        recent = await ask(bob_client, room_id, "!watch recent")
        assert "tried-alone.example" in recent and "community.example" in recent


async def test_an_invite_only_room_is_private_however_many_are_in_it_and_keeps_its_moderators(scene: Scene):
    owner, owner_client = await scene.person("owner")
    members = [await scene.person(name) for name in ("bob", "carol", "dan")]
    async with scene.running(scene.settings([owner.user_id])) as (adapter, store):
        room_id = await room_with_bot(scene, owner_client, *[client for _, client in members], preset=INVITE_ONLY)
        notice = await wait_for_event(owner_client, room_id, is_treatment_notice(scene.bot.user_id, "filed as private"))
        assert "never published" in notice.source["content"]["body"]
        assert "join rule invite" in notice.source["content"]["body"]

        bob_client = members[0][1]
        await share(bob_client, room_id, "https://members-only.example/ #canary")
        assert await visibilities(store) == {"https://members-only.example/": Visibility.PRIVATE}
        # The room sees what was shared in it (decision 17); the digest, which is public, does not.
        assert "members-only" in await ask(bob_client, room_id, "!watch recent")
        assert "members-only" not in await ask(bob_client, room_id, "!watch digest preview")
        # Still a room with moderators, and the digest of public links is posted to it.
        assert await ask(owner_client, room_id, "!watch queue") == "Nothing waits for review."
        assert room_id in [outlet.room_id for outlet in adapter.digest_outlets()]


async def test_a_direct_chat_is_known_by_its_invite_has_no_moderators_and_gets_no_digest(scene: Scene):
    alice, alice_client = await scene.person("alice")
    async with scene.running(scene.settings([alice.user_id])) as (adapter, store):
        dm_id = await direct_chat_with_bot(scene, alice_client)
        notice = await wait_for_event(alice_client, dm_id, is_treatment_notice(scene.bot.user_id, "direct chat"))
        assert "The weekly digest is not posted here." in notice.source["content"]["body"]

        await share(alice_client, dm_id, "https://just-for-me.example/")
        assert await visibilities(store) == {"https://just-for-me.example/": Visibility.DIRECT}
        assert "just-for-me" in await ask(alice_client, dm_id, "!watch recent")  # the chat sees its own
        assert "Only moderators may use “queue”" in await ask(alice_client, dm_id, "!watch queue")
        assert dm_id not in [outlet.room_id for outlet in adapter.digest_outlets()]

    # After a restart, with the invite long gone, it is still a direct chat.
    async with scene.running(scene.settings([alice.user_id])) as (adapter, store):
        await share(alice_client, dm_id, "https://still-mine.example/")
        assert (await visibilities(store))["https://still-mine.example/"] is Visibility.DIRECT


def watchbot(scene: Scene, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--env-file", str(scene.env_file), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


async def test_rooms_lists_the_rooms_and_set_changes_them_from_now_on_or_for_the_past_while_the_bot_runs(
        scene: Scene, tmp_path: Path):
    owner, owner_client = await scene.person("owner")
    bob, bob_client = await scene.person("bob")
    scene.env_file = tmp_path / "rooms.env"
    scene.env_file.write_text(f"WATCHBOT_DATABASE_URL={scene.database_url}\n")
    async with scene.running_bot(allowed=[owner.user_id]) as store:
        room_id = await room_with_bot(scene, owner_client, bob_client, preset=INVITE_ONLY)
        await wait_for_event(owner_client, room_id, is_treatment_notice(scene.bot.user_id, "filed as private"))
        await share(bob_client, room_id, "https://before.example/")
        listed = await asyncio.to_thread(watchbot, scene, "rooms")
        assert f"{room_id}: private (only people let in may join (join rule invite)); digest posted here" in listed

        said = await asyncio.to_thread(watchbot, scene, "rooms", "set", room_id, "public")
        assert said.startswith(f"{room_id} is now public: links shared there from now on may be published")
        await share(bob_client, room_id, "https://after.example/")
        # The room is told, and what was shared before stays private.
        notice = await wait_for_event(bob_client, room_id, is_treatment_notice(scene.bot.user_id, "filed as public"))
        assert "Why: set public by cli:" in notice.source["content"]["body"]
        assert await visibilities(store) == {"https://before.example/": Visibility.PRIVATE,
                                             "https://after.example/": Visibility.PUBLIC}
        recent = await ask(bob_client, room_id, "!watch recent")
        assert "after.example" in recent and "before.example" not in recent

        said = await asyncio.to_thread(watchbot, scene, "rooms", "set", room_id, "public", "--past")
        assert f"1 share(s) in {room_id} are now public (1 link(s))." in said
        assert "before.example" in await ask(bob_client, room_id, "!watch recent")
        assert "set public by cli:" in await asyncio.to_thread(watchbot, scene, "rooms")

        # Once the bot is out of the room, it is no longer listed.
        await owner_client.room_kick(room_id, scene.bot.user_id)
        await wait_for_event(owner_client, room_id, is_membership(scene.bot.user_id, "leave"))
        await until(lambda: left(store, room_id), "the room to be marked left")
        assert room_id not in await asyncio.to_thread(watchbot, scene, "rooms")


async def left(store: Store, room_id: str) -> bool:
    return not (await RoomStore(store).get(room_id)).joined


async def test_a_room_opened_to_the_public_by_its_admin_is_public_from_then_on_and_says_so(scene: Scene):
    owner, owner_client = await scene.person("owner")
    bob, bob_client = await scene.person("bob")
    async with scene.running_bot(allowed=[owner.user_id]) as store:
        room_id = await room_with_bot(scene, owner_client, bob_client, preset=INVITE_ONLY)
        await wait_for_event(owner_client, room_id, is_treatment_notice(scene.bot.user_id, "filed as private"))
        await share(bob_client, room_id, "https://while-closed.example/")

        opened = await owner_client.room_put_state(room_id, "m.room.join_rules", {"join_rule": "public"})
        assert isinstance(opened, nio.RoomPutStateResponse), opened
        notice = await wait_for_event(owner_client, room_id, is_treatment_notice(scene.bot.user_id, "filed as public"))
        assert "anyone may join (join rule public)" in notice.source["content"]["body"]
        await share(bob_client, room_id, "https://once-open.example/")
        assert await visibilities(store) == {"https://while-closed.example/": Visibility.PRIVATE,
                                             "https://once-open.example/": Visibility.PUBLIC}


async def recorded(store: Store, room_id: str) -> Visibility | None:
    room = await RoomStore(store).get(room_id)
    return room and room.visibility


async def bots_m_direct(scene: Scene, *, write: dict | None = None) -> dict:
    """The bot's own m.direct account data, read with its token ({} when it has none); with
    `write`, written first."""
    client = nio.AsyncClient(scene.server.url, scene.bot.user_id)
    client.restore_login(scene.bot.user_id, scene.bot.device_id, scene.bot.access_token)
    try:
        if write is not None:
            path = nio.Api._build_path(["user", scene.bot.user_id, "account_data", "m.direct"])
            assert isinstance(await client._send(EmptyResponse, "PUT", path, json.dumps(write)), EmptyResponse)
        listed = await client.list_direct_rooms()
    finally:
        await client.close()
    return listed.rooms if isinstance(listed, nio.DirectRoomsResponse) else {}


async def test_a_direct_chat_is_marked_in_the_bots_m_direct_and_a_new_store_knows_it_from_there(
        scene: Scene, tmp_path: Path):
    alice, alice_client = await scene.person("alice")
    async with scene.running_bot(allowed=[alice.user_id]) as store:
        dm_id = await direct_chat_with_bot(scene, alice_client)
        # The spec's shape: the person the chat is with, and the room, in the bot's own account data.
        assert await until(lambda: bots_m_direct(scene), "the bot's m.direct") == {alice.user_id: [dm_id]}
        assert await until(lambda: recorded(store, dm_id), "the chat to be recorded") is Visibility.DIRECT

    # A store that knows the chat, on an account that does not (a deployment from before): marked at start.
    assert await bots_m_direct(scene, write={}) == {}
    async with scene.running_bot(allowed=[alice.user_id]):
        assert await until(lambda: bots_m_direct(scene), "the bot's m.direct again") == {alice.user_id: [dm_id]}

    # A new store (a move by export and import, or a store that missed the invite): the account says it.
    scene.database_url = f"sqlite:///{tmp_path / 'new.db'}"
    async with scene.running(scene.settings([alice.user_id])) as (adapter, store):
        await until(lambda: adapter.ready.is_set(), "the bot to know its rooms")
        assert (await RoomStore(store).get(dm_id)).visibility is Visibility.DIRECT
        await share(alice_client, dm_id, "https://direct-in-a-new-store.example/")
        assert await visibilities(store) == {"https://direct-in-a-new-store.example/": Visibility.DIRECT}
        assert dm_id not in [outlet.room_id for outlet in adapter.digest_outlets()]
    assert await bots_m_direct(scene) == {alice.user_id: [dm_id]}  # listed once, as it was
