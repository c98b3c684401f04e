"""Matrix events in, Matrix events out: plain functions of event JSON, no network, no nio.

The adapter (networks/matrix/adapter.py) syncs and sends; what an event means for intake, and what the bot
answers, is decided here, where it can be tested without a homeserver.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from watchbot.consent import asks_to_be_left_alone
from watchbot.intake import IntakeResult, Outcome, describe
from watchbot.model import Owed, Post, Source, Visibility

# One reaction for a link the bot had not seen, another for one shared before.
NEW_LINK_REACTION = "🔖"
ALREADY_SHARED_REACTION = "🔁"

HTML_FORMAT = "org.matrix.custom.html"
FILED_MSGTYPES = ("m.text", "m.emote")
# The outbox's kind for an answer to someone who asked bots to leave them alone (#nobot,
# #noindex): sent as an m.room.message, then forgotten (payload emptied, no event id kept).
OPTED_OUT = "opted-out"
MESSAGE_OPTED_OUT = (
    "You asked bots to leave this message alone (#nobot or #noindex), so I filed nothing of it. To "
    "say this only once I keep a keyed hash of your account, which nobody can read your name from; "
    "nothing else of you or of this message. I will not say this again."
)
NAME_OPTED_OUT = (
    "Your display name asks bots to leave your messages alone (#nobot or #noindex), so I file "
    "nothing of yours; commands still work. To say this only once I keep a keyed hash of your "
    "account, which nobody can read your name from. I will not say this again."
)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event to send: its type, content, and a transaction id derived from what it answers,
    so that sending it again (a retry, a replayed sync) is recognised by the homeserver."""

    event_type: str
    content: dict[str, Any]
    txn_id: str
    kept: bool = True  # False: once sent, the outbox keeps the row without it (Owed.kept)


def post_from_event(
    event: Mapping[str, Any],
    room_id: str,
    *,
    own_user_id: str,
    sender_name: str,
    visibility: Visibility = Visibility.PUBLIC,
    file_notices: bool = False,
) -> Post | None:
    """The Post for an `m.room.message`, or None when the event is not something to file."""
    if event.get("type") != "m.room.message" or event.get("sender") == own_user_id:
        return None
    content = event.get("content")
    if not isinstance(content, Mapping) or _is_edit(content):
        return None  # edits update their original share: handled apart, never filed again
    msgtype = content.get("msgtype")
    # Notices are what bots send; filing them by default would have bots feed each other.
    if msgtype not in FILED_MSGTYPES and not (file_notices and msgtype == "m.notice"):
        return None
    body = content.get("body")
    formatted = content.get("formatted_body") if content.get("format") == HTML_FORMAT else None
    return Post(
        source=Source.MATRIX,
        place=room_id,
        author_id=str(event.get("sender", "")),
        author_name=sender_name,
        text=body if isinstance(body, str) else "",
        html=formatted if isinstance(formatted, str) else None,
        event_id=str(event.get("event_id", "")) or None,
        visibility=visibility,  # the room's (watchbot/rooms.py)
        at=_timestamp(event.get("origin_server_ts")),
    )


def edited_post(
    event: Mapping[str, Any],
    room_id: str,
    *,
    own_user_id: str,
    sender_name: str,
    visibility: Visibility = Visibility.PUBLIC,
    file_notices: bool = False,
) -> tuple[str, Post] | None:
    """For an edit (`m.replace`): the original's event id, and the Post of the new content under
    that id (so intake replaces the original's shares). None for anything else.

    Whether the editor wrote the original is for the caller to check: the homeserver does not.
    """
    content = event.get("content")
    if event.get("type") != "m.room.message" or not isinstance(content, Mapping) or not _is_edit(content):
        return None
    original = (content.get("m.relates_to") or {}).get("event_id")
    new_content = content.get("m.new_content")
    if not isinstance(original, str) or not isinstance(new_content, Mapping):
        return None
    post = post_from_event(
        {**event, "event_id": original, "content": new_content}, room_id, own_user_id=own_user_id,
        sender_name=sender_name, visibility=visibility, file_notices=file_notices,
    )
    return (original, post) if post is not None else None


def addressed_text(event: Mapping[str, Any], own_user_id: str, own_name: str | None) -> str | None:
    """The text of a message addressed to the bot ("watchbot: search rust", a pill, an
    intentional mention), with the address taken off; None when it is not addressed to it."""
    content = event.get("content") or {}
    body = content.get("body")
    if not isinstance(body, str):
        return None
    names = [own_user_id, own_user_id.split(":")[0].lstrip("@")] + ([own_name] if own_name else [])
    for name in names:
        if body.lower().startswith(name.lower()):
            rest = body[len(name):]
            if rest[:1] in (":", ",", " ", ""):
                return rest.lstrip(":, ")
    mentions = (content.get("m.mentions") or {}).get("user_ids") or []
    return body if own_user_id in mentions else None


