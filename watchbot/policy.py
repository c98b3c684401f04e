"""Who may do what, and which links may be filed. Pure functions of their inputs.

Roles: a stranger (banned: the bot ignores them, but for `forget me`: `heard`) < a member (anyone else who can reach the bot)
< a moderator (a Matrix room's moderators by power level, listed accounts on the fediverse) < an
admin (listed in the settings, a moderator everywhere).

Power is scoped: a room's moderators act on what was shared, held or reported in that room; what
reaches the whole store (bans, blocks, feeds, the log, the digest, another room's shares) belongs
to store-wide moderators: admins, listed fediverse moderators, and the moderators of the rooms
the settings name for moderation. `Power` says which a caller is; `may_moderate` and
`reaches_store` are the only questions commands ask.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from yarl import URL

from watchbot.accounts import canonical_account


class Role(IntEnum):
    STRANGER = 0
    MEMBER = 1
    MODERATOR = 2
    ADMIN = 3


@dataclass(frozen=True, slots=True)
class Power:
    """What a caller may do, and where."""

    role: Role = Role.MEMBER
    place: str | None = None  # where they speak from: a room id, a fediverse instance; None: the shell
    store_wide: bool = False  # their moderation reaches every place (see power_of)


def power_of(role: Role, place: str | None, *, moderators_place: bool) -> Power:
    """`moderators_place`: the settings name this place for the watch's moderators (the
    moderators' room, the digest review room; the fediverse, whose moderators are listed)."""
    return Power(role, place, store_wide=role is Role.ADMIN or (role is Role.MODERATOR and moderators_place))


def may_moderate(power: Power, place: str) -> bool:
    """May `power` act as a moderator on what was shared, held or reported in `place`?"""
    return power.role >= Role.MODERATOR and (power.store_wide or power.place == place)


def reaches_store(power: Power) -> bool:
    """May `power` do what reaches every place: ban, block, follow feeds, read the whole log?"""
    return power.role >= Role.MODERATOR and power.store_wide


def may_change(power: Power, caller_id: str, sharer_id: str, place: str) -> bool:
    """May the caller remove or retag a share: their own, or one of a place they moderate."""
    return sharer_id == caller_id or may_moderate(power, place)


def may_redact(power: Power, sharer_id: str, redactor: str, place: str) -> bool:
    """Does a redaction sent from `power.place` take a share filed from `place`? Only in that
    room (a redaction may name any event id, of any room), by its author or a moderator there."""
    return power.place == place and (redactor == sharer_id or may_moderate(power, place))


# -- refusals: one line each, saying who may -------------------------------------------------------

def not_a_moderator(command: str) -> str:
    """A member asked for a moderator's command."""
    return (f"Only moderators may use “{command}”: a room's moderators in that room, admins and the "
            "moderators' room everywhere.")


def elsewhere(verb: str, what: str, *, held: bool = False) -> str:
    """A room's moderator asked to act on something of another room."""
    done = "posted" if held else "shared"
    return (f"Only the moderators of the room it was {done} in, the moderators' room or an admin may {verb} "
            f"{what}: it was {done} in another room.")


def heard(role: Role, command: str | None, args: tuple[str, ...] = ()) -> bool:
    """Does the bot hear what someone said (a command's name and words; None for anything else)?
    Everyone but a banned person; a banned person only for `forget me`: forgetting is everyone's
    right, and the bot answers them that once (decision 36)."""
    return role > Role.STRANGER or (command == "forget" and tuple(args) == ("me",))


def role_of(account: str, *, admins: Iterable[str], moderator: bool, banned: bool) -> Role:
    """`moderator`: what the network says (a room's power level, the fediverse list)."""
    if canonical_account(account) in {canonical_account(admin) for admin in admins}:
        return Role.ADMIN  # an admin is never locked out by a ban
    if banned:
        return Role.STRANGER
    return Role.MODERATOR if moderator else Role.MEMBER


def normalise_pattern(text: str) -> str | None:
    """A domain pattern as stored: "example.com" or "*.example.com", lower-case, IDNA; None when
    it is not one (a URL is taken for its host)."""
    text = text.strip().lower().rstrip(".")
    if "://" in text:
        text = URL(text).host or ""
    wildcard = text.startswith("*.")
    host = text[2:] if wildcard else text
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = host.split(".")
    if len(labels) < 2 or not all(label and len(label) <= 63 and (label.replace("-", "").isalnum())
                                  for label in labels):
        return None
    return f"*.{host}" if wildcard else host


def domain_matches(host: str, pattern: str) -> bool:
    """ "example.com" matches that host only; "*.example.com" matches it and every subdomain."""
    host = host.lower().rstrip(".")
    if pattern.startswith("*."):
        base = pattern[2:]
        return host == base or host.endswith("." + base)
    return host == pattern


def blocked_by(url: str, patterns: Iterable[str]) -> str | None:
    """The pattern that blocks `url`'s host, if one does."""
    return blocked_host(URL(url).host or "", patterns)


def blocked_host(host: str, patterns: Iterable[str]) -> str | None:
    """The pattern that blocks this host, if one does."""
    return next((pattern for pattern in patterns if domain_matches(host, pattern)), None)


def allowed(url: str, allowed_domains: Iterable[str]) -> bool:
    """Allow-list mode: a link must be on one of these domains or their subdomains."""
    return allowed_host(URL(url).host or "", allowed_domains)


def allowed_host(host: str, allowed_domains: Iterable[str]) -> bool:
    return any(domain_matches(host, "*." + domain.removeprefix("*.")) for domain in allowed_domains)


@dataclass(frozen=True, slots=True)
class Limits:
    per_hour: int
    per_day: int


def over_limit(new_links: int, last_hour: int, last_day: int, limits: Limits) -> str | None:
    """One polite sentence when `new_links` more would go over a limit, else None."""
    if last_hour + new_links > limits.per_hour:
        return (f"You have shared {last_hour} links in the last hour; the limit is {limits.per_hour}. "
                "Please share the rest a little later.")
    if last_day + new_links > limits.per_day:
        return (f"You have shared {last_day} links today; the limit is {limits.per_day} a day. "
                "Please share the rest tomorrow.")
    return None
