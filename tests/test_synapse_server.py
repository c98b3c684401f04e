"""The throwaway Synapse works with a real Matrix client, never throttles, and leaves nothing behind."""

from __future__ import annotations

import os
import socket
import time
import urllib.error
from pathlib import Path

import pytest

from watchbot.devserver import (
    MatrixUser,
    SynapseServer,
    SynapseServerError,
    _request,
    running_synapse,
    synapse_installed,
)

if not synapse_installed():
    # Same policy as the PostgreSQL tests: a missing server fails, unless told to skip.
    if os.environ.get("WATCHBOT_TEST_MATRIX") == "skip":
        pytest.skip("Matrix tests left out: WATCHBOT_TEST_MATRIX=skip", allow_module_level=True)
    pytest.fail(
        "matrix-synapse is not installed (pip install -e '.[test]'), "
        "or run with WATCHBOT_TEST_MATRIX=skip to leave these tests out",
        pytrace=False,
    )

import nio  # noqa: E402  (after the check: nio comes with the same test extra)

from tests.matrix_helpers import CLIENT_CONFIG, client_for, create_room, wait_for_event  # noqa: E402

#: Seconds a test waits for an event to reach the other user.
DELIVERY_TIMEOUT = 20


def _restored(server: SynapseServer, user: MatrixUser) -> nio.AsyncClient:
    client = nio.AsyncClient(server.url, user.user_id, config=CLIENT_CONFIG)  # 429s are errors
    client.restore_login(user_id=user.user_id, device_id=user.device_id, access_token=user.access_token)
    return client


