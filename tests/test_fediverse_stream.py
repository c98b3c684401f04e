"""Mastodon's streaming API over WebSocket (watchbot.networks.fediverse.stream), against
mastodon_mock, the stand-in for a Mastodon server: it speaks Mastodon's WebSocket frames at
/api/v1/streaming. A server restart and a dead connection are played on a private mock of our
own (SIGTERM, SIGSTOP), never on the shared one."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import aiohttp
import pytest

from tests.mastodon_server import MastodonServer, running_mastodon
from watchbot.networks.fediverse.stream import (
    StreamUnavailable,
    follow_websocket,
    is_mention_frame,
    streaming_base,
)
from watchbot.processes import free_port

WAIT = 5.0  # seconds: the longest any event here should take to arrive


def name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


async def get_json(url: str) -> dict:
    async with aiohttp.ClientSession(trust_env=False) as session, session.get(url) as response:
        response.raise_for_status()
        return await response.json()


async def base_of(server: MastodonServer) -> str:
    """What a client finds: the streaming URL the instance advertises."""
    v2 = await get_json(f"{server.url}/api/v2/instance")
    v1 = await get_json(f"{server.url}/api/v1/instance")
    return streaming_base(v2, v1, server.url)


async def let_go(client) -> None:
    """mastodon_mock's WebSocket handler never reads, so it misses a client's close: it only ends
    when its next event fails to send, and a stop of the server waits for it. Send it one."""
    await asyncio.to_thread(client.status_post, "(end of test)", visibility="private")


async def until(check, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}")
        await asyncio.sleep(0.02)


class Following:
    """follow_websocket running as a task, counting the mentions it reports."""

    def __init__(self, base: str, token: str, **kwargs) -> None:
        self.mentions = 0
        self.opened = asyncio.Event()
        self.task = asyncio.create_task(follow_websocket(
            base, token, self._mention, on_open=self.opened.set, **kwargs))

    def _mention(self) -> None:
        self.mentions += 1

    async def open(self) -> Following:
        opening = asyncio.create_task(self.opened.wait())
        await asyncio.wait([opening, self.task], timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
        opening.cancel()
        if self.task.done():
            self.task.result()  # raises what it raised
        assert self.opened.is_set(), "the stream did not open"
        return self

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def token_nowhere(token: str, error: BaseException, caplog) -> None:
    """Not in the message, the repr, the chain of causes, the traceback, nor any log record."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    for each in seen:
        assert token not in str(each) and token not in repr(each) and token not in repr(each.args)
    assert token not in "".join(traceback.format_exception(error))
    assert token not in caplog.text
    assert all(token not in record.getMessage() for record in caplog.records)


# --------------------------------------------------------------------------- against the mock


async def test_a_mention_wakes_and_nothing_else_does(mastodon_server: MastodonServer, caplog):
    caplog.set_level(logging.DEBUG)
    server = mastodon_server
    bot = server.create_account(name("watch"), bot=True)
    alice = server.create_account(name("alice"))
    bot_client, alice_client = server.client(bot), server.client(alice)
    await asyncio.to_thread(bot_client.account_follow, alice.id)  # alice's posts reach its home
    base = await base_of(server)

    # Every frame the bot's own connection receives, in order. follow_websocket handles a frame
    # as soon as receive() returns it, without awaiting anything: whenever this test looks, the
    # frames recorded have been handled.
    frames: list[tuple[str, str | None]] = []

    class Recording(aiohttp.ClientWebSocketResponse):
        async def receive(self, timeout: float | None = None) -> aiohttp.WSMessage:
            message = await super().receive(timeout)
            if message.type is aiohttp.WSMsgType.TEXT:
                frame = json.loads(message.data)
                payload = frame.get("payload")
                kind = json.loads(payload).get("type") if frame["event"] == "notification" else None
                frames.append((frame["event"], kind))
            return message

    async with aiohttp.ClientSession(trust_env=False, ws_response_class=Recording) as session:
        following = await Following(base, bot.access_token, session=session).open()
        try:
            own = await asyncio.to_thread(bot_client.status_post, "the bot's own post")
            await asyncio.to_thread(alice_client.status_favourite, own["id"])
            await asyncio.to_thread(alice_client.account_follow, bot.id)
            other = await asyncio.to_thread(alice_client.status_post, "nothing for the bot here")
            await asyncio.to_thread(alice_client.status_delete, other["id"])
            await asyncio.to_thread(alice_client.status_post, f"@{bot.username} https://example.org/")
            await until(lambda: ("notification", "mention") in frames, "the mention to reach the bot")
            # The other events went by on the bot's stream before it, and woke nothing.
            assert {("update", None), ("notification", "favourite"), ("notification", "follow"),
                    ("delete", None)} <= set(frames)
            assert following.mentions == frames.count(("notification", "mention")) == 1
            assert not following.task.done()

            await asyncio.to_thread(alice_client.status_post, f"@{bot.username} again", visibility="direct")
            await until(lambda: frames.count(("notification", "mention")) == 2, "a direct mention")
            assert following.mentions == 2
        finally:
            await following.stop()
    await let_go(bot_client)
    assert "Mastodon streaming: following" in caplog.text
    assert bot.access_token not in caplog.text


