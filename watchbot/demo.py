"""`watchbot demo`: a throwaway Matrix homeserver on 127.0.0.1, the real bot on it, and a few
messages posted by real Matrix clients; then the homeserver stays up for a person to connect to.

What happens, in order:

1. Synapse (from PyPI, the ``demo`` extra) starts in a temporary directory (or ``--keep DIR``),
   on 127.0.0.1 only (``watchbot.devserver``).
2. Three accounts: ``demo`` (its password is printed, to log in with any client), ``carol`` and
   the bot. ``demo`` creates a public room, carol joins it, the bot is invited and joins by itself
   (its allow-list holds ``demo``).
3. The bot runs (``MatrixAdapter.run``, as ``watchbot run`` does) over a store in that directory.
4. ``demo`` and ``carol`` post the SAMPLES; their answers (reactions, threaded replies) are read
   back as any client reads them, by syncing; then what was filed, and how to connect.
5. Until Ctrl-C (not with ``--no-wait``), the room is followed and printed: what a person posts
   from a client and what the bot answers.

At exit, however it comes (the end of ``--no-wait``, Ctrl-C, SIGTERM, a closed terminal, an
error): the bot is stopped, clients closed, Synapse stopped, the directory removed (unless
``--keep``). With ``--keep``, running the demo again reuses the accounts (kept in
``demo.json``), the room and the store.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from watchbot.store.links import LinkStore
from watchbot.config import Settings
from watchbot.devserver import MatrixUser, SynapseServer, SynapseServerError, running_synapse, synapse_installed
from watchbot.networks.matrix.events import ALREADY_SHARED_REACTION

DEMO_USER = "demo"
SECOND_USER = "carol"
BOT_USER = "watchbot"
ROOM_NAME = "watchbot demo"
ROOM_ALIAS = "watch-demo"
TAG_ALIASES = {"py": "python", "rustlang": "rust"}
#: Seconds to wait for the bot to join, or to answer the sample messages.
ANSWER_TIMEOUT = 30.0
#: Long-poll of one sync while waiting for something (seconds): also how soon a dead bot is noticed.
_WAIT_SLICE = 2.0
#: While following the room after the tour (milliseconds).
_WATCH_POLL_MS = 30_000
#: Enough timeline per sync for the whole tour: Synapse's default (10 events) would leave gaps.
SYNC_FILTER = {"room": {"timeline": {"limit": 200}}}
INTERRUPTED = 130
#: Ctrl-C, `kill`, a closed terminal: each stops the demo the same way, leaving nothing behind.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class DemoError(Exception):
    """The demo cannot go on; the message says why, in one line where it can."""


@dataclass(frozen=True)
class Sample:
    sender: str  # DEMO_USER or SECOND_USER
    body: str
    html: str | None = None
    msgtype: str = "m.text"
    #: Why the bot says nothing, printed only when it indeed said nothing.
    silence: str = ""


# Messages as Matrix clients send them. Links come from the HTML hrefs, never from the shortened
# text a client shows. The last sample has exactly one link: the bot answers in order, so once it
# has answered that one, it has gone through every message before it.
SAMPLES = (
    Sample(
        DEMO_USER,
        "Async closures are stable! https://blog.rust-lang.org/2025/02/20/Rust-1.85.0.html #rust #Release",
        html='Async closures are stable! <a href="https://blog.rust-lang.org/2025/02/20/Rust-1.85.0.html">'
             "blog.rust-lang.org/2025/02/…</a> #rust #Release",
    ),
    Sample(
        SECOND_USER,
        "Same one, via the newsletter: HTTPS://Blog.Rust-Lang.org/2025/02/20/Rust-1.85.0.html"
        "?utm_source=newsletter&utm_medium=email #rustlang",
    ),
    Sample(
        DEMO_USER,
        "[feed] New release: https://github.com/rust-lang/rust/releases/tag/1.85.0 #rust",
        msgtype="m.notice",
        silence="a notice is what bots send: not filed",
    ),
    Sample(
        DEMO_USER,
        "Two for the #python folks: https://peps.python.org/pep-0703/ and "
        "https://docs.python.org/3/howto/free-threading-python.html #py",
    ),
    Sample(
        SECOND_USER,
        "this one is not a link: javascript:alert(1) and neither is ftp://example.com/file",
        silence="no link in it",
    ),
    Sample(
        DEMO_USER,
        "The list to patch first: https://www.cisa.gov/known-exploited-vulnerabilities-catalog #security #CVE",
    ),
)


def run_demo(keep: Path | None, *, wait: bool, zone: ZoneInfo) -> int:
    """Run the demo; return the exit status (0, or 130 when interrupted before the end of the tour).

    Raises DemoError when it cannot run (matrix-synapse missing, the homeserver does not start, the
    bot does not answer).
    """
    if not synapse_installed():
        raise DemoError("the demo runs a local Matrix homeserver, and matrix-synapse is not installed: "
                        "pip install 'watchbot[demo]'")
    directory = (keep or Path(tempfile.mkdtemp(prefix="watchbot-demo-"))).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    _interrupt_on_signals()
    try:
        heading("Starting a throwaway Matrix homeserver (Synapse) on 127.0.0.1")
        with running_synapse(directory / "homeserver") as server:
            click.echo(f"  {server.url}, its files in {directory}")
            accounts = _accounts(server, directory)
            try:
                return asyncio.run(_demo(server, accounts, directory, kept=keep is not None, wait=wait, zone=zone))
            finally:
                _interrupt_on_signals()  # asyncio put the default actions back: stopping Synapse is next
    except SynapseServerError as error:
        raise DemoError(str(error)) from None
    except KeyboardInterrupt:  # before the bot ran, or while stopping: running_synapse stopped Synapse
        _say("\nInterrupted.")
        return INTERRUPTED
    finally:
        # running_synapse has stopped the homeserver by now, whatever happened.
        if keep is None:
            shutil.rmtree(directory, ignore_errors=True)
            _say(f"Stopped: the homeserver is down and {directory} is removed.")
        else:
            _say(f"Stopped: the homeserver is down; {directory} is kept (run the demo with --keep on it "
                 "again to go on).")
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt_on_signals() -> None:
    """Outside the event loop, each stop signal interrupts as Ctrl-C does (the `finally` blocks run)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.default_int_handler)


