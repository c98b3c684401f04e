"""The Matrix adapter: sync, hand each message to intake, send what intake's answer calls for.

Nothing lost, nothing twice:
- the sync position is saved in the store only after every event of that batch went through
  intake, so a crash replays the batch; intake files each (event, link) once, and the answers of a
  replay carry the same transaction ids (the homeserver drops repeats);
- an event whose handling raises is kept as a failed event (isolation.py) and the batch goes on,
  so the position moves past it: one event cannot stop the bot, nor stop it again after a restart;
- a first start saves the current position without reading the rooms' history;
- every answer is owed in the store's outbox, in the transaction that files what it answers, and
  sent from there by its own task (watchbot/outbox.py) with a transaction id derived from what it
  answers: a crash at any point sends each answer once (the homeserver drops a repeated
  transaction id), and the sync loop never waits on a send.

The bot's device is never logged out: stopping only closes the connection.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import ClientError
from nio import (
    Api,
    AsyncClient,
    AsyncClientConfig,
    DirectRoomsResponse,
    InviteMemberEvent,
    JoinError,
    LocalProtocolError,
    MessageDirection,
    RoomLeaveError,
    RoomMessagesResponse,
    RoomSendError,
    SyncError,
    SyncResponse,
)
from nio.responses import EmptyResponse

from watchbot.store.cursors import CursorStore
from watchbot.store.links import LinkStore
from watchbot.store.outbox import OutboxStore
from watchbot.model import RoomRecord
from watchbot.model import Treatment
from watchbot.commands import Caller, Command, Desk, parse_command
from watchbot.consent import asks_to_be_left_alone, opted_out_mark
from watchbot.intake import Filing, Rules, file_post, file_posts, read_post, refile_post
from watchbot.isolation import Isolation
from watchbot.model import PUBLIC, Audience, Period, Post, Source, Visibility, utcnow
from watchbot.policy import Power, Role, heard, may_redact, power_of
from watchbot.networks.matrix.outlets import MatrixDigestOutlet, MatrixDraftOutlet
from watchbot.networks.matrix.events import (
    OPTED_OUT,
    Outgoing,
    acknowledgements,
    addressed_text,
    command_reply_content,
    direct_rooms,
    edited_post,
    events_after_own_join,
    invite_allowed,
    invite_warning,
    invited_as_direct,
    inviter_of,
    is_privileged_creator,
    left_alone,
    owed_in,
    post_from_event,
    reaction_of,
    redacted_event_id,
    replacement_room,
    thread_reply_content,
    txn_id,
    with_direct_room,
)
from watchbot.health import Pulse
from watchbot.options import named_in
from watchbot.network import Networks, Offers
from watchbot.outbox import CannotSend, Sender, TryLater
from watchbot.rooms import RoomState, digest_here, has_moderators, join_notice, treatment_of
from watchbot.store import Store
from watchbot.store.digests import DigestRuns
from watchbot.store.outbox import OutboxItem
from watchbot.store.reactions import ReactionStore
from watchbot.store.rooms import RoomStore

log = logging.getLogger(__name__)

CURSOR = "matrix.next_batch"
SYNC_TIMEOUT_MS = 30_000
# A first start takes the current position only: no history, just the rooms' state and invites.
# (A timeline limit of 0 makes Synapse leave every room out of an initial sync; 1 event per room
# comes back and is not read.)
FIRST_SYNC_FILTER = {"room": {"timeline": {"limit": 1}}}


def state_sync_filter() -> dict[str, Any]:
    """FIRST_SYNC_FILTER, made unique: Synapse answers the same initial sync request with its
    cached response for two minutes, which would be a room list from before the last join."""
    return {**FIRST_SYNC_FILTER, "account_data": {"not_types": [f"watchbot.nonce.{uuid.uuid4().hex}"]}}
# Said once in a room where an encrypted message could not be read.
UNDECRYPTABLE_WITH_KEYS = (
    "I could not decrypt a message here, so its links are not filed. I am a bot device that nobody "
    "verified: some clients do not send me the room's keys, and messages from before I joined "
    "never reach me. Sending again from a client that shares keys with unverified devices helps."
)
UNDECRYPTABLE_WITHOUT_KEYS = (
    "This room is encrypted and I am not set up for encryption, so I cannot read what is said "
    "here. My operator can turn it on (WATCHBOT_MATRIX_STORE_PATH, see the README)."
)
# Room moderators, as Matrix clients name them, may remove and retag what was shared in their room.
APPROVE_REACTIONS = {"✅", "✔"}  # keys without the emoji variation selector (reaction_of)
REPORT_REACTIONS = {"⚠"}
# Filling a gap after downtime: read oldest first in pages of this many events, each page filed
# as it comes (in one transaction): a gap of any size, never held whole in memory.
BACKFILL_PAGE = 100
SEND_WINDOW = 8  # reactions sent at once: a catch-up's acknowledgements are not one round trip each
READY_SECONDS = 120.0  # how long a notice waits for the rooms to be known


@dataclass(frozen=True, slots=True)
class MatrixOptions:
    """What the Matrix network needs to know from the settings (named as the settings name them)."""

    matrix_homeserver: str
    matrix_user_id: str
    matrix_access_token: Any = field(repr=False)  # a SecretStr: read only to log in, never logged
    matrix_device_id: str | None = None
    matrix_store_path: Path | None = None  # set: encrypted rooms are read, the device's keys kept here
    matrix_allowed_inviters: tuple[str, ...] = ()
    matrix_file_notices: bool = False
    moderator_power_level: int = 50
    command_prefix: str = "!watch"
    zone: ZoneInfo = ZoneInfo("UTC")
    moderators_room: str | None = None
    digest_review_room: str | None = None
    digest_enabled: bool = True
    digest_rooms_off: tuple[str, ...] = ()
    digest_rooms_scoped: tuple[str, ...] = ()
    digest_archive_for: Callable[[Period], str | None] = field(default=lambda period: None, repr=False)

    @classmethod
    def from_settings(cls, settings) -> MatrixOptions:
        return named_in(cls, settings)


class MatrixAdapter:
    """The Matrix network (watchbot.network.Network), built complete: its commands run on `desk`,
    shared with the other networks (a desk of its own when it runs alone); a moderator's ✅ on a
    draft digest calls `on_digest_approved` (the scheduler's wake-up)."""

    name = Source.MATRIX.value
    offers = Offers(streaming=True, editing=True, reactions=True, drafts=True, rechecks=False)

    def __init__(self, options: MatrixOptions, store: Store, rules: Rules, *, desk: Desk,
                 on_digest_approved: Callable[[], None] | None = None, backfill_page: int = BACKFILL_PAGE) -> None:
        self.desk = desk
        self.options = options
        self.backfill_page = backfill_page
        self.store = store
        self.rules = rules
        self.user_id = options.matrix_user_id
        # Owed answers live in the store (the outbox), written with what they answer, and are
        # sent from there by their own task: the sync loop never waits on a send.
        # Reactions (each names the message it answers) go a few at a time; other answers in order.
        self.sender = Sender(store, "matrix", self._deliver, unordered=frozenset({"m.reaction"}), window=SEND_WINDOW)
        self._answered_invites: set[str] = set()
        self._create_events: dict[str, dict[str, Any] | None] = {}
        self.rooms = RoomStore(store)
        self._direct: set[str] = set()  # direct chats: from invites, m.direct, and the store
        self._marked: set[str] = set()  # the direct chats the bot's own m.direct lists, as last read
        self._room_states: dict[str, Treatment] = {}  # what each room's state says, as last recorded
        self._told: dict[str, Visibility] = {}  # how each room was last told its links are filed
        self._client: AsyncClient | None = None
        self.ready = asyncio.Event()  # every joined room is known (after the first sync)
        self.moderation = desk.moderation
        self.digest_approved = on_digest_approved
        self.isolation = Isolation(store, Source.MATRIX.value, "Matrix event", log,
                                   secrets=[options.matrix_access_token.get_secret_value()])
        self.pulse = Pulse(store, "matrix")

    @classmethod
    def from_settings(cls, settings, store: Store, rules: Rules, **more) -> MatrixAdapter:
        """The Matrix network alone (the demo, tests, benchmarks): a desk of its own, this the only
        network it tells. `watchbot run` builds it in bot.py, on the desk every network shares."""
        networks = Networks()
        adapter = cls(MatrixOptions.from_settings(settings), store, rules,
                      desk=Desk.from_settings(store, settings, networks=networks), **more)
        networks.join(adapter)
        return adapter

    def _new_client(self) -> AsyncClient:
        store_path = self.options.matrix_store_path
        config = AsyncClientConfig(
            max_limit_exceeded=None,  # wait out every 429, as long as the server asks
            max_timeouts=None,  # a homeserver that is away is waited for, not given up on
            encryption_enabled=store_path is not None,
            store_sync_tokens=False,  # the position lives in watchbot's store, with the shares
        )
        if store_path is not None:
            store_path.mkdir(parents=True, exist_ok=True, mode=0o700)  # the device's secret keys
        client = _Client(
            self.options.matrix_homeserver,
            self.user_id,
            device_id=self.options.matrix_device_id or "",
            store_path=str(store_path) if store_path is not None else None,
            config=config,
        )
        # With a store path this also loads the device's keys from it.
        client.restore_login(
            self.user_id,
            self.options.matrix_device_id or "",
            self.options.matrix_access_token.get_secret_value(),
        )
        return client

    async def run(self) -> None:
        """Follow the rooms until cancelled."""
        if (warning := invite_warning(self.options.matrix_allowed_inviters)) is not None:
            log.warning("Matrix: %s", warning)
        client = self._client = self._new_client()
        sender = asyncio.create_task(self.sender.run(), name="matrix-send")
        try:
            await self._sync_forever(client)
        except TokenRefused as refused:
            # Retrying cannot help: the network stops here, saying what to do; the others go on.
            line = (f"{self.options.matrix_homeserver} refused the access token ({refused}); log in again "
                    "with `watchbot login matrix`, then restart the bot")
            log.error("Matrix: stopped: %s", line)
            await self.pulse.stopped(line)
        finally:
            sender.cancel()  # what it did not send waits in the outbox for the next start
            await asyncio.gather(sender, return_exceptions=True)
            await client.close()  # the connection only: the device stays logged in

    async def connect(self) -> None:
        """The rooms and their state, without following them: enough to post
        (`watchbot digest post`). The sync position in the store is left as it is."""
        self._client = self._new_client()
        await self._state_sync(self._client)
        self._direct |= {room.room_id for room in await self.rooms.joined() if room.visibility is Visibility.DIRECT}
        self.ready.set()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    # -- receiving --------------------------------------------------------------------------

    async def _sync_forever(self, client: AsyncClient) -> None:
        since = await CursorStore(self.store).get(CURSOR)
        if since is None:
            since = await self._first_sync(client)
        else:
            # Incremental syncs only tell what changed: learn every room's state (members, power
            # levels, encryption) once, or a quiet room would be unknown until someone spoke.
            await self._state_sync(client)
        await self._keep_rooms(client, client.rooms)
        self.ready.set()
        await self.pulse.ok()
        backoff = 1.0
        while True:
            response = await client.sync(timeout=SYNC_TIMEOUT_MS, since=since)
            if not isinstance(response, SyncResponse):
                _stop_if_token_refused(response)
                log.warning("Matrix sync failed (%s); trying again in %.0f s", _reason(response), backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 300.0)
                continue
            backoff = 1.0
            await self._keep_keys(client)
            await self._handle(client, response, since)
            await CursorStore(self.store).set(CURSOR, response.next_batch)
            since = response.next_batch
            await self.pulse.ok()

    async def _first_sync(self, client: AsyncClient) -> str:
        response = await self._state_sync(client)
        await CursorStore(self.store).set(CURSOR, response.next_batch)
        log.info("Matrix: first start, following %d room(s) from now on", len(client.rooms))
        return response.next_batch

    async def _state_sync(self, client: AsyncClient) -> SyncResponse:
        """Every joined room with its full state and no messages (what nio's room list needs)."""
        while True:
            response = await client.sync(timeout=0, sync_filter=state_sync_filter(), full_state=True)
            if isinstance(response, SyncResponse):
                break
            _stop_if_token_refused(response)
            log.warning("Matrix first sync failed (%s); trying again in 5 s", _reason(response))
            await asyncio.sleep(5)
        await self._keep_keys(client)
        self._learn_direct_chats(response)
        await self._answer_invites(client, response)
        return response

    async def _keep_keys(self, client: AsyncClient) -> None:
        """What nio's sync_forever does for encryption, done here since the bot syncs itself:
        publish the device's keys, learn other devices' keys, pass room keys on."""
        if client.olm is None:
            return
        await client.send_to_device_messages()
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())

    async def _handle(self, client: AsyncClient, response: SyncResponse, since: str) -> None:
        self._learn_direct_chats(response)
        await self._answer_invites(client, response)
        for room_id in response.rooms.leave:
            # Kicked, banned or left: nothing more to follow there, and nothing to fail over.
            log.info("Matrix: no longer in %s", room_id)
            self._room_states.pop(room_id, None)
            await self.rooms.left(room_id, at=utcnow())
        # A room joined, or whose join rule or history changed, is recorded before its messages.
        await self._keep_rooms(client, response.rooms.join)
        for room_id, info in response.rooms.join.items():
            timeline = [e.source for e in info.timeline.events]
            events = events_after_own_join(timeline, self.user_id)
            if info.timeline.limited and len(events) == len(timeline):
                # More happened since the last sync than one response holds (the bot was down):
                # file the gap first, page by page, so nothing said meanwhile is lost.
                await self._fill_gap(client, room_id, since, info.timeline.prev_batch)
            await self._handle_events(client, room_id, events)
        # The events an operator asked to retry (`watchbot failed retry`), handled as if they came now.
        await self.isolation.retry_asked(
            lambda failure: self._handle_event(client, failure.place, json.loads(failure.payload)))

    async def _fill_gap(self, client: AsyncClient, room_id: str, since: str, prev_batch: str | None) -> None:
        """The events between the last sync position and a limited timeline, read oldest first a
        page at a time (from the position forwards, up to the timeline), each page handled before
        the next: memory stays two pages, whatever the gap. The next page is read while this one
        is filed, so the homeserver's time and the store's overlap rather than add up."""
        if not (since and prev_batch):
            return

        def read(token: str) -> asyncio.Task:
            return asyncio.create_task(client.room_messages(
                room_id, start=token, end=prev_batch, direction=MessageDirection.front, limit=self.backfill_page))

        token, count = since, 0
        ahead = read(token)
        try:
            while ahead is not None:
                page = await ahead
                ahead = None
                if not isinstance(page, RoomMessagesResponse):
                    log.warning("Matrix: could not fetch the history of %s (%s); a gap remains", room_id, page)
                    break
                if page.chunk and page.end and page.end != token:
                    token = page.end
                    ahead = read(token)
                await self._handle_events(client, room_id, [event.source for event in page.chunk])
                count += len(page.chunk)
        finally:
            if ahead is not None:  # stopped mid-gap: the read ahead is not needed
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)
        log.info("Matrix: %s: %d event(s) fetched to fill a gap", room_id, count)

    async def _handle_events(self, client: AsyncClient, room_id: str, events: list[dict[str, Any]]) -> None:
        """A room's events in order. Messages that only share links are filed together, in one
        transaction for each run of them (intake.file_posts); any other event (a command, an
        edit, a reaction …) is handled alone, after the run before it is filed."""
        run: list[tuple[dict[str, Any], Filing]] = []
        visibility: Visibility | None = None  # read once per call: an operator's change lands at the next
        for event in events:
            try:
                if visibility is None and event.get("type") == "m.room.message":
                    visibility = await self._visibility(room_id)
                filing = await self._as_filing(client, room_id, event, visibility)
                if filing is not None:
                    run.append((event, filing))
                    continue
                await self._file_run(room_id, run)
                run = []
                await self._handle_event(client, room_id, event)
            except Exception as error:  # noqa: BLE001 -- one event never stops the bot: kept, and on
                await self.isolation.failed(error, place=room_id, event_id=event.get("event_id"), payload=event)
        await self._file_run(room_id, run)

    async def _as_filing(self, client: AsyncClient, room_id: str, event: dict[str, Any],
                         visibility: Visibility | None) -> Filing | None:
        """A message that only shares links, as intake files it (the author's ban is read by the
        gate, in the filing's transaction); None for any other event."""
        if event.get("type") != "m.room.message" or visibility is None or replacement_room(event) is not None:
            return None
        room = client.rooms.get(room_id)
        sender = str(event.get("sender", ""))
        context = dict(own_user_id=self.user_id, sender_name=(room.user_name(sender) if room else None) or sender,
                       visibility=visibility, file_notices=self.options.matrix_file_notices)
        if edited_post(event, room_id, **context) is not None:
            return None
        post = post_from_event(event, room_id, **context)
        if post is None or self._command_in(client, event, post.text) is not None or left_alone(post) is not None:
            return None  # a command, or a message to leave alone: handled alone (_handle_event)
        role = self.moderation.role_unread(sender, moderator=await self._moderator(room_id, room, sender))
        zone = self.options.zone
        return Filing(post, role, lambda result: owed_in(room_id, acknowledgements(result, event, zone)))

    async def _file_run(self, room_id: str, run: list[tuple[dict[str, Any], Filing]]) -> None:
        if not run:
            return
        try:
            await file_posts(self.store, [filing for _, filing in run], self.rules, gate=self.moderation)
        except Exception:  # noqa: BLE001 -- nothing of the run was kept: one by one, the one at fault is kept as failed
            log.warning("Matrix: %d message(s) of %s could not be filed together; filing them one by one",
                        len(run), room_id)
            for event, filing in run:
                try:
                    await file_post(self.store, filing.post, self.rules, gate=self.moderation, role=filing.role,
                                    answers=filing.answers)
                except Exception as error:  # noqa: BLE001 -- one event never stops the bot
                    await self.isolation.failed(error, place=room_id, event_id=event.get("event_id"), payload=event)
        self.sender.wake()

    async def _handle_event(self, client: AsyncClient, room_id: str, event: dict[str, Any]) -> None:
        successor = replacement_room(event)
        if successor is not None:
            await self._follow_upgrade(client, room_id, successor)
            return
        if event.get("type") == "m.room.encrypted":  # still encrypted: nio could not decrypt it
            await self._say_cannot_decrypt(client, room_id, event)
            return
        redacted = redacted_event_id(event)
        if redacted is not None:
            await self._redacted(room_id, client.rooms.get(room_id), str(event.get("sender", "")), redacted)
            return
        room = client.rooms.get(room_id)
        sender = str(event.get("sender", ""))
        context = dict(
            own_user_id=self.user_id,
            sender_name=(room.user_name(sender) if room else None) or sender,
            # Only a message is filed: the room's treatment is read from the store for nothing else.
            visibility=(await self._visibility(room_id) if event.get("type") == "m.room.message"
                        else Visibility.PRIVATE),
            file_notices=self.options.matrix_file_notices,
        )
        edit = edited_post(event, room_id, **context)
        if edit is not None:
            await self._refile(client, room_id, event, *edit)
            return
        reaction = reaction_of(event)
        if reaction is not None and sender != self.user_id:
            await self._react_to_reaction(room_id, room, sender, *reaction)
            return
        post = post_from_event(event, room_id, **context)
        if post is None:
            return
        role = await self._role(room_id, room, sender)
        command = self._command_in(client, event, post.text)
        if not heard(role, command and command.name, command.args if command else ()):
            return  # banned: neither filed nor answered (but for `forget me`)
        why = left_alone(post)
        if command is not None:  # answered even to someone who opted out: `forget me` must reach the bot
            await self._answer_command(room_id, event, command, post.author_name, role, forget=why is not None)
            return
        if why is not None:
            await self._leave_alone(room_id, event, post, why)
            return
        zone = self.options.zone
        await file_post(self.store, post, self.rules, gate=self.moderation, role=role,
                        answers=lambda result: owed_in(room_id, acknowledgements(result, event, zone)))
        self.sender.wake()

    async def _redacted(self, room_id: str, room, sender: str, redacted: str) -> None:
        """A redacted message's shares go, when the redaction was sent in their room by its author
        or a moderator there (a server on the federation could send a redaction that the room's
        rules do not allow, and a redaction may name an event of any room)."""
        shares = await LinkStore(self.store).shares_of_event(Source.MATRIX, redacted)
        if not shares:
            return
        power = self._power(room_id, await self._role(room_id, room, sender))
        if not may_redact(power, shares[0].sharer_id, sender, shares[0].place):
            log.warning("Matrix: %s redacted %s in %s, which %s shared in %s; not allowed, ignored", sender,
                        redacted, room_id, shares[0].sharer_id, shares[0].place)
            return
        removed = await LinkStore(self.store).remove_event_shares(Source.MATRIX, redacted)
        if removed:
            log.info("Matrix: %s was redacted; link(s) %s removed", redacted, removed)

    async def _react_to_reaction(self, room_id: str, room, sender: str, target: str, key: str) -> None:
        """Any reaction to a shared message counts for the digest's ranking; ✅ from a moderator on
        a held message approves it; ⚠️ from anyone reports its links."""
        role = await self._role(room_id, room, sender)
        if role is Role.STRANGER:
            return  # banned: their reactions count for nothing
        shares = await LinkStore(self.store).shares_of_event(Source.MATRIX, target)
        if shares and shares[0].place != room_id:
            # A reaction may name an event of any room: it counts only in the room of what it names.
            log.info("Matrix: %s reacted in %s to %s, a message of another room; ignored", sender, room_id, target)
            return
        if not self._name_left_alone(room, sender):  # a reaction counted is a name kept beside a message
            await ReactionStore(self.store).add(Source.MATRIX, target, sender)
        if room_id == self.options.digest_review_room and key in APPROVE_REACTIONS and role >= Role.MODERATOR:
            period = await DigestRuns(self.store).approve_draft(target, sender)
            if period is not None:
                await self.moderation.records.log(sender, "approve-digest", f"the digest from {period.start:%Y-%m-%d}")
                await self._owe(room_id, [Outgoing("m.room.message", {"msgtype": "m.notice",
                            "body": "Approved: the digest goes out now."}, txn_id("approved", target))])
                if self.digest_approved is not None:
                    self.digest_approved()
                return
        if key in APPROVE_REACTIONS and role >= Role.MODERATOR:
            held = await self.moderation.records.held_for_event(Source.MATRIX, target)
            if held is not None:
                await self._answer_command(room_id, {"event_id": target, "sender": sender},
                                           Command("approve", (str(held),)), sender, role)
        elif key in REPORT_REACTIONS and role >= Role.MEMBER:
            for share in shares:
                await self._answer_command(room_id, None, Command("report", (str(share.link_id), "(⚠️ reaction)")),
                                           sender, role)

    def _command_in(self, client: AsyncClient, event: dict[str, Any], text: str) -> Command | None:
        command = parse_command(text, self.options.command_prefix)
        if command is not None:
            return command
        addressed = addressed_text(event, self.user_id, self._own_name(client))
        return parse_command(addressed, addressed=True) if addressed is not None else None

    def _own_name(self, client: AsyncClient) -> str | None:
        for room in client.rooms.values():
            name = room.user_name(self.user_id)
            if name:
                return name
        return None

    async def _answer_command(self, room_id: str, event: dict[str, Any] | None, command: Command, name: str,
                              role: Role, *, forget: bool = False) -> None:
        """Run a command and answer it (in reply to `event`, or in the room when there is none).
        Without an event (a reaction acting as a command), `name` is the caller's id. `forget`:
        the caller asked bots to leave them alone, so the answer is forgotten once sent (OPTED_OUT)
        and its transaction id is a keyed hash."""
        sender = str((event or {}).get("sender") or name)
        caller = Caller(sender, name, self._power(room_id, role), await self._audience(room_id))
        replying = event is not None and "content" in event
        key = (str(event["event_id"]) if replying
               else f"{command.name}:{sender}:{' '.join(command.args)}:{(event or {}).get('event_id')}")
        reply = await self.desk.answer(command, caller, key=key)
        if replying:
            content = command_reply_content(event, reply.text, reply.html)
        else:
            content = {"msgtype": "m.notice", "body": reply.text, "format": "org.matrix.custom.html",
                       "formatted_body": reply.html}
        if forget:
            await self._owe(room_id, [Outgoing("m.room.message", content, self._keyed_txn_id("command", key),
                                               reply.kept)], kind=OPTED_OUT)
            return
        await self._owe(room_id, [Outgoing("m.room.message", content, txn_id("command", key), reply.kept)])

    # -- people who asked bots to leave them alone (#nobot, #noindex) ----------------------------

    def _name_left_alone(self, room, user_id: str) -> bool:
        return room is not None and asks_to_be_left_alone(room.user_name(user_id))

    def _keyed_txn_id(self, purpose: str, *parts: str) -> str:
        """A transaction id that leads to nobody: a keyed hash (the access token, not in the store)."""
        return f"watchbot.{purpose}.{opted_out_mark(chr(0).join(parts), self._secret())}"

    def _secret(self) -> str:
        return self.options.matrix_access_token.get_secret_value()

    async def _leave_alone(self, room_id: str, event: dict[str, Any], post: Post, why: str) -> None:
        """A message that asked bots to leave it alone, or whose author's display name does: nothing
        of it is filed. Its author is told why once (the first time a message of theirs had a link
        to file), remembered by a keyed hash of their account; the answer names the message only
        until it is sent (OPTED_OUT), and the log names nobody."""
        log.info("Matrix: a message that asked to be left alone (#nobot/#noindex): not filed")
        if not read_post(post, self.rules).links:
            return  # nothing it would have filed: nothing to say (the bot does not join every chat)
        told = f"matrix.told_opted_out:{opted_out_mark(post.author_id, self._secret())}"
        if await CursorStore(self.store).get(told) is not None:
            return
        reply = Outgoing("m.room.message", thread_reply_content(event, [why]),
                         self._keyed_txn_id("opted-out", str(event["event_id"])))
        await self._owe(room_id, [reply], kind=OPTED_OUT, cursor=(told, "told"))

    async def tell_moderators(self, text: str, *, place: str | None, key: str) -> None:
        """A notice for the moderators: in their room when one is set, else where it happened
        (when that is a Matrix room)."""
        target = self.options.moderators_room or (place if place and place.startswith("!") else None)
        if target is None:
            return
        content = {"msgtype": "m.notice", "body": text, "format": "org.matrix.custom.html",
                   "formatted_body": html.escape(text)}
        await self._owe(target, [Outgoing("m.room.message", content, txn_id("moderators", key))])

    async def _role(self, room_id: str, room, user_id: str) -> Role:
        return await self.moderation.role(user_id, moderator=await self._moderator(room_id, room, user_id))

    async def _moderator(self, room_id: str, room, user_id: str) -> bool:
        # In a direct chat, the person is the room's admin: that makes nobody a moderator (but
        # the rooms the settings name for moderators are theirs).
        chosen = room_id in (self.options.digest_review_room, self.options.moderators_room)
        community = room is not None and (has_moderators(self._treated_as(room_id)) or chosen)
        return community and await self._is_moderator(room_id, room, user_id)

    async def _audience(self, room_id: str) -> Audience:
        """Who reads answers in this room: the public, or in a room whose shares are private (a
        direct chat, a private room: rooms.py decides) the room itself, which sees its own shares
        besides the public ones."""
        return PUBLIC if (await self._visibility(room_id)).publishable else Audience(place=room_id)

    def _power(self, room_id: str, role: Role) -> Power:
        # The rooms the settings name for moderators are theirs for the whole store; any other
        # room's moderators act on that room (anyone allowed to invite the bot can make a room).
        named = room_id in (self.options.moderators_room, self.options.digest_review_room)
        return power_of(role, room_id, moderators_place=named)

    async def _say_cannot_decrypt(self, client: AsyncClient, room_id: str, event: dict[str, Any]) -> None:
        """Say once per room (remembered across restarts) that encrypted messages go unread."""
        log.warning("Matrix: could not decrypt %s in %s from %s", event.get("event_id"), room_id, event.get("sender"))
        said = f"matrix.undecryptable_notice:{room_id}"
        if await CursorStore(self.store).get(said) is not None:
            return
        text = UNDECRYPTABLE_WITH_KEYS if client.olm is not None else UNDECRYPTABLE_WITHOUT_KEYS
        content = {"msgtype": "m.notice", "body": text, "m.mentions": {}}
        await self._owe(room_id, [Outgoing("m.room.message", content, txn_id("undecryptable", room_id))],
                        cursor=(said, str(event.get("event_id"))))

    async def _follow_upgrade(self, client: AsyncClient, room_id: str, successor: str) -> None:
        """A room upgrade: the conversation goes on in the new room, and so does the bot."""
        answer = await client.join(successor)
        if isinstance(answer, JoinError):
            log.warning("Matrix: %s was upgraded to %s, which I could not join (%s); invite me there",
                        room_id, successor, answer)
        else:
            log.info("Matrix: %s was upgraded; following it to %s", room_id, successor)

    async def _is_moderator(self, room_id: str, room, user_id: str) -> bool:
        if room is not None and room.power_levels.get_user_level(user_id) >= self.options.moderator_power_level:
            return True
        return is_privileged_creator(await self._create_event(room_id), user_id)

    async def _create_event(self, room_id: str) -> dict[str, Any] | None:
        """The room's m.room.create event, read once per room (incremental syncs do not repeat it)."""
        if room_id not in self._create_events:
            state = await self._client.room_get_state(room_id)
            events = getattr(state, "events", None) or []
            self._create_events[room_id] = next((e for e in events if e.get("type") == "m.room.create"), None)
        return self._create_events[room_id]

    async def _refile(self, client: AsyncClient, room_id: str, edit: dict[str, Any], original_id: str, post) -> None:
        """An edit replaces the shares of the message it edits, when its author made it."""
        shares = await LinkStore(self.store).shares_of_event(Source.MATRIX, original_id)
        author = shares[0].sharer_id if shares else await self._sender_of(client, room_id, original_id)
        if author != post.author_id:
            log.info("Matrix: ignored an edit of %s by %s, who did not write it", original_id, post.author_id)
            return
        role = await self._role(room_id, client.rooms.get(room_id), post.author_id)
        if role is Role.STRANGER:
            return  # banned: their edits are ignored as their messages are
        original = {"event_id": original_id, "sender": post.author_id, "content": {}}
        why = left_alone(post)
        if why is not None:  # #nobot added by an edit: what the message filed goes, as for a redaction
            removed = await LinkStore(self.store).remove_event_shares(Source.MATRIX, original_id)
            await self._leave_alone(room_id, original, post, why)
            if removed:
                log.info("Matrix: an edit asked to leave a message alone; link(s) %s removed", removed)
            return
        zone = self.options.zone
        _, removed = await refile_post(
            self.store, post, self.rules, gate=self.moderation, role=role,
            answers=lambda result: owed_in(room_id, acknowledgements(result, original, zone,
                                                                      answering=edit["event_id"])))
        self.sender.wake()
        if removed:
            log.info("Matrix: %s was edited; link(s) %s removed", original_id, removed)

    async def _sender_of(self, client: AsyncClient, room_id: str, event_id: str) -> str | None:
        response = await client.room_get_event(room_id, event_id)
        return getattr(getattr(response, "event", None), "sender", None)

    async def _owe(self, room_id: str, outgoing: list[Outgoing], *, cursor: tuple[str, str] | None = None,
                   kind: str | None = None) -> None:
        """Answers that follow no filing (a command's, a notice): owed in the store, then sent."""
        await OutboxStore(self.store).owe(owed_in(room_id, outgoing, kind=kind), cursor=cursor)
        self.sender.wake()

    async def _deliver(self, item: OutboxItem) -> str | None:
        """Send one owed event with its transaction id (the homeserver drops a repeat); the
        sender's TryLater and CannotSend say what may and may not mend with time."""
        client = self._client
        if client is None or not self.ready.is_set():
            raise TryLater("the rooms are not known yet")
        if item.kind == OPTED_OUT and not item.payload:
            return None  # sent, and forgotten, just before a crash
        try:
            # The bot trusts the devices in its rooms as it finds them: nobody verifies a bot by hand.
            response = await client.room_send(item.place, item.payload["type"], item.payload["content"],
                                              tx_id=item.key, ignore_unverified_devices=True)
        except (ClientError, TimeoutError) as error:
            raise TryLater(f"{self.options.matrix_homeserver} unreachable ({type(error).__name__})") from None
        except LocalProtocolError as error:  # a room nio does not know (yet): left, or not synced
            raise TryLater(str(error)) from None
        if isinstance(response, RoomSendError):
            return _send_refused(response, item)
        if item.kind == OPTED_OUT:  # nothing kept that leads to them: not what it said, where, nor its id
            await OutboxStore(self.store).forget(item.id, place=OPTED_OUT)
            return None
        return response.event_id

    async def _answer_invites(self, client: AsyncClient, response: SyncResponse) -> None:
        for room_id, info in response.rooms.invite.items():
            if room_id in self._answered_invites:
                continue
            self._answered_invites.add(room_id)
            invite_state = [_stripped_state(e) for e in info.invite_state]
            inviter = inviter_of(invite_state, self.user_id)
            if invite_allowed(inviter, room_id, self.options.matrix_allowed_inviters):
                direct = invited_as_direct(invite_state, self.user_id)
                if direct:
                    self._direct.add(room_id)  # known before the first message: recorded on joining
                answer = await client.join(room_id)
                if isinstance(answer, JoinError):
                    log.warning("Matrix: could not join %s (invited by %s): %s", room_id, inviter, answer)
                else:
                    log.info("Matrix: joined %s, invited by %s", room_id, inviter)
                    if direct:  # the account says so from now on, whatever becomes of the store
                        await self._mark_direct(client, room_id, inviter or self.user_id)
            else:
                answer = await client.room_leave(room_id)  # declines the invite
                log.info(
                    "Matrix: declined the invite to %s from %s (not in WATCHBOT_MATRIX_ALLOWED_INVITERS)%s",
                    room_id, inviter, f": {answer}" if isinstance(answer, RoomLeaveError) else "",
                )

    # -- how each room's links are filed (watchbot/rooms.py) ------------------------------------

    def _learn_direct_chats(self, response: SyncResponse) -> None:
        """The bot's own m.direct, as a sync brings it (whole, when it changed; a first sync has it):
        every room it lists is a direct chat, whatever the store says or has forgotten."""
        for event in response.account_data_events:
            if getattr(event, "type", None) == "m.direct" and isinstance(getattr(event, "content", None), dict):
                listed = direct_rooms(event.content)
                self._marked |= listed
                self._direct |= listed

    async def _mark_direct(self, client: AsyncClient, room_id: str, person: str) -> None:
        """List a direct chat in the bot's own m.direct account data ({user id: [room ids]}, as
        the Matrix spec has it; read, added to, written back), so that a store which never saw
        the invite (a new one, after an export and import) knows it from the account. A failure
        is logged; it is tried again when the room is next first seen (the next start)."""
        if room_id in self._marked:
            return
        try:
            listed = await client.list_direct_rooms()
            if isinstance(listed, DirectRoomsResponse):
                content = listed.rooms
            elif getattr(listed, "status_code", None) == "M_NOT_FOUND":
                content = {}  # the account never had any
            else:
                log.warning("Matrix: could not read the bot's m.direct (%s); %s is not marked as a direct chat "
                            "in it yet", listed, room_id)
                return
            marked = with_direct_room(content, person, room_id)
            if marked is not None:
                path = Api._build_path(["user", self.user_id, "account_data", "m.direct"])
                answer = await client._send(EmptyResponse, "PUT", path, json.dumps(marked))
                if not isinstance(answer, EmptyResponse):
                    log.warning("Matrix: could not mark %s as a direct chat in the bot's m.direct (%s)", room_id, answer)
                    return
                content = marked
                log.info("Matrix: %s marked as a direct chat with %s in the bot's m.direct", room_id, person)
        except (ClientError, TimeoutError) as error:
            log.warning("Matrix: could not mark %s as a direct chat in the bot's m.direct (%s)", room_id,
                        type(error).__name__)
            return
        self._marked |= direct_rooms(content)

    def _treated_as(self, room_id: str) -> Visibility:
        """Direct chat or not, from what is known in memory (an operator cannot change that)."""
        if room_id in self._direct:
            return Visibility.DIRECT
        state = self._room_states.get(room_id)
        return state.visibility if state is not None else Visibility.PRIVATE

    async def _keep_rooms(self, client: AsyncClient, room_ids) -> None:
        """Record what each room's state says about its links when the bot first sees it or the
        state changes, and tell the room how its links are filed when that is new to it."""
        for room_id in room_ids:
            room = client.rooms.get(room_id)
            if room is None:
                continue
            try:
                await self._keep_room(client, room_id, room)
            except Exception:  # noqa: BLE001 -- one room never stops the others; tried again at its next sync
                log.exception("Matrix: could not record how %s is treated", room_id)

    async def _keep_room(self, client: AsyncClient, room_id: str, room) -> None:
        if room_id not in self._room_states:
            known = await self.rooms.get(room_id)
            if known is not None and known.state.visibility is Visibility.DIRECT:
                self._direct.add(room_id)  # a direct chat stays one: its invite is long gone
            if room_id in self._direct and room_id not in self._marked:
                # Known from the store (or an invite whose marking failed): the account learns it too.
                others = sorted(user for user in room.users if user != self.user_id)
                await self._mark_direct(client, room_id, others[0] if others else self.user_id)
        state = treatment_of(RoomState(room.join_rule, room.history_visibility, direct=room_id in self._direct))
        if self._room_states.get(room_id) == state:
            return
        before = await self.rooms.record(room_id, room.name or room.canonical_alias, state, at=utcnow())
        self._room_states[room_id] = state
        now = await self.rooms.get(room_id)
        if before is not None and before.joined and before.visibility is now.visibility:
            self._told[room_id] = now.visibility  # known already, and treated as before (a restart)
            return
        await self._tell(room_id, now)

    async def _tell(self, room_id: str, record: RoomRecord) -> None:
        """One notice saying how the room's links are filed (on joining, or when that changed)."""
        log.info("Matrix: links in %s are filed %s (%s)", room_id, record.visibility.value, record.why)
        self._told[room_id] = record.visibility
        text = join_notice(record, digest_not_here=self.digest_not_here(room_id, record.visibility))
        content = {"msgtype": "m.notice", "body": text, "m.mentions": {}}
        await self._owe(room_id, [Outgoing("m.room.message", content,
                                       txn_id("room-treatment", room_id, record.visibility.value, record.why))])

    async def _visibility(self, room_id: str) -> Visibility:
        """How a message of this room is filed now: read from the store, where an operator's
        choice (`watchbot rooms set`, made while the bot runs) lands; the room is told of it then."""
        record = await self.rooms.get(room_id)
        if record is None:
            return self._treated_as(room_id)
        if self._told.get(room_id, record.visibility) is not record.visibility:
            await self._tell(room_id, record)
        return record.visibility

    def digest_not_here(self, room_id: str, visibility: Visibility) -> str | None:
        options = self.options
        return digest_here(room_id, visibility, enabled=options.digest_enabled, rooms_off=options.digest_rooms_off,
                           review_room=options.digest_review_room)

    # -- the digest -------------------------------------------------------------------------

    def digest_outlets(self) -> list[MatrixDigestOutlet]:
        """Every room the bot is in, but direct chats and the rooms turned off (empty until the
        rooms are known)."""
        if not self.ready.is_set() or self._client is None:
            return []
        options = self.options
        return [MatrixDigestOutlet(self._client, room_id, scoped=room_id in options.digest_rooms_scoped,
                                   archive=options.digest_archive_for)
                for room_id, room in sorted(self._client.rooms.items())
                if self._treated_as(room_id) is not Visibility.DIRECT and room_id not in options.digest_rooms_off
                and room_id != options.digest_review_room]

    def draft_outlets(self) -> list[MatrixDigestOutlet]:
        """The review room, where each digest goes first as a draft to approve."""
        room_id = self.options.digest_review_room
        if not self.ready.is_set() or self._client is None or room_id not in self._client.rooms:
            return []
        return [MatrixDraftOutlet(self._client, room_id, scoped=False)]

    async def recheck(self, uri: str) -> tuple[bool, int]:
        """Never asked (offers.rechecks is false): a redaction reaches the bot by the sync and
        takes its shares out of the store as it comes, and reactions are counted as they come."""
        return True, 0

    async def announce(self, text: str, html: str, *, key: str, public: bool = True) -> None:
        """A notice to every room the digest goes to (an alert feed's new entry, a feed given up);
        the same `key` is the same event for the homeserver."""
        try:
            await asyncio.wait_for(self.ready.wait(), READY_SECONDS)
        except TimeoutError:
            log.warning("Matrix: not connected; a notice was not posted: %s", text.splitlines()[0])
            return
        content = {"msgtype": "m.notice", "body": text, "format": "org.matrix.custom.html", "formatted_body": html}
        for outlet in self.digest_outlets():
            await self._owe(outlet.room_id, [Outgoing("m.room.message", content, txn_id("announce", key, outlet.room_id))])

    # -- sending ----------------------------------------------------------------------------


