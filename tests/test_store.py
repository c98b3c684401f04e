"""The store, on real SQLite and real PostgreSQL: what is filed is found, once."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import sqlite

from watchbot.model import Audience, NewShare, PageState, Source, Visibility
from watchbot.store import Store
from watchbot.store.cursors import CursorStore
from watchbot.store.links import LinkStore
from watchbot.store.prepared import Prepared
from watchbot.store.published import PublishedReader, _period_links, period_query
from watchbot.store.replies import ReplyStore
from watchbot.store.schema import UTCDateTime, metadata, shares

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)


def share(url: str = "https://example.com/a", **changes) -> NewShare:
    base = NewShare(
        url=url,
        key=url.lower().rstrip("/"),
        sharer_id="@alice:example.org",
        sharer_name="alice",
        source=Source.MATRIX,
        place="!room:example.org",
        event_id="$event1",
        visibility=Visibility.PUBLIC,
        shared_at=T0,
        note=None,
        tags=("rust",),
    )
    return replace(base, **changes)


async def test_a_new_link_is_filed_with_its_share_and_tags(store: Store):
    [filed] = await LinkStore(store).file_shares([share(tags=("rust", "security"), note="worth a read")])
    assert filed.new_link and filed.new_share
    record = await LinkStore(store).get_link(filed.link.id)
    assert record.link.url == "https://example.com/a"
    assert record.link.tags == ("rust", "security")
    assert [s.note for s in record.shares] == ["worth a read"]
    assert record.shares[0].shared_at == T0  # timezone-aware UTC, on both databases


async def test_a_second_sharer_adds_a_share_and_learns_who_was_first(store: Store):
    await LinkStore(store).file_shares([share()])
    [filed] = await LinkStore(store).file_shares(
        [share(sharer_id="@bob:example.org", sharer_name="bob", event_id="$event2",
               shared_at=T0 + timedelta(days=1), tags=("security",))]
    )
    assert not filed.new_link and filed.new_share
    assert filed.first_share.sharer_name == "alice"
    assert filed.link.share_count == 2
    assert filed.link.tags == ("rust", "security")


async def test_a_replayed_event_files_nothing_twice(store: Store):
    await LinkStore(store).file_shares([share()])
    [again] = await LinkStore(store).file_shares([share()])
    assert not again.new_share
    assert again.link.share_count == 1


async def test_one_message_with_two_links_files_both(store: Store):
    filed = await LinkStore(store).file_shares([share("https://example.com/a"), share("https://example.com/b")])
    assert [f.new_link for f in filed] == [True, True]
    assert await LinkStore(store).count_links() == 2
    replay = await LinkStore(store).file_shares([share("https://example.com/a"), share("https://example.com/b")])
    assert [f.new_share for f in replay] == [False, False]


async def test_shares_without_event_id_are_the_same_when_same_person_and_time(store: Store):
    await LinkStore(store).file_shares([share(event_id=None, source=Source.CLI)])
    [again] = await LinkStore(store).file_shares([share(event_id=None, source=Source.CLI)])
    [later] = await LinkStore(store).file_shares([share(event_id=None, source=Source.CLI, shared_at=T0 + timedelta(1))])
    assert not again.new_share
    assert later.new_share and later.link.share_count == 2


async def test_a_failed_message_leaves_nothing_half_filed(store: Store):
    good = share("https://example.com/good")
    broken = share("https://example.com/broken", shared_at=datetime(2026, 1, 1))  # naive: refused
    with pytest.raises(Exception):
        await LinkStore(store).file_shares([good, broken], cursor=("matrix.next_batch", "s42"))
    assert await LinkStore(store).count_links() == 0
    assert await CursorStore(store).get("matrix.next_batch") is None


async def test_a_cursor_moves_with_the_shares_it_covers(store: Store):
    await LinkStore(store).file_shares([share()], cursor=("matrix.next_batch", "s1"))
    assert await CursorStore(store).get("matrix.next_batch") == "s1"
    await CursorStore(store).set("matrix.next_batch", "s2")
    assert await CursorStore(store).get("matrix.next_batch") == "s2"


async def test_search_matches_every_word_as_a_prefix_over_url_title_notes_and_tags(store: Store):
    await LinkStore(store).file_shares([share("https://blog.rust-lang.org/2026/async", title="Async closures are stable",
                                   note="finally", tags=("rust",), event_id="$1")])
    await LinkStore(store).file_shares([share("https://lwn.net/kernel", title="Kernel news", tags=("linux",),
                                   note="memory safety in the kernel", event_id="$2")])
    titles = lambda links: [link.title for link in links]  # noqa: E731
    assert titles(await LinkStore(store).search("async clos")) == ["Async closures are stable"]
    assert titles(await LinkStore(store).search("lwn")) == ["Kernel news"]  # the URL
    assert titles(await LinkStore(store).search("memory")) == ["Kernel news"]  # a note
    assert titles(await LinkStore(store).search("linux")) == ["Kernel news"]  # a tag
    assert await LinkStore(store).search("rust kernel") == []  # every word must match


@pytest.mark.parametrize("hostile", ['"', "NOT", "rust AND OR", "*", "a:b", "(", "'; drop table links; --", ""])
async def test_search_syntax_in_a_query_is_only_words(store: Store, hostile: str):
    await LinkStore(store).file_shares([share(title="Rust and the kernel")])
    await LinkStore(store).search(hostile)  # never a syntax error
    assert await LinkStore(store).count_links() == 1


async def test_list_filters_by_tag_date_and_sharer(store: Store):
    await LinkStore(store).file_shares([share("https://a.example/1", tags=("rust",), event_id="$1")])
    await LinkStore(store).file_shares([share("https://a.example/2", tags=("python",), event_id="$2",
                                   sharer_id="@bob:x", sharer_name="Bob", shared_at=T0 + timedelta(days=10))])
    urls = lambda links: [link.url for link in links]  # noqa: E731
    assert urls(await LinkStore(store).list_links()) == ["https://a.example/2", "https://a.example/1"]
    assert urls(await LinkStore(store).list_links(tag="rust")) == ["https://a.example/1"]
    assert urls(await LinkStore(store).list_links(since=T0 + timedelta(days=5))) == ["https://a.example/2"]
    assert urls(await LinkStore(store).list_links(by="bob")) == ["https://a.example/2"]
    assert urls(await LinkStore(store).list_links(by="@bob:x")) == ["https://a.example/2"]


async def test_tag_counts_count_links_not_shares(store: Store):
    await LinkStore(store).file_shares([share("https://a.example/1", tags=("rust",), event_id="$1")])
    await LinkStore(store).file_shares([share("https://a.example/1", tags=("rust",), event_id="$2", sharer_id="@b:x")])
    await LinkStore(store).file_shares([share("https://a.example/2", tags=("rust", "wasm"), event_id="$3")])
    assert await LinkStore(store).tag_counts() == [("rust", 2), ("wasm", 1)]


async def test_private_shares_are_kept_but_not_counted_as_publishable(store: Store):
    await LinkStore(store).file_shares([share(visibility=Visibility.DIRECT, tags=("secret",))])
    assert await LinkStore(store).tag_counts() == [("secret", 1)]
    assert await PublishedReader(store).tag_counts() == []
    assert await PublishedReader(store).recent() == []


async def test_removing_a_link_removes_its_shares_search_entry_and_logs_it(store: Store):
    [filed] = await LinkStore(store).file_shares([share(title="Unique words here")])
    removed = await LinkStore(store).remove_link(filed.link.id, actor="cli:admin", reason="spam")
    assert removed.link.url == "https://example.com/a"
    assert await LinkStore(store).get_link(filed.link.id) is None
    assert await LinkStore(store).search("unique") == []
    assert await LinkStore(store).tag_counts() == []
    assert await LinkStore(store).remove_link(filed.link.id, actor="cli:admin") is None


async def test_export_reads_every_link_in_batches(store: Store):
    for i in range(7):
        await LinkStore(store).file_shares([share(f"https://a.example/{i}", event_id=f"${i}")])
    records = [r async for r in LinkStore(store).iter_records(batch=3)]
    assert [r.link.url for r in records] == [f"https://a.example/{i}" for i in range(7)]


async def test_reopening_migrates_nothing_and_keeps_everything(database_url: str):
    async with await Store.open(database_url) as first:
        await LinkStore(first).file_shares([share()])
    async with await Store.open(database_url) as second:
        assert await LinkStore(second).count_links() == 1


async def test_the_migrated_schema_is_the_one_the_code_describes(store: Store):
    def diff():
        with store.engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), metadata)

    differences = await store.run(diff)
    # links_fts, published_fts and their shadow tables are SQLite's search indexes, made by the
    # migrations on purpose, as are PostgreSQL's GIN indexes.
    differences = [d for d in differences if not (d[0] == "remove_table"
                                                  and d[1].name.startswith(("links_fts", "published_fts")))]
    differences = [d for d in differences if not (d[0] == "remove_index"
                                                  and d[1].name in ("ix_links_search", "ix_links_published_search"))]
    assert differences == []


async def test_an_edit_replaces_the_shares_of_its_message(store: Store):
    await LinkStore(store).file_shares([share("https://a.example/kept", tags=("old",), note="first words", event_id="$m"),
                             share("https://a.example/dropped", event_id="$m")])
    await LinkStore(store).file_shares([share("https://a.example/kept", event_id="$other", sharer_id="@bob:x")])
    filed, removed = await LinkStore(store).replace_event_shares(Source.MATRIX, "$m", [
        share("https://a.example/kept", tags=("new",), note="edited words", event_id="$m"),
        share("https://a.example/added", event_id="$m"),
    ])
    assert [f.new_share for f in filed] == [False, True]
    assert [f.link.url for f in filed] == ["https://a.example/kept", "https://a.example/added"]
    assert len(removed) == 1 and await LinkStore(store).get_link(removed[0]) is None  # nobody else shared it
    mine = {s.link_id: s for s in await LinkStore(store).shares_of_event(Source.MATRIX, "$m")}
    assert sorted(mine) == sorted(f.link.id for f in filed)
    assert mine[filed[0].link.id].tags == ("new",) and mine[filed[0].link.id].note == "edited words"
    assert [link.title for link in await LinkStore(store).search("first")] == []  # the old note is no longer found
    assert [link.url for link in await LinkStore(store).search("edited")] == ["https://a.example/kept"]


async def test_a_redaction_removes_its_shares_and_orphaned_links_only(store: Store):
    await LinkStore(store).file_shares([share("https://a.example/1", event_id="$m", note="secret plan"),
                             share("https://a.example/2", event_id="$m")])
    await LinkStore(store).file_shares([share("https://a.example/2", event_id="$b", sharer_id="@bob:x")])
    removed = await LinkStore(store).remove_event_shares(Source.MATRIX, "$m")
    assert [link.url for link in await LinkStore(store).list_links()] == ["https://a.example/2"]
    assert len(removed) == 1
    assert (await LinkStore(store).list_links())[0].share_count == 1
    assert await LinkStore(store).search("secret") == []
    assert await LinkStore(store).remove_event_shares(Source.MATRIX, "$m") == []


async def test_search_can_leave_out_what_may_not_be_published(store: Store):
    await LinkStore(store).file_shares([share("https://a.example/dm", title="Rust in a DM", visibility=Visibility.DIRECT,
                                   event_id="$dm")])
    await LinkStore(store).file_shares([share("https://a.example/room", title="Rust in the room", event_id="$room")])
    assert len(await LinkStore(store).search("rust")) == 2
    assert [link.url for link in await PublishedReader(store).search("rust")] == ["https://a.example/room"]


async def test_a_long_read_never_blocks_a_write(sqlite_url: str):
    import asyncio
    import threading

    from sqlalchemy import text as sql

    reader, writer = await Store.open(sqlite_url), await Store.open(sqlite_url)
    reading, release = threading.Event(), threading.Event()

    def long_read() -> None:  # what a long search or export does: one read transaction, held
        with reader.engine.connect() as conn:
            conn.execute(sql("SELECT count(*) FROM links")).scalar()
            reading.set()
            release.wait(30)

    held = asyncio.ensure_future(reader.run(long_read))
    try:
        await asyncio.to_thread(reading.wait, 10)
        [filed] = await LinkStore(writer).file_shares([share()])  # would wait busy_timeout, then fail, if blocked
        assert filed.new_link
    finally:
        release.set()
        await held
        await reader.close()
        await writer.close()


def test_an_in_memory_or_nameless_sqlite_store_is_refused():
    from watchbot.store.database import DatabaseURLError, driver_url, redacted

    for url in ("sqlite://", "sqlite:///", "sqlite:///:memory:"):
        with pytest.raises(DatabaseURLError, match="names no file"):
            driver_url(url)
    assert "secretpw" not in redacted("postgresql:///db?host=/run/pg&password=secretpw")


async def test_search_reads_at_most_32_distinct_words(store: Store):
    from watchbot.store.search import search_tokens

    assert search_tokens("Rust rust RUST ｒｕｓｔ") == ["rust"]
    assert len(search_tokens(" ".join(f"w{i}" for i in range(1000)))) == 32
    await LinkStore(store).file_shares([share(title="Rust")])
    assert len(await LinkStore(store).search("rust " * 50_000)) == 1  # a pasted page, not a syntax error


async def test_replies_are_counted_per_thread_and_a_post_is_answered_once(store: Store):
    # alice posts 1; the bot answers with 2; alice answers 2 with 3; bob answers 1 with 4.
    assert await ReplyStore(store).thread("mastodon", "1", None) == ("1", 0, False)
    await ReplyStore(store).record("mastodon", "1", "1", "2")
    assert await ReplyStore(store).thread("mastodon", "1", None) == ("1", 1, True)
    assert await ReplyStore(store).thread("mastodon", "3", "2") == ("1", 1, False)  # a reply to the bot
    await ReplyStore(store).record("mastodon", "3", "1", None)  # acknowledged with a favourite
    assert await ReplyStore(store).thread("mastodon", "4", "1") == ("1", 2, False)  # a reply to an answered post
    await ReplyStore(store).record("mastodon", "3", "1", "99")  # recorded once only: 99 is not the bot's
    assert await ReplyStore(store).thread("mastodon", "5", "99") == ("99", 0, False)
    assert (await ReplyStore(store).thread("matrix", "1", None))[1:] == (0, False)  # per source


async def test_posts_held_before_the_queue_knew_places_get_theirs_from_the_post(database_url: str):
    """Migration 0008: a room's moderators find what waited in their room before the upgrade."""
    from alembic import command
    from sqlalchemy import text

    from watchbot.store.database import _alembic_config, create_engine
    from watchbot.store.moderation import ModerationStore

    post = ('{"source": "matrix", "place": "!room:x", "author_id": "@new:x", "author_name": "new", "text": "t", '
            '"html": null, "event_id": "$held", "visibility": "public", "at": "2026-11-02T09:30:00+00:00", '
            '"note": null, "extra_tags": [], "links": ["https://held.example/"], "title": null, "description": null}')
    engine = create_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0007")
        conn.execute(text("INSERT INTO review_queue (source, event_id, author_id, post, at, state) "
                          "VALUES ('matrix', '$held', '@new:x', :post, :at, 'held')"), {"post": post, "at": T0})
    engine.dispose()
    async with await Store.open(database_url) as store:
        queue = ModerationStore(store)
        assert [held.post.event_id for held in await queue.waiting(place="!room:x")] == ["$held"]
        assert await queue.waiting(place="!other:x") == []


