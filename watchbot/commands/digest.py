"""`digest`: the weekly digest as it stands so far; posting it is the schedule's (or the shell's)."""

from __future__ import annotations

from watchbot.commands.desk import Context, Reply
from watchbot.commands.registry import STORE_WIDE_WHO, command
from watchbot.digest.preview import preview
from watchbot.digest.render import render_matrix
from watchbot.policy import reaches_store

# Reading the digest is for everyone; acting on it reaches every room.
POSTING_REFUSAL = f"The digest goes to every room: {STORE_WIDE_WHO} post or approve it."


@command("digest", usage="digest preview", help="the weekly digest as it stands so far", refusal=POSTING_REFUSAL)
async def digest(args: tuple[str, ...], context: Context) -> Reply | list[str]:
    action = args[0].lower() if args else ""
    if action in ("post", "approve"):
        if not reaches_store(context.caller.power):
            return [context.spec.refusal]
        return ["The digest goes out on its schedule: approve a draft with ✅ on it in the review room, "
                "or post it from the server's shell with: watchbot digest post"]
    if action != "preview":
        return ["Usage: digest preview (the digest of the week so far)"]
    options = context.options.digest
    built = await preview(context.store, options.schedule, context.zone, top=options.top, feed_top=options.feed_top)
    rendered = render_matrix(built, context.zone, so_far=True)
    return Reply(rendered.text, rendered.html)