def is_privileged_creator(create_event: Mapping[str, Any] | None, user_id: str) -> bool:
    """From room version 12 on, the room's creators (the create event's sender and its
    `additional_creators`) outrank every power level and are not listed in m.room.power_levels."""
    if not create_event:
        return False
    content = create_event.get("content") or {}
    version = str(content.get("room_version", "1"))
    privileged = (version.isdigit() and int(version) >= 12) or "hydra" in version
    creators = [create_event.get("sender"), *(content.get("additional_creators") or [])]
    return privileged and user_id in creators


def command_reply_content(event: Mapping[str, Any], text: str, formatted: str) -> dict[str, Any]:
    """A notice answering a command, as a reply to it, pinging only who asked."""
    return {
        "msgtype": "m.notice",
        "body": text,
        "format": HTML_FORMAT,
        "formatted_body": formatted,
        "m.relates_to": {"m.in_reply_to": {"event_id": event["event_id"]}},
        "m.mentions": {"user_ids": [event["sender"]]} if event.get("sender") else {},
    }


def replacement_room(event: Mapping[str, Any]) -> str | None:
    """The room that replaces this one, from an upgrade's m.room.tombstone."""
    if event.get("type") != "m.room.tombstone" or event.get("state_key") != "":
        return None
    room = (event.get("content") or {}).get("replacement_room")
    return room if isinstance(room, str) and room else None


def reaction_of(event: Mapping[str, Any]) -> tuple[str, str] | None:
    """(the event reacted to, the reaction's key) for an m.reaction, else None."""
    if event.get("type") != "m.reaction":
        return None
    relates = (event.get("content") or {}).get("m.relates_to") or {}
    target, key = relates.get("event_id"), relates.get("key")
    if relates.get("rel_type") != "m.annotation" or not isinstance(target, str) or not isinstance(key, str):
        return None
    return target, key.replace("\ufe0f", "")  # ⚠️ and ⚠ are one reaction


def redacted_event_id(event: Mapping[str, Any]) -> str | None:
    """The event a redaction removes (top level before room version 11, in content from it on)."""
    if event.get("type") != "m.room.redaction":
        return None
    target = event.get("redacts") or (event.get("content") or {}).get("redacts")
    return target if isinstance(target, str) else None


def _is_edit(content: Mapping[str, Any]) -> bool:
    relates = content.get("m.relates_to")
    return "m.new_content" in content or (isinstance(relates, Mapping) and relates.get("rel_type") == "m.replace")


def _timestamp(milliseconds: Any) -> datetime:
    if isinstance(milliseconds, int) and milliseconds > 0:
        return datetime.fromtimestamp(milliseconds / 1000, timezone.utc)
    return datetime.now(timezone.utc)


def acknowledgements(
    result: IntakeResult, event: Mapping[str, Any], zone: ZoneInfo, *, answering: str | None = None
) -> list[Outgoing]:
    """What the bot sends for a filed message: one reaction per kind of outcome, and a threaded
    reply when someone shared a link again or something went wrong.

    `event` is the message reacted and replied to; `answering` is the id of the event being
    answered when it is another one (an edit of `event`), so that its reply is its own.
    """
    event_id = str(event["event_id"])
    outgoing: list[Outgoing] = []
    # Whether a link was new is read from the store's answer, not from this delivery: a replayed
    # event (after a crash between filing and reacting) gets the same reactions as the first time.
    firsts = [r.filed.first_share.id == r.filed.share.id for r in result.results]
    for key, wanted in ((NEW_LINK_REACTION, any(firsts)), (ALREADY_SHARED_REACTION, not all(firsts))):
        if wanted:
            outgoing.append(Outgoing("m.reaction", reaction_content(event_id, key), txn_id("react", event_id, key)))
    lines = [describe(r, zone) for r in result.results if r.outcome is Outcome.DUPLICATE]
    lines += list(result.problems) + list(result.notes)
    # A replay never repeats the reply: it was owed in the outbox with the filing the first time
    # (and is sent from there, once), and a second one would be a visible duplicate.
    replayed = bool(result.results) and all(r.outcome is Outcome.REPLAYED for r in result.results)
    if lines and not replayed:
        reply_txn = txn_id("reply", answering or event_id)
        outgoing.append(Outgoing("m.room.message", thread_reply_content(event, lines), reply_txn))
    return outgoing


def owed_in(room_id: str, outgoing: list[Outgoing], *, kind: str | None = None) -> list[Owed]:
    """Events to send in a room, as the outbox keeps them: the transaction id is the key; the
    kind is the event's type unless given (OPTED_OUT: forgotten once sent)."""
    return [Owed("matrix", room_id, kind or item.event_type, {"type": item.event_type, "content": item.content},
                 item.txn_id, item.kept) for item in outgoing]