async def test_a_failed_event_is_kept_once_counted_per_attempt_and_its_cursor_moves_with_it(store: Store):
    from watchbot.store.failures import FORGOTTEN, RETRIED, FailureStore

    failures = FailureStore(store)
    first = await failures.record("mastodon", "mastodon.example", "101", "TypeError: boom", '{"id": "101"}',
                                  at=T0, cursor=("mastodon.notification_id", "101"))
    assert await CursorStore(store).get("mastodon.notification_id") == "101"  # in the same transaction
    await failures.record("matrix", "!room:x", "$other", "KeyError: 'content'", None, at=T0 + timedelta(minutes=1))
    again = await failures.record("mastodon", "mastodon.example", "101", "TypeError: boom again", '{"id": "101"}',
                                  at=T0 + timedelta(minutes=2))
    assert again == first
    kept = await failures.get(first)
    assert (kept.source, kept.place, kept.event_id, kept.reason) == (
        "mastodon", "mastodon.example", "101", "TypeError: boom again")
    assert (kept.attempts, kept.failed_at, kept.payload) == (2, T0 + timedelta(minutes=2), '{"id": "101"}')
    assert [f.event_id for f in await failures.list()] == ["101", "$other"]  # the newest first
    assert await failures.count_unresolved() == 2

    # Asked to retry: only what has a payload can be; each worker sees its own.
    assert [f.id for f in await failures.ask_retry(None, at=T0 + timedelta(hours=1))] == [first]
    assert [f.id for f in await failures.to_retry("mastodon")] == [first]
    assert await failures.to_retry("matrix") == []
    retried = await failures.resolve(first, RETRIED, at=T0 + timedelta(hours=2))
    assert (retried.resolution, retried.resolved_at, retried.retry_asked_at) == (RETRIED, T0 + timedelta(hours=2), None)
    assert await failures.resolve(first, FORGOTTEN) is None  # closed already
    assert await failures.to_retry("mastodon") == []
    assert [f.event_id for f in await failures.list()] == ["$other"]
    assert [f.event_id for f in await failures.list(resolved=True)] == ["101", "$other"]

    # The same event failing once more opens it again.
    await failures.record("mastodon", "mastodon.example", "101", "TypeError: boom", '{"id": "101"}',
                          at=T0 + timedelta(hours=3))
    reopened = await failures.get(first)
    assert (reopened.attempts, reopened.resolved_at, reopened.resolution) == (3, None, None)
    assert await failures.get(999) is None


