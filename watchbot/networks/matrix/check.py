"""`watchbot check --online` for Matrix: log in with the configured token and say what the bot can do.

Every answer is one line. A problem (refused token, unreachable homeserver, a room where the bot
may not speak) is a line the operator can act on; the rest is what a person wants to know before
starting the bot (who am I, in which rooms, who may invite me).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nio import AsyncClient, AsyncClientConfig, JoinedRoomsResponse, RoomGetStateEventResponse, WhoamiResponse

from watchbot.networks.matrix.events import invite_warning

CHECK_TIMEOUT = 15  # seconds per request: a check answers, it does not wait out an outage


@dataclass(frozen=True, slots=True)
class MatrixCheckOptions:
    """What the check needs to know from the settings: the bot's account, and who may invite it."""

    homeserver: str
    user_id: str
    access_token: str = field(repr=False)
    device_id: str | None = None
    allowed_inviters: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings) -> MatrixCheckOptions:
        return cls(settings.matrix_homeserver, settings.matrix_user_id,
                   settings.matrix_access_token.get_secret_value(), settings.matrix_device_id,
                   tuple(settings.matrix_allowed_inviters))


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)


async def check_matrix(options: MatrixCheckOptions) -> Findings:
    found = Findings()
    homeserver = options.homeserver
    config = AsyncClientConfig(max_timeouts=0, max_limit_exceeded=0, request_timeout=CHECK_TIMEOUT)
    client = AsyncClient(homeserver, options.user_id, device_id=options.device_id or "", config=config)
    client.access_token = options.access_token
    try:
        try:
            me = await client.whoami()
        except Exception as error:  # noqa: BLE001 -- any way of not reaching it is one line
            found.problems.append(f"Matrix: cannot reach {homeserver} ({_why(error)}); check WATCHBOT_MATRIX_HOMESERVER")
            return found
        if not isinstance(me, WhoamiResponse):
            if getattr(me, "status_code", None) in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
                found.problems.append(f"Matrix: {homeserver} refused the access token ({me.message}); "
                                      "log in again with `watchbot login matrix`")
            else:
                found.problems.append(f"Matrix: {homeserver} did not say who the bot is ({me.message})")
            return found
        if me.user_id != options.user_id:
            found.problems.append(f"Matrix: the access token is {me.user_id}'s, not {options.user_id}'s; "
                                  "log in again with `watchbot login matrix`")
        found.facts.append(f"Matrix: logged in as {me.user_id} on {homeserver}"
                           + (f", device {me.device_id}" if me.device_id else ""))
        await _check_rooms(client, me.user_id, found)
        warning = invite_warning(options.allowed_inviters)
        found.facts.append(f"Matrix: {warning}" if warning else
                           f"Matrix: may be invited by {', '.join(options.allowed_inviters)}")
    finally:
        await client.close()
    return found


async def _check_rooms(client: AsyncClient, user_id: str, found: Findings) -> None:
    joined = await client.joined_rooms()
    if not isinstance(joined, JoinedRoomsResponse):
        found.problems.append(f"Matrix: could not list the bot's rooms ({joined.message})")
        return
    mute = []
    for room_id in joined.rooms:
        levels = await client.room_get_state_event(room_id, "m.room.power_levels")
        if isinstance(levels, RoomGetStateEventResponse) and not may_send_messages(levels.content, user_id):
            mute.append(room_id)
    found.facts.append(f"Matrix: in {len(joined.rooms)} room(s)")
    for room_id in mute:
        found.problems.append(f"Matrix: the bot may not send messages in {room_id} (its power level is too low); "
                              "give it the level the room asks for messages there, or remove it")


def may_send_messages(power_levels: dict, user_id: str) -> bool:
    """Whether a user may send m.room.message in a room with these power levels (the spec's rule:
    the user's level, or users_default, against the event's level, or events_default)."""
    def level(value, default: int) -> int:
        return value if isinstance(value, int) else default

    users = power_levels.get("users") if isinstance(power_levels.get("users"), dict) else {}
    events = power_levels.get("events") if isinstance(power_levels.get("events"), dict) else {}
    mine = level(users.get(user_id), level(power_levels.get("users_default"), 0))
    needed = level(events.get("m.room.message"), level(power_levels.get("events_default"), 0))
    return mine >= needed


def _why(error: BaseException) -> str:
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__
