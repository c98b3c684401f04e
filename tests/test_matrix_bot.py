"""The Matrix adapter against a real Synapse, with real nio clients as the room's members."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import nio
import pytest

from tests.matrix_helpers import client_for, create_room, wait_for_event
from tests.synapse_server import MatrixUser, SynapseServer
from tests.waiting import until
from watchbot.config import Settings
from watchbot.intake import Rules
from watchbot.model import Source
from watchbot.networks.matrix import MatrixAdapter
from watchbot.networks.matrix.events import ALREADY_SHARED_REACTION, NEW_LINK_REACTION
from watchbot.store import Store
from watchbot.store.links import LinkStore


def unique(name: str) -> str:
    return f"{name}{uuid.uuid4().hex[:8]}"


class Scene:
    """A bot account, its store, and people with nio clients, on one homeserver."""

    def __init__(self, server: SynapseServer, tmp_path: Path) -> None:
        self.server = server
        self.bot = server.register(unique("watchbot"))
        self.database_url = f"sqlite:///{tmp_path / 'watchbot.db'}"
        self.clients: list[nio.AsyncClient] = []
        self.bot_store_path: Path | None = None  # set: the bot reads encrypted rooms

    async def person(self, name: str) -> tuple[MatrixUser, nio.AsyncClient]:
        user = self.server.register(unique(name))
        client = await client_for(self.server, user)
        self.clients.append(client)
        return user, client

    def settings(self, allowed: list[str]) -> Settings:
        return Settings(
            _env_file=None,
            database_url=self.database_url,
            matrix_homeserver=self.server.url,
            matrix_user_id=self.bot.user_id,
            matrix_access_token=self.bot.access_token,
            matrix_device_id=self.bot.device_id,
            matrix_allowed_inviters=allowed,
            matrix_store_path=self.bot_store_path,
            # Bursts here test sync and crash safety; the limits have tests of their own.
            links_per_hour=10_000,
            links_per_day=100_000,
        )

    @asynccontextmanager
    async def running_bot(self, allowed: list[str], **settings) -> AsyncIterator[Store]:
        async with self.running(self.settings(allowed).model_copy(update=settings)) as (_, store):
            yield store

    @asynccontextmanager
    async def running(self, settings: Settings, **adapter) -> AsyncIterator[tuple[MatrixAdapter, Store]]:
        """The bot running with these settings, its adapter and its store (stopped after)."""
        store = await Store.open(self.database_url)
        adapter = MatrixAdapter.from_settings(settings, store, Rules(), **adapter)
        task = asyncio.create_task(adapter.run())
        try:
            yield adapter, store
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await store.close()

    async def close(self) -> None:
        for client in self.clients:
            await client.close()


def is_membership(user_id: str, membership: str):
    return lambda e: (e.source.get("type") == "m.room.member" and e.source.get("state_key") == user_id
                      and e.source.get("content", {}).get("membership") == membership)


def is_reaction_to(event_id: str, key: str | None = None):
    def matches(e) -> bool:
        relation = e.source.get("content", {}).get("m.relates_to", {})
        return (e.source.get("type") == "m.reaction" and relation.get("event_id") == event_id
                and (key is None or relation.get("key") == key))
    return matches


def is_thread_reply_to(event_id: str):
    return lambda e: e.source.get("content", {}).get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == event_id


async def say(client: nio.AsyncClient, room_id: str, body: str, msgtype: str = "m.text") -> str:
    response = await client.room_send(room_id, "m.room.message", {"msgtype": msgtype, "body": body})
    assert isinstance(response, nio.RoomSendResponse), response
    return response.event_id


async def room_with_bot(scene: Scene, owner: nio.AsyncClient, *members: nio.AsyncClient,
                        preset: nio.RoomPreset | None = nio.RoomPreset.public_chat) -> str:
    """A room created by `owner`, the bot invited (and joining by itself), members joined. Public
    by default (a community's room, whose links may be published); `preset=None`: invite-only."""
    room_id = await create_room(owner, *members, preset=preset)
    await owner.room_invite(room_id, scene.bot.user_id)
    await wait_for_event(owner, room_id, is_membership(scene.bot.user_id, "join"), timeout=30)
    return room_id


async def direct_chat_with_bot(scene: Scene, person: nio.AsyncClient) -> str:
    """A direct chat: `person` invites the bot with is_direct, as a client's "start a chat" does."""
    created = await person.room_create(invite=[scene.bot.user_id], is_direct=True,
                                       preset=nio.RoomPreset.trusted_private_chat)
    assert isinstance(created, nio.RoomCreateResponse), created
    await wait_for_event(person, created.room_id, is_membership(scene.bot.user_id, "join"), timeout=30)
    return created.room_id


async def test_a_link_gets_a_reaction_and_is_filed_and_a_second_sharer_is_told_who_was_first(scene: Scene):
    alice, alice_client = await scene.person("alice")
    bob, bob_client = await scene.person("bob")
    async with scene.running_bot(allowed=[alice.user_id]) as store:
        room_id = await room_with_bot(scene, alice_client, bob_client)

        first = await say(alice_client, room_id, "Worth a read: https://lwn.net/Articles/1001/ #Linux #security")
        await wait_for_event(alice_client, room_id, is_reaction_to(first, NEW_LINK_REACTION))
        [link] = await LinkStore(store).list_links()
        assert link.url == "https://lwn.net/Articles/1001/"
        assert link.tags == ("linux", "security")
        record = await LinkStore(store).get_link(link.id)
        assert (record.shares[0].sharer_id, record.shares[0].place) == (alice.user_id, room_id)

        second = await say(bob_client, room_id, "https://LWN.net/Articles/1001/?utm_source=feed")
        await wait_for_event(bob_client, room_id, is_reaction_to(second, ALREADY_SHARED_REACTION))
        reply = await wait_for_event(bob_client, room_id, is_thread_reply_to(second))
        assert reply.source["content"]["body"].startswith(f"Already shared by {alice.user_id.split(':')[0][1:]} on ")
        assert reply.source["sender"] == scene.bot.user_id
        assert (await LinkStore(store).get_link(link.id)).link.share_count == 2


async def test_notices_and_the_bots_own_messages_are_not_filed(scene: Scene):
    alice, alice_client = await scene.person("alice")
    async with scene.running_bot(allowed=[alice.user_id]) as store:
        room_id = await room_with_bot(scene, alice_client)
        await say(alice_client, room_id, "https://from-a-bot.example/", msgtype="m.notice")
        later = await say(alice_client, room_id, "https://from-a-person.example/")
        # The reaction to the later message means the notice before it was seen and passed over.
        await wait_for_event(alice_client, room_id, is_reaction_to(later))
        assert [link.url for link in await LinkStore(store).list_links()] == ["https://from-a-person.example/"]


async def test_what_is_said_while_the_bot_is_down_is_filed_once_when_it_is_back(scene: Scene):
    alice, alice_client = await scene.person("alice")
    async with scene.running_bot(allowed=[alice.user_id]):
        room_id = await room_with_bot(scene, alice_client)
        first = await say(alice_client, room_id, "https://before.example/")
        await wait_for_event(alice_client, room_id, is_reaction_to(first))

    while_down = [await say(alice_client, room_id, f"https://while-down.example/{i}") for i in range(3)]
    async with scene.running_bot(allowed=[alice.user_id]) as store:
        for event_id in while_down:
            await wait_for_event(alice_client, room_id, is_reaction_to(event_id, NEW_LINK_REACTION))
        assert await LinkStore(store).count_links() == 4

    async with scene.running_bot(allowed=[alice.user_id]) as store:  # a third start replays nothing
        marker = await say(alice_client, room_id, "https://after.example/")
        await wait_for_event(alice_client, room_id, is_reaction_to(marker))
        links = await LinkStore(store).list_links(limit=100)
        assert len(links) == 5 and all(link.share_count == 1 for link in links)


async def test_a_first_start_does_not_file_the_rooms_history(scene: Scene):
    alice, alice_client = await scene.person("alice")
    room_id = await create_room(alice_client)
    await say(alice_client, room_id, "https://history.example/ said before the bot was there")
    await alice_client.room_invite(room_id, scene.bot.user_id)
    async with scene.running_bot(allowed=[alice.user_id]) as store:
        await wait_for_event(alice_client, room_id, is_membership(scene.bot.user_id, "join"), timeout=30)
        now = await say(alice_client, room_id, "https://now.example/")
        await wait_for_event(alice_client, room_id, is_reaction_to(now))
        assert [link.url for link in await LinkStore(store).list_links()] == ["https://now.example/"]


async def test_an_invite_from_a_stranger_is_declined(scene: Scene):
    friend, _ = await scene.person("friend")
    stranger, stranger_client = await scene.person("stranger")
    room_id = await create_room(stranger_client)
    await stranger_client.room_invite(room_id, scene.bot.user_id)
    async with scene.running_bot(allowed=[friend.user_id]):
        await wait_for_event(stranger_client, room_id, is_membership(scene.bot.user_id, "leave"), timeout=30)


async def edit(client: nio.AsyncClient, room_id: str, original: str, body: str) -> str:
    response = await client.room_send(room_id, "m.room.message", {
        "msgtype": "m.text", "body": f"* {body}",
        "m.new_content": {"msgtype": "m.text", "body": body},
        "m.relates_to": {"rel_type": "m.replace", "event_id": original},
    })
    assert isinstance(response, nio.RoomSendResponse), response
    return response.event_id


async def test_an_edit_replaces_the_link_and_a_redaction_removes_it(scene: Scene):
    alice, alice_client = await scene.person("alice")
    mallory, mallory_client = await scene.person("mallory")
    async with scene.running_bot(allowed=[alice.user_id]) as store:
        room_id = await room_with_bot(scene, alice_client, mallory_client)
        original = await say(alice_client, room_id, "https://typo.example/ #draft")
        await wait_for_event(alice_client, room_id, is_reaction_to(original))

        await edit(alice_client, room_id, original, "https://fixed.example/ #final")
        # Someone else's "edit" of Alice's message is not an edit: it changes nothing.
        await edit(mallory_client, room_id, original, "https://spam.example/")
        marker = await say(alice_client, room_id, "https://marker.example/")
        await wait_for_event(alice_client, room_id, is_reaction_to(marker))
        [share] = await LinkStore(store).shares_of_event(Source.MATRIX, original)
        assert (share.url, share.tags) == ("https://fixed.example/", ("final",))
        assert {link.url for link in await LinkStore(store).list_links()} == {"https://fixed.example/", "https://marker.example/"}

        await alice_client.room_redact(room_id, original, reason="wrong room")
        second_marker = await say(alice_client, room_id, "https://marker2.example/")
        await wait_for_event(alice_client, room_id, is_reaction_to(second_marker))
        assert await LinkStore(store).shares_of_event(Source.MATRIX, original) == []
        assert {link.url for link in await LinkStore(store).list_links()} == {"https://marker.example/", "https://marker2.example/"}


def test_login_writes_the_token_and_device_never_the_password(synapse: SynapseServer, tmp_path: Path, monkeypatch):
    import stat

    from click.testing import CliRunner

    from watchbot.cli import cli

    monkeypatch.chdir(tmp_path)
    bot = synapse.register(unique("loginbot"), password="correct horse battery")
    env_file = tmp_path / ".env"
    env_file.write_text("WATCHBOT_TIMEZONE=Europe/Paris\n")

    def login(password: str):
        return CliRunner().invoke(cli, ["login", "matrix"], input=f"{synapse.url}\n{bot.user_id}\n{password}\n")

    refused = login("wrong password")
    assert refused.exit_code == 1 and "the homeserver refused the login" in refused.output
    assert "WATCHBOT_MATRIX" not in env_file.read_text()

    first = login("correct horse battery")
    assert first.exit_code == 0, first.output
    written = env_file.read_text()
    assert "correct horse battery" not in written and "WATCHBOT_TIMEZONE=Europe/Paris" in written
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    from watchbot.config import load_settings

    settings = load_settings(env_file)
    assert settings.matrix_user_id == bot.user_id and settings.matrix_access_token is not None
    device = settings.matrix_device_id

    second = login("correct horse battery")  # logging in again keeps the same device
    assert second.exit_code == 0, second.output
    assert load_settings(env_file).matrix_device_id == device


async def test_a_long_downtime_is_back_filled_so_nothing_said_meanwhile_is_lost(scene: Scene):
    alice, alice_client = await scene.person("alice")
    async with scene.running_bot(allowed=[alice.user_id]):
        room_id = await room_with_bot(scene, alice_client)
        first = await say(alice_client, room_id, "https://before-the-gap.example/")
        await wait_for_event(alice_client, room_id, is_reaction_to(first))
    # More than one sync response holds (Synapse gives 10 timeline events by default).
    missed = [await say(alice_client, room_id, f"https://gap.example/{i}") for i in range(25)]
    async with scene.running_bot(allowed=[alice.user_id]) as store:
        await wait_for_event(alice_client, room_id, is_reaction_to(missed[-1]), timeout=60)
        await wait_for_event(alice_client, room_id, is_reaction_to(missed[0]), timeout=30)
        urls = {link.url for link in await LinkStore(store).list_links(limit=100)}
        assert urls == {"https://before-the-gap.example/"} | {f"https://gap.example/{i}" for i in range(25)}


def is_reply_to(event_id: str):
    return lambda e: e.source.get("content", {}).get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == event_id


async def test_commands_answer_in_reply_with_room_moderators_allowed_more(scene: Scene):
    owner, owner_client = await scene.person("owner")  # creates the room: power level 100
    member, member_client = await scene.person("member")
    async with scene.running_bot(allowed=[owner.user_id]) as store:
        room_id = await room_with_bot(scene, owner_client, member_client)
        shared = await say(owner_client, room_id, "https://lwn.net/Articles/42/ #kernel")
        await wait_for_event(owner_client, room_id, is_reaction_to(shared))
        [link] = await LinkStore(store).list_links()

        asked = await say(member_client, room_id, "!watch search kernel")
        answer = await wait_for_event(member_client, room_id, is_reply_to(asked))
        assert answer.source["content"]["msgtype"] == "m.notice"
        assert answer.source["content"]["body"].startswith(f"#{link.id} https://lwn.net/Articles/42/ [kernel]")
        assert "formatted_body" in answer.source["content"]

        addressed = await say(member_client, room_id, f"{scene.bot.user_id.split(':')[0][1:]}: tags")
        answer = await wait_for_event(member_client, room_id, is_reply_to(addressed))
        assert answer.source["content"]["body"] == "kernel (1)"

        previewed = await say(member_client, room_id, "!watch digest preview")
        answer = await wait_for_event(member_client, room_id, is_reply_to(previewed))
        assert "(so far): 1 link from 1 person" in answer.source["content"]["body"]
        assert "https://lwn.net/Articles/42/" in answer.source["content"]["formatted_body"]

        refused = await say(member_client, room_id, f"!watch rm {link.id}")
        answer = await wait_for_event(member_client, room_id, is_reply_to(refused))
        assert "only the people who shared it, or the moderators of the room" in answer.source["content"]["body"]
        assert await LinkStore(store).count_links() == 1

        shared = await say(member_client, room_id, "https://lwn.net/Articles/43/")
        await wait_for_event(member_client, room_id, is_reaction_to(shared))
        [other] = [found for found in await LinkStore(store).list_links() if found.id != link.id]
        removed = await say(owner_client, room_id, f"!watch rm {other.id}")  # the room's moderator: its shares
        answer = await wait_for_event(owner_client, room_id, is_reply_to(removed))
        assert answer.source["content"]["body"] == f"Removed 1 share(s) of #{other.id} (and the link with it)."
        assert [found.id for found in await LinkStore(store).list_links()] == [link.id]


async def test_the_bot_killed_mid_burst_files_every_link_exactly_once_after_restart(scene: Scene, tmp_path: Path):
    import signal
    import subprocess
    import sys

    alice, alice_client = await scene.person("alice")
    env = bot_env(scene, alice.user_id)

    def start_bot() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "watchbot", "run"], env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    async def links_filed() -> int:
        async with await_store(scene.database_url) as store:
            return await LinkStore(store).count_links()

    bot = start_bot()
    try:
        room_id = await room_with_bot(scene, alice_client)
        sent = [await say(alice_client, room_id, f"burst https://burst.example/{i} #load") for i in range(100)]
        # Killed while it works through the burst: no clean-up, no chance to save anything.
        await until(lambda: at_least(links_filed(), 20), "filing to begin", timeout=120, every=0.02)
        bot.send_signal(signal.SIGKILL)
        bot.wait(timeout=30)
        filed_when_killed = await links_filed()
        bot = start_bot()
        sent += [await say(alice_client, room_id, f"burst https://burst.example/{i} #load") for i in range(100, 200)]
        await wait_for_event(alice_client, room_id, is_reaction_to(sent[-1], NEW_LINK_REACTION), timeout=120)
        await until(lambda: at_least(links_filed(), 200), "every link to be filed", timeout=60)
    finally:
        bot.send_signal(signal.SIGTERM)
        _, stderr = bot.communicate(timeout=30)
    assert bot.returncode == 0, stderr.decode()[-2000:]
    assert b"Traceback" not in stderr
    assert 20 <= filed_when_killed  # the kill came once filing had begun

    async with await_store(scene.database_url) as store:
        links = await LinkStore(store).list_links(limit=1000)
        assert {link.url for link in links} == {f"https://burst.example/{i}" for i in range(200)}
        assert all(link.share_count == 1 for link in links)