async def test_an_unexpected_error_is_kept_in_one_clean_line_without_the_token(store: Store, caplog):
    import logging

    from watchbot.isolation import PAYLOAD_CHARS, Isolation
    from watchbot.store.failures import FailureStore

    isolation = Isolation(store, "matrix", "Matrix event", logging.getLogger("test.isolation"),
                          secrets=["syt_sEcReT"])
    error = ValueError("bad\x00 text\nfrom https://hs.example/sync?access_token=syt_sEcReT&x=1 " + "\ud800" * 3)
    with caplog.at_level(logging.DEBUG, logger="test.isolation"):
        try:
            raise error
        except ValueError as raised:
            reason = await isolation.failed(raised, place="!room\n:x", event_id="$e1",
                                            payload={"body": "\x00\ud800", "big": False})
        await isolation.failed(RuntimeError(), place="!room:x", event_id=None, payload={"x": "y" * PAYLOAD_CHARS})
    assert reason == "ValueError: bad text from https://hs.example/sync?access_token=***&x=1"
    [kept, nameless] = sorted(await FailureStore(store).list(), key=lambda f: f.id)
    assert (kept.place, kept.event_id, kept.reason) == ("!room :x", "$e1", reason)
    assert kept.payload == '{"body":"\\u0000\\ud800","big":false}'  # ASCII JSON: any database takes it
    assert nameless.payload is None and nameless.event_id.startswith("sha256:")  # too large to keep
    assert nameless.reason == "RuntimeError"
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage().count("\n") for r in errors] == [0, 0]
    assert "failed event #" in errors[0].getMessage()
    assert any("Traceback" in r.getMessage() for r in caplog.records if r.levelname == "DEBUG")
    assert not any("syt_sEcReT" in r.getMessage() for r in caplog.records)


