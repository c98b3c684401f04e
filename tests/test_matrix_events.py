"""Matrix events to Posts, and intake's answers to Matrix events: no homeserver needed here."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from watchbot.intake import Rules, file_post
from watchbot.model import Source, Visibility
from watchbot.networks.matrix.events import (
    ALREADY_SHARED_REACTION,
    NEW_LINK_REACTION,
    acknowledgements,
    direct_rooms,
    invited_as_direct,
    invite_allowed,
    invite_warning,
    events_after_own_join,
    inviter_of,
    post_from_event,
    with_direct_room,
)
from watchbot.store import Store

BOT = "@watchbot:example.org"
ROOM = "!room:example.org"
UTC = ZoneInfo("UTC")


def message(body: str, *, event_id: str = "$1", sender: str = "@alice:example.org", **content) -> dict:
    return {
        "type": "m.room.message", "event_id": event_id, "sender": sender,
        "origin_server_ts": 1_763_800_000_000, "content": {"msgtype": "m.text", "body": body, **content},
    }


def test_a_text_message_becomes_a_post_with_html_and_time():
    event = message("see https://ex.org/a", format="org.matrix.custom.html",
                    formatted_body='see <a href="https://ex.org/a">ex.org/a</a>')
    post = post_from_event(event, ROOM, own_user_id=BOT, sender_name="Alice")
    assert post.source is Source.MATRIX and post.place == ROOM
    assert (post.author_id, post.author_name, post.event_id) == ("@alice:example.org", "Alice", "$1")
    assert post.html == 'see <a href="https://ex.org/a">ex.org/a</a>'
    assert post.at == datetime(2025, 11, 22, 8, 26, 40, tzinfo=timezone.utc)
    assert post.visibility is Visibility.PUBLIC


def test_what_is_not_filed():
    def post(event, **kw):
        return post_from_event(event, ROOM, own_user_id=BOT, sender_name="x", **kw)

    assert post(message("https://ex.org", sender=BOT)) is None  # the bot itself
    assert post(message("https://ex.org", msgtype="m.notice")) is None  # other bots, by default
    assert post(message("https://ex.org", msgtype="m.notice"), file_notices=True) is not None
    assert post(message("https://ex.org", msgtype="m.image")) is None
    edit = message("* https://ex.org", **{"m.new_content": {"msgtype": "m.text", "body": "https://ex.org"},
                                          "m.relates_to": {"rel_type": "m.replace", "event_id": "$0"}})
    assert post(edit) is None
    assert post({"type": "m.room.message", "event_id": "$x", "sender": "@a:b", "content": "junk"}) is None
    assert post({"type": "m.reaction", "event_id": "$x", "sender": "@a:b", "content": {}}) is None


def test_a_message_is_filed_as_its_room_is_treated_and_a_direct_chat_is_known_by_its_invite_or_m_direct():
    post = post_from_event(message("https://ex.org"), ROOM, own_user_id=BOT, sender_name="A",
                           visibility=Visibility.PRIVATE)
    assert post.visibility is Visibility.PRIVATE
    invite = [{"type": "m.room.member", "state_key": BOT, "sender": "@a:b",
               "content": {"membership": "invite", "is_direct": True}}]
    assert invited_as_direct(invite, BOT)
    assert not invited_as_direct([{**invite[0], "content": {"membership": "invite"}}], BOT)
    assert not invited_as_direct([{**invite[0], "state_key": "@someone:b"}], BOT)
    assert direct_rooms({"@a:b": ["!one:b", "!two:b"], "@c:d": ["!three:d", 7], "@e:f": "junk"}) == {
        "!one:b", "!two:b", "!three:d"}


def test_the_bot_adds_a_direct_chat_to_its_m_direct_and_keeps_everything_else_in_it():
    before = {"@a:b": ["!one:b"], "@e:f": "junk", "@g:h": ["!two:h"]}
    assert with_direct_room(before, "@a:b", "!new:b") == {"@a:b": ["!one:b", "!new:b"], "@e:f": "junk",
                                                          "@g:h": ["!two:h"]}
    assert with_direct_room(before, "@c:d", "!new:b") == {**before, "@c:d": ["!new:b"]}
    assert with_direct_room(before, "@e:f", "!new:b")["@e:f"] == ["!new:b"]  # junk under that name: replaced
    assert with_direct_room(before, "@c:d", "!two:h") is None  # listed already, under anyone: nothing to write
    assert with_direct_room({}, "@a:b", "!new:b") == {"@a:b": ["!new:b"]}
    assert before == {"@a:b": ["!one:b"], "@e:f": "junk", "@g:h": ["!two:h"]}  # read, never changed


async def test_answers_new_link_then_duplicate_then_replay(store: Store):
    first = message("https://ex.org/a #rust", event_id="$1")
    result = await file_post(store, post_from_event(first, ROOM, own_user_id=BOT, sender_name="Alice"), Rules())
    [react] = acknowledgements(result, first, UTC)
    assert react.event_type == "m.reaction"
    assert react.content["m.relates_to"] == {"rel_type": "m.annotation", "event_id": "$1", "key": NEW_LINK_REACTION}

    second = message("https://ex.org/a?utm_source=x", event_id="$2", sender="@bob:example.org")
    result = await file_post(store, post_from_event(second, ROOM, own_user_id=BOT, sender_name="Bob"), Rules())
    react, reply = acknowledgements(result, second, UTC)
    assert react.content["m.relates_to"]["key"] == ALREADY_SHARED_REACTION
    assert reply.content["body"].startswith("Already shared by Alice on 2025-11-22")
    assert reply.content["m.relates_to"]["rel_type"] == "m.thread"
    assert reply.content["m.relates_to"]["m.in_reply_to"] == {"event_id": "$2"}
    assert reply.content["m.mentions"] == {"user_ids": ["@bob:example.org"]}  # Alice is credited, not pinged

    replay = await file_post(store, post_from_event(second, ROOM, own_user_id=BOT, sender_name="Bob"), Rules())
    again = acknowledgements(replay, second, UTC)
    assert [o.content["m.relates_to"]["key"] for o in again] == [ALREADY_SHARED_REACTION]  # no second reply
    assert again[0].txn_id == react.txn_id  # the homeserver recognises the repeat


def test_a_reply_inside_a_thread_stays_in_that_thread():
    from watchbot.networks.matrix.events import thread_reply_content

    event = message("https://ex.org", event_id="$5", **{"m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}})
    assert thread_reply_content(event, ["x"])["m.relates_to"]["event_id"] == "$root"


def test_invites_follow_the_allow_list():
    state = [{"type": "m.room.member", "state_key": BOT, "sender": "@mod:friends.org",
              "content": {"membership": "invite"}}]
    inviter = inviter_of(state, BOT)
    assert inviter == "@mod:friends.org"
    assert invite_allowed(inviter, ROOM, ["@mod:friends.org"])
    assert invite_allowed(inviter, ROOM, ["friends.org"])
    assert invite_allowed(inviter, ROOM, [":friends.org"])
    assert invite_allowed(None, ROOM, [ROOM])
    assert not invite_allowed(inviter, ROOM, ["@mod:other.org", "friends.org.evil.com"])
    assert not invite_allowed("@mod:evilfriends.org", ROOM, ["friends.org"])
    assert not invite_allowed(inviter, ROOM, [])


def test_the_start_warns_when_nobody_or_a_whole_server_may_invite_the_bot():
    assert "nobody may invite the bot" in invite_warning([])
    assert invite_warning(["@mod:friends.org", ROOM]) is None  # people and rooms: as recommended
    # Servers, as invite_allowed reads them ("friends.org" or ":friends.org"), are named.
    warned = invite_warning(["@mod:friends.org", "friends.org", ":other.org"])
    assert warned.startswith("anyone on friends.org, other.org may invite the bot") and "moderate that room" in warned


def test_history_from_before_the_bot_joined_is_not_filed():
    join = {"type": "m.room.member", "state_key": BOT, "sender": BOT, "content": {"membership": "join"}}
    profile_change = {**join, "unsigned": {"prev_content": {"membership": "join"}}}
    before, after = message("https://ex.org/old", event_id="$old"), message("https://ex.org/new", event_id="$new")
    assert events_after_own_join([before, join, after], BOT) == [after]
    assert events_after_own_join([before, after], BOT) == [before, after]
    assert events_after_own_join([before, profile_change, after], BOT) == [before, profile_change, after]


def test_an_edit_is_the_new_content_under_the_original_event_id():
    from watchbot.networks.matrix.events import edited_post, redacted_event_id

    edit = message("* https://ex.org/b", event_id="$edit", **{
        "m.new_content": {"msgtype": "m.text", "body": "https://ex.org/b #fixed"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$original"},
    })
    original_id, post = edited_post(edit, ROOM, own_user_id=BOT, sender_name="Alice")
    assert original_id == "$original" and post.event_id == "$original"
    assert post.text == "https://ex.org/b #fixed"  # the new content, not the "* " fallback
    assert edited_post(message("https://ex.org"), ROOM, own_user_id=BOT, sender_name="A") is None
    assert redacted_event_id({"type": "m.room.redaction", "redacts": "$x"}) == "$x"
    assert redacted_event_id({"type": "m.room.redaction", "content": {"redacts": "$y"}}) == "$y"
    assert redacted_event_id(message("https://ex.org")) is None


def test_room_creators_outrank_power_levels_from_room_version_12():
    from watchbot.networks.matrix.events import is_privileged_creator

    def create(version: str, **content) -> dict:
        return {"type": "m.room.create", "sender": "@owner:x", "content": {"room_version": version, **content}}

    assert is_privileged_creator(create("12"), "@owner:x")
    assert is_privileged_creator(create("12", additional_creators=["@co:x"]), "@co:x")
    assert not is_privileged_creator(create("12"), "@member:x")
    assert not is_privileged_creator(create("11"), "@owner:x")  # before v12, power levels say it all
    assert not is_privileged_creator(None, "@owner:x")
