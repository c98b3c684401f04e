"""The fediverse (Mastodon and the servers speaking its client API): the adapter (adapter.py), its
pure readers of statuses and notifications (events.py), what it owes and how it sends it
(outbox.py), the stream watchdog (watchdog.py, over stream.py), the digest's outlet (outlets.py),
its pace and rate budgets (pace.py, budget.py), logging in (login.py) and the online check
(check.py)."""

from watchbot.networks.fediverse.adapter import CURSOR, FediverseAdapter, FediverseOptions
from watchbot.networks.fediverse.outlets import MastodonDigestOutlet
from watchbot.networks.fediverse.watchdog import STREAM_RETRY_SECONDS, StreamWatchdog

__all__ = ["CURSOR", "STREAM_RETRY_SECONDS", "FediverseAdapter", "FediverseOptions", "MastodonDigestOutlet",
           "StreamWatchdog"]
