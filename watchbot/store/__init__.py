"""The shared store: SQLite by default, PostgreSQL by URL, one schema, migrations at start."""

from watchbot.store.database import DatabaseURLError, StoreUnavailable, redacted
from watchbot.store.store import Store, StoreNotReady

__all__ = ["DatabaseURLError", "Store", "StoreNotReady", "StoreUnavailable", "redacted"]
