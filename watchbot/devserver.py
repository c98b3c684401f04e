"""A real, throwaway Synapse homeserver on 127.0.0.1, for ``watchbot demo`` and the test suite.

One context manager and a small handle, free of pytest so that non-test code can use it::

    with running_synapse(tmp_dir) as server:
        alice = server.register("alice")            # MatrixUser(user_id, access_token, device_id, password)
        bot = server.register("bot", admin=True)
        ...                                          # talk to server.url with any Matrix client

The server runs as a subprocess (``python -m synapse.app.homeserver``, with this interpreter), on
127.0.0.1 only, on a free port, with a client listener and no federation listener, an SQLite
database, and every ``rc_*`` rate limit raised so that tests are never throttled. Everything it
writes (config, signing key, database, media, log) goes into ``base_dir``, which is left in place
for post-mortems; the caller owns it. The server is stopped (SIGTERM, then SIGKILL after 10 s)
when the ``with`` block ends, however it ends.

Only the standard library is imported here: the config is written as JSON (which YAML parsers
read), the signing key in Synapse's own ``ed25519 <version> <unpadded base64 seed>`` format, and
HTTP goes through urllib, so importing this module works even where matrix-synapse is missing;
:func:`synapse_installed` tells whether starting a server can work.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchbot.processes import die_with_parent, free_port, read_tail, stop
from watchbot.processes import request_json as _request

__all__ = [
    "MatrixUser",
    "SynapseServer",
    "SynapseServerError",
    "running_synapse",
    "synapse_installed",
]

SERVER_NAME = "localhost"
#: Seconds to wait for ``GET /_matrix/client/versions`` to answer after the process starts.
START_TIMEOUT = 60.0
#: Seconds between two readiness probes.
POLL_INTERVAL = 0.1
#: Seconds between SIGTERM and SIGKILL when stopping.
STOP_TIMEOUT = 10.0
#: Every ``rc_*`` limiter this generous: tests must never see M_LIMIT_EXCEEDED.
_UNLIMITED = {"per_second": 1000, "burst_count": 1000}
#: Every rate limiter read by synapse/config/ratelimiting.py in Synapse 1.163 (nested keys are
#: the ``a.b`` ones there). rc_federation has its own shape and is set separately.
RATE_LIMITS: dict[str, Any] = {
    "rc_message": _UNLIMITED,
    "rc_registration": _UNLIMITED,
    "rc_registration_token_validity": _UNLIMITED,
    "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
    "rc_admin_redaction": _UNLIMITED,
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_joins_per_room": _UNLIMITED,
    "rc_key_requests": _UNLIMITED,
    "rc_3pid_validation": _UNLIMITED,
    "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
    "rc_third_party_invite": _UNLIMITED,
    "rc_media_create": _UNLIMITED,
    "rc_presence": {"per_user": _UNLIMITED},
    "rc_delayed_event_mgmt": _UNLIMITED,
    "rc_room_creation": _UNLIMITED,
    "rc_reports": _UNLIMITED,
    "rc_user_directory": _UNLIMITED,
    "rc_profile": _UNLIMITED,
    # Federation is off (no listener, no sender, empty whitelist); generous anyway.
    "rc_federation": {
        "window_size": 1000,
        "sleep_limit": 1000,
        "sleep_delay": 1,
        "reject_limit": 1000,
        "concurrent": 1000,
    },
}
_LOG_TAIL_LINES = 40
_HTTP_TIMEOUT = 30.0


class SynapseServerError(RuntimeError):
    """The throwaway homeserver could not be set up, started or used."""


def synapse_installed() -> bool:
    """True when matrix-synapse is importable by this interpreter (what the server runs with)."""
    return importlib.util.find_spec("synapse") is not None


@dataclass
class MatrixUser:
    user_id: str
    access_token: str
    device_id: str
    password: str


# --------------------------------------------------------------------------- helpers




def _write_signing_key(path: Path) -> None:
    # What `synapse.app.homeserver --generate-keys` writes (signedjson.key.write_signing_keys):
    # "ed25519 <version> <unpadded base64 of the 32-byte seed>"; any 32 random bytes are a seed.
    version = "a_" + secrets.token_hex(2)
    seed = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    path.write_text(f"ed25519 {version} {seed}\n")
    path.chmod(0o600)


def _write_config(base_dir: Path, port: int, shared_secret: str) -> Path:
    """Write homeserver.yaml and log.config.yaml into base_dir; return homeserver.yaml's path."""
    log_config = base_dir / "log.config.yaml"
    log_config.write_text(
        json.dumps(
            {
                "version": 1,
                "formatters": {
                    "precise": {
                        "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"
                    }
                },
                "handlers": {
                    # A plain (unbuffered) file handler, so log_tail() is up to date; no console.
                    "file": {
                        "class": "logging.FileHandler",
                        "formatter": "precise",
                        "filename": str(base_dir / "homeserver.log"),
                        "encoding": "utf8",
                    }
                },
                "loggers": {"synapse.storage.SQL": {"level": "INFO"}},
                "root": {"level": "INFO", "handlers": ["file"]},
                "disable_existing_loggers": False,
            },
            indent=2,
        )
        + "\n"
    )
    url = f"http://127.0.0.1:{port}"
    config: dict[str, Any] = {
        "server_name": SERVER_NAME,
        "public_baseurl": url + "/",
        "pid_file": str(base_dir / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(base_dir / "homeserver.db")}},
        "log_config": str(log_config),
        "media_store_path": str(base_dir / "media_store"),
        "signing_key_path": str(base_dir / "signing.key"),
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "report_stats": False,
        "enable_metrics": False,
        "enable_registration": False,
        "registration_shared_secret": shared_secret,
        "macaroon_secret_key": secrets.token_hex(32),
        "form_secret": secrets.token_hex(32),
        # The minimum bcrypt cost: registering and logging in stay fast (default 12 is ~0.25 s each).
        "bcrypt_rounds": 4,
        # Federation: no listener above, nothing sent, no remote server allowed.
        "federation_domain_whitelist": [],
        "federation_sender_instances": [],
        "allow_public_rooms_over_federation": False,
        "presence": {"enabled": False},
        "url_preview_enabled": False,
        **RATE_LIMITS,
    }
    path = base_dir / "homeserver.yaml"
    path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML
    return path


