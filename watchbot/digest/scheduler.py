"""The digest on schedule: at the end of each period, to every outlet, once.

After downtime across one or more scheduled times, only the latest complete period is posted (a
week of old news is not worth five posts). A store's first start posts no period that ended
before it (a store filled by an import does not post last week's digest the minute the bot starts;
`watchbot digest post` can). The check runs at each scheduled time and every
RECHECK_SECONDS besides, which also resumes a run whose poster died and reaches an outlet that
was not ready the first time (a homeserver that was down).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from watchbot.digest.build import Digest, build_digest
from watchbot.digest.post import Posted, post_digest
from watchbot.network import DigestSendError, Part
from watchbot.digest.schedule import DEFAULT_SCHEDULE, current_period, last_period
from watchbot.durations import parse_duration
from watchbot.model import Period, Source, utcnow
from watchbot.store import Store
from watchbot.store.cursors import CursorStore
from watchbot.store.digests import DigestRuns
from watchbot.store.links import LinkStore
from watchbot.store.published import PublishedReader
from watchbot.store.reactions import ReactionStore
from watchbot.waits import event_or_timeout

if TYPE_CHECKING:
    from watchbot.network import Network

log = logging.getLogger(__name__)

RECHECK_SECONDS = 15 * 60
READY_SECONDS = 120.0  # how long the first check waits for the networks to connect
WITHDRAWN = "(This part of the digest was withdrawn.)"
MAX_RECHECKED = 300  # Mastodon statuses asked about per digest (each one is a request)
FIRST_START = "digest.first_start"  # the store's cursor: when its scheduler first ran
_LONG_AGO = datetime(2000, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class SchedulerOptions:
    """What the digest's schedule needs to know from the settings."""

    schedule: str = DEFAULT_SCHEDULE
    zone: ZoneInfo = ZoneInfo("UTC")
    top: int = 20
    feed_top: int = 10
    review_room: str | None = None  # drafts go there first, to be approved
    review_deadline: timedelta | None = None  # then the digest goes out anyway

    @classmethod
    def from_settings(cls, settings) -> SchedulerOptions:
        deadline = settings.digest_review_deadline
        return cls(settings.digest_schedule, settings.zone, settings.digest_top, settings.feeds_digest_cap,
                   settings.digest_review_room, parse_duration(deadline) if deadline else None)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    await event_or_timeout(event, seconds)


