"""One event never stops the bot: an unexpected error in handling one event is logged in one line,
kept in the store against that event (with the event, to retry it), and the bot moves on.

Each worker (the Matrix and Mastodon adapters, the feed poller, the page fetcher) wraps the
handling of each of its events in `try: … except Exception as error: await isolation.failed(…)`;
`CancelledError` and other BaseExceptions go through, so stopping still stops. A retry an
operator asked for (`watchbot failed retry`) is handed back to the same worker by `retry_asked`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import traceback
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime
from typing import Any

from watchbot.store import Store
from watchbot.store.cursors import CursorStore
from watchbot.store.failures import RETRIED, FailedEvent, FailureStore

REASON_CHARS = 300
ID_CHARS = 500
# A Matrix event is at most 64 KiB; a Mastodon notification a few KiB. Above this the event is
# kept without its payload (and cannot be retried): a flood of huge poison events must not
# fill the disk.
PAYLOAD_CHARS = 65_536
# Secrets that can show up in an error's text (a URL with its query, a header echoed back).
_SECRET_PATTERNS = re.compile(r"(access_token=|Bearer\s+)[^\s&'\"]+", re.IGNORECASE)


class Isolation:
    """What one worker does with an event it could not handle.

    `source` names the worker in the store (matrix, mastodon, feed, page); `what` names its events
    in the log ("Matrix event"); `secrets` are masked out of everything logged or kept.
    """

    def __init__(self, store: Store, source: str, what: str, logger: logging.Logger, *,
                 secrets: Iterable[str] = ()) -> None:
        self.store = store
        self.failures = FailureStore(store)
        self.source = source
        self.what = what
        self.log = logger
        self._secrets = [secret for secret in secrets if secret]

    async def failed(self, error: Exception, *, place: str, event_id: Any, payload: Any,
                     cursor: tuple[str, str] | None = None) -> str:
        """Log and keep an event's failure; move `cursor` past it in the same transaction. Returns
        the one-line reason. Never raises for the event's sake: if even keeping the failure fails,
        that is logged and the cursor is still moved (a store that is down stops the bot anyway)."""
        reason = self.reason(error)
        kept = payload_text(payload)
        event_id = one_line(str(event_id), ID_CHARS) if event_id else _digest_of(kept)
        place = one_line(place, ID_CHARS)
        try:
            number = await self.failures.record(self.source, place, event_id, reason, kept, cursor=cursor)
        except Exception as problem:  # noqa: BLE001 -- e.g. text the database refuses: say so, go on
            self.log.error("%s %s in %s failed (%s), and could not be kept (%s); going on", self.what, event_id,
                           place, reason, self.reason(problem))
            if cursor is not None:
                await CursorStore(self.store).set(*cursor)
        else:
            self.log.error("%s %s in %s failed (%s); kept as failed event #%d (watchbot failed), going on",
                           self.what, event_id, place, reason, number)
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("%s %s: %s", self.what, event_id, self.mask(_traceback(error)))
        return reason

    async def retry_asked(self, handle: Callable[[FailedEvent], Awaitable[None]]) -> None:
        """Hand each event an operator asked to retry back to `handle`: resolved when it goes
        through, kept again (one more attempt, no longer asked) when it fails again."""
        for failure in await self.failures.to_retry(self.source):
            try:
                await handle(failure)
            except Exception as error:  # noqa: BLE001 -- failed again: kept again, the others go on
                await self.failed(error, place=failure.place, event_id=failure.event_id, payload=failure.payload)
                continue
            await self.failures.resolve(failure.id, RETRIED)
            self.log.info("%s %s in %s: retried, it went through (failed event #%d resolved)", self.what,
                          failure.event_id, failure.place, failure.id)

    def reason(self, error: BaseException) -> str:
        """The error's type and message, one line, short, without secrets."""
        try:
            message = str(error)
        except Exception:  # noqa: BLE001 -- an error whose message itself fails
            message = "(its message could not be read)"
        text = f"{type(error).__name__}: {message}" if message else type(error).__name__
        return one_line(self.mask(text), REASON_CHARS)

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _SECRET_PATTERNS.sub(lambda m: m.group(1) + "***", text)


def one_line(text: str, limit: int) -> str:
    """Printable text on one line, at most `limit` characters: what the log and a database can
    take whatever a stranger put in it (control characters, NUL, lone surrogates)."""
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[:limit - 1] + "…"


def payload_text(payload: Any) -> str | None:
    """The event as JSON text (ASCII only, so any database takes it), or None when it is larger
    than PAYLOAD_CHARS or cannot be written as JSON."""
    if payload is None:
        return None
    if isinstance(payload, str):
        text = payload
    else:
        try:
            text = json.dumps(payload, default=_plain, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError):  # circular, or nested deeper than Python goes
            return None
    return text if len(text) <= PAYLOAD_CHARS else None


def _plain(value: Any) -> Any:
    """JSON for what Mastodon.py decodes into richer types (datetimes)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _traceback(error: BaseException) -> str:
    try:
        trace = "".join(traceback.format_exception(error))
    except Exception:  # noqa: BLE001 -- an error whose message itself fails
        return f"{type(error).__name__} (no traceback: its message could not be read)"
    return trace.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates, printable


def _digest_of(payload: str | None) -> str:
    """An id for an event that came without one: the same event, the same id."""
    return "sha256:" + hashlib.sha256((payload or "").encode()).hexdigest()[:32]