async def at_least(count, least: int) -> bool:
    return await count >= least


async def nothing_owed(store: Store) -> bool:
    from watchbot.store.outbox import OutboxStore

    return not await OutboxStore(store).unsent()


def bot_env(scene: Scene, allowed: str) -> dict[str, str]:
    """The environment of `watchbot run` as a child process, on the scene's bot account."""
    import os

    return {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "WATCHBOT_DATABASE_URL": scene.database_url,
        "WATCHBOT_MATRIX_HOMESERVER": scene.server.url,
        "WATCHBOT_MATRIX_USER_ID": scene.bot.user_id,
        "WATCHBOT_MATRIX_ACCESS_TOKEN": scene.bot.access_token,
        "WATCHBOT_MATRIX_DEVICE_ID": scene.bot.device_id,
        "WATCHBOT_MATRIX_ALLOWED_INVITERS": allowed,
        "WATCHBOT_LINKS_PER_HOUR": "10000",  # a burst on purpose
        "WATCHBOT_LINKS_PER_DAY": "100000",
        "WATCHBOT_FETCH_ENABLED": "false",  # nothing to fetch on this machine; keep the run quiet
        "WATCHBOT_DIGEST_ENABLED": "false",
    }


def await_store(url: str):
    @asynccontextmanager
    async def opened():
        store = await Store.open(url)
        try:
            yield store
        finally:
            await store.close()

    return opened()


