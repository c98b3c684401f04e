"""How a person's account is spelt, one way: a pure rule that moderation, the gate and the store
share (bans and blocks are kept under this spelling)."""

from __future__ import annotations


def canonical_account(account: str) -> str:
    """One spelling per person: fediverse accounts as user@server, case-folded (servers treat
    them so); Matrix ids as they are."""
    account = account.strip()
    if account.startswith("@") and ":" in account:
        return account
    return account.removeprefix("@").casefold()
