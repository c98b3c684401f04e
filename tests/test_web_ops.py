"""/healthz and /metrics (watchbot/web/ops.py) served on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import text

from watchbot.model import Owed, PageState, Period, Source, Visibility
from watchbot.store import Store
from watchbot.store.digests import DigestRuns
from watchbot.store.feeds import FeedStore
from watchbot.store.heartbeats import HeartbeatStore
from watchbot.store.outbox import OutboxStore
from watchbot.store.pages import LinkPages
from tests.web_serving import NOW, serving, share

METRICS_TOKEN = "metrics-token-for-tests"

BOTH = {"networks": ("matrix", "mastodon")}  # both configured


async def test_healthz_says_ok_while_every_network_syncs(store: Store):
    await HeartbeatStore(store).beat("matrix", NOW - timedelta(seconds=40))
    await HeartbeatStore(store).beat("mastodon", NOW - timedelta(seconds=10))
    async with serving(store, **BOTH) as client:
        answer = await client.get("/healthz")
        assert answer.status == 200
        assert (await answer.text()).splitlines() == ["ok", "matrix: ok, last good sync or poll 40 s ago",
                                                      "mastodon: ok, last good sync or poll 10 s ago"]


async def test_healthz_is_503_with_one_line_per_problem_when_a_network_stopped(store: Store):
    await HeartbeatStore(store).beat("matrix", NOW - timedelta(seconds=40))
    await HeartbeatStore(store).beat("mastodon", NOW - timedelta(minutes=12),
                                     "https://social.example refused the access token; log in again")
    async with serving(store, **BOTH) as client:
        answer = await client.get("/healthz")
        assert answer.status == 503
        assert (await answer.text()).splitlines() == [
            "mastodon: stopped 12 min ago: https://social.example refused the access token; log in again"]
        as_json = await client.get("/healthz", headers={"Accept": "application/json"})
        assert as_json.status == 503 and (await as_json.json())["ok"] is False
        assert len((await as_json.json())["problems"]) == 1


async def test_healthz_is_503_when_a_network_never_started_or_the_store_cannot_be_read(store: Store):
    async with serving(store, **BOTH) as client:
        answer = await client.get("/healthz")
        assert answer.status == 503 and "matrix: no sign of life yet" in await answer.text()
        await store.write(lambda conn: conn.execute(text("DROP TABLE heartbeats")))
        broken = await client.get("/healthz")
        assert broken.status == 503 and await broken.text() == "store: cannot be read (the log says why)\n"


def parse_exposition(body: str) -> dict[str, dict]:
    """Prometheus' text format 0.0.4, as much of it as /metrics writes: {name: {"type", "help",
    "samples": {labels as a sorted tuple: value}}}; every sample line must belong to a family."""
    families: dict[str, dict] = {}
    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
    label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in body.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            families.setdefault(name, {"samples": {}})["help"] = help_text
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            families.setdefault(name, {"samples": {}})["type"] = kind
        else:
            name, labels, value = sample.match(line).groups()
            assert name in families, line
            key = tuple(sorted(label.findall(labels or "")))
            families[name]["samples"][key] = float(value)
    return families


async def test_metrics_count_what_the_store_holds_and_name_nothing(store: Store):
    [a] = await share(store, "https://example.org/a #rust", hours_ago=3, who=("@canary:x", "Canaryname"))
    await share(store, "https://example.org/b", hours_ago=2, place="!dm:x", visibility=Visibility.DIRECT)
    await share(store, "https://example.org/c", hours_ago=2, source=Source.FEED, place="https://feed.example/atom",
                who=("https://feed.example/atom", "Feed"), links=("https://example.org/c",))
    await HeartbeatStore(store).beat("matrix", NOW - timedelta(seconds=40))
    await HeartbeatStore(store).beat("mastodon", NOW - timedelta(minutes=12), "canaryproblem: refused")
    outbox = OutboxStore(store)
    await outbox.add([Owed("matrix", "!pub:x", "reply", {"body": "Filed #1"}, "k1"),
                      Owed("matrix", "!pub:x", "reply", {"body": "Filed #2"}, "k2")], NOW)
    [owed, _] = await outbox.due("matrix", NOW + timedelta(hours=1))
    await outbox.give_up(owed.id, "the event was deleted", NOW)
    await LinkPages(store).failed(a, PageState.DEAD, "404", None)
    feeds = FeedStore(store)
    feed = await feeds.add("https://feed.example/atom", tags=[], alert=False, every=timedelta(minutes=30),
                           backfill=0, added_by="admin", now=NOW)
    await feeds.failed(feed.id, reason="timed out", errors=1, next_poll_at=NOW)
    await DigestRuns(store).claim("matrix:!pub:x", Period(NOW - timedelta(days=7), NOW), "host:1")
    async with serving(store, metrics_token=METRICS_TOKEN) as client:
        answer = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        body = await answer.text()
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    metrics = parse_exposition(body)
    assert all(family.get("type") == "gauge" and family.get("help") for family in metrics.values())
    assert metrics["watchbot_links"]["samples"] == {(): 3}
    assert metrics["watchbot_shares"]["samples"] == {  # never by visibility: a direct share is "not published"
        (("published", "true"), ("source", "feed")): 1, (("published", "false"), ("source", "matrix")): 1,
        (("published", "true"), ("source", "matrix")): 1}
    by_source = metrics["watchbot_shares_by_source"]["samples"]
    assert by_source[(("source", "matrix"),)] == 2 and by_source[(("source", "mastodon"),)] == 0
    assert metrics["watchbot_answers_waiting"]["samples"][(("network", "matrix"),)] == 1
    assert metrics["watchbot_answers_failed"]["samples"][(("network", "matrix"),)] == 1
    assert metrics["watchbot_last_sync_timestamp_seconds"]["samples"] == {
        (("network", "matrix"),): (NOW - timedelta(seconds=40)).timestamp(),
        (("network", "mastodon"),): (NOW - timedelta(minutes=12)).timestamp()}
    assert metrics["watchbot_network_stopped"]["samples"] == {(("network", "matrix"),): 0,
                                                              (("network", "mastodon"),): 1}
    assert metrics["watchbot_pages"]["samples"][(("state", "dead"),)] == 1
    assert metrics["watchbot_feeds"]["samples"] == {(("state", "active"),): 0, (("state", "failing"),): 1,
                                                    (("state", "disabled"),): 0}
    assert metrics["watchbot_digest_runs"]["samples"] == {(("status", "posting"),): 1}
    for secret in ("example.org", "Canaryname", "canary", "!pub:x", "feed.example", "canaryproblem", "Filed #"):
        assert secret not in body