async def upgrade_room(server: SynapseServer, user: MatrixUser, room_id: str) -> str:
    """The homeserver's own room upgrade (nio only emulates it client-side)."""
    import json
    import urllib.request
    from urllib.parse import quote

    request = urllib.request.Request(
        f"{server.url}/_matrix/client/v3/rooms/{quote(room_id)}/upgrade", method="POST",
        data=json.dumps({"new_version": "12"}).encode(),
        headers={"Authorization": f"Bearer {user.access_token}", "Content-Type": "application/json"},
    )
    response = await asyncio.to_thread(urllib.request.urlopen, request, timeout=30)
    return json.loads(response.read())["replacement_room"]


async def test_the_bot_follows_a_room_upgrade_and_survives_a_kick(scene: Scene):
    owner, owner_client = await scene.person("owner")
    async with scene.running_bot(allowed=[owner.user_id]) as store:
        created = await owner_client.room_create(initial_state=[
            {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "public"}}])
        room_id = created.room_id
        await owner_client.room_invite(room_id, scene.bot.user_id)
        await wait_for_event(owner_client, room_id, is_membership(scene.bot.user_id, "join"), timeout=30)

        new_room = await upgrade_room(scene.server, owner, room_id)
        await owner_client.join(new_room)
        await wait_for_event(owner_client, new_room, is_membership(scene.bot.user_id, "join"), timeout=30)
        in_new_room = await say(owner_client, new_room, "https://after-the-upgrade.example/")
        await wait_for_event(owner_client, new_room, is_reaction_to(in_new_room))

        # Kicked from the new room: the bot goes on, and the other room still works.
        second = await create_room(owner_client)
        await owner_client.room_invite(second, scene.bot.user_id)
        await wait_for_event(owner_client, second, is_membership(scene.bot.user_id, "join"), timeout=30)
        await owner_client.room_kick(new_room, scene.bot.user_id, reason="testing")
        still = await say(owner_client, second, "https://after-the-kick.example/")
        await wait_for_event(owner_client, second, is_reaction_to(still))
        assert {link.url for link in await LinkStore(store).list_links()} == {
            "https://after-the-upgrade.example/", "https://after-the-kick.example/"}


