"""The Mastodon adapter against mastodon_mock, the stand-in for a Mastodon server (none can run
here): built from Mastodon's documented client API, it renders status HTML more simply."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.mastodon_server import MastodonAccount, MastodonServer
from watchbot.config import Settings
from watchbot.commands import Desk
from watchbot.network import Networks
from watchbot.intake import Rules, file_post
from watchbot.model import Post, Source
from watchbot.networks.fediverse import events as fediverse_events
from watchbot.networks.fediverse import FediverseOptions, CURSOR, FediverseAdapter
from watchbot.networks.fediverse.events import html_to_text
from watchbot.store import Store
from watchbot.store.cursors import CursorStore
from watchbot.store.links import LinkStore
from watchbot.store.published import PublishedReader


def name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


class Scene:
    def __init__(self, server: MastodonServer, tmp_path: Path) -> None:
        self.server = server
        self.bot = server.create_account(name("watch"), bot=True)
        self.database_url = f"sqlite:///{tmp_path / 'watchbot.db'}"

    def person(self, prefix: str, **kwargs) -> tuple[MastodonAccount, object]:
        account = self.server.create_account(name(prefix), **kwargs)
        return account, self.server.client(account)

    streaming = False

    @asynccontextmanager
    async def running_bot(self, poll_seconds: int = 5, rules: Rules | None = None, clock=None,
                          also_tell: tuple = (), **more) -> AsyncIterator[tuple[FediverseAdapter, Store]]:
        """The bot on the stand-in; `also_tell`: other networks on the same desk, as bot.py joins them."""
        settings = Settings(_env_file=None, database_url=self.database_url, fediverse_instance=self.server.url,
                            fediverse_access_token=self.bot.access_token, fediverse_streaming=self.streaming,
                            fediverse_poll_seconds=poll_seconds, **more)
        store = await Store.open(self.database_url)
        networks = Networks()
        desk = Desk.from_settings(store, settings, networks=networks)
        adapter = FediverseAdapter(FediverseOptions.from_settings(settings), store, rules or Rules(), desk=desk, clock=clock)
        for network in (adapter, *also_tell):
            networks.join(network)
        task = asyncio.create_task(adapter.run())
        try:
            await until(lambda: CursorStore(store).get(CURSOR), "the bot to start")
            yield adapter, store
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await store.close()


async def until(check, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result is not None and result is not False and result != []:
            return result
        await asyncio.sleep(0.05)
    raise TimeoutError(f"waited {timeout:g} s for {what}")


def replies_from(client, status_id: str, bot: MastodonAccount):
    async def check():
        context = await asyncio.to_thread(client.status_context, status_id)
        return [s for s in context["descendants"] if str(s["account"]["id"]) == bot.id]
    return check


@pytest.fixture
def scene(mastodon_server: MastodonServer, tmp_path: Path) -> Scene:
    return Scene(mastodon_server, tmp_path)


async def post(client, text: str, **kwargs) -> dict:
    return await asyncio.to_thread(client.status_post, text, **kwargs)


async def test_a_mention_with_a_link_is_filed_and_answered_once_with_manners(scene: Scene):
    alice, alice_client = scene.person("alice")
    bob, bob_client = scene.person("bob")
    old = await post(alice_client, f"@{scene.bot.username} https://before.example/ from before the bot")
    async with scene.running_bot() as (adapter, store):
        status = await post(alice_client, f"@{scene.bot.username} worth it https://lwn.net/Articles/1001/ #Linux")
        adapter.wake()
        [reply] = await until(replies_from(alice_client, status["id"], scene.bot), "the bot's reply")
        assert reply["visibility"] == "unlisted"  # a public mention, answered quietly
        assert f"@{alice.username}" in reply["content"] and "Filed #1" in reply["content"]
        [link] = await LinkStore(store).list_links()
        assert (link.url, link.tags) == ("https://lwn.net/Articles/1001/", ("linux",))

        again = await post(bob_client, f"@{scene.bot.username} https://lwn.net/Articles/1001/", visibility="direct")
        adapter.wake()
        [answer] = await until(replies_from(bob_client, again["id"], scene.bot), "the answer to bob")
        assert answer["visibility"] == "direct"
        assert "Already shared by" in answer["content"]
        # The mention from before the bot's first start would have been answered first, in order.
        assert not await replies_from(alice_client, old["id"], scene.bot)()

    async with scene.running_bot() as (adapter, store):  # a restart answers nothing twice
        marker = await post(alice_client, f"@{scene.bot.username} https://marker.example/")
        adapter.wake()
        await until(replies_from(alice_client, marker["id"], scene.bot), "the marker's reply")
        assert len(await replies_from(alice_client, status["id"], scene.bot)()) == 1
        assert (await LinkStore(store).get_link(1)).link.share_count == 2


async def favourited_by(client, status_id: str, bot: MastodonAccount) -> bool:
    accounts = await asyncio.to_thread(client.status_favourited_by, status_id)
    return any(str(account["id"]) == bot.id for account in accounts)


async def test_favourites_can_acknowledge_instead_of_replies(scene: Scene):
    alice, alice_client = scene.person("alice")
    bob, bob_client = scene.person("bob")
    async with scene.running_bot(fediverse_acknowledge="favourite") as (adapter, store):
        first = await post(alice_client, f"@{scene.bot.username} https://quiet.example/")
        again = await post(bob_client, f"@{scene.bot.username} https://quiet.example/")
        asked = await post(alice_client, f"@{scene.bot.username} search quiet")
        adapter.wake()
        # A command still gets its answer, and so does a link someone shared before (who, when).
        [answer] = await until(replies_from(alice_client, asked["id"], scene.bot), "the search answer")
        assert "https://quiet.example/" in answer["content"]
        [told] = await until(replies_from(bob_client, again["id"], scene.bot), "the already-shared reply")
        assert "Already shared by" in told["content"]
        # A plain filed link is acknowledged with a star, without a reply.
        assert await favourited_by(alice_client, first["id"], scene.bot)
        assert not await replies_from(alice_client, first["id"], scene.bot)()


async def test_replies_in_one_thread_are_capped_then_favourites_acknowledge(scene: Scene):
    alice, alice_client = scene.person("alice")
    async with scene.running_bot(fediverse_replies_per_thread=2) as (adapter, store):
        parent_id, answered = None, []
        for n in range(3):  # alice answers the bot's reply each time: one growing thread
            status = await post(alice_client, f"@{scene.bot.username} https://thread.example/{n}",
                                in_reply_to_id=parent_id)
            adapter.wake()
            if n < 2:
                [reply] = await until(replies_from(alice_client, status["id"], scene.bot), f"reply {n}")
                parent_id = reply["id"]
            else:
                await until(lambda: favourited_by(alice_client, status["id"], scene.bot), "the favourite")
            answered.append(status)
        assert not await replies_from(alice_client, answered[2]["id"], scene.bot)()
        assert await LinkStore(store).count_links() == 3  # the cap is on talking, never on filing
        # A new thread starts a new count.
        fresh = await post(alice_client, f"@{scene.bot.username} https://fresh.example/")
        adapter.wake()
        await until(replies_from(alice_client, fresh["id"], scene.bot), "the reply in a new thread")


async def test_a_long_answer_is_cut_to_fit_even_where_the_server_counts_urls_in_full(scene: Scene):
    # Ten links of 120 characters: Mastodon counts each URL as 23, so the answer fits its 500;
    # the stand-in counts every character (as some servers do) and answers 422 "too long".
    async with await Store.open(scene.database_url) as store:
        for n in range(10):
            url = f"https://long.example/{n}/" + "x" * 100
            await file_post(store, Post(source=Source.CLI, place="cli", author_id="cli:me", author_name="me",
                                        text=f"{url} #longread", event_id=f"cli-{n}"), Rules())
    alice, alice_client = scene.person("alice")
    async with scene.running_bot() as (adapter, store):
        asked = await post(alice_client, f"@{scene.bot.username} search longread")
        adapter.wake()
        [answer] = await until(replies_from(alice_client, asked["id"], scene.bot), "the cut answer")
        assert "https://long.example/" in answer["content"] and "…" in answer["content"]


async def test_a_reply_refused_as_too_long_however_cut_still_goes_out_in_short(scene: Scene):
    # A server that counts in its own way and says so with a 400, as some do (not Mastodon's 422).
    alice, alice_client = scene.person("alice")
    links = " ".join(f"https://six.example/{n}/" + "y" * 50 for n in range(6))
    async with scene.running_bot(poll_seconds=600) as (adapter, store):
        asked = await post(alice_client, f"@{scene.bot.username} {links} #longread")
        # The bot's next two posts (the reply as Mastodon counts it, then at raw length) refused.
        scene.server.inject_fault("status", status=400, body={"error": "Status is too long"}, times=2,
                                  path="/api/v1/statuses", methods=["POST"])
        try:
            adapter.wake()
            [answer] = await until(replies_from(alice_client, asked["id"], scene.bot), "the short answer")
        finally:
            scene.server.clear_faults()
        ids = [link.id for link in await LinkStore(store).list_links()]
        assert len(ids) == 6
        assert f"Filed #{min(ids)}–#{max(ids)}." in html_to_text(answer["content"])


async def test_bots_are_never_answered_nor_filed(scene: Scene):
    _, other_bot = scene.person("otherbot", bot=True)
    alice, alice_client = scene.person("alice")
    async with scene.running_bot() as (adapter, store):
        from_bot = await post(other_bot, f"@{scene.bot.username} https://spam.example/")
        marker = await post(alice_client, f"@{scene.bot.username} https://person.example/")
        adapter.wake()
        await until(replies_from(alice_client, marker["id"], scene.bot), "the reply to a person")
        assert not await replies_from(alice_client, from_bot["id"], scene.bot)()
        assert [link.url for link in await LinkStore(store).list_links()] == ["https://person.example/"]


async def test_a_status_too_long_to_read_is_refused_in_one_line_before_anything_is_read(scene: Scene, monkeypatch):
    parsed: list[int] = []  # the length of every piece of HTML the adapter had read
    for reader in ("extract_hrefs", "html_to_text"):
        original = getattr(fediverse_events, reader)
        monkeypatch.setattr(fediverse_events, reader,
                            lambda html, original=original: parsed.append(len(html)) or original(html))
    alice, alice_client = scene.person("alice")
    async with scene.running_bot(rules=Rules(max_post_chars=200)) as (adapter, store):
        long = await post(alice_client, f"@{scene.bot.username} https://long.example/ #rust " + "and more " * 30)
        adapter.wake()
        [reply] = await until(replies_from(alice_client, long["id"], scene.bot), "the refusal")
        assert "This message is too long for me to read" in reply["content"]
        assert "share the links in a shorter message" in reply["content"]
        assert await LinkStore(store).list_links() == []
        short = await post(alice_client, f"@{scene.bot.username} https://short.example/")
        adapter.wake()
        await until(replies_from(alice_client, short["id"], scene.bot), "the reply to a short status")
        assert [link.url for link in await LinkStore(store).list_links()] == ["https://short.example/"]
    assert parsed and max(parsed) <= 200


async def test_a_server_error_is_retried_and_nothing_is_lost(scene: Scene):
    alice, alice_client = scene.person("alice")
    async with scene.running_bot() as (adapter, store):
        scene.server.inject_fault("status", path="/api/v1/notifications", times=2)
        status = await post(alice_client, f"@{scene.bot.username} https://after-503.example/")
        adapter.wake()
        await until(replies_from(alice_client, status["id"], scene.bot), "the reply after the 503s", timeout=30)
        assert [link.url for link in await LinkStore(store).list_links()] == ["https://after-503.example/"]


@pytest.mark.parametrize("fault", [dict(status=503), dict(status=500, times=None), dict(kind="malformed")],
                         ids=["503", "always-500", "not-json"])
async def test_a_failing_v2_instance_falls_back_to_v1_and_the_bot_starts(scene: Scene, fault: dict, caplog):
    alice, alice_client = scene.person("alice")
    fault = {"kind": "status", "times": 1, **fault}
    scene.server.inject_fault(fault.pop("kind"), path="/api/v2/instance*", **fault)
    try:
        with caplog.at_level("INFO", logger="watchbot.networks.fediverse"):
            async with scene.running_bot() as (adapter, store):
                assert "instance_v2" not in adapter.server_described and "instance_v1" in adapter.server_described
                status = await post(alice_client, f"@{scene.bot.username} https://after-v2.example/")
                adapter.wake()
                await until(replies_from(alice_client, status["id"], scene.bot), "the reply")
    finally:
        scene.server.clear_faults()
    told = [r.getMessage() for r in caplog.records if "instance_v2" in r.getMessage()]
    assert len(told) == 1 and len(told[0]) < 250, told


async def test_the_stream_brings_a_mention_in_at_once(scene: Scene):
    alice, alice_client = scene.person("alice")
    scene.streaming = True
    async with scene.running_bot(poll_seconds=3600) as (adapter, store):  # only the stream can wake it
        await until(lambda: _alive(adapter), "the stream to open")
        status = await post(alice_client, f"@{scene.bot.username} https://live.example/")
        await until(replies_from(alice_client, status["id"], scene.bot), "the reply, woken by the stream")


async def _alive(adapter: FediverseAdapter) -> bool:
    return adapter.watchdog.stream is not None and adapter.watchdog.stream.is_alive()


async def test_where_the_server_has_no_sse_the_websocket_brings_mentions_in(scene: Scene, monkeypatch):
    # As GoToSocial and Akkoma: streaming only over WebSocket (SSE paths answer 404).
    import watchbot.networks.fediverse.watchdog as watchdog

    monkeypatch.setattr(watchdog, "SSE_PROBE_SECONDS", 2.0)
    alice, alice_client = scene.person("alice")
    scene.streaming = True
    no_sse = scene.server.inject_fault("status", status=404, path="/api/v1/streaming/*", methods=["GET"],
                                       times=None)
    try:
        async with scene.running_bot(poll_seconds=3600) as (adapter, store):  # only a stream can wake it
            await until(lambda: _websocket_open(adapter), "the WebSocket to open")
            assert adapter.watchdog.stream is None or not adapter.watchdog.stream.is_alive()
            status = await post(alice_client, f"@{scene.bot.username} https://over-websocket.example/")
            await until(replies_from(alice_client, status["id"], scene.bot), "the reply, woken by the WebSocket")
    finally:
        scene.server.remove_fault(no_sse)


async def _websocket_open(adapter: FediverseAdapter) -> bool:
    return adapter.watchdog.websocket is not None and not adapter.watchdog.websocket.done() and not adapter.watchdog.sse_offered


async def test_save_this_in_reply_files_the_parents_links_unless_its_author_opted_out(scene: Scene):
    author, author_client = scene.person("author")
    shy, shy_client = scene.person("shy", note="Please, #nobot")
    asker, asker_client = scene.person("asker")
    async with scene.running_bot() as (adapter, store):
        parent = await post(author_client, "Read this: https://parent.example/article #security")
        saved = await post(asker_client, f"@{scene.bot.username} save this", in_reply_to_id=parent["id"])
        private_parent = await post(shy_client, "mine: https://shy.example/")
        refused = await post(asker_client, f"@{scene.bot.username} save this", in_reply_to_id=private_parent["id"])
        adapter.wake()
        [reply] = await until(replies_from(asker_client, saved["id"], scene.bot), "the reply to save this")
        assert "Filed #1" in reply["content"]
        [link] = await LinkStore(store).list_links()
        assert (link.url, link.first_sharer_name, link.tags) == ("https://parent.example/article", asker.username,
                                                                 ("security",))
        # The shy author's link is not filed, and the asker is told why.
        [answer] = await until(replies_from(asker_client, refused["id"], scene.bot), "the answer about the shy post")
        assert "asked bots not to file their posts" in answer["content"]
        assert await LinkStore(store).count_links() == 1


async def test_an_author_who_opted_out_is_not_filed_and_commands_work_by_mention(scene: Scene):
    shy, shy_client = scene.person("shy", note="Bots, please don't: #NoBot")
    alice, alice_client = scene.person("alice")
    async with scene.running_bot() as (adapter, store):
        first = await post(shy_client, f"@{scene.bot.username} https://shy.example/")
        second = await post(shy_client, f"@{scene.bot.username} https://shy.example/again")
        await post(alice_client, f"@{scene.bot.username} https://alice.example/ #rust")
        quiet = await post(alice_client, f"@{scene.bot.username} not this one: https://quiet.example/ #NoBot")
        asked = await post(alice_client, f"@{scene.bot.username} search rust")
        shy_asked = await post(shy_client, f"@{scene.bot.username} search rust")
        adapter.wake()
        [answer] = await until(replies_from(alice_client, asked["id"], scene.bot), "the search answer")
        assert "https://alice.example/" in answer["content"]
        # Opting out of filing is not opting out of talking to the bot: `forget me` must reach it.
        [answer] = await until(replies_from(shy_client, shy_asked["id"], scene.bot), "the search answer to shy")
        assert "https://alice.example/" in answer["content"]
        assert [link.url for link in await LinkStore(store).list_links()] == ["https://alice.example/"]
        # Told once, politely, why nothing was filed; not again for the second mention.
        [told] = await replies_from(shy_client, first["id"], scene.bot)()
        assert "asks bots to leave your posts alone" in told["content"]
        assert "I keep a keyed hash of your account" in told["content"]
        assert not await replies_from(shy_client, second["id"], scene.bot)()
        # #nobot in a post leaves that post alone, whoever wrote it.
        [told] = await until(replies_from(alice_client, quiet["id"], scene.bot), "the answer to #nobot in a post")
        assert "You asked bots to leave this post alone" in told["content"]
        await until(lambda: nothing_owed(store), "every answer sent")
        # What the answer says is what is kept: no row of the store names them or their mentions.
        kept = await everything_in(store)
        for secret in (shy.username, first["id"], second["id"], shy_asked["id"], quiet["id"], "quiet.example"):
            assert str(secret).lower() not in kept, secret
        assert alice.username.lower() in kept


async def nothing_owed(store: Store) -> bool:
    from watchbot.store.outbox import OutboxStore

    return not await OutboxStore(store).unsent()


async def everything_in(store: Store) -> str:
    """Every value of every table of the store, as one lower-case text."""
    from watchbot.store.schema import metadata

    def dump(conn) -> str:
        return "\n".join(str(value) for table in metadata.sorted_tables
                         for row in conn.execute(table.select()) for value in row).lower()

    return await store.read(dump)


@pytest.mark.parametrize("fault", [
    dict(kind="ratelimit"),                        # 429 with reset headers
    dict(kind="status", status=429),               # 429 without them
    dict(kind="delay", delay=4),                   # longer than the client's timeout (2 s here)
])
async def test_rate_limits_and_timeouts_are_waited_out(scene: Scene, fault: dict, monkeypatch):
    import watchbot.networks.fediverse.adapter as fediverse

    monkeypatch.setattr(fediverse, "MAX_BACKOFF", 2.0)  # the announced reset is 5 minutes away
    monkeypatch.setattr(fediverse, "REQUEST_TIMEOUT", 2)
    alice, alice_client = scene.person("alice")
    async with scene.running_bot() as (adapter, store):
        scene.server.inject_fault(path="/api/v1/notifications", times=1, **fault)
        status = await post(alice_client, f"@{scene.bot.username} https://patient.example/")
        adapter.wake()
        await until(replies_from(alice_client, status["id"], scene.bot), "the reply after the fault", timeout=60)


async def test_mentions_made_while_the_stream_was_down_are_caught_up_by_polling(scene: Scene):
    alice, alice_client = scene.person("alice")
    scene.streaming = True
    async with scene.running_bot(poll_seconds=5) as (adapter, store):
        await until(lambda: _alive(adapter), "the stream to open")
        adapter.watchdog.stream.close()  # dropped
        status = await post(alice_client, f"@{scene.bot.username} https://while-dropped.example/")
        await until(replies_from(alice_client, status["id"], scene.bot), "the reply from polling", timeout=30)
        await until(lambda: _alive(adapter), "the watchdog to reopen the stream")


def test_login_registers_authorises_flags_the_bot_and_saves_only_the_token(mastodon_server: MastodonServer,
                                                                          tmp_path: Path, monkeypatch):
    import re
    import stat
    import urllib.parse
    import urllib.request

    from click.testing import CliRunner

    from watchbot.cli import cli
    from watchbot.config import load_settings

    monkeypatch.chdir(tmp_path)
    account = mastodon_server.create_account(name("newbot"))
    # What the person does in their browser: log in as the bot and authorise; the server shows a code.
    form = urllib.parse.urlencode({"username": account.username, "redirect_uri": "urn:ietf:wg:oauth:2.0:oob"})
    page = urllib.request.urlopen(f"{mastodon_server.url}/oauth/authorize", data=form.encode(), timeout=10).read()
    code = re.search(rb"Authorization code: (\S+)</p>", page).group(1).decode()

    result = CliRunner().invoke(cli, ["login", "fediverse"], input=f"{mastodon_server.url}\n{code}\n")
    assert result.exit_code == 0, result.output
    assert f"{mastodon_server.url}/oauth/authorize?" in result.output
    assert f"Logged in as @{account.username}, flagged as a bot" in result.output
    env_file = tmp_path / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    settings = load_settings(env_file)
    me = mastodon_server.client(account).account_verify_credentials()
    assert me["bot"] is True
    token_client = mastodon_server.client(account)
    token_client.access_token = settings.fediverse_access_token.get_secret_value()
    assert token_client.account_verify_credentials()["id"] == me["id"]  # the saved token works

    refused = CliRunner().invoke(cli, ["login", "fediverse"], input=f"{mastodon_server.url}\nnot-a-code\n")
    assert refused.exit_code == 1 and "refused the authorisation code" in refused.output


async def test_saving_a_followers_only_post_files_it_as_private_however_public_the_mention(scene: Scene):
    author, author_client = scene.person("author")
    asker, asker_client = scene.person("asker")
    bot_client = scene.server.client(scene.bot)
    await asyncio.to_thread(bot_client.account_follow, author.id)  # the bot may read followers-only posts
    async with scene.running_bot() as (adapter, store):
        parent = await post(author_client, "For followers: https://followers-only.example/plan", visibility="private")
        saved = await post(asker_client, f"@{scene.bot.username} save this", in_reply_to_id=parent["id"])
        adapter.wake()
        await until(replies_from(asker_client, saved["id"], scene.bot), "the reply to save this")
        [link] = await LinkStore(store).list_links()
        record = await LinkStore(store).get_link(link.id)
        assert [share.visibility.value for share in record.shares] == ["private"]
        assert not await PublishedReader(store).search("followers")


async def test_a_mention_whose_handling_raises_is_kept_the_cursor_moves_past_it_and_the_bot_goes_on(
        scene: Scene, monkeypatch, caplog):
    import json
    import logging

    import watchbot.networks.fediverse.adapter as fediverse
    from tests.poison import Poison, eventually, resolved
    from watchbot.store.failures import RETRIED, FailureStore

    poison = Poison(monkeypatch, fediverse)
    alice, alice_client = scene.person("alice")
    with caplog.at_level(logging.INFO, logger="watchbot"):
        async with scene.running_bot() as (adapter, store):
            bad = await post(alice_client, f"@{scene.bot.username} POISON https://poison.example/")
            adapter.wake()
            [failure] = await until(lambda: FailureStore(store).list(), "the mention to be kept as failed")
            assert (failure.source, failure.place, failure.attempts) == ("mastodon", adapter.instance, 1)
            assert failure.reason == "RuntimeError: a bug met a message it did not expect"
            assert str(json.loads(failure.payload)["status"]["id"]) == str(bad["id"])
            # The last mention read, and it failed: the cursor moved past it all the same.
            assert await CursorStore(store).get(CURSOR) == failure.event_id

            good = await post(alice_client, f"@{scene.bot.username} https://after-the-poison.example/")
            adapter.wake()
            await until(replies_from(alice_client, good["id"], scene.bot), "the reply to the next mention")
            assert [link.url for link in await LinkStore(store).list_links()] == ["https://after-the-poison.example/"]
            assert not await replies_from(alice_client, bad["id"], scene.bot)()
    said = [r for r in caplog.records if f"notification {failure.event_id} " in r.getMessage()
            and r.levelno >= logging.WARNING]
    assert [r.levelname for r in said] == ["ERROR"] and "\n" not in said[0].getMessage()
    assert scene.bot.access_token not in caplog.text

    async with scene.running_bot() as (adapter, store):  # restarted, on the same store
        marker = await post(alice_client, f"@{scene.bot.username} https://after-the-restart.example/")
        adapter.wake()
        await until(replies_from(alice_client, marker["id"], scene.bot), "the reply after the restart")
        assert len(poison.met) == 1  # its handler was not called again

        # The bug mended, an operator asks for a retry: filed and answered, the cursor left where it is.
        poison.cure()
        cursor = await CursorStore(store).get(CURSOR)
        await FailureStore(store).ask_retry([failure.id])
        adapter.wake()
        [reply] = await until(replies_from(alice_client, bad["id"], scene.bot), "the retried mention's reply")
        assert "Filed" in reply["content"]
        retried = await eventually(lambda: resolved(store, failure.id), "the failed event to be resolved")
        assert retried.resolution == RETRIED
        assert await CursorStore(store).get(CURSOR) == cursor



async def test_after_a_first_start_without_mentions_more_than_a_page_of_mentions_are_all_filed(scene: Scene):
    people = [scene.person("crowd")[1] for _ in range(3)]  # under the links one person may share an hour
    async with scene.running_bot(poll_seconds=600) as (adapter, store):
        assert await CursorStore(store).get(CURSOR) == ""  # no mention before: nothing to start from
        for n in range(45):  # more than the 40 a page holds, all before the next poll
            await post(people[n % 3], f"@{scene.bot.username} https://crowd.example/{n}")
        adapter.wake()

        async def all_filed():
            return await LinkStore(store).count_links() == 45

        await until(all_filed, "every mention to be filed", timeout=60)
