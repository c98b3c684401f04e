"""Feeds (RSS 0.9x/1.0/2.0, Atom, JSON Feed) feeding the same store as people do.

`parse` reads a feed's bytes (pure); `poller` follows feeds (conditional requests, backoff, 301
and 410, first poll without filing old entries) and files their new entries through intake;
`results` says what a poll gave; `alerts` are what the poller hands to the networks to post.
"""

from watchbot.feeds.alerts import Alert, FeedDisabled
from watchbot.feeds.parse import Entry, Feed, NotAFeed, cve_ids, parse_feed
from watchbot.feeds.poller import FeedError, FeedOptions, FeedPoller, parse_every, poller_from_settings
from watchbot.feeds.results import Checked, Polled, Result

__all__ = [
    "Alert",
    "Checked",
    "Entry",
    "Feed",
    "FeedDisabled",
    "FeedError",
    "FeedOptions",
    "FeedPoller",
    "NotAFeed",
    "Polled",
    "Result",
    "cve_ids",
    "parse_every",
    "parse_feed",
    "poller_from_settings",
]
