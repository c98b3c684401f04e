"""Health: each network's heartbeat, `watchbot status`, and a Matrix bot whose token is refused
stopping with one line (on the real Synapse)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner

from tests.waiting import until
from watchbot.cli import cli
from watchbot.config import Settings
from watchbot.health import STALE_AFTER, Pulse, assess
from watchbot.intake import Rules
from watchbot.networks.matrix import MatrixAdapter
from watchbot.store import Store
from watchbot.store.heartbeats import Heartbeat, HeartbeatStore

NOW = datetime(2026, 3, 9, 12, 0, tzinfo=timezone.utc)


def test_a_network_that_synced_lately_is_well():
    health = assess([Heartbeat("matrix", NOW - timedelta(seconds=40), None)], ["matrix"], NOW)
    assert health.healthy and health.lines == ["matrix: ok, last good sync or poll 40 s ago"]


def test_a_silent_a_stopped_and_a_missing_network_are_each_unwell():
    beats = [Heartbeat("matrix", NOW - STALE_AFTER - timedelta(minutes=1), None),
             Heartbeat("mastodon", NOW - timedelta(minutes=3), "the token was refused; log in again")]
    health = assess(beats, ["matrix", "mastodon"], NOW)
    assert not health.healthy
    assert health.lines == ["matrix: no good sync or poll for 6 min (see the bot's log)",
                            "mastodon: stopped 3 min ago: the token was refused; log in again"]
    nothing = assess([], ["matrix"], NOW)
    assert not nothing.healthy and nothing.lines == ["matrix: no sign of life yet (is `watchbot run` running?)"]


def test_failed_events_are_said_but_do_not_make_the_bot_unwell():
    health = assess([Heartbeat("matrix", NOW, None)], ["matrix"], NOW, failed_events=2)
    assert health.healthy and health.lines[-1] == "2 failed event(s) wait for you: see `watchbot failed`"


def test_answers_waiting_and_answers_kept_as_failed_are_said_but_do_not_make_the_bot_unwell():
    health = assess([Heartbeat("mastodon", NOW, None)], ["mastodon"], NOW, outbox_waiting=3, outbox_failed=1)
    assert health.healthy
    assert health.lines[1:] == ["3 answer(s) waiting to be sent",
                                "1 answer(s) could not be sent and are kept: see `watchbot outbox --failed`"]


async def test_the_pulse_is_written_once_a_minute_and_at_once_when_stopping(store: Store):
    now = [NOW]
    pulse = Pulse(store, "matrix", clock=lambda: now[0])
    beats = HeartbeatStore(store)
    await pulse.ok()
    now[0] = NOW + timedelta(seconds=30)
    await pulse.ok()
    assert [beat.beat_at for beat in await beats.all()] == [NOW]  # not a write per sync
    now[0] = NOW + timedelta(seconds=61)
    await pulse.ok()
    assert [beat.beat_at for beat in await beats.all()] == [NOW + timedelta(seconds=61)]
    now[0] = NOW + timedelta(seconds=62)
    await pulse.stopped("refused")
    assert await beats.all() == [Heartbeat("matrix", NOW + timedelta(seconds=62), "refused")]


def _status(database_url: str, *options: str, **env: str):
    # No --env-file: the default .env is read if present, and the tests run where there is none.
    return CliRunner().invoke(cli, ["status", *options], env={"WATCHBOT_DATABASE_URL": database_url, **env})


async def test_a_refused_matrix_token_stops_matrix_with_one_line_and_status_says_so(synapse, tmp_path, caplog):
    bot = synapse.register(f"watchbot{uuid.uuid4().hex[:8]}")
    database_url = f"sqlite:///{tmp_path / 'w.db'}"
    matrix = {"matrix_homeserver": synapse.url, "matrix_user_id": bot.user_id,
              "matrix_access_token": "syt_revoked_s3cret", "matrix_device_id": bot.device_id,
              "matrix_allowed_inviters": ["@owner:example.org"]}
    store = await Store.open(database_url)
    try:
        adapter = MatrixAdapter.from_settings(Settings(_env_file=None, database_url=database_url, **matrix), store, Rules())
        with caplog.at_level(logging.INFO):
            await asyncio.wait_for(adapter.run(), 30)  # returns: no retrying forever
    finally:
        await store.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith(f"Matrix: stopped: {synapse.url} refused the access token")
    assert "log in again with `watchbot login matrix`" in errors[0]
    assert all("s3cret" not in r.getMessage() for r in caplog.records)

    env = {"WATCHBOT_MATRIX_HOMESERVER": synapse.url, "WATCHBOT_MATRIX_USER_ID": bot.user_id,
           "WATCHBOT_MATRIX_ACCESS_TOKEN": "syt_revoked_s3cret", "WATCHBOT_MATRIX_ALLOWED_INVITERS": "@o:x"}
    result = await asyncio.to_thread(_status, database_url, **env)
    assert result.exit_code == 1
    assert "matrix: stopped" in result.output and "watchbot login matrix" in result.output


async def test_a_running_matrix_bot_is_well_by_status(synapse, tmp_path):
    bot = synapse.register(f"watchbot{uuid.uuid4().hex[:8]}")
    database_url = f"sqlite:///{tmp_path / 'w.db'}"
    settings = Settings(_env_file=None, database_url=database_url, matrix_homeserver=synapse.url,
                        matrix_user_id=bot.user_id, matrix_access_token=bot.access_token,
                        matrix_device_id=bot.device_id, matrix_allowed_inviters=["@owner:example.org"])
    env = {"WATCHBOT_MATRIX_HOMESERVER": synapse.url, "WATCHBOT_MATRIX_USER_ID": bot.user_id,
           "WATCHBOT_MATRIX_ACCESS_TOKEN": bot.access_token, "WATCHBOT_MATRIX_ALLOWED_INVITERS": "@o:x"}
    store = await Store.open(database_url)
    task = asyncio.create_task(MatrixAdapter.from_settings(settings, store, Rules()).run())
    try:
        before = await asyncio.to_thread(_status, database_url, **env)
        assert before.exit_code == 1 and "no sign of life yet" in before.output
        await until(HeartbeatStore(store).all, "a first heartbeat")
        result = await asyncio.to_thread(_status, database_url, **env)
        assert result.exit_code == 0, result.output
        assert result.output.startswith("matrix: ok, last good sync or poll")
        quiet = await asyncio.to_thread(_status, database_url, "--quiet", **env)
        assert quiet.exit_code == 0 and quiet.output == ""
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()