def _stripped_state(event: Any) -> dict[str, Any]:
    """An invite's stripped state event as JSON (nio parses them into objects without `source`)."""
    if isinstance(event, InviteMemberEvent):
        return {"type": "m.room.member", "sender": event.sender, "state_key": event.state_key,
                "content": event.content}
    return {}


def _send_refused(response: RoomSendError, item: OutboxItem) -> str | None:
    """What a homeserver's refusal to send means for the outbox."""
    code = response.status_code or ""
    if code == "M_LIMIT_EXCEEDED":
        wait = getattr(response, "retry_after_ms", None)
        raise TryLater("rate limited", retry_after=wait / 1000 if wait else None)
    if item.kind == "m.reaction" and code == "M_DUPLICATE_ANNOTATION":
        return None  # the same reaction was sent before (a replay): it is there
    if code in ("M_FORBIDDEN", "M_NOT_FOUND", "M_UNKNOWN", "M_BAD_JSON", "M_NOT_JSON", "M_TOO_LARGE",
                "M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
        raise CannotSend(f"{code}: {response.message}")
    raise TryLater(str(response))  # no code: a server error or a gateway's page


class TokenRefused(Exception):
    """The homeserver says the access token is unknown (revoked, logged out, or never valid)."""


def _stop_if_token_refused(response: Any) -> None:
    # M_UNKNOWN_TOKEN with soft_logout would let a client refresh; the bot has no refresh token,
    # so both kinds need a new login.
    if isinstance(response, SyncError) and response.status_code in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
        raise TokenRefused(response.message)


class _Client(AsyncClient):
    """nio's client, saying in watchbot's words when the homeserver cannot be reached: nio retries
    a lost connection by itself (max_timeouts=None) and only logs "Timed out, sleeping"."""

    async def get_timeout_retry_wait_time(self, got_timeouts: int) -> float:
        wait = await super().get_timeout_retry_wait_time(got_timeouts)
        log.warning("Matrix: cannot reach %s; trying again in %.0f s", self.homeserver, wait)
        return wait


class _WithoutNiosTimeoutLine(logging.Filter):
    """_Client says it, naming the homeserver and the next try: nio's own line would repeat it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timed out, sleeping")


logging.getLogger("nio.client.async_client").addFilter(_WithoutNiosTimeoutLine())


def _reason(response: Any) -> str:
    return str(response) if isinstance(response, SyncError) else type(response).__name__
