"""`watchbot login …`: log the bot in to a network once; the token goes to the env file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from dotenv import dotenv_values

from watchbot.cli.context import Context


@click.group()
def login() -> None:
    """Log the bot in to a network once; the token is written to the env file."""


@login.command("matrix")
@click.option("--homeserver", prompt="Homeserver URL (https://matrix.example.org)", help="The homeserver's URL.")
@click.option("--user", prompt="Bot user (@watchbot:example.org)", help="The bot account's user id.")
@click.password_option(prompt="Password (used once, never stored)", confirmation_prompt=False)
@click.pass_obj
def login_matrix(ctx: Context, homeserver: str, user: str, password: str) -> None:
    """Log in with a password, asked once; write the access token and device id to the env file."""
    from watchbot.config import save_settings
    from watchbot.networks.matrix.login import LoginFailed, log_in

    if not homeserver.startswith(("https://", "http://")):
        raise click.BadParameter("must start with https:// (or http:// for a local test server)",
                                 param_hint="--homeserver")
    env_file = Path(ctx.env_file or ".env")
    # Logging in again on the same bot reuses its device, when the env file names one.
    known = dotenv_values(env_file) if env_file.is_file() else {}
    same_bot = known.get("WATCHBOT_MATRIX_USER_ID") in (user, None)
    try:
        login = asyncio.run(log_in(homeserver, user, password,
                                   known.get("WATCHBOT_MATRIX_DEVICE_ID") if same_bot else None))
    except LoginFailed as error:
        raise click.ClickException(str(error)) from None
    save_settings(env_file, login.as_settings())  # other lines kept; readable by its owner only
    click.echo(f"Logged in as {login.user_id} (device {login.device_id}); settings written to {env_file}.")


@login.command("fediverse")
@click.option("--instance", prompt="Server URL (https://mastodon.example)", help="The bot account's server.")
@click.pass_obj
def login_fediverse(ctx: Context, instance: str) -> None:
    """Authorise watchbot on the bot's Mastodon account once; write the token to the env file."""
    from watchbot.config import save_settings
    from watchbot.networks.fediverse.login import LoginFailed, finish, register

    if not instance.startswith(("https://", "http://")):
        raise click.BadParameter("must start with https://", param_hint="--instance")
    instance = instance.rstrip("/")
    try:
        client_id, client_secret, url = register(instance)
        click.echo(f"Open this address, log in as the bot's account, and authorise watchbot:\n  {url}")
        code = click.prompt("Then paste the code the server shows")
        token, acct = finish(instance, client_id, client_secret, code)
    except LoginFailed as error:
        raise click.ClickException(str(error)) from None
    env_file = Path(ctx.env_file or ".env")
    save_settings(env_file, {"WATCHBOT_FEDIVERSE_INSTANCE": instance, "WATCHBOT_FEDIVERSE_ACCESS_TOKEN": token})
    click.echo(f"Logged in as @{acct}, flagged as a bot, mentions from strangers accepted; "
               f"settings written to {env_file}.")
