"""A real, throwaway PostgreSQL server for the test suite.

Plain functions and one context manager, so that ``tests/conftest.py`` can wrap
them in a session-scoped fixture::

    pg_bin = find_pg_bin()          # None: neither the machine nor the pgserver wheel has one
    with running_postgres(tmp_dir) as url:
        fresh = create_database(url, "test_1")

The server listens on 127.0.0.1 only, on a free port, with trust
authentication, and with durability switched off (fsync, full_page_writes,
synchronous_commit) since its data is thrown away. It is stopped with
``pg_ctl stop -m immediate`` and its files are removed when the ``with`` block
ends, whether it ends normally or with an exception.

The machine's PostgreSQL is used when it has one; otherwise the binaries that the
``pgserver`` wheel ships (the test extra installs it), so that a machine with only
Python passes the whole suite.

PostgreSQL refuses to run as root, so when the tests run as root the server
tools are run as the ``postgres`` system user (``runuser -u postgres --``), or
``nobody`` on a machine that never had PostgreSQL, in a dedicated directory
under ``tempfile.gettempdir()`` that this user can reach. Binaries that user
cannot reach (a virtual environment under /root) are copied there first.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "PostgresServerError",
    "create_database",
    "find_pg_bin",
    "running_postgres",
]

#: Environment variable naming the directory holding initdb, pg_ctl and postgres.
PG_BIN_ENV = "WATCHBOT_TEST_PG_BIN"
#: The superuser created by initdb; trust authentication means no password.
SUPERUSER = "postgres"
#: The database created on start, named in the URL that running_postgres yields.
DEFAULT_DATABASE = "watchbot_test"
#: The system users that may run the server when the tests run as root, the first that exists.
SERVER_OS_USERS = ("postgres", "nobody")
#: Seconds to wait for the server to accept connections.
START_TIMEOUT = 60
_TOOLS = ("initdb", "pg_ctl", "postgres")
_LOG_TAIL_LINES = 40


class PostgresServerError(RuntimeError):
    """The throwaway server could not be set up, started or used."""


# --------------------------------------------------------------------------- binaries


def _has_tools(directory: Path) -> bool:
    return all(os.access(directory / tool, os.X_OK) for tool in _TOOLS)


def _version_key(path: str) -> tuple[int, ...]:
    # /usr/lib/postgresql/15/bin -> (15,); 9.6 -> (9, 6); newest sorts last.
    version = Path(path).parent.name
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (-1,)


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or None.

    Looked for, in order: ``$WATCHBOT_TEST_PG_BIN``; the directory of
    ``pg_ctl`` found on PATH (symlinks resolved, so Debian's
    ``/usr/local/bin/pg_ctl -> /usr/lib/postgresql/15/bin/pg_ctl`` gives the
    real directory, where ``initdb`` lives too); the newest
    ``/usr/lib/postgresql/*/bin``.

    A ``$WATCHBOT_TEST_PG_BIN`` that is set but lacks the tools raises
    PostgresServerError rather than silently falling back to another version.
    """
    configured = os.environ.get(PG_BIN_ENV)
    if configured:
        directory = Path(configured).expanduser()
        if not _has_tools(directory):
            raise PostgresServerError(
                f"{PG_BIN_ENV}={configured!r} does not hold executable {', '.join(_TOOLS)}"
            )
        return directory.resolve()

    on_path = shutil.which("pg_ctl")
    if on_path:
        directory = Path(on_path).resolve().parent
        if _has_tools(directory):
            return directory

    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        if _has_tools(Path(candidate)):
            return Path(candidate)
    return pypi_pg_bin()


def pypi_pg_bin() -> Path | None:
    """The binaries the ``pgserver`` wheel ships, or None when it is not installed.

    Found without importing the package: only its files are used, not its server manager.
    """
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return directory if _has_tools(directory) else None


def describe_pg_bin(pg_bin: Path) -> str:
    """Where the binaries come from, for the test report's header."""
    pypi = pypi_pg_bin()
    origin = "the pgserver wheel (PyPI)" if pypi is not None and pypi.resolve() == pg_bin.resolve() else "this machine"
    return f"PostgreSQL binaries from {origin}: {pg_bin}"


