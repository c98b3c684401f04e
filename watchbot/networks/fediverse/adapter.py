"""The Mastodon adapter: mentions in, filed through intake, answered with fediverse manners.

- Mastodon.py is synchronous: every call runs on this adapter's one worker thread, never on the
  event loop.
- Nothing missed, nothing twice: notifications are walked forward from the cursor kept in the
  store, and the cursor moves in the same transaction as the shares of that mention. A first
  start takes the newest mention as its starting point and answers none of the old ones.
- A notification whose handling raises is kept as a failed event (isolation.py), the cursor
  moved past it in the same transaction: one mention cannot stop the bot, nor stop it again.
- Manners: a reply mentions only the person answered; a public mention is answered unlisted,
  private stays private, direct stays direct; bots and the bot itself are never answered; a
  status is answered once (the store remembers it); every post carries an Idempotency-Key derived
  from what it answers, so a retry never posts twice. Replies per thread are capped (after that a
  favourite acknowledges), and a favourite can replace the reply for filed links altogether.
- Owed answers are data: every reply, favourite, direct message and alert is written to the
  outbox in the transaction of what it answers (the filing and the cursor), and one Sender sends
  them from there (fediverse/outbox.py): after a crash, each is sent once.
- A refused access token (401) stops this network with one line saying how to log in again; the
  other networks go on. Each good poll is a heartbeat (`watchbot status`).
- Servers that speak the API differently are tolerated: no version check, only `mention`
  notifications are read even where `types` is ignored, ids are opaque strings.
- 429 waits for the reset the server announced (or backs off); 5xx and network errors are retried
  with backoff and the same key, said in one line naming the server and the next try; other 4xx
  are not retried.
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass, field, replace
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo
from urllib.parse import urlsplit

from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from watchbot.accounts import canonical_account
from watchbot.commands import Caller, Desk, Reply, parse_command
from watchbot.consent import opted_out_mark
from watchbot.health import Pulse
from watchbot.intake import IntakeResult, Outcome, Rules, describe, file_post, refused_for_length
from watchbot.isolation import Isolation, one_line
from watchbot.model import Visibility, utcnow
from watchbot.networks.fediverse import outbox as owing
from watchbot.options import named_in
from watchbot.network import Networks, Offers
from watchbot.networks.fediverse.budget import Budget
from watchbot.networks.fediverse.events import (
    account_domain,
    account_id_of,
    command_text,
    mention_from_a_person,
    opted_out,
    post_from_status,
    legacy_idempotency_key,
    status_left_alone,
)
from watchbot.networks.fediverse.pace import Clock, PollPace
from watchbot.networks.fediverse.outlets import MastodonDigestOutlet
from watchbot.networks.fediverse.stream import streaming_base
from watchbot.networks.fediverse.watchdog import StreamWatchdog
from watchbot.networks.fediverse.outbox import Delivery
from watchbot.status_text import StatusLimits, limits_from_instance
from watchbot.outbox import Sender
from watchbot.policy import Role, heard, power_of
from watchbot.store import Store
from watchbot.model import Owed
from watchbot.store.cursors import CursorStore
from watchbot.store.outbox import OutboxStore
from watchbot.store.replies import ReplyStore
from watchbot.store.servers import adopt_server_name, server_name

log = logging.getLogger(__name__)
T = TypeVar("T")

SOURCE = "mastodon"
OPENNESS = [Visibility.PUBLIC, Visibility.UNLISTED, Visibility.PRIVATE, Visibility.DIRECT]  # most open first
CURSOR = "mastodon.notification_id"
REQUEST_TIMEOUT = 30  # seconds; a request that takes longer is retried
AUTHOR_OPTED_OUT = (
    "Your profile asks bots to leave your posts alone (#nobot or #noindex), so I file nothing of "
    "yours. To say this only once I keep a keyed hash of your account, which nobody can read your "
    "name from; nothing else of you or of this mention. I will not say this again."
)
POST_OPTED_OUT = (
    "You asked bots to leave this post alone (#nobot or #noindex), so I filed nothing of it. To say "
    "this only once I keep a keyed hash of your account, which nobody can read your name from; "
    "nothing else of you or of this post. I will not say this again."
)
PARENT_OPTED_OUT = (
    "The post you answered is by someone who asked bots not to file their posts (#nobot or "
    "#noindex in their profile), so I did not."
)
PAGE = 40
# For servers that know exclude_types but not types (older Pleroma): the same filter, other way.
NOT_MENTIONS = ["follow", "follow_request", "favourite", "reblog", "poll", "status", "update",
                "admin.sign_up", "admin.report", "severed_relationships", "moderation_warning"]
MAX_BACKOFF = 300.0


@dataclass(frozen=True, slots=True)
class FediverseOptions:
    """What the fediverse network needs to know from the settings (named as the settings name them)."""

    fediverse_instance: str
    fediverse_access_token: Any = field(repr=False)  # a SecretStr: read only to call the API, never logged
    fediverse_moderators: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    fediverse_streaming: bool = True
    fediverse_poll_seconds: int = 15
    fediverse_replies_per_thread: int = 5
    fediverse_acknowledge: str = "reply"
    feeds_alerts_to_fediverse: bool = False
    digest_to_fediverse: bool = True
    digest_language: str = "en"
    zone: ZoneInfo = ZoneInfo("UTC")
    digest_archive_for: Callable[[Any], str | None] = field(default=lambda period: None, repr=False)

    @classmethod
    def from_settings(cls, settings) -> FediverseOptions:
        return named_in(cls, settings)


class FediverseAdapter:
    """The fediverse network (watchbot.network.Network), built complete: its commands run on
    `desk`, shared with the other networks (a desk of its own when it runs alone)."""

    name = SOURCE
    offers = Offers(streaming=True, editing=True, reactions=False, drafts=False, rechecks=True)

    def __init__(self, options: FediverseOptions, store: Store, rules: Rules, *, desk: Desk,
                 clock: Clock | None = None, wall_clock: Callable[[], datetime] = utcnow) -> None:
        """`clock` paces the polls (monotonic time, waits); `wall_clock` says what time it is
        where the date is recorded (the outbox's start, the digest's pieces): bot.py's clock."""
        self.desk = desk
        self.options = options
        self.store = store
        self.rules = rules
        self.api_host = urlsplit(options.fediverse_instance).hostname or options.fediverse_instance
        # The account's domain once connected (connect()): it names places, outlets and accounts.
        self.instance = self.api_host
        self.clock = clock or Clock()
        self.wall_clock = wall_clock
        self.pace = PollPace(idle=float(options.fediverse_poll_seconds))
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="watchbot-mastodon")
        self._wake = asyncio.Event()
        self.ready = asyncio.Event()  # the account and the server's limits are known
        self.moderation = desk.moderation
        self.api: Mastodon | None = None
        self.own_id = ""
        self.own_acct = ""
        # Keeps a stream open beside the polls, once the server is known (the streaming base).
        self.watchdog = StreamWatchdog(options.fediverse_instance, options.fediverse_access_token, self.wake,
                                       call=self._call, clock=self.clock, pace=self.pace)
        self._streaming: asyncio.Task | None = None  # the watchdog's task
        self.limits = StatusLimits()
        self.server_described: dict[str, Any] = {}
        self._requests = Budget(300, 5 * 60)
        self._posts = Budget(300, 3 * 60 * 60)
        self.isolation = Isolation(store, SOURCE, "Mastodon notification", log,
                                   secrets=[options.fediverse_access_token.get_secret_value()])
        self.pulse = Pulse(store, SOURCE)
        self.outbox = OutboxStore(store)
        self.sender = Sender(store, SOURCE, Delivery(store, self._api_once, lambda: self.limits,
                                                     options.fediverse_instance, lambda: self.own_id,
                                                     clock=wall_clock))

    @classmethod
    def from_settings(cls, settings, store: Store, rules: Rules, **more) -> FediverseAdapter:
        """The fediverse network alone (tests, benchmarks): a desk of its own, this the only network
        it tells. `watchbot run` builds it in bot.py, on the desk every network shares."""
        networks = Networks()
        adapter = cls(FediverseOptions.from_settings(settings), store, rules,
                      desk=Desk.from_settings(store, settings, networks=networks), **more)
        networks.join(adapter)
        return adapter

    async def run(self) -> None:
        """Follow mentions until cancelled: the first poll at once, streaming looked for after it;
        the owed answers sent beside. Returns when the server refuses the token."""
        sending = None
        try:
            await self.connect()
            sending = asyncio.create_task(self.sender.run(), name="mastodon-send")
            if await CursorStore(self.store).get(CURSOR) is None:
                await self._first_start()
            while True:
                # Cleared before reading, so a mention announced while reading is read next.
                self._wake.clear()
                if await self._catch_up():
                    self.pace.found(self.clock.monotonic())
                await self.pulse.ok()
                await self._retry_asked()
                if self.options.fediverse_streaming and self._streaming is None:
                    self._streaming = asyncio.create_task(self.watchdog.run())
                await self.clock.wait(self._wake, self.pace.wait(self.clock.monotonic(), live_stream=self.watchdog.live))
        except MastodonUnauthorizedError:
            # Retrying cannot help: this network stops here, saying what to do; the others go on.
            line = (f"{self.options.fediverse_instance} refused the access token; log in again with "
                    "`watchbot login fediverse`, then restart the bot")
            log.error("Mastodon: stopped: %s", line)
            await self.pulse.stopped(line)
        finally:
            if sending is not None:
                sending.cancel()
                await asyncio.gather(sending, return_exceptions=True)
            await self.close()

    async def connect(self) -> None:
        """The account and what the server allows; enough to post (`watchbot digest post`)."""
        self.api = await self._call(
            Mastodon,
            api_base_url=self.options.fediverse_instance,
            access_token=self.options.fediverse_access_token.get_secret_value(),
            ratelimit_method="throw",  # we wait, on our terms, without holding the worker
            request_timeout=REQUEST_TIMEOUT,
            version_check_mode="none",  # other servers speak the API without Mastodon's versions
        )
        me = await self._api("account_verify_credentials")
        self.own_id, self.own_acct = str(me["id"]), str(me["acct"])
        # Rows owed by a version whose keys were unkeyed get keyed ones (decision 33, "Keys keyed").
        if rekeyed := await owing.rekey(self.store, self._secret()):
            log.info("Mastodon: %d owed or sent answer(s) now kept under keyed keys", rekeyed)
        await self._learn_the_server()
        self.instance = account_domain(self.server_described.get("instance_v2"),
                                       self.server_described.get("instance_v1"), self.own_acct, self.api_host)
        await self._adopt_the_name()
        self.ready.set()

    async def _adopt_the_name(self) -> None:
        """Older versions filed things under the API's host: rename them to the account's domain
        once (the first start that knows it); a store that names the server otherwise is told of
        in the log, never renamed behind the operator's back."""
        named = await server_name(self.store)
        if named is None:
            renamed = await adopt_server_name(self.store, self.instance, formerly=self.api_host)
            if renamed:
                log.warning("Mastodon: %d records filed under the API's address %s now name the account's "
                            "domain %s", renamed, self.api_host, self.instance)
        elif named != self.instance:
            log.warning("Mastodon: this store names the server %s but the account is on %s; what was filed "
                        "under %s keeps that name (see README, Fediverse servers)", named, self.instance, named)

    async def close(self) -> None:
        if self._streaming is not None:
            self._streaming.cancel()
            await asyncio.gather(self._streaming, return_exceptions=True)
        await self.watchdog.close()
        self._worker.shutdown(wait=False, cancel_futures=True)

    # -- the digest -------------------------------------------------------------------------

    def digest_outlets(self) -> list[MastodonDigestOutlet]:
        """The bot's own account, as a thread, once the server is known (empty before)."""
        if not self.ready.is_set() or not self.options.digest_to_fediverse:
            return []
        return [MastodonDigestOutlet(self.instance, self.store, self._api, self.limits,
                                     language=self.options.digest_language,
                                     archive_for=self.options.digest_archive_for, clock=self.wall_clock)]

    async def announce(self, text: str, html: str, *, key: str, public: bool = True) -> None:
        """An alert feed's new entry on the bot's account, unlisted, when the settings ask for it
        (within the same rate limits as everything else). Notices for moderators (`public` false)
        stay in the rooms."""
        if not (public and self.options.feeds_alerts_to_fediverse):
            return
        # Owed, not posted: sent once connected (cut to the server's length then), kept if refused.
        if await self.outbox.holds(SOURCE, legacy_idempotency_key("announce", key)):
            return  # owed before the upgrade, under its unkeyed key
        await OutboxStore(self.store).owe([owing.announcement(text, self.options.digest_language, key,
                                                              self._secret())])
        self.sender.wake()

    async def recheck(self, uri: str) -> tuple[bool, int]:
        """Whether the status a share came from still exists (deleted ones leave the digest), and
        how many favourites it has (they rank the digest). Only posts the bot answered are known
        by their local id; others are taken as present, without favourites."""
        local_id = await ReplyStore(self.store).answered_id_of(SOURCE, uri)
        if local_id is None:
            return True, 0
        try:
            status = await self._api("status", local_id)
        except MastodonNotFoundError:
            return False, 0
        except MastodonAPIError as error:  # 401/403: cannot tell; keep it
            log.info("Mastodon: could not check %s (%s)", uri, error)
            return True, 0
        favourites = status.get("favourites_count")
        return True, favourites if isinstance(favourites, int) and favourites > 0 else 0

    def draft_outlets(self) -> list:
        """None: drafts are reviewed in a Matrix room (offers.drafts is false)."""
        return []

    def wake(self) -> None:
        """Poll now (the stream saw a mention)."""
        self._wake.set()

    async def _learn_the_server(self) -> None:
        """What the server allows, from what it says of itself (v2, else v1): no version checks,
        since GoToSocial, Akkoma and Pleroma speak the API with versions of their own."""
        described: dict[str, Any] = {}
        for version in ("instance_v2", "instance_v1"):
            # Asked once each, never retried: an older server has no v2 (404), another fails on
            # it (5xx, a page that is not JSON), and the bot must start all the same.
            try:
                await self._within_budget(version)
                answer = await self._call(getattr(self.api, version))
            except (MastodonError, ValueError) as error:
                log.info("Mastodon: no answer from %s (%s)", version, one_line(str(error), 160))
                continue
            if isinstance(answer, dict):
                described[version] = answer
        self.limits = limits_from_instance(described.get("instance_v2"), described.get("instance_v1"))
        self.server_described = described
        self.watchdog.streaming_base = streaming_base(
            described.get("instance_v2"), described.get("instance_v1"), self.options.fediverse_instance)

    # -- receiving --------------------------------------------------------------------------

    async def _first_start(self) -> None:
        newest = await self._api("notifications", types=["mention"], limit=1)
        await CursorStore(self.store).set(CURSOR, str(newest[0]["id"]) if newest else "")
        log.info("Mastodon: first start as @%s; answering mentions from now on", self.own_acct)

    async def _catch_up(self) -> bool:
        """Every mention newer than the cursor, oldest first, page by page; whether any came."""
        found = False
        while True:
            cursor = await CursorStore(self.store).get(CURSOR) or None
            if cursor is None:  # no mention before the first start: every one since is new
                page = await self._every_mention()
            else:
                page = await self._api("notifications", types=["mention"], exclude_types=NOT_MENTIONS,
                                       min_id=cursor, limit=PAGE)
            found = found or bool(page)
            # Servers return a page newest first; ids are opaque, so the order is all we use.
            for notification in reversed(page):
                try:
                    await self._handle(notification)
                except MastodonUnauthorizedError:
                    raise  # not this mention's fault: the network stops (run)
                except Exception as error:  # noqa: BLE001 -- one mention never stops the bot: kept, and on
                    # Kept and the cursor moved past it in one transaction: it is not read again.
                    number = notification.get("id")
                    # Not kept whole when it is someone's who asked bots to leave them be: it
                    # holds their status and account (kept without it, it cannot be retried).
                    kept = None if _left_alone(notification, self.rules.max_post_chars) else notification
                    await self.isolation.failed(error, place=self.instance, event_id=number, payload=kept,
                                                cursor=(CURSOR, str(number)) if number is not None else None)
            if len(page) < PAGE:
                return found

    async def _every_mention(self) -> list[dict[str, Any]]:
        """All mentions there are, newest first (read backwards page by page): without a cursor,
        a first page would be the newest ones only, and the older ones of a burst lost."""
        mentions: list[dict[str, Any]] = []
        while True:
            page = await self._api("notifications", types=["mention"], exclude_types=NOT_MENTIONS,
                                   max_id=mentions[-1]["id"] if mentions else None, limit=PAGE)
            mentions += page
            if len(page) < PAGE:
                return mentions

    async def _retry_asked(self) -> None:
        """The notifications an operator asked to retry (`watchbot failed retry`). Each is handed
        over with the cursor's position as its id: the handler moves the cursor to where it is,
        never back to the old notification (which would read every later mention again)."""
        async def handle(failure) -> None:
            await self._handle({**json.loads(failure.payload), "id": await CursorStore(self.store).get(CURSOR) or ""})

        await self.isolation.retry_asked(handle)

    async def _handle(self, notification: dict[str, Any]) -> None:
        cursor = (CURSOR, str(notification["id"]))
        status = mention_from_a_person(notification, self.own_id)
        if status is None:
            await CursorStore(self.store).set(*cursor)
            return
        account = status.get("account") or {}
        if opted_out(account) or status_left_alone(status, max_chars=self.rules.max_post_chars):
            await self._leave_alone(status, account, cursor)
            return
        post = post_from_status(status, self.instance, max_chars=self.rules.max_post_chars)
        listed = {canonical_account(account) for account in self.options.fediverse_moderators}
        role = await self.moderation.role(post.author_id, moderator=canonical_account(post.author_id) in listed)
        if role is Role.STRANGER:
            command = None if post.links else parse_command(command_text(status, self.own_acct), addressed=True)
            if command is None or not heard(role, command.name, command.args):
                await CursorStore(self.store).set(*cursor)  # banned: neither filed nor answered
                return
        too_long = refused_for_length(post, self.rules)
        if too_long is not None:  # nothing of it was read: not its links, nor a command
            await self._answer(status, [too_long], cursor=cursor)
            return
        if not post.links and status.get("in_reply_to_id"):
            # "@watch save this" in reply to a post: file that post's links, shared by the asker.
            parent = await self._parent(status)
            if parent is not None and opted_out(parent.get("account") or {}):
                # Its thread is named by a keyed hash of the parent's id: no table keeps the id
                # of a post whose author opted out (decision 33, "Keys keyed").
                mark = f"opted-out:{opted_out_mark(str(parent['id']), self._secret())}"
                await self._answer(status, [PARENT_OPTED_OUT], cursor=cursor, parent=mark)
                return
            found = (post_from_status(parent, self.instance, max_chars=self.rules.max_post_chars)
                     if parent is not None else None)
            if found is not None and found.links:
                # Filed no more openly than the saved post was posted (a followers-only post
                # saved by a public mention stays followers-only).
                visibility = max(post.visibility, found.visibility, key=OPENNESS.index)
                post = replace(post, links=found.links, extra_tags=post.extra_tags + found.extra_tags,
                               visibility=visibility)
        if not post.links:
            # The command runs first, its answer owed with the cursor: a crash in between runs it
            # again (commands say where things stand), never answers it twice.
            reply = await self._command(status, post, role)
            await self._answer(status, reply.text.splitlines() if reply else [], cursor=cursor,
                               kept=reply is None or reply.kept)
            return
        answer = await self._answering(status)

        def answers(result: IntakeResult) -> list[Owed]:
            if result.ignored or (result.results and all(r.outcome is Outcome.REPLAYED for r in result.results)):
                return []  # a burst past the limit (told once), or answered when it was filed
            # A favourite says "filed" as well as a reply would, unless there is more to say.
            quiet = self.options.fediverse_acknowledge == "favourite" and not (result.problems or result.notes) and all(
                r.outcome is Outcome.FILED for r in result.results)
            return answer([] if quiet else self._lines(result), filed=True)

        await file_post(self.store, post, self.rules, cursor=cursor, gate=self.moderation, role=role,
                        answers=answers)
        self.sender.wake()

    async def _leave_alone(self, status: dict[str, Any], account: dict[str, Any], cursor: tuple[str, str]) -> None:
        """A mention from someone whose profile, or this post, asks bots to leave it alone: nothing
        of it is filed. A command is still answered (opting out of filing is not opting out of
        talking to the bot: `forget me` must reach it), by an answer forgotten once sent, as the
        one notice is; anything else is told once why nothing was filed."""
        post = post_from_status(status, self.instance, max_chars=self.rules.max_post_chars)
        if post.links or status.get("in_reply_to_id") or refused_for_length(post, self.rules) is not None:
            await self._tell_opted_out_once(status, account, cursor)
            return
        listed = {canonical_account(moderator) for moderator in self.options.fediverse_moderators}
        role = await self.moderation.role(post.author_id, moderator=canonical_account(post.author_id) in listed)
        reply = await self._command(status, post, role) if role is not Role.STRANGER else None
        # Not through _answer: a reply is recorded in its thread, whose ids lead to them.
        owed = [owing.opted_out_answer(status, reply.text, self._secret())] if reply and reply.text else []
        await OutboxStore(self.store).owe(owed, cursor=cursor)
        self.sender.wake()

    async def _tell_opted_out_once(self, status: dict[str, Any], account: dict[str, Any],
                                   cursor: tuple[str, str]) -> None:
        """Say why nothing was filed, once per account (remembered in the store), never again after."""
        # Neither the log nor the store names them: only a keyed hash, to tell them once.
        log.info("Mastodon: a mention that asked to be left alone (#nobot/#noindex): not filed")
        told = f"mastodon.told_opted_out:{opted_out_mark(account_id_of(account, self.instance), self._secret())}"
        if await CursorStore(self.store).get(told) is None:
            text = AUTHOR_OPTED_OUT if opted_out(account) else POST_OPTED_OUT
            await OutboxStore(self.store).owe([owing.opted_out_answer(status, text, self._secret())],
                                              cursor=(told, "told"))
            self.sender.wake()
        await CursorStore(self.store).set(*cursor)

    async def _parent(self, status: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return await self._api("status", status["in_reply_to_id"])
        except MastodonUnauthorizedError:
            raise
        except MastodonAPIError:  # deleted, or not visible to the bot
            return None

    def _lines(self, result: IntakeResult) -> list[str]:
        return [describe(r, self.options.zone) for r in result.results] + list(result.problems) + list(result.notes)

    async def _command(self, status: dict[str, Any], post, role: Role) -> Reply | None:
        command = parse_command(command_text(status, self.own_acct), addressed=True)
        if command is None:
            return None
        # Fediverse moderators are listed in the settings: their power reaches the whole store.
        caller = Caller(post.author_id, post.author_name, power_of(role, post.place, moderators_place=True))
        return await self.desk.answer(command, caller, key=str(status["id"]))

    async def tell_moderators(self, text: str, *, place: str | None, key: str) -> None:
        """A direct message to the fediverse's moderators and admins (a report made here), owed."""
        accounts = [a for a in [*self.options.fediverse_moderators, *self.options.admins]
                    if "@" in a and ":" not in a]
        if not accounts:
            return
        # Local accounts are mentioned by their name alone, as the server knows them.
        mentions = " ".join(f"@{account.removesuffix('@' + self.instance)}" for account in dict.fromkeys(accounts))
        if await self.outbox.holds(SOURCE, legacy_idempotency_key("moderators", key)):
            return  # owed before the upgrade, under its unkeyed key
        await OutboxStore(self.store).owe([owing.to_moderators(mentions, text, key, self._secret())])
        self.sender.wake()

    # -- answering --------------------------------------------------------------------------

    async def _answering(self, status: dict[str, Any], parent: str | None = None) -> Callable[..., list[Owed]]:
        """How `status` is to be answered, from what the store knows now; the function returned is
        pure, so it can run inside the filing's transaction. A reply while its thread is under its
        cap (answers still waiting to be sent count as made), else for filed links a favourite;
        nothing for a status answered before. `parent`: what stands for the status it answers
        (a keyed mark, for a post whose author opted out)."""
        status_id = str(status["id"])
        parent = parent or status.get("in_reply_to_id")
        thread, made, answered = await ReplyStore(self.store).thread(SOURCE, status_id, parent and str(parent))
        made += await self.outbox.waiting_in(SOURCE, thread)
        under_cap = made < self.options.fediverse_replies_per_thread

        def answer(lines: list[str], *, filed: bool = False, kept: bool = True) -> list[Owed]:
            if answered or not (lines or filed):
                return []
            if lines and under_cap:
                return [owing.reply(status, lines, thread, self._secret(), kept=kept)]
            return [owing.favourite(status, thread, self._secret())] if filed else []

        return answer

    async def _answer(self, status: dict[str, Any], lines: list[str], *, cursor: tuple[str, str],
                      kept: bool = True, parent: str | None = None) -> None:
        """Owe the answer to a status that filed nothing, and move the cursor past it, at once
        (`kept` False: kept without what it said once sent)."""
        answer = await self._answering(status, parent)
        await OutboxStore(self.store).owe(answer(lines, kept=kept), cursor=cursor)
        self.sender.wake()

    def _secret(self) -> str:
        """What keys the keys and marks this network keeps: the access token, not in the store."""
        return self.options.fediverse_access_token.get_secret_value()

    # -- calling the server -----------------------------------------------------------------

    async def _within_budget(self, method: str) -> None:
        """Mastodon's limits, kept on our side: 300 requests per 5 minutes, 300 posts per 3 hours."""
        budgets = [self._requests] + ([self._posts] if method == "status_post" else [])
        while (wait := max(budget.wait(time.monotonic()) for budget in budgets)) > 0:
            log.info("Mastodon: keeping inside the rate limits; waiting %.0f s", wait)
            await asyncio.sleep(wait)
        for budget in budgets:
            budget.spend(time.monotonic())

    async def _call(self, function: Callable[..., T], *args, **kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, functools.partial(function, *args, **kwargs))

    async def _api_once(self, method: str, *args, **kwargs) -> Any:
        """One call on the worker thread, within the budget; a 429 carries the announced reset."""
        await self._within_budget(method)
        try:
            return await self._call(getattr(self.api, method), *args, **kwargs)
        except MastodonRatelimitError as error:
            error.reset = getattr(self.api, "ratelimit_reset", None)
            raise

    async def _api(self, method: str, *args, **kwargs) -> Any:
        """Call the API, waiting out 429s and retrying 5xx and network errors with the same
        arguments (so the same Idempotency-Key), one line each naming the server and the next try."""
        backoff = 1.0
        where = self.options.fediverse_instance
        while True:
            try:
                return await self._api_once(method, *args, **kwargs)
            except MastodonRatelimitError as error:
                wait = min(max(float(error.reset) - time.time(), 1.0) if error.reset else backoff, MAX_BACKOFF)
                log.warning("Mastodon: %s asks the bot to slow down; trying again in %.0f s", where, wait)
                await asyncio.sleep(wait)
            except MastodonNetworkError:
                log.warning("Mastodon: cannot reach %s; trying again in %.0f s", where, backoff)
                await asyncio.sleep(backoff)
            except MastodonServerError as error:
                status = (list(error.args) + [None] * 2)[1] or "an error"
                log.warning("Mastodon: %s answered %s (%s); trying again in %.0f s", where, status, method, backoff)
                await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)


def _left_alone(notification: dict[str, Any], max_chars: int | None) -> bool:
    """Whether a notification's status is by someone whose profile, or is one that, asks bots to
    leave it alone (what `_handle` answers with `_leave_alone`)."""
    status = notification.get("status")
    account = status.get("account") if isinstance(status, dict) else None
    if not isinstance(account, dict):
        return False  # not a status as the API sends one: kept, for the operator to read
    return opted_out(account) or status_left_alone(status, max_chars=max_chars)