def left_alone(post: Post) -> str | None:
    """Why nothing of this message may be filed, as the one answer says it, or None: #nobot or
    #noindex in the message's own words (MESSAGE_OPTED_OUT) or in its author's display name
    (NAME_OPTED_OUT)."""
    if asks_to_be_left_alone(post.author_name):
        return NAME_OPTED_OUT
    if asks_to_be_left_alone(post.text):
        return MESSAGE_OPTED_OUT
    return None


def reaction_content(event_id: str, key: str) -> dict[str, Any]:
    return {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}


def thread_reply_content(event: Mapping[str, Any], lines: list[str]) -> dict[str, Any]:
    """A notice in the thread of `event` (its own thread if it has none), pinging only its sender."""
    event_id = str(event["event_id"])
    relates = (event.get("content") or {}).get("m.relates_to") or {}
    root = relates.get("event_id") if relates.get("rel_type") == "m.thread" else event_id
    return {
        "msgtype": "m.notice",
        "body": "\n".join(lines),
        "format": HTML_FORMAT,
        "formatted_body": "<br>".join(html.escape(line) for line in lines),
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": event_id},
        },
        # Names in the text (the first sharer) are credits, not pings.
        "m.mentions": {"user_ids": [event["sender"]]} if event.get("sender") else {},
    }


def txn_id(purpose: str, *parts: str) -> str:
    """A transaction id that is the same every time the bot answers the same thing."""
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]
    return f"watchbot.{purpose}.{digest}"


def events_after_own_join(events: list[Mapping[str, Any]], own_user_id: str) -> list[Mapping[str, Any]]:
    """The events of a timeline from the bot's own join on, when the join is in it.

    Joining a room brings its recent history along; what was said before the bot was there is
    not for it to file (as a first start does not replay history).
    """
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if (
            event.get("type") == "m.room.member"
            and event.get("state_key") == own_user_id
            and (event.get("content") or {}).get("membership") == "join"
            and ((event.get("unsigned") or {}).get("prev_content") or {}).get("membership") != "join"
        ):
            return list(events[index + 1 :])
    return list(events)


def inviter_of(invite_state: list[Mapping[str, Any]], own_user_id: str) -> str | None:
    """Who invited us, from the stripped state of an invite."""
    for event in invite_state:
        if (
            event.get("type") == "m.room.member"
            and event.get("state_key") == own_user_id
            and (event.get("content") or {}).get("membership") == "invite"
        ):
            return event.get("sender")
    return None


def invited_as_direct(invite_state: list[Mapping[str, Any]], own_user_id: str) -> bool:
    """Whether an invite is to a direct chat (`is_direct` on the bot's own m.room.member)."""
    return any(
        event.get("type") == "m.room.member" and event.get("state_key") == own_user_id
        and (event.get("content") or {}).get("is_direct") is True
        for event in invite_state
    )


def direct_rooms(m_direct: Mapping[str, Any]) -> set[str]:
    """The room ids of the m.direct account data ({user id: [room ids]})."""
    return {room for rooms in m_direct.values() if isinstance(rooms, list) for room in rooms if isinstance(room, str)}


def with_direct_room(m_direct: Mapping[str, Any], person: str, room_id: str) -> dict[str, Any] | None:
    """The m.direct account data with `room_id` listed as a direct chat with `person` (the Matrix
    spec's shape: {user id: [room ids]}), everything else in it kept as it was; None when the room
    is listed already (nothing to write)."""
    if room_id in direct_rooms(m_direct):
        return None
    listed = m_direct.get(person)
    return {**m_direct, person: [*(listed if isinstance(listed, list) else []), room_id]}


def invite_allowed(inviter: str | None, room_id: str, allowed: list[str]) -> bool:
    """Allowed entries are user ids (@alice:example.org), servers (example.org or :example.org),
    or room ids (!abc:example.org)."""
    if room_id in allowed:
        return True
    if inviter is None:
        return False
    server = inviter.partition(":")[2]
    return any(entry == inviter or entry.lstrip(":") == server for entry in allowed)


def invite_warning(allowed: list[str]) -> str | None:
    """What to say at start about WATCHBOT_MATRIX_ALLOWED_INVITERS, read as invite_allowed reads
    it, when it is not a list of people and rooms: nobody may invite the bot, or a whole server may
    (anyone there could bring the bot into a room of their own, file links into the shared watch
    and its digest, and moderate that room)."""
    if not allowed:
        return ("nobody may invite the bot (WATCHBOT_MATRIX_ALLOWED_INVITERS is empty): it stays in the rooms "
                "it is in and declines every invite")
    servers = [entry.lstrip(":") for entry in allowed if not entry.startswith(("@", "!"))]
    if not servers:
        return None
    return (f"anyone on {', '.join(servers)} may invite the bot (WATCHBOT_MATRIX_ALLOWED_INVITERS), into a room of "
            "their own, where they file links into the shared watch and moderate that room; name people "
            "(@alice:example.org) or rooms (!room:example.org) instead")