def _say(text: str) -> None:
    """A last word that cannot fail the clean-up (the terminal may be gone: SIGHUP)."""
    try:
        click.echo(text)
    except OSError:
        pass


def heading(text: str) -> None:
    click.secho(f"\n== {text}", bold=True)


# -- accounts and room --------------------------------------------------------------------------


@dataclass
class Accounts:
    demo: MatrixUser
    carol: MatrixUser
    bot: MatrixUser
    room_id: str | None = None


def _accounts(server: SynapseServer, directory: Path) -> Accounts:
    """The three accounts: registered now, or read back from a kept directory's demo.json."""
    saved = directory / "demo.json"
    if saved.is_file():
        data = json.loads(saved.read_text())
        return Accounts(*(MatrixUser(**data[name]) for name in ("demo", "carol", "bot")), room_id=data.get("room_id"))
    accounts = Accounts(server.register(DEMO_USER), server.register(SECOND_USER), server.register(BOT_USER))
    _save(accounts, directory)
    return accounts


def _save(accounts: Accounts, directory: Path) -> None:
    path = directory / "demo.json"
    path.touch(mode=0o600)
    path.write_text(json.dumps(asdict(accounts), indent=2) + "\n")


def _client(server: SynapseServer, user: MatrixUser):
    import nio

    # No silent retries: a demo that cannot reach its own homeserver says so instead of hanging.
    config = nio.AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, encryption_enabled=False,
                                   store_sync_tokens=False)
    client = nio.AsyncClient(server.url, user.user_id, store_path=None, config=config)
    client.restore_login(user.user_id, user.device_id, user.access_token)
    return client


