"""A throwaway Mastodon client API on 127.0.0.1 for the tests: ``mastodon_mock`` in a subprocess.

``mastodon_mock`` (PyPI) is a FastAPI + SQLite imitation of the Mastodon REST API with SSE
streaming, ``Idempotency-Key`` and a fault-injection control plane under ``/api/v1/_mock``.
It is started here as ``python -m mastodon_mock serve`` with a config file of our own, so it
reads nothing from the working tree (not even ``[tool.mastodon_mock]`` in pyproject.toml) and
keeps every file it writes (SQLite database, uploaded media, temp files, log) in ``base_dir``.

Accounts are made at run time through the mock-only ``POST /api/v1/_mock/dev_user`` (username
and a ready access token), then ``bot``/``note`` are set with the ordinary
``PATCH /api/v1/accounts/update_credentials``. Faults go through ``POST /api/v1/_mock/faults``;
the mock never faults its own ``/api/v1/_mock`` paths, so the control plane stays reachable.

A profile says which server the mock stands in for. MASTODON is the mock as it is. OTHER_SERVER
stands in for a server that speaks Mastodon's client API without being Mastodon, built from what
GoToSocial, Akkoma and Pleroma document and what the bot met on such a server (issue 15): it
describes itself with a "compatible" version, counts a status's characters as written (the mock
does, against 500) and refuses a long one with 400 "Status is too long" (not Mastodon's 422), has
no streaming API, fails on /api/v2/instance with a 500, and names its accounts by a domain
(`social.example`) other than the address its API is reached at (http://127.0.0.1:PORT). The
mock is configured for the first three; a small aiohttp front on its own port (``_Front``) turns
the 422 into a 400 and fails v2, passing everything else through, and counts what it passes.

No pytest here: stdlib, aiohttp and Mastodon.py only.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import mastodon
from aiohttp import web

from watchbot.processes import OPENER, die_with_parent, free_port, read_tail, stop
from watchbot.processes import request_json as _request

START_TIMEOUT = 30.0  # seconds; it answers in about 1.5 s on a 2-core machine
STOP_TIMEOUT = 5.0  # seconds of SIGTERM grace before SIGKILL (uvicorn waits for open requests)
POLL_INTERVAL = 0.05
_HTTP_TIMEOUT = 10.0
_LOG_TAIL_LINES = 40
# Seconds between the mock's ":thump" SSE comments. The mock only notices that a stream's client
# went away when it next writes, so a short beat lets a closed stream (and so a stop) end quickly.
_HEARTBEAT_SECONDS = 1.0

# inject_fault kinds -> the mock's effect types (mastodon_mock/faults.py).
_FAULT_TYPES = {
    "ratelimit": "ratelimit",
    "status": "status",
    "delay": "latency",
    "hang": "timeout",
    "malformed": "malformed",
}



@dataclass(frozen=True)
class Profile:
    """What the stand-in server is like (see the module's docstring)."""

    name: str
    domain: str | None = None  # the accounts' domain; None: the API's own host and port
    version: str | None = None  # what the instance says it is; None: the mock's Mastodon version
    streaming: bool = True
    too_long_status: int = 422  # how a status over the limit is refused
    v2_instance_status: int | None = None  # a status /api/v2/instance always fails with


MASTODON = Profile("mastodon")
OTHER_SERVER = Profile("other-server", domain="social.example", version="3.5.3 (compatible; GoToSocial 0.17.3)",
                       streaming=False, too_long_status=400, v2_instance_status=500)


class MastodonServerError(RuntimeError):
    """The throwaway Mastodon could not be started or used."""


@dataclass
class MastodonAccount:
    id: str
    acct: str  # local accounts: the bare username, as Mastodon reports them
    username: str
    access_token: str


# --------------------------------------------------------------------------- helpers


def _toml_str(value: str) -> str:
    # A JSON string literal is a valid TOML basic string for paths and host names.
    return json.dumps(value)


def _write_config(base_dir: Path, port: int, rate_limit: tuple[int, int] | None, profile: Profile = MASTODON) -> Path:
    config = base_dir / "mastodon_mock.toml"
    lines = [
        "# Written by tests/mastodon_server.py for one run of mastodon_mock.",
        # Status/account URLs point at this server, unless the profile's accounts live elsewhere.
        f"domain = {_toml_str(profile.domain or f'127.0.0.1:{port}')}",
        'url_scheme = "http"',
        f"media_storage_path = {_toml_str(str(base_dir / 'media'))}",
        *([f"mocked_version = {_toml_str(profile.version)}"] if profile.version else []),
        "",
        "[database]",
        f"path = {_toml_str(str(base_dir / 'mastodon_mock.sqlite3'))}",
        "",
        "[streaming]",
        f"enabled = {'true' if profile.streaming else 'false'}",
        f"heartbeat_seconds = {_HEARTBEAT_SECONDS}",
        "",
        "[seed]",  # no seeded accounts (the default seeds testuser/mock_token); tests make their own
        "accounts = []",
        "",
        "[ratelimit]",
    ]
    if rate_limit is None:
        lines.append("enabled = false")
    else:
        limit, window = rate_limit
        lines += ["enabled = true", f"limit = {int(limit)}", f"window_seconds = {int(window)}"]
    config.write_text("\n".join(lines) + "\n")
    return config


def _spawn(base_dir: Path, config: Path, port: int) -> subprocess.Popen[bytes]:
    on_main_thread = threading.current_thread() is threading.main_thread()
    (base_dir / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(base_dir / "tmp"), "PYTHONUNBUFFERED": "1"}
    with open(base_dir / "mastodon_mock.log", "ab") as output:
        return subprocess.Popen(
            [
                sys.executable, "-m", "mastodon_mock", "serve",
                "--config", str(config),
                "--host", "127.0.0.1",
                "--port", str(port),
                "--log-level", "info",  # one access-log line per request, for log_tail()
            ],
            cwd=base_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            # Own session: a Ctrl-C meant for the tests does not hit the server halfway; we stop it.
            start_new_session=True,
            # PR_SET_PDEATHSIG fires when the *thread* that forked exits, so only from the main one.
            preexec_fn=die_with_parent if sys.platform == "linux" and on_main_thread else None,
        )


# --------------------------------------------------------------------------- the front


@dataclass
class Passed:
    """A request the front passed on (or answered itself)."""

    at: float  # time.monotonic()
    method: str
    path: str
    status: int


@dataclass
class _Front:
    """An aiohttp server on its own thread and port, in front of the mock: answers as the
    profile's server would where it differs from Mastodon, and passes the rest through."""

    profile: Profile
    backend: str
    port: int = 0
    passed: list[Passed] = field(default_factory=list)
    # Refuse the status posted after `skip` more posts, once, with this status (a server refusing
    # for a reason of its own, half-way through a thread): (skip, status) or None.
    refusal: tuple[int, int] | None = None
    # Drop the Idempotency-Key header on its way to the mock: a server that does not honour it.
    ignores_idempotency: bool = False

    _HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"}

    def start(self) -> None:
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._failed: BaseException | None = None
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), daemon=True, name="mastodon-front")
        self._thread.start()
        if not started.wait(START_TIMEOUT) or self._failed is not None:
            raise MastodonServerError(f"the front of the stand-in did not start: {self._failed!r}")

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._open())
        except BaseException as error:  # noqa: BLE001 -- said by start()
            self._failed = error
            return
        finally:
            started.set()
        self._loop.run_forever()

    async def _open(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._pass)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self._session = aiohttp.ClientSession(auto_decompress=False, trust_env=False)

    def stop(self) -> None:
        async def close() -> None:
            await self._session.close()
            await self._runner.cleanup()

        if self._failed is None:
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(STOP_TIMEOUT)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STOP_TIMEOUT)
        self._loop.close()

    async def _pass(self, request: web.Request) -> web.StreamResponse:
        answer = await self._answer(request)
        self.passed.append(Passed(time.monotonic(), request.method, request.path, answer.status))
        return answer

    def refuse_a_post(self, *, skip: int, status: int = 403) -> None:
        self.refusal = (skip, status)

    async def _answer(self, request: web.Request) -> web.Response:
        if self.refusal is not None and request.method == "POST" and request.path == "/api/v1/statuses":
            skip, status = self.refusal
            self.refusal = (skip - 1, status) if skip else None
            if not skip:
                return web.json_response({"error": "This action is not allowed"}, status=status)
        if self.profile.v2_instance_status and request.path.rstrip("/") == "/api/v2/instance":
            return web.json_response({"error": "Internal server error"}, status=self.profile.v2_instance_status)
        dropped = self._HOP | ({"idempotency-key"} if self.ignores_idempotency else set())
        headers = {k: v for k, v in request.headers.items() if k.lower() not in dropped}
        async with self._session.request(request.method, self.backend + request.rel_url.path_qs, headers=headers,
                                         data=await request.read(), allow_redirects=False) as response:
            body = await response.read()
            if (response.status == 422 and request.path.startswith("/api/v1/statuses")
                    and b"too long" in body.lower()):
                return web.json_response({"error": "Status is too long"}, status=self.profile.too_long_status)
            kept = {k: v for k, v in response.headers.items() if k.lower() not in self._HOP}
            return web.Response(status=response.status, body=body, headers=kept)


