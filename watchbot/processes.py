"""Throwaway servers on loopback, run as child processes: the demo's homeserver, the test peers.

What every such server needs the same way: a free port, JSON requests that never go through a
proxy from the environment, the tail of its log when it fails, and a stop that leaves nothing
running, even when the parent is killed or interrupted.
"""

from __future__ import annotations

import ctypes
import json
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

# Never send requests for 127.0.0.1 through an http_proxy from the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request_json(method: str, url: str, body: Any = None, *, timeout: float = 30.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with OPENER.open(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def read_tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no file at {path}: {exc})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"({path.name} is empty)"


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """For preexec_fn: on Linux, SIGTERM the child if the process that started it dies without
    cleaning up (e.g. pytest killed with SIGKILL, where no finally block runs). It fires when the
    *thread* that forked exits, so pass it only from the main thread."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds; interrupted meanwhile, still kill it."""
    if process.poll() is not None:
        return
    try:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            pass
        process.kill()
        process.wait(timeout=timeout)
    except BaseException:
        # Interrupted while stopping (e.g. a second Ctrl-C): still leave nothing running.
        if process.poll() is None:
            process.kill()
            process.wait()
        raise
