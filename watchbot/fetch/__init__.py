"""Fetching pages and feeds that people link to, without letting them reach inside the network.

`GuardedClient` is the only way the bot fetches a URL: http(s) only, every redirect hop and every
address checked by `addresses.refusal` (globally routable, or allow-listed), no proxies from the
environment, one deadline per fetch and a cap on the decompressed size.
"""

from watchbot.fetch.addresses import Address, Network, parse_allow_networks, refusal
from watchbot.fetch.options import FetchOptions, user_agent

# The client (aiohttp) is imported when first named: the settings check addresses with this
# package at every command, and most commands fetch nothing.
_CLIENT = {"Fetched", "FetchError", "FetchFailed", "FetchRefused", "GuardedClient", "Resolve"}


def __getattr__(name: str):
    if name in _CLIENT:
        from watchbot.fetch import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "Address",
    "FetchError",
    "FetchFailed",
    "FetchOptions",
    "FetchRefused",
    "Fetched",
    "GuardedClient",
    "Network",
    "Resolve",
    "parse_allow_networks",
    "refusal",
    "user_agent",
]
