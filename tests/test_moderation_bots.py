"""Moderation on both networks: who is a moderator where, what a banned person gets (nothing),
reports and approvals by reaction, limits by mention. A real Synapse; on the fediverse,
mastodon_mock as the stand-in for Mastodon (none can run here)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nio
import pytest

from tests.matrix_helpers import wait_for_event
from tests.test_fediverse_bot import Scene as FediverseScene
from tests.test_fediverse_bot import post, replies_from, until
from tests.test_matrix_bot import Scene, is_reaction_to, is_reply_to, room_with_bot, say
from watchbot.model import Source


def body(event) -> str:
    return event.source["content"].get("body", "")


async def react(client: nio.AsyncClient, room_id: str, event_id: str, key: str) -> None:
    await client.room_send(room_id, "m.reaction",
                           {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}})


async def test_in_a_room_moderators_ban_and_block_members_cannot_and_a_banned_person_gets_nothing(scene: Scene):
    owner, owner_client = await scene.person("owner")  # creates the room: power level 100
    member, member_client = await scene.person("member")
    admin, admin_client = await scene.person("admin")  # power level 0 in the room, admin by the settings
    async with scene.running_bot([owner.user_id], admins=[admin.user_id]) as store:
        room_id = await room_with_bot(scene, owner_client, member_client, admin_client)

        asked = await say(member_client, room_id, f"!watch ban {owner.user_id}")
        answer = await wait_for_event(member_client, room_id, is_reply_to(asked))
        assert body(answer) == "Only moderators may use “ban”."

        asked = await say(owner_client, room_id, "!watch block *.spam.example")
        assert body(await wait_for_event(owner_client, room_id, is_reply_to(asked))).startswith("Blocked *.spam.example")
        shared = await say(member_client, room_id, "https://www.spam.example/buy")
        answer = await wait_for_event(member_client, room_id, is_reply_to(shared))
        assert "www.spam.example is blocked here" in body(answer)

        asked = await say(admin_client, room_id, f"!watch ban {member.user_id} flooding")
        assert body(await wait_for_event(admin_client, room_id, is_reply_to(asked))).startswith("Banned")
        ignored = await say(member_client, room_id, "https://member.example/ and !watch help")
        ignored_command = await say(member_client, room_id, "!watch help")
        marker = await say(owner_client, room_id, "https://marker.example/")
        await wait_for_event(owner_client, room_id, is_reaction_to(marker))
        with pytest.raises(TimeoutError):  # neither the link nor the command got anything
            await wait_for_event(owner_client, room_id, lambda e: is_reaction_to(ignored)(e)
                                 or is_reply_to(ignored_command)(e), timeout=1)
        assert [link.url for link in await store.list_links()] == ["https://marker.example/"]


async def test_a_warning_reaction_reports_and_a_moderators_check_approves_a_newcomer(scene: Scene):
    owner, owner_client = await scene.person("owner")
    member, member_client = await scene.person("member")
    async with scene.running_bot([owner.user_id], review_first_shares=1) as store:
        room_id = await room_with_bot(scene, owner_client, member_client)
        held = await say(member_client, room_id, "https://first-time.example/ #rust")
        answer = await wait_for_event(member_client, room_id, is_reply_to(held))
        assert "a moderator will look at this first" in body(answer)
        assert await store.count_links() == 0

        await react(owner_client, room_id, held, "✅")
        approved = await wait_for_event(owner_client, room_id, lambda e: body(e).startswith("Approved #1 from"))
        assert "Filed #1 https://first-time.example/ [rust]" in body(approved)
        assert [link.url for link in await store.list_links()] == ["https://first-time.example/"]

        await react(member_client, room_id, held, "⚠️")
        report = await wait_for_event(owner_client, room_id, lambda e: body(e).startswith("Report on #1"))
        assert "https://first-time.example/" in body(report) and report.source["content"]["msgtype"] == "m.notice"
        # Reactions to a filed message count for the digest's ranking (the ✅ came while it was held).
        assert await store.reaction_counts(Source.MATRIX, [held]) == {held: 1}


# -- on the fediverse -----------------------------------------------------------------------------


@pytest.fixture
def fediverse(mastodon_server, tmp_path: Path) -> FediverseScene:
    return FediverseScene(mastodon_server, tmp_path)


async def test_by_mention_listed_moderators_block_members_cannot_and_bursts_are_limited(fediverse: FediverseScene):
    mod, mod_client = fediverse.person("mod")
    member, member_client = fediverse.person("member")
    instance = fediverse.server.url.split("//")[1].split(":")[0]
    moderators = [f"{mod.username}@{instance}"]
    async with fediverse.running_bot(fediverse_moderators=moderators, links_per_hour=2) as (adapter, store):
        bot = f"@{fediverse.bot.username}"
        refused = await post(member_client, f"{bot} block spam.example")
        adapter.wake()
        [answer] = await until(replies_from(member_client, refused["id"], fediverse.bot), "the refusal")
        assert "Only moderators may use “block”." in answer["content"]
        blocked = await post(mod_client, f"{bot} block spam.example")
        adapter.wake()
        [answer] = await until(replies_from(mod_client, blocked["id"], fediverse.bot), "the block")
        assert "Blocked spam.example" in answer["content"]

        statuses = [await post(member_client, f"{bot} https://burst.example/{n}") for n in range(4)]
        adapter.wake()
        [told] = await until(replies_from(member_client, statuses[2]["id"], fediverse.bot), "the limit")
        assert "the limit is 2" in told["content"]
        await until(replies_from(member_client, statuses[1]["id"], fediverse.bot), "the second reply")
        assert not await replies_from(member_client, statuses[3]["id"], fediverse.bot)()  # told once, not again
        assert sorted(link.url for link in await store.list_links()) == [
            "https://burst.example/0", "https://burst.example/1"]


async def test_a_banned_account_gets_no_answer_and_a_report_reaches_the_moderators_privately(
        fediverse: FediverseScene):
    mod, mod_client = fediverse.person("mod")
    member, member_client = fediverse.person("member")
    troll, troll_client = fediverse.person("troll")
    instance = fediverse.server.url.split("//")[1].split(":")[0]
    async with fediverse.running_bot(fediverse_moderators=[f"{mod.username}@{instance}"]) as (adapter, store):
        bot = f"@{fediverse.bot.username}"
        banned = await post(mod_client, f"{bot} ban @{troll.username}@{instance} trolling")
        adapter.wake()
        [answer] = await until(replies_from(mod_client, banned["id"], fediverse.bot), "the ban")
        assert f"Banned {troll.username}@{instance}" in answer["content"]
        ignored = await post(troll_client, f"{bot} https://troll.example/")
        shared = await post(member_client, f"{bot} https://fine.example/")
        adapter.wake()
        await until(replies_from(member_client, shared["id"], fediverse.bot), "the member's reply")
        assert not await replies_from(troll_client, ignored["id"], fediverse.bot)()
        assert [link.url for link in await store.list_links()] == ["https://fine.example/"]

        reported = await post(member_client, f"{bot} report 1 spam")
        adapter.wake()
        [thanks] = await until(replies_from(member_client, reported["id"], fediverse.bot), "the thanks")
        assert "the moderators were told" in thanks["content"]

        async def told():
            notes = await asyncio.to_thread(mod_client.notifications, types=["mention"])
            return [n for n in notes if "Report on #1" in n["status"]["content"]]
        [note] = await until(told, "the moderators' direct message")
        assert note["status"]["visibility"] == "direct"


PRIVILEGED = ["ban @x:y", "unban @x:y", "block spam.example", "unblock spam.example", "queue", "approve 1",
              "reject 1", "modlog", "feed list"]


async def test_no_privileged_command_works_for_a_room_member(scene: Scene):
    owner, owner_client = await scene.person("owner")
    member, member_client = await scene.person("member")
    async with scene.running_bot([owner.user_id]) as store:
        room_id = await room_with_bot(scene, owner_client, member_client)
        for command in PRIVILEGED:
            asked = await say(member_client, room_id, f"!watch {command}")
            answer = body(await wait_for_event(member_client, room_id, is_reply_to(asked)))
            assert answer.startswith(("Only moderators may", "Feeds are not available")), (command, answer)
        asked = await say(owner_client, room_id, "!watch modlog")
        assert body(await wait_for_event(owner_client, room_id, is_reply_to(asked))) == "The moderation log is empty."
        assert await store.count_links() == 0


async def test_no_privileged_command_works_for_a_member_by_mention(fediverse: FediverseScene):
    member, member_client = fediverse.person("member")
    async with fediverse.running_bot() as (adapter, _):
        asked = [await post(member_client, f"@{fediverse.bot.username} {command}") for command in PRIVILEGED]
        adapter.wake()
        for command, status in zip(PRIVILEGED, asked):
            [answer] = await until(replies_from(member_client, status["id"], fediverse.bot), command)
            assert "Only moderators may" in answer["content"] or "Feeds are not available" in answer["content"]


async def test_a_report_made_on_the_fediverse_reaches_the_matrix_moderators_room(scene: Scene,
                                                                                fediverse: FediverseScene):
    owner, owner_client = await scene.person("owner")
    member, member_client = fediverse.person("member")
    async with scene.running(scene.settings([owner.user_id])) as (matrix, _):
        moderators_room = await room_with_bot(scene, owner_client)
        matrix.settings = matrix.settings.model_copy(update={"moderators_room": moderators_room})
        async with fediverse.running_bot() as (adapter, store):
            adapter.other_networks = [matrix]  # as bot.py wires them
            bot = f"@{fediverse.bot.username}"
            await post(member_client, f"{bot} https://dubious.example/")
            reported = await post(member_client, f"{bot} report 1 phishing")
            adapter.wake()
            await until(replies_from(member_client, reported["id"], fediverse.bot), "the thanks")
            notice = await wait_for_event(owner_client, moderators_room, lambda e: body(e).startswith("Report on #1"))
            assert "https://dubious.example/: phishing" in body(notice)