# --------------------------------------------------------------------------- server


class SynapseServer:
    """A started homeserver: its URL, a way to create users, and its log."""

    def __init__(self, base_dir: Path, port: int, shared_secret: str, process: subprocess.Popen[bytes]) -> None:
        self.base_dir = base_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server_name = SERVER_NAME
        self.log_path = base_dir / "homeserver.log"
        self.output_path = base_dir / "synapse.out"
        self.process = process
        self._shared_secret = shared_secret

    def __repr__(self) -> str:
        return f"SynapseServer(url={self.url!r}, base_dir={str(self.base_dir)!r})"

    def user_id(self, localpart: str) -> str:
        return f"@{localpart.lower()}:{self.server_name}"

    def register(self, localpart: str, password: str | None = None, *, admin: bool = False) -> MatrixUser:
        """Create a user through the shared-secret admin API; return it logged in on a new device.

        ``password`` defaults to a random one (in the returned MatrixUser). Raises
        SynapseServerError with Synapse's answer when registration fails (e.g. the user exists).
        """
        if password is None:
            password = secrets.token_urlsafe(16)
        endpoint = f"{self.url}/_synapse/admin/v1/register"
        try:
            nonce = _request("GET", endpoint)["nonce"]
            mac = hmac.new(self._shared_secret.encode(), digestmod=hashlib.sha1)
            for part in (nonce.encode(), localpart.encode(), password.encode()):
                mac.update(part)
                mac.update(b"\x00")
            mac.update(b"admin" if admin else b"notadmin")
            answer = _request(
                "POST",
                endpoint,
                {"nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": mac.hexdigest()},
            )
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise SynapseServerError(f"registering {localpart!r} failed: HTTP {exc.code} {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise SynapseServerError(f"registering {localpart!r} failed: {exc}\n{self.log_tail()}") from exc
        return MatrixUser(
            user_id=answer["user_id"],
            access_token=answer["access_token"],
            device_id=answer["device_id"],
            password=password,
        )

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server log (homeserver.log in base_dir)."""
        return read_tail(self.log_path, lines)

    def _failure_report(self) -> str:
        report = f"--- last lines of {self.log_path} ---\n{self.log_tail()}"
        output = read_tail(self.output_path, 20)
        if self.output_path.exists() and self.output_path.stat().st_size:
            report += f"\n--- last lines of {self.output_path} (stdout/stderr) ---\n{output}"
        return report

    def _wait_until_ready(self, timeout: float) -> None:
        probe = f"{self.url}/_matrix/client/versions"
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise SynapseServerError(f"Synapse exited with code {code} while starting\n{self._failure_report()}")
            try:
                _request("GET", probe, timeout=2)
                return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() >= deadline:
                raise SynapseServerError(
                    f"Synapse did not answer {probe} within {timeout:g} s\n{self._failure_report()}"
                )
            time.sleep(POLL_INTERVAL)


def _spawn(base_dir: Path, config: Path) -> subprocess.Popen[bytes]:
    on_main_thread = threading.current_thread() is threading.main_thread()
    with open(base_dir / "synapse.out", "ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "--config-path", str(config)],
            cwd=base_dir,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            # Own session: a Ctrl-C meant for the tests does not hit Synapse halfway; we stop it.
            start_new_session=True,
            # PR_SET_PDEATHSIG fires when the *thread* that forked exits, so only from the main one.
            preexec_fn=die_with_parent if sys.platform == "linux" and on_main_thread else None,
        )


@contextmanager
def running_synapse(base_dir: Path) -> Iterator[SynapseServer]:
    """Start a throwaway Synapse with its files in ``base_dir``; yield it; stop it at exit.

    Raises SynapseServerError, with the tail of the server log, when it does not start within
    START_TIMEOUT seconds. The port is picked free just before starting and retried (3 attempts)
    if another process grabs it in between.
    """
    base_dir = Path(base_dir).resolve()
    base_dir.mkdir(parents=True, exist_ok=True)
    (base_dir / "media_store").mkdir(exist_ok=True)
    if not (base_dir / "signing.key").exists():  # a reused base_dir keeps its key and database
        _write_signing_key(base_dir / "signing.key")
    shared_secret = secrets.token_hex(32)

    attempts = 3
    for attempt in range(1, attempts + 1):
        port = free_port()
        config = _write_config(base_dir, port, shared_secret)
        process = _spawn(base_dir, config)
        server = SynapseServer(base_dir, port, shared_secret, process)
        try:
            try:
                server._wait_until_ready(START_TIMEOUT)
            except SynapseServerError as exc:
                if "Address already in use" in str(exc) and attempt < attempts:
                    continue  # the finally below stops this attempt's process
                raise SynapseServerError(f"{exc}\n(attempt {attempt} of {attempts}, port {port})") from None
            yield server
            return
        finally:
            stop(process, STOP_TIMEOUT)
    raise AssertionError("unreachable")
