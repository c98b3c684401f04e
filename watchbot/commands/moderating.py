"""The moderators' commands (bans, the blocklist, the review queue, the log), and the two every
member has over moderation: `report` a link, `forget me`."""

from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

from watchbot.accounts import canonical_account
from watchbot.commands.desk import Context, Reply, lines
from watchbot.commands.registry import STORE_WIDE_WHO, Needs, Who, command
from watchbot.commands.words import parse_number
from watchbot.intake import describe, file_post
from watchbot.model import Post
from watchbot.policy import Role, elsewhere, may_moderate, normalise_pattern, reaches_store, role_of
from watchbot.store.forget import Forgotten
from watchbot.store.published import PublishedReader


def _store_wide(what: str, verb: str = "do it") -> str:
    return f"{what}: {STORE_WIDE_WHO} {verb}."


@command("ban", usage="ban USER [reason]", help="the bot ignores what a banned person shares, everywhere", who=Who.STORE_WIDE,
         refusal=_store_wide("Banning someone reaches every room"), needs=Needs.MODERATION)
async def ban(args: tuple[str, ...], context: Context) -> list[str]:
    if not args:
        return ["Usage: ban USER [reason], such as: ban @spammer:example.org"]
    caller = context.caller
    target = _account(args[0], caller.user_id)
    if role_of(target, admins=context.moderation.options.admins, moderator=False, banned=False) is Role.ADMIN \
            or target == canonical_account(caller.user_id):
        return [f"{target} cannot be banned: an admin, or yourself."]
    done = await context.moderation.records.ban(target, actor=caller.user_id, reason=" ".join(args[1:]) or None)
    return [f"Banned {target}: I will ignore what they share." if done else f"{target} was banned already."]


@command("unban", usage="unban USER", help="hear someone banned again", who=Who.STORE_WIDE,
         refusal=_store_wide("Unbanning someone reaches every room"), needs=Needs.MODERATION)
async def unban(args: tuple[str, ...], context: Context) -> list[str]:
    if not args:
        return ["Usage: unban USER [reason], such as: unban @spammer:example.org"]
    target = _account(args[0], context.caller.user_id)
    done = await context.moderation.records.unban(target, actor=context.caller.user_id)
    return [f"{target} may share again." if done else f"{target} was not banned."]


@command("block", usage="block DOMAIN", help="file no link to spam.example, or to *.spam.example and its subdomains",
         who=Who.STORE_WIDE, refusal=_store_wide("Blocking a domain reaches every room"), needs=Needs.MODERATION)
async def block(args: tuple[str, ...], context: Context) -> list[str]:
    pattern = normalise_pattern(args[0]) if args else None
    if pattern is None:
        return ["Usage: block DOMAIN, such as: block spam.example or block *.spam.example"]
    done = await context.moderation.records.block(pattern, actor=context.caller.user_id,
                                                  reason=" ".join(args[1:]) or None)
    return [f"Blocked {pattern}: links to it are not filed from now on." if done else f"{pattern} was blocked already."]


@command("unblock", usage="unblock DOMAIN", help="file links to a blocked domain again", who=Who.STORE_WIDE,
         refusal=_store_wide("Unblocking a domain reaches every room"), needs=Needs.MODERATION)
async def unblock(args: tuple[str, ...], context: Context) -> list[str]:
    pattern = normalise_pattern(args[0]) if args else None
    if pattern is None:
        return ["Usage: unblock DOMAIN, such as: unblock spam.example or unblock *.spam.example"]
    done = await context.moderation.records.unblock(pattern, actor=context.caller.user_id)
    return [f"Links to {pattern} are filed again." if done else f"{pattern} was not blocked."]


@command("modlog", usage="modlog", help="the last moderation actions", who=Who.STORE_WIDE,
         refusal=_store_wide("The moderation log covers every room", "read it"), needs=Needs.MODERATION)
async def modlog(args: tuple[str, ...], context: Context) -> list[str]:
    entries = await context.moderation.records.log_entries(10)
    # A link only private shares held is named in the moderators' rooms only (and at the shell).
    place = context.caller.power.place
    private_here = place is None or place in context.moderation.moderators_places
    return ([_log_line(entry, context.zone, shown=private_here or not entry.private_target) for entry in entries]
            or ["The moderation log is empty."])


@command("queue", usage="queue", help="newcomers' posts held for review (a room's moderators: those posted in their room)",
         who=Who.ROOM_MODERATOR, needs=Needs.MODERATION)
async def queue(args: tuple[str, ...], context: Context) -> list[str]:
    power = context.caller.power
    # A room's moderators see what waits from their room only.
    waiting = await context.moderation.records.waiting(place=None if reaches_store(power) else power.place, limit=10)
    if not waiting:
        return ["Nothing waits for review."]
    return [f"#{held.id} {held.post.author_name}: {_shown(held.post)} "
            f"({held.at.astimezone(context.zone):%Y-%m-%d %H:%M}) — approve {held.id} or reject {held.id}"
            for held in waiting]


