"""Chat commands, the same on every network: declared once in the registry (registry.py), each
where it runs (links.py, moderating.py, feeds.py, digest.py), run by one desk (desk.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from watchbot.commands.desk import Caller, DeskOptions, Desk, DigestOptions, Reply
from watchbot.commands.words import DEFAULT_PREFIX, Command, parse_command, parse_number
from watchbot.store import Store

from watchbot.commands import handlers  # noqa: E402,F401,I001 -- last: fills the registry with every command

if TYPE_CHECKING:
    from watchbot.feeds.poller import FeedPoller
    from watchbot.moderation import Moderation

__all__ = ["DEFAULT_PREFIX", "Caller", "Command", "Desk", "DeskOptions", "DigestOptions", "Reply",
           "parse_command", "parse_number", "run_command"]


async def run_command(store: Store, command: Command, caller: Caller, zone: ZoneInfo,
                      digest: DigestOptions = DigestOptions(), *, feeds: FeedPoller | None = None,
                      moderation: Moderation | None = None) -> Reply:
    """One command run by a desk of its own (the shell, tests); the bot's networks share one."""
    desk = Desk(store, DeskOptions(zone=zone, digest=digest), moderation=moderation, feeds=feeds)
    return await desk.run(command, caller)