# --------------------------------------------------------------------------- server


class MastodonServer:
    """A started mock Mastodon: its URL, accounts and clients on it, faults, and its log."""

    def __init__(self, base_dir: Path, port: int, process: subprocess.Popen[bytes],
                 profile: Profile = MASTODON, front: _Front | None = None) -> None:
        self.base_dir = base_dir
        self.port = port
        self.profile = profile
        self.front = front
        # Clients speak to the front where there is one: it is the server as the profile has it.
        self.url = f"http://127.0.0.1:{front.port if front else port}"
        self.domain = profile.domain or f"127.0.0.1:{port}"  # where its accounts live
        self.log_path = base_dir / "mastodon_mock.log"
        self.process = process

    def __repr__(self) -> str:
        return f"MastodonServer(url={self.url!r}, base_dir={str(self.base_dir)!r})"

    # ---------------------------------------------------------------- accounts and clients

    def create_account(self, username: str, *, bot: bool = False, note: str = "") -> MastodonAccount:
        """Create a local account with its own access token (scopes read write follow push).

        Usernames should match ``[A-Za-z0-9_]+``: the mock only recognises such ``@username``
        mentions, and case-sensitively. Raises MastodonServerError when the name is taken
        (also across restarts on the same base_dir: the database is kept there).
        """
        try:
            created = _request("POST", f"{self.url}/api/v1/_mock/dev_user", {"username": username})
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise MastodonServerError(f"creating account {username!r} failed: HTTP {exc.code} {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise MastodonServerError(f"creating account {username!r} failed: {exc}\n{self.log_tail()}") from exc
        token = created["access_token"]
        client = mastodon.Mastodon(api_base_url=self.url, access_token=token, ratelimit_method="throw",
                                   request_timeout=_HTTP_TIMEOUT)
        if bot or note:
            me = client.account_update_credentials(bot=bot, note=note)
        else:
            me = client.account_verify_credentials()
        return MastodonAccount(id=str(me["id"]), acct=me["acct"], username=me["username"], access_token=token)

    def client(self, account: MastodonAccount, **kwargs: Any) -> mastodon.Mastodon:
        """A Mastodon.py client logged in as ``account``.

        Defaults differ from Mastodon.py's in two ways, both overridable through ``kwargs``:
        ``ratelimit_method="throw"`` (Mastodon.py's "wait" sleeps until X-RateLimit-Reset, up to
        5 minutes) and ``request_timeout=10`` (instead of 300 s).
        """
        options: dict[str, Any] = {"ratelimit_method": "throw", "request_timeout": _HTTP_TIMEOUT}
        options.update(kwargs)
        return mastodon.Mastodon(api_base_url=self.url, access_token=account.access_token, **options)

    # ---------------------------------------------------------------- faults

    def inject_fault(
        self,
        kind: str,
        *,
        times: int | None = 1,
        path: str | None = None,
        methods: list[str] | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        delay: float = 0.0,
    ) -> str:
        """Make the next ``times`` matching requests misbehave; return the rule's id.

        ``kind``:
          - ``"ratelimit"``: 429 (or ``status``) with ``X-RateLimit-Limit: 300``,
            ``X-RateLimit-Remaining: 0``, ``X-RateLimit-Reset: <now + 300 as epoch seconds>``
            and ``Retry-After: 300``; ``headers`` override any of them (Mastodon itself sends
            the reset as an ISO 8601 time; Mastodon.py reads both forms).
          - ``"status"``: just that status (default 503) and ``{"error": ...}``, no rate-limit
            headers unless given in ``headers``: ``status=429`` is a 429 without a reset time.
          - ``"delay"``: answer normally after ``delay`` seconds.
          - ``"hang"``: hold the request ``max(delay, 30)`` seconds, then answer normally.
          - ``"malformed"``: 200 with a truncated JSON body.
        For ``delay`` and ``hang`` the wait comes *before* the request reaches the API: a client
        that gives up meanwhile makes the mock drop the request (nothing is written), so this
        models a request lost on the way, never "applied, but the answer was lost".

        ``path`` is the exact URL path (``/api/v1/notifications``) or a glob with ``*``
        (``/api/v1/statuses/*``); None matches every request, including the ``/api/v1/instance``
        look-ups Mastodon.py makes before opening a stream. ``methods`` limits it to those HTTP
        methods. ``times=None`` keeps the rule until removed. A request takes the first rule that
        matches, in the order they were added.
        """
        if kind not in _FAULT_TYPES:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(_FAULT_TYPES)}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for until removed)")
        effect: dict[str, Any] = {"type": _FAULT_TYPES[kind], "delay_ms": int(delay * 1000)}
        if status is not None:
            effect["status"] = status
        elif kind == "status":
            effect["status"] = 503
        if headers:
            effect["headers"] = headers
        if body is not None:
            effect["body"] = body
        rule = {
            "match": {"path": path, "methods": [m.upper() for m in methods] if methods else None},
            "effect": effect,
            "count": times,
        }
        return str(self._control("POST", "/api/v1/_mock/faults", rule)["id"])

    def faults(self) -> list[dict[str, Any]]:
        """The rules still active, each with ``remaining`` (None: until removed)."""
        return list(self._control("GET", "/api/v1/_mock/faults"))

    def remove_fault(self, fault_id: str) -> None:
        self._control("DELETE", f"/api/v1/_mock/faults/{fault_id}")

    def clear_faults(self) -> None:
        self._control("DELETE", "/api/v1/_mock/faults")

    def reset(self) -> None:
        """Drop every account, status, notification and fault (the mock's own reset)."""
        self._control("POST", "/api/v1/_mock/reset")

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        try:
            return _request(method, self.url + path, body)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise MastodonServerError(f"{method} {path} failed: HTTP {exc.code} {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise MastodonServerError(f"{method} {path} failed: {exc}\n{self.log_tail()}") from exc

    # ---------------------------------------------------------------- log and lifecycle

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server's output (uvicorn log, one line per request)."""
        return read_tail(self.log_path, lines)

    def _wait_until_ready(self, timeout: float) -> None:
        probe = f"http://127.0.0.1:{self.port}/health"
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise MastodonServerError(
                    f"mastodon_mock exited with code {code} while starting\n"
                    f"--- last lines of {self.log_path} ---\n{self.log_tail()}"
                )
            try:
                with OPENER.open(probe, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() >= deadline:
                raise MastodonServerError(
                    f"mastodon_mock did not answer {probe} within {timeout:g} s\n"
                    f"--- last lines of {self.log_path} ---\n{self.log_tail()}"
                )
            time.sleep(POLL_INTERVAL)


@contextmanager
def running_mastodon(
    base_dir: Path,
    *,
    start_timeout: float = START_TIMEOUT,
    rate_limit: tuple[int, int] | None = None,
    profile: Profile = MASTODON,
) -> Iterator[MastodonServer]:
    """Start mastodon_mock on a free 127.0.0.1 port with its files in ``base_dir``; stop it at exit.

    ``rate_limit=(limit, window_seconds)`` turns on the mock's own limiter: every response then
    carries ``X-RateLimit-Limit/Remaining/Reset`` (reset as epoch seconds) and request
    ``limit + 1`` within the window gets a 429, counted per access token; requests without a
    token, including this harness's own control calls, share one bucket. Off by default, as
    then no response carries rate-limit headers.

    A reused base_dir keeps its database (accounts, statuses). Raises MastodonServerError, with
    the tail of the server log, when it does not start within ``start_timeout`` seconds; the
    port is picked just before starting and retried (3 attempts) if it was taken meanwhile.
    """
    base_dir = Path(base_dir).resolve()
    base_dir.mkdir(parents=True, exist_ok=True)
    (base_dir / "media").mkdir(exist_ok=True)

    attempts = 3
    for attempt in range(1, attempts + 1):
        port = free_port()
        config = _write_config(base_dir, port, rate_limit, profile)
        process = _spawn(base_dir, config, port)
        server = MastodonServer(base_dir, port, process)
        front = None
        try:
            try:
                server._wait_until_ready(start_timeout)
            except MastodonServerError as exc:
                if "address already in use" in str(exc).lower() and attempt < attempts:
                    continue  # the finally below stops this attempt's process
                raise MastodonServerError(f"{exc}\n(attempt {attempt} of {attempts}, port {port})") from None
            if profile != MASTODON:
                front = _Front(profile, server.url)
                front.start()
            yield MastodonServer(base_dir, port, process, profile, front)
            return
        finally:
            if front is not None:
                front.stop()
            stop(process, STOP_TIMEOUT)
    raise AssertionError("unreachable")
