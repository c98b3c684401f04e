"""`watchbot login fediverse`: register the app, have the person authorise it once, keep the token.

Out-of-band authorisation: the person opens a URL, logs in as the bot's account, and pastes back
the code the server shows. Scopes are the fewest the bot needs.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from mastodon import Mastodon, MastodonError

log = logging.getLogger(__name__)

OUT_OF_BAND = "urn:ietf:wg:oauth:2.0:oob"
SCOPES = [
    "read:accounts",  # who the bot is
    "read:notifications",  # its mentions
    "read:statuses",  # a post it is asked to "save"
    "write:statuses",  # its replies
    "write:favourites",  # a quiet acknowledgement
    "write:accounts",  # flag the account as a bot
    "write:notifications",  # accept mentions from people it does not follow
]


class LoginFailed(Exception):
    """One sentence saying what went wrong."""


def register(instance: str) -> tuple[str, str, str]:
    """Register watchbot on the server: (client id, client secret, the URL to authorise it at)."""
    try:
        client_id, client_secret = Mastodon.create_app(
            "watchbot", scopes=SCOPES, redirect_uris=OUT_OF_BAND, api_base_url=instance, request_timeout=30)
        api = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=instance,
                       version_check_mode="none", request_timeout=30)
        url = api.auth_request_url(scopes=SCOPES, redirect_uris=OUT_OF_BAND, allow_http=_local(instance))
    except MastodonError as error:
        raise LoginFailed(f"could not register watchbot on {instance}: {error}") from None
    return client_id, client_secret, url


def finish(instance: str, client_id: str, client_secret: str, code: str) -> tuple[str, str]:
    """Trade the authorisation code for a token, and set the account up: (token, @acct)."""
    api = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=instance,
                   version_check_mode="none", request_timeout=30)
    try:
        token = api.log_in(code=code.strip(), scopes=SCOPES, redirect_uri=OUT_OF_BAND, allow_http=_local(instance))
        me = api.account_update_credentials(bot=True)  # clients show it; other bots leave it be
    except MastodonError as error:
        raise LoginFailed(f"the server refused the authorisation code: {error}") from None
    try:
        # Mentions from people the bot does not follow must reach it, not a filtered inbox.
        api.update_notifications_policy(for_not_following="accept", for_not_followers="accept",
                                        for_new_accounts="accept", for_private_mentions="accept")
    except MastodonError as error:  # an older Mastodon or another server: nothing to set
        log.info("notification policy not set (%s)", error)
    return token, str(me["acct"])


def _local(instance: str) -> bool:
    """Plain http is accepted for a server on this machine (a test server), never a remote one."""
    return urlsplit(instance).hostname in ("127.0.0.1", "localhost", "::1")
