"""Everyone's commands on the watch's links: find them, read them, tag and remove one's own."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from watchbot.commands.desk import Context, Reply
from watchbot.commands.registry import command, help_lines
from watchbot.commands.words import parse_number
from watchbot.intake import tags_left_out
from watchbot.links import MAX_TAGS_PER_SHARE, normalise_tag
from watchbot.model import Share, utcnow
from watchbot.policy import Role, elsewhere, may_change, reaches_store
from watchbot.published import LinkSummary, PublishedLink, view_of
from watchbot.store.links import LinkStore
from watchbot.store.published import PublishedReader

MAX_LISTED = 10


@command("help", usage="help", help="what I do and the commands")
async def help_(args: tuple[str, ...], context: Context) -> list[str]:
    return help_lines()


@command("about", usage="about", help="how links shared here are filed, and where the watch can be read")
async def about(args: tuple[str, ...], context: Context) -> list[str]:
    if context.caller.audience.place is None:
        said = ["Links shared here are public: they may reach the weekly digest, the watch's fediverse account "
                "and its web pages."]
    else:
        said = ["Links shared here are private: they stay in the store, are shown only here, and are never "
                "published (not in the digest, not on the fediverse, not on the web pages)."]
    web = context.options.web_base_url
    said.append(f"The watch's web pages: {web}" if web else "The watch has no web pages here.")
    return said + ["Say help for the commands."]


@command("search", usage="search WORDS", help="links whose URL, title, notes or tags match every word, best match first",
         aliases=("cherche",))
async def search(args: tuple[str, ...], context: Context) -> Reply | list[str]:
    if not args:
        return ["Search for what? Example: search rust async"]
    found = await PublishedReader(context.store, context.caller.audience).search(" ".join(args), limit=MAX_LISTED)
    if not found:
        return [f"Nothing found for “{' '.join(args)}”."]
    return listing(found, context.zone)


@command("recent", usage="recent [N]", help="the last links shared")
async def recent(args: tuple[str, ...], context: Context) -> list[str]:
    count = parse_number(args[0]) if args else 5
    if count is None or not 1 <= count <= MAX_LISTED:
        return [f"recent takes a number from 1 to {MAX_LISTED}, such as: recent 5"]
    links = await PublishedReader(context.store, context.caller.audience).recent(limit=count)
    if not links:
        return ["Nothing shared yet."]
    return listing(links, context.zone)


@command("top", usage="top [week|month]", help="the links most people shared")
async def top(args: tuple[str, ...], context: Context) -> list[str]:
    period = args[0].lower() if args else "week"
    days = {"week": 7, "month": 30}.get(period)
    if days is None:
        return ["top takes week or month, such as: top month"]
    ranked = await PublishedReader(context.store, context.caller.audience).top(since=utcnow() - timedelta(days=days),
                                                                         limit=MAX_LISTED)
    if not ranked:
        return [f"Nothing shared this {period}."]
    return listing([link for link, _ in ranked], context.zone, heading=f"Most shared this {period}:")


@command("tags", usage="tags", help="tags by number of links")
async def tags(args: tuple[str, ...], context: Context) -> list[str]:
    counts = await PublishedReader(context.store, context.caller.audience).tag_counts()
    if not counts:
        return ["No tags yet."]
    return [", ".join(f"{tag} ({count})" for tag, count in counts[:30])]


@command("show", usage="show ID", help="a link and who shared it")
async def show(args: tuple[str, ...], context: Context) -> list[str]:
    link_id = parse_number(args[0]) if args else None
    if link_id is None:
        return ["Usage: show ID, such as: show 12"]
    link = await PublishedReader(context.store, context.caller.audience).link(link_id)
    if link is None:
        return [f"There is no link #{link_id}."]  # private links do not exist here
    said = [describe_link(link, context.zone)]
    for share in link.shares:
        day = share.shared_at.astimezone(context.zone).strftime("%Y-%m-%d")
        said.append(f"shared by {share.sharer_name} on {day}" + (f": {share.note}" if share.note else ""))
    if link.hidden:  # counted, never named
        said.append(f"and {link.hidden} more share(s) not shown here")
    return said


@command("tag", usage="tag ID +tag -tag",
         help="add or remove tags (on what you shared; a room's moderators: on what was shared there)")
async def tag(args: tuple[str, ...], context: Context) -> list[str]:
    changes = args[1:]
    add = [normalise_tag(a[1:]) for a in changes if a.startswith("+")]
    remove = [normalise_tag(a[1:]) for a in changes if a.startswith("-")]
    if not changes or None in add + remove or len(add) + len(remove) != len(changes):
        return ["Usage: tag ID +tag -tag, such as: tag 12 +rust -python"]
    link_id = parse_number(args[0])
    if link_id is None:
        return [f"“{args[0]}” is not a link number."]
    mine = await _changeable(context, link_id, "tag")
    if isinstance(mine, str):
        return [mine]
    # A tag added goes where the room that asked can see it: on the earliest share this audience
    # reads (an admin tagging in a public room must not tag a direct chat's share, never published).
    seen_here = sorted((share for share in mine if context.caller.audience.sees(share)),
                       key=lambda share: (share.shared_at, share.id))
    record = await LinkStore(context.store).change_tags(link_id, add=add, remove=remove,
                                                        share_ids=[share.id for share in mine],
                                                        add_to=seen_here[0].id if seen_here else None,
                                                        at_most=MAX_TAGS_PER_SHARE)
    if record is None:
        return [f"There is no link #{link_id}."]  # removed meanwhile
    mine_now = {share.id for share in mine}
    kept = {tag for share in record.shares if share.id in mine_now for tag in share.tags}
    left_out = [tag for tag in dict.fromkeys(add) if tag not in kept]
    said = [tags_left_out(left_out)] if left_out else []
    seen = view_of(record, context.caller.audience)  # the tags this room may see, not every share's
    if seen is None:
        return [f"Changed the tags of your share of #{link_id}.", *said]
    return [f"#{link_id} is now tagged: {', '.join(seen.tags) or 'nothing'}.", *said]


@command("rm", usage="rm ID", help="remove what you shared of a link (a room's moderators: what was shared there)")
async def rm(args: tuple[str, ...], context: Context) -> list[str]:
    link_id = parse_number(args[0]) if args else None
    if link_id is None:
        return ["Usage: rm ID, such as: rm 12"]
    mine = await _changeable(context, link_id, "remove")
    if isinstance(mine, str):
        return [mine]
    caller, store = context.caller, context.store
    if reaches_store(caller.power):  # the whole link, logged
        removed = await LinkStore(store).remove_link(link_id, actor=caller.user_id, reason="chat command")
        if removed is None:
            return [f"There is no link #{link_id}."]
        return [f"Removed #{link_id} and its {removed.link.share_count} share(s)."]
    own = all(share.sharer_id == caller.user_id for share in mine)
    count, link_gone = await LinkStore(store).remove_shares(link_id, [share.id for share in mine],
                                                            actor=None if own else caller.user_id, reason="chat command")
    gone = " (and the link with it)." if link_gone else "."
    if own:
        return [f"Removed your share of #{link_id}{gone}"]
    return [f"Removed {count} share(s) of #{link_id}{gone}"]


async def _changeable(context: Context, link_id: int, verb: str) -> list[Share] | str:
    """The shares of a link the caller may remove or retag (policy.may_change), or the sentence
    saying who may."""
    caller = context.caller
    record = await LinkStore(context.store).get_link(link_id)
    mine = [share for share in record.shares
            if may_change(caller.power, caller.user_id, share.sharer_id, share.place)] if record else []
    if mine:
        return mine
    if caller.role < Role.MODERATOR:  # said alike whether the link exists or not
        return (f"#{link_id}: only the people who shared it, or the moderators of the room it was "
                f"shared in, may {verb} it.")
    if record is None or view_of(record, caller.audience) is None:
        return f"There is no link #{link_id}."  # private links do not exist here
    return elsewhere(verb, f"#{link_id}")


def listing(links: list[PublishedLink] | list[LinkSummary], zone: ZoneInfo, heading: str | None = None) -> list[str]:
    return ([heading] if heading else []) + [describe_link(link, zone) for link in links]


def describe_link(link: PublishedLink | LinkSummary, zone: ZoneInfo) -> str:
    day = link.first_shared_at.astimezone(zone).strftime("%Y-%m-%d")
    more = f", {link.sharer_count} sharers" if link.sharer_count > 1 else ""
    tag_text = f" [{', '.join(link.tags)}]" if link.tags else ""
    title = f"{link.title} — " if link.title else ""
    return f"#{link.id} {title}{link.url}{tag_text} ({link.first_sharer_name}, {day}{more})"
