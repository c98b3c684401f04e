"""The Mastodon adapter failing loudly and keeping what it owes, against mastodon_mock: a refused
token stops the network with one line (and `watchbot status` says it), a server out of reach is
said in one line per try and stopping then prints no traceback, an answer that can never be sent
is kept as failed for the operator."""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
import urllib.request

import pytest
from click.testing import CliRunner

from tests.test_fediverse_bot import Scene, favourited_by, post, until
from watchbot.cli import cli
from watchbot.config import Settings
from watchbot.intake import Rules
from watchbot.networks.fediverse import CURSOR, FediverseAdapter
from watchbot.processes import free_port
from watchbot.store import Store
from watchbot.store.cursors import CursorStore
from watchbot.store.outbox import OutboxStore


@pytest.fixture
def scene(mastodon_server, tmp_path) -> Scene:
    return Scene(mastodon_server, tmp_path)


def _status(database_url: str):
    # No --env-file: the default .env is read if present, and the tests run where there is none.
    return CliRunner().invoke(cli, ["status"], env={
        "WATCHBOT_DATABASE_URL": database_url, "WATCHBOT_FEDIVERSE_INSTANCE": "https://unused.example",
        "WATCHBOT_FEDIVERSE_ACCESS_TOKEN": "unused"})


def _revoke(server_url: str, token: str) -> None:
    form = urllib.parse.urlencode({"token": token}).encode()
    urllib.request.urlopen(f"{server_url}/oauth/revoke", data=form, timeout=10).read()


@pytest.mark.parametrize("when", ["at-start", "while-running"])
async def test_a_refused_token_stops_mastodon_with_one_line_and_status_says_so(scene: Scene, when: str, caplog):
    token = scene.bot.access_token if when == "while-running" else "revoked-s3cret-token"
    settings = Settings(_env_file=None, database_url=scene.database_url, fediverse_instance=scene.server.url,
                        fediverse_access_token=token, fediverse_streaming=False, fediverse_poll_seconds=5)
    store = await Store.open(scene.database_url)
    try:
        adapter = FediverseAdapter.from_settings(settings, store, Rules())
        with caplog.at_level(logging.INFO):
            running = asyncio.create_task(adapter.run())
            if when == "while-running":
                await until(lambda: CursorStore(store).get(CURSOR), "the bot to start")
                await asyncio.to_thread(_revoke, scene.server.url, token)
                adapter.wake()  # the next poll is refused
            await asyncio.wait_for(running, 30)  # returns: no retrying forever, the other networks go on
    finally:
        await store.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    line = (f"{scene.server.url} refused the access token; log in again with `watchbot login fediverse`, "
            "then restart the bot")
    assert errors == [f"Mastodon: stopped: {line}"]
    assert token not in caplog.text
    result = await asyncio.to_thread(_status, scene.database_url)
    assert result.exit_code == 1
    assert "mastodon: stopped " in result.output and f" ago: {line}" in result.output


async def test_an_unreachable_server_is_said_in_one_line_per_try_and_stopping_prints_no_traceback(tmp_path, caplog):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'w.db'}", fediverse_instance=url,
                        fediverse_access_token="s3cret", fediverse_streaming=False)
    store = await Store.open(settings.database_url)
    try:
        adapter = FediverseAdapter.from_settings(settings, store, Rules())
        with caplog.at_level(logging.DEBUG):
            running = asyncio.create_task(adapter.run())

            async def tried_twice():
                return len([r for r in caplog.records if "cannot reach" in r.getMessage()]) >= 2

            await until(tried_twice, "two tries", timeout=30)
            running.cancel()  # as SIGTERM does, in the middle of the retries
            await asyncio.gather(running, return_exceptions=True)
    finally:
        await store.close()
    said = [r.getMessage() for r in caplog.records if r.name.startswith("watchbot") and r.levelno >= logging.WARNING]
    assert said[:2] == [f"Mastodon: cannot reach {url}; trying again in 1 s",
                        f"Mastodon: cannot reach {url}; trying again in 2 s"]
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


async def test_an_answer_to_a_deleted_mention_is_kept_as_failed_and_status_says_so(scene: Scene):
    alice, alice_client = scene.person("alice")
    async with scene.running_bot(fediverse_acknowledge="favourite") as (adapter, store):
        outbox = OutboxStore(store)
        # The first favourite meets a 503: the answer waits to be tried again, and meanwhile
        # alice deletes her mention.
        scene.server.inject_fault("status", status=503, path="/api/v1/statuses/*/favourite", times=1)
        gone = await post(alice_client, f"@{scene.bot.username} https://deleted-soon.example/")
        adapter.wake()

        async def waiting_to_retry():
            return any(item.attempts for item in await outbox.due("mastodon", _far_future()))

        await until(waiting_to_retry, "the favourite to meet the 503")
        await asyncio.to_thread(alice_client.status_delete, gone["id"])

        async def failed():
            return await outbox.failed("mastodon")

        [kept] = await until(failed, "the answer to be kept as failed", timeout=30)
        assert kept.kind == "favourite" and "the status answered is gone" in kept.last_error
        # The bot goes on: the next mention is filed and answered.
        later = await post(alice_client, f"@{scene.bot.username} https://after-the-deleted.example/")
        adapter.wake()
        await until(lambda: favourited_by(alice_client, later["id"], scene.bot), "the next favourite")
        assert (await outbox.backlog("mastodon")).failed == 1
    result = await asyncio.to_thread(_status, scene.database_url)
    assert "1 answer(s) could not be sent and are kept: see `watchbot outbox --failed`" in result.output


def _far_future():
    from datetime import datetime, timezone

    return datetime(2100, 1, 1, tzinfo=timezone.utc)


