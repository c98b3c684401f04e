"""How a person's account is spelt, one way: a pure rule that moderation, the gate and the store
share (bans and blocks are kept under this spelling); where a text names a person, and what a ban
keeps of someone forgotten (store/forget.py)."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable


def canonical_account(account: str) -> str:
    """One spelling per person: fediverse accounts as user@server, case-folded (servers treat
    them so); Matrix ids as they are."""
    account = account.strip()
    if account.startswith("@") and ":" in account:
        return account
    return account.removeprefix("@").casefold()


def naming(account: str, names: Iterable[str] = (), *, local_server: str | None = None) -> re.Pattern[str]:
    """Where a text names this person, case-insensitively: their account as a whole word
    (`@al:x` is not in `@al:x.org`, nor `al@x` in `val@x`), a fediverse account of `local_server`
    also as its own server writes it (`@al`), and each display name given, as a whole word too
    and HTML-escaped as a formatted message holds it. A name is not matched inside an id
    (`x` in `@bob:x`) nor a host (`spam` in `spam.example`)."""
    account = canonical_account(account)
    user, _, server = account.rpartition("@")
    mentioned = "@?" if user and ":" not in account else ""  # a fediverse account, written as a mention
    forms = [rf"(?<![\w.-]){mentioned}{re.escape(account)}(?![\w-]|[.:]\w)"]
    if user and ":" not in account and local_server is not None and server == local_server.casefold():
        forms.append(rf"(?<![\w.-])@{re.escape(user)}(?![\w-]|[.:@]\w)")
    spelt = {spelling for name in names if name.strip() and canonical_account(name) != account
             for spelling in (name.strip(), html.escape(name.strip()))}
    # The longest first: "Al Smith" is replaced whole, not as "Al" and a leftover " Smith".
    forms += [rf"(?<![\w.:@/-]){re.escape(name)}(?![\w-]|[.:@/]\w)" for name in sorted(spelt, key=len, reverse=True)]
    return re.compile("|".join(forms), re.IGNORECASE)


def hashed_account(account: str) -> str:
    """What a ban keeps of someone who asked to be forgotten: a hash of their account, enough to
    know them again, not to list them (a guess can still be checked against it)."""
    return "sha256:" + hashlib.sha256(canonical_account(account).encode()).hexdigest()
