"""For whoever runs the watch: `/healthz` (is it well?) and `/metrics` (Prometheus' text format).

Both read the store only (heartbeats, outbox, pages, feeds, digest runs), so they say the same
whether the web runs inside `watchbot run` or apart from it, and they give counts and times only:
never a URL, a title or a name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from aiohttp import web

from watchbot.health import Health, assess
from watchbot.model import Source, Visibility
from watchbot.published import as_utc
from watchbot.store.counts import Counts, read_backlogs, read_counts
from watchbot.store.heartbeats import HeartbeatStore
from watchbot.web.site import SITE

log = logging.getLogger(__name__)

# Exposition format 0.0.4: what every Prometheus version scrapes.
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)


# -- /healthz ------------------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    """200 and "ok" when the store answers and every configured network is well; 503 and one
    line per problem otherwise. JSON when asked (`Accept: application/json` or `?format=json`)."""
    site = request.app[SITE]
    networks = list(site.options.networks)
    try:
        beats = await HeartbeatStore(site.ops).all()
        backlogs = await read_backlogs(site.ops)
    except Exception as error:  # noqa: BLE001 - a store that cannot be read is the answer, not a crash
        log.error("/healthz: the store cannot be read: %s", str(error).splitlines()[0] if str(error) else
                  type(error).__name__)
        health = Health(False, [], ["store: cannot be read (the log says why)"])
    else:
        health = assess(beats, networks, site.clock(), failed_events=backlogs.failed_events,
                        outbox_failed=backlogs.answers_failed, outbox_waiting=backlogs.answers_waiting)
    return _health_answer(request, health)


def _health_answer(request: web.Request, health: Health) -> web.Response:
    status = 200 if health.healthy else 503
    if request.query.get("format") == "json" or _prefers_json(request.headers.get("Accept", "")):
        return web.json_response({"ok": health.healthy, "problems": health.problems, "lines": health.lines},
                                 status=status)
    said = ["ok", *health.lines] if health.healthy else health.problems
    return web.Response(status=status, text="\n".join(said) + "\n")


def _prefers_json(accept: str) -> bool:
    return "application/json" in accept and "text/plain" not in accept


# -- /metrics ------------------------------------------------------------------------------------


async def metrics(request: web.Request) -> web.Response:
    counts = await read_counts(request.app[SITE].ops)
    return web.Response(body=exposition(counts).encode("utf-8"), headers={"Content-Type": METRICS_TYPE})


def exposition(counts: Counts) -> str:
    """The counts in Prometheus' text format 0.0.4 (pure)."""
    out: list[str] = []

    def family(name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            out.append(f"{name}{_labels(labels)} {_number(value)}")

    family("watchbot_links", "gauge", "Links in the store.", [({}, counts.links)])
    sources = {source.value for source in Source} | {source for source, _ in counts.shares}
    # Published or not, never finer: a count of direct shares that moves would tell whoever polls
    # it when someone shared in a direct chat.
    published: dict[tuple[str, str], int] = {}
    for (source, visibility), n in counts.shares.items():
        key = (source, "true" if Visibility(visibility).publishable else "false")
        published[key] = published.get(key, 0) + n
    family("watchbot_shares", "gauge", "Shares in the store, by source and whether they are published.",
           [({"source": source, "published": flag}, n) for (source, flag), n in sorted(published.items())])
    family("watchbot_shares_by_source", "gauge", "Shares in the store, by source (every visibility).",
           [({"source": source}, sum(n for (s, _), n in counts.shares.items() if s == source))
            for source in sorted(sources)])
    networks = sorted({network for network, _ in counts.outbox} | {beat.network for beat in counts.beats})
    family("watchbot_answers_waiting", "gauge", "Answers owed and not sent yet (the outbox), by network.",
           [({"network": n}, counts.outbox.get((n, "waiting"), 0)) for n in networks])
    family("watchbot_answers_failed", "gauge", "Answers that could never be sent (kept, not retried), by network.",
           [({"network": n}, counts.outbox.get((n, "failed"), 0)) for n in networks])
    family("watchbot_last_sync_timestamp_seconds", "gauge",
           "When each network last synced or polled well (or stopped), in Unix time.",
           [({"network": beat.network}, _unix(beat.beat_at)) for beat in counts.beats])
    family("watchbot_network_stopped", "gauge", "1 when the network stopped (a refused token, say), else 0.",
           [({"network": beat.network}, int(beat.stopped)) for beat in counts.beats])
    family("watchbot_pages", "gauge", "Links by the outcome of fetching their page (ok, pending, failed, dead, refused).",
           [({"state": state}, n) for state, n in sorted(counts.pages.items())])
    family("watchbot_feeds", "gauge", "Feeds followed, by state (active, failing: its last poll failed, disabled).",
           [({"state": state}, counts.feeds.get(state, 0)) for state in ("active", "failing", "disabled")])
    family("watchbot_feed_last_poll_timestamp_seconds", "gauge", "The latest poll of any feed, in Unix time.",
           [({}, _unix(counts.feed_last_poll))] if counts.feed_last_poll is not None else [])
    family("watchbot_digest_runs", "gauge", "Digest runs (one per outlet and period), by status.",
           [({"status": status}, n) for status, n in sorted(counts.digest_runs.items())])
    family("watchbot_failed_events", "gauge", "Events the bot could not handle, waiting for an operator, by source.",
           [({"source": source}, n) for source, n in sorted(counts.failed_events.items())])
    return "\n".join(out) + "\n"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    # The exposition format escapes backslash, double quote and line feed in label values.
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for value in labels.values())
    return "{" + ",".join(f'{name}="{value}"' for name, value in zip(labels, escaped, strict=True)) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _unix(moment: datetime) -> float:
    return as_utc(moment).timestamp()
