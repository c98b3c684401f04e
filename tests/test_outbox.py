"""The outbox: owed answers kept in the store, sent once, in order per place, retried with backoff,
and kept as failed when they cannot be sent (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from watchbot.outbox import MAX_ATTEMPTS, CannotSend, Sender, TryLater, backoff
from watchbot.store import Store
from watchbot.store.outbox import Owed, OutboxStore, add_in

T0 = datetime(2026, 3, 9, 12, 0, tzinfo=timezone.utc)


def owed(place: str, text: str, key: str | None = None) -> Owed:
    return Owed("matrix", place, "reply", {"body": text}, key or f"k-{place}-{text}")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Server:
    """The far side, as the sender sees it: what it received, and what it says for each body."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.answers: dict[str, list[Exception]] = {}

    async def deliver(self, item) -> str:
        failures = self.answers.get(item.payload["body"])
        if failures:
            raise failures.pop(0)
        self.received.append((item.place, item.payload["body"]))
        return f"${len(self.received)}"


async def test_an_answer_owed_twice_is_one_row_and_is_sent_once(store: Store):
    outbox = OutboxStore(store)
    await outbox.add([owed("!a", "Filed #1")], T0)
    await outbox.add([owed("!a", "Filed #1")], T0)  # the same event, replayed after a crash
    server, clock = Server(), Clock()
    sender = Sender(store, "matrix", server.deliver, clock=clock)
    assert await sender.send_due() == 1
    assert await sender.send_due() == 0
    assert server.received == [("!a", "Filed #1")]
    assert (await outbox.backlog("matrix")).waiting == 0


async def test_owed_answers_are_written_in_the_callers_transaction(store: Store):
    """Rolled back with what they answer: an answer is owed exactly when its filing is kept."""
    def file_then_fail(conn):
        add_in(conn, [owed("!a", "Filed #1")], T0)
        raise RuntimeError("the filing failed")

    with pytest.raises(RuntimeError):
        await store.write(file_then_fail)
    assert (await OutboxStore(store).backlog()).waiting == 0


async def test_a_place_waiting_to_retry_holds_its_later_answers_but_not_other_places(store: Store):
    outbox, server, clock = OutboxStore(store), Server(), Clock()
    await outbox.add([owed("!a", "first"), owed("!a", "second"), owed("!b", "other")], T0)
    server.answers["first"] = [TryLater("502 Bad Gateway")]
    sender = Sender(store, "matrix", server.deliver, clock=clock)
    await sender.send_due()
    assert server.received == [("!b", "other")]  # !a's second waits for its first
    clock.now = T0 + backoff(1)
    await sender.send_due()
    assert server.received == [("!b", "other"), ("!a", "first"), ("!a", "second")]


async def test_the_server_asked_wait_is_kept(store: Store):
    outbox, server, clock = OutboxStore(store), Server(), Clock()
    await outbox.add([owed("!a", "hello")], T0)
    server.answers["hello"] = [TryLater("429", retry_after=30)]
    sender = Sender(store, "matrix", server.deliver, clock=clock)
    await sender.send_due()
    assert await outbox.next_due_at("matrix") == T0 + timedelta(seconds=30)
    clock.now = T0 + timedelta(seconds=29)
    assert await sender.send_due() == 0
    clock.now = T0 + timedelta(seconds=30)
    assert await sender.send_due() == 1


async def test_what_cannot_be_sent_is_kept_as_failed_and_the_rest_goes_on(store: Store):
    outbox, server, clock = OutboxStore(store), Server(), Clock()
    await outbox.add([owed("!gone", "to a room I left"), owed("!gone", "after it"), owed("!a", "fine")], T0)
    server.answers["to a room I left"] = [CannotSend("M_FORBIDDEN: not in the room")]
    await Sender(store, "matrix", server.deliver, clock=clock).send_due()
    assert server.received == [("!gone", "after it"), ("!a", "fine")]
    [failed] = await outbox.failed("matrix")
    assert (failed.payload, failed.last_error) == ({"body": "to a room I left"}, "M_FORBIDDEN: not in the room")
    backlog = await outbox.backlog("matrix")
    assert (backlog.waiting, backlog.failed) == (0, 1)


async def test_an_answer_failing_for_hours_is_given_up_not_retried_forever(store: Store):
    outbox, server, clock = OutboxStore(store), Server(), Clock()
    await outbox.add([owed("!a", "never")], T0)
    server.answers["never"] = [TryLater("503")] * (MAX_ATTEMPTS + 5)
    sender = Sender(store, "matrix", server.deliver, clock=clock)
    for _ in range(MAX_ATTEMPTS + 2):
        await sender.send_due()
        clock.now += timedelta(hours=2)
    [failed] = await outbox.failed()
    assert failed.attempts == MAX_ATTEMPTS and "tried 12 times" in failed.last_error
    assert len(server.answers["never"]) == 5  # no attempt after giving up


async def test_a_bug_in_sending_one_answer_does_not_stop_the_others(store: Store):
    outbox, server, clock = OutboxStore(store), Server(), Clock()
    await outbox.add([owed("!a", "buggy"), owed("!b", "fine")], T0)
    server.answers["buggy"] = [KeyError("content")]
    await Sender(store, "matrix", server.deliver, clock=clock).send_due()
    assert server.received == [("!b", "fine")]
    assert (await outbox.failed())[0].last_error == "KeyError: 'content'"


def test_backoff_doubles_up_to_an_hour():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 12, 40)] == [2, 4, 8, 3600, 3600]


