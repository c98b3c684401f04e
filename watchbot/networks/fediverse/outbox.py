"""What the Mastodon adapter owes, as outbox rows, and how one row is sent.

The owed answers are built here as plain data (pure: written by the adapter in the transaction of
what they answer); `Delivery` sends one row with its key as the `Idempotency-Key` and says how a
failure stands: `TryLater` for what time may mend (a rate limit, a 5xx, a server away, a refused
token that a new login will mend), `CannotSend` for what it will not (the status answered is gone,
the server refuses the post for good).

On a server that ignores `Idempotency-Key`, the store is the record: a reply or favourite is
recorded as the status's answer (the `replies` table) as soon as the server has answered, and a
row whose status is recorded answered is not posted again. A crash while a post is on its way
(sent, the server's answer not yet recorded) is the window left: for replies it is closed by
asking the server, after a restart, whether the bot's reply is there before posting a reply owed
before the restart (one read each); direct messages to moderators and alerts owed before a crash
may, on such a server only, be posted twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from mastodon import (
    MastodonAPIError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from watchbot.isolation import one_line
from watchbot.model import Owed, utcnow
from watchbot.networks.fediverse.events import (
    LEGACY_KEY,
    REPLY_VISIBILITY,
    idempotency_key,
    legacy_idempotency_key,
    reply_text,
    status_uri,
)
from watchbot.outbox import MAX_ATTEMPTS, CannotSend, TryLater
from watchbot.status_text import StatusLimits, fit, minimal_reply
from watchbot.store import Store
from watchbot.store.outbox import OutboxItem, OutboxStore
from watchbot.store.replies import ReplyStore

log = logging.getLogger(__name__)

SOURCE = "mastodon"
REPLY = "reply"  # a reply to a mention, counted in its thread
FAVOURITE = "favourite"  # the quiet acknowledgement, counted in its thread too
OPTED_OUT = "opted-out"  # the one answer to someone whose profile says #nobot: recorded nowhere
DIRECT = "direct"  # a direct message to the moderators
ANNOUNCE = "announce"  # an alert feed's entry on the bot's account
MODERATORS = "moderators"  # the place of direct messages to them
ANNOUNCEMENTS = "announcements"  # the place of alerts


def reply(status: dict[str, Any], lines: list[str], thread: str, secret: str, *, kept: bool = True) -> Owed:
    """A reply to `status` saying `lines`, mentioning only its author. `kept` False: once sent,
    neither its text nor the status's URI (which names its author) is kept (`forget me`).
    `secret` (the access token) keys every key made here (events.idempotency_key)."""
    status_id = str(status["id"])
    acct = str((status.get("account") or {}).get("acct") or "")
    return Owed(SOURCE, thread, REPLY, {
        "status_id": status_id, "text": reply_text(acct, lines), "thread": thread,
        "uri": status_uri(status) if kept else None,
        "visibility": REPLY_VISIBILITY.get(str(status.get("visibility")), "direct"),
    }, idempotency_key("reply", status_id, secret), kept)


def favourite(status: dict[str, Any], thread: str, secret: str) -> Owed:
    status_id = str(status["id"])
    return Owed(SOURCE, thread, FAVOURITE, {"status_id": status_id, "thread": thread, "uri": status_uri(status)},
                idempotency_key("favourite", status_id, secret))


def opted_out_answer(status: dict[str, Any], text: str, secret: str) -> Owed:
    """Only the status's id and how it was posted, until sent or given up (then forgotten, the
    keyed key kept): its author's name is read when sending, so the store never names someone who
    asked bots to leave them be."""
    status_id = str(status["id"])
    return Owed(SOURCE, OPTED_OUT, OPTED_OUT, {
        "status_id": status_id, "text": text,
        "visibility": REPLY_VISIBILITY.get(str(status.get("visibility")), "direct"),
    }, idempotency_key("reply", status_id, secret))


def to_moderators(mentions: str, text: str, key: str, secret: str) -> Owed:
    """`key` is the command's status id: keyed as every other."""
    return Owed(SOURCE, MODERATORS, DIRECT, {"text": f"{mentions} {text}"},
                idempotency_key("moderators", key, secret))