async def encrypting_client(server: SynapseServer, user: MatrixUser, store_dir: Path) -> nio.AsyncClient:
    """A member's client with encryption, keys published, after a first sync."""
    store_dir.mkdir(parents=True, exist_ok=True)
    client = nio.AsyncClient(server.url, user.user_id, device_id=user.device_id, store_path=str(store_dir),
                             config=nio.AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False))
    client.restore_login(user.user_id, user.device_id, user.access_token)
    await client.keys_upload()
    await client.sync(timeout=0)
    return client


async def test_links_in_an_encrypted_room_are_read_and_an_unreadable_message_is_told_once(
    scene: Scene, tmp_path: Path
):
    alice = scene.server.register(unique("alice"))
    alice_client = await encrypting_client(scene.server, alice, tmp_path / "alice-keys")
    scene.clients.append(alice_client)
    bob, bob_client = await scene.person("bob")  # no encryption: can only send garbage
    scene.bot_store_path = tmp_path / "bot-keys"
    async with scene.running_bot(allowed=[alice.user_id]) as store:
        room_id = await create_room(alice_client, bob_client, encrypted=True)
        await alice_client.room_invite(room_id, scene.bot.user_id)
        await wait_for_event(alice_client, room_id, is_membership(scene.bot.user_id, "join"), timeout=30)
        for client in (alice_client, bob_client):  # the notice saying how the room's links are filed
            await wait_for_event(client, room_id, lambda e: e.source.get("sender") == scene.bot.user_id
                                 and e.source.get("type") in ("m.room.message", "m.room.encrypted"), timeout=30)
        await alice_client.sync(timeout=0)
        sent = await alice_client.room_send(room_id, "m.room.message", {
            "msgtype": "m.text", "body": "secret but shared https://e2e.example/ #crypto"},
            ignore_unverified_devices=True)
        assert isinstance(sent, nio.RoomSendResponse), sent
        await wait_for_event(alice_client, room_id, is_reaction_to(sent.event_id, NEW_LINK_REACTION), timeout=30)
        [link] = await LinkStore(store).list_links()
        assert (link.url, link.tags) == ("https://e2e.example/", ("crypto",))

        garbage = {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AAAA", "sender_key": "x",
                   "session_id": "nope", "device_id": "NOPE"}
        for _ in range(2):
            await bob_client.room_send(room_id, "m.room.encrypted", garbage)
        notice = await wait_for_event(bob_client, room_id, lambda e: e.source.get("sender") == scene.bot.user_id
                                      and e.source.get("type") in ("m.room.message", "m.room.encrypted"), timeout=30)
        marker = await alice_client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "https://m.example/"},
                                              ignore_unverified_devices=True)
        await wait_for_event(alice_client, room_id, is_reaction_to(marker.event_id), timeout=30)
        told = await wait_for_event(alice_client, room_id, lambda e: e.source.get("sender") == scene.bot.user_id
                                    and e.source.get("type") == "m.room.message", timeout=30)
        assert told.source["content"]["body"].startswith("I could not decrypt a message here")
        assert notice is not None
        # Said once, not once per unreadable message: a second notice would have come before the
        # marker's reaction (answers go out in the order they are owed), seen by bob too by now.
        await wait_for_event(bob_client, room_id, is_reaction_to(marker.event_id), timeout=30)
        with pytest.raises(TimeoutError):  # timeout=0: only what was seen
            await wait_for_event(bob_client, room_id, lambda e: e.source.get("sender") == scene.bot.user_id
                                 and e.source.get("type") in ("m.room.message", "m.room.encrypted"), timeout=0)


