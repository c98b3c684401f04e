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
