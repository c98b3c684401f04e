"""Opening a database: the driver for a URL, SQLite's settings, migrations at start.

Alembic is imported only to migrate: whether the schema is current is read from the
alembic_version table and the migration files' own `revision = "…"` lines (Alembic itself is
48 MB and a quarter of a second to import, for a store that is current nearly every time).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import event, inspect, text
from sqlalchemy import create_engine as sqlalchemy_engine
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)


# Execution option of a connection that will write: SQLite then takes its write lock at BEGIN.
WRITE = "watchbot_write"


class DatabaseURLError(ValueError):
    """A database URL watchbot cannot use; the message says what to write instead."""


def driver_url(url: str) -> str:
    """The driver for a plain URL: sqlite:///… -> the stdlib's sqlite3, postgresql://… -> psycopg."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseURLError(
            "the database URL is not valid; use sqlite:///path/to/watchbot.db or "
            "postgresql://user:password@host/dbname"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:" or parsed.database.startswith("file::memory:"):
            # An in-memory store forgets everything when the command ends, while saying "Filed".
            raise DatabaseURLError(
                "the SQLite URL names no file; use sqlite:///path/to/watchbot.db (four slashes for "
                "an absolute path: sqlite:////var/lib/watchbot/watchbot.db)"
            )
        database = str(Path(parsed.database).expanduser())
        return parsed.set(drivername="sqlite+pysqlite", database=database).render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise DatabaseURLError(
        f"database {backend!r} is not supported; use sqlite:///… (default) or postgresql://…"
    )


def redacted(url: str) -> str:
    """The URL fit for a log line: the password replaced by ***, in the query string too."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "<invalid database URL>"
    query = {k: ("***" if k.lower() in ("password", "sslpassword") else v) for k, v in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=True)


def create_engine(url: str) -> Engine:
    url = driver_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return _create_sqlite_engine(url)
    # A connection for the bot's thread and one for each reader that reads at once (Store.readers:
    # the web's pages and its health, a handful); idle ones beyond two are closed, not kept.
    return sqlalchemy_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=6)


def _create_sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sqlalchemy_engine(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let us issue BEGIN ourselves (below); the driver's implicit BEGIN is DEFERRED.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL: readers (the web page, the CLI) never block the bot's writes. synchronous=FULL:
        # a write that was acknowledged survives a power cut, not just a crash.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        # What is deleted is overwritten with zeros, freed pages included: a forgotten person's
        # words do not stay in the file's free space (decision 36). Most Linux distributions
        # build SQLite with this on already; other builds do not.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write takes the lock up front (IMMEDIATE): a transaction that reads then writes waits
        # its turn (busy_timeout) instead of failing with SQLITE_BUSY when another process (the
        # CLI beside the running bot) wrote in between. Reads stay DEFERRED: in WAL mode they
        # never block a writer, however long they take.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")

    return engine


MIGRATIONS = resources.files("watchbot.store") / "migrations"
VERSION_TABLE = "alembic_version"  # Alembic's default, where it keeps the schema's revision
_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?([^'\"\s]+|None)['\"]?\s*$", re.MULTILINE)


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


class StoreUnavailable(RuntimeError):
    """The store cannot be used as it is; the message says why and what to do, in one sentence."""


def upgrade(connection: Connection) -> None:
    """Bring the schema to the newest revision (a no-op when it is there already)."""
    before, head = current_revision(connection)
    if before != head:
        from alembic import command

        log.info("migrating the store from %s to %s", before or "an empty database", head)
        command.upgrade(_alembic_config(connection), "head")
        if connection.dialect.name == "sqlite":
            # Foreign keys were off while tables were copied (foreign_keys_off_while_migrating):
            # the copies must still hold together before the migration commits.
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise StoreUnavailable(
                    f"the migration to {head} would break {len(broken)} reference(s) between tables; "
                    "nothing was changed: please report this"
                )


@contextmanager
def foreign_keys_off_while_migrating(connection: Connection) -> Iterator[None]:
    """SQLite: foreign keys off around a migration, as SQLite's own procedure for changing a table
    asks. Copying a table that others reference (`links`) drops the original, and with foreign keys
    on, dropping it would first delete every row that references it (ON DELETE CASCADE). The pragma
    is a no-op inside a transaction, so this goes around the migration's BEGIN."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys=ON")


def current_revision(connection: Connection) -> tuple[str | None, str | None]:
    """(the database's revision, the newest this code knows)."""
    revisions, head = known_revisions()
    current = None
    if connection.dialect.has_table(connection, VERSION_TABLE):
        current = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    if current is None:
        ours = {"links", "shares", "share_tags", "cursors"}
        if ours & set(inspect(connection).get_table_names()):
            raise StoreUnavailable(
                "this database already holds tables that watchbot did not make; "
                "point WATCHBOT_DATABASE_URL at a new database"
            )
    elif current not in revisions:
        raise StoreUnavailable(
            f"the store was written by a newer watchbot (schema {current}); upgrade watchbot to use it"
        )
    return current, head


@functools.cache
def known_revisions() -> tuple[frozenset[str], str]:
    """Every revision the migrations directory holds, and its head (the one no other revises),
    read from the files' `revision = "…"` and `down_revision = "…"` lines as Alembic writes them."""
    revisions, revised = set(), set()
    for script in (MIGRATIONS / "versions").iterdir():
        if not script.name.endswith(".py"):
            continue
        found = dict(_REVISION_LINE.findall(script.read_text(encoding="utf-8")))
        if "revision" in found:
            revisions.add(found["revision"])
            revised.add(found.get("down_revision"))
    heads = revisions - revised
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads ({', '.join(sorted(heads))}); they need one")
    return frozenset(revisions), heads.pop()
