"""Who may do what, and which links may be filed. Pure functions of their inputs.

Roles: a stranger (banned: the bot ignores them) < a member (anyone else who can reach the bot)
< a moderator (a Matrix room's moderators by power level, listed accounts on the fediverse) < an
admin (listed in the settings, a moderator everywhere).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from yarl import URL


class Role(IntEnum):
    STRANGER = 0
    MEMBER = 1
    MODERATOR = 2
    ADMIN = 3


def canonical_account(account: str) -> str:
    """One spelling per person: fediverse accounts as user@server, case-folded (servers treat
    them so); Matrix ids as they are."""
    account = account.strip()
    if account.startswith("@") and ":" in account:
        return account
    return account.removeprefix("@").casefold()


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
    host = URL(url).host or ""
    return next((pattern for pattern in patterns if domain_matches(host, pattern)), None)


def allowed(url: str, allowed_domains: Iterable[str]) -> bool:
    """Allow-list mode: a link must be on one of these domains or their subdomains."""
    host = URL(url).host or ""
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