class SlowServer(Server):
    """Holds each send until told to go on, counting how many are in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = self.most_in_flight = 0

    async def deliver(self, item) -> str:
        import asyncio

        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0)  # others may start meanwhile
        await asyncio.sleep(0)
        self.in_flight -= 1
        return await super().deliver(item)


def reaction(place: str, text: str) -> Owed:
    return Owed("matrix", place, "m.reaction", {"body": text}, f"r-{place}-{text}")


async def test_reactions_go_a_few_at_a_time_and_a_message_after_them_waits_for_them(store: Store):
    outbox, server = OutboxStore(store), SlowServer()
    await outbox.add([reaction("!a", f"r{i}") for i in range(10)] + [owed("!a", "reply"), reaction("!a", "r10")], T0)
    sender = Sender(store, "matrix", server.deliver, clock=Clock(), unordered=frozenset({"m.reaction"}), window=4)
    assert await sender.send_due() == 12
    assert server.most_in_flight == 4  # never more than the window
    bodies = [body for _, body in server.received]
    assert sorted(bodies[:10]) == sorted(f"r{i}" for i in range(10))  # in any order among themselves
    assert bodies[10:] == ["reply", "r10"]  # the reply after what was owed before it, once each
    assert await sender.send_due() == 0


async def test_a_reaction_that_must_wait_holds_its_places_later_answers(store: Store):
    outbox, server, clock = OutboxStore(store), SlowServer(), Clock()
    await outbox.add([reaction("!a", "r0"), reaction("!a", "r1"), owed("!a", "reply"), reaction("!b", "r2")], T0)
    server.answers["r0"] = [TryLater("502 Bad Gateway")]
    sender = Sender(store, "matrix", server.deliver, clock=clock, unordered=frozenset({"m.reaction"}), window=8)
    await sender.send_due()
    assert sorted(server.received) == [("!a", "r1"), ("!b", "r2")]  # the reply waits for r0
    clock.now = T0 + backoff(1)
    await sender.send_due()
    assert server.received[2:] == [("!a", "r0"), ("!a", "reply")]


# -- what is kept once sent ---------------------------------------------------------------------


async def keys_kept(store: Store) -> list[str]:
    from watchbot.store.schema import outbox

    return await store.read(lambda conn: [row.key for row in conn.execute(outbox.select().order_by(outbox.c.id))])


async def test_sent_answers_are_pruned_a_week_after_the_last_send_and_nothing_unsent_is(store: Store):
    """Kept for exactly-once only (a replayed batch, a retried event): SENT_KEPT counted back from
    the network's last send, so a bot stopped for a month still has the answers of its last days;
    what is waiting or failed is never pruned; pieces of a digest part stay while a run is posted."""
    from watchbot.outbox import PRUNE_EVERY
    from watchbot.store.digests import DigestRuns
    from watchbot.store.outbox import DIGEST_PIECE, SENT_KEPT
    from watchbot.model import Period

    outbox, server, clock = OutboxStore(store), Server(), Clock()
    sender = Sender(store, "matrix", server.deliver, clock=clock)
    await outbox.add([owed("!a", "old"), owed("!gone", "failed"), owed("!b", "waiting")], T0)
    server.answers["failed"] = [CannotSend("M_FORBIDDEN")]
    server.answers["waiting"] = [TryLater("502")] * 10
    await sender.send_due()
    piece = Owed("mastodon", "", DIGEST_PIECE, {"text": "part 1, piece 1"}, "run-1-0-0")
    await outbox.record_sent(piece, "109", T0)
    run = await DigestRuns(store).claim("mastodon:x", Period(T0 - timedelta(days=7), T0), "test")
    clock.now = T0 + SENT_KEPT + timedelta(days=1)
    await outbox.add([owed("!a", "new")], clock.now)
    await sender.send_due()
    assert await sender.prune() == 1  # "old": sent 8 days before the last send
    assert await keys_kept(store) == ["k-!gone-failed", "k-!b-waiting", "run-1-0-0", "k-!a-new"]
    assert await outbox.prune_sent("mastodon", clock.now) == 0  # a digest run is being posted
    await DigestRuns(store).finish(run.run_id)
    await outbox.record_sent(Owed("mastodon", "1", "reply", {"text": "Filed"}, "reply-1"), "110", clock.now)
    assert await outbox.prune_sent("mastodon", clock.now) == 1
    # A month later, nothing sent since: the last days' answers stay (a replayed batch finds them).
    clock.now += timedelta(days=30)
    assert await sender.prune() == 0 and "k-!a-new" in await keys_kept(store)
    clock.now += PRUNE_EVERY
    await outbox.add([owed("!a", "after the month")], clock.now)
    await sender.send_due()
    assert await sender.prune() == 1
    assert await keys_kept(store) == ["k-!gone-failed", "k-!b-waiting", "reply-1", "k-!a-after the month"]


async def test_an_answer_not_to_be_kept_is_sent_whole_and_kept_without_what_it_said(store: Store):
    from dataclasses import replace

    from watchbot.store.schema import outbox as table

    server = Server()
    await OutboxStore(store).add([replace(owed("!a", "Done: forgotten, @gone:x"), kept=False)], T0)
    await Sender(store, "matrix", server.deliver, clock=Clock()).send_due()
    assert server.received == [("!a", "Done: forgotten, @gone:x")]
    [(payload, sent_at)] = await store.read(lambda conn: conn.execute(
        table.select().with_only_columns(table.c.payload, table.c.sent_at)).all())
    assert payload == "{}" and sent_at is not None
