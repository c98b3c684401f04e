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
