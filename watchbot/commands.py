"""Chat commands, the same on every network: parse the text, run it against the store, answer.

Answers hold only what their audience may read (the caller's `Audience`: the public in a group
room or on the fediverse, the place itself in a private room or direct chat): every link shown
is a PublishedLink read through `PublishedReader(store, audience)`, never a full record.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from watchbot.digest.preview import preview
from watchbot.digest.render import render_matrix
from watchbot.digest.schedule import DEFAULT_SCHEDULE
from watchbot.intake import Rules, describe, file_post
from watchbot.links import normalise_tag
from watchbot.model import PUBLIC, Audience, Share, utcnow
from watchbot.moderation import MEMBER_COMMANDS, MODERATOR_COMMANDS, Moderation, run_moderation
from watchbot.policy import STORE_WIDE_REFUSALS, Power, Role, elsewhere, may_change, reaches_store
from watchbot.published import LinkSummary, PublishedLink, view_of
from watchbot.store import Store
from watchbot.store.links import LinkStore
from watchbot.store.published import PublishedReader

if TYPE_CHECKING:
    from watchbot.feeds.poller import FeedPoller

DEFAULT_PREFIX = "!watch"
MAX_LISTED = 10


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who runs a command: their id and name, and their power (role, place, reach)."""

    user_id: str
    name: str
    power: Power = Power()
    audience: Audience = PUBLIC  # who reads the answer: where it is said

    @property
    def role(self) -> Role:
        return self.power.role


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer: plain text, and the same as HTML for networks that show it."""

    text: str
    html: str
    for_moderators: str | None = None  # what the moderators' room should be told (a report)


def parse_command(text: str, prefix: str = DEFAULT_PREFIX, *, addressed: bool = False) -> Command | None:
    """`!watch search rust` -> Command("search", ("rust",)). With `addressed` (the bot was
    mentioned and the mention already taken off), the text is a command without the prefix."""
    stripped = text.strip()
    head, _, rest = stripped.partition(" ")
    if head.lower() == prefix.lower():
        words = rest.split()
    elif addressed:
        words = stripped.split()
    else:
        return None
    if not words:
        return Command("help", ())
    return Command(words[0].lower(), tuple(words[1:]))


@dataclass(frozen=True, slots=True)
class DigestOptions:
    schedule: str = DEFAULT_SCHEDULE
    top: int = 20
    feed_top: int = 10


async def run_command(
    store: Store, command: Command, caller: Caller, zone: ZoneInfo, digest: DigestOptions = DigestOptions(),
    *, feeds: FeedPoller | None = None, moderation: Moderation | None = None,
) -> Reply:
    """`feeds` follows feeds for the `feed` command; without it, feeds are not available here.
    `moderation` runs the moderators' commands, and `report` and `forget me`."""
    if command.name in MODERATOR_COMMANDS + MEMBER_COMMANDS:
        return await _moderate(store, command, caller, zone, moderation)
    if command.name == "digest":
        return await _digest(store, command.args, caller, zone, digest)
    if command.name == "feed":
        return await _feed(command.args, caller, zone, feeds)
    handler = HANDLERS.get(command.name)
    if handler is None:
        names = " ".join(sorted([*HANDLERS, "digest", "feed", *MEMBER_COMMANDS]))
        return _lines([f"I do not know “{command.name}”. Try: {names} (or help)."])
    return await handler(store, command.args, caller, zone)


# -- the commands ---------------------------------------------------------------------------


