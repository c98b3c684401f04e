"""The Mastodon bot killed (SIGKILL, no clean-up) again and again during a burst of mentions, and
restarted each time: in the end every link is filed once and every mention answered once, counted
on the server (the replies the stand-in holds). Some kills come at random moments, some right after
a filing commits (before its answer is sent), some right after the server took an answer (before
the outbox marks it sent). Seeded: a failure is reproducible."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.mastodon_server import MastodonServer
from tests.test_fediverse_bot import name
from tests.waiting import until
from watchbot.networks.fediverse import CURSOR
from watchbot.store import Store
from watchbot.store.cursors import CursorStore
from watchbot.store.links import LinkStore
from watchbot.store.outbox import OutboxStore

REPO = Path(__file__).resolve().parent.parent
# 500 mentions, 21 kills: about 60 s on a 2-core machine (most of it the mentions being posted
# and the bot answering them; each restart costs about a second of imports).
MENTIONS = 500
KILLS = 21

# The bot as `watchbot run` runs it, with hooks that kill it at chosen points. Mastodon's own
# rate limits (300 posts in 3 hours) are kept by the bot on its side; the stand-in has none, and
# the burst is bigger than they allow, so the bot's budget is opened wide here, and so are the
# links one person may share in an hour.
BOT = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from watchbot.config import Settings
    from watchbot.intake import Rules
    from watchbot.networks.fediverse.budget import Budget
    from watchbot.networks.fediverse import FediverseAdapter
    from watchbot.store import Store
    from watchbot.store.links import LinkStore

    def killed_after(calls, function):
        # The function, which kills the process the moment its `calls`-th call has returned.
        done = [0]
        async def counted(*args, **kwargs):
            result = await function(*args, **kwargs)
            done[0] += 1
            if done[0] == calls:
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        return counted

    async def main(url, instance, token, after_filing, after_sending):
        store = await Store.open(url)
        settings = Settings(_env_file=None, database_url=url, fediverse_instance=instance,
                            fediverse_access_token=token, fediverse_streaming=False, fediverse_poll_seconds=5,
                            links_per_hour=10_000, links_per_day=100_000)
        adapter = FediverseAdapter.from_settings(settings, store, Rules())
        adapter._requests, adapter._posts = Budget(10**9, 1), Budget(10**9, 1)
        if after_filing:  # the filing, its answer owed and the cursor committed; nothing sent
            LinkStore.file_in_one = killed_after(after_filing, LinkStore.file_in_one)
        if after_sending:  # the server took the answer; the outbox has not marked it sent
            adapter.sender.deliver = killed_after(after_sending, adapter.sender.deliver)
        await adapter.run()

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
    """
)


def start_bot(database_url: str, server: MastodonServer, token: str, *, after_filing: int = 0,
              after_sending: int = 0) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", BOT, database_url, server.url, token, str(after_filing), str(after_sending)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def kill(bot: subprocess.Popen) -> None:
    if bot.poll() is None:
        bot.send_signal(signal.SIGKILL)
    bot.wait(timeout=30)


async def progress(database_url: str) -> tuple[int, int, str | None]:
    """Links filed, answers not yet sent, and the notification cursor, as the store has them."""
    async with await Store.open(database_url) as store:
        return (await LinkStore(store).count_links(), (await OutboxStore(store).backlog("mastodon")).waiting,
                await CursorStore(store).get(CURSOR))


async def shares_per_url(database_url: str) -> Counter:
    def count(engine) -> Counter:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT links.url, count(*) FROM shares JOIN links ON links.id = shares.link_id GROUP BY links.url"))
            return Counter({url: n for url, n in rows})

    async with await Store.open(database_url) as store:
        return await store.run(count, store.engine)


