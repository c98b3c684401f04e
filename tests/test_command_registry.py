"""The one registry of chat commands: help and the README come from it, the desk refuses from it,
and nothing a person types after `!watch` makes the desk raise."""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from watchbot.commands import Caller, Command, Desk, DeskOptions, parse_command, parse_number
from watchbot.commands.registry import COMMANDS, Who, readme_table, refusal_of, spec_of
from watchbot.intake import Rules, file_post
from watchbot.model import Audience, Post, Source, utcnow
from watchbot.moderation import Moderation
from watchbot.policy import Power, Role
from watchbot.store import Store

README = Path(__file__).parent.parent / "README.md"
MEMBER = Caller("@alice:x", "Alice", Power(Role.MEMBER, "!r:x"))
ROOM_MODERATOR = Caller("@mod:x", "Mod", Power(Role.MODERATOR, "!r:x"))


def desk(store: Store, **options) -> Desk:
    return Desk(store, DeskOptions(zone=ZoneInfo("UTC"), **options), moderation=Moderation(store))


async def say(store: Store, text: str, caller: Caller = MEMBER, **options) -> str:
    return (await desk(store, **options).run(parse_command(text), caller)).text


def test_the_readmes_table_of_commands_is_the_registrys():
    assert readme_table() in README.read_text(encoding="utf-8"), (
        "README.md's table of chat commands differs from the registry; paste this in its place:\n" + readme_table())


async def test_help_names_every_command_the_registry_declares(store: Store):
    said = await say(store, "!watch help")
    for spec in COMMANDS.values():
        assert f"{spec.usage} — {spec.help}" in said, spec.name


async def test_every_store_wide_command_is_refused_to_a_rooms_moderator_with_its_own_sentence(store: Store):
    for spec in COMMANDS.values():
        if spec.who is Who.STORE_WIDE:
            assert await say(store, f"!watch {spec.name}", ROOM_MODERATOR) == refusal_of(spec.name) == spec.refusal


async def test_an_alias_runs_its_command(store: Store):
    await file_post(store, Post(source=Source.MATRIX, place="!r:x", author_id="@bob:x", author_name="Bob",
                                text="https://rust.example/async #rust", event_id="$1", at=utcnow()), Rules())
    assert spec_of("cherche") is COMMANDS["search"]
    assert await say(store, "!watch cherche rust") == await say(store, "!watch search rust")
    assert "https://rust.example/async" in await say(store, "!watch cherche rust")


async def test_a_number_in_other_digits_than_ascii_ones_is_one_line_never_an_error(store: Store):
    for text in ["show ²", "show ١٢", "rm ²", "report ²", "recent ²", "approve ²", "tag ² +x", "show 99999999999999999999",
                 "show -1", "feed rm ²"]:
        caller = ROOM_MODERATOR if text.startswith(("approve", "feed")) else MEMBER
        answer = await say(store, f"!watch {text}", caller)
        assert answer and "\n" not in answer, (text, answer)


@given(st.text(max_size=40))
def test_parse_number_never_raises_and_takes_only_ascii_digits(text: str):
    number = parse_number(text)
    if number is not None:
        assert re.fullmatch(r"#?[0-9]+", text) and 0 <= number < 2**31


def test_parse_number_reads_what_people_write():
    assert [parse_number(text) for text in ["12", "#12", "0", "2147483647", "2147483648", "²", "1²", " 1", ""]] == \
        [12, 12, 0, 2**31 - 1, None, None, None, None, None]


async def test_about_says_how_the_rooms_links_are_filed_and_where_the_pages_are(store: Store):
    public = await say(store, "!watch about", web_base_url="https://watch.example.org")
    assert public.startswith("Links shared here are public")
    assert "https://watch.example.org" in public
    private_room = Caller("@alice:x", "Alice", Power(Role.MEMBER, "!p:x"), Audience(place="!p:x"))
    private = await say(store, "!watch about", private_room)
    assert private.startswith("Links shared here are private") and "no web pages" in private


async def test_an_unknown_command_is_one_line_naming_the_commands(store: Store):
    answer = await say(store, "!watch frobnicate")
    assert answer.startswith("I do not know “frobnicate”.") and "\n" not in answer
    assert all(name in answer for name in COMMANDS)


async def test_a_command_added_to_the_registry_is_run_refused_and_helped_without_another_change(store: Store):
    """What adding a command takes: one declared handler (removed after, so the registry stays the product's)."""
    from watchbot.commands import registry

    @registry.command("ping", usage="ping", help="answers pong", who=Who.ROOM_MODERATOR)
    async def ping(args, context) -> list[str]:
        return ["pong"]

    try:
        assert await say(store, "!watch ping", ROOM_MODERATOR) == "pong"
        assert await say(store, "!watch ping", MEMBER) == refusal_of("ping")
        assert "ping — answers pong" in await say(store, "!watch help")
    finally:
        del registry.COMMANDS["ping"], registry._BY_WORD["ping"]
    assert (await say(store, "!watch ping")).startswith("I do not know")
    assert Command("ping", ()) == parse_command("!watch ping")