@command("approve", usage="approve ID", help="file a held post (or react ✅ to its message)", who=Who.ROOM_MODERATOR,
         needs=Needs.MODERATION)
async def approve(args: tuple[str, ...], context: Context) -> list[str]:
    return await _decide("approve", args, context)


@command("reject", usage="reject ID", help="drop a held post", who=Who.ROOM_MODERATOR,
         needs=Needs.MODERATION)
async def reject(args: tuple[str, ...], context: Context) -> list[str]:
    return await _decide("reject", args, context)


async def _decide(name: str, args: tuple[str, ...], context: Context) -> list[str]:
    held_id = parse_number(args[0]) if args else None
    if held_id is None:
        return [f"Usage: {name} ID (see: queue)"]
    records, caller = context.moderation.records, context.caller
    waiting = await records.held(held_id)
    if waiting is not None and not may_moderate(caller.power, waiting.place):
        return [elsewhere(name, f"#{held_id}", held=True)]
    held = await records.decide(held_id, approve=name == "approve", actor=caller.user_id) if waiting else None
    if held is None:  # never held, or decided meanwhile
        return [f"Nothing waits for review as #{held_id}."]
    if name == "reject":
        return [f"Rejected #{held_id} from {held.post.author_name}: not filed."]
    # Approved by a moderator: past the limits and the queue, never past the blocklist.
    filed = await file_post(context.store, held.post, context.options.rules, gate=context.moderation,
                            role=Role.MODERATOR)
    if not held.post.visibility.publishable:  # what it said stays where it was said
        return [f"Approved #{held_id} from {held.post.author_name}: filed as private."]
    return ([f"Approved #{held_id} from {held.post.author_name}:"]
            + [describe(result, context.zone) for result in filed.results] + list(filed.problems) + list(filed.notes))


@command("report", usage="report ID [reason]", help="tell the moderators about a link (or react ⚠️ to its message)", needs=Needs.MODERATION)
async def report(args: tuple[str, ...], context: Context) -> Reply | list[str]:
    link_id = parse_number(args[0]) if args else None
    if link_id is None:
        return ["Usage: report ID [reason], such as: report 12 spam"]
    # The public view only: the notice may go to the room the report came from.
    link = await PublishedReader(context.store).link(link_id)
    if link is None:
        return [f"There is no link #{link_id}."]  # private links do not exist here
    reason = " ".join(args[1:]) or None
    await context.moderation.records.report(link_id, reporter=context.caller.user_id, reason=reason)
    notice = (f"Report on #{link_id} {link.url}" + (f": {reason}" if reason else "")
              + f" (rm {link_id} removes it; a room's moderators may remove that room's shares)")
    return replace(lines(["Thank you: the moderators were told."]), for_moderators=notice)


@command("forget", usage="forget me", help="remove everything you shared, and your name with it",
         needs=Needs.MODERATION)
async def forget(args: tuple[str, ...], context: Context) -> Reply:
    """`forget me`: anyone, banned people too (the gate lets this command through for them). At
    the shell, an operator forgets ACCOUNT for someone who asked otherwise (`watchbot mod forget`)."""
    caller = context.caller
    at_the_shell = caller.power.place is None and reaches_store(caller.power)
    if args == ("me",):
        forgotten = await context.moderation.records.forget(caller.user_id)
        return replace(lines([said_forgotten(forgotten, "you")]), kept=False)
    if at_the_shell and len(args) == 1:
        account = _account(args[0], caller.user_id)
        forgotten = await context.moderation.records.forget(account, actor=caller.user_id)
        return lines([said_forgotten(forgotten, account)])
    return lines(["Usage: forget me — everything you shared leaves the store, and your name with it."])


def said_forgotten(forgotten: Forgotten, who: str) -> str:
    """What forgetting removed and what it kept, in one paragraph; `who`: "you", or the account."""
    yours, them = ("of yours", "you") if who == "you" else (f"of {who}", "them")
    also = [f"{count} {what}" for count, what in (
        (forgotten.answers, f"answer(s) of mine naming {them} or answering {them}"),
        (forgotten.failed_events, "event(s) I had kept after failing on them"),
        (forgotten.held, "post(s) in the review queue"),
        (forgotten.reports, "report(s)"),
        (forgotten.reactions, "reaction(s)")) if count]
    kept = "what was done, in the moderation log, under a pseudonym"
    if forgotten.banned:
        kept += f", and the ban, under a hash of the account (it still applies to {them})"
    return (f"Done: {forgotten.shares} share(s) {yours} removed ({forgotten.links} link(s) nobody else shared "
            f"went with them)" + (f"; removed with them: {', '.join(also)}" if also else "")
            + f". Digests from now on will not name {them}, and posted ones are edited. Kept: {kept}.")


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
