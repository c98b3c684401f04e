"""`watchbot check --online` for the fediverse: log in with the configured token and say what the
bot can do there, one line each (see matrix_check for the Matrix side)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mastodon import Mastodon, MastodonError, MastodonNetworkError, MastodonUnauthorizedError

from watchbot.networks.fediverse.login import SCOPES
from watchbot.networks.matrix.check import CHECK_TIMEOUT, Findings


@dataclass(frozen=True, slots=True)
class FediverseCheckOptions:
    """What the check needs to know from the settings: the bot's account."""

    instance: str
    access_token: str = field(repr=False)

    @classmethod
    def from_settings(cls, settings) -> FediverseCheckOptions:
        return cls(settings.fediverse_instance, settings.fediverse_access_token.get_secret_value())


def check_fediverse(options: FediverseCheckOptions) -> Findings:
    """Synchronous, as Mastodon.py is: the caller runs it on a worker thread."""
    found = Findings()
    instance = options.instance
    try:
        api = Mastodon(api_base_url=instance, access_token=options.access_token,
                       request_timeout=CHECK_TIMEOUT, version_check_mode="none", ratelimit_method="throw")
        me = api.account_verify_credentials()
    except MastodonUnauthorizedError:
        found.problems.append(f"Mastodon: {instance} refused the access token; "
                              "log in again with `watchbot login fediverse`")
        return found
    except MastodonNetworkError as error:
        found.problems.append(f"Mastodon: cannot reach {instance} ({_first_line(error)}); "
                              "check WATCHBOT_FEDIVERSE_INSTANCE")
        return found
    except MastodonError as error:
        found.problems.append(f"Mastodon: {instance} did not say who the bot is ({_first_line(error)})")
        return found
    found.facts.append(f"Mastodon: logged in as @{me['acct']} on {instance}"
                       + ("" if me.get("bot") else " (the account is not marked as a bot: it will mark itself)"))
    try:
        granted = (api.app_verify_credentials() or {}).get("scopes")
    except MastodonError:
        granted = None  # older servers do not say: nothing to check
    if isinstance(granted, list):
        missing = [scope for scope in SCOPES if not _covered(scope, granted)]
        if missing:
            found.problems.append(f"Mastodon: the token lacks {', '.join(missing)}; "
                                  "log in again with `watchbot login fediverse`")
    return found


def _covered(scope: str, granted: list[str]) -> bool:
    """`write` grants `write:statuses`, as Mastodon's scopes nest."""
    return scope in granted or scope.partition(":")[0] in granted


def _first_line(error: BaseException) -> str:
    text = str(error)
    return text.splitlines()[0][:200] if text else type(error).__name__