async def test_a_removed_links_number_is_never_given_to_another_link(store: Store):
    """An old digest or reply saying "#3" keeps meaning the link it named, or no link at all."""
    for i in (1, 2, 3):
        await LinkStore(store).file_shares([share(f"https://a.example/{i}", event_id=f"${i}")])
    await LinkStore(store).remove_link(3, actor="cli:admin")
    [filed] = await LinkStore(store).file_shares([share("https://a.example/next", event_id="$next")])
    assert filed.link.id == 4
    assert await LinkStore(store).get_link(3) is None


async def test_upgrading_an_sqlite_store_keeps_every_share_and_never_reuses_a_number(sqlite_url: str):
    """Migration 0010 copies `links` on SQLite: shares, tags and search survive (foreign keys held
    off, so nothing cascades), and numbers already handed out (a link merged away, a reported link
    since removed) are not handed out again."""
    from alembic import command
    from sqlalchemy import text

    from watchbot.store.database import _alembic_config, create_engine

    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0009")
    with engine.begin() as conn:
        for number in (1, 2):
            conn.execute(text("INSERT INTO links (id, key, url, search_document, filed_at) "
                              "VALUES (:n, :key, :url, :doc, :at)"),
                         {"n": number, "key": f"a.example/{number}", "url": f"https://a.example/{number}",
                          "doc": f"https://a.example/{number} quasar{number}", "at": T0})
            conn.execute(text("INSERT INTO shares (link_id, url, sharer_id, sharer_name, source, place, event_id, "
                              "visibility, shared_at) VALUES (:n, :url, '@alice:x', 'alice', 'matrix', '!r:x', "
                              ":event, 'public', :at)"),
                         {"n": number, "url": f"https://a.example/{number}", "event": f"${number}", "at": T0})
        conn.execute(text("INSERT INTO share_tags (share_id, tag) VALUES (1, 'rust')"))
        # #5 was reported, then removed: only the report remembers its number.
        conn.execute(text("INSERT INTO reports (link_id, reporter, at) VALUES (5, '@bob:x', :at)"), {"at": T0})
    engine.dispose()

    async with await Store.open(sqlite_url) as store:
        record = await LinkStore(store).get_link(1)
        assert [s.tags for s in record.shares] == [("rust",)]
        assert [link.id for link in await LinkStore(store).search("quasar2")] == [2]
        [filed] = await LinkStore(store).file_shares([share("https://a.example/new", event_id="$new")])
        assert filed.link.id == 6
        await LinkStore(store).remove_link(6, actor="cli:admin")
        [again] = await LinkStore(store).file_shares([share("https://a.example/newer", event_id="$newer")])
        assert again.link.id == 7


