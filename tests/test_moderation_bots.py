"""Moderation on both networks: who is a moderator where (a room's moderators on that room; admins
and the moderators' room everywhere), what a banned person gets (nothing but the answer to
`forget me`), reports and approvals by reaction, limits by mention. A real Synapse; on the
fediverse, mastodon_mock as the stand-in for Mastodon (none can run here)."""

from __future__ import annotations

import asyncio
import html
from pathlib import Path

import nio
import pytest

from tests.matrix_helpers import wait_for_event
from tests.test_fediverse_bot import Scene as FediverseScene
from tests.test_fediverse_bot import post, replies_from, until
from tests.test_matrix_bot import Scene, is_reaction_to, is_reply_to, nothing_owed, room_with_bot, say
from tests.waiting import until as until_done
from watchbot.model import Source
from watchbot.commands.registry import refusal_of
from watchbot.policy import elsewhere
from watchbot.store.links import LinkStore
from watchbot.store.moderation import ModerationStore
from watchbot.store.reactions import ReactionStore
from watchbot.store.replies import ReplyStore
from watchbot.store.schema import outbox


def body(event) -> str:
    return event.source["content"].get("body", "")


async def react(client: nio.AsyncClient, room_id: str, event_id: str, key: str) -> None:
    await client.room_send(room_id, "m.reaction",
                           {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}})


async def test_in_the_moderators_room_moderators_ban_and_block_members_cannot_and_a_banned_person_gets_nothing(
        scene: Scene):
    """... but the answer to `forget me`: forgetting is everyone's, and they still cannot file."""
    owner, owner_client = await scene.person("owner")  # creates the room: power level 100
    member, member_client = await scene.person("member")
    admin, admin_client = await scene.person("admin")  # power level 0 in the room, admin by the settings
    settings = scene.settings([owner.user_id]).model_copy(update={"admins": [admin.user_id]})
    async with scene.running(settings):
        room_id = await room_with_bot(scene, owner_client, member_client, admin_client)
    # The moderators' room is named once the bot is in it: the operator sets it and restarts the bot.
    async with scene.running(settings.model_copy(update={"moderators_room": room_id})) as (adapter, store):

        asked = await say(member_client, room_id, f"!watch ban {owner.user_id}")
        answer = await wait_for_event(member_client, room_id, is_reply_to(asked))
        assert body(answer) == refusal_of("ban")

        asked = await say(owner_client, room_id, "!watch block *.spam.example")
        assert body(await wait_for_event(owner_client, room_id, is_reply_to(asked))).startswith("Blocked *.spam.example")
        shared = await say(member_client, room_id, "https://www.spam.example/buy")
        answer = await wait_for_event(member_client, room_id, is_reply_to(shared))
        assert "www.spam.example is blocked here" in body(answer)

        before = await say(member_client, room_id, "https://before-the-ban.example/ #mine")
        await wait_for_event(member_client, room_id, is_reaction_to(before))
        asked = await say(admin_client, room_id, f"!watch ban {member.user_id} flooding")
        assert body(await wait_for_event(admin_client, room_id, is_reply_to(asked))).startswith("Banned")
        ignored = await say(member_client, room_id, "https://member.example/ and !watch help")
        ignored_command = await say(member_client, room_id, "!watch help")
        forget = await say(member_client, room_id, "!watch forget me")
        forgotten = body(await wait_for_event(member_client, room_id, is_reply_to(forget)))
        assert forgotten.startswith("Done: 1 share(s) of yours removed (1 link(s)")
        assert "and the ban, under a hash of the account (it still applies to you)" in forgotten
        ignored_after = await say(member_client, room_id, "https://after-forgetting.example/")
        marker = await say(owner_client, room_id, "https://marker.example/")
        await wait_for_event(owner_client, room_id, is_reaction_to(marker))
        # Once nothing is owed, whatever the bot said is in the room before the next message.
        await until_done(lambda: nothing_owed(store), "nothing owed")
        end = await say(owner_client, room_id, "end")
        await wait_for_event(owner_client, room_id, lambda e: e.event_id == end)
        with pytest.raises(TimeoutError):  # neither the links nor the command got anything (timeout=0: what was seen)
            await wait_for_event(owner_client, room_id, lambda e: is_reaction_to(ignored)(e)
                                 or is_reply_to(ignored_command)(e) or is_reaction_to(ignored_after)(e), timeout=0)
        assert [link.url for link in await LinkStore(store).list_links()] == ["https://marker.example/"]
        # The answers that named them or answered them (forget me's own too, once sent) are kept
        # without what they said.
        kept = await store.read(lambda conn: [row.payload for row in conn.execute(outbox.select())])
        assert "{}" in kept and not [payload for payload in kept if member.user_id in payload or before in payload]