# --------------------------------------------------------------------------- helpers


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(log: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError as exc:
        return f"(no server log at {log}: {exc})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(server log is empty)"


def _clean_env() -> dict[str, str]:
    # PG* variables of the caller (PGDATA, PGPORT, PGHOST, ...) must not steer the tools.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    return env


def _server_os_user() -> pwd.struct_passwd:
    for name in SERVER_OS_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresServerError(
        f"running as root and there is no {' or '.join(SERVER_OS_USERS)} system user to run "
        "PostgreSQL as (initdb refuses root); create one or run the tests as non-root"
    )


class _Runner:
    """Runs the PostgreSQL tools, as an unprivileged system user when we are root."""

    def __init__(self, pg_bin: Path, workdir: Path) -> None:
        self.pg_bin = pg_bin
        self.workdir = workdir
        self.as_root = os.geteuid() == 0
        self.env = _clean_env()

    def prefix(self) -> list[str]:
        if not self.as_root:
            return []
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", _server_os_user().pw_name, "--"]

    def make_reachable(self) -> None:
        """Copy the installation into the work directory when the server's user cannot run it
        where it is (a virtual environment in /root, say)."""
        if not self.as_root:
            return
        probe = subprocess.run([*self.prefix(), str(self.pg_bin / "initdb"), "--version"], cwd=self.workdir,
                               env=self.env, capture_output=True, check=False, timeout=30)
        if probe.returncode == 0:
            return
        # The pgserver wheel's layout, kept: its binaries find their libraries by a relative
        # RPATH ($ORIGIN/../../../pgserver.libs).
        copy = self.workdir / "copy"
        installation = copy / "pgserver" / "pginstall"
        for part in ("bin", "lib", "share"):
            if (self.pg_bin.parent / part).is_dir():
                shutil.copytree(self.pg_bin.parent / part, installation / part, symlinks=True)
        libraries = self.pg_bin.parents[2] / "pgserver.libs"
        if libraries.is_dir():
            shutil.copytree(libraries, copy / "pgserver.libs", symlinks=True)
        for directory, _, files in os.walk(copy):
            os.chmod(directory, 0o755)
            for name in files:
                path = Path(directory, name)
                if not path.is_symlink():
                    path.chmod(path.stat().st_mode | 0o444)
        self.pg_bin = installation / "bin"

    def run(self, tool: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        command = [*self.prefix(), str(self.pg_bin / tool), *args]
        # cwd: the tools complain when they cannot read their working directory,
        # which as the postgres user would be the case for /root or the repo.
        return subprocess.run(
            command,
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _make_workdir() -> Path:
    """A directory under the temp dir that the server's user can use, mode 0o755."""
    workdir = Path(tempfile.mkdtemp(prefix="watchbot-pg-", dir=tempfile.gettempdir()))
    try:
        workdir.chmod(0o755)
        if os.geteuid() == 0:
            account = _server_os_user()
            os.chown(workdir, account.pw_uid, account.pw_gid)
            # Every parent must be searchable by that user, or initdb fails obscurely.
            for parent in workdir.parents:
                if not parent.stat().st_mode & 0o001:
                    raise PostgresServerError(
                        f"{parent} is not searchable by the {account.pw_name!r} user, so it cannot "
                        f"reach {workdir}; point TMPDIR at a world-searchable directory such as /tmp"
                    )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return workdir


def _postmaster_pid(datadir: Path) -> int | None:
    try:
        first = (datadir / "postmaster.pid").read_text().splitlines()[0]
        return int(first)
    except (OSError, IndexError, ValueError):
        return None


def _is_postgres(pid: int) -> bool:
    # A stale postmaster.pid may name a pid since reused by another program.
    try:
        return b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _stop(runner: _Runner, datadir: Path) -> str:
    """Stop the server if one runs on datadir; returns a problem description or ''."""
    if not (datadir / "postmaster.pid").exists():
        return ""
    problem = ""
    try:
        result = runner.run("pg_ctl", "stop", "-D", str(datadir), "-m", "immediate", "-w", "-t", "30", timeout=45)
        if result.returncode != 0:
            problem = f"pg_ctl stop exited {result.returncode}: {result.stdout}{result.stderr}".strip()
    except subprocess.TimeoutExpired:
        problem = "pg_ctl stop timed out"
    pid = _postmaster_pid(datadir)
    if pid is not None and _is_postgres(pid):
        # Last resort, on our own postmaster only: SIGKILL it and wait for it to go.
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
    return problem


# --------------------------------------------------------------------------- server


@contextmanager
def running_postgres(base_dir: Path, *, pg_bin: Path | None = None) -> Iterator[str]:
    """Start a throwaway PostgreSQL server; yield the URL of its ``watchbot_test`` database.

    The URL is ``postgresql://postgres@127.0.0.1:PORT/watchbot_test`` (trust
    authentication: no password). ``base_dir`` receives the server log as
    ``postgres.log`` when the server stops, for post-mortems; the data
    directory and socket live in a short-pathed directory of their own under
    ``tempfile.gettempdir()`` (unix socket paths are limited to ~100 bytes and
    the ``postgres`` user must be able to reach it), which is removed at exit.

    Raises PostgresServerError when no PostgreSQL is found or it fails to
    start, with the tail of the server log in the message.
    """
    pg_bin = pg_bin or find_pg_bin()
    if pg_bin is None:
        raise PostgresServerError(
            f"no PostgreSQL server binaries found (set {PG_BIN_ENV} to the directory holding initdb)"
        )
    base_dir = Path(base_dir)
    base_dir.mkdir(parents=True, exist_ok=True)

    workdir = _make_workdir()
    datadir = workdir / "data"
    log = workdir / "postgres.log"
    runner = _Runner(pg_bin, workdir)
    try:
        runner.make_reachable()
        result = runner.run(
            "initdb",
            "-D", str(datadir),
            "--auth=trust",
            f"--username={SUPERUSER}",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
            timeout=120,
        )
        if result.returncode != 0:
            raise PostgresServerError(
                f"initdb failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )

        port = _start(runner, datadir, workdir, log, kept_as=base_dir / "postgres.log")
        url = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
        yield create_database(url, DEFAULT_DATABASE)
    finally:
        try:
            _stop(runner, datadir)
        finally:
            if log.exists():
                shutil.copyfile(log, base_dir / "postgres.log")
            shutil.rmtree(workdir, ignore_errors=True)


def _start(runner: _Runner, datadir: Path, workdir: Path, log: Path, kept_as: Path) -> int:
    """Start the server on a free port (retrying if another process grabs it); return the port."""
    attempts = 3
    for attempt in range(1, attempts + 1):
        port = _free_port()
        options = " ".join(
            shlex.quote(option)
            for option in (
                "-c", "listen_addresses=127.0.0.1",
                "-c", f"port={port}",
                "-c", f"unix_socket_directories={workdir}",
                "-c", "fsync=off",
                "-c", "full_page_writes=off",
                "-c", "synchronous_commit=off",
                "-c", "lc_messages=C",
            )
        )  # pg_ctl hands -o to a shell, hence the quoting
        try:
            result = runner.run(
                "pg_ctl", "start",
                "-D", str(datadir),
                "-l", str(log),
                "-w", "-t", str(START_TIMEOUT),
                "-o", options,
                timeout=START_TIMEOUT + 15,
            )
            failure = "" if result.returncode == 0 else (
                f"pg_ctl start exited {result.returncode}: {result.stdout}{result.stderr}".strip()
            )
        except subprocess.TimeoutExpired:
            failure = f"pg_ctl start did not return within {START_TIMEOUT + 15} s"
        if not failure:
            return port
        tail = _log_tail(log)
        _stop(runner, datadir)
        if "Address already in use" in tail and attempt < attempts:
            continue  # the port was taken between picking and binding it
        raise PostgresServerError(
            f"PostgreSQL failed to start on 127.0.0.1:{port} (waited up to {START_TIMEOUT} s, "
            f"attempt {attempt} of {attempts})\n{failure}\n"
            f"--- last lines of the server log (kept as {kept_as}) ---\n{tail}"
        )
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- databases


def _quote_ident(name: str) -> str:
    if not name or "\x00" in name or len(name.encode()) > 63:
        raise ValueError(f"invalid PostgreSQL database name: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def create_database(url: str, name: str) -> str:
    """Create an empty database ``name`` on the server of ``url``; return its URL.

    Uses psycopg (the store's own PostgreSQL driver, no psql binary needed), synchronously, so it
    is safe to call from plain code and from inside an event loop alike.
    """
    import psycopg  # the postgres extra; imported here so find_pg_bin works without it

    # Connect to the maintenance database: CREATE DATABASE copies template1,
    # which must have no other connection, and the URL's own db may not exist.
    with psycopg.connect(_with_database(url, "postgres"), autocommit=True, connect_timeout=30) as connection:
        connection.execute(f"CREATE DATABASE {_quote_ident(name)}")
    return _with_database(url, name)