async def test_links_filed_before_the_published_view_get_theirs(database_url: str):
    """Migration 0015: each link's public URL and search text, and its title only where no
    private share can have given it; a page fetched from another URL is fetched again."""
    from alembic import command
    from sqlalchemy import text

    from watchbot.store.database import _alembic_config, create_engine

    engine = create_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0014")
        insert_link = text("INSERT INTO links (id, key, url, title, search_document, filed_at) "
                           "VALUES (:id, :key, :url, :title, '', :at)")
        insert_share = text("INSERT INTO shares (link_id, url, sharer_id, sharer_name, source, place, event_id, "
                            "visibility, shared_at, note) VALUES (:link, :url, :who, :who, 'matrix', :place, :event, "
                            ":visibility, :at, :note)")
        conn.execute(insert_link, [
            {"id": 1, "key": "https://mixed.example/a", "url": "https://mixed.example/a?utm_source=dm#secret",
             "title": "Secret given title", "at": T0},
            {"id": 2, "key": "https://public.example/b", "url": "https://public.example/b?fbclid=x&p=1",
             "title": "Imported title", "at": T0},
            {"id": 3, "key": "https://private.example/c", "url": "https://private.example/c", "title": None, "at": T0},
        ])
        conn.execute(insert_share, [
            {"link": 1, "url": "https://mixed.example/a?utm_source=dm#secret", "who": "@dm:x", "place": "!dm:x",
             "event": "$1", "visibility": "direct", "at": T0, "note": "whispered"},
            {"link": 1, "url": "https://mixed.example/a?utm_medium=room", "who": "@room:x", "place": "!room:x",
             "event": "$2", "visibility": "public", "at": T0 + timedelta(hours=1), "note": None},
            {"link": 2, "url": "https://public.example/b?fbclid=x&p=1", "who": "@room:x", "place": "!room:x",
             "event": "$3", "visibility": "public", "at": T0, "note": None},
            {"link": 3, "url": "https://private.example/c", "who": "@dm:x", "place": "!dm:x",
             "event": "$4", "visibility": "direct", "at": T0, "note": None},
        ])
        conn.execute(text("INSERT INTO link_pages (link_id, state, title, attempts, fetched_at) "
                          "VALUES (1, 'ok', 'Page of the private URL', 0, :at)"), {"at": T0})
    engine.dispose()
    async with await Store.open(database_url) as store:
        public = PublishedReader(store)
        mixed, imported = await public.link(1), await public.link(2)
        assert (mixed.url, mixed.title) == ("https://mixed.example/a", None)
        assert (imported.url, imported.title) == ("https://public.example/b?p=1", "Imported title")
        assert await public.link(3) is None
        assert [link.id for link in await public.search("imported")] == [2]
        assert await public.search("whispered") == [] and await public.search("secret") == []
        assert (await LinkStore(store).get_link(1)).page.state is PageState.PENDING  # to be fetched from the public URL
        assert (await LinkStore(store).get_link(1)).link.title == "Secret given title"  # the operator still sees it


