"""What the Mastodon adapter will rely on, shown with Mastodon.py against mastodon_mock.

The server comes from tests/mastodon_server.py (a subprocess on 127.0.0.1). Every test makes
its own accounts, so the tests share one server and do not see each other's notifications.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

if importlib.util.find_spec("mastodon") is None or importlib.util.find_spec("mastodon_mock") is None:
    if os.environ.get("WATCHBOT_TEST_MASTODON") == "skip":
        pytest.skip("Mastodon tests left out: WATCHBOT_TEST_MASTODON=skip", allow_module_level=True)
    raise ImportError(
        "Mastodon.py and mastodon_mock are needed for these tests (pip install -e '.[test]'), "
        "or run with WATCHBOT_TEST_MASTODON=skip to leave them out"
    )

from mastodon import Mastodon, StreamListener  # noqa: E402
from mastodon.errors import (  # noqa: E402
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonRatelimitError,
    MastodonServiceUnavailableError,
)

from tests.mastodon_server import MastodonAccount, MastodonServer, MastodonServerError, running_mastodon  # noqa: E402

WAIT = 10.0  # seconds: upper bound for anything that should happen at once


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[MastodonServer]:
    with running_mastodon(tmp_path_factory.mktemp("mastodon")) as started:
        yield started


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def alice(server: MastodonServer) -> MastodonAccount:
    return server.create_account(_name("alice"))


@pytest.fixture
def bot(server: MastodonServer) -> MastodonAccount:
    return server.create_account(_name("watchbot"), bot=True, note="I file the links you mention me with.")


def _ids(items) -> list[str]:
    # Mastodon.py hands ids back as its own str subclass (or int in some nested places): compare as str.
    return [str(item.id) for item in items]


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


# --------------------------------------------------------------------------- accounts


def test_accounts_have_tokens_and_the_bot_flag(server: MastodonServer, alice, bot) -> None:
    me = server.client(bot).account_verify_credentials()
    assert (str(me.id), me.acct, me.username) == (bot.id, bot.acct, bot.username)
    assert me.bot is True
    assert me.note == "I file the links you mention me with."
    assert bot.acct == bot.username  # local accounts: no @domain
    assert server.client(alice).account_verify_credentials().bot is False
    with pytest.raises(MastodonServerError, match="already taken"):
        server.create_account(alice.username)


# --------------------------------------------------------------------------- mentions


def test_a_mention_reaches_the_bot_with_html_mentions_and_tags(server: MastodonServer, alice, bot) -> None:
    posted = server.client(alice).status_post(f"@{bot.username} https://example.com/a #Rust", visibility="public")

    notes = server.client(bot).notifications(types=["mention"])

    assert [n.type for n in notes] == ["mention"]
    note = notes[0]
    assert note.account.acct == alice.acct
    status = note.status
    assert str(status.id) == str(posted.id)
    assert status.account.acct == alice.acct
    assert status.visibility == "public"
    assert status.in_reply_to_id is None
    # The mock's HTML: one <p>, the link as <a href>, mention and hashtag left as plain text.
    assert status.content == (
        f'<p>@{bot.username} <a href="https://example.com/a" rel="nofollow noopener" target="_blank">'
        "https://example.com/a</a> #Rust</p>"
    )
    assert [(str(m.id), m.acct, m.username) for m in status.mentions] == [(bot.id, bot.acct, bot.username)]
    assert [t.name for t in status.tags] == ["rust"]  # the mock lowercases tag names
    assert status.tags[0].url == f"{server.url}/tags/rust"


def test_min_id_returns_only_newer_mentions(server: MastodonServer, alice, bot) -> None:
    a, b = server.client(alice), server.client(bot)
    first = [a.status_post(f"@{bot.username} first {i} https://example.com/{i}") for i in range(3)]
    a.account_follow(bot.id)  # a "follow" notification, left out by types=["mention"]

    page = b.notifications(types=["mention"])
    assert [str(n.status.id) for n in page] == _ids(reversed(first))  # newest first
    assert {n.type for n in b.notifications()} == {"mention", "follow"}
    newest = str(page[0].id)
    assert b.notifications(types=["mention"], min_id=newest) == []

    later = [a.status_post(f"@{bot.username} later {i}") for i in range(2)]

    newer = b.notifications(types=["mention"], min_id=newest)
    assert [str(n.status.id) for n in newer] == _ids(reversed(later))
    assert all(int(n.id) > int(newest) for n in newer)
    assert _ids(b.notifications(types=["mention"], since_id=newest)) == _ids(newer)
    # min_id with a limit gives the page just above the cursor (the oldest newer ones), since_id the newest.
    assert [str(n.status.id) for n in b.notifications(types=["mention"], min_id=newest, limit=1)] == [str(later[0].id)]
    assert [str(n.status.id) for n in b.notifications(types=["mention"], since_id=newest, limit=1)] == [str(later[1].id)]
    # Mastodon.py follows the Link rel="prev" (min_id=<first id of the page>), keeping types[].
    assert _ids(b.fetch_previous(page)) == _ids(newer)
    older = b.notifications(types=["mention"], max_id=newest, limit=1)
    assert [str(n.status.id) for n in older] == [str(first[1].id)]


def test_a_reply_is_unlisted_threaded_and_posted_once_per_idempotency_key(
    server: MastodonServer, alice, bot
) -> None:
    a, b = server.client(alice), server.client(bot)
    mention = a.status_post(f"@{bot.username} https://example.com/a #Rust")
    text = f"@{alice.username} filed https://example.com/a under #rust"
    key = f"watchbot-reply-{mention.id}"

    first = b.status_post(text, in_reply_to_id=mention.id, visibility="unlisted", idempotency_key=key)
    again = b.status_post(text, in_reply_to_id=mention.id, visibility="unlisted", idempotency_key=key)

    assert str(again.id) == str(first.id)
    assert str(first.in_reply_to_id) == str(mention.id)
    assert str(first.in_reply_to_account_id) == alice.id
    assert first.visibility == "unlisted"
    assert _ids(b.account_statuses(bot.id)) == [str(first.id)]
    assert _ids(a.status_context(mention.id).descendants) == [str(first.id)]
    assert [str(n.status.id) for n in a.notifications(types=["mention"])] == [str(first.id)]
    # The key is the bot's: a new key is a new status.
    other = b.status_post(text, in_reply_to_id=mention.id, visibility="unlisted", idempotency_key=key + "-b")
    assert str(other.id) != str(first.id)


def test_a_private_mention_is_held_back_when_the_policy_filters_it(server: MastodonServer, alice, bot) -> None:
    a, b = server.client(alice), server.client(bot)
    # The mock's default accepts everything; Mastodon's filters private mentions from strangers.
    assert b.notifications_policy().for_private_mentions == "accept"
    b.update_notifications_policy(for_private_mentions="filter")

    dm = a.status_post(f"@{bot.username} https://example.com/dm", visibility="direct")

    assert b.notifications(types=["mention"]) == []
    requests = b.notification_requests()
    assert [r.account.acct for r in requests] == [alice.acct]
    b.accept_notification_request(requests[0].id)
    accepted = b.notifications(types=["mention"])
    assert [(str(n.status.id), n.status.visibility) for n in accepted] == [(str(dm.id), "direct")]


# --------------------------------------------------------------------------- streaming


class _Collector(StreamListener):
    def __init__(self) -> None:
        super().__init__()
        self.connected = threading.Event()
        self.notifications: queue.Queue = queue.Queue()

    def handle_heartbeat(self) -> None:
        # SSE comments: the mock's ":connected" opener, then ":thump" every heartbeat.
        # The first one means the server has subscribed this stream: nothing posted now is lost.
        self.connected.set()

    def on_notification(self, notification) -> None:
        self.notifications.put(notification)


def test_the_user_stream_delivers_a_mention(server: MastodonServer, alice, bot) -> None:
    listener = _Collector()
    handle = server.client(bot).stream_user(listener, run_async=True, timeout=WAIT)
    try:
        assert listener.connected.wait(WAIT), f"stream did not connect\n{server.log_tail()}"
        posted = server.client(alice).status_post(f"@{bot.username} https://example.com/s #Go")

        note = listener.notifications.get(timeout=WAIT)

        assert note.type == "mention"
        assert str(note.status.id) == str(posted.id)
        assert [t.name for t in note.status.tags] == ["go"]
        assert [m.acct for m in note.status.mentions] == [bot.acct]
    finally:
        handle.close()


def test_the_user_stream_wire_format(server: MastodonServer, alice, bot) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
    try:
        connection.request("GET", "/api/v1/streaming/user", headers={"Authorization": f"Bearer {bot.access_token}"})
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type").startswith("text/event-stream")
        assert response.readline() == b":connected\n"  # then a blank line; no id: lines, so no resuming

        posted = server.client(alice).status_post(f"@{bot.username} https://example.com/w")

        event, payload, deadline = None, None, time.monotonic() + WAIT
        while payload is None:
            assert time.monotonic() < deadline, "no notification event on the stream"
            line = response.readline().decode().rstrip("\n")  # ":thump" comments come every second
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "notification":
                payload = json.loads(line.removeprefix("data: "))
        assert payload["type"] == "mention"
        assert payload["status"]["id"] == str(posted.id)
        assert payload["status"]["mentions"][0]["acct"] == bot.acct
    finally:
        connection.close()


# --------------------------------------------------------------------------- faults


def test_a_ratelimit_fault_raises_under_throw_with_the_reset_time(server: MastodonServer, bot) -> None:
    client = server.client(bot)  # ratelimit_method="throw"
    fault = server.inject_fault("ratelimit", path="/api/v1/notifications")
    before = time.time()

    with pytest.raises(MastodonRatelimitError, match="Hit rate limit"):
        client.notifications(types=["mention"])

    # Not an API error: "except MastodonAPIError" does not catch it, and it carries no status.
    assert not issubclass(MastodonRatelimitError, MastodonAPIError)
    assert issubclass(MastodonRatelimitError, MastodonError)
    # Mastodon.py keeps the headers' word on the client: reset is epoch seconds (local clock).
    assert client.ratelimit_remaining == 0
    assert client.ratelimit_limit == 300
    assert before + 250 < client.ratelimit_reset < before + 350
    assert fault not in [f["id"] for f in server.faults()]  # used up
    assert client.notifications(types=["mention"]) == []  # the next request goes through


def test_a_bare_429_leaves_no_reset_time(server: MastodonServer, bot) -> None:
    client = server.client(bot)
    server.inject_fault("status", status=429, path="/api/v1/notifications")

    with pytest.raises(MastodonRatelimitError):
        client.notifications()

    assert client.ratelimit_reset is None  # the adapter must pick its own back-off


def test_a_503_is_a_server_error_and_the_retry_posts_once(server: MastodonServer, bot) -> None:
    client = server.client(bot)
    server.inject_fault("status", path="/api/v1/statuses", methods=["POST"], times=2)

    for _ in range(2):
        with pytest.raises(MastodonServiceUnavailableError) as failure:
            client.status_post("retry me", idempotency_key="retry-503")
        assert failure.value.args[1] == 503
    posted = client.status_post("retry me", idempotency_key="retry-503")

    assert _ids(client.account_statuses(bot.id)) == [str(posted.id)]


def test_a_delay_past_the_client_timeout_is_a_network_error_and_writes_nothing(
    server: MastodonServer, bot
) -> None:
    impatient = server.client(bot, request_timeout=0.5)
    server.inject_fault("delay", delay=1.5, path="/api/v1/statuses", methods=["POST"])
    lost_before = server.log_tail(10_000).count("ClientDisconnect")

    with pytest.raises(MastodonNetworkError, match="timed out"):
        impatient.status_post("slow", idempotency_key="slow-1")

    # The held request reaches the API after the client left, fails to read its body, writes nothing.
    _wait_for(lambda: server.log_tail(10_000).count("ClientDisconnect") > lost_before, "the held request to end")
    assert server.client(bot).account_statuses(bot.id) == []


def test_malformed_json_and_fault_bookkeeping(server: MastodonServer, bot) -> None:
    client = server.client(bot)
    server.inject_fault("malformed", path="/api/v1/notifications")
    with pytest.raises(MastodonAPIError, match="Could not parse response as JSON"):
        client.notifications()

    hang = server.inject_fault("hang", path="/api/v1/nowhere", times=None)
    listed = {f["id"]: f for f in server.faults()}
    assert listed[hang]["remaining"] is None
    assert listed[hang]["effect"]["type"] == "timeout"
    server.remove_fault(hang)
    assert hang not in [f["id"] for f in server.faults()]
    with pytest.raises(ValueError, match="unknown fault kind"):
        server.inject_fault("teapot")


# --------------------------------------------------------------------------- instance


def test_instance_limits_and_the_mocks_raw_length_check(server: MastodonServer, alice) -> None:
    client = server.client(alice)
    v2 = client.instance_v2()
    assert v2.configuration.statuses.max_characters == 500
    assert v2.configuration.statuses.characters_reserved_per_url == 23
    v1 = client.instance_v1()
    assert v1.configuration.statuses.max_characters == 500
    assert v1.urls.streaming_api == f"ws://127.0.0.1:{server.port}"

    # 551 characters as typed, 474 as Mastodon counts them (a URL counts 23): Mastodon takes it,
    # the mock refuses it, since it counts the raw length. Replies must stay within 500 as typed.
    text = "x" * 450 + " https://example.com/" + "y" * 80
    assert len(text) == 551
    with pytest.raises(MastodonAPIError, match="too long") as failure:
        client.status_post(text)
    assert failure.value.args[1] == 422


# --------------------------------------------------------------------------- lifecycle


def test_rate_limit_headers_when_enabled_and_nothing_left_running(tmp_path: Path) -> None:
    with running_mastodon(tmp_path / "limited", rate_limit=(3, 300)) as limited:
        account = limited.create_account("carol")  # one request with carol's token
        client = limited.client(account)
        client.account_verify_credentials()
        assert (client.ratelimit_limit, client.ratelimit_remaining) == (3, 1)
        client.account_verify_credentials()
        with pytest.raises(MastodonRatelimitError):
            client.account_verify_credentials()
        assert client.ratelimit_reset > time.time()
        process, port = limited.process, limited.port
        assert "GET /api/v1/accounts/verify_credentials" in limited.log_tail()

    assert process.poll() is not None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert list((tmp_path / "limited" / "tmp").iterdir()) == []  # its temp files stay in base_dir/tmp


def test_a_client_for_an_unknown_token_is_refused(server: MastodonServer) -> None:
    stranger = Mastodon(api_base_url=server.url, access_token="not-a-token", ratelimit_method="throw")
    with pytest.raises(MastodonAPIError) as failure:
        stranger.account_verify_credentials()
    assert failure.value.args[1] == 401