async def _help(store: Store, args, caller: Caller, zone: ZoneInfo) -> Reply:
    lines = [
        "Drop a link with a few #hashtags and I file it. Commands (after !watch, or mentioning me):",
        "search WORDS — links whose URL, title, notes or tags match every word",
        "recent [N] — the last links shared",
        "top [week|month] — the links most people shared",
        "tags — tags by number of links",
        "show ID — a link and who shared it",
        "tag ID +tag -tag — add or remove tags (on what you shared; a room's moderators: on what was shared there)",
        "rm ID — remove what you shared of a link (a room's moderators: what was shared there)",
        "digest preview — the weekly digest as it stands so far",
        "feed add URL [#tag …] [alert] [every 30m] [backfill N], feed list, feed rm ID — follow feeds (moderators)",
        "report ID [reason] — tell the moderators about a link",
        "forget me — remove everything you shared, and your name with it",
        "A room's moderators: queue, approve ID, reject ID (what was posted in their room)",
        "Admins and the moderators' room: ban USER [reason], unban USER, block DOMAIN, unblock DOMAIN, modlog",
    ]
    return _lines(lines)


async def _search(store: Store, args, caller: Caller, zone: ZoneInfo) -> Reply:
    if not args:
        return _lines(["Search for what? Example: search rust async"])
    found = await PublishedReader(store, caller.audience).search(" ".join(args), limit=MAX_LISTED)
    if not found:
        return _lines([f"Nothing found for “{' '.join(args)}”."])
    return _listing(found, zone)


async def _recent(store: Store, args, caller: Caller, zone: ZoneInfo) -> Reply:
    count = _number(args[0]) if args else 5
    if count is None or not 1 <= count <= MAX_LISTED:
        return _lines([f"recent takes a number from 1 to {MAX_LISTED}, such as: recent 5"])
    links = await PublishedReader(store, caller.audience).recent(limit=count)
    if not links:
        return _lines(["Nothing shared yet."])
    return _listing(links, zone)


async def _top(store: Store, args, caller: Caller, zone: ZoneInfo) -> Reply:
    period = args[0].lower() if args else "week"
    days = {"week": 7, "month": 30}.get(period)
    if days is None:
        return _lines(["top takes week or month, such as: top month"])
    ranked = await PublishedReader(store, caller.audience).top(since=utcnow() - timedelta(days=days), limit=MAX_LISTED)
    if not ranked:
        return _lines([f"Nothing shared this {period}."])
    return _listing([link for link, _ in ranked], zone, heading=f"Most shared this {period}:")


async def _tags(store: Store, args, caller: Caller, zone: ZoneInfo) -> Reply:
    counts = await PublishedReader(store, caller.audience).tag_counts()
    if not counts:
        return _lines(["No tags yet."])
    return _lines([", ".join(f"{tag} ({count})" for tag, count in counts[:30])])


async def _show(store: Store, args, caller: Caller, zone: ZoneInfo) -> Reply:
    link_id = _number(args[0]) if args else None
    if link_id is None:
        return _lines(["Usage: show ID, such as: show 12"])
    link = await PublishedReader(store, caller.audience).link(link_id)
    if link is None:
        return _lines([f"There is no link #{link_id}."])  # private links do not exist here
    lines = [_describe_link(link, zone)]
    for share in link.shares:
        day = share.shared_at.astimezone(zone).strftime("%Y-%m-%d")
        lines.append(f"shared by {share.sharer_name} on {day}" + (f": {share.note}" if share.note else ""))
    if link.hidden:  # counted, never named
        lines.append(f"and {link.hidden} more share(s) not shown here")
    return _lines(lines)


async def _tag(store: Store, args, caller: Caller, zone: ZoneInfo) -> Reply:
    changes = args[1:]
    add = [normalise_tag(a[1:]) for a in changes if a.startswith("+")]
    remove = [normalise_tag(a[1:]) for a in changes if a.startswith("-")]
    if not changes or None in add + remove or len(add) + len(remove) != len(changes):
        return _lines(["Usage: tag ID +tag -tag, such as: tag 12 +rust -python"])
    link_id = _number(args[0]) if args else None
    if link_id is None:
        return _lines([f"“{args[0]}” is not a link number."])
    mine = await _changeable(store, link_id, caller, "tag")
    if isinstance(mine, Reply):
        return mine
    record = await LinkStore(store).change_tags(link_id, add=add, remove=remove, share_ids=[share.id for share in mine])
    if record is None:
        return _lines([f"There is no link #{link_id}."])  # removed meanwhile
    seen = view_of(record, caller.audience)  # the tags this room may see, not every share's
    if seen is None:
        return _lines([f"Changed the tags of your share of #{link_id}."])
    return _lines([f"#{link_id} is now tagged: {', '.join(seen.tags) or 'nothing'}."])


