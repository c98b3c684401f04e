"""Chat commands against a real store: what each caller may do, and what a room may see."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from watchbot.commands import Caller, Command, parse_command, run_command
from watchbot.intake import Rules, file_post
from watchbot.model import Audience, Post, Source, Visibility, utcnow
from watchbot.policy import Power, Role
from watchbot.store import Store
from watchbot.store.links import LinkStore
from watchbot.store.published import PublishedReader
from watchbot.store.moderation import ModerationStore

UTC = ZoneInfo("UTC")
ALICE = Caller("@alice:x", "Alice")
BOB = Caller("@bob:x", "Bob")
MOD = Caller("@mod:x", "Mod", Power(Role.MODERATOR, "!r:x"))  # a moderator of the room links are shared in
OTHER_MOD = Caller("@other:x", "Other", Power(Role.MODERATOR, "!other:x"))  # of another room
WATCH_MOD = Caller("@watch:x", "Watch", Power(Role.MODERATOR, "!mods:x", store_wide=True))  # the moderators' room


async def share(store: Store, who: Caller, text: str, *, event: str, days_ago: float = 0,
                visibility: Visibility = Visibility.PUBLIC, place: str = "!r:x") -> None:
    await file_post(store, Post(source=Source.MATRIX, place=place, author_id=who.user_id, author_name=who.name,
                                text=text, event_id=event, visibility=visibility,
                                at=utcnow() - timedelta(days=days_ago)), Rules())


async def ask(store: Store, who: Caller, text: str) -> str:
    return (await run_command(store, parse_command(text), who, UTC)).text


def test_parsing():
    assert parse_command("!watch search rust async") == Command("search", ("rust", "async"))
    assert parse_command("!WATCH Tags") == Command("tags", ())
    assert parse_command("!watch") == Command("help", ())
    assert parse_command("!watchful eye") is None
    assert parse_command("just chatting") is None
    assert parse_command("recent 3", addressed=True) == Command("recent", ("3",))
    assert parse_command("?w top", prefix="?w") == Command("top", ())


async def test_search_recent_top_tags_and_show(store: Store):
    await share(store, ALICE, "https://a.example/async #rust", event="$1", days_ago=2)
    await share(store, BOB, "https://a.example/async #async", event="$2", days_ago=1)
    await share(store, BOB, "https://b.example/old #python", event="$3", days_ago=20)
    assert "#1 https://a.example/async [async, rust] (Alice" in await ask(store, BOB, "!watch search async")
    assert (await ask(store, BOB, "!watch recent 1")).startswith("#1 ")
    week = await ask(store, BOB, "!watch top week")
    assert "2 sharers" in week and "b.example" not in week
    assert "b.example/old" in await ask(store, BOB, "!watch top month")
    assert await ask(store, BOB, "!watch tags") == "async (1), python (1), rust (1)"
    shown = await ask(store, ALICE, "!watch show 1")
    assert "shared by Alice" in shown and "shared by Bob" in shown


async def test_a_room_never_sees_links_from_private_messages(store: Store):
    await share(store, ALICE, "https://secret.example/ #hidden", event="$dm", visibility=Visibility.DIRECT)
    await share(store, BOB, "https://secret.example/ #open", event="$pub")
    await share(store, ALICE, "https://only-private.example/ #hidden", event="$dm2", visibility=Visibility.DIRECT)
    assert "Alice" not in await ask(store, BOB, "!watch show 1")  # credited from public shares only
    assert await ask(store, BOB, "!watch show 2") == "There is no link #2."
    assert "only-private" not in await ask(store, BOB, "!watch search example")
    assert "only-private" not in await ask(store, BOB, "!watch recent 10")
    assert "hidden" not in await ask(store, BOB, "!watch tags")


async def test_a_direct_chat_sees_its_own_shares_besides_the_public_ones(store: Store):
    await share(store, ALICE, "https://mine.example/ #diary", event="$dm", visibility=Visibility.DIRECT, place="!dm:x")
    await share(store, BOB, "https://theirs.example/ #secret", event="$dm2", visibility=Visibility.DIRECT,
                place="!other-dm:x")
    await share(store, BOB, "https://open.example/ #open", event="$pub")
    in_my_chat = replace(ALICE, audience=Audience(place="!dm:x"))
    assert "mine.example" in await ask(store, in_my_chat, "!watch show 1")
    assert "mine.example" in await ask(store, in_my_chat, "!watch search diary")
    assert "theirs.example" not in await ask(store, in_my_chat, "!watch search example")
    assert await ask(store, in_my_chat, "!watch show 2") == "There is no link #2."
    assert await ask(store, in_my_chat, "!watch tags") == "diary (1), open (1)"
    assert await ask(store, ALICE, "!watch show 1") == "There is no link #1."  # a group room does not


async def test_tag_answers_with_the_tags_the_room_may_see(store: Store):
    await share(store, ALICE, "https://a.example/ #whispered", event="$dm", visibility=Visibility.DIRECT,
                place="!dm:x")
    await share(store, BOB, "https://a.example/ #open", event="$pub")
    admin = Caller("@root:x", "root", Power(Role.ADMIN, "!r:x", store_wide=True))  # retags every share
    # The tag added goes on a share this public room reads, never on the direct chat's that came first.
    assert await ask(store, admin, "!watch tag 1 +more") == "#1 is now tagged: more, open."
    assert (await PublishedReader(store).link(1)).tags == ("more", "open")
    assert "whispered" in (await LinkStore(store).get_link(1)).link.tags  # still there for the operator


async def test_tag_keeps_ten_tags_a_share_and_says_which_were_left_out(store: Store):
    await share(store, ALICE, "https://a.example/ " + " ".join(f"#t{i}" for i in range(9)), event="$1")
    answer = await ask(store, ALICE, "!watch tag 1 +x +y +z -t0")
    assert answer.splitlines()[1] == "Only 10 tags are kept per link: #z was left out."
    assert len((await LinkStore(store).get_link(1)).link.tags) == 10
    assert (await ask(store, ALICE, "!watch tag 1 +" + "w" * 51)).startswith("Usage: tag ID")


@pytest.mark.parametrize("caller, allowed", [(ALICE, True), (MOD, True), (WATCH_MOD, True), (BOB, False),
                                              (OTHER_MOD, False)])
async def test_only_the_sharer_or_a_moderator_of_its_room_may_tag(store: Store, caller: Caller, allowed: bool):
    await share(store, ALICE, "https://a.example/ #rust", event="$1")
    answer = await ask(store, caller, "!watch tag 1 +async -rust")
    if allowed:
        assert answer == "#1 is now tagged: async."
        assert (await LinkStore(store).get_link(1)).link.tags == ("async",)
        assert (await PublishedReader(store).link(1)).tags == ("async",)
        assert await ask(store, BOB, "!watch tags") == "async (1)"
    else:
        assert answer == {
            BOB: "#1: only the people who shared it, or the moderators of the room it was shared in, may tag it.",
            OTHER_MOD: "Only the moderators of the room it was shared in, the moderators' room or an admin may tag "
                       "#1: it was shared in another room.",
        }[caller]
        assert (await LinkStore(store).get_link(1)).link.tags == ("rust",)


async def test_rm_takes_a_members_own_share_a_rooms_shares_and_a_watch_moderators_whole_link(store: Store):
    await share(store, ALICE, "https://a.example/", event="$1")
    await share(store, BOB, "https://a.example/", event="$2")
    await share(store, BOB, "https://a.example/", event="$3", place="!other:x")
    assert (await ask(store, ALICE, "!watch rm 1")) == "Removed your share of #1."
    assert (await LinkStore(store).get_link(1)).link.share_count == 2
    assert "@alice:x" not in {share.sharer_id for share in (await LinkStore(store).get_link(1)).shares}
    assert (await ask(store, ALICE, "!watch rm 1")).startswith("#1: only the people who shared it")
    # A room's moderator takes that room's shares; the link stays while another room has one.
    assert (await ask(store, MOD, "!watch rm 1")) == "Removed 1 share(s) of #1."
    assert [share.place for share in (await LinkStore(store).get_link(1)).shares] == ["!other:x"]
    assert (await ask(store, MOD, "!watch rm 1")) == (
        "Only the moderators of the room it was shared in, the moderators' room or an admin may remove #1: "
        "it was shared in another room.")
    assert (await ask(store, OTHER_MOD, "!watch rm 1")) == "Removed 1 share(s) of #1 (and the link with it)."
    assert await LinkStore(store).get_link(1) is None
    await share(store, ALICE, "https://b.example/", event="$4")
    await share(store, BOB, "https://b.example/", event="$5", place="!other:x")
    [link] = await LinkStore(store).list_links()  # its id depends on the database (SQLite reuses #1)
    assert (await ask(store, WATCH_MOD, f"!watch rm {link.id}")) == f"Removed #{link.id} and its 2 share(s)."
    assert [entry.action for entry in await ModerationStore(store).log_entries()] == [
        "remove-link", "remove-shares", "remove-shares"]


async def test_a_room_moderator_removes_their_own_share_of_another_room_as_a_member_would(store: Store):
    await share(store, MOD, "https://a.example/", event="$1", place="!other:x")
    await share(store, BOB, "https://a.example/", event="$2", place="!other:x")
    assert (await ask(store, MOD, "!watch rm 1")) == "Removed your share of #1."
    assert (await LinkStore(store).get_link(1)).link.share_count == 1


async def test_a_private_link_does_not_exist_for_another_rooms_moderator(store: Store):
    await share(store, ALICE, "https://secret.example/", event="$dm", visibility=Visibility.DIRECT, place="!dm:x")
    assert await ask(store, OTHER_MOD, "!watch rm 1") == "There is no link #1."
    assert await ask(store, OTHER_MOD, "!watch tag 1 +x") == "There is no link #1."
    assert await ask(store, OTHER_MOD, "!watch rm 2") == "There is no link #2."


@pytest.mark.parametrize("text", ["!watch show", "!watch show x", "!watch show 99999999999999999999999",
                                  "!watch recent 0", "!watch recent lots", "!watch top year", "!watch tag 1 rust",
                                  "!watch tag", "!watch rm", "!watch search", "!watch frobnicate"])
async def test_bad_commands_get_one_clear_answer(store: Store, text: str):
    answer = await ask(store, ALICE, text)
    assert answer and "\n" not in answer and "Traceback" not in answer

