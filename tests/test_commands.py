"""Chat commands against a real store: what each caller may do, and what a room may see."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from watchbot.commands import Caller, Command, parse_command, run_command
from watchbot.intake import Rules, file_post
from watchbot.model import Post, Source, Visibility, utcnow
from watchbot.store import Store

UTC = ZoneInfo("UTC")
ALICE = Caller("@alice:x", "Alice", is_moderator=False)
BOB = Caller("@bob:x", "Bob", is_moderator=False)
MOD = Caller("@mod:x", "Mod", is_moderator=True)


async def share(store: Store, who: Caller, text: str, *, event: str, days_ago: float = 0,
                visibility: Visibility = Visibility.PUBLIC) -> None:
    await file_post(store, Post(source=Source.MATRIX, place="!r:x", author_id=who.user_id, author_name=who.name,
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


@pytest.mark.parametrize("caller, allowed", [(ALICE, True), (MOD, True), (BOB, False)])
async def test_only_the_sharer_or_a_moderator_may_tag(store: Store, caller: Caller, allowed: bool):
    await share(store, ALICE, "https://a.example/ #rust", event="$1")
    answer = await ask(store, caller, "!watch tag 1 +async -rust")
    if allowed:
        assert answer == "#1 is now tagged: async."
    else:
        assert answer.startswith("#1: only the people who shared it")
        assert (await store.get_link(1)).link.tags == ("rust",)


async def test_rm_takes_a_members_own_share_and_a_moderators_whole_link(store: Store):
    await share(store, ALICE, "https://a.example/", event="$1")
    await share(store, BOB, "https://a.example/", event="$2")
    assert (await ask(store, ALICE, "!watch rm 1")) == "Removed your share of #1."
    assert (await store.get_link(1)).link.share_count == 1
    assert (await ask(store, ALICE, "!watch rm 1")).startswith("#1: only the people who shared it")
    assert (await ask(store, MOD, "!watch rm 1")) == "Removed #1 and its 1 share(s)."
    assert await store.get_link(1) is None


@pytest.mark.parametrize("text", ["!watch show", "!watch show x", "!watch show 99999999999999999999999",
                                  "!watch recent 0", "!watch recent lots", "!watch top year", "!watch tag 1 rust",
                                  "!watch tag", "!watch rm", "!watch search", "!watch frobnicate"])
async def test_bad_commands_get_one_clear_answer(store: Store, text: str):
    answer = await ask(store, ALICE, text)
    assert answer and "\n" not in answer and "Traceback" not in answer
