"""The digest in a Matrix room: notices (one, or a few when it would exceed an event), sent with
a transaction id so a re-send after a crash is the same event; the draft for the review room."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable

from aiohttp import ClientError
from nio import AsyncClient, LocalProtocolError, RoomSendError

from watchbot.digest import render
from watchbot.digest.build import Digest
from watchbot.digest.render import render_matrix_parts
from watchbot.model import Period
from watchbot.network import DigestSendError, Part
from watchbot.networks.matrix.events import txn_id
from watchbot.store.digests import DRAFT_PREFIX

log = logging.getLogger(__name__)


def _no_archive(period: Period) -> None:
    return None


class MatrixDigestOutlet:
    """The digest as notices in one room (one notice, or a few if it would exceed an event)."""

    def __init__(self, client: AsyncClient, room_id: str, *, scoped: bool,
                 archive: Callable[[Period], str | None] = _no_archive) -> None:
        self.client = client
        self.room_id = room_id
        self.archive = archive  # where "and N more in the archive" points, for a period
        self.name = f"matrix:{room_id}"
        self.scope = room_id if scoped else None

    def parts(self, digest: Digest, zone) -> list[Part]:
        return [Part(part.text, part.html) for part in render_matrix_parts(
            digest, zone, archive_url=self.archive(digest.period), max_bytes=render.MATRIX_PART_BYTES)]

    async def send(self, part: Part, *, reply_to: str | None, key: str) -> str:
        content = {"msgtype": "m.notice", "body": part.text, "format": "org.matrix.custom.html",
                   "formatted_body": part.html}
        # The transaction id makes a re-send after a crash the same event for the homeserver.
        try:
            response = await self.client.room_send(self.room_id, "m.room.message", content, tx_id=key,
                                                   ignore_unverified_devices=True)
        except (LocalProtocolError, ClientError, OSError) as error:  # e.g. an encrypted room not yet known
            raise DigestSendError(f"{type(error).__name__}: {error}") from None
        if isinstance(response, RoomSendError):
            raise DigestSendError(str(response))
        return response.event_id

    async def edit(self, remote_id: str, part: Part) -> None:
        new = {"msgtype": "m.notice", "body": part.text, "format": "org.matrix.custom.html",
               "formatted_body": part.html}
        content = {**new, "body": f"* {part.text}", "m.new_content": new,
                   "m.relates_to": {"rel_type": "m.replace", "event_id": remote_id}}
        key = txn_id("edit", remote_id, part.text)
        try:
            response = await self.client.room_send(self.room_id, "m.room.message", content, tx_id=key,
                                                   ignore_unverified_devices=True)
        except (LocalProtocolError, ClientError, OSError) as error:
            raise DigestSendError(f"{type(error).__name__}: {error}") from None
        if isinstance(response, RoomSendError):  # refused (no right to send here now): left as it is
            log.warning("Matrix: could not edit digest notice %s: %s", remote_id, response)


class MatrixDraftOutlet(MatrixDigestOutlet):
    """The digest as a draft in the review room: a first notice saying how to approve it."""

    def __init__(self, client: AsyncClient, room_id: str, *, scoped: bool,
                 archive: Callable[[Period], str | None] = _no_archive) -> None:
        super().__init__(client, room_id, scoped=scoped, archive=archive)
        self.name = f"{DRAFT_PREFIX}{room_id}"

    def parts(self, digest: Digest, zone) -> list[Part]:
        start = digest.period.start.astimezone(zone)
        note = (f"Draft of the digest from {start:%d %b}, below. A moderator's ✅ on this message sends it "
                "to the rooms and the fediverse.")
        return [Part(note, html.escape(note))] + super().parts(digest, zone)
