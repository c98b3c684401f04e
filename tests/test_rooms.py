"""How a room's links are filed, from its state (pure), and as the store keeps it (SQLite and
PostgreSQL): an operator's choice, from now on or for the past too."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from watchbot.commands import Caller, parse_command, run_command
from watchbot.intake import Rules, file_post, refile_post
from watchbot.model import Post, RoomRecord, Source, Treatment, Visibility, rewritten
from watchbot.policy import Power, Role
from watchbot.rooms import RoomState, digest_here, has_moderators, join_notice, treatment_of
from watchbot.store import Store
from watchbot.store.published import PublishedReader
from watchbot.store.rooms import RoomStore

PUBLIC, PRIVATE, DIRECT = Visibility.PUBLIC, Visibility.PRIVATE, Visibility.DIRECT
AT = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize(("join_rule", "history", "direct", "treated"), [
    ("public", "shared", False, PUBLIC),
    ("knock", "shared", False, PUBLIC),
    ("knock_restricted", "shared", False, PUBLIC),
    ("public", "world_readable", False, PUBLIC),
    ("invite", "world_readable", False, PUBLIC),  # anyone reads it without joining
    ("public", "joined", False, PRIVATE),  # the room keeps its past from newcomers
    ("public", "invited", False, PRIVATE),
    ("invite", "shared", False, PRIVATE),  # an invite-only room, however many are in it
    ("restricted", "shared", False, PRIVATE),  # members of a space
    ("private", "shared", False, PRIVATE),
    ("something-new", "shared", False, PRIVATE),  # a rule not known yet: the safe side
    ("public", "shared", True, DIRECT),  # a direct chat, whatever its rules
])
def test_a_rooms_state_decides_how_its_links_are_filed_never_its_head_count(join_rule, history, direct, treated):
    treatment = treatment_of(RoomState(join_rule, history, direct))
    assert treatment.visibility is treated
    assert treatment.reason


@pytest.mark.parametrize("asked", list(Visibility))
def test_a_direct_share_stays_direct_whatever_asks_to_rewrite_it_and_others_become_what_is_asked(asked):
    assert rewritten(DIRECT, asked) is DIRECT
    assert rewritten(PRIVATE, asked) is asked and rewritten(PUBLIC, asked) is asked
    assert rewritten(Visibility.UNLISTED, asked) is asked


def record(state: Visibility, override: Visibility | None = None) -> RoomRecord:
    return RoomRecord("!r:x", None, Treatment(state, "why"), override, "cli:op" if override else None,
                      AT if override else None, True, AT)


def test_an_operators_choice_wins_over_the_state_but_never_over_a_direct_chat_and_the_notice_says_so():
    assert record(PRIVATE, PUBLIC).visibility is PUBLIC and record(PUBLIC, PRIVATE).visibility is PRIVATE
    assert record(DIRECT, PUBLIC).visibility is DIRECT
    assert record(PUBLIC, PRIVATE).why == "set private by cli:op on 2026-11-20"
    public = join_notice(record(PUBLIC), digest_not_here=None)
    assert "filed as public" in public and "may reach the weekly digest" in public
    assert "The weekly digest is posted here." in public and "watchbot rooms set" in public
    private = join_notice(record(PUBLIC, PRIVATE), digest_not_here="turned off")
    assert "never published" in private and "The weekly digest is not posted here." in private
    assert "Why: set private by cli:op" in private
    direct = join_notice(record(DIRECT), digest_not_here="a direct chat")
    assert "direct chat" in direct and "never published" in direct and "rooms set" not in direct


def test_the_digest_goes_to_every_room_but_direct_chats_the_review_room_and_those_turned_off():
    def why(room: str, visibility: Visibility = PRIVATE, enabled: bool = True):
        return digest_here(room, visibility, enabled=enabled, rooms_off=["!off:x"], review_room="!review:x")

    assert why("!r:x") is None and why("!r:x", PUBLIC) is None  # a private room reads public links
    assert why("!r:x", DIRECT) == "a direct chat"
    assert why("!off:x") and why("!review:x") and why("!r:x", PUBLIC, enabled=False)


def shared(url: str, visibility: Visibility, event: str, place: str = "!r:x", at: datetime = AT) -> Post:
    return Post(source=Source.MATRIX, place=place, author_id="@alice:x", author_name="alice", text=url,
                event_id=event, visibility=visibility, at=at)


async def test_setting_a_room_public_with_the_past_makes_its_earlier_shares_public_in_one_go(store: Store):
    rooms = RoomStore(store)
    assert await rooms.record("!r:x", "Lab", Treatment(PRIVATE, "join rule invite"), at=AT) is None
    await file_post(store, shared("https://one.example/ #canary", PRIVATE, "$1"), Rules())
    await file_post(store, shared("https://two.example/", DIRECT, "$2"), Rules())  # filed by a head count once
    await file_post(store, shared("https://three.example/", PUBLIC, "$4"), Rules())
    await file_post(store, shared("https://elsewhere.example/", PRIVATE, "$3", place="!other:x"), Rules())
    member = Caller("@bob:x", "bob", Power(Role.MEMBER, "!r:x"))
    assert "one.example" not in (await run_command(store, parse_command("!watch recent"), member, timezone.utc)).text

    done = await rooms.set_override("!r:x", PUBLIC, by="cli:op", at=AT + timedelta(days=1), past=True)
    # A direct share stays direct (decision 35), whoever filed it so: it is counted, not changed.
    assert (done.shares, done.links, done.direct, done.room.visibility, done.room.why) == (
        1, 1, 1, PUBLIC, "set public by cli:op on 2026-11-21")
    answer = (await run_command(store, parse_command("!watch recent"), member, timezone.utc)).text
    assert "one.example" in answer and "three.example" in answer
    assert "two.example" not in answer and "elsewhere.example" not in answer
    found = await run_command(store, parse_command("!watch search canary"), member, timezone.utc)
    assert "one.example" in found.text  # the search document was rebuilt with the share public
    [entry] = await store.read(lambda conn: list(conn.exec_driver_sql(
        "SELECT actor, action, target, reason FROM moderation_log")))
    assert tuple(entry) == ("cli:op", "room-public", "!r:x",
                            "and 1 share(s) filed there before (1 direct share(s) left as they were)")

    later = await rooms.set_override("!r:x", PRIVATE, by="cli:op", at=AT + timedelta(days=2), past=False)
    assert (later.shares, later.room.visibility) == (0, PRIVATE)
    assert "one.example" in (await run_command(store, parse_command("!watch recent"), member, timezone.utc)).text
    assert await rooms.set_override("!unknown:x", PUBLIC, by="cli:op", at=AT, past=True) is None


async def test_an_edit_of_a_direct_message_stays_direct_however_its_room_is_taken_now(store: Store):
    await file_post(store, shared("https://first.example/", DIRECT, "$d"), Rules())
    # The room taken for a public one now (a store that lost what it knew): the edit adds a link.
    result, _ = await refile_post(store, shared("https://first.example/ https://added.example/", PUBLIC, "$d"),
                                  Rules())
    assert [r.filed.share.visibility for r in result.results] == [DIRECT, DIRECT]
    assert await PublishedReader(store).recent() == []
    # A message that was not direct takes the room's treatment, as before.
    await file_post(store, shared("https://other.example/", PRIVATE, "$p"), Rules())
    result, _ = await refile_post(store, shared("https://other.example/ https://more.example/", PUBLIC, "$p"),
                                  Rules())
    assert [r.filed.share.visibility for r in result.results] == [PRIVATE, PUBLIC]


async def test_a_room_set_private_with_the_past_leaves_the_digest_and_marks_posted_ones_to_edit(store: Store):
    from watchbot.store.schema import digest_runs

    rooms = RoomStore(store)
    await rooms.record("!r:x", None, Treatment(PUBLIC, "join rule public"), at=AT)
    await file_post(store, shared("https://oops.example/", PUBLIC, "$1"), Rules())

    def posted(conn) -> None:
        conn.execute(digest_runs.insert().values(
            outlet="matrix:!r:x", period_start=AT - timedelta(days=3), period_end=AT + timedelta(days=4),
            status="posted", created_at=AT, finished_at=AT))

    await store.write(posted)
    done = await rooms.set_override("!r:x", PRIVATE, by="cli:op", at=AT, past=True)
    assert done.shares == 1
    assert await PublishedReader(store).shared_between(AT - timedelta(days=1), AT + timedelta(days=1)) == []
    statuses = await store.read(lambda conn: list(conn.execute(digest_runs.select().with_only_columns(
        digest_runs.c.status)).scalars()))
    assert statuses == ["amend"]


async def test_the_bot_records_a_room_once_and_keeps_what_it_left(store: Store):
    rooms = RoomStore(store)
    await rooms.record("!r:x", "Lab", Treatment(PRIVATE, "join rule invite"), at=AT)
    before = await rooms.record("!r:x", "Lab", Treatment(PUBLIC, "join rule public"), at=AT)
    assert before.visibility is PRIVATE and (await rooms.get("!r:x")).visibility is PUBLIC
    await rooms.left("!r:x", at=AT)
    assert await rooms.joined() == [] and (await rooms.get("!r:x")).joined is False


# -- what mutation testing found unchecked (docs/mutation.md): the words a room reads ---------------

@pytest.mark.parametrize(("join_rule", "history", "direct", "reason"), [
    ("public", "shared", True, "a direct chat"),
    ("invite", "world_readable", False, "anyone may read its history without joining"),
    ("public", "shared", False, "anyone may join (join rule public) and read its history"),
    ("knock", "shared", False, "anyone may ask to join (join rule knock) and read its history"),
    ("public", "joined", False, "anyone may join, but its history is kept from newcomers (history joined)"),
    ("invite", "shared", False, "only people let in may join (join rule invite)"),
])
def test_the_reason_a_room_is_told_names_what_in_its_state_decided(join_rule, history, direct, reason):
    assert treatment_of(RoomState(join_rule, history, direct)).reason == reason


def test_the_join_notice_reads_in_full_for_each_kind_of_room():
    assert join_notice(record(PUBLIC), digest_not_here=None) == (
        "Links shared here are filed as public: they may reach the weekly digest and the watch's fediverse "
        "account. Why: why. The weekly digest is posted here. The bot's operator can change this (watchbot "
        "rooms set ROOM public|private), and the room's admins by changing who may join.")
    assert join_notice(record(PUBLIC, PRIVATE), digest_not_here="turned off") == (
        "Links shared here are filed as private: they stay in the store and are never published, not in the "
        "digest, not on the fediverse. Why: set private by cli:op on 2026-11-20. The weekly digest is not "
        "posted here. The bot's operator can change this (watchbot rooms set ROOM public|private).")
    assert join_notice(record(DIRECT), digest_not_here="a direct chat") == (
        "This is a direct chat: links shared here are filed as private. They stay in the store and are never "
        "published. The weekly digest is not posted here.")


def test_each_reason_the_digest_is_not_posted_names_the_setting_behind_it():
    def why(room: str, enabled: bool = True):
        return digest_here(room, PRIVATE, enabled=enabled, rooms_off=["!off:x"], review_room="!review:x")

    assert why("!r:x", enabled=False) == "no digest is posted (WATCHBOT_DIGEST_ENABLED=false)"
    assert why("!review:x") == "the review room gets drafts"
    assert why("!off:x") == "turned off (WATCHBOT_DIGEST_ROOMS_OFF)"


def test_a_direct_chat_has_no_moderators_and_every_room_has():
    assert not has_moderators(DIRECT)
    assert has_moderators(PUBLIC) and has_moderators(PRIVATE)