async def test_the_advertised_streaming_url_is_used(mastodon_server: MastodonServer):
    server = mastodon_server
    v2 = await get_json(f"{server.url}/api/v2/instance")
    v1 = await get_json(f"{server.url}/api/v1/instance")
    advertised = v2["configuration"]["urls"]["streaming"]
    assert advertised.startswith("ws://") and v1["urls"]["streaming_api"] == advertised
    # Taken from the instance documents, not from the API's URL.
    base = streaming_base(v2, v1, "https://elsewhere.invalid")
    assert base == advertised.rstrip("/")
    assert streaming_base(None, v1, "https://elsewhere.invalid") == base

    bot = server.create_account(name("watch"))
    alice = server.create_account(name("alice"))
    following = await Following(base, bot.access_token).open()
    try:
        await asyncio.to_thread(server.client(alice).status_post, f"@{bot.username} hello")
        await until(lambda: following.mentions == 1, "the mention")
    finally:
        await following.stop()
        await let_go(server.client(bot))


async def test_a_bad_token_is_refused_without_showing_it(mastodon_server: MastodonServer, caplog):
    caplog.set_level(logging.DEBUG)
    token = "secret" + uuid.uuid4().hex
    base = await base_of(mastodon_server)
    with pytest.raises(StreamUnavailable) as refused:
        await follow_websocket(base, token, lambda: None)
    assert "HTTP 403" in str(refused.value)  # mastodon_mock says 403 where Mastodon says 401
    assert refused.value.status == 403
    assert f"{base}/api/v1/streaming" in str(refused.value)  # where, without the query
    token_nowhere(token, refused.value, caplog)


async def test_no_streaming_there_is_refused_without_showing_the_token(mastodon_server: MastodonServer, caplog):
    caplog.set_level(logging.DEBUG)
    bot = mastodon_server.create_account(name("watch"))
    base = await base_of(mastodon_server)
    with pytest.raises(StreamUnavailable) as refused:
        await follow_websocket(f"{base}/not-here", bot.access_token, lambda: None)
    # Mastodon behind its proxy says 404; mastodon_mock (Starlette) refuses any unknown
    # WebSocket path with 403.
    assert "HTTP 404" in str(refused.value) or "HTTP 403" in str(refused.value)
    token_nowhere(bot.access_token, refused.value, caplog)


async def test_a_closed_port_is_unavailable_without_showing_the_token(caplog):
    caplog.set_level(logging.DEBUG)
    token = "secret" + uuid.uuid4().hex
    port = free_port()  # nobody listens there
    with pytest.raises(StreamUnavailable) as refused:
        await follow_websocket(f"ws://127.0.0.1:{port}", token, lambda: None)
    assert f"127.0.0.1:{port}" in str(refused.value) and "cannot connect" in str(refused.value)
    assert refused.value.status is None
    token_nowhere(token, refused.value, caplog)


@pytest.fixture(scope="module")
def own_mastodons(tmp_path_factory) -> Iterator[Callable[[], MastodonServer]]:
    """Private mastodon_mocks, for tests that pause or stop them: the running one, or a new one
    when the last was stopped. All killed at the end (our own children, by their handles)."""
    servers: list[MastodonServer] = []
    with ExitStack() as stack:
        def running() -> MastodonServer:
            if not servers or servers[-1].process.poll() is not None:
                servers.append(stack.enter_context(running_mastodon(tmp_path_factory.mktemp("mastodon"))))
            return servers[-1]
        try:
            yield running
        finally:
            for server in servers:  # their WebSocket handlers linger: no point waiting for them
                if server.process.poll() is None:
                    server.process.kill()
                    server.process.wait()


async def test_a_dead_connection_is_noticed_by_the_heartbeat(own_mastodons, caplog):
    caplog.set_level(logging.DEBUG, logger="watchbot.networks.fediverse.stream")
    server = own_mastodons()
    bot = server.create_account(name("watch"))
    following = await Following(await base_of(server), bot.access_token, heartbeat=0.3).open()
    await asyncio.sleep(1.0)  # quiet for three heartbeats (the behaviour under test): pings go out
    assert not following.task.done()  # and are answered: alive
    server.process.send_signal(signal.SIGSTOP)  # still connected, but answers nothing
    try:
        await asyncio.wait_for(following.task, WAIT)  # returns, raises nothing
    finally:
        server.process.send_signal(signal.SIGCONT)
    # Noticed by the heartbeat (a ping unanswered), nothing else: no close frame could come.
    assert "connection lost (ServerTimeoutError)" in caplog.text


