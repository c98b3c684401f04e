"""The command line: file, list, search, export and import links without any chat network.

The root group only: each command lives in a module of its own under watchbot/cli/, imported
when it runs (see lazy.py). A new command is one line in COMMANDS.
"""

from __future__ import annotations

from pathlib import Path

import click

from watchbot import __version__
from watchbot.cli.context import Context, with_store
from watchbot.cli.lazy import LazyGroup

__all__ = ["COMMANDS", "Context", "cli", "main", "with_store"]

# name -> "module:attribute" of the click command or group.
COMMANDS = {
    "check": "watchbot.cli.health:check_command",
    "demo": "watchbot.cli.running:demo_command",
    "digest": "watchbot.cli.digest:digest",
    "export": "watchbot.cli.transfer:export_command",
    "failed": "watchbot.cli.failed:failed",
    "feeds": "watchbot.cli.feeds:feeds",
    "import": "watchbot.cli.transfer:import_command",
    "links": "watchbot.cli.links:links",
    "login": "watchbot.cli.login:login",
    "mod": "watchbot.cli.mod:mod",
    "modlog": "watchbot.cli.links:modlog_command",
    "outbox": "watchbot.cli.outbox:outbox",
    "rooms": "watchbot.cli.rooms:rooms",
    "run": "watchbot.cli.running:run_command",
    "status": "watchbot.cli.health:status_command",
    "tags": "watchbot.cli.links:tags_command",
    "web": "watchbot.cli.web:web",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--env-file",
    default=".env",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Settings file read beside the WATCHBOT_* environment variables.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens in detail.")
@click.version_option(__version__, prog_name="watchbot")
@click.pass_context
def cli(click_ctx: click.Context, env_file: str, verbose: bool) -> None:
    """watchbot: a community's tech watch, filed, searched and digested."""
    from watchbot import logs

    logs.start(verbose)  # WATCHBOT_LOG_LEVEL and WATCHBOT_LOG_FORMAT once settings load
    named = click_ctx.get_parameter_source("env_file") is not click.core.ParameterSource.DEFAULT
    if named and not Path(env_file).is_file() and click_ctx.invoked_subcommand != "login":
        raise click.BadParameter(f"{env_file} does not exist", param_hint="--env-file")
    click_ctx.obj = Context(env_file, verbose)


def main() -> None:
    cli(prog_name="watchbot")