async def _rm(store: Store, args, caller: Caller, zone: ZoneInfo) -> Reply:
    link_id = _number(args[0]) if args else None
    if link_id is None:
        return _lines(["Usage: rm ID, such as: rm 12"])
    mine = await _changeable(store, link_id, caller, "remove")
    if isinstance(mine, Reply):
        return mine
    if reaches_store(caller.power):  # the whole link, logged
        removed = await LinkStore(store).remove_link(link_id, actor=caller.user_id, reason="chat command")
        if removed is None:
            return _lines([f"There is no link #{link_id}."])
        return _lines([f"Removed #{link_id} and its {removed.link.share_count} share(s)."])
    own = all(share.sharer_id == caller.user_id for share in mine)
    count, link_gone = await LinkStore(store).remove_shares(link_id, [share.id for share in mine],
                                                            actor=None if own else caller.user_id, reason="chat command")
    gone = " (and the link with it)." if link_gone else "."
    if own:
        return _lines([f"Removed your share of #{link_id}{gone}"])
    return _lines([f"Removed {count} share(s) of #{link_id}{gone}"])


async def _changeable(store: Store, link_id: int, caller: Caller, verb: str) -> list[Share] | Reply:
    """The shares of a link the caller may remove or retag (policy.may_change), or the answer
    saying who may."""
    record = await LinkStore(store).get_link(link_id)
    mine = [share for share in record.shares
            if may_change(caller.power, caller.user_id, share.sharer_id, share.place)] if record else []
    if mine:
        return mine
    if caller.role < Role.MODERATOR:  # said alike whether the link exists or not
        return _lines([f"#{link_id}: only the people who shared it, or the moderators of the room it was "
                       f"shared in, may {verb} it."])
    if record is None or view_of(record, caller.audience) is None:
        return _lines([f"There is no link #{link_id}."])  # private links do not exist here
    return _lines([elsewhere(verb, f"#{link_id}")])


async def _digest(store: Store, args, caller: Caller, zone: ZoneInfo, options: DigestOptions) -> Reply:
    action = args[0].lower() if args else ""
    if action in ("post", "approve"):  # what acts on the digest reaches every room
        if not reaches_store(caller.power):
            return _lines([STORE_WIDE_REFUSALS["digest"]])
        return _lines(["The digest goes out on its schedule: approve a draft with ✅ on it in the review room, "
                       "or post it from the server's shell with: watchbot digest post"])
    if action != "preview":  # reading it is for everyone
        return _lines(["Usage: digest preview (the digest of the week so far)"])
    built = await preview(store, options.schedule, zone, top=options.top, feed_top=options.feed_top)
    rendered = render_matrix(built, zone, so_far=True)
    return Reply(rendered.text, rendered.html)


FEED_USAGE = "Usage: feed add URL [#tag …] [alert] [every 30m] [backfill N], feed list, or feed rm ID"