async def test_a_warning_reaction_reports_and_a_moderators_check_approves_a_newcomer(scene: Scene):
    owner, owner_client = await scene.person("owner")
    member, member_client = await scene.person("member")
    async with scene.running_bot([owner.user_id], review_first_shares=1) as store:
        room_id = await room_with_bot(scene, owner_client, member_client)
        held = await say(member_client, room_id, "https://first-time.example/ #rust")
        answer = await wait_for_event(member_client, room_id, is_reply_to(held))
        assert "a moderator will look at this first" in body(answer)
        assert await LinkStore(store).count_links() == 0

        await react(owner_client, room_id, held, "✅")
        approved = await wait_for_event(owner_client, room_id, lambda e: body(e).startswith("Approved #1 from"))
        assert "Filed #1 https://first-time.example/ [rust]" in body(approved)
        assert [link.url for link in await LinkStore(store).list_links()] == ["https://first-time.example/"]

        await react(member_client, room_id, held, "⚠️")
        report = await wait_for_event(owner_client, room_id, lambda e: body(e).startswith("Report on #1"))
        assert "https://first-time.example/" in body(report) and report.source["content"]["msgtype"] == "m.notice"
        # Reactions to a filed message count for the digest's ranking (the ✅ came while it was held).
        assert await ReactionStore(store).counts(Source.MATRIX, [held]) == {held: 1}


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
        assert "Blocking a domain reaches every room: only admins and the moderators" in answer["content"]
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
        assert sorted(link.url for link in await LinkStore(store).list_links()) == [
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
        assert [link.url for link in await LinkStore(store).list_links()] == ["https://fine.example/"]
        # `forget me` is the one thing a banned person is answered; the answer is kept without its text.
        forget = await post(troll_client, f"{bot} forget me")
        adapter.wake()
        [done] = await until(replies_from(troll_client, forget["id"], fediverse.bot), "the answer to forget me")
        assert "Done: 0 share(s) of yours removed" in done["content"] and "the ban, under a hash" in done["content"]
        await until_done(lambda: nothing_owed(store), "nothing owed")
        kept = await store.read(lambda conn: [row.payload for row in conn.execute(outbox.select())])
        assert not [payload for payload in kept if troll.username in payload or forget["uri"] in payload]
        assert await ReplyStore(store).answered_id_of("mastodon", forget["uri"]) is None

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
              "reject 1", "modlog", "feed list", "digest post"]


def refusal(command: str) -> str:
    name = command.split()[0]
    return refusal_of(name)


async def test_no_privileged_command_works_for_a_room_member(scene: Scene):
    owner, owner_client = await scene.person("owner")
    member, member_client = await scene.person("member")
    async with scene.running_bot([owner.user_id]) as store:
        room_id = await room_with_bot(scene, owner_client, member_client)
        for command in PRIVILEGED:  # one at a time: a sync returns the last few events of a room only
            asked = await say(member_client, room_id, f"!watch {command}")
            answer = body(await wait_for_event(member_client, room_id, is_reply_to(asked)))
            assert answer == refusal(command), command
        asked = await say(owner_client, room_id, "!watch queue")
        assert body(await wait_for_event(owner_client, room_id, is_reply_to(asked))) == "Nothing waits for review."
        assert await LinkStore(store).count_links() == 0


async def test_no_privileged_command_works_for_a_member_by_mention(fediverse: FediverseScene):
    member, member_client = fediverse.person("member")
    async with fediverse.running_bot() as (adapter, _):
        asked = [await post(member_client, f"@{fediverse.bot.username} {command}") for command in PRIVILEGED]
        adapter.wake()
        for command, status in zip(PRIVILEGED, asked):
            [answer] = await until(replies_from(member_client, status["id"], fediverse.bot), command)
            assert refusal(command) in html.unescape(answer["content"]), command


# -- power is scoped: a room's moderators act on that room ---------------------------------------

ELSEWHERE = [  # a moderator of room B, against room A's share #1 and its held post #1
    ("rm 1", elsewhere("remove", "#1")),
    ("tag 1 +b", elsewhere("tag", "#1")),
    ("approve 1", elsewhere("approve", "#1", held=True)),
    ("reject 1", elsewhere("reject", "#1", held=True)),
    ("queue", "Nothing waits for review."),  # room A's post is not listed in B
    ("ban @x:y", refusal_of("ban")),
    ("unban @x:y", refusal_of("unban")),
    ("block spam.example", refusal_of("block")),
    ("unblock spam.example", refusal_of("unblock")),
    ("feed add https://feed.example/rss", refusal_of("feed")),
    ("modlog", refusal_of("modlog")),
    ("digest post", refusal_of("digest")),
    ("digest approve", refusal_of("digest")),
]


