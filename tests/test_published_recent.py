"""`recent`: the links whose latest share, as the audience sees it, is latest, whichever way the
store finds them (walking the newest shares, or grouping them all when those are too few)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from watchbot.model import PUBLIC, Audience, NewShare, Source, Visibility
from watchbot.store import Store
from watchbot.store import published as published_module
from watchbot.store.links import LinkStore
from watchbot.store.published import PublishedReader

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)


def share(n: int, hours: int, **changes) -> NewShare:
    url = f"https://example.com/{n}"
    base = NewShare(url=url, key=url, sharer_id=f"@p{hours}:x", sharer_name=f"p{hours}", source=Source.MATRIX,
                    place="!room:x", event_id=f"$e{n}-{hours}", visibility=Visibility.PUBLIC,
                    shared_at=T0 + timedelta(hours=hours), tags=("common",))
    return replace(base, **changes)


async def file_history(store: Store) -> None:
    """Ten links; #2 and #5 shared again later (they move up); #9 shared last but privately (it
    does not move up for the public); #3 and #7 carry the rare tag."""
    for n in range(1, 11):
        await LinkStore(store).file_shares([share(n, n, tags=("common", "rare") if n in (3, 7) else ("common",))])
    await LinkStore(store).file_shares([share(2, 20)])
    await LinkStore(store).file_shares([share(5, 21)])
    await LinkStore(store).file_shares([share(9, 22, visibility=Visibility.PRIVATE, place="!dm:x")])


@pytest.mark.parametrize("window", [2, 4, 100])  # too few shares walked, some, all of them
async def test_the_latest_shared_come_first_whatever_the_walk_finds(store: Store, monkeypatch, window: int):
    monkeypatch.setattr(published_module, "RECENT_WINDOW", window)
    await file_history(store)
    public = PublishedReader(store, PUBLIC)
    assert [link.id for link in await public.recent(limit=5)] == [5, 2, 10, 9, 8]
    assert [link.id for link in await public.recent(limit=5, tag="rare")] == [7, 3]
    assert [link.id for link in await public.recent(limit=3, since=T0 + timedelta(hours=9))] == [5, 2, 10]
    # The direct chat where #9 was shared again sees it move up.
    here = PublishedReader(store, Audience(place="!dm:x"))
    assert [link.id for link in await here.recent(limit=3)] == [9, 5, 2]