class DigestScheduler:
    """`clock` says what time it is and `wait(event, seconds)` waits for a wake-up or a time
    (both real by default): a test drives the loop through a period's end without waiting for it."""

    def __init__(self, options: SchedulerOptions, store: Store, networks: Sequence[Network], *,
                 clock: Callable[[], datetime] = utcnow,
                 wait: Callable[[asyncio.Event, float], Awaitable[None]] = _wait) -> None:
        self.options = options
        self.store = store
        self.networks = networks  # read at each check: a network may join after the scheduler is built
        self.clock = clock
        self.wait = wait
        self.runs = DigestRuns(store, clock=clock)
        self._favourites: dict[str, int] = {}  # status URI -> favourites, as of the last recheck
        self._wake = asyncio.Event()

    async def run(self) -> None:
        await self._wait_until_ready()
        first_start = await self.first_start(self.clock())
        while True:
            self._wake.clear()  # before the work: an approval arriving meanwhile is seen next
            now = self.clock()
            for posted in await self.check(now, first_start):
                if posted.status not in ("already", "busy"):
                    log.info("digest: %s", posted.line())
            await self.amend()
            until_next = current_period(self.options.schedule, self.options.zone, now).end - self.clock()
            await self.wait(self._wake, min(max(until_next.total_seconds(), 0) + 1, RECHECK_SECONDS))

    async def first_start(self, now: datetime | None = None) -> datetime:
        """When this store's scheduler first ran (recorded then, `now` if it is now)."""
        recorded = await CursorStore(self.store).get(FIRST_START)
        if recorded is None:
            # A store that posted digests before this was recorded has been running all along.
            recorded = (_LONG_AGO if await self.runs.any_run() else now or self.clock()).isoformat()
            await CursorStore(self.store).set(FIRST_START, recorded)
        return datetime.fromisoformat(recorded)

    async def check(self, now: datetime, first_start: datetime) -> list[Posted]:
        """Post the latest complete period where it was not, unless it ended before the first start."""
        period = last_period(self.options.schedule, self.options.zone, now)
        if period.end <= first_start:
            return []
        return await self.post(period)

    async def post(self, period: Period, *, again: bool = False, only: Sequence[str] = (),
                   review: bool = True) -> list[Posted]:
        """Post `period`'s digest to every outlet (or those named in `only`) that has not had it.
        With a review room (and `review`), the draft goes there first, and the digest waits for
        a moderator's approval or the deadline."""
        if review and self.options.review_room and not await self._may_go_out(period):
            return await self._post_draft(period)
        outlets = [outlet for outlet in self._outlets() if not only or outlet.name in only]
        results: list[Posted] = []
        checked = False
        for outlet in outlets:
            state = await self.runs.state(outlet.name, period)
            if state is not None and state.status != "posting" and not again:
                results.append(Posted(outlet.name, "already", reason="it was empty" if state.status == "empty" else None))
                continue
            if not checked:  # only when something is to be posted: it costs requests
                self._favourites = await self._recheck(period)
                checked = True
            try:
                digest = await self.digest(period, outlet.scope)
                results.append(await post_digest(self.runs, outlet, digest, self.options.zone, again=again))
            except Exception as error:  # noqa: BLE001 -- one outlet's trouble must not stop the others (nor the bot)
                log.exception("digest: posting to %s failed", outlet.name)
                results.append(Posted(outlet.name, "failed", reason=type(error).__name__))
        return results

    async def _may_go_out(self, period: Period) -> bool:
        if await self.runs.draft_approved_by(period):
            return True
        deadline = self.options.review_deadline
        return deadline is not None and self.clock() >= period.end + deadline

    async def _post_draft(self, period: Period) -> list[Posted]:
        drafts = [outlet for network in self.networks if network.offers.drafts for outlet in network.draft_outlets()]
        digest = await self.digest(period)
        return [await post_digest(self.runs, outlet, digest, self.options.zone) for outlet in drafts]

    def _outlets(self) -> list:
        return [outlet for network in self.networks for outlet in network.digest_outlets()]

    def wake(self) -> None:
        """Check now (a draft was approved)."""
        self._wake.set()

    async def amend(self) -> int:
        """Edit posted digests that name someone who asked to be forgotten, where the outlet
        allows editing; a part with nothing left says so. Returns the runs edited."""
        outlets = {outlet.name: outlet for outlet in self._outlets()}
        edited = 0
        for run_id, name, period, sent in await self.runs.to_amend():
            outlet = outlets.get(name)
            if outlet is None:
                continue  # not connected now: the next check
            parts = outlet.parts(await self.digest(period, outlet.scope), self.options.zone)
            try:
                for seq, remote_id in sorted(sent.items()):
                    await outlet.edit(remote_id, parts[seq] if seq < len(parts) else Part(WITHDRAWN, WITHDRAWN))
            except DigestSendError as error:
                log.warning("digest: %s: could not edit (%s); trying again later", name, error)
                continue
            await self.runs.finish(run_id, "posted")
            edited += 1
            log.info("digest: %s for %s edited (someone asked to be forgotten)", name, period.start.date())
        return edited

    async def digest(self, period: Period, place: str | None = None) -> Digest:
        records = await PublishedReader(self.store).shared_between(period.start, period.end)
        matrix_events = [s.event_id for r in records for s in r.shares if s.source is Source.MATRIX and s.event_id]
        reactions = {(Source.MATRIX, event_id): count for event_id, count in
                     (await ReactionStore(self.store).counts(Source.MATRIX, matrix_events)).items()}
        reactions.update({(Source.MASTODON, uri): count for uri, count in self._favourites.items()})
        return build_digest(records, period, top=self.options.top, place=place,
                            feed_top=self.options.feed_top, reactions=reactions)

    async def _recheck(self, period: Period) -> dict[str, int]:
        """Statuses deleted since they were filed leave the store (as a Matrix redaction does),
        so their links are not published; the others' favourites are counted (status URI ->
        favourites)."""
        fediverse = next((network for network in self.networks
                          if network.offers.rechecks and network.name == Source.MASTODON.value), None)
        if fediverse is None:
            return {}
        records = await PublishedReader(self.store).shared_between(period.start, period.end)
        uris = list(dict.fromkeys(
            share.event_id for record in records for share in record.shares
            if share.source is Source.MASTODON and share.event_id and period.contains(share.shared_at)))
        favourites = {}
        for uri in uris[:MAX_RECHECKED]:
            there, favourites[uri] = await fediverse.recheck(uri)
            if not there:
                log.info("digest: %s was deleted; its shares leave the store", uri)
                await LinkStore(self.store).remove_event_shares(Source.MASTODON, uri)
        return favourites

    async def _wait_until_ready(self) -> None:
        waits = [network.ready.wait() for network in self.networks]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), READY_SECONDS)
        except TimeoutError:
            log.warning("digest: not every network is connected yet; posting where it can, the rest later")