async def test_people_forgotten_before_the_upgrade_leave_the_moderation_log_too(database_url: str):
    """Migration 0014: the log of a `forget me` said before it scrubbed the log names them no more."""
    from alembic import command
    from sqlalchemy import text

    from watchbot.store.database import _alembic_config, create_engine
    from watchbot.store.moderation import ModerationStore

    engine = create_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0013")
        conn.execute(text("INSERT INTO moderation_log (at, actor, action, target, reason) VALUES "
                          "(:at, '@gone:x', 'report', 'link #1', 'spam'), "
                          "(:at, '@mod:x', 'ban', '@gone:x.org', 'not @gone:x'), "
                          "(:at, '@gone:x', 'forget', '@gone:x', '1 share(s)')"), {"at": T0})
    engine.dispose()
    async with await Store.open(database_url) as store:
        entries = sorted(await ModerationStore(store).log_entries(), key=lambda entry: entry.id)
    [pseudonym] = {entry.actor for entry in entries if entry.action == "forget"}
    assert pseudonym.startswith("forgotten-")
    assert [(e.actor, e.action, e.target, e.reason) for e in entries] == [
        (pseudonym, "report", "link #1", "spam"),
        ("@mod:x", "ban", "@gone:x.org", f"not {pseudonym}"),
        (pseudonym, "forget", pseudonym, "1 share(s)"),
    ]