def announcement(text: str, language: str | None, key: str, secret: str) -> Owed:
    return Owed(SOURCE, ANNOUNCEMENTS, ANNOUNCE, {"text": text, "language": language},
                idempotency_key("announce", key, secret))


# Which kinds of row carry the status id their key was made of, and the purpose it was made for.
_PURPOSE_OF = {REPLY: "reply", FAVOURITE: "favourite", OPTED_OUT: "reply"}


async def rekey(store: Store, secret: str) -> int:
    """Upgrade the rows owed under the unkeyed keys of older versions (decision 33, "Keys keyed"),
    in one transaction; how many were changed. A row whose payload still holds its status id (a
    reply or favourite waiting, failed, or sent and kept; an opted-out answer not sent) gets the
    keyed key of that id, so the same answer owed again after the upgrade is the same row, not a
    second post. A sent row emptied of its id cannot be keyed again: a reply or favourite is kept
    from repeating by `replies` (the Delivery does not post to an answered status) and an opted-out
    answer by the cursor and the told mark, so such a row is deleted, and its reversible key with it.
    Direct messages and alerts (keys of what the payload does not hold) keep their key until
    pruned; the adapter looks their old key up before owing the same message again."""

    def keyed(kind: str, key: str, payload: dict[str, Any]) -> str | None:
        if LEGACY_KEY.fullmatch(key) is None:
            return key  # keyed already, or not made of a status id
        purpose, status_id = _PURPOSE_OF[kind], str(payload.get("status_id") or "")
        if status_id and legacy_idempotency_key(purpose, status_id) == key:
            return idempotency_key(purpose, status_id, secret)
        return None  # emptied: sent (an opted-out answer is emptied just before it is marked sent)

    return await OutboxStore(store).rekey(SOURCE, list(_PURPOSE_OF), keyed)


Call = Callable[..., Awaitable[Any]]  # one API call, on the adapter's worker, not retried