async def test_nothing_keeps_the_status_ids_of_someone_who_opted_out_and_every_key_is_keyed(scene: Scene, monkeypatch):
    """Decision 33, "Keys keyed": after an opted-out person's mentions (told once, a command
    answered, a mention whose handling fails, an answer the server refuses) and a member's "save
    this" on her post, no value of any table holds one of her status ids, in clear or as the
    unkeyed hash older versions keyed the outbox with; every key is the HMAC under the token."""
    import hashlib
    import hmac

    from tests.test_fediverse_bot import everything_in, replies_from
    from watchbot.store.failures import FailureStore

    shy, shy_client = scene.person("shy", note="Bots, please leave me be: #nobot")
    asker, asker_client = scene.person("asker")
    async with scene.running_bot() as (adapter, store):
        outbox = OutboxStore(store)
        first = await post(shy_client, f"@{scene.bot.username} https://shy.example/")
        asked = await post(shy_client, f"@{scene.bot.username} help")
        own = await post(shy_client, "mine: https://shy.example/own")
        saved = await post(asker_client, f"@{scene.bot.username} save this", in_reply_to_id=own["id"])
        adapter.wake()
        await until(replies_from(shy_client, first["id"], scene.bot), "the one notice")
        await until(replies_from(shy_client, asked["id"], scene.bot), "the answer to her command")
        await until(replies_from(asker_client, saved["id"], scene.bot), "the answer to save this")
        # An answer to her that cannot be sent (her status gone, as the server says) is kept
        # failed, without her status id.
        scene.server.inject_fault("status", status=404, path="/api/v1/statuses/*", methods=["GET"], times=1)
        refused = await post(shy_client, f"@{scene.bot.username} help")
        adapter.wake()
        [failed] = await until(lambda: outbox.failed("mastodon"), "the refused answer to be kept failed")
        assert (failed.kind, failed.place, failed.payload) == ("opted-out", "opted-out", {})
        # A mention of hers whose handling raises is kept without the notification.
        async def raising(*args, **kwargs):
            raise RuntimeError("a bug met a message it did not expect")

        monkeypatch.setattr(adapter, "_leave_alone", raising)
        broken = await post(shy_client, f"@{scene.bot.username} https://shy.example/broken")
        adapter.wake()
        [failure] = await until(lambda: FailureStore(store).list(), "her mention to be kept as failed")
        assert failure.payload is None
        async def nothing_waits():
            return (await outbox.backlog("mastodon")).waiting == 0

        await until(nothing_waits, "every answer sent or given up")
        keys = {item.key for item in await outbox.failed("mastodon")} | set(await store.read(lambda conn: [
            row.key for row in conn.exec_driver_sql("SELECT key FROM outbox WHERE network = 'mastodon'")]))
        kept = await everything_in(store)

    theirs = [str(status["id"]) for status in (first, asked, own, refused, broken)]
    token = scene.bot.access_token.encode()
    for status_id in theirs:
        assert status_id not in kept, status_id
        assert hashlib.sha256(status_id.encode()).hexdigest()[:32] not in kept, status_id
    # The answers to her are kept under the HMAC of her status id under the token, and nothing
    # else: an unkeyed hash of a guessed id finds none of them.
    assert {f"watchbot-reply-k{hmac.new(token, i.encode(), hashlib.sha256).hexdigest()[:32]}"
            for i in (str(first["id"]), str(asked["id"]), str(refused["id"]))} <= keys
    assert all(key.startswith(("watchbot-reply-k", "watchbot-favourite-k")) for key in keys), keys
    # The member's own mention is hers to keep: answered, recorded, its thread named by a mark.
    assert str(saved["id"]) in kept


async def test_rows_owed_under_the_unkeyed_keys_of_older_versions_are_keyed_once_not_owed_twice(tmp_path):
    """The upgrade (decision 33, "Keys keyed"): a row owed with an unkeyed key gets the keyed one,
    so the same answer owed again after it is the same row; a sent row emptied of its status id
    is deleted with its reversible key; a direct message keeps its key, found by the adapter."""
    from watchbot.model import Owed, utcnow
    from watchbot.networks.fediverse import outbox as owing
    from watchbot.networks.fediverse.events import idempotency_key, legacy_idempotency_key

    store = await Store.open(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        outbox = OutboxStore(store)
        status = {"id": "113456789012345678", "visibility": "public", "account": {"acct": "bob"}}
        waiting = Owed("mastodon", "t1", "reply", {"status_id": status["id"], "text": "@bob Filed", "thread": "t1",
                                                  "uri": None, "visibility": "unlisted"},
                       legacy_idempotency_key("reply", status["id"]))
        emptied = Owed("mastodon", "opted-out", "opted-out", {}, legacy_idempotency_key("reply", "113456789012345600"))
        direct = Owed("mastodon", "moderators", "direct", {"text": "@mod report"},
                      legacy_idempotency_key("moderators", "113456789012345601"))
        await outbox.add([waiting, emptied, direct], utcnow())
        assert await owing.rekey(store, "token") == 2
        assert await owing.rekey(store, "token") == 0  # once
        keyed = idempotency_key("reply", status["id"], "token")
        assert [(item.kind, item.key) for item in await outbox.unsent()] == [
            ("reply", keyed), ("direct", direct.key)]
        # Owed again after the upgrade (a replay): the same row, not a second answer.
        await outbox.add([owing.reply(status, ["Filed"], "t1", "token")], utcnow())
        assert [item.kind for item in await outbox.unsent()] == ["reply", "direct"]
        assert await outbox.holds("mastodon", legacy_idempotency_key("moderators", "113456789012345601"))
    finally:
        await store.close()
