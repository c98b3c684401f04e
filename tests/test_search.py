"""Search ranks the newest matches, and reads what a list shows as the published view says it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from watchbot.model import Audience, NewShare, Source, Visibility
from watchbot.published import summary_of, view_of
from watchbot.store import Store
from watchbot.store import published as published_module
from watchbot.store import search as search_module
from watchbot.store.links import LinkStore
from watchbot.store.published import PublishedReader

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)


def share(n: int, note: str, **changes) -> NewShare:
    url = f"https://example.com/{n}"
    base = NewShare(url=url, key=url, sharer_id="@alice:x", sharer_name="alice", source=Source.MATRIX,
                    place="!room:x", event_id=f"$e{n}", visibility=Visibility.PUBLIC,
                    shared_at=T0 + timedelta(hours=n), note=note, tags=("rust",))
    return replace(base, **changes)


async def file_five(store: Store) -> None:
    # The oldest matches "kernel" best by far; of the three newest, #4 matches best.
    notes = ["kernel kernel kernel kernel oldest", "kernel second", "kernel third", "kernel kernel fourth",
             "kernel fifth"]
    for n, note in enumerate(notes, start=1):
        await LinkStore(store).file_shares([share(n, note)])


@pytest.fixture
def three_candidates(monkeypatch):
    monkeypatch.setattr(search_module, "CANDIDATES", 3)
    monkeypatch.setattr(published_module, "PLACE_CANDIDATES", 3)


async def test_the_best_match_is_ranked_among_the_newest_matches_only(store: Store, three_candidates):
    await file_five(store)
    public = [link.id for link in await PublishedReader(store).search("kernel", limit=3)]
    operator = [link.id for link in await LinkStore(store).search("kernel", limit=3)]
    assert public == operator == [4, 5, 3]  # the oldest, a better match, is not among the newest three
    # Another word brings it back: it is among the newest matches of "kernel oldest".
    assert [link.id for link in await PublishedReader(store).search("kernel oldest")] == [1]
    assert [link.id for link in await LinkStore(store).search("kernel oldest")] == [1]


async def test_a_private_place_ranks_its_own_shares_among_its_newest_matches(store: Store, three_candidates):
    for n, note in enumerate(["kernel kernel kernel old", "kernel a", "kernel b", "kernel kernel c", "kernel d"],
                             start=1):
        await LinkStore(store).file_shares([share(n, note, place="!dm:x", visibility=Visibility.DIRECT)])
    here = Audience(place="!dm:x")
    assert [link.id for link in await PublishedReader(store, here).search("kernel", limit=3)] == [4, 5, 3]
    assert await PublishedReader(store).search("kernel") == []  # the public sees none of it


async def test_a_listed_result_reads_as_the_published_view(store: Store):
    # A link first shared privately with a title and a tracker, then publicly by two people: the
    # public list shows the public share's URL, tags and first sharer, never the private title.
    await LinkStore(store).file_shares([share(1, "kernel whispered", url="https://example.com/1?utm_source=dm",
                                   title="Private title", place="!dm:x", visibility=Visibility.DIRECT,
                                   sharer_id="@dm:x", sharer_name="dm", tags=("secret",))])
    await LinkStore(store).file_shares([share(1, "kernel", url="https://example.com/1?utm_source=room&p=2", event_id="$p1",
                                   shared_at=T0 + timedelta(days=1), tags=("linux",), sharer_name="")])
    await LinkStore(store).file_shares([share(1, "kernel again", url="https://example.com/1", event_id="$p2",
                                   sharer_id="@bob:x", sharer_name="bob", shared_at=T0 + timedelta(days=2),
                                   description="Bob's words")])
    record = await LinkStore(store).get_link(1)
    for audience in (Audience(), Audience(place="!dm:x"), Audience(place="!dm:x", person="@someone:x")):
        [found] = await PublishedReader(store, audience).search("kernel")
        assert found == summary_of(view_of(record, audience)), audience
    [public] = await PublishedReader(store).search("kernel")
    assert (public.url, public.title, public.tags, public.first_sharer_name, public.sharer_count) == (
        "https://example.com/1?p=2", None, ("linux", "rust"), "@alice:x", 2)
    assert public.description == "Bob's words"


async def test_asking_for_more_results_than_candidates_gets_them(store: Store, three_candidates):
    await file_five(store)
    assert len(await LinkStore(store).search("kernel", limit=5)) == 5
    assert len(await PublishedReader(store).search("kernel", limit=4)) == 4
