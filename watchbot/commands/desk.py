"""The desk: runs a chat command for any network, the same way.

A network hands it what a person typed (a `Command`) and who they are (a `Caller`: their power,
and the audience that will read the answer); the desk finds the command in the registry, refuses
in one line whoever may not run it, runs the handler and gives back a `Reply`. What the
moderators must be told besides (a report) goes to every network's moderators from here, so no
adapter carries its own copy of that path.

Answers hold only what their audience may read: every link shown is a PublishedLink read
through the published view for the caller's audience, never a full record.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from watchbot.commands.registry import COMMANDS, Needs, Spec, Who, refusal_of, spec_of
from watchbot.commands.words import DEFAULT_PREFIX, Command
from watchbot.digest.schedule import DEFAULT_SCHEDULE
from watchbot.intake import Rules
from watchbot.model import PUBLIC, Audience
from watchbot.moderation import Moderation, ModerationOptions
from watchbot.network import NoNetworks, Networks
from watchbot.policy import Power, Role, reaches_store
from watchbot.store import Store

if TYPE_CHECKING:
    from watchbot.feeds.poller import FeedPoller

log = logging.getLogger(__name__)


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
    # False: it names someone who asked to be forgotten (`forget me`'s own answer): once sent, the
    # outbox keeps its row without what it said.
    kept: bool = True


@dataclass(frozen=True, slots=True)
class DigestOptions:
    """What `digest preview` needs to build the digest as the scheduler will."""

    schedule: str = DEFAULT_SCHEDULE
    top: int = 20
    feed_top: int = 10

    @classmethod
    def from_settings(cls, settings) -> DigestOptions:
        return cls(settings.digest_schedule, settings.digest_top, settings.feeds_digest_cap)


@dataclass(frozen=True, slots=True)
class DeskOptions:
    """What the commands need to know from the settings."""

    zone: ZoneInfo = ZoneInfo("UTC")
    prefix: str = DEFAULT_PREFIX
    digest: DigestOptions = DigestOptions()
    rules: Rules = Rules()
    web_base_url: str | None = None  # where the watch's pages are, when they are served

    @classmethod
    def from_settings(cls, settings) -> DeskOptions:
        return cls(settings.zone, settings.command_prefix, DigestOptions.from_settings(settings),
                   Rules.from_settings(settings), settings.web_base_url)


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler gets besides the command's words."""

    store: Store
    caller: Caller
    options: DeskOptions
    moderation: Moderation | None = None
    feeds: FeedPoller | None = None
    spec: Spec | None = field(default=None, compare=False)

    @property
    def zone(self) -> ZoneInfo:
        return self.options.zone


class Desk:
    """Runs chat commands against the store, for every network."""

    def __init__(self, store: Store, options: DeskOptions = DeskOptions(), *, moderation: Moderation | None = None,
                 feeds: FeedPoller | None = None, networks: Networks = NoNetworks) -> None:
        self.store = store
        self.options = options
        self.moderation = moderation
        self.feeds = feeds
        self.networks = networks

    @classmethod
    def from_settings(cls, store: Store, settings, *, networks: Networks, feeds: FeedPoller | None = None) -> Desk:
        """The desk the settings describe, with moderation; its answers reach `networks`."""
        return cls(store, DeskOptions.from_settings(settings),
                   moderation=Moderation(store, ModerationOptions.from_settings(settings)), feeds=feeds,
                   networks=networks)

    async def run(self, command: Command, caller: Caller) -> Reply:
        """The answer to `command` from `caller`: the handler's, or one line saying why not."""
        spec = spec_of(command.name)
        if spec is None:
            return lines([f"I do not know “{command.name}”. Try: {' '.join(sorted(COMMANDS))} (or help)."])
        refused = self._refusal(spec, caller)
        if refused is not None:
            return lines([refused])
        context = Context(self.store, caller, self.options, self.moderation, self.feeds, spec)
        answer = await spec.handler(command.args, context)
        return lines(answer) if isinstance(answer, list) else answer

    async def answer(self, command: Command, caller: Caller, *, key: str) -> Reply:
        """`run`, and what the moderators must be told besides sent to them on every network
        (`key` makes it one message per network however often this is replayed)."""
        reply = await self.run(command, caller)
        if reply.for_moderators:
            await self.networks.tell_moderators(reply.for_moderators, place=caller.power.place, key=key)
        return reply

    def _refusal(self, spec: Spec, caller: Caller) -> str | None:
        if spec.who is Who.STORE_WIDE and not reaches_store(caller.power):
            return refusal_of(spec.name)
        if spec.who is Who.ROOM_MODERATOR and caller.role < Role.MODERATOR:
            return refusal_of(spec.name)
        if spec.needs is Needs.MODERATION and self.moderation is None:
            return spec.needs.value
        if spec.needs is Needs.FEEDS and self.feeds is None:
            return spec.needs.value
        return None


def lines(said: list[str]) -> Reply:
    """Lines of plain text as a Reply (the HTML escapes them, one per line)."""
    return Reply("\n".join(said), "<br>".join(html.escape(line) for line in said))
