"""The written interface every network adapter implements, and the one list of them that the
rest of the bot speaks to.

An adapter (watchbot/networks/matrix/, watchbot/networks/fediverse/) is built complete by the
wiring (bot.py) from its own options, the store, the command desk and this `Networks` list; it
is never patched afterwards, and nothing asks it what it can do with `getattr` or `hasattr`: what
differs between networks is said by `Offers`.

`Networks` is built empty first, handed to whatever must reach every network (the desk, the
feed poller's alerts, the digest scheduler), and each adapter joins it once built: the one
place where the parts that need each other meet, instead of attributes set on adapters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from watchbot.digest.build import Digest


@dataclass(frozen=True, slots=True)
class Part:
    text: str
    html: str | None = None


class DigestSendError(Exception):
    """An outlet could not send a part; the run stays claimed and is resumed later."""


class Outlet(Protocol):
    """Somewhere a digest goes: a Matrix room, the bot's fediverse account."""

    name: str  # stable, for the store: "matrix:!room:server", "mastodon:bots.example"
    scope: str | None  # a place (room id) to take the digest's links from; None: everywhere

    def parts(self, digest: Digest, zone: ZoneInfo) -> list[Part]:
        """The digest in this outlet's parts (its format, cut to its limits)."""
        ...

    async def send(self, part: Part, *, reply_to: str | None, key: str) -> str:
        """Send one part (as a reply to `reply_to`, where the outlet threads), return its id."""
        ...

    async def edit(self, remote_id: str, part: Part) -> None:
        """Replace a part already posted; DigestSendError when it could not be tried now (it
        will be again). A server that refuses edits is logged, not retried."""
        ...


@dataclass(frozen=True, slots=True)
class Offers:
    """What a network can do, for the parts that would otherwise have to guess."""

    streaming: bool  # events arrive as they happen (Matrix's sync, Mastodon's stream)
    editing: bool  # a posted message can be edited (a digest amended after `forget me`)
    reactions: bool  # people react to messages, and reactions count for the digest
    drafts: bool  # the digest's draft can be reviewed and approved here
    rechecks: bool  # a filed post may vanish without the bot being told (deleted statuses)


@runtime_checkable
class Network(Protocol):
    """One network the bot speaks on."""

    name: str  # "matrix", "mastodon": the source its posts are filed under
    offers: Offers
    ready: asyncio.Event  # set once the network is connected and knows its places

    async def run(self) -> None:
        """Follow the network until cancelled (or until it cannot go on, said in the log)."""

    async def connect(self) -> None:
        """Connect without following: enough to post (`watchbot digest post`)."""

    async def close(self) -> None:
        """Close the connection (never log the bot's device out)."""

    async def announce(self, text: str, html: str, *, key: str, public: bool = True) -> None:
        """A notice everywhere the digest goes (an alert, a feed given up; `public` false: for
        the moderators' places only); the same `key` is the same notice for the server."""

    async def tell_moderators(self, text: str, *, place: str | None, key: str) -> None:
        """A notice for the moderators (a report made in `place`), owed in the outbox."""

    def digest_outlets(self) -> list[Outlet]:
        """Where the digest goes on this network now (empty until connected)."""

    def draft_outlets(self) -> list[Outlet]:
        """Where the digest's draft goes for review (empty where `offers.drafts` is false)."""

    async def recheck(self, uri: str) -> tuple[bool, int]:
        """Whether a filed post still exists, and its favourites (asked where `offers.rechecks`)."""


class Networks(Sequence):
    """Every network of this process, in the order they joined."""

    def __init__(self) -> None:
        self._joined: list[Network] = []

    def join(self, network: Network) -> None:
        if not isinstance(network, Network):
            raise TypeError(f"{type(network).__name__} does not implement watchbot.network.Network")
        self._joined.append(network)

    def __getitem__(self, index):
        return self._joined[index]

    def __len__(self) -> int:
        return len(self._joined)

    def __iter__(self) -> Iterator[Network]:
        return iter(self._joined)

    async def tell_moderators(self, text: str, *, place: str | None, key: str) -> None:
        """The moderators, wherever they read."""
        for network in self._joined:
            await network.tell_moderators(text, place=place, key=key)

    async def announce(self, text: str, html: str, *, key: str, public: bool = True) -> None:
        for network in self._joined:
            await network.announce(text, html, key=key, public=public)


class _NoNetworks(Networks):
    """For a desk or a scheduler run without networks (the shell, tests): nobody to tell."""

    def join(self, network: Network) -> None:
        raise TypeError("NoNetworks stays empty: build a Networks() to join networks to")


NoNetworks = _NoNetworks()