class DemoSettings(Settings):
    """The bot's settings for the demo: only what the demo gives, never the environment or a .env."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **_others):
        return (init_settings,)


# -- following a room as a client does ----------------------------------------------------------


class RoomView:
    """A room's timeline as one client sees it, synced on demand; waits never sleep, they sync.

    ``events`` holds every timeline event of the room since the view was made (raw event dicts).
    """

    def __init__(self, client, room_id: str, bot_id: str, bot_task: asyncio.Task, server: SynapseServer) -> None:
        self.client = client
        self.room_id = room_id
        self.bot_id = bot_id
        self.bot_task = bot_task
        self.server = server
        self.events: list[dict[str, Any]] = []

    async def sync(self, timeout_ms: int) -> list[dict[str, Any]]:
        import nio

        async with asyncio.timeout(timeout_ms / 1000 + 15):
            response = await self.client.sync(timeout=timeout_ms, sync_filter=SYNC_FILTER)
        if not isinstance(response, nio.SyncResponse):
            raise DemoError(f"{self.client.user_id} could not sync with the homeserver: {response}")
        room = response.rooms.join.get(self.room_id)
        new = [event.source for event in room.timeline.events] if room else []
        self.events += new
        return new

    def check_bot(self) -> None:
        if self.bot_task.done():
            error = None if self.bot_task.cancelled() else self.bot_task.exception()
            raise DemoError(f"the bot stopped: {error!r}; the homeserver's log is {self.server.log_path}")

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANSWER_TIMEOUT
        checked = 0
        while True:
            for event in self.events[checked:]:
                if predicate(event):
                    return event
            checked = len(self.events)
            self.check_bot()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise DemoError(f"no {what} within {ANSWER_TIMEOUT:g} s; "
                                f"the homeserver's log is {self.server.log_path}")
            await self.sync(max(1, int(min(remaining, _WAIT_SLICE) * 1000)))

    def name(self, user_id: str) -> str:
        room = self.client.rooms.get(self.room_id)
        return (room.user_name(user_id) if room else None) or user_id

    # What the bot said about one message.

    def reactions_to(self, event_id: str) -> list[str]:
        return [_relation(e).get("key", "") for e in self.events
                if e.get("sender") == self.bot_id and e.get("type") == "m.reaction"
                and _relation(e).get("event_id") == event_id]

    def replies_to(self, event_id: str) -> list[str]:
        return [str(e.get("content", {}).get("body", "")) for e in self.events
                if e.get("sender") == self.bot_id and e.get("type") == "m.room.message"
                and _relation(e).get("m.in_reply_to", {}).get("event_id") == event_id]

    def answered(self, event_id: str) -> bool:
        return bool(self.reactions_to(event_id) or self.replies_to(event_id))


def _relation(event: dict[str, Any]) -> dict[str, Any]:
    relation = (event.get("content") or {}).get("m.relates_to")
    return relation if isinstance(relation, dict) else {}


def _is_join(user_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: (e.get("type") == "m.room.member" and e.get("state_key") == user_id
                      and (e.get("content") or {}).get("membership") == "join")


# -- the demo -------------------------------------------------------------------------------------


async def _demo(server: SynapseServer, accounts: Accounts, directory: Path, *, kept: bool, wait: bool,
                zone: ZoneInfo) -> int:
    import nio

    from watchbot.intake import Rules
    from watchbot.networks.matrix import MatrixAdapter
    from watchbot.store import Store

    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        if not interrupted:  # a second Ctrl-C does not cut the clean-up short
            interrupted = True
            main.cancel()
            _say("\nStopping: the bot, the clients, the homeserver…")

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, interrupt)

    following = False
    clients: list[nio.AsyncClient] = []
    store: Store | None = None
    bot_task: asyncio.Task | None = None
    try:
        demo, carol = _client(server, accounts.demo), _client(server, accounts.carol)
        clients += [demo, carol]
        first = await demo.sync(timeout=0, sync_filter=SYNC_FILTER)
        if not isinstance(first, nio.SyncResponse):
            raise DemoError(f"{accounts.demo.user_id} could not sync with the homeserver: {first}")

        room_id, alias = await _room(demo, carol, accounts, directory)
        database_url = f"sqlite:///{directory / 'watchbot.db'}"
        settings = DemoSettings(
            database_url=database_url,
            matrix_homeserver=server.url,
            matrix_user_id=accounts.bot.user_id,
            matrix_access_token=accounts.bot.access_token,
            matrix_device_id=accounts.bot.device_id,
            matrix_allowed_inviters=[accounts.demo.user_id],
            tag_aliases=TAG_ALIASES,
            timezone=str(zone),
        )
        store = await Store.open(database_url)
        bot_task = asyncio.create_task(MatrixAdapter.from_settings(settings, store, Rules.from_settings(settings)).run(),
                                       name="watchbot")
        view = RoomView(demo, room_id, accounts.bot.user_id, bot_task, server)

        heading(f'Room {alias or room_id} "{ROOM_NAME}": {DEMO_USER} and {SECOND_USER} are in it')
        room = demo.rooms.get(room_id)
        if room is not None and accounts.bot.user_id in room.users:
            click.echo(f"  the bot ({accounts.bot.user_id}) is in it already (a kept directory)")
        else:
            await demo.room_invite(room_id, accounts.bot.user_id)
            await view.wait_for(_is_join(accounts.bot.user_id), "join by the bot after its invite")
            click.echo(f"  {DEMO_USER} invited the bot ({accounts.bot.user_id}); it joined by itself")

        sent = await _tour(view, {DEMO_USER: demo, SECOND_USER: carol})
        heading("In the room, as a Matrix client shows it (🔖 a new link, filed; 🔁 shared before)")
        for sample, event_id in sent:
            _print_exchange(view, sample, event_id)

        await _print_store(store, zone)
        _print_connect(server, accounts, room_id, alias, directory, database_url, kept=kept, wait=wait)
        if not wait:
            return 0
        following = True
        heading("Following the room: what is posted there and what the bot answers (Ctrl-C stops)")
        await _follow(view)
        return 0  # not reached: following ends with Ctrl-C
    except asyncio.CancelledError:
        if not interrupted:
            raise
        return 0 if following else INTERRUPTED
    finally:
        if bot_task is not None:
            bot_task.cancel()
            await asyncio.gather(bot_task, return_exceptions=True)
        for client in clients:
            await client.close()
        if store is not None:
            await store.close()
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


async def _room(demo, carol, accounts: Accounts, directory: Path) -> tuple[str, str | None]:
    """The demo room: created public by demo (or the kept one), carol in it. Returns (id, alias)."""
    import nio

    alias = f"#{ROOM_ALIAS}:{demo.user_id.split(':', 1)[1]}"
    room_id = accounts.room_id if accounts.room_id in demo.rooms else None
    if room_id is None:
        created = None
        for room_alias in (ROOM_ALIAS, None):  # the alias may be taken in a kept directory
            created = await demo.room_create(
                visibility=nio.RoomVisibility.public,
                preset=nio.RoomPreset.public_chat,  # anyone on the homeserver may join
                alias=room_alias,
                name=ROOM_NAME,
                topic="Drop links with #hashtags: watchbot files them and says who shared them first.",
                federate=False,
            )
            if isinstance(created, nio.RoomCreateResponse):
                alias = alias if room_alias else None
                break
        if not isinstance(created, nio.RoomCreateResponse):
            raise DemoError(f"{demo.user_id} could not create the demo room: {created}")
        room_id = created.room_id
        accounts.room_id = room_id
        _save(accounts, directory)
    joined = await carol.join(room_id)
    if not isinstance(joined, nio.JoinResponse):
        raise DemoError(f"{carol.user_id} could not join the demo room: {joined}")
    return room_id, alias


async def _tour(view: RoomView, clients: dict[str, Any]) -> list[tuple[Sample, str]]:
    """Post the samples; return them with their event ids once the bot has answered them all."""
    import nio

    sent: list[tuple[Sample, str]] = []
    for sample in SAMPLES:
        content: dict[str, Any] = {"msgtype": sample.msgtype, "body": sample.body}
        if sample.html:
            content |= {"format": "org.matrix.custom.html", "formatted_body": sample.html}
        response = await clients[sample.sender].room_send(view.room_id, "m.room.message", content)
        if not isinstance(response, nio.RoomSendResponse):
            raise DemoError(f"{sample.sender} could not post in the demo room: {response}")
        sent.append((sample, response.event_id))
    # The bot answers in order; the last sample has one link, so its first answer is its whole
    # answer and everything before it has been answered too...
    last = sent[-1][1]
    await view.wait_for(lambda e: view.answered(last), "answer from the bot to the sample messages")
    # ...except that a threaded reply follows its 🔁 reaction.
    for _sample, event_id in sent:
        if ALREADY_SHARED_REACTION in view.reactions_to(event_id):
            await view.wait_for(lambda e, event_id=event_id: bool(view.replies_to(event_id)),
                                "threaded reply from the bot")
    return sent


def _print_exchange(view: RoomView, sample: Sample, event_id: str) -> None:
    kind = " (m.notice, as bots send)" if sample.msgtype == "m.notice" else ""
    click.echo(f"{sample.sender}{kind}: {sample.body}")
    reactions, replies = view.reactions_to(event_id), view.replies_to(event_id)
    if reactions:
        click.secho(f"  bot reacts {' '.join(reactions)}", fg="green")
    for reply in replies:
        for number, line in enumerate(reply.splitlines()):
            click.secho(f"  {'bot replies in a thread:' if number == 0 else ' ' * 24} {line}", fg="green")
    if not reactions and not replies:
        click.secho(f"  bot: nothing{f' ({sample.silence})' if sample.silence else ''}", fg="yellow")


async def _print_store(store, zone: ZoneInfo) -> None:
    heading("What the bot filed (watchbot links list)")
    for link in await LinkStore(store).list_links():
        day = link.first_shared_at.astimezone(zone).strftime("%Y-%m-%d")
        tags = f" [{', '.join(link.tags)}]" if link.tags else ""
        shares = f" ({link.share_count} shares)" if link.share_count > 1 else ""
        click.echo(f"  #{link.id:<3} {day} {link.first_sharer_name}: {link.url}{tags}{shares}")
    heading("watchbot tags")
    counts = await LinkStore(store).tag_counts()
    width = max((len(tag) for tag, _ in counts), default=0)
    for tag, count in counts:
        click.echo(f"  {tag:<{width}}  {count}")


def _print_connect(server: SynapseServer, accounts: Accounts, room_id: str, alias: str | None, directory: Path,
                   database_url: str, *, kept: bool, wait: bool) -> None:
    # After `make demo` the program is .venv/bin/watchbot, not on PATH: name it as it was run.
    program = sys.argv[0] if sys.argv[0].endswith("watchbot") else "watchbot"
    room = f"{alias} ({room_id})" if alias else room_id
    heading("Your turn: connect a Matrix client to this homeserver")
    click.echo(
        f"  Homeserver  {server.url}   (on this machine only)\n"
        f"  User        {DEMO_USER}   ({accounts.demo.user_id})\n"
        f"  Password    {accounts.demo.password}\n"
        f"  Room        {room}, {DEMO_USER} is in it already\n"
        "In Element (or any Matrix client) sign in with another homeserver: the URL above, then the user\n"
        "and password. Post a link with a few #hashtags in the room: the bot reacts, and says who\n"
        "shared it first. Ask it too: !watch help, !watch search python, !watch tags."
    )
    if wait or kept:
        click.echo(f"The store, from another terminal:\n  WATCHBOT_DATABASE_URL={database_url} {program} links list")
    if not wait:
        click.echo("(--no-wait: stopping now.)")
    elif kept:
        click.echo(f"Ctrl-C stops the bot and the homeserver; {directory} is kept.")
    else:
        click.echo(f"Ctrl-C stops the bot and the homeserver and removes {directory}.")


async def _follow(view: RoomView) -> None:
    """Print what happens in the room until cancelled."""
    while True:
        view.check_bot()
        for event in await view.sync(_WATCH_POLL_MS):
            line = _describe(view, event)
            if line:
                click.secho(line, fg="green" if event.get("sender") == view.bot_id else None)


def _describe(view: RoomView, event: dict[str, Any]) -> str | None:
    content = event.get("content") or {}
    sender = str(event.get("sender", ""))
    kind = event.get("type")
    if sender == view.bot_id:
        if kind == "m.reaction":
            return f"  bot reacts {_relation(event).get('key', '')}"
        if kind == "m.room.message":
            return "\n".join(f"  bot: {line}" for line in str(content.get("body", "")).splitlines())
        return None
    if kind == "m.room.message":
        return f"{view.name(sender)}: {content.get('body', '')}"
    if kind == "m.room.member" and content.get("membership") == "join":
        return f"({view.name(str(event.get('state_key', sender)))} joined)"
    return None
