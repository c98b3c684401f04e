"""What a chat room's links are: public (they may be published) or private (never), decided by
the room itself and not by how many people are in it. Pure functions of the room's state.

    direct chat (the invite said is_direct, or m.direct lists it)      -> direct
    history world_readable (anyone reads it without joining)           -> public
    join rule public, knock or knock_restricted, history shared        -> public
    join rule public or knock, history joined or invited               -> private
    join rule invite, restricted, private, or none known               -> private

An operator's choice (`watchbot rooms set`) overrides the state, except for a direct chat.
"""

from __future__ import annotations

from dataclasses import dataclass

from watchbot.model import RoomRecord, Treatment, Visibility

# Anyone may join, or ask to: the room is open to whoever comes.
OPEN_JOIN_RULES = ("public", "knock", "knock_restricted")
# A newcomer reads what was said before they came.
OPEN_HISTORY = ("shared", "world_readable")


@dataclass(frozen=True, slots=True)
class RoomState:
    """What a room's state says about who reads it (Matrix's own names and defaults)."""

    join_rule: str = "invite"
    history_visibility: str = "shared"
    direct: bool = False


def treatment_of(state: RoomState) -> Treatment:
    """How a room's links are filed, by default, from its state."""
    rule, history = state.join_rule, state.history_visibility
    if state.direct:
        return Treatment(Visibility.DIRECT, "a direct chat")
    if history == "world_readable":
        return Treatment(Visibility.PUBLIC, "anyone may read its history without joining")
    if rule in OPEN_JOIN_RULES and history in OPEN_HISTORY:
        how = "join" if rule == "public" else "ask to join"
        return Treatment(Visibility.PUBLIC, f"anyone may {how} (join rule {rule}) and read its history")
    if rule in OPEN_JOIN_RULES:
        return Treatment(Visibility.PRIVATE, f"anyone may join, but its history is kept from newcomers "
                                             f"(history {history})")
    return Treatment(Visibility.PRIVATE, f"only people let in may join (join rule {rule})")


def has_moderators(visibility: Visibility) -> bool:
    """A direct chat has nobody to moderate (its one person is not a room's moderator)."""
    return visibility is not Visibility.DIRECT


def digest_here(room_id: str, visibility: Visibility, *, enabled: bool, rooms_off: list[str],
                review_room: str | None) -> str | None:
    """Why the weekly digest is not posted in a room, or None when it is."""
    if not enabled:
        return "no digest is posted (WATCHBOT_DIGEST_ENABLED=false)"
    if visibility is Visibility.DIRECT:
        return "a direct chat"
    if room_id == review_room:
        return "the review room gets drafts"
    if room_id in rooms_off:
        return "turned off (WATCHBOT_DIGEST_ROOMS_OFF)"
    return None


def join_notice(record: RoomRecord, *, digest_not_here: str | None) -> str:
    """What the bot says when it joins a room (or when the room's treatment changes)."""
    visibility = record.visibility
    if visibility is Visibility.PUBLIC:
        what = ("Links shared here are filed as public: they may reach the weekly digest and the watch's "
                "fediverse account.")
    elif visibility is Visibility.DIRECT:
        what = ("This is a direct chat: links shared here are filed as private. They stay in the store "
                "and are never published.")
    else:
        what = ("Links shared here are filed as private: they stay in the store and are never published, "
                "not in the digest, not on the fediverse.")
    why = f"Why: {record.why}."
    digest = ("The weekly digest is posted here." if digest_not_here is None
              else "The weekly digest is not posted here.")
    if visibility is Visibility.DIRECT:
        return f"{what} {digest}"
    change = "The bot's operator can change this (watchbot rooms set ROOM public|private)"
    change += "." if record.override is not None else ", and the room's admins by changing who may join."
    return f"{what} {why} {digest} {change}"