def replies_per_status(client, bot_id: str) -> Counter:
    """What the server holds: the bot's statuses, counted by the status each answers."""
    counted, page = Counter(), client.account_statuses(bot_id, limit=40)
    while page:
        counted.update(str(status["in_reply_to_id"]) for status in page if status["in_reply_to_id"])
        page = client.fetch_next(page)
    return counted


@pytest.mark.parametrize("ignores_idempotency", [False, True], ids=["mastodon", "ignores-idempotency-key"])
async def test_killed_again_and_again_during_a_burst_every_mention_is_filed_and_answered_once(
        mastodon_server: MastodonServer, other_server: MastodonServer, tmp_path: Path, ignores_idempotency: bool):
    server = other_server if ignores_idempotency else mastodon_server
    server.front and setattr(server.front, "ignores_idempotency", ignores_idempotency)
    try:
        await _burst_with_kills(server, tmp_path, random.Random(1400 + ignores_idempotency), ignores_idempotency)
    finally:
        if server.front:
            server.front.ignores_idempotency = False


async def _burst_with_kills(server: MastodonServer, tmp_path: Path, rng: random.Random,
                            ignores_idempotency: bool) -> None:
    bot = server.create_account(name("watch"), bot=True)
    people = [server.client(server.create_account(name("person"))) for _ in range(5)]
    database_url = f"sqlite:///{tmp_path / 'watchbot.db'}"

    first = start_bot(database_url, server, bot.access_token)  # the first start: reads from now on

    async def started() -> bool:  # its cursor set: it reads from now on
        return (tmp_path / "watchbot.db").exists() and (await progress(database_url))[2] is not None

    await until(started, "the bot's first start", timeout=30)
    kill(first)

    mentions: list[str] = []

    def burst() -> None:
        for n in range(MENTIONS):
            status = people[n % len(people)].status_post(
                f"@{bot.username} number {n}: https://burst.example/{n} #burst")
            mentions.append(str(status["id"]))

    posting = threading.Thread(target=burst, name="burst")
    posting.start()
    landed = Counter()  # how each kill came, told when an assertion fails (the outcome is what counts)
    try:
        for number in range(KILLS):
            how = rng.choice(["at random", "after a filing", "after an answer"])
            calls = rng.randint(1, 12)
            child = start_bot(database_url, server, bot.access_token,
                              after_filing=calls if how == "after a filing" else 0,
                              after_sending=calls if how == "after an answer" else 0)
            try:
                if how == "at random":
                    await asyncio.sleep(rng.uniform(1.0, 4.0))  # imports take about a second
                else:  # killed by its own hand, or after a while if the burst has run dry (the
                    # while is generous: on a loaded machine a start alone can take seconds)
                    await asyncio.to_thread(_wait, child, 12)
                    how = f"{how}: by its own hand" if child.poll() is not None else f"{how}: after 12 s"
                landed[how] += 1
            finally:
                kill(child)
    finally:
        await asyncio.to_thread(posting.join)

    last = start_bot(database_url, server, bot.access_token)  # and now left to finish
    try:
        try:
            await until(lambda: finished(database_url), "every mention filed and every answer sent", timeout=120)
        except TimeoutError as error:
            raise AssertionError(f"not done: {await progress(database_url)}; kills: {dict(landed)}") from error
    finally:
        kill(last)

    # Whatever number of kills came at the chosen points: every link filed once, every mention
    # answered once, nothing else answered.
    filed = await shares_per_url(database_url)
    assert len(filed) == MENTIONS and set(filed.values()) == {1}, landed
    answered = await asyncio.to_thread(replies_per_status, server.client(bot), bot.id)
    assert {status_id: answered[status_id] for status_id in mentions} == {status_id: 1 for status_id in mentions}, landed
    assert sum(answered.values()) == MENTIONS, landed


async def finished(database_url: str) -> bool:
    """Every mention filed and nothing owed: every answer is on the server."""
    return (await progress(database_url))[:2] == (MENTIONS, 0)


def _wait(child: subprocess.Popen, timeout: float) -> None:
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
