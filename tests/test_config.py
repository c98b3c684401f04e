"""Settings: defaults that work, overrides that are read, mistakes told one line each."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from watchbot.config import ConfigError, Settings, load_settings, unknown_settings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in list(__import__("os").environ):
        if name.startswith("WATCHBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


def test_defaults_need_no_configuration(tmp_path):
    settings = load_settings(None)
    assert settings.database_url == f"sqlite:///{tmp_path / 'xdg' / 'watchbot' / 'watchbot.db'}"
    assert settings.max_links_per_post == 20
    assert settings.tag_aliases == {}


def test_environment_and_env_file_are_read(monkeypatch, tmp_path):
    env_file = tmp_path / "watchbot.env"
    env_file.write_text("WATCHBOT_TAG_ALIASES=Py=Python, js=javascript\nWATCHBOT_TIMEZONE=Europe/Paris\n")
    monkeypatch.setenv("WATCHBOT_MAX_LINKS_PER_POST", "5")
    settings = load_settings(env_file)
    assert settings.tag_aliases == {"py": "python", "js": "javascript"}
    assert settings.timezone == "Europe/Paris"
    assert settings.max_links_per_post == 5


def test_every_problem_is_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv("WATCHBOT_MAX_LINKS_PER_POST", "lots")
    monkeypatch.setenv("WATCHBOT_TIMEZONE", "Mars/Olympus")
    monkeypatch.setenv("WATCHBOT_TAG_ALIASES", "py")
    monkeypatch.setenv("WATCHBOT_DATABASE_URL", "mysql://db/watchbot")
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    problems = caught.value.problems
    assert len(problems) == 4
    assert all("\n" not in p for p in problems)
    by_name = {p.split(":")[0]: p for p in problems}
    assert "'lots'" in by_name["WATCHBOT_MAX_LINKS_PER_POST"]
    assert "unknown timezone 'Mars/Olympus'" in by_name["WATCHBOT_TIMEZONE"]
    assert "alias=tag" in by_name["WATCHBOT_TAG_ALIASES"]
    assert "postgresql://" in by_name["WATCHBOT_DATABASE_URL"]


def test_a_misspelt_setting_is_named_with_a_suggestion(monkeypatch, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("WATCHBOT_DATABSE_URL=sqlite:///x.db\n")
    monkeypatch.setenv("WATCHBOT_TIMEZON", "UTC")
    problems = unknown_settings(env_file)
    assert problems == [
        "WATCHBOT_DATABSE_URL: no such setting; did you mean WATCHBOT_DATABASE_URL?",
        "WATCHBOT_TIMEZON: no such setting; did you mean WATCHBOT_TIMEZONE?",
    ]


def test_the_test_suites_own_switches_are_not_taken_for_misspelt_settings(monkeypatch, tmp_path):
    # CI sets WATCHBOT_TEST_BROWSER=require; `watchbot check` run by a test must not refuse it.
    monkeypatch.setenv("WATCHBOT_TEST_BROWSER", "require")
    monkeypatch.setenv("WATCHBOT_BENCH_GAP", "10000")
    monkeypatch.setenv("WATCHBOT_TIMEZON", "UTC")
    assert unknown_settings(tmp_path / "none.env") == [
        "WATCHBOT_TIMEZON: no such setting; did you mean WATCHBOT_TIMEZONE?"]


def test_env_example_lists_every_setting_and_loads_as_is():
    example = (REPO / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*(WATCHBOT_[A-Z_]+)=", example, flags=re.MULTILINE))
    assert listed == {"WATCHBOT_" + name.upper() for name in Settings.model_fields}
    assert unknown_settings(REPO / ".env.example", environ={}) == []
    load_settings(REPO / ".env.example")  # every value in it is valid


def test_a_database_url_or_token_is_never_repeated_in_an_error(monkeypatch):
    monkeypatch.setenv("WATCHBOT_DATABASE_URL", "mysql://u:secretpw@h/db")
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    assert "secretpw" not in str(caught.value) and caught.value.problems[0].startswith("WATCHBOT_DATABASE_URL: ")


def test_an_unreadable_env_file_is_a_problem_not_a_crash_or_a_lost_line(tmp_path):
    binary = tmp_path / "binary.env"
    binary.write_bytes(b"\xff\xfeW\x00")
    with pytest.raises(ConfigError) as caught:
        load_settings(binary)
    assert caught.value.problems == [f"{binary}: not UTF-8 text (byte 0); save it as UTF-8"]

    unclosed = tmp_path / "unclosed.env"
    unclosed.write_text('WATCHBOT_TIMEZONE=UTC\nWATCHBOT_DATABASE_URL="postgresql://db/x\nWATCHBOT_LOG_LEVEL=INFO\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(unclosed)
    assert caught.value.problems == [f"{unclosed}:2: not a NAME=value line (an unclosed quote?)"]


def test_the_web_port_needs_the_public_address_said_in_one_line(monkeypatch):
    monkeypatch.setenv("WATCHBOT_WEB_PORT", "8080")
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    assert caught.value.problems == [
        "WATCHBOT_WEB_PORT needs WATCHBOT_WEB_BASE_URL: the public address of the pages, such as "
        "https://watch.example.org"]
    monkeypatch.setenv("WATCHBOT_WEB_BASE_URL", "watch.example.org")
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    assert caught.value.problems == [
        "WATCHBOT_WEB_BASE_URL: must be the web pages' public address, such as https://watch.example.org "
        "(got 'watch.example.org')"]
    monkeypatch.setenv("WATCHBOT_WEB_BASE_URL", "https://watch.example.org/")
    settings = load_settings(None)
    assert (settings.web_port, settings.web_host, settings.web_base_url) == (8080, "127.0.0.1",
                                                                               "https://watch.example.org")


def test_a_digest_points_to_its_weeks_page_once_the_pages_have_an_address():
    from datetime import datetime, timezone

    from watchbot.model import Period

    period = Period(datetime(2026, 11, 27, 17, tzinfo=timezone.utc), datetime(2026, 12, 4, 17, tzinfo=timezone.utc))
    old = Settings(_env_file=None, digest_archive_url="https://old.example/archive")
    assert old.digest_archive_for(period) == "https://old.example/archive"
    both = Settings(_env_file=None, digest_archive_url="https://old.example/archive",
                    web_base_url="https://watch.example.org")
    assert both.digest_archive_for(period) == "https://watch.example.org/weeks/2026-W49"


# -- each component's own options, as `watchbot run` and the commands build them ----------------


def test_each_components_options_default_as_the_settings_do(monkeypatch):
    # Tests and benchmarks build components from their options' defaults: a watch left unconfigured.
    from watchbot.feeds.poller import FeedOptions
    from watchbot.fetch import FetchOptions
    from watchbot.intake import Rules
    from watchbot.web.site import WebOptions

    monkeypatch.setenv("WATCHBOT_WEB_BASE_URL", "https://watch.example.org")
    settings = load_settings(None)
    assert FetchOptions.from_settings(settings) == FetchOptions()
    assert FeedOptions.from_settings(settings) == FeedOptions()
    assert Rules.from_settings(settings) == Rules()
    assert WebOptions.from_settings(settings) == WebOptions(base_url="https://watch.example.org")


def test_each_components_options_are_read_from_the_settings_they_name(monkeypatch):
    from datetime import timedelta
    from ipaddress import ip_network

    from watchbot.feeds.poller import FeedOptions
    from watchbot.fetch import FetchOptions
    from watchbot.intake import Rules
    from watchbot.networks.fediverse.check import FediverseCheckOptions
    from watchbot.networks.matrix.check import MatrixCheckOptions
    from watchbot.web.site import WebOptions

    token = "web-api-s3cret-token"
    for name, value in {
        "FETCH_CONTACT": "ops@watch.example.org", "FETCH_ALLOW_NETWORKS": "10.0.0.0/8", "FETCH_TIMEOUT_SECONDS": "3.5",
        "FETCH_CONCURRENCY": "4", "FETCH_PER_HOST": "1", "FEEDS_EVERY": "2h", "TAG_ALIASES": "py=python",
        "MAX_LINKS_PER_POST": "5", "WEB_BASE_URL": "https://watch.example.org/", "WEB_HOST": "0.0.0.0",
        "WEB_PORT": "8080", "TIMEZONE": "Europe/Paris", "DIGEST_SCHEDULE": "0 9 * * mon", "DIGEST_TOP": "5",
        "FEEDS_DIGEST_CAP": "3", "COMMAND_PREFIX": "!w", "WEB_API_TOKEN": token,
        "MATRIX_HOMESERVER": "https://matrix.example.org", "MATRIX_USER_ID": "@bot:example.org",
        "MATRIX_ACCESS_TOKEN": "syt_s3cret", "MATRIX_DEVICE_ID": "DEVICE",
        "MATRIX_ALLOWED_INVITERS": "@owner:example.org",
        "FEDIVERSE_INSTANCE": "https://social.example/", "FEDIVERSE_ACCESS_TOKEN": "masto-s3cret",
    }.items():
        monkeypatch.setenv(f"WATCHBOT_{name}", value)
    settings = load_settings(None)
    fetch = FetchOptions("ops@watch.example.org", (ip_network("10.0.0.0/8"),), 3.5, 4, 1)
    assert FetchOptions.from_settings(settings) == fetch
    assert FeedOptions.from_settings(settings) == FeedOptions(timedelta(hours=2), fetch, Rules({"py": "python"}, 5))
    web = WebOptions.from_settings(settings)
    assert web == WebOptions(
        base_url="https://watch.example.org", host="0.0.0.0", port=8080, timezone="Europe/Paris",
        digest_schedule="0 9 * * mon", digest_top=5, feeds_digest_cap=3, command_prefix="!w",
        fediverse_instance="https://social.example", tag_aliases={"py": "python"}, api_token=token,
        networks=("matrix", "mastodon"))
    matrix = MatrixCheckOptions.from_settings(settings)
    assert matrix == MatrixCheckOptions("https://matrix.example.org", "@bot:example.org", "syt_s3cret", "DEVICE",
                                        ("@owner:example.org",))
    fediverse = FediverseCheckOptions.from_settings(settings)
    assert fediverse == FediverseCheckOptions("https://social.example", "masto-s3cret")
    assert "s3cret" not in repr((web, matrix, fediverse))
    # The networks' own options, and the desk's, the scheduler's and moderation's.
    from watchbot.commands import DeskOptions
    from watchbot.digest.scheduler import SchedulerOptions
    from watchbot.moderation import ModerationOptions
    from watchbot.networks.fediverse import FediverseOptions
    from watchbot.networks.matrix import MatrixOptions

    adapters = MatrixOptions.from_settings(settings), FediverseOptions.from_settings(settings)
    assert (adapters[0].matrix_homeserver, adapters[0].matrix_allowed_inviters, adapters[0].zone.key) == (
        "https://matrix.example.org", ("@owner:example.org",), "Europe/Paris")
    assert adapters[0].matrix_access_token.get_secret_value() == "syt_s3cret"
    assert adapters[1].fediverse_access_token.get_secret_value() == "masto-s3cret"
    assert "s3cret" not in repr(adapters)
    desk = DeskOptions.from_settings(settings)
    assert (desk.prefix, desk.web_base_url, desk.digest.top, desk.rules.max_links_per_post) == (
        "!w", "https://watch.example.org", 5, 5)
    assert SchedulerOptions.from_settings(settings).schedule == "0 9 * * mon"
    assert ModerationOptions.from_settings(settings) == ModerationOptions()