async def test_the_server_closing_the_stream_ends_it(own_mastodons):
    server = own_mastodons()
    bot = server.create_account(name("watch"))
    following = await Following(await base_of(server), bot.access_token).open()
    server.process.send_signal(signal.SIGTERM)  # uvicorn closes its WebSockets (1012) as it stops
    await asyncio.wait_for(following.task, WAIT)  # returns, raises nothing
    assert following.mentions == 0


# --------------------------------------------------------------------------- pure


@pytest.mark.parametrize(("v2", "v1", "api", "expected"), [
    # The instance's own word first: v2, then v1.
    ({"configuration": {"urls": {"streaming": "wss://streaming.example.org"}}},
     {"urls": {"streaming_api": "wss://v1.example.org"}}, "https://example.org", "wss://streaming.example.org"),
    (None, {"urls": {"streaming_api": "wss://v1.example.org/"}}, "https://example.org", "wss://v1.example.org"),
    ({"configuration": {"urls": {}}}, {"urls": {"streaming_api": "ws://v1.example.org:4000"}},
     "https://example.org", "ws://v1.example.org:4000"),
    # http(s) turned into ws(s); a path kept (Mastodon's web client appends to it), no trailing slash.
    ({"configuration": {"urls": {"streaming": "https://example.org/stream/"}}}, None, "https://x.org",
     "wss://example.org/stream"),
    ({"configuration": {"urls": {"streaming": "http://127.0.0.1:3000"}}}, None, "https://x.org",
     "ws://127.0.0.1:3000"),
    ({"configuration": {"urls": {"streaming": "WSS://Example.org"}}}, None, "https://x.org", "wss://Example.org"),
    # Nothing usable advertised: the API's own host.
    (None, None, "https://example.org/", "wss://example.org"),
    (None, None, "http://127.0.0.1:8080", "ws://127.0.0.1:8080"),
    (None, None, "example.org", "wss://example.org"),
    ({}, {}, "https://example.org/some/path?q=1", "wss://example.org"),
    ({"configuration": {"urls": {"streaming": None}}}, {"urls": {"streaming_api": ""}},
     "https://example.org", "wss://example.org"),
    ({"configuration": {"urls": {"streaming": 42}}}, {"urls": {"streaming_api": "ftp://example.org"}},
     "https://example.org", "wss://example.org"),
    ({"configuration": None}, {"urls": ["wss://nope"]}, "https://example.org", "wss://example.org"),
    ({"configuration": {"urls": {"streaming": "wss://"}}}, None, "https://example.org", "wss://example.org"),
])
def test_streaming_base(v2, v1, api, expected):
    assert streaming_base(v2, v1, api) == expected


def test_streaming_base_needs_a_server_url():
    with pytest.raises(ValueError):
        streaming_base(None, None, "ftp://example.org")


def frame(event: str, payload=None, **extra) -> str:
    body = {"stream": ["user"], "event": event, **extra}
    if payload is not None:
        body["payload"] = payload
    return json.dumps(body)


def notification(kind: str) -> str:
    return json.dumps({"id": "1", "type": kind, "account": {"id": "2"}, "status": {"id": "3"}})


@pytest.mark.parametrize(("text", "expected"), [
    (frame("notification", notification("mention")), True),
    (frame("notification", notification("mention"), stream=["user:notification"]), True),
    (frame("notification", notification("favourite")), False),
    (frame("notification", notification("follow")), False),
    (frame("notification", notification("reblog")), False),
    (frame("notification", notification("status")), False),
    (frame("update", json.dumps({"id": "3", "content": "@watch hi", "type": "mention"})), False),
    (frame("status.update", json.dumps({"id": "3"})), False),
    (frame("delete", "106692867363994015"), False),
    (frame("filters_changed"), False),  # no payload at all on WebSocket
    (frame("notifications_merged", "{}"), False),
    # Malformed.
    (frame("notification", json.loads(notification("mention"))), False),  # payload not a string
    (frame("notification", "{not json"), False),
    (frame("notification", "[1, 2]"), False),
    (frame("notification", '"mention"'), False),
    (frame("notification", json.dumps({"type": ["mention"]})), False),
    (frame("notification"), False),
    (json.dumps({"event": "notification", "payload": None}), False),
    (json.dumps(["notification", notification("mention")]), False),
    (json.dumps({"error": "Unknown stream type", "status": 400}), False),
    ("", False),
    ("{", False),
    ("null", False),
    ("not json at all", False),
    ('{"event": "notification", "payload": "' + "[" * 100_000 + '"}', False),  # too deep to parse
])
def test_is_mention_frame(text, expected):
    assert is_mention_frame(text) is expected


@pytest.mark.parametrize("odd", [None, b'{"event": "notification"}', 42, object()])
def test_is_mention_frame_never_raises(odd):
    assert is_mention_frame(odd) is False
