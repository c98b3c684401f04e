"""`feed`: the feeds the watch follows, added, listed and removed from a chat room."""

from __future__ import annotations

from watchbot.commands.desk import Context
from watchbot.commands.registry import STORE_WIDE_WHO, Needs, Who, command
from watchbot.commands.words import parse_number
from watchbot.links import normalise_tag

FEED_USAGE = "Usage: feed add URL [#tag …] [alert] [every 30m] [backfill N], feed list, or feed rm ID"


@command("feed", usage="feed add URL [#tag …] [alert] [every 30m] [backfill N], feed list, feed rm ID",
         help="follow feeds; alert ones are announced in every room", who=Who.STORE_WIDE, needs=Needs.FEEDS,
         refusal=f"Feeds file links for every room: {STORE_WIDE_WHO} add, list or remove them.")
async def feed(args: tuple[str, ...], context: Context) -> list[str]:
    from watchbot.feeds.poller import FeedError
    from watchbot.feeds.results import describe_added, describe_state

    feeds = context.feeds
    action = args[0].lower() if args else ""
    if action == "list":
        followed = await feeds.feeds.all()
        if not followed:
            return ["No feeds yet. Add one with: feed add URL"]
        return [f"#{feed.id} {feed.name} — {feed.url}" + (f" [{', '.join(feed.tags)}]" if feed.tags else "")
                + (" (alert)" if feed.alert else "") + f": {describe_state(feed, context.zone)}"
                for feed in followed[:30]]
    if action == "rm":
        feed_id = parse_number(args[1]) if len(args) == 2 else None
        if feed_id is None:
            return ["Usage: feed rm ID, such as: feed rm 3 (feed list shows the ids)"]
        removed = await feeds.feeds.remove(feed_id)
        if removed is None:
            return [f"There is no feed #{feed_id}."]
        return [f"No longer following feed #{feed_id} “{removed.name}”; what it filed stays filed."]
    if action != "add" or len(args) < 2:
        return [FEED_USAGE]
    options = _feed_options(args[2:])
    if isinstance(options, str):
        return [options]
    try:
        polled = await feeds.add(args[1].strip("<>"), added_by=context.caller.user_id, **options)
    except FeedError as error:
        return [f"I cannot follow it: {error.reason}"]
    return [describe_added(polled)]


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
        elif word.lower() == "backfill" and rest and parse_number(rest[0]) is not None:
            options["backfill"] = parse_number(rest.pop(0))
        else:
            return f"I do not understand “{word}”. {FEED_USAGE}"
    return options
