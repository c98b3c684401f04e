"""`watchbot demo` as a newcomer runs it: a real Synapse, the real bot, what is printed, and
nothing left running afterwards (after the tour, and after Ctrl-C)."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchbot.cli import cli
from watchbot.devserver import synapse_installed

ROOT = Path(__file__).resolve().parent.parent
#: The whole demo (Synapse start, tour, stop) takes about 5 s; this is only a hang guard.
DEMO_TIMEOUT = 120

needs_synapse = pytest.mark.skipif(
    not synapse_installed() and os.environ.get("WATCHBOT_TEST_MATRIX") == "skip",
    reason="Matrix tests left out: WATCHBOT_TEST_MATRIX=skip",
)


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("WATCHBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env is read


def require_synapse() -> None:
    # Same policy as the other Matrix tests: a missing homeserver fails, unless told to skip.
    if not synapse_installed():
        pytest.fail("matrix-synapse is not installed (pip install -e '.[test]'), "
                    "or run with WATCHBOT_TEST_MATRIX=skip to leave these tests out")


def homeserver_of(output: str) -> tuple[str, int]:
    match = re.search(r"Homeserver\s+http://(127\.0\.0\.1):(\d+)", output)
    assert match, output
    return match[1], int(match[2])


def directory_of(output: str) -> Path:
    match = re.search(r"its files in (\S+)", output)
    assert match, output
    return Path(match[1])


def refuses_connections(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, port)) != 0


@needs_synapse
@pytest.mark.timeout(DEMO_TIMEOUT)  # a hang guard: the demo fails by then rather than hanging
def test_the_demo_shows_the_bot_answering_real_messages_and_leaves_nothing_running():
    require_synapse()
    result = CliRunner().invoke(cli, ["demo", "--no-wait"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    output = result.output

    # The first link: filed, 🔖; tags from its hashtags.
    assert ("demo: Async closures are stable! https://blog.rust-lang.org/2025/02/20/Rust-1.85.0.html #rust #Release\n"
            "  bot reacts 🔖\n") in output
    # The same link again, with tracking parameters, from carol: 🔁 and a threaded reply naming demo.
    assert re.search(r"carol: Same one, via the newsletter: .*utm_source=newsletter.*\n"
                     r"  bot reacts 🔁\n"
                     r"  bot replies in a thread: Already shared by demo on \d{4}-\d\d-\d\d \(#1\)", output), output
    # A notice (what bots send) and a message without links: nothing said, nothing filed.
    assert re.search(r"demo \(m\.notice, as bots send\): .*\n  bot: nothing \(a notice", output), output
    assert re.search(r"carol: this one is not a link: .*\n  bot: nothing \(no link in it\)", output), output
    filed = output.split("What the bot filed")[1].split("watchbot tags")[0]
    assert "github.com/rust-lang" not in filed
    assert "https://peps.python.org/pep-0703/ [python]" in filed
    assert "https://docs.python.org/3/howto/free-threading-python.html [python]" in filed
    assert "https://blog.rust-lang.org/2025/02/20/Rust-1.85.0.html [release, rust] (2 shares)" in filed
    assert re.search(r"\n  python\s+2\n", output), output

    # How to connect: a URL on 127.0.0.1, the user and its password, the room.
    host, port = homeserver_of(output)
    assert re.search(r"User\s+demo\s+\(@demo:localhost\)\n\s+Password\s+\S{8,}\n", output), output
    assert re.search(r"Room\s+#watch-demo:localhost \(!\S+\)", output), output

    # Nothing left behind: the homeserver is down and its throwaway directory is gone.
    assert refuses_connections(host, port)
    assert not directory_of(output).exists()
    assert "removed" in output.splitlines()[-1]


@needs_synapse
def test_ctrl_c_after_the_tour_stops_everything_cleanly(tmp_path: Path):
    require_synapse()
    process = subprocess.Popen(
        [sys.executable, "-m", "watchbot", "demo"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        seen: list[str] = []
        deadline = time.monotonic() + DEMO_TIMEOUT
        while not seen or "Following the room" not in seen[-1]:  # the tour, up to where it waits
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "".join(seen) + process.stderr.read()
            seen.append(line)
        output = "".join(seen)
        host, port = homeserver_of(output)
        assert "Ctrl-C stops the bot and the homeserver" in output
        assert not refuses_connections(host, port)  # up while it waits

        process.send_signal(signal.SIGINT)
        process.wait(timeout=DEMO_TIMEOUT)
        errors = process.stderr.read()
        rest = "".join(iter(lines.get, None))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode in (0, 130), errors
    assert "Traceback" not in errors, errors
    assert "Stopped: the homeserver is down" in rest
    assert refuses_connections(host, port)
    assert not directory_of(output).exists()


def test_without_synapse_the_demo_says_what_to_install_in_one_line(monkeypatch):
    monkeypatch.setattr("watchbot.demo.synapse_installed", lambda: False)
    result = CliRunner().invoke(cli, ["demo", "--no-wait"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: the demo runs a local Matrix homeserver, and matrix-synapse is not installed: "
        "pip install 'watchbot[demo]'"
    ]
