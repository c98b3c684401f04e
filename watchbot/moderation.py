"""Moderation, network-agnostic: the gate every shared post passes before it is filed, and the
moderators' commands. Adapters say who the caller is (a Role; for commands, a Power: the role,
the place and its reach); this module and policy.py decide.

The gate, in order: a banned author is ignored (no answer: nothing to feed a troll); links to
blocked domains (or, in allow-list mode, to domains not allowed) are dropped with a sentence
each; a member over the hourly or daily limit is asked to wait; the first shares of someone new
wait in the review queue when the settings ask for it. Moderators and admins skip the limits and
the queue, never the blocklist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection
from yarl import URL

from watchbot.accounts import canonical_account
from watchbot.model import Post, utcnow
from watchbot.policy import Limits, Role, allowed_host, blocked_host, over_limit, role_of
from watchbot.store import Store
from watchbot.store.moderation import ModerationStore


@dataclass(frozen=True, slots=True)
class ModerationOptions:
    """What moderation needs to know from the settings."""

    admins: tuple[str, ...] = ()
    moderators_room: str | None = None
    digest_review_room: str | None = None
    links_per_hour: int = 20
    links_per_day: int = 100
    review_first_shares: int = 0
    allowed_domains: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings) -> ModerationOptions:
        return cls(tuple(settings.admins), settings.moderators_room, settings.digest_review_room,
                   settings.links_per_hour, settings.links_per_day, settings.review_first_shares,
                   tuple(settings.allowed_domains))


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the gate says of a post: file `links` (with `problems` to tell), or not at all."""

    links: tuple[tuple[str, str], ...]  # (url, key) that may be filed
    problems: tuple[str, ...] = ()
    ignore: bool = False  # a banned author: no filing, no answer
    refuse: str | None = None  # one sentence: nothing filed (over a limit)
    hold: bool = False  # waits for a moderator


class Moderation:
    def __init__(self, store: Store, options: ModerationOptions = ModerationOptions()) -> None:
        self.store = store
        self.options = options
        self.records = ModerationStore(store)
        self.limits = Limits(options.links_per_hour, options.links_per_day)
        self._told_over_limit: dict[str, datetime] = {}

    @property
    def moderators_places(self) -> tuple[str, ...]:
        """The rooms the settings name for the watch's moderators."""
        return tuple(place for place in (self.options.moderators_room, self.options.digest_review_room) if place)

    async def role(self, account: str, *, moderator: bool = False) -> Role:
        return role_of(account, admins=self.options.admins, moderator=moderator,
                       banned=await self.records.is_banned(canonical_account(account)))

    def role_unread(self, account: str, *, moderator: bool = False) -> Role:
        """The role from the settings and the network alone, the ban not read: enough for a post
        that goes through `screen_in`, which reads the ban in the filing's transaction."""
        return role_of(account, admins=self.options.admins, moderator=moderator, banned=False)

    async def screen(self, post: Post, links: tuple[tuple[str, str], ...], role: Role) -> Verdict:
        return await self.store.read(lambda conn: self.screen_in(conn, post, links, role))

    def screen_in(self, conn: Connection, post: Post, links: tuple[tuple[str, str], ...], role: Role) -> Verdict:
        """The gate's verdict on a post, read and decided inside the caller's transaction (the
        filing's: one hop to the store's thread per message). The author's ban is read here, so
        `role` may come from `role_unread`."""
        if role is Role.STRANGER:
            return Verdict((), ignore=True)
        now = utcnow()  # the ban and the counts below in one read: one statement per message
        facts = self.records.facts_in(conn, post.author_id, now,
                                      seen=role < Role.MODERATOR and self.options.review_first_shares > 0)
        if role < Role.ADMIN and facts.banned:
            return Verdict((), ignore=True)
        if not links:
            return Verdict(())
        allowed_domains = self.options.allowed_domains
        kept, problems = list(links), []
        if facts.blocked or allowed_domains:  # a host is parsed only when a rule may refuse it
            kept = []
            for url, key in links:
                host = URL(url).host
                if (pattern := blocked_host(host or "", facts.blocked)) is not None:
                    problems.append(f"Not filed: {host or url} is blocked here ({pattern}).")
                elif allowed_domains and not allowed_host(host or "", allowed_domains):
                    problems.append(f"Not filed: only links to {', '.join(allowed_domains)} are filed here.")
                else:
                    kept.append((url, key))
        if not kept or role >= Role.MODERATOR:
            return Verdict(tuple(kept), tuple(problems))
        if (sentence := over_limit(len(kept), facts.last_hour, facts.last_day, self.limits)) is not None:
            # Said once an hour: a reply to every message of a burst would be a burst of its own.
            told = self._told_over_limit.get(post.author_id)
            if told is not None and now - told < timedelta(hours=1):
                return Verdict((), ignore=True)
            # Only the last hour matters: the rest is forgotten, so this never grows with the crowd.
            self._told_over_limit = {who: at for who, at in self._told_over_limit.items()
                                     if now - at < timedelta(hours=1)}
            self._told_over_limit[post.author_id] = now
            return Verdict((), tuple(problems), refuse=sentence)
        first = self.options.review_first_shares
        if first and facts.seen < first:
            return Verdict(tuple(kept), tuple(problems), hold=True)
        return Verdict(tuple(kept), tuple(problems))

    async def hold(self, post: Post, *, cursor: tuple[str, str] | None) -> int:
        return await self.records.hold(post, cursor=cursor)

    def hold_in(self, conn: Connection, post: Post) -> int:
        return self.records.hold_in(conn, post)