async def test_two_writers_filing_the_same_new_link_at_once_make_one_link_on_postgresql(postgres_server):
    """Another writer (a second bot process, the CLI) creates the link while this filing waits on
    its unique key: the filing fails on the key, is run again, and counts its share on that link."""
    import asyncio

    import psycopg

    from tests.postgres_server import create_database

    url = create_database(postgres_server, f"t_race_{uuid.uuid4().hex[:12]}")
    store = await Store.open(url)
    other = await asyncio.to_thread(psycopg.connect, url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        await asyncio.to_thread(other.execute, "INSERT INTO links (key, url, search_document, filed_at) "
                                "VALUES ('https://example.com/a', 'https://example.com/a', '', now())")
        filing = asyncio.create_task(LinkStore(store).file_shares([share()]))

        async def filing_waits_on_the_key() -> None:
            while not await asyncio.to_thread(lambda: other.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'").fetchone()):
                await asyncio.sleep(0.01)

        await asyncio.wait_for(filing_waits_on_the_key(), timeout=30)  # a failure, not a hung suite
        await asyncio.to_thread(other.commit)
        [filed] = await filing
    finally:
        await asyncio.to_thread(other.close)
        await store.close()
    assert not filed.new_link and filed.new_share
    assert filed.link.key == "https://example.com/a" and filed.link.share_count == 1


async def test_upgrading_shows_the_look_alike_hosts_already_published_in_punycode(database_url: str):
    """Migration 0018: a link published before with a look-alike host gets the ASCII host in its
    published URL, its search text and its page's fetched URL (its title stays published); a
    readable IDN is left as it was."""
    from alembic import command
    from sqlalchemy import text

    from watchbot.store.database import _alembic_config, create_engine

    engine = create_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0017")
        conn.execute(text("INSERT INTO links (id, key, url, search_document, published_url, published_document, "
                          "filed_at) VALUES (1, 'https://xn--80ak6aa92e.com', 'https://аррӏе.com/', '', "
                          "'https://аррӏе.com/', 'https://аррӏе.com/ Apple login', :at), (2, "
                          "'https://xn--bcher-kva.de', 'https://bücher.de/', '', 'https://bücher.de/', "
                          "'https://bücher.de/ Bücher', :at)"), {"at": T0})
        conn.execute(text("INSERT INTO shares (link_id, url, sharer_id, sharer_name, source, place, event_id, "
                          "visibility, shared_at) VALUES (1, 'https://аррӏе.com/', '@a:x', 'A', 'matrix', '!r:x', "
                          "'$1', 'public', :at), (2, 'https://bücher.de/', '@a:x', 'A', 'matrix', '!r:x', '$2', "
                          "'public', :at)"), {"at": T0})
        conn.execute(text("INSERT INTO link_pages (link_id, state, attempts, title, fetched_url) VALUES "
                          "(1, 'ok', 1, 'Apple login', 'https://аррӏе.com/')"))
    engine.dispose()

    async with await Store.open(database_url) as store:
        reader = PublishedReader(store)
        first, second = await reader.link(1), await reader.link(2)
        assert (first.url, first.title) == ("https://xn--80ak6aa92e.com/", "Apple login")
        assert second.url == "https://bücher.de/"
        assert [found.id for found in await reader.search("apple")] == [1]
        document = await store.read(lambda conn: conn.execute(
            text("SELECT published_document FROM links WHERE id = 1")).scalar_one())
        assert document == "https://xn--80ak6aa92e.com/ Apple login"


async def test_the_periods_read_on_the_drivers_cursor_gives_what_sqlalchemy_gives(store: Store):
    """`shared_between` runs its statement on the driver's cursor and makes `shared_at` itself
    (UTCDateTime.reader): the same links, shares and moments, time zone included, as the same
    statement through `Connection.execute`, for each audience."""
    private = {"visibility": Visibility.PRIVATE, "place": "!dm:example.org", "sharer_id": "@bob:example.org"}
    await LinkStore(store).file_shares([
        share("https://example.com/a", event_id="$1", shared_at=T0 + timedelta(microseconds=123456)),
        share("https://example.com/a", event_id="$2", shared_at=T0 + timedelta(days=1), sharer_id="@carol:x",
              tags=()),
        share("https://example.com/b", event_id="$3", shared_at=T0 - timedelta(days=30), tags=("go", "rust")),
        share("https://example.com/b", event_id="$4", shared_at=T0 + timedelta(hours=2), tags=("rust", "go")),
        share("https://example.com/c?utm_source=x", event_id="$5", shared_at=T0 + timedelta(hours=3), **private),
        share("https://example.com/d", event_id="$6", shared_at=T0 + timedelta(days=9)),
    ])
    start, end = T0 - timedelta(days=1), T0 + timedelta(days=7)
    for audience in (Audience(), Audience("!dm:example.org"), Audience("!dm:example.org", "@someone:x")):
        query = period_query(audience)

        def through_sqlalchemy(conn, query=query):
            return _period_links(conn.execute(query.statement, {"start": start, "end": end}), lambda moment: moment)

        expected = await store.read(through_sqlalchemy)
        got = await PublishedReader(store, audience).shared_between(start, end)
        assert got == expected and repr(got) == repr(expected), audience
        assert all(s.shared_at.tzinfo is timezone.utc for link in got for s in link.shares)
    assert [link.url for link in got] == ["https://example.com/a", "https://example.com/b"]
    assert got[0].shares[0].shared_at == T0 + timedelta(microseconds=123456)
    assert got[1].shares[0].tags == ("go", "rust") and got[0].shares[1].tags == ()


@pytest.mark.parametrize("text", [
    "2026-11-20 16:05:02.248876", "2026-11-20 16:05:02", "2026-11-20 16:05", "2026-11-20", "2026-11-20T16:05:02",
    "2026-11-20 16:05:02.248876+00:00", "2026-11-20 16:05:02+02:00", "2026-11-20T16:05:02Z", "2026-11-20 16",
    "0001-01-01 00:00:00.000000", "9999-12-31 23:59:59.999999",
])
def test_a_moment_read_from_sqlites_text_is_the_one_sqlalchemy_reads(text: str):
    dialect = sqlite.dialect()
    exact = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    fast = UTCDateTime.reader(dialect)
    assert fast(text) == exact(text) and repr(fast(text)) == repr(exact(text))
    assert fast(None) is None


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=30)),
                                               timezone(timedelta(hours=-8))])))
