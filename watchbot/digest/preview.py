"""The digest of the period in progress (or the last complete one), from the store."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from watchbot.digest.build import Digest, build_digest
from watchbot.digest.schedule import current_period, last_period
from watchbot.model import utcnow
from watchbot.store import Store
from watchbot.store.published import PublishedReader


async def preview(
    store: Store, schedule: str, zone: ZoneInfo, *, top: int, last: bool = False, now: datetime | None = None,
    feed_top: int = 10,
) -> Digest:
    moment = now or utcnow()
    period = (last_period if last else current_period)(schedule, zone, moment)
    end = min(period.end, moment)  # "so far": nothing from the future, however clocks disagree
    records = await PublishedReader(store).shared_between(period.start, end)
    return build_digest(records, period, top=top, feed_top=feed_top)
