"""Shared fixtures: a fresh store on real SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import faulthandler
import importlib.util
import os
import shutil
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.postgres_server import create_database, describe_pg_bin, find_pg_bin, pypi_pg_bin, running_postgres
from watchbot.devserver import SynapseServer, running_synapse, synapse_installed
from watchbot.store import Store


#: WATCHBOT_TEST_POSTGRES: "skip" leaves the PostgreSQL tests out; "pypi" (.ci/without-system-postgres
#: sets it) requires the pgserver wheel's binaries: the run refuses to start if it would use others.
#: Read once, before any test clears the WATCHBOT_* variables.
POSTGRES_CHOICE = os.environ.get("WATCHBOT_TEST_POSTGRES", "")


def pytest_configure(config) -> None:
    if POSTGRES_CHOICE != "pypi":
        return
    wheel, chosen = pypi_pg_bin(), find_pg_bin()
    if wheel is None:
        raise pytest.UsageError("WATCHBOT_TEST_POSTGRES=pypi, but the pgserver wheel's PostgreSQL is not "
                                "installed (pip install -e '.[test]')")
    if chosen is None or chosen.resolve() != wheel.resolve():
        raise pytest.UsageError(f"WATCHBOT_TEST_POSTGRES=pypi, but the tests would use the PostgreSQL in {chosen}, "
                                "not the pgserver wheel's: run them under .ci/without-system-postgres")


def pytest_report_header(config) -> list[str]:
    """Say what the run uses, so that a CI log shows what was tested: which PostgreSQL (the PyPI
    binaries, in CI), which clock (a year ahead, in CI's second run), which browser."""
    return [_postgres_line(), _clock_line(), _browser_line()]


def _postgres_line() -> str:
    if POSTGRES_CHOICE == "skip":
        return "PostgreSQL tests left out: WATCHBOT_TEST_POSTGRES=skip"
    pg_bin = find_pg_bin()
    line = describe_pg_bin(pg_bin) if pg_bin else "PostgreSQL binaries: none found"
    return f"{line} (required: WATCHBOT_TEST_POSTGRES=pypi)" if POSTGRES_CHOICE == "pypi" else line


def _clock_line() -> str:
    today = datetime.now(timezone.utc).date()
    if "faketime" in os.environ.get("LD_PRELOAD", ""):
        return f"Clock: faked by libfaketime (FAKETIME={os.environ.get('FAKETIME', '?')}): today is {today} (UTC)"
    return f"Clock: this machine's: today is {today} (UTC)"


def _browser_line() -> str:
    """As tests/test_web_browser.py finds Chromium."""
    required = os.environ.get("WATCHBOT_TEST_BROWSER") == "require"
    found = os.environ.get("WATCHBOT_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found and Path(found).exists():
        return f"Browser test: Chromium at {found}" + (" (required: WATCHBOT_TEST_BROWSER=require)" if required else "")
    return "Browser test: no Chromium" + (", and it is required: it fails" if required else ": left out")


#: After a test's timeout (pyproject.toml, pytest-timeout), the seconds its teardown may take.
TEARDOWN_AFTER_TIMEOUT = 60
_TIMED_OUT = pytest.StashKey[bool]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and "Timeout (>" in str(report.longrepr):
        item.stash[_TIMED_OUT] = True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """A test stopped by its timeout (SIGALRM) may leave a thread hung, that its event loop's
    teardown then waits for forever: after TEARDOWN_AFTER_TIMEOUT more seconds the run ends,
    naming the test and showing every thread's stack, rather than hanging."""
    if not item.stash.get(_TIMED_OUT, False):
        yield
        return

    def give_up() -> None:
        capture = item.config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            capture.suspend_global_capture(in_=True)  # what follows reaches the terminal
        sys.stderr.write(f"\n{item.nodeid}: timed out, then its teardown hung for {TEARDOWN_AFTER_TIMEOUT} s; "
                         "ending the run (the stacks of every thread follow)\n")
        sys.stderr.flush()
        faulthandler.dump_traceback(all_threads=True)
        os._exit(1)

    timer = threading.Timer(TEARDOWN_AFTER_TIMEOUT, give_up)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory) -> Iterator[str]:
    """A PostgreSQL server for the whole run, from the machine's binaries or else those the
    pgserver wheel ships (installed with the test extra).

    PostgreSQL is a supported store, so its tests are not optional: only
    WATCHBOT_TEST_POSTGRES=skip leaves them out, and the run's header says so.
    """
    if POSTGRES_CHOICE == "skip":
        pytest.skip("PostgreSQL tests left out: WATCHBOT_TEST_POSTGRES=skip")
    if find_pg_bin() is None:
        pytest.fail(
            "PostgreSQL server binaries not found: the test extra installs them from PyPI "
            "(pip install -e '.[test]'; the pgserver wheel exists for Linux and macOS), or install "
            "PostgreSQL (Debian: apt-get install postgresql), or set WATCHBOT_TEST_PG_BIN"
        )
    with running_postgres(tmp_path_factory.mktemp("postgres")) as url:
        yield url


@pytest.fixture(scope="session")
def synapse(tmp_path_factory) -> Iterator[SynapseServer]:
    """A real Synapse on 127.0.0.1 for the whole run (installed from PyPI with the test extra)."""
    if not synapse_installed():
        if os.environ.get("WATCHBOT_TEST_MATRIX") == "skip":
            pytest.skip("Matrix tests left out: WATCHBOT_TEST_MATRIX=skip")
        pytest.fail("matrix-synapse is not installed (pip install -e '.[test]'), "
                    "or run with WATCHBOT_TEST_MATRIX=skip to leave these tests out")
    with running_synapse(tmp_path_factory.mktemp("synapse")) as server:
        yield server


@pytest.fixture(scope="session")
def mastodon_server(tmp_path_factory):
    """mastodon_mock on 127.0.0.1 for the whole run: the stand-in for a Mastodon server, which
    cannot run here (installed with the test extra)."""
    if importlib.util.find_spec("mastodon_mock") is None or importlib.util.find_spec("mastodon") is None:
        if os.environ.get("WATCHBOT_TEST_MASTODON") == "skip":
            pytest.skip("Mastodon tests left out: WATCHBOT_TEST_MASTODON=skip")
        pytest.fail("mastodon_mock / Mastodon.py not installed (pip install -e '.[test]'), "
                    "or run with WATCHBOT_TEST_MASTODON=skip to leave these tests out")
    from tests.mastodon_server import running_mastodon

    with running_mastodon(tmp_path_factory.mktemp("mastodon")) as server:
        yield server


@pytest.fixture(scope="session")
def other_server(mastodon_server, tmp_path_factory):
    """The stand-in for a server that speaks Mastodon's API without being Mastodon
    (tests/mastodon_server.py, OTHER_SERVER): raw counting and 400 for too long, no streaming,
    a failing /api/v2/instance, accounts on a domain other than the API's address."""
    from tests.mastodon_server import OTHER_SERVER, running_mastodon

    with running_mastodon(tmp_path_factory.mktemp("other-server"), profile=OTHER_SERVER) as server:
        yield server


@pytest.fixture(params=["mastodon", "other-server"])
def any_server(request):
    """Each stand-in in turn: Mastodon, and a server speaking its API otherwise."""
    return request.getfixturevalue("mastodon_server" if request.param == "mastodon" else "other_server")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path) -> str:
    """A URL to an empty database, once per supported database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'watchbot.db'}"
    server = request.getfixturevalue("postgres_server")
    return create_database(server, f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'watchbot.db'}"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(database_url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def scene(synapse, tmp_path: Path):
    """A bot account, its store and people with nio clients on the test Synapse (the Matrix
    tests' scene; the fediverse tests define their own)."""
    from tests.test_matrix_bot import Scene

    made = Scene(synapse, tmp_path)
    try:
        yield made
    finally:
        await made.close()
