"""The published view of a link (watchbot/published.py), pure: what an audience may read of a
link, computed from the shares it may see and from nothing else."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from watchbot.model import Link, LinkRecord, Page, PageState, Share, Source, Visibility
from watchbot.published import as_utc, summary_of, view_of

AT = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
URL = "https://example.com/article"


def share(n: int, url: str = URL, visibility: Visibility = Visibility.PUBLIC, *, sharer: str = "@alice:x",
          place: str = "!r:x") -> Share:
    return Share(n, 1, url, sharer, sharer[1:].split(":")[0], Source.MATRIX, place, f"${n}", visibility,
                 AT + timedelta(hours=n), None, ())


def record(*shares: Share, page: Page | None = None) -> LinkRecord:
    link = Link(1, "example.com/article", URL, None, None, (), len(shares), "alice", AT)
    return LinkRecord(link, shares, page)


def test_a_private_share_is_counted_never_named_and_the_view_starts_at_the_first_public_one():
    view = view_of(record(share(1, visibility=Visibility.PRIVATE, sharer="@carol:x"), share(2, sharer="@bob:x"),
                          share(3, visibility=Visibility.PRIVATE, sharer="@carol:x")))
    assert [s.sharer_id for s in view.shares] == ["@bob:x"]
    assert view.hidden == 2 and view.seen_before
    assert view_of(record(share(1), share(2, visibility=Visibility.PRIVATE))).seen_before is False
    assert view_of(record(share(1))).hidden == 0


def test_each_shares_url_is_shown_without_its_trackers():
    view = view_of(record(share(1, URL + "?utm_source=mastodon"), share(2, URL + "?fbclid=abc&utm_medium=x")))
    assert view.url == URL
    assert [s.url for s in view.shares] == [URL, URL]


def test_the_pages_title_and_site_are_shown_only_when_it_was_fetched_from_the_published_url():
    page = Page(PageState.OK, title="An article", description="About things", site_name="Example",
                fetched_url=URL)
    view = view_of(record(share(1), page=page))
    assert (view.title, view.description, view.site_name) == ("An article", "About things", "Example")
    assert summary_of(view).site_name == "Example"
    # Fetched from a URL the public does not see (a private share's parameters may select a
    # private document): nothing of that page is published.
    private_page = Page(PageState.OK, title="Payroll 2026", description="Salaries", site_name="Intranet",
                        fetched_url=URL + "?doc=payroll")
    view = view_of(record(share(1), page=private_page))
    assert (view.title, view.description, view.site_name) == (None, None, None)


@pytest.fixture
def paris_clock(monkeypatch):
    """The server's own timezone is not UTC: times must not depend on it."""
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_time_is_read_in_utc_whatever_the_servers_timezone(paris_clock):
    naive = datetime(2026, 11, 20, 12)  # as SQLite hands it back: UTC
    assert as_utc(naive) == AT and as_utc(naive).utcoffset() == timedelta(0)
    in_paris = datetime(2026, 11, 20, 13, tzinfo=timezone(timedelta(hours=1)))
    assert as_utc(in_paris) == AT and as_utc(in_paris).utcoffset() == timedelta(0)
    assert as_utc(in_paris).hour == 12
