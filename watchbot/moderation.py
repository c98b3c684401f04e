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
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection
from yarl import URL

from watchbot.accounts import canonical_account
from watchbot.config import Settings
from watchbot.model import Post, utcnow
from watchbot.policy import (
    STORE_WIDE_REFUSALS,
    Limits,
    Power,
    Role,
    allowed_host,
    blocked_host,
    elsewhere,
    may_moderate,
    normalise_pattern,
    not_a_moderator,
    over_limit,
    reaches_store,
    role_of,
)
from watchbot.store import Store
from watchbot.store.moderation import ModerationStore
from watchbot.store.published import PublishedReader


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the gate says of a post: file `links` (with `problems` to tell), or not at all."""

    links: tuple[tuple[str, str], ...]  # (url, key) that may be filed
    problems: tuple[str, ...] = ()
    ignore: bool = False  # a banned author: no filing, no answer
    refuse: str | None = None  # one sentence: nothing filed (over a limit)
    hold: bool = False  # waits for a moderator


class Moderation:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.records = ModerationStore(store)
        self.limits = Limits(settings.links_per_hour, settings.links_per_day)
        self._told_over_limit: dict[str, datetime] = {}

    @property
    def moderators_places(self) -> tuple[str, ...]:
        """The rooms the settings name for the watch's moderators."""
        return tuple(place for place in (self.settings.moderators_room, self.settings.digest_review_room) if place)

    async def role(self, account: str, *, moderator: bool = False) -> Role:
        return role_of(account, admins=self.settings.admins, moderator=moderator,
                       banned=await self.records.is_banned(canonical_account(account)))

    def role_unread(self, account: str, *, moderator: bool = False) -> Role:
        """The role from the settings and the network alone, the ban not read: enough for a post
        that goes through `screen_in`, which reads the ban in the filing's transaction."""
        return role_of(account, admins=self.settings.admins, moderator=moderator, banned=False)

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
                                      seen=role < Role.MODERATOR and self.settings.review_first_shares > 0)
        if role < Role.ADMIN and facts.banned:
            return Verdict((), ignore=True)
        if not links:
            return Verdict(())
        allowed_domains = self.settings.allowed_domains
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
        first = self.settings.review_first_shares
        if first and facts.seen < first:
            return Verdict(tuple(kept), tuple(problems), hold=True)
        return Verdict(tuple(kept), tuple(problems))

    async def hold(self, post: Post, *, cursor: tuple[str, str] | None) -> int:
        return await self.records.hold(post, cursor=cursor)

    def hold_in(self, conn: Connection, post: Post) -> int:
        return self.records.hold_in(conn, post)


# -- the commands ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Said:
    """A command's answer, and what moderators should be told besides (a report)."""

    lines: list[str]
    for_moderators: str | None = None


MODERATOR_COMMANDS = ("ban", "unban", "block", "unblock", "queue", "approve", "reject", "modlog")
MEMBER_COMMANDS = ("report", "forget")