async def test_a_rate_limited_bot_waits_and_retries_and_every_answer_arrives_once(scene: Scene):
    import json
    import urllib.request
    from urllib.parse import quote

    admin = scene.server.register(unique("admin"), admin=True)
    # The homeserver's own per-user limit: one event a second for the bot.
    request = urllib.request.Request(
        f"{scene.server.url}/_synapse/admin/v1/users/{quote(scene.bot.user_id)}/override_ratelimit",
        method="POST", data=json.dumps({"messages_per_second": 1, "burst_count": 1}).encode(),
        headers={"Authorization": f"Bearer {admin.access_token}", "Content-Type": "application/json"})
    await asyncio.to_thread(urllib.request.urlopen, request, timeout=30)

    alice, alice_client = await scene.person("alice")
    async with scene.running_bot(allowed=[alice.user_id]) as store:
        room_id = await room_with_bot(scene, alice_client, (await scene.person("bob"))[1])
        sent = [await say(alice_client, room_id, f"https://limited.example/{i}") for i in range(5)]
        for event_id in sent:
            await wait_for_event(alice_client, room_id, is_reaction_to(event_id, NEW_LINK_REACTION), timeout=60)
        assert await LinkStore(store).count_links() == 5
        # Each answer once: once nothing is owed, every answer is on the server; a marker answered
        # after that shows alice all of them. No second reaction to any message came before it.
        await until(lambda: nothing_owed(store), "nothing owed", timeout=120)
        marker = await say(alice_client, room_id, "https://limited.example/marker")
        await wait_for_event(alice_client, room_id, is_reaction_to(marker, NEW_LINK_REACTION), timeout=60)
        with pytest.raises(TimeoutError):  # timeout=0: only what was seen
            await wait_for_event(alice_client, room_id, lambda e: e.source.get("type") == "m.reaction"
                                 and e.source["content"]["m.relates_to"]["event_id"] in sent, timeout=0)
    assert " 429 " in scene.server.log_tail(2000) or "M_LIMIT_EXCEEDED" in scene.server.log_tail(2000)