async def test_a_rooms_moderators_act_on_their_room_and_only_admins_and_the_moderators_room_everywhere(
        scene: Scene):
    mod_a, mod_a_client = await scene.person("moda")
    member_a, member_a_client = await scene.person("membera")
    mod_b, mod_b_client = await scene.person("modb")  # creates room B: anyone allowed to invite the bot can
    admin, admin_client = await scene.person("admin")  # power level 0 in room B, admin by the settings
    watch_mod, watch_mod_client = await scene.person("watchmod")  # of the moderators' room
    settings = scene.settings([mod_a.user_id, mod_b.user_id, watch_mod.user_id]).model_copy(
        update={"admins": [admin.user_id], "review_first_shares": 1})
    async with scene.running(settings):
        room_a = await room_with_bot(scene, mod_a_client, member_a_client)
        room_b = await room_with_bot(scene, mod_b_client, admin_client)
        moderators_room = await room_with_bot(scene, watch_mod_client)
    # The moderators' room is named once the bot is in it: the operator sets it and restarts the bot.
    async with scene.running(settings.model_copy(update={"moderators_room": moderators_room})) as (adapter, store):

        async def ask(client, room_id: str, command: str) -> str:
            asked = await say(client, room_id, f"!watch {command}")
            return body(await wait_for_event(client, room_id, is_reply_to(asked)))

        held = await say(member_a_client, room_a, "https://held-in-a.example/")  # a newcomer's first post
        await wait_for_event(member_a_client, room_a, is_reply_to(held))
        shared = await say(member_a_client, room_a, "https://shared-in-a.example/ #a")  # filed: link #1
        await wait_for_event(member_a_client, room_a, is_reaction_to(shared))

        # Room B's moderator, against room A and the whole store: each refused in one line.
        for command, expected in ELSEWHERE:
            assert await ask(mod_b_client, room_b, command) == expected, command
        # Events of room B naming room A's messages: a ✅ (refused, said in B), a ⚠️ and a redaction
        # (ignored). Synapse refuses to relate its users' events to another room's, so they are
        # handed to the bot here as another server on the federation could send them.
        forged = {"sender": mod_b.user_id, "origin_server_ts": 1}
        for number, (event_type, content) in enumerate([
                ("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": held, "key": "✅"}}),
                ("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": shared, "key": "⚠️"}}),
                ("m.room.redaction", {"redacts": shared})]):
            await adapter._handle_event(adapter._client, room_b,
                                        {**forged, "type": event_type, "event_id": f"$forged{number}", "content": content})
        notice = await wait_for_event(mod_b_client, room_b, lambda e: "m.relates_to" not in e.source["content"]
                                      and body(e) == elsewhere("approve", "#1", held=True))
        assert notice.source["sender"] == scene.bot.user_id
        record = await LinkStore(store).get_link(1)
        assert record is not None, "room B's redaction took room A's share"
        assert (record.link.url, record.link.tags, len(record.shares)) == ("https://shared-in-a.example/", ("a",), 1)
        assert await ReactionStore(store).counts(Source.MATRIX, [shared]) == {}
        records = ModerationStore(store)
        assert [h.post.text for h in await records.waiting()] == ["https://held-in-a.example/"]
        assert await records.log_entries() == [] and await records.blocked_patterns() == []

        # Room A's moderator on room A; the moderators' room and an admin anywhere.
        assert await ask(mod_a_client, room_a, "tag 1 +checked") == "#1 is now tagged: a, checked."
        assert (await ask(mod_a_client, room_a, "queue")).startswith("#1 membera")
        assert (await ask(mod_a_client, room_a, "approve 1")).startswith("Approved #1 from membera")
        assert (await ask(watch_mod_client, moderators_room, "block spam.example")).startswith("Blocked spam.example")
        assert await ask(watch_mod_client, moderators_room, "rm 2") == "Removed #2 and its 1 share(s)."
        assert (await ask(admin_client, room_b, "ban @x:y")).startswith("Banned @x:y")
        assert await ask(admin_client, room_b, "tag 1 +admin") == "#1 is now tagged: a, admin, checked."
        assert "block spam.example" in await ask(watch_mod_client, moderators_room, "modlog")
        assert await ask(mod_a_client, room_a, "rm 1") == "Removed 1 share(s) of #1 (and the link with it)."
        assert await LinkStore(store).count_links() == 0


async def test_a_report_made_on_the_fediverse_reaches_the_matrix_moderators_room(scene: Scene,
                                                                                fediverse: FediverseScene):
    owner, owner_client = await scene.person("owner")
    member, member_client = fediverse.person("member")
    async with scene.running(scene.settings([owner.user_id])):
        moderators_room = await room_with_bot(scene, owner_client)
    # The moderators' room is named once the bot is in it: the operator sets it and restarts the bot.
    async with scene.running(scene.settings([owner.user_id]).model_copy(
            update={"moderators_room": moderators_room})) as (matrix, _):
        async with fediverse.running_bot(also_tell=(matrix,)) as (adapter, store):
            bot = f"@{fediverse.bot.username}"
            await post(member_client, f"{bot} https://dubious.example/")
            reported = await post(member_client, f"{bot} report 1 phishing")
            adapter.wake()
            await until(replies_from(member_client, reported["id"], fediverse.bot), "the thanks")
            notice = await wait_for_event(owner_client, moderators_room, lambda e: body(e).startswith("Report on #1"))
            assert "https://dubious.example/: phishing" in body(notice)