async def run_moderation(moderation: Moderation, name: str, args: tuple[str, ...], account: str, power: Power,
                         zone: ZoneInfo, file_approved) -> Said:
    """`file_approved(post)` files an approved post and returns the lines describing it."""
    if name in STORE_WIDE_REFUSALS and not reaches_store(power):
        return Said([STORE_WIDE_REFUSALS[name]])
    if name in MODERATOR_COMMANDS and power.role < Role.MODERATOR:
        return Said([not_a_moderator(name)])
    records = moderation.records
    if name in ("ban", "unban"):
        if not args:
            return Said([f"Usage: {name} USER [reason], such as: {name} @spammer:example.org"])
        target = _account(args[0], account)
        if name == "unban":
            done = await records.unban(target, actor=account)
            return Said([f"{target} may share again." if done else f"{target} was not banned."])
        if role_of(target, admins=moderation.settings.admins, moderator=False, banned=False) is Role.ADMIN \
                or target == canonical_account(account):
            return Said([f"{target} cannot be banned: an admin, or yourself."])
        done = await records.ban(target, actor=account, reason=" ".join(args[1:]) or None)
        return Said([f"Banned {target}: I will ignore what they share." if done else f"{target} was banned already."])
    if name in ("block", "unblock"):
        pattern = normalise_pattern(args[0]) if args else None
        if pattern is None:
            return Said([f"Usage: {name} DOMAIN, such as: {name} spam.example or {name} *.spam.example"])
        if name == "unblock":
            done = await records.unblock(pattern, actor=account)
            return Said([f"Links to {pattern} are filed again." if done else f"{pattern} was not blocked."])
        done = await records.block(pattern, actor=account, reason=" ".join(args[1:]) or None)
        return Said([f"Blocked {pattern}: links to it are not filed from now on." if done
                     else f"{pattern} was blocked already."])
    if name == "queue":
        # A room's moderators see what waits from their room only.
        waiting = await records.waiting(place=None if reaches_store(power) else power.place, limit=10)
        if not waiting:
            return Said(["Nothing waits for review."])
        return Said([f"#{held.id} {held.post.author_name}: {_shown(held.post)} "
                     f"({held.at.astimezone(zone):%Y-%m-%d %H:%M}) — approve {held.id} or reject {held.id}"
                     for held in waiting])
    if name in ("approve", "reject"):
        held_id = _number(args[0]) if args else None
        if held_id is None:
            return Said([f"Usage: {name} ID (see: queue)"])
        waiting = await records.held(held_id)
        if waiting is not None and not may_moderate(power, waiting.place):
            return Said([elsewhere(name, f"#{held_id}", held=True)])
        held = await records.decide(held_id, approve=name == "approve", actor=account) if waiting else None
        if held is None:  # never held, or decided meanwhile
            return Said([f"Nothing waits for review as #{held_id}."])
        if name == "reject":
            return Said([f"Rejected #{held_id} from {held.post.author_name}: not filed."])
        filed = await file_approved(held.post)
        if not held.post.visibility.publishable:  # what it said stays where it was said
            return Said([f"Approved #{held_id} from {held.post.author_name}: filed as private."])
        return Said([f"Approved #{held_id} from {held.post.author_name}:"] + filed)
    if name == "modlog":
        entries = await records.log_entries(10)
        # A link only private shares held is named in the moderators' rooms only (and at the shell).
        private_here = power.place is None or power.place in moderation.moderators_places
        return Said([_log_line(e, zone, shown=private_here or not e.private_target) for e in entries]
                    or ["The moderation log is empty."])
    if name == "report":
        link_id = _number(args[0]) if args else None
        if link_id is None:
            return Said(["Usage: report ID [reason], such as: report 12 spam"])
        # The public view only: the notice may go to the room the report came from.
        link = await PublishedReader(moderation.store).link(link_id)
        if link is None:
            return Said([f"There is no link #{link_id}."])  # private links do not exist here
        reason = " ".join(args[1:]) or None
        await records.report(link_id, reporter=account, reason=reason)
        notice = (f"Report on #{link_id} {link.url}" + (f": {reason}" if reason else "")
                  + f" (rm {link_id} removes it; a room's moderators may remove that room's shares)")
        return Said(["Thank you: the moderators were told."], for_moderators=notice)
    if name == "forget":
        if args[:1] != ("me",):
            return Said(["Usage: forget me — everything you shared leaves the store, and your name with it."])
        shares, links = await records.forget(account)
        return Said([f"Done: {shares} share(s) of yours removed ({links} link(s) nobody else shared went with "
                     "them). Digests from now on will not name you, and the moderation log keeps what was "
                     "done under a pseudonym."])
    raise ValueError(name)


def _log_line(entry, zone: ZoneInfo, *, shown: bool) -> str:
    """One entry of the log; one naming a link only private shares held hides it, and its
    reason (a page's final URL), unless `shown`."""
    if not shown:
        return f"{entry.at.astimezone(zone):%Y-%m-%d %H:%M} {entry.actor} {entry.action} a link shared privately"
    return (f"{entry.at.astimezone(zone):%Y-%m-%d %H:%M} {entry.actor} {entry.action} {entry.target}"
            + (f": {entry.reason}" if entry.reason else ""))


def _account(text: str, caller: str) -> str:
    """Whom a moderator names: a Matrix id as it is; a fediverse account as user@server, a bare
    @user being on the moderator's own server (as Mastodon reads a mention)."""
    if text.startswith("@") and ":" in text:
        return text
    name = canonical_account(text)
    if "@" not in name and "@" in caller and ":" not in caller:
        name = f"{name}@{caller.rsplit('@', 1)[1]}"
    return canonical_account(name)


def _shown(post: Post) -> str:
    """A held post as moderators see it in a room: a private message is not repeated there."""
    if not post.visibility.publishable:
        return "a private message"
    return " ".join(post.links) if post.links else (post.text[:120] + ("…" if len(post.text) > 120 else ""))


def _number(text: str) -> int | None:
    text = text.lstrip("#")
    return int(text) if text.isdigit() and len(text) < 10 else None