async def test_a_redaction_only_counts_from_the_author_or_a_moderator(tmp_path: Path):
    """Synapse refuses such a redaction from its own users, so the event is written here as a
    hostile server on the federation could send it; the adapter is not connected."""
    from watchbot.intake import file_post
    from watchbot.model import Post

    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'w.db'}",
                        matrix_homeserver="http://127.0.0.1:9", matrix_user_id="@bot:x", matrix_access_token="t",
                        matrix_device_id="DEVICE")
    async with await Store.open(settings.database_url) as store:
        await file_post(store, Post(source=Source.MATRIX, place="!r:x", author_id="@alice:x", author_name="alice",
                                    text="https://kept.example/", event_id="$shared"), Rules())
        adapter = MatrixAdapter.from_settings(settings, store, Rules())
        client = adapter._new_client()
        try:
            redaction = {"type": "m.room.redaction", "sender": "@mallory:evil", "redacts": "$shared",
                         "event_id": "$r1", "content": {"redacts": "$shared"}}
            await adapter._handle_event(client, "!r:x", redaction)
            assert await LinkStore(store).count_links() == 1
            await adapter._handle_event(client, "!r:x", {**redaction, "sender": "@alice:x", "event_id": "$r2"})
            assert await LinkStore(store).count_links() == 0
        finally:
            await client.close()


@pytest.mark.parametrize("allowed, said", [
    ([], "Matrix: nobody may invite the bot"),
    (["@alice:x", "example.org"], "Matrix: anyone on example.org may invite the bot"),
    (["@alice:x", "!room:x"], None),
])
async def test_the_start_says_when_nobody_or_a_whole_server_may_invite_the_bot(tmp_path: Path, caplog, allowed, said):
    """Said as the adapter starts, before it reaches the homeserver (here: nothing listens)."""
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'w.db'}",
                        matrix_homeserver="http://127.0.0.1:9", matrix_user_id="@bot:x", matrix_access_token="t",
                        matrix_device_id="DEVICE", matrix_allowed_inviters=allowed)
    async with await Store.open(settings.database_url) as store:
        caplog.set_level("WARNING", logger="watchbot.networks.matrix")
        running = asyncio.create_task(MatrixAdapter.from_settings(settings, store, Rules()).run())
        await asyncio.sleep(0)  # the task's first step: up to its first wait for the network
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("watchbot.networks.matrix")
                and r.levelname == "WARNING" and "invite" in r.getMessage()]
    assert [w[:len(said)] for w in warnings] == ([said] if said else [])


