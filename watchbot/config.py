"""Settings: WATCHBOT_* environment variables and a .env file, validated with clear errors.

Every setting is listed, with a comment, in .env.example at the top of the repository; a test
checks that the two agree.
"""

from __future__ import annotations

import difflib
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from dotenv.parser import parse_stream
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from watchbot.durations import parse_duration
from watchbot.links import normalise_tag

ENV_PREFIX = "WATCHBOT_"
# The test suite's and the benchmarks' own switches (WATCHBOT_TEST_POSTGRES=skip, ...): not settings.
NOT_SETTINGS_PREFIXES = ("WATCHBOT_TEST_", "WATCHBOT_BENCH_")
# Settings whose values are never repeated in a message: they may hold a password or a token.
SECRET_SETTINGS = {"WATCHBOT_DATABASE_URL", "WATCHBOT_MATRIX_ACCESS_TOKEN", "WATCHBOT_FEDIVERSE_ACCESS_TOKEN",
                   "WATCHBOT_WEB_API_TOKEN"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def default_database_url() -> str:
    """SQLite in the XDG data directory (~/.local/share/watchbot/watchbot.db)."""
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return f"sqlite:///{Path(data_home) / 'watchbot' / 'watchbot.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(default_factory=default_database_url)
    # "py=python,js=javascript": #py is filed as python.
    tag_aliases: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    max_links_per_post: int = Field(default=20, ge=1, le=500)
    # Longer messages are refused with an answer rather than scanned (Matrix events stop at 64 KiB).
    max_post_chars: int = Field(default=65_536, ge=1_000, le=10_000_000)
    # Dates in answers ("already shared by alice on …") are given in this timezone.
    timezone: str = "UTC"
    log_level: str = "INFO"
    # text: lines for a person; json: one JSON object per line, for a log collector.
    log_format: Literal["text", "json"] = "text"
    # Messages starting with this are commands ("!watch search rust"); so are messages that
    # mention the bot.
    command_prefix: str = Field(default="!watch", min_length=1, pattern=r"^\S+$")

    # Moderation. Admins: Matrix ids and fediverse accounts (user@server), comma-separated; they
    # may do everything moderators may, everywhere. Room moderators: Matrix users at or above
    # this power level in the room, acting on that room only. On the fediverse, moderators are
    # listed; they, the admins and the moderators of moderators_room and digest_review_room act
    # on the whole store (bans, blocks, feeds, the log, any room's links).
    admins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    moderator_power_level: int = Field(default=50, ge=1, le=100)
    fediverse_moderators: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Links one person may share per hour and per day (moderators and admins are not limited).
    links_per_hour: int = Field(default=20, ge=1, le=10_000)
    links_per_day: int = Field(default=100, ge=1, le=100_000)
    # The first shares of someone the bot has not seen before wait for a moderator (0: never).
    review_first_shares: int = Field(default=0, ge=0, le=100)
    # Allow-list mode: when set, only links to these domains (and their subdomains) are filed.
    allowed_domains: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Where reports go (a room id); unset: the room the report was made in.
    moderators_room: str | None = None

    # The digest: when each period ends (cron, in WATCHBOT_TIMEZONE), and how many links it shows.
    digest_schedule: str = "0 17 * * fri"
    digest_top: int = Field(default=20, ge=1, le=100)
    # Posted by `watchbot run` at the end of each period, to every room the bot is in (rooms of
    # two, direct chats, are left out) and to its fediverse account.
    digest_enabled: bool = True
    digest_to_fediverse: bool = True
    # Rooms that get no digest, and rooms whose digest holds only what was shared in them.
    digest_rooms_off: Annotated[list[str], NoDecode] = Field(default_factory=list)
    digest_rooms_scoped: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # A room where each digest goes first, as a draft: a moderator's ✅ on it sends it out. With
    # a deadline (a duration after the period's end, such as 2h), it goes out then without one.
    digest_review_room: str | None = None
    digest_review_deadline: str = ""

    # Where the whole archive can be read (a web page): "and N more in the archive: URL".
    digest_archive_url: str | None = None

    # The web pages (watchbot/web): served beside the bot by `watchbot run` when a port is set, or
    # alone by `watchbot web`. The base URL is the public address readers use (behind a proxy, not
    # the host and port below): links in the digests, feeds and the API are made from it.
    web_port: int | None = Field(default=None, ge=1, le=65535)
    web_host: str = Field(default="127.0.0.1", min_length=1)
    web_base_url: str | None = None

    # The language the digest is written in (its posts say so, for readers' filters and translation).
    digest_language: str = Field(default="en", pattern=r"^[a-z]{2,3}$")

    # Matrix: the bot's account (`watchbot login matrix` fills these in).
    matrix_homeserver: str | None = None
    matrix_user_id: str | None = None
    matrix_access_token: SecretStr | None = None
    matrix_device_id: str | None = None
    # Who may invite the bot into a room: user ids, servers or room ids, comma-separated. Name
    # people: anyone on a listed server may bring the bot into a room of their own.
    matrix_allowed_inviters: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Notices are what bots send; file them too only when asked.
    matrix_file_notices: bool = False
    # Encrypted rooms: where the bot's encryption keys are kept (pip install 'watchbot[e2e]').
    # Unset: the bot reads unencrypted rooms only.
    matrix_store_path: Path | None = None

    # Mastodon (or a server speaking its API): the bot's account on it.
    fediverse_instance: str | None = None
    fediverse_access_token: SecretStr | None = None
    # Follow mentions live (streaming API) as well as by polling; polling alone when false.
    fediverse_streaming: bool = True
    # How often to poll for mentions while the account is quiet and no stream is live (every 5 s
    # for two minutes after a mention; with a live stream, every max(this, 60) s as a safety net).
    # An older setting (then the one interval, 60 by default) keeps meaning the slowest pace.
    fediverse_poll_seconds: int = Field(default=15, ge=5, le=3600)
    # "reply" says what was filed; "favourite" acknowledges quietly (commands still get replies).
    fediverse_acknowledge: Literal["reply", "favourite"] = "reply"
    # No endless back-and-forth in a thread (with a person or another bot): favourites after this.
    fediverse_replies_per_thread: int = Field(default=5, ge=1, le=100)

    # Fetching each link's page for its title, site and description (enrich/).
    fetch_enabled: bool = True
    # Networks the fetcher may reach although not public (CIDRs, comma-separated): empty by
    # default, since the bot fetches what strangers post. For tests and deliberate intranets.
    fetch_allow_networks: str = ""
    # A URL or e-mail address in the User-Agent, so site owners can reach whoever runs the bot.
    fetch_contact: str | None = None
    fetch_concurrency: int = Field(default=8, ge=1, le=64)
    fetch_per_host: int = Field(default=2, ge=1, le=16)
    fetch_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    # RSS/Atom/JSON feeds (feeds/): polled while the bot runs; their entries filed as shares.
    feeds_enabled: bool = True
    # How often a feed is polled unless it says otherwise (`feeds add --every`): 30m, 2h, 1d.
    feeds_every: str = "30m"
    # Feed entries in the weekly digest, in a section of their own, at most this many.
    feeds_digest_cap: int = Field(default=10, ge=0, le=100)
    # Alert feeds post each new entry to the rooms at once; to the fediverse too when true.
    feeds_alerts_to_fediverse: bool = False

    # A private deployment (web/guard.py): when set, every route but /healthz answers only requests
    # bearing it (Bearer, or Basic's password), the pages too unless web_public_pages.
    web_api_token: SecretStr | None = Field(default=None, min_length=16)
    web_public_pages: bool = False
    # /metrics answers only requests bearing this (else the API's token; with neither, nobody).
    web_metrics_token: SecretStr | None = Field(default=None, min_length=16)

    @field_validator("feeds_every")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value.strip()

    @field_validator("digest_archive_url")
    @classmethod
    def _archive_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be a web address, such as https://watch.example.org/archive")
        return value

    @field_validator("web_base_url")
    @classmethod
    def _web_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from yarl import URL

        url = URL(value.strip())
        if url.scheme not in ("https", "http") or not url.host or url.query_string or url.fragment:
            raise ValueError("must be the web pages' public address, such as https://watch.example.org")
        return str(url).rstrip("/")

    @field_validator("digest_review_deadline")
    @classmethod
    def _optional_duration(cls, value: str) -> str:
        if value.strip():
            parse_duration(value)
        return value.strip()

    @field_validator("fetch_allow_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        from watchbot.fetch import parse_allow_networks

        parse_allow_networks(value)  # a ValueError names the bad entry
        return value

    @property
    def fetch_allow(self) -> tuple:
        from watchbot.fetch import parse_allow_networks

        return parse_allow_networks(self.fetch_allow_networks)

    def digest_archive_for(self, period) -> str | None:
        """Where a digest's "and N more in the archive" points: its week's page when the web pages
        have an address, else WATCHBOT_DIGEST_ARCHIVE_URL (or nowhere)."""
        if self.web_base_url is None:
            return self.digest_archive_url
        from watchbot.digest.schedule import week_of

        return f"{self.web_base_url}/weeks/{week_of(period, self.zone)}"

    @property
    def fediverse_enabled(self) -> bool:
        return self.fediverse_instance is not None

    @field_validator("fediverse_instance")
    @classmethod
    def _instance_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be the server's URL, such as https://mastodon.social")
        return value.rstrip("/") if value else value

    @property
    def matrix_enabled(self) -> bool:
        return self.matrix_homeserver is not None

    @field_validator("matrix_allowed_inviters", "digest_rooms_off", "digest_rooms_scoped", "admins",
                     "fediverse_moderators", "allowed_domains", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("matrix_homeserver")
    @classmethod
    def _homeserver_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be the homeserver's URL, such as https://matrix.example.org")
        return value.rstrip("/") if value else value

    @field_validator("matrix_user_id")
    @classmethod
    def _matrix_user_id(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("@") or ":" not in value):
            raise ValueError("must be a full Matrix user id, such as @watchbot:example.org")
        return value

    @model_validator(mode="after")
    def _matrix_complete(self) -> Settings:
        given = {
            "WATCHBOT_MATRIX_HOMESERVER": self.matrix_homeserver,
            "WATCHBOT_MATRIX_USER_ID": self.matrix_user_id,
            "WATCHBOT_MATRIX_ACCESS_TOKEN": self.matrix_access_token,
        }
        missing = [name for name, value in given.items() if value is None]
        if 0 < len(missing) < len(given):
            raise ValueError(
                f"Matrix is half configured: {', '.join(missing)} missing "
                "(`watchbot login matrix` sets them all)"
            )
        if (self.fediverse_instance is None) != (self.fediverse_access_token is None):
            raise ValueError(
                "the fediverse is half configured: WATCHBOT_FEDIVERSE_INSTANCE and "
                "WATCHBOT_FEDIVERSE_ACCESS_TOKEN go together"
            )
        if self.web_port is not None and self.web_base_url is None:
            raise ValueError(
                "WATCHBOT_WEB_PORT needs WATCHBOT_WEB_BASE_URL: the public address of the pages, "
                "such as https://watch.example.org"
            )
        if self.matrix_store_path is not None and not self.matrix_device_id:
            raise ValueError(
                "WATCHBOT_MATRIX_STORE_PATH needs WATCHBOT_MATRIX_DEVICE_ID: encryption keys belong to "
                "one device (`watchbot login matrix` sets it)"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _database_url_is_usable(cls, value: str) -> str:
        # Here, not at the top: importing the settings must not import the store (SQLAlchemy).
        from watchbot.store.database import DatabaseURLError, driver_url

        try:
            driver_url(value)
        except DatabaseURLError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("tag_aliases", mode="before")
    @classmethod
    def _parse_aliases(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        aliases = {}
        for pair in filter(None, (p.strip() for p in value.split(","))):
            alias, sep, tag = pair.partition("=")
            if not sep or normalise_tag(alias) is None or normalise_tag(tag) is None:
                raise ValueError(f"{pair!r} is not alias=tag (example: py=python,js=javascript)")
            aliases[normalise_tag(alias)] = normalise_tag(tag)
        return aliases

    @field_validator("digest_schedule")
    @classmethod
    def _cron_schedule(cls, value: str) -> str:
        from watchbot.digest.schedule import check_schedule

        return check_schedule(value)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (examples: UTC, Europe/Paris)") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class ConfigError(Exception):
    """The configuration has problems; `problems` holds one sentence per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_settings(env_file: str | Path | None = ".env") -> Settings:
    """Settings from the environment and `env_file`, or ConfigError listing every problem."""
    problems = env_file_problems(env_file)
    if problems:  # a line that cannot be read would otherwise be dropped without a word
        raise ConfigError(problems)
    try:
        return Settings(_env_file=env_file)
    except ValidationError as error:
        raise ConfigError([_describe(e) for e in error.errors()]) from None


def env_file_problems(env_file: str | Path | None) -> list[str]:
    """What makes the env file unreadable: not text, or lines that are no NAME=value."""
    if not env_file or not Path(env_file).is_file():
        return []
    try:
        text = Path(env_file).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        return [f"{env_file}: not UTF-8 text (byte {error.start}); save it as UTF-8"]
    except OSError as error:
        return [f"{env_file}: cannot be read ({error.strerror})"]
    return [
        f"{env_file}:{binding.original.line}: not a NAME=value line (an unclosed quote?)"
        for binding in parse_stream(io.StringIO(text))
        if binding.error
    ]


def unknown_settings(env_file: str | Path | None = ".env", environ: Mapping[str, str] = os.environ) -> list[str]:
    """WATCHBOT_* names that are no setting (a typo silently does nothing otherwise)."""
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    names = {n for n in environ if n.startswith(ENV_PREFIX)}
    if env_file and Path(env_file).is_file() and not env_file_problems(env_file):
        names |= {n.upper() for n in dotenv_values(env_file) if n.upper().startswith(ENV_PREFIX)}
    names = {n for n in names if not n.startswith(NOT_SETTINGS_PREFIXES)}
    problems = []
    for name in sorted(names - known):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        problems.append(f"{name}: no such setting{hint}")
    return problems


def _describe(error: Mapping[str, Any]) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:  # a rule across several settings: the message names them
        return message
    name = ENV_PREFIX + "_".join(str(part) for part in error["loc"]).upper()
    if name in SECRET_SETTINGS:  # never echoed: it may hold a password or a token
        return f"{name}: {message}"
    given = error.get("input")
    if isinstance(given, str | int | float) and not isinstance(given, bool):
        return f"{name}: {message} (got {str(given)!r})"
    return f"{name}: {message}"


def save_settings(env_file: Path, values: Mapping[str, str]) -> None:
    """Write settings into `env_file`, keeping its other lines; readable by its owner only, as
    it holds access tokens."""
    from dotenv import set_key

    env_file.touch(mode=0o600, exist_ok=True)
    os.chmod(env_file, 0o600)
    for name, value in values.items():
        set_key(env_file, name, value, quote_mode="never")