async def _feed(args, caller: Caller, zone: ZoneInfo, feeds: FeedPoller | None) -> Reply:
    from watchbot.feeds.poller import FeedError
    from watchbot.feeds.results import describe_added, describe_state

    if not reaches_store(caller.power):
        return _lines([STORE_WIDE_REFUSALS["feed"]])
    if feeds is None:
        return _lines(["Feeds are not available here."])
    action = args[0].lower() if args else ""
    if action == "list":
        followed = await feeds.feeds.all()
        if not followed:
            return _lines(["No feeds yet. Add one with: feed add URL"])
        return _lines([f"#{feed.id} {feed.name} — {feed.url}" + (f" [{', '.join(feed.tags)}]" if feed.tags else "")
                       + (" (alert)" if feed.alert else "") + f": {describe_state(feed, zone)}"
                       for feed in followed[:30]])
    if action == "rm":
        feed_id = _number(args[1]) if len(args) == 2 else None
        if feed_id is None:
            return _lines(["Usage: feed rm ID, such as: feed rm 3 (feed list shows the ids)"])
        removed = await feeds.feeds.remove(feed_id)
        if removed is None:
            return _lines([f"There is no feed #{feed_id}."])
        return _lines([f"No longer following feed #{feed_id} “{removed.name}”; what it filed stays filed."])
    if action != "add" or len(args) < 2:
        return _lines([FEED_USAGE])
    options = _feed_options(args[2:])
    if isinstance(options, str):
        return _lines([options])
    try:
        polled = await feeds.add(args[1].strip("<>"), added_by=caller.user_id, **options)
    except FeedError as error:
        return _lines([f"I cannot follow it: {error.reason}"])
    return _lines([describe_added(polled)])


def _feed_options(words: tuple[str, ...]) -> dict | str:
    """`#tag alert every 30m backfill 5` -> feeds.add's options, or a sentence on what is wrong."""
    from watchbot.feeds.poller import parse_every

    options: dict = {"tags": [], "alert": False}
    rest = list(words)
    while rest:
        word = rest.pop(0)
        if word.startswith("#") and normalise_tag(word) is not None:
            options["tags"].append(word)
        elif word.lower() == "alert":
            options["alert"] = True
        elif word.lower() == "every" and rest:
            try:
                options["every"] = parse_every(rest.pop(0))
            except ValueError as error:
                return f"{error}. {FEED_USAGE}"
        elif word.lower() == "backfill" and rest and _number(rest[0]) is not None:
            options["backfill"] = _number(rest.pop(0))
        else:
            return f"I do not understand “{word}”. {FEED_USAGE}"
    return options


Handler = Callable[[Store, tuple[str, ...], Caller, ZoneInfo], Awaitable[Reply]]
HANDLERS: dict[str, Handler] = {
    "help": _help, "search": _search, "recent": _recent, "top": _top, "tags": _tags,
    "show": _show, "tag": _tag, "rm": _rm,
}


async def _moderate(store: Store, command: Command, caller: Caller, zone: ZoneInfo,
                    moderation: Moderation | None) -> Reply:
    if moderation is None:
        return _lines(["Moderation is not available here."])

    async def file_approved(post) -> list[str]:
        # Approved by a moderator: past the limits and the queue, never past the blocklist.
        result = await file_post(store, post, Rules.from_settings(moderation.settings), gate=moderation,
                                 role=Role.MODERATOR)
        return [describe(r, zone) for r in result.results] + list(result.problems)

    said = await run_moderation(moderation, command.name, command.args, caller.user_id, caller.power, zone,
                                file_approved)
    return replace(_lines(said.lines), for_moderators=said.for_moderators)


# -- helpers --------------------------------------------------------------------------------


def _listing(links: list[PublishedLink] | list[LinkSummary], zone: ZoneInfo, heading: str | None = None) -> Reply:
    return _lines(([heading] if heading else []) + [_describe_link(link, zone) for link in links])


def _describe_link(link: PublishedLink | LinkSummary, zone: ZoneInfo) -> str:
    day = link.first_shared_at.astimezone(zone).strftime("%Y-%m-%d")
    more = f", {link.sharer_count} sharers" if link.sharer_count > 1 else ""
    tag_text = f" [{', '.join(link.tags)}]" if link.tags else ""
    title = f"{link.title} — " if link.title else ""
    return f"#{link.id} {title}{link.url}{tag_text} ({link.first_sharer_name}, {day}{more})"


def _lines(lines: list[str]) -> Reply:
    return Reply("\n".join(lines), "<br>".join(html.escape(line) for line in lines))


def _number(text: str) -> int | None:
    text = text.lstrip("#")
    return int(text) if text.isdigit() and len(text) < 18 else None