def test_every_moment_sqlalchemy_writes_on_sqlite_is_read_back_as_it_reads_it(moment: datetime):
    dialect = sqlite.dialect()
    text = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)(moment)
    exact = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)(text)
    read = UTCDateTime.reader(dialect)(text)
    assert read == exact == moment and repr(read) == repr(exact)


@pytest.mark.parametrize("text", ["2026-11-20 16:05:02.2488761", "20261120", "not a date", ""])
def test_text_sqlalchemy_cannot_read_as_a_moment_fails_alike(text: str):
    dialect = sqlite.dialect()
    exact = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    try:
        expected = exact(text)
    except ValueError:
        with pytest.raises(ValueError):
            UTCDateTime.reader(dialect)(text)
    else:
        assert UTCDateTime.reader(dialect)(text) == expected


async def test_a_prepared_statement_renders_the_in_lists_it_holds_and_refuses_what_it_would_get_wrong(store: Store):
    await LinkStore(store).file_shares([share(), share("https://example.com/b", event_id="$2",
                                                       visibility=Visibility.PRIVATE)])
    public = Prepared(select(shares.c.url).where(shares.c.visibility.in_(["public", "unlisted"]),
                                                 shares.c.shared_at >= bindparam("since", type_=UTCDateTime)))
    assert await store.read(lambda conn: public.all(conn, {"since": T0})) == [("https://example.com/a",)]
    assert await store.read(lambda conn: public.all(conn, {"since": T0 + timedelta(seconds=1)})) == []
    raw = Prepared(select(shares.c.shared_at), raw=("shared_at",))
    [(moment,)] = await store.read(lambda conn: raw.all(conn)[:1])
    assert UTCDateTime.reader(store.engine.dialect)(moment) == T0
    for refused in (Prepared(select(shares.c.shared_at)),  # a column to convert, not named raw
                    Prepared(select(shares.c.id), raw=("shared_at",)),  # raw names a column it has not
                    Prepared(select(shares.c.id).where(shares.c.id.in_(bindparam("ids", expanding=True))))):
        with pytest.raises(ValueError):
            await store.read(lambda conn, refused=refused: refused.all(conn, {"ids": [1]}))


async def test_the_periods_read_leaves_no_transaction_open(store: Store):
    """The read runs on the driver's cursor, outside a SQLAlchemy transaction: the connection
    goes back to the pool with none open (PostgreSQL: psycopg's own is rolled back on return)."""
    from sqlalchemy import event

    await LinkStore(store).file_shares([share()])
    open_at_checkin = []

    def checked_in(dbapi_connection, _record) -> None:
        if store.dialect == "postgresql":
            import psycopg

            open_at_checkin.append(dbapi_connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)
        else:
            open_at_checkin.append(dbapi_connection.in_transaction)

    event.listen(store.engine, "checkin", checked_in)
    try:
        [link] = await PublishedReader(store).shared_between(T0 - timedelta(days=1), T0 + timedelta(days=1))
    finally:
        event.remove(store.engine, "checkin", checked_in)
    assert link.url == "https://example.com/a"
    assert open_at_checkin == [False]