class Delivery:
    """`deliver(item)` for the outbox's Sender: posts one row, returns the server's id for it."""

    def __init__(self, store: Store, call: Call, limits: Callable[[], StatusLimits], instance: str,
                 own_id: Callable[[], str], *, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.call = call
        self.limits = limits
        self.instance = instance
        self.own_id = own_id
        # Owed before this process started: one of them may have been posting when the last one
        # died, so the server is asked before it is posted (servers that ignore the key).
        self.started = clock()

    async def __call__(self, item: OutboxItem) -> str | None:
        try:
            return await self._delivered(item)
        except Exception as error:
            if item.kind == OPTED_OUT and not (isinstance(error, TryLater) and item.attempts + 1 < MAX_ATTEMPTS):
                # Given up (the Sender keeps it as failed): without the status id, which leads to
                # someone who opted out; the keyed key stays, so it is not owed again.
                await OutboxStore(self.store).forget(item.id)
            raise

    async def _delivered(self, item: OutboxItem) -> str | None:
        try:
            return await self._send(item)
        except MastodonRatelimitError as error:
            raise TryLater("rate limited", _reset_in(error)) from None
        except MastodonNetworkError:
            raise TryLater(f"cannot reach {self.instance}") from None
        except MastodonServerError as error:
            raise TryLater(f"{self.instance} answered {_status_of(error)}") from None
        except MastodonUnauthorizedError:  # the network stops and says so; a new login mends it
            raise TryLater(f"{self.instance} refused the access token") from None
        except MastodonNotFoundError:
            raise CannotSend("the status answered is gone (deleted, or no longer visible to the bot)") from None
        except MastodonAPIError as error:  # another 4xx: sending it again would be refused again
            raise CannotSend(f"{self.instance} refused it: {one_line(_said(error), 200)}") from None

    async def _send(self, item: OutboxItem) -> str | None:
        payload = item.payload
        if item.kind in (REPLY, FAVOURITE):
            _, _, answered = await ReplyStore(self.store).thread(SOURCE, payload["status_id"], None)
            if answered:  # posted before a crash, on a server that may ignore the key: not twice
                return None
        if item.kind == REPLY:
            posted = await self._posted_before(item) if item.created_at < self.started else None
            posted = posted or await self._post_cut(item, payload["text"], in_reply_to_id=payload["status_id"],
                                          visibility=payload["visibility"])
            await ReplyStore(self.store).record(SOURCE, payload["status_id"], payload["thread"], posted, payload["uri"])
            return posted
        if item.kind == FAVOURITE:
            await self.call("status_favourite", payload["status_id"])
            await ReplyStore(self.store).record(SOURCE, payload["status_id"], payload["thread"], None, payload["uri"])
            return None
        if item.kind == OPTED_OUT:
            if "status_id" not in payload:
                return None  # sent, and forgotten, just before a crash
            status = await self.call("status", payload["status_id"])
            acct = str((status.get("account") or {}).get("acct") or "")
            await self._post_cut(item, reply_text(acct, [payload["text"]]), in_reply_to_id=payload["status_id"],
                                 visibility=payload["visibility"])
            await OutboxStore(self.store).forget(item.id)  # nothing kept that leads to them
            return None
        if item.kind == DIRECT:
            return await self._post(fit(payload["text"], self.limits()), item.key, visibility="direct")
        if item.kind == ANNOUNCE:
            return await self._post(fit(payload["text"], self.limits()), item.key, visibility="unlisted",
                                    language=payload.get("language"))
        raise CannotSend(f"unknown kind of answer {item.kind!r}")

    async def _posted_before(self, item: OutboxItem) -> str | None:
        """The bot's reply to the status, if the server has one: posted by a process killed
        before it could record it."""
        context = await self.call("status_context", item.payload["status_id"])
        own = self.own_id()
        return next((str(status["id"]) for status in context.get("descendants") or []
                     if str((status.get("account") or {}).get("id")) == own
                     and str(status.get("in_reply_to_id")) == item.payload["status_id"]), None)

    async def _post_cut(self, item: OutboxItem, text: str, **options) -> str:
        """Cut to the server's length; if the server still finds it too long (it counts
        differently), cut counting URLs as written; then, never dropped silently, what was done in
        as few characters as it can be said. Each try has its own key: they are different posts."""
        limits = self.limits()
        try:
            return await self._post(fit(text, limits), item.key, **options)
        except MastodonAPIError as error:
            if not refused_as_too_long(error):
                raise
            log.info("Mastodon: the server found the answer in %s too long; cutting it shorter", item.place)
        stricter = replace(limits, urls_discounted=False)
        try:
            return await self._post(fit(text, stricter), f"{item.key}-short", **options)
        except MastodonAPIError as error:
            if not refused_as_too_long(error):
                raise
            log.warning("Mastodon: the server found the answer in %s too long twice; answering in short", item.place)
        shortest = replace(stricter, max_characters=min(stricter.max_characters, 140))
        return await self._post(fit(minimal_reply(text), shortest), f"{item.key}-minimal", **options)

    async def _post(self, text: str, key: str, **options) -> str:
        status = await self.call("status_post", text, idempotency_key=key, **options)
        return str(status["id"])


def refused_as_too_long(error: MastodonAPIError) -> bool:
    """Mastodon.py's errors carry (message, status, reason, server's text). Mastodon answers 422
    "Validation failed: Text character limit of 500 exceeded"; other servers 400 "Status is too
    long" and the like."""
    args = list(error.args) + [None] * 4
    said = str(args[3] or "").lower()
    return args[1] in (400, 413, 422) and any(words in said for words in ("too long", "character limit", "too many characters"))


def _status_of(error: MastodonAPIError) -> str:
    args = list(error.args) + [None] * 4
    return str(args[1] or "an error")


def _said(error: MastodonAPIError) -> str:
    args = list(error.args) + [None] * 4
    return f"{args[1]} {args[3] or args[2] or ''}".strip()


def _reset_in(error: MastodonRatelimitError) -> float | None:
    """Seconds until the reset the server announced (Mastodon.py keeps it on the client; the
    adapter passes it on the error), or None to back off."""
    reset = getattr(error, "reset", None)
    return max(float(reset) - time.time(), 1.0) if reset else None
