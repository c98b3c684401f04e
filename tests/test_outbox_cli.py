"""`watchbot outbox`: the operator's view of the answers not sent, on SQLite and PostgreSQL; and a
failed answer retried from the shell, sent by the running bot on the Mastodon stand-in."""

from __future__ import annotations

import asyncio
import json
import os
import re
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from tests.test_fediverse_bot import Scene, favourited_by, post, until
from watchbot import outbox as sending
from watchbot.cli import cli
from watchbot.model import Owed
from watchbot.store import Store
from watchbot.store.outbox import OutboxStore

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def run(database_url: str, tmp_path, monkeypatch):
    """Run `watchbot ARGS` on the store at database_url; returns the click Result."""
    for name in list(os.environ):
        if name.startswith("WATCHBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env is read

    def invoke(*args: str, ok: bool = True):
        env = {"WATCHBOT_DATABASE_URL": database_url, "WATCHBOT_TIMEZONE": "UTC"}
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def without_age(output: str) -> list[str]:
    """The lines, with how long ago each answer was owed left out (it depends on today)."""
    return [re.sub(r" \(\d+ (s|min|h) ago\)", "", line) for line in output.splitlines()]


def owe_three(database_url: str) -> None:
    """A reaction waiting to be tried again, a reply given up on, a favourite not tried yet."""

    async def owe() -> None:
        async with await Store.open(database_url) as store:
            answers = OutboxStore(store)
            await answers.add([Owed("matrix", "!room:example.org", "m.reaction", {"key": "🔖"}, "txn-1")], T0)
            await answers.add([Owed("mastodon", "109", "reply", {"text": "Filed #1"}, "idem-2")],
                              T0 + timedelta(minutes=1))
            await answers.add([Owed("mastodon", "110", "favourite", {}, "idem-3")], T0 + timedelta(minutes=2))
            await answers.retry_later(1, "M_LIMIT_EXCEEDED", T0 + timedelta(minutes=5))
            await answers.give_up(2, "the status answered is gone (deleted, or no longer visible to the bot)",
                                  T0 + timedelta(minutes=3))

    asyncio.run(owe())


def due(database_url: str, network: str) -> list[int]:
    async def read() -> list[int]:
        async with await Store.open(database_url) as store:
            return [item.id for item in await OutboxStore(store).due(network, datetime(2100, 1, 1, tzinfo=timezone.utc))]

    return asyncio.run(read())


def test_answers_not_sent_are_listed_failed_ones_retried_and_any_dropped(run, database_url: str):
    assert run("outbox").output == "Every answer owed has been sent.\n"
    owe_three(database_url)
    assert without_age(run("outbox").output) == [
        "#1     waiting matrix m.reaction in !room:example.org (1 try, owed 2026-11-23 10:00)",
        "       M_LIMIT_EXCEEDED",
        "#2     failed  mastodon reply in 109 (1 try, owed 2026-11-23 10:01)",
        "       the status answered is gone (deleted, or no longer visible to the bot)",
        "#3     waiting mastodon favourite in 110 (0 tries, owed 2026-11-23 10:02)",
    ]
    assert [line.split()[0] for line in run("outbox", "--failed").output.splitlines()] == ["#2", "the"]
    listed = json.loads(run("outbox", "--json").output)
    assert [(a["id"], a["state"], a["attempts"], a["owed_at"]) for a in listed] == [
        (1, "waiting", 1, "2026-11-23T10:00:00+00:00"), (2, "failed", 1, "2026-11-23T10:01:00+00:00"),
        (3, "waiting", 0, "2026-11-23T10:02:00+00:00")]
    assert "1 answer(s) could not be sent and are kept: see `watchbot outbox --failed`" in run(
        "status", ok=False).output
    assert due(database_url, "mastodon") == [3]  # the failed reply is not sent by itself

    refused = run("outbox", "retry", "1", ok=False)
    assert refused.output == "Error: answer #1 has not failed: it is waiting to be sent already\n"
    assert run("outbox", "retry", "9", ok=False).output == (
        "Error: there is no answer #9 waiting or failed (see `watchbot outbox`)\n")
    assert run("outbox", "retry", ok=False).exit_code == 2  # neither ids nor --all-failed
    assert run("outbox", "retry", "2").output == (
        "#2 mastodon reply in 109: back in the queue; the running bot sends it within a minute.\n")
    assert due(database_url, "mastodon") == [2, 3]  # the sender's next look finds it, tries counted afresh
    assert without_age(run("outbox").output)[2] == "#2     waiting mastodon reply in 109 (0 tries, owed 2026-11-23 10:01)"
    assert run("outbox", "--failed").output == "No failed answers.\n"
    assert run("outbox", "retry", "--all-failed").output == "No failed answers.\n"

    assert run("outbox", "drop", "3").output == "#3 mastodon favourite in 110: dropped; it will not be sent.\n"
    assert due(database_url, "mastodon") == [2]
    assert run("outbox", "drop", "3", ok=False).output == (
        "Error: there is no answer #3 waiting or failed (see `watchbot outbox`)\n")
    assert [line.split()[0] for line in run("outbox").output.splitlines() if line.startswith("#")] == ["#1", "#2"]


async def test_a_failed_answer_retried_from_the_shell_is_sent_once_by_the_running_bot(
        mastodon_server, tmp_path, monkeypatch):
    monkeypatch.setattr(sending, "IDLE_CHECK", 0.5)  # the sender's unwoken look, once a minute otherwise
    scene = Scene(mastodon_server, tmp_path)
    alice, alice_client = scene.person("alice")
    async with scene.running_bot(fediverse_acknowledge="favourite") as (adapter, store):
        answers = OutboxStore(store)
        # The server refuses the favourite once (a 422): it cannot succeed as it stands, so the
        # answer is kept as failed, not retried by itself.
        scene.server.inject_fault("status", status=422, path="/api/v1/statuses/*/favourite", times=1)
        mention = await post(alice_client, f"@{scene.bot.username} https://refused-once.example/")
        adapter.wake()
        [failed] = await until(lambda: answers.failed("mastodon"), "the favourite to be given up on")
        assert not await favourited_by(alice_client, mention["id"], scene.bot)

        result = await asyncio.to_thread(CliRunner().invoke, cli, ["outbox", "retry", "--all-failed"],
                                         env={"WATCHBOT_DATABASE_URL": scene.database_url})
        assert result.output == (f"#{failed.id} mastodon favourite in {mention['id']}: back in the queue; "
                                 "the running bot sends it within a minute.\n")
        await until(lambda: favourited_by(alice_client, mention["id"], scene.bot), "the retried favourite")
        backlog = await until(lambda: _settled(answers), "the answer to be marked sent")
        assert (backlog.waiting, backlog.failed) == (0, 0)
    favourites = await asyncio.to_thread(alice_client.status_favourited_by, mention["id"])
    assert [str(account["id"]) for account in favourites] == [scene.bot.id]


async def _settled(answers: OutboxStore):
    backlog = await answers.backlog("mastodon")
    return backlog if backlog.waiting == 0 else None