async def test_an_event_whose_handling_raises_is_kept_and_the_bot_goes_on_without_meeting_it_again(
        scene: Scene, monkeypatch, caplog):
    import json
    import logging

    import watchbot.networks.matrix.adapter as matrix
    from tests.poison import Poison, eventually, resolved
    from watchbot.store.failures import RETRIED, FailureStore

    poison = Poison(monkeypatch, matrix)
    alice, alice_client = await scene.person("alice")
    with caplog.at_level(logging.INFO, logger="watchbot"):
        async with scene.running_bot(allowed=[alice.user_id]) as store:
            room_id = await room_with_bot(scene, alice_client)
            bad = await say(alice_client, room_id, "POISON https://poison.example/")
            good = await say(alice_client, room_id, "https://after-the-poison.example/")
            await wait_for_event(alice_client, room_id, is_reaction_to(good, NEW_LINK_REACTION))
            assert [link.url for link in await LinkStore(store).list_links()] == ["https://after-the-poison.example/"]
            [failure] = await FailureStore(store).list()
            assert (failure.source, failure.place, failure.event_id, failure.attempts) == ("matrix", room_id, bad, 1)
            assert failure.reason == "RuntimeError: a bug met a message it did not expect"
            assert json.loads(failure.payload)["content"]["body"] == "POISON https://poison.example/"
    said = [r for r in caplog.records if bad in r.getMessage() and r.levelno >= logging.WARNING]
    assert [r.levelname for r in said] == ["ERROR"] and "\n" not in said[0].getMessage()
    assert scene.bot.access_token not in caplog.text

    async with scene.running_bot(allowed=[alice.user_id]) as store:  # restarted, on the same store
        later = await say(alice_client, room_id, "https://after-the-restart.example/")
        await wait_for_event(alice_client, room_id, is_reaction_to(later, NEW_LINK_REACTION))
        assert poison.met == [bad]  # its handler was not called again

        # The bug mended, an operator asks for a retry: the bot handles it as if it came now.
        poison.cure()
        await FailureStore(store).ask_retry([failure.id])
        await say(alice_client, room_id, "a word that wakes the bot's sync")
        await wait_for_event(alice_client, room_id, is_reaction_to(bad, NEW_LINK_REACTION))
        retried = await eventually(lambda: resolved(store, failure.id), "the failed event to be resolved")
        assert (retried.resolution, retried.attempts) == (RETRIED, 1)
        assert "https://poison.example/" in {link.url for link in await LinkStore(store).list_links()}



async def test_hostile_html_neither_stops_nor_stalls_the_bot(scene: Scene):
    # A Word paste (html.parser raised on "<![") and 60 KB of "<a " (html.parser took 50 s on it),
    # each followed by an ordinary message: every message is read, nothing is kept as failed.
    from watchbot.store.failures import FailureStore

    alice, alice_client = await scene.person("alice")
    word_paste = ('<p><![if !supportLists]>·<![endif]>see '
                  '<a href="https://word-paste.example/">this</a></p>')
    stalling = "<a " * 20_000
    async with scene.running_bot(allowed=[alice.user_id]) as store:
        room_id = await room_with_bot(scene, alice_client)
        sent = []
        for html in (word_paste, stalling):
            content = {"msgtype": "m.text", "body": "see this", "format": "org.matrix.custom.html",
                       "formatted_body": html}
            response = await alice_client.room_send(room_id, "m.room.message", content)
            assert isinstance(response, nio.RoomSendResponse), response
            sent.append(await say(alice_client, room_id, f"https://after-{len(sent)}.example/"))
        for event_id in sent:
            await wait_for_event(alice_client, room_id, is_reaction_to(event_id, NEW_LINK_REACTION))
        urls = sorted(link.url for link in await LinkStore(store).list_links())
        assert urls == ["https://after-0.example/", "https://after-1.example/", "https://word-paste.example/"]
        assert await FailureStore(store).list() == []


async def test_a_gap_of_many_backfill_pages_is_filed_whole_oldest_first_and_answered_once(scene: Scene):
    """The bot is down while more than a few backfill pages are said (pages made small here, the
    whole gap beyond the old 5,000-event cut's logic alike): every message is filed, in the order
    it was said, and has exactly one reaction, counted on the server."""
    from tests.test_matrix_faults import history

    gap, page = 300, 40  # 8 pages
    alice, alice_client = await scene.person("alice")
    settings = scene.settings([alice.user_id])
    async with scene.running(settings):
        room_id = await room_with_bot(scene, alice_client)
        first = await say(alice_client, room_id, "https://before-the-gap.example/")
        await wait_for_event(alice_client, room_id, is_reaction_to(first))
    said = [await say(alice_client, room_id, f"gap https://gap.example/{i}") for i in range(gap)]
    async with scene.running(settings, backfill_page=page) as (_, store):
        await wait_for_event(alice_client, room_id, is_reaction_to(said[-1]), timeout=120)
        for event_id in said[:-1]:
            await wait_for_event(alice_client, room_id, is_reaction_to(event_id), timeout=60)
        filed = await LinkStore(store).list_links(limit=gap + 10)
        in_gap = sorted((link for link in filed if link.url.startswith("https://gap.example/")), key=lambda l: l.id)
        assert [link.url for link in in_gap] == [f"https://gap.example/{i}" for i in range(gap)]  # in the order said
        assert len(filed) == gap + 1
    reactions: dict[str, int] = {}
    for event in await history(alice_client, room_id):
        if event.get("sender") == scene.bot.user_id and event["type"] == "m.reaction":
            answered = event["content"]["m.relates_to"]["event_id"]
            reactions[answered] = reactions.get(answered, 0) + 1
    assert [reactions.get(event_id) for event_id in said] == [1] * gap


