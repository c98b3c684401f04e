"""What every command shares: the settings and the store, opened on demand, and the option checks
several commands use.

Imported by every command module, so it imports nothing heavy at its top: the settings (pydantic)
and the store (SQLAlchemy) are imported when a command first asks for them, not to print --help.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from watchbot.config import Settings
    from watchbot.intake import Rules
    from watchbot.store import Store

# Link ids fit both databases' INTEGER columns (PostgreSQL's is 32-bit).
LINK_ID = click.IntRange(1, 2**31 - 1)


def decodable(ctx, param, value: str | None) -> str | None:
    """Refuse text that was not valid in the terminal's encoding (Python keeps such bytes as
    lone surrogates, which no database can store)."""
    if value is not None and any(0xD800 <= ord(char) <= 0xDFFF for char in value):
        raise click.BadParameter("contains bytes that are not valid text in this terminal's encoding")
    return value


def valid_tags(ctx, param, values: tuple[str, ...]) -> tuple[str, ...]:
    from watchbot.links import normalise_tag

    from watchbot.links import MAX_TAG_LENGTH, MAX_TAGS_PER_SHARE

    for value in values:
        decodable(ctx, param, value)
        if normalise_tag(value) is None:
            raise click.BadParameter(
                f"{value!r} is not a tag: letters, digits, - and _, at most {MAX_TAG_LENGTH} (such as rust or "
                "web-security)"
            )
    if len(values) > MAX_TAGS_PER_SHARE:
        raise click.BadParameter(f"{len(values)} tags given: at most {MAX_TAGS_PER_SHARE} are kept per link")
    return values


@dataclass
class Context:
    env_file: str | None
    verbose: bool = False
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from watchbot import logs
            from watchbot.config import ConfigError, load_settings

            try:
                self._settings = load_settings(self.env_file)
            except ConfigError as error:
                raise click.ClickException(
                    "the configuration has problems (run `watchbot check` for all of them):\n  "
                    + "\n  ".join(error.problems)
                ) from None
            logs.apply(self._settings.log_level, self._settings.log_format, verbose=self.verbose)
        return self._settings

    async def open_store(self) -> Store:
        from watchbot.store import DatabaseURLError, Store, StoreNotReady, StoreUnavailable, redacted

        try:
            return await Store.open(self.settings.database_url)
        except (DatabaseURLError, StoreNotReady, StoreUnavailable) as error:
            raise click.ClickException(str(error)) from None
        except OSError as error:
            raise click.ClickException(
                f"cannot open the store at {redacted(self.settings.database_url)}: {error}"
            ) from None


def with_store(command: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async command with the store open, and close it whatever happens."""

    @click.pass_obj
    @functools.wraps(command)
    def run(ctx: Context, *args, **kwargs) -> None:
        import asyncio

        async def main() -> None:
            store = await ctx.open_store()
            try:
                await command(ctx, store, *args, **kwargs)
            finally:
                await store.close()

        asyncio.run(main())

    return run


_AGE = re.compile(r"^(\d+)\s*([hdw])$")


def parse_since(value: str | None) -> datetime | None:
    """'2026-11-01', '2026-11-01T10:00+01:00' or an age such as '7d', '12h', '2w'."""
    from watchbot.model import utcnow

    if value is None:
        return None
    age = _AGE.match(value.strip().lower())
    try:
        if age:
            amount, unit = int(age.group(1)), age.group(2)
            return utcnow() - timedelta(**{{"h": "hours", "d": "days", "w": "weeks"}[unit]: amount})
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is not None:
            moment.astimezone(timezone.utc)  # a date at the edge of time cannot be compared
    except (OverflowError, ValueError):
        raise click.BadParameter(
            f"{value!r} is neither a date (2026-11-01) nor an age (7d, 12h, 2w)", param_hint="--since"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def normalised_tag_option(tag: str | None, rules: Rules) -> str | None:
    from watchbot.links import normalise_tag

    if tag is None:
        return None
    normalised = normalise_tag(tag, rules.tag_aliases)
    if normalised is None:
        raise click.BadParameter(f"{tag!r} is not a tag", param_hint="--tag")
    return normalised
