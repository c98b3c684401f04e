"""`watchbot check --online`: logged in to the real Synapse and the Mastodon stand-in, with good
and bad tokens, an unreachable server, a room where the bot may not speak, a store it cannot write."""

from __future__ import annotations

import uuid

import nio
from click.testing import CliRunner

from tests.matrix_helpers import client_for, create_room
from watchbot.cli import cli
from watchbot.networks.fediverse.check import FediverseCheckOptions, check_fediverse
from watchbot.networks.matrix.check import MatrixCheckOptions, check_matrix
from watchbot.processes import free_port


def run_check(tmp_path, **env: str):
    env = {"WATCHBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}", **env}
    return CliRunner().invoke(cli, ["--env-file", str(_empty_env(tmp_path)), "check", "--online"], env=env)


def _empty_env(tmp_path):
    path = tmp_path / "empty.env"
    path.touch()
    return path


def matrix_env(synapse, user, token: str | None = None) -> dict[str, str]:
    return {"WATCHBOT_MATRIX_HOMESERVER": synapse.url, "WATCHBOT_MATRIX_USER_ID": user.user_id,
            "WATCHBOT_MATRIX_ACCESS_TOKEN": token or user.access_token,
            "WATCHBOT_MATRIX_DEVICE_ID": user.device_id,
            "WATCHBOT_MATRIX_ALLOWED_INVITERS": "@owner:example.org"}


def test_a_good_matrix_login_says_who_the_bot_is_and_where(synapse, tmp_path):
    bot = synapse.register(f"watchbot{uuid.uuid4().hex[:8]}")
    result = run_check(tmp_path, **matrix_env(synapse, bot))
    assert result.exit_code == 0, result.output
    assert f"Matrix: logged in as {bot.user_id} on {synapse.url}" in result.output
    assert "Matrix: in 0 room(s)" in result.output
    assert "may be invited by @owner:example.org" in result.output
    assert "(writable)" in result.output


def test_a_refused_matrix_token_is_one_line_saying_how_to_log_in_again(synapse, tmp_path):
    bot = synapse.register(f"watchbot{uuid.uuid4().hex[:8]}")
    result = run_check(tmp_path, **matrix_env(synapse, bot, token="syt_not_a_real_token_s3cret"))
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith(f"Matrix: {synapse.url} refused the access token")
    assert line.endswith("log in again with `watchbot login matrix`")
    assert "s3cret" not in result.output and "Traceback" not in result.output


def test_an_unreachable_homeserver_is_one_line_naming_it(tmp_path):
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = {"WATCHBOT_MATRIX_HOMESERVER": nowhere, "WATCHBOT_MATRIX_USER_ID": "@bot:example.org",
           "WATCHBOT_MATRIX_ACCESS_TOKEN": "syt_x", "WATCHBOT_MATRIX_ALLOWED_INVITERS": "@o:example.org"}
    result = run_check(tmp_path, **env)
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith(f"Matrix: cannot reach {nowhere}") and "WATCHBOT_MATRIX_HOMESERVER" in line


async def test_the_checks_need_only_their_options_and_never_show_a_token():
    nowhere = f"http://127.0.0.1:{free_port()}"
    matrix = MatrixCheckOptions(nowhere, "@bot:example.org", "syt_s3cret", allowed_inviters=("@o:example.org",))
    mastodon = FediverseCheckOptions(nowhere, "masto-s3cret")
    found = [await check_matrix(matrix), await _in_thread(check_fediverse, mastodon)]
    assert [f.facts for f in found] == [[], []]
    [matrix_problem], [mastodon_problem] = (f.problems for f in found)
    assert matrix_problem.startswith(f"Matrix: cannot reach {nowhere}")
    assert mastodon_problem.startswith(f"Mastodon: cannot reach {nowhere}")
    assert "s3cret" not in f"{found} {matrix!r} {mastodon!r}"  # nor in a log line or traceback showing the options


async def test_a_room_where_the_bot_may_not_speak_is_a_problem(synapse, tmp_path):
    owner = synapse.register(f"owner{uuid.uuid4().hex[:8]}")
    bot = synapse.register(f"watchbot{uuid.uuid4().hex[:8]}")
    owner_client, bot_client = await client_for(synapse, owner), await client_for(synapse, bot)
    try:
        room = await create_room(owner_client, bot_client)
        levels = await owner_client.room_get_state_event(room, "m.room.power_levels")
        content = {**levels.content, "events_default": 50}
        assert isinstance(await owner_client.room_put_state(room, "m.room.power_levels", content),
                          nio.RoomPutStateResponse)
    finally:
        await owner_client.close()
        await bot_client.close()
    result = await _in_thread(run_check, tmp_path, **matrix_env(synapse, bot))
    assert result.exit_code == 1
    assert f"Matrix: the bot may not send messages in {room}" in result.output
    assert "Matrix: in 1 room(s)" not in result.output  # facts are for a check that passed


def test_a_good_mastodon_login_says_who_the_bot_is(mastodon_server, tmp_path):
    account = mastodon_server.create_account(f"watch{uuid.uuid4().hex[:8]}", bot=True)
    result = run_check(tmp_path, WATCHBOT_FEDIVERSE_INSTANCE=mastodon_server.url,
                       WATCHBOT_FEDIVERSE_ACCESS_TOKEN=account.access_token)
    assert result.exit_code == 0, result.output
    assert f"Mastodon: logged in as @{account.acct} on {mastodon_server.url}" in result.output


def test_a_refused_mastodon_token_is_one_line_saying_how_to_log_in_again(mastodon_server, tmp_path):
    result = run_check(tmp_path, WATCHBOT_FEDIVERSE_INSTANCE=mastodon_server.url,
                       WATCHBOT_FEDIVERSE_ACCESS_TOKEN="not-a-token-s3cret")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Mastodon: {mastodon_server.url} refused the access token; log in again with `watchbot login fediverse`"]


def test_a_store_the_bot_may_read_but_not_write_is_a_problem(postgres_server, tmp_path):
    """A PostgreSQL user given SELECT only: the store opens, so only a write shows it."""
    import psycopg
    from sqlalchemy.engine import make_url

    from tests.postgres_server import create_database

    url = create_database(postgres_server, f"t_{uuid.uuid4().hex[:12]}")
    assert CliRunner().invoke(cli, ["links", "list"], env={"WATCHBOT_DATABASE_URL": url}).exit_code == 0
    reader = f"reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {reader} LOGIN")
        connection.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}")
    read_only = make_url(url).set(username=reader, password=None).render_as_string(hide_password=False)
    result = CliRunner().invoke(cli, ["--env-file", str(_empty_env(tmp_path)), "check", "--online"],
                                env={"WATCHBOT_DATABASE_URL": read_only})
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith("WATCHBOT_DATABASE_URL: the store cannot be written to (permission denied for table")
    plain = CliRunner().invoke(cli, ["--env-file", str(_empty_env(tmp_path)), "check"],
                               env={"WATCHBOT_DATABASE_URL": read_only})
    assert plain.exit_code == 0  # without --online, nothing is written: a health check stays read-only


async def _in_thread(function, *args, **kwargs):
    import asyncio

    return await asyncio.to_thread(function, *args, **kwargs)
