"""Small matrix-nio helpers for tests that talk to the throwaway Synapse of ``watchbot/devserver.py``.

    alice = await client_for(server, server.register("alice"))
    bob = await client_for(server, server.register("bob"))
    room_id = await create_room(alice, bob)
    await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hi"})
    event = await wait_for_event(bob, room_id, lambda e: e.source["content"].get("body") == "hi")

How waiting works: every client made by :func:`client_for` records, from its first sync on, each
timeline event of its joined rooms (whoever runs the sync) in a per-room backlog.
:func:`wait_for_event` first looks in that backlog, then syncs (long-polling, no sleeps) until a
matching event arrives, and removes the event it returns from the backlog. So two waits in a row
find two events even if one sync delivered both, and an event that arrived before the wait began
is found too. Do not call it on a client that another task keeps syncing (``sync_forever``): two
syncs on one client would race for its ``next_batch``.

Callers must ``await client.close()`` (the aiohttp session) when done.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import nio

if TYPE_CHECKING:
    from watchbot.devserver import MatrixUser, SynapseServer

__all__ = ["client_for", "create_room", "describe_event", "wait_for_event"]

#: Long-poll length of one sync in wait_for_event, in seconds (bounded by what time is left).
_SYNC_SLICE = 5.0
#: No silent retries: nio by default sleeps and retries on 429 (M_LIMIT_EXCEEDED) and on
#: connection errors forever, which would hide throttling and hang a test when the server dies.
#: With this config such a request returns its error response (429) or raises (connection).
CLIENT_CONFIG = nio.AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0)
#: Unreturned events kept per room; older ones are dropped (a test never needs more).
_BACKLOG_LIMIT = 1000

# client -> room_id -> events seen in that room's timeline and not yet returned by wait_for_event.
_backlogs: weakref.WeakKeyDictionary[nio.AsyncClient, dict[str, list[Any]]] = weakref.WeakKeyDictionary()


def _backlog(client: nio.AsyncClient) -> dict[str, list[Any]]:
    """The client's backlog, installing the recording callback on first use."""
    rooms = _backlogs.get(client)
    if rooms is None:
        rooms = _backlogs[client] = {}

        async def record(room: nio.MatrixRoom, event: Any) -> None:
            # nio also runs event callbacks for the stripped state of invites: not a timeline.
            if isinstance(room, nio.MatrixInvitedRoom):
                return
            events = rooms.setdefault(room.room_id, [])
            events.append(event)
            del events[:-_BACKLOG_LIMIT]

        # Unparsable events (BadEvent) are timeline events too, and have a .source like the others.
        client.add_event_callback(record, (nio.Event, nio.BadEvent, nio.UnknownBadEvent))  # type: ignore[arg-type]
    return rooms


def describe_event(event: Any) -> str:
    """One line for an nio event or a raw event dict: type, sender and body or relation."""
    source = getattr(event, "source", event)
    if not isinstance(source, dict):
        return repr(event)
    content = source.get("content") or {}
    detail = content.get("body")
    if detail is None and "m.relates_to" in content:
        detail = content["m.relates_to"]
    if detail is None and "membership" in content:
        detail = f"{content['membership']} {source.get('state_key')}"
    return f"{source.get('type')} from {source.get('sender')} ({source.get('event_id')}): {detail!r}"


async def client_for(server: SynapseServer, user: MatrixUser) -> nio.AsyncClient:
    """An AsyncClient logged in as ``user`` (its token and device), after a first sync.

    It uses CLIENT_CONFIG: a rate-limited request returns its 429 error response at once.

    After it, ``client.next_batch`` is set and ``client.rooms`` holds the user's joined rooms.
    """
    client = nio.AsyncClient(server.url, user.user_id, config=CLIENT_CONFIG)
    client.restore_login(user_id=user.user_id, device_id=user.device_id, access_token=user.access_token)
    _backlog(client)
    try:
        response = await client.sync(timeout=0)
        if not isinstance(response, nio.SyncResponse):
            raise RuntimeError(f"first sync of {user.user_id} failed: {response}")
    except BaseException:
        await client.close()
        raise
    return client


async def wait_for_event(
    client: nio.AsyncClient,
    room_id: str,
    predicate: Callable[[nio.Event], bool],
    timeout: float = 20,
) -> nio.Event:
    """The first event of ``room_id``'s timeline, as ``client`` sees it, for which ``predicate`` is true.

    ``predicate`` receives nio events (``event.source`` is the raw event dict, so
    ``lambda e: e.source["type"] == "m.reaction"`` works for any type). Events seen earlier by
    this client's syncs and not yet returned count (see the module doc). Raises TimeoutError
    after ``timeout`` seconds, listing the events seen in that room.
    """
    rooms = _backlog(client)
    checked = 0  # rooms[room_id][:checked] did not match
    deadline = time.monotonic() + timeout
    while True:
        events = rooms.get(room_id, [])
        for index in range(checked, len(events)):
            if predicate(events[index]):
                return events.pop(index)
        checked = len(events)

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            seen = "\n".join(f"  {describe_event(event)}" for event in events) or "  (nothing)"
            raise TimeoutError(
                f"{client.user_id} saw no matching event in {room_id} within {timeout:g} s; "
                f"unreturned events seen in that room:\n{seen}"
            )
        poll = min(remaining, _SYNC_SLICE)
        # Bounded even for clients that retry forever on connection errors (nio's default).
        async with asyncio.timeout(poll + 15):
            response = await client.sync(timeout=max(1, int(poll * 1000)))
        if not isinstance(response, nio.SyncResponse):
            raise RuntimeError(f"sync of {client.user_id} failed: {response}")


async def create_room(owner_client: nio.AsyncClient, *invitees_clients: nio.AsyncClient, encrypted: bool = False,
                      preset: nio.RoomPreset | None = None) -> str:
    """Create a room owned by ``owner_client``'s user, invite and join each invitee; return its id.

    Without ``preset`` the room is invite-only (Synapse's private_chat); ``nio.RoomPreset.public_chat``
    makes it public (anyone may join, history shared). ``encrypted`` adds ``m.room.encryption``
    (megolm) to the initial state; reading such a room needs matrix-nio's e2e extra (python-olm).
    """
    initial_state: list[dict[str, Any]] = []
    if encrypted:
        initial_state.append(
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
        )
    created = await owner_client.room_create(
        invite=[invitee.user_id for invitee in invitees_clients],
        initial_state=initial_state,
        preset=preset,
    )
    if not isinstance(created, nio.RoomCreateResponse):
        raise RuntimeError(f"{owner_client.user_id} could not create a room: {created}")
    for invitee in invitees_clients:
        joined = await invitee.join(created.room_id)
        if not isinstance(joined, nio.JoinResponse):
            raise RuntimeError(f"{invitee.user_id} could not join {created.room_id}: {joined}")
    return created.room_id