async def test_nobot_in_a_message_or_a_display_name_files_nothing_says_so_once_and_still_answers_commands(
        scene: Scene):
    from watchbot.networks.matrix.events import MESSAGE_OPTED_OUT, NAME_OPTED_OUT

    alice, alice_client = await scene.person("alice")
    sam, sam_client = await scene.person("sam")  # opts out one message at a time
    shy, shy_client = await scene.person("shy")  # opts out in their display name
    assert isinstance(await shy_client.set_displayname("Shy #nobot"), nio.ProfileSetDisplayNameResponse)
    async with scene.running_bot(allowed=[alice.user_id]) as store:
        room_id = await room_with_bot(scene, alice_client, sam_client, shy_client)
        first = await say(sam_client, room_id, "https://nobot.example/a #nobot")
        told = await wait_for_event(sam_client, room_id, is_thread_reply_to(first))
        assert told.source["content"]["body"] == MESSAGE_OPTED_OUT
        second = await say(sam_client, room_id, "Again: https://nobot.example/b #NoIndex")
        named = await say(shy_client, room_id, "https://shy.example/")
        told = await wait_for_event(shy_client, room_id, is_thread_reply_to(named))
        assert told.source["content"]["body"] == NAME_OPTED_OUT
        again = await say(shy_client, room_id, "https://shy.example/again #rust")
        asked = await say(shy_client, room_id, "!watch help")
        answer = await wait_for_event(shy_client, room_id, is_reply_to(asked))  # talking to the bot still works
        assert "search" in answer.source["content"]["body"]

        # Once nothing is owed, every answer is on the server; a marker answered after that shows
        # alice all of them: nothing answered the second message of either, nothing reacted.
        await until(lambda: nothing_owed(store), "nothing owed")
        marker = await say(alice_client, room_id, "https://marker.example/ #linux")
        await wait_for_event(alice_client, room_id, is_reaction_to(marker, NEW_LINK_REACTION))
        quiet = (first, second, named, again)
        for answered in (first, named):  # the one answer each, taken out of what alice saw
            await wait_for_event(alice_client, room_id, is_thread_reply_to(answered), timeout=0)
        with pytest.raises(TimeoutError):  # timeout=0: only what was seen
            await wait_for_event(alice_client, room_id, lambda e: e.source.get("sender") == scene.bot.user_id and (
                e.source.get("content", {}).get("m.relates_to", {}).get("event_id") in quiet
                or any(is_thread_reply_to(event_id)(e) for event_id in quiet)), timeout=0)
        assert [link.url for link in await LinkStore(store).list_links()] == ["https://marker.example/"]
        assert await LinkStore(store).tag_counts() == [("linux", 1)]
        await until(lambda: nothing_owed(store), "nothing owed")

    # What the answers say is what is kept: no row of any table (full-text indexes included)
    # names them or their messages.
    kept = sqlite_text(scene.database_url)
    for secret in (sam.user_id, shy.user_id, *quiet, asked, "nobot.example", "shy.example"):
        assert secret.lower() not in kept, secret
    assert alice.user_id.lower() in kept and "marker.example" in kept


async def test_twelve_hashtags_keep_ten_and_the_reply_names_the_two_left_out(scene: Scene):
    alice, alice_client = await scene.person("alice")
    async with scene.running_bot(allowed=[alice.user_id]) as store:
        room_id = await room_with_bot(scene, alice_client)
        names = [f"tag{i:02d}" for i in range(12)]
        shared = await say(alice_client, room_id, "https://many-tags.example/ " + " ".join(f"#{n}" for n in names)
                           + " #" + "x" * 51)
        reply = await wait_for_event(alice_client, room_id, is_thread_reply_to(shared))
        assert reply.source["content"]["body"] == "Only 10 tags are kept per link: #tag10 #tag11 were left out."
        await wait_for_event(alice_client, room_id, is_reaction_to(shared, NEW_LINK_REACTION))
        [link] = await LinkStore(store).list_links()
        assert link.tags == tuple(names[:10])  # the 51-character word is no tag at all


def sqlite_text(database_url: str) -> str:
    """Every value of every table of an SQLite store (its own and SQLite's: FTS shadow tables,
    sqlite_sequence), as one lower-case text."""
    import sqlite3

    connection = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    try:
        tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(str(value) for table in tables
                         for row in connection.execute(f'SELECT * FROM "{table}"') for value in row).lower()
    finally:
        connection.close()
