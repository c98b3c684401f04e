"""Posting a digest exactly once per (outlet, period), whatever crashes or second processes do.

The run is claimed in the store before anything is sent (one transactional insert); each part's
remote id is recorded as soon as the outlet accepted it, and the claim renewed. Every part is sent
with a key derived from the run and the part's place (Matrix transaction id, Mastodon
Idempotency-Key), so a part re-sent after a crash between "accepted" and "recorded" is taken by
the server as the same request. A run whose poster died resumes at the first part not recorded,
as a reply to the last one that was. A run that fails half-way is released, so the next try (the
scheduler's, or `watchbot digest post`) resumes it at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from watchbot.digest.build import Digest
from watchbot.network import DigestSendError, Outlet
from watchbot.digest.claims import poster_gone, poster_name
from watchbot.store.digests import DigestRuns

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Posted:
    outlet: str
    status: str  # posted, resumed, already, busy, empty, failed
    remote_ids: list[str] = field(default_factory=list)
    reason: str | None = None
    superseded: str | None = None  # posted --again: what it replaced

    def line(self) -> str:
        said = {
            "posted": f"posted in {len(self.remote_ids)} part(s)",
            "resumed": f"posted, resuming an interrupted run ({len(self.remote_ids)} part(s))",
            "already": ("already done for this period: it was empty" if self.reason else
                        "already posted for this period") + " (--again to post it anew)",
            "busy": "another process is posting it right now",
            "empty": "nothing was shared in this period: not posted",
            "failed": f"failed, to be resumed: {self.reason}",
        }[self.status]
        replaced = f", replacing {self.superseded}" if self.superseded else ""
        return f"{self.outlet}: {said}{replaced}"


async def post_digest(runs: DigestRuns, outlet: Outlet, digest: Digest, zone: ZoneInfo, *,
                      owner: str | None = None, again: bool = False) -> Posted:
    owner = owner or poster_name()
    claim = await runs.claim(outlet.name, digest.period, owner, again=again, poster_gone=poster_gone)
    if claim is None:
        state = await runs.state(outlet.name, digest.period)
        if state is not None and state.status in ("posted", "empty"):
            return Posted(outlet.name, "already", reason="it was empty" if state.status == "empty" else None)
        return Posted(outlet.name, "busy")
    if digest.link_count == 0 and not digest.feed_count and not claim.sent:
        await runs.finish(claim.run_id, "empty")
        return Posted(outlet.name, "empty")
    previous: str | None = None
    remote_ids: list[str] = []
    for seq, part in enumerate(outlet.parts(digest, zone)):
        if seq in claim.sent:  # sent before a crash: thread on from it
            previous = claim.sent[seq]
        else:
            try:
                previous = await outlet.send(part, reply_to=previous, key=f"watchbot-digest-{claim.key}-{seq}")
            except DigestSendError as error:
                log.warning("digest: %s: part %d not sent (%s); the run will be resumed", outlet.name, seq, error)
                await runs.release(claim.run_id, owner)
                return Posted(outlet.name, "failed", remote_ids, str(error), claim.superseded)
            await runs.sent(claim.run_id, seq, previous)
        remote_ids.append(previous)
    await runs.finish(claim.run_id)
    return Posted(outlet.name, "resumed" if claim.resumed else "posted", remote_ids, superseded=claim.superseded)
