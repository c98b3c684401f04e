"""How the bot's log is written: lines for a person, or one JSON object per line for a collector.

One place decides the format and which libraries may speak: matrix-nio logs a line at INFO for
every event it parses, which drowns what watchbot says; it is heard at WARNING unless the
operator asks for DEBUG.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")
# Libraries whose INFO lines describe their own work, not the bot's.
CHATTY_LIBRARIES = ("nio", "alembic")


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and the traceback
    when there is one, so a collector (Loki, journald's JSON, Elasticsearch) needs no parsing rule."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def start(verbose: bool) -> None:
    """Before settings are read: WARNING and up (DEBUG with -v), as text."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format=TEXT_FORMAT)
    _quiet_libraries(verbose)


def apply(level: str, log_format: str, *, verbose: bool = False) -> None:
    """Once settings are read: the operator's level (unless -v asked for everything) and format."""
    root = logging.getLogger()
    if not verbose:
        root.setLevel(level)
    formatter = JSONFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    for handler in root.handlers:
        handler.setFormatter(formatter)
    _quiet_libraries(verbose or level == "DEBUG")


def _quiet_libraries(everything: bool) -> None:
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET if everything else logging.WARNING)
