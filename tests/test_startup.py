"""Start-up: a command imports what it needs when it needs it. `watchbot --version` neither the
settings nor the store, a command on a store that is current never Alembic, and every command
of the lazy group is still there, under its name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from click.testing import CliRunner

from watchbot.cli import COMMANDS, cli
from watchbot.store.database import MIGRATIONS, known_revisions

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("alembic", "sqlalchemy", "pydantic", "pydantic_settings", "nio", "mastodon", "feedparser", "aiohttp")


def imported_by(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[str, set[str]]:
    """Run `watchbot ARGS` in a fresh interpreter: its output, and which of HEAVY it imported."""
    program = ("import json, sys\n"
               "from watchbot.cli import main\n"
               f"sys.argv = ['watchbot', *{list(args)!r}]\n"
               "try:\n    main()\nexcept SystemExit:\n    pass\n"
               f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))\n")
    environment = {**{k: v for k, v in os.environ.items() if not k.startswith("WATCHBOT_")},
                   "PYTHONPATH": str(ROOT), **(env or {})}
    done = subprocess.run([sys.executable, "-c", program], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=120, check=True)
    output, _, modules = done.stdout.rstrip("\n").rpartition("\n")
    return output, set(json.loads(modules))


def test_the_version_is_printed_without_importing_the_settings_or_the_store(tmp_path):
    output, modules = imported_by("--version", cwd=tmp_path)
    assert output == "watchbot, version 0.1.0"
    assert modules == set()


def test_a_command_on_a_current_store_does_not_import_alembic(tmp_path):
    env = {"WATCHBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    _, first = imported_by("links", "list", cwd=tmp_path, env=env)
    assert "alembic" in first  # a new store: created by the migrations
    output, again = imported_by("links", "list", cwd=tmp_path, env=env)
    assert output == ""  # no links yet, and no error
    assert "sqlalchemy" in again and "alembic" not in again
    assert not {"nio", "feedparser", "aiohttp"} & again  # nothing of the bot's networks, feeds or fetching


def test_the_schemas_head_is_read_from_the_migrations_as_alembic_reads_it():
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    revisions, head = known_revisions()
    assert head == scripts.get_current_head()
    assert revisions == {script.revision for script in scripts.walk_revisions()}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_lazy_command_loads_under_its_name(name: str):
    command = cli.get_command(click.Context(cli), name)
    assert isinstance(command, click.Command) and command.name == name


def test_help_lists_every_command():
    listed = CliRunner().invoke(cli, ["--help"]).output.split("Commands:")[1]
    assert [line.split()[0] for line in listed.strip().splitlines()] == sorted(COMMANDS)
