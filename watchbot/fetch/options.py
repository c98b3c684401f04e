"""What fetching needs to know from the settings (WATCHBOT_FETCH_*), for the page fetcher
(enrich/) and the feed poller (feeds/) alike; and the User-Agent the bot fetches with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from watchbot import __version__
from watchbot.fetch.addresses import Network

if TYPE_CHECKING:
    from watchbot.fetch.client import GuardedClient


@dataclass(frozen=True, slots=True)
class FetchOptions:
    contact: str | None = None  # a URL or e-mail address, in the User-Agent
    allow: tuple[Network, ...] = ()  # networks that may be reached although not public
    timeout_seconds: float = 10.0
    concurrency: int = 8  # fetches at once, all sites together
    per_host: int = 2

    @classmethod
    def from_settings(cls, settings) -> FetchOptions:
        return cls(settings.fetch_contact, settings.fetch_allow, settings.fetch_timeout_seconds,
                   settings.fetch_concurrency, settings.fetch_per_host)

    def client(self) -> GuardedClient:
        """A client fetching as these options say (aiohttp is imported here, when first asked)."""
        from watchbot.fetch.client import GuardedClient

        return GuardedClient(user_agent=user_agent(self.contact), allow=self.allow, timeout=self.timeout_seconds,
                             total_connections=self.concurrency, per_host_connections=self.per_host)


def user_agent(contact: str | None) -> str:
    """An honest User-Agent: what this is, and how to reach whoever runs it."""
    reach = f"; +{contact}" if contact else ""
    return f"watchbot/{__version__} (link titles for a community's shared tech watch{reach})"
