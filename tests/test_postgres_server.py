"""The throwaway PostgreSQL helper gives a working server and leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.postgres_server import create_database, find_pg_bin, pypi_pg_bin, running_postgres


@pytest.fixture(autouse=True)
def _needs_postgres() -> None:
    # Same policy as conftest's postgres_server: missing binaries fail, unless told to skip.
    if os.environ.get("WATCHBOT_TEST_POSTGRES") == "skip":
        pytest.skip("PostgreSQL tests left out: WATCHBOT_TEST_POSTGRES=skip")
    if find_pg_bin() is None:
        pytest.fail("PostgreSQL server binaries not found (initdb, pg_ctl); pip install -e '.[test]' "
                    "brings them, or set WATCHBOT_TEST_PG_BIN")


def test_the_binaries_from_pypi_serve_a_machine_without_postgresql(tmp_path: Path) -> None:
    # What a newcomer with only Python runs, whether or not this machine has its own PostgreSQL.
    pg_bin = pypi_pg_bin()
    assert pg_bin is not None, "the test extra installs pgserver, which ships PostgreSQL's binaries"
    with running_postgres(tmp_path, pg_bin=pg_bin) as url:
        assert _query(url, "select current_setting('server_version_num')::int") >= 160000


def test_binaries_in_a_private_directory_still_serve(tmp_path: Path) -> None:
    # As root the server runs as another user, who cannot enter a virtual environment in /root:
    # the helper copies the installation where that user can.
    pypi = pypi_pg_bin()
    assert pypi is not None
    private = tmp_path / "private"
    package = pypi.parents[1]  # site-packages/pgserver, beside site-packages/pgserver.libs
    shutil.copytree(package, private / "pgserver", symlinks=True, ignore=shutil.ignore_patterns("include"))
    shutil.copytree(package.parent / "pgserver.libs", private / "pgserver.libs")
    private.chmod(0o700)
    with running_postgres(tmp_path / "run", pg_bin=private / "pgserver" / "pginstall" / "bin") as url:
        assert _query(url, "select 1") == 1


def _query(url: str, sql: str) -> object:
    with psycopg.connect(url, connect_timeout=10) as connection:
        return connection.execute(sql).fetchone()[0]


def test_running_postgres_serves_and_stops(tmp_path: Path) -> None:
    with running_postgres(tmp_path) as url:
        parts = urlsplit(url)
        assert parts.scheme == "postgresql"
        assert parts.hostname == "127.0.0.1"
        assert parts.path == "/watchbot_test"
        port = parts.port
        assert port

        assert _query(url, "select 1") == 1
        assert _query(url, "select current_database()") == "watchbot_test"
        assert _query(url, "show fsync") == "off"

        other = create_database(url, "watchbot_test_other")
        assert urlsplit(other).path == "/watchbot_test_other"
        assert urlsplit(other).port == port
        assert _query(other, "select current_database()") == "watchbot_test_other"
        # Empty: no user tables in the fresh database.
        assert _query(other, "select count(*) from pg_tables where schemaname = 'public'") == 0

    assert (tmp_path / "postgres.log").is_file()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


async def test_create_database_from_inside_an_event_loop(tmp_path: Path) -> None:
    # An async fixture or test may call the sync helper: it must not trip over asyncio.run.
    with running_postgres(tmp_path) as url:
        other = create_database(url, "from_a_loop")
        assert _query(other, "select current_database()") == "from_a_loop"
