"""The kept counts (migration 0017, decision 31), on real SQLite and real PostgreSQL: whatever path
changes the rows, the counts the database keeps are what counting the rows says, and /metrics
says them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import case, func, select, text
from sqlalchemy.engine import Connection

from tests.web_serving import NOW, serving, share
from watchbot.model import NewShare, Owed, Page, PageState, Period, Source, Treatment, Visibility
from watchbot.store import Store
from watchbot.store.counts import Counts, NetworkBeat, read_counts
from watchbot.store.digests import DigestRuns
from watchbot.store.failures import FORGOTTEN, FailureStore
from watchbot.store.heartbeats import HeartbeatStore
from watchbot.store.links import LinkStore
from watchbot.store.moderation import ModerationStore
from watchbot.store.outbox import OutboxStore
from watchbot.store.pages import LinkPages, OtherKey
from watchbot.store.rooms import RoomStore
from watchbot.store.schema import digest_runs, failed_events, feeds, heartbeats, link_pages, links, outbox, shares
from watchbot.web.ops import exposition

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)
METRICS_TOKEN = "metrics-token-for-tests"


def recount(conn: Connection) -> Counts:
    """The counts by counting every row (what store/counts.py read before the counts were kept)."""
    def grouped(*columns, where=None) -> dict:
        query = select(*columns, func.count()).group_by(*columns)
        if where is not None:
            query = query.where(where)
        return {tuple(row[:-1]) if len(columns) > 1 else row[0]: row[-1] for row in conn.execute(query)}

    state = case((outbox.c.sent_at.is_not(None), "sent"), (outbox.c.failed_at.is_not(None), "failed"),
                 else_="waiting").label("state")
    feed_state = case((feeds.c.disabled_at.is_not(None), "disabled"), (feeds.c.errors > 0, "failing"),
                      else_="active").label("state")
    return Counts(
        links=conn.execute(select(func.count()).select_from(links)).scalar_one(),
        shares=grouped(shares.c.source, shares.c.visibility),
        outbox=grouped(outbox.c.network, state),
        beats=[NetworkBeat(row.network, row.beat_at, row.problem is not None)
               for row in conn.execute(select(heartbeats).order_by(heartbeats.c.network))],
        pages=grouped(link_pages.c.state),
        feeds=grouped(feed_state),
        feed_last_poll=conn.execute(select(func.max(feeds.c.polled_at))).scalar_one(),
        digest_runs=grouped(digest_runs.c.status),
        failed_events=grouped(failed_events.c.source, where=failed_events.c.resolved_at.is_(None)),
    )


async def kept_and_counted(store: Store) -> tuple[Counts, Counts]:
    return await read_counts(store), await store.read(recount)


async def assert_kept(store: Store, after: str) -> Counts:
    kept, counted = await kept_and_counted(store)
    assert kept == counted, after
    return counted


async def test_every_path_that_changes_the_rows_keeps_the_counts_and_metrics_says_them(store: Store):
    link_store, pages, outbox_store = LinkStore(store), LinkPages(store), OutboxStore(store)
    alice, bob, carol = ("@alice:x", "Alice"), ("@bob:x", "Bob"), ("@carol:x", "Carol")
    await RoomStore(store).record("!pub:x", "Pub", Treatment(Visibility.PUBLIC, "public room"), at=NOW)

    # Filing through intake: one message with two links, a direct message, a Mastodon status, a feed
    # entry; a second share of a link, by someone else; the CLI's filing (no event id).
    a, b = await share(store, "https://a.example/1 https://b.example/2 #rust", hours_ago=9, who=alice)
    [direct] = await share(store, "https://dm.example/", hours_ago=8, who=carol, place="!dm:x",
                           visibility=Visibility.DIRECT)
    await share(store, "https://toot.example/", hours_ago=8, who=("carol@social.example", "Carol"),
                source=Source.MASTODON, place="https://social.example", visibility=Visibility.UNLISTED)
    await share(store, "https://feed.example/entry", hours_ago=7, source=Source.FEED, place="https://feed.example/atom",
                who=("https://feed.example/atom", "Feed"), links=("https://feed.example/entry",))
    [again] = await share(store, "https://a.example/1", hours_ago=6, who=carol)
    assert again == a
    [c] = await share(store, "https://c.example/3", hours_ago=5, who=bob)
    await link_store.file_shares([NewShare(
        url="https://cli.example/", key="https://cli.example", sharer_id="cli:admin", sharer_name="admin",
        source=Source.CLI, place="cli", event_id=None, visibility=Visibility.PUBLIC, shared_at=NOW)])
    await assert_kept(store, "filing")

    # Pages fetched: one dead, one found to be another link's page (merged: the newer link goes,
    # its page and its share that repeats the older link's message going with it, by cascade).
    await pages.failed(c, PageState.DEAD, "404", None)
    await pages.failed(direct, PageState.FAILED, "timed out", NOW + timedelta(hours=1))
    merge = await pages.found(b, Page(state=PageState.OK, title="A", fetched_url="https://b.example/2"),
                              [OtherKey("https://a.example/1", "same canonical URL", same_site=True)])
    assert (merge.kept_id, merge.merged_id) == (a, b)
    await assert_kept(store, "pages and a merge")
    await pages.unmerge(b, actor="cli:admin")
    await assert_kept(store, "unmerge")

    # The outbox: answers owed, sent, given up, put back, dropped, and one posted directly.
    await outbox_store.add([Owed("matrix", "!pub:x", "reply", {"body": "1"}, "k1"),
                            Owed("matrix", "!pub:x", "reply", {"body": "2"}, "k2"),
                            Owed("matrix", "!pub:x", "reply", {"body": "3"}, "k3"),
                            Owed("mastodon", "s1", "favourite", {}, "k4")], NOW)
    await outbox_store.add([Owed("matrix", "!pub:x", "reply", {"body": "1"}, "k1")], NOW)  # owed already
    one, two, three = await outbox_store.due("matrix", NOW + timedelta(hours=1))
    await outbox_store.sent(one.id, NOW, "$sent")
    await outbox_store.give_up(two.id, "gone", NOW)
    await outbox_store.give_up(three.id, "gone", NOW)
    await outbox_store.retry([three.id], NOW)
    [fav] = await outbox_store.due("mastodon", NOW + timedelta(hours=1))
    await outbox_store.drop(fav.id)
    await outbox_store.record_sent(Owed("mastodon", "s2", "reply", {}, "k5"), "110", NOW)
    await assert_kept(store, "the outbox")

    # Failed events: kept, failing again, resolved, failing once more (open again).
    failures = FailureStore(store)
    first = await failures.record("matrix", "!pub:x", "$bad", "ValueError: no", "{}")
    await failures.record("matrix", "!pub:x", "$bad", "ValueError: no", "{}")
    await failures.record("feed", "https://feed.example/atom", "entry-1", "KeyError: id", None)
    await failures.resolve(first, FORGOTTEN)
    await assert_kept(store, "failed events resolved")
    await failures.record("matrix", "!pub:x", "$bad", "ValueError: again", "{}")
    await assert_kept(store, "a failed event open again")

    # Digest runs: one posted, then marked to be edited by a room's past shares made private.
    runs = DigestRuns(store)
    claim = await runs.claim("matrix:!pub:x", Period(NOW - timedelta(days=1), NOW + timedelta(days=1)), "host:1")
    await runs.finish(claim.run_id)
    await runs.claim("matrix:!other:x", Period(NOW - timedelta(days=8), NOW - timedelta(days=1)), "host:1")
    reclassified = await RoomStore(store).set_override("!pub:x", Visibility.PRIVATE, by="cli:admin", at=NOW,
                                                       past=True)
    assert reclassified.shares == 4  # a, b (back from the merge), c and carol's share of a
    counted = await assert_kept(store, "a room's past shares made private")
    assert counted.digest_runs == {"amend": 1, "posting": 1}
    assert counted.shares[("matrix", "private")] == 4

    # Removal: an edit dropping a link, a redaction, some shares of a link, a link by a moderator.
    await link_store.replace_event_shares(Source.MATRIX, (await link_store.get_link(c)).shares[0].event_id, [])
    await link_store.remove_event_shares(Source.MATRIX, (await link_store.get_link(direct)).shares[0].event_id)
    record = await link_store.get_link(a)
    await link_store.remove_shares(a, [record.shares[-1].id], actor="@mod:x", reason="spam")
    await assert_kept(store, "an edit, a redaction, shares removed")
    await link_store.remove_link(b, actor="@mod:x", reason="spam")
    await assert_kept(store, "a link removed by a moderator")

    # Forget: everything Alice shared goes, and the links nobody else shared.
    forgotten = await ModerationStore(store).forget(alice[0])
    assert (forgotten.shares, forgotten.links) == (2, 1)  # one more in the merge record
    await assert_kept(store, "forget")

    # A link deleted by hand (an operator's SQL): its shares and page go by cascade, and are counted.
    await share(store, "https://hand.example/", hours_ago=1, who=bob)
    await store.write(lambda conn: conn.execute(text("DELETE FROM links WHERE key = 'https://hand.example'")))
    counted = await assert_kept(store, "a cascade from links")
    assert counted.links == 3  # the CLI's, the feed's and the Mastodon status's

    # /metrics says what counting the rows says, to the byte.
    await HeartbeatStore(store).beat("matrix", NOW - timedelta(seconds=40))
    async with serving(store, metrics_token=METRICS_TOKEN) as client:
        answer = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert answer.status == 200
        assert await answer.text() == exposition(await store.read(recount))


async def test_a_cascade_from_a_removed_link_fires_the_counting_triggers(store: Store):
    """SQLite and PostgreSQL both run the triggers of the rows that ON DELETE CASCADE removes."""
    [one] = await share(store, "https://one.example/", hours_ago=1)
    await share(store, "https://one.example/", hours_ago=1, who=("@bob:x", "Bob"), visibility=Visibility.PRIVATE)
    await share(store, "https://two.example/", hours_ago=1)
    await store.write(lambda conn: conn.execute(links.delete().where(links.c.id == one)))
    kept, counted = await kept_and_counted(store)
    assert kept == counted
    assert (kept.links, kept.shares, kept.pages) == (1, {("matrix", "public"): 1}, {"pending": 1})


async def test_upgrading_to_kept_counts_counts_the_rows_already_there(database_url: str):
    """Migration 0017 counts what a store at 0016 holds, and its triggers count from then on; taken
    back to 0016 and up again, the counts are made afresh."""
    from alembic import command

    from watchbot.store.database import _alembic_config, create_engine

    engine = create_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0016")
        conn.execute(text("INSERT INTO links (id, key, url, search_document, filed_at) VALUES "
                          "(1, 'a', 'https://a', '', :at), (2, 'b', 'https://b', '', :at), "
                          "(3, 'c', 'https://c', '', :at)"), {"at": T0})
        conn.execute(text("INSERT INTO shares (link_id, url, sharer_id, sharer_name, source, place, event_id, "
                          "visibility, shared_at) VALUES (:link, 'https://x', :who, :who, :source, 'p', :event, "
                          ":visibility, :at)"), [
            {"link": 1, "who": "@a:x", "source": "matrix", "event": "$1", "visibility": "public", "at": T0},
            {"link": 1, "who": "@b:x", "source": "matrix", "event": "$2", "visibility": "private", "at": T0},
            {"link": 2, "who": "b@x", "source": "mastodon", "event": "2", "visibility": "unlisted", "at": T0},
            {"link": 3, "who": "feed", "source": "feed", "event": "e", "visibility": "public", "at": T0},
        ])
        conn.execute(text("INSERT INTO link_pages (link_id, state, attempts) VALUES "
                          "(1, 'ok', 1), (2, 'dead', 3), (3, 'pending', 0)"))
        conn.execute(text("INSERT INTO outbox (network, place, kind, payload, key, created_at, next_attempt_at, "
                          "sent_at, failed_at) VALUES "
                          "('matrix', 'p', 'reply', '{}', 'k1', :at, :at, :at, NULL), "
                          "('matrix', 'p', 'reply', '{}', 'k2', :at, :at, NULL, :at), "
                          "('matrix', 'p', 'reply', '{}', 'k3', :at, :at, NULL, NULL), "
                          "('mastodon', 'p', 'reply', '{}', 'k4', :at, :at, :at, NULL)"), {"at": T0})
        conn.execute(text("INSERT INTO failed_events (source, place, event_id, reason, failed_at, resolved_at) "
                          "VALUES ('matrix', 'p', '$9', 'r', :at, NULL), ('feed', 'p', 'e9', 'r', :at, :at)"),
                     {"at": T0})
        conn.execute(text("INSERT INTO digest_runs (outlet, period_start, period_end, status, created_at) VALUES "
                          "('m', :at, :at, 'posted', :at), ('n', :at, :at, 'empty', :at)"), {"at": T0})
    engine.dispose()

    async with await Store.open(database_url) as store:
        kept, counted = await kept_and_counted(store)
        assert kept == counted
        assert (kept.links, kept.shares[("matrix", "private")], kept.outbox[("matrix", "failed")]) == (3, 1, 1)
        assert kept.failed_events == {"matrix": 1} and kept.digest_runs == {"posted": 1, "empty": 1}
        await store.write(lambda conn: conn.execute(links.delete().where(links.c.id == 1)))  # rows from before
        kept, counted = await kept_and_counted(store)
        assert kept == counted and kept.links == 2

    engine = create_engine(database_url)
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0016")
        conn.execute(text("DELETE FROM links WHERE id = 2"))  # nothing counts it now
    engine.dispose()
    async with await Store.open(database_url) as store:
        kept, counted = await kept_and_counted(store)
        assert kept == counted and kept.links == 1