async def _sync_until(client: nio.AsyncClient, found, what: str):
    """Sync (long-polling) until ``found(sync_response)`` returns something; return it."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        response = await client.sync(timeout=1000)
        assert isinstance(response, nio.SyncResponse), response
        result = found(response)
        if result is not None:
            return result
    raise AssertionError(f"{client.user_id} did not see {what} within {DELIVERY_TIMEOUT} s")


def _timeline_event(room_id: str, predicate):
    def found(response: nio.SyncResponse):
        room = response.rooms.join.get(room_id)
        for event in room.timeline.events if room else ():
            if predicate(event.source):
                return event.source
        return None

    return found


async def test_two_users_exchange_a_message_and_a_reaction(synapse: SynapseServer) -> None:
    alice_user = synapse.register("alice")
    bob_user = synapse.register("bob")
    assert alice_user.user_id == "@alice:localhost"
    assert bob_user.user_id == "@bob:localhost"
    alice, bob = _restored(synapse, alice_user), _restored(synapse, bob_user)
    try:
        created = await alice.room_create(name="links", invite=[bob_user.user_id])
        assert isinstance(created, nio.RoomCreateResponse), created
        room_id = created.room_id

        # Bob is told of the invitation by his sync, then joins.
        await _sync_until(bob, lambda r: True if room_id in r.rooms.invite else None, "the invitation")
        joined = await bob.join(room_id)
        assert isinstance(joined, nio.JoinResponse), joined

        sent = await alice.room_send(
            room_id, "m.room.message", {"msgtype": "m.text", "body": "Look: https://example.org/post"}
        )
        assert isinstance(sent, nio.RoomSendResponse), sent
        message = await _sync_until(
            bob,
            _timeline_event(room_id, lambda e: e["type"] == "m.room.message"),
            "Alice's message",
        )
        assert message["event_id"] == sent.event_id
        assert message["sender"] == alice_user.user_id
        assert message["content"]["body"] == "Look: https://example.org/post"

        relation = {"rel_type": "m.annotation", "event_id": sent.event_id, "key": "👍"}
        reacted = await alice.room_send(room_id, "m.reaction", {"m.relates_to": relation})
        assert isinstance(reacted, nio.RoomSendResponse), reacted
        reaction = await _sync_until(
            bob,
            _timeline_event(room_id, lambda e: e["type"] == "m.reaction"),
            "Alice's reaction",
        )
        assert reaction["event_id"] == reacted.event_id
        assert reaction["sender"] == alice_user.user_id
        assert reaction["content"]["m.relates_to"] == relation
    finally:
        await alice.close()
        await bob.close()


async def test_helpers_create_a_room_and_wait_for_events(synapse: SynapseServer) -> None:
    owner = await client_for(synapse, synapse.register("carol"))
    guest = await client_for(synapse, synapse.register("dave"))
    try:
        assert owner.next_batch and guest.next_batch
        room_id = await create_room(owner, guest)

        first = await owner.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "one"})
        second = await owner.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "two"})
        # Waiting for the later one first: the earlier one stays available (one sync may bring both).
        got_second = await wait_for_event(guest, room_id, lambda e: e.source["content"].get("body") == "two")
        got_first = await wait_for_event(guest, room_id, lambda e: e.source["content"].get("body") == "one")
        assert (got_first.event_id, got_second.event_id) == (first.event_id, second.event_id)
        assert isinstance(got_first, nio.RoomMessageText)

        def joined(event: nio.Event) -> bool:
            source = event.source
            return (
                source["type"] == "m.room.member"
                and source["state_key"] == guest.user_id
                and source["content"]["membership"] == "join"
            )

        membership = await wait_for_event(owner, room_id, joined)
        assert membership.sender == guest.user_id

        with pytest.raises(TimeoutError, match=r"(?s)saw no matching event.*'join @dave:localhost'"):
            await wait_for_event(guest, room_id, lambda e: e.source["type"] == "m.never", timeout=1)
    finally:
        await owner.close()
        await guest.close()


async def test_rate_limits_are_out_of_the_way(synapse: SynapseServer) -> None:
    # Synapse's defaults allow bursts of 10 messages, 10 rooms and 3 logins per account. The
    # clients return a 429 instead of sleeping and retrying (CLIENT_CONFIG), so throttling fails.
    user = synapse.register("eve")
    client = await client_for(synapse, user)
    try:
        for _ in range(12):
            room = await client.room_create()
            assert isinstance(room, nio.RoomCreateResponse), room
        for number in range(15):
            sent = await client.room_send(room.room_id, "m.room.message", {"msgtype": "m.text", "body": str(number)})
            assert isinstance(sent, nio.RoomSendResponse), sent
        for _ in range(5):
            other = nio.AsyncClient(synapse.url, user.user_id, config=CLIENT_CONFIG)
            try:
                login = await other.login(user.password)
                assert isinstance(login, nio.LoginResponse), login
            finally:
                await other.close()
    finally:
        await client.close()


def test_register_gives_a_working_login_and_admin_rights_on_request(synapse: SynapseServer) -> None:
    admin = synapse.register("Root", "correct horse", admin=True)
    plain = synapse.register("frank")
    assert admin.user_id == "@root:localhost"  # Synapse lowercases localparts
    assert admin.password == "correct horse"
    assert len(plain.password) >= 16 and plain.device_id and plain.access_token

    whoami = _request("GET", f"{synapse.url}/_matrix/client/v3/account/whoami?access_token={plain.access_token}")
    assert whoami["user_id"] == plain.user_id
    assert whoami["device_id"] == plain.device_id

    users_api = f"{synapse.url}/_synapse/admin/v2/users/{plain.user_id}?access_token="
    assert _request("GET", users_api + admin.access_token)["admin"] is False
    with pytest.raises(urllib.error.HTTPError) as refused:
        _request("GET", users_api + plain.access_token)
    assert refused.value.code == 403

    with pytest.raises(SynapseServerError, match="M_USER_IN_USE"):
        synapse.register("frank")
    tail = synapse.log_tail(3)
    assert 0 < len(tail.splitlines()) <= 3


def test_server_stops_at_exit_even_when_the_block_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with running_synapse(tmp_path) as server:
            assert server.url == f"http://127.0.0.1:{server.port}"
            assert server.server_name == "localhost"
            assert _request("GET", f"{server.url}/_matrix/client/versions")["versions"]
            raise RuntimeError("boom")

    assert server.process.poll() is not None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
    assert "Shutting down" in server.log_tail() or "Main loop terminated" in server.log_tail()
    for name in ("homeserver.yaml", "homeserver.log", "homeserver.db", "signing.key"):
        assert (tmp_path / name).is_file(), name
