"""The digest on the fediverse: a thread on the bot's account, each post with its
Idempotency-Key; a post the server finds too long is posted again in shorter pieces."""

from __future__ import annotations

import logging
from dataclasses import replace
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from mastodon import MastodonAPIError

from watchbot.digest.build import Digest
from watchbot.digest.render import render_thread
from watchbot.model import Owed, Period, utcnow
from watchbot.network import DigestSendError, Part
from watchbot.networks.fediverse.outbox import refused_as_too_long
from watchbot.status_text import StatusLimits, fit, split_lines
from watchbot.store import Store
from watchbot.store.outbox import DIGEST_PIECE, OutboxStore

log = logging.getLogger(__name__)
SOURCE = "mastodon"


class MastodonDigestOutlet:
    """The digest as a thread on the bot's account: the root public (its hashtags discoverable),
    the replies unlisted, in the digest's language, each post with its Idempotency-Key."""

    def __init__(self, instance: str, store: Store, call: Callable[..., Awaitable[Any]], limits: StatusLimits, *,
                 language: str, archive_for: Callable[[Period], str | None],
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.name = f"mastodon:{instance}"
        self.scope = None
        self.store = store
        self.call = call  # the adapter's API call: its one worker thread, its rate limits, its retries
        self.limits = limits  # what the server allows, as it said when the bot connected
        self.language = language
        self.archive_for = archive_for
        self.clock = clock  # when a piece of a part was posted (bot.py's clock)

    def parts(self, digest: Digest, zone) -> list[Part]:
        return [Part(text) for text in render_thread(digest, zone, self.limits,
                                                     archive_url=self.archive_for(digest.period))]

    async def send(self, part: Part, *, reply_to: str | None, key: str) -> str:
        try:
            return await self._post(part.text, reply_to, key)
        except MastodonAPIError as error:
            if not refused_as_too_long(error):
                raise DigestSendError(f"the server refused it: {error}") from None
        # The server counts differently (URLs in full): the same lines, in shorter posts.
        log.info("Mastodon: the server found a digest post too long; posting it in shorter pieces")
        stricter = replace(self.limits, urls_discounted=False)
        posted = OutboxStore(self.store)
        try:
            for number, piece in enumerate(split_lines(part.text, stricter)):
                # Each piece is kept as posted: a run resumed among them goes on after the last
                # one, on servers that ignore Idempotency-Key too (digest_parts keeps the part's last).
                owed = Owed(SOURCE, reply_to or "", DIGEST_PIECE, {"text": piece}, f"{key}-{number}")
                done = await posted.sent_id(SOURCE, owed.key)
                if done is None:
                    done = await self._post(piece, reply_to, owed.key)
                    await posted.record_sent(owed, done, self.clock())
                reply_to = done
        except MastodonAPIError as error:
            raise DigestSendError(f"the server refused it: {error}") from None
        return reply_to

    async def edit(self, remote_id: str, part: Part) -> None:
        try:
            await self.call("status_update", remote_id, fit(part.text, self.limits))
        except MastodonAPIError as error:  # a server that cannot edit (older ones): left as it is
            log.warning("Mastodon: could not edit digest post %s: %s", remote_id, error)

    async def _post(self, text: str, reply_to: str | None, key: str) -> str:
        status = await self.call(
            "status_post", text, in_reply_to_id=reply_to, visibility="unlisted" if reply_to else "public",
            language=self.language, idempotency_key=key)
        return str(status["id"])
