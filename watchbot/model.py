"""The shapes that flow through watchbot: what came in (Post), what is kept (Link, Share).

Every source (Matrix, Mastodon, feeds, the command line, an import) turns what it receives into a
`Post`. Nothing after intake knows which network a post came from, except through these fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any


class Visibility(StrEnum):
    """Who could see the message a link came from; decides what may be published."""

    PUBLIC = "public"
    UNLISTED = "unlisted"
    PRIVATE = "private"  # followers-only, or a closed room the bot was asked not to publish
    DIRECT = "direct"

    @property
    def publishable(self) -> bool:
        return self in (Visibility.PUBLIC, Visibility.UNLISTED)


def rewritten(kept: Visibility, asked: Visibility) -> Visibility:
    """What a share's visibility becomes when something asks to rewrite it (an operator's `rooms
    set --past`, an edit of the message, an import into a store that knows its room): `asked`,
    unless what is kept is direct. A direct share is a fact of the share: a conversation with the
    bot, never published, whatever happens to its room, the store or a backup. Every path that
    rewrites a share's visibility asks this (decision 35)."""
    return Visibility.DIRECT if kept is Visibility.DIRECT else asked


class Source(StrEnum):
    MATRIX = "matrix"
    MASTODON = "mastodon"
    FEED = "feed"
    CLI = "cli"
    IMPORT = "import"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class Post:
    """One message as received, whatever the network."""

    source: Source
    place: str  # room id, instance, feed URL, "cli"
    author_id: str  # @user:server, acct@instance, feed URL
    author_name: str  # how to credit them, without pinging
    text: str  # plain text (Matrix `body`, status text, entry summary)
    html: str | None = None  # Matrix `formatted_body`, status `content`: links come from its hrefs
    event_id: str | None = None  # the source's own id; a share is unique per (source, event_id)
    visibility: Visibility = Visibility.PUBLIC
    at: datetime = field(default_factory=utcnow)
    note: str | None = None
    extra_tags: tuple[str, ...] = ()  # tags given outside the text (--tag, a feed's tags)
    # Links the source already knows (the CLI's URL, a feed entry's link, an imported row): taken
    # as they are, and the text is then not scanned for more.
    links: tuple[str, ...] = ()
    title: str | None = None  # what the source already knows of the page (a feed entry, a bookmark)
    description: str | None = None


def post_to_json(post: Post) -> dict[str, Any]:
    """A Post as JSON values (kept to be filed later: a failed feed entry)."""
    return {**asdict(post), "source": post.source.value, "visibility": post.visibility.value,
            "at": post.at.isoformat()}


def post_from_json(values: Mapping[str, Any]) -> Post:
    return Post(**{**values, "source": Source(values["source"]), "visibility": Visibility(values["visibility"]),
                   "at": datetime.fromisoformat(values["at"]), "extra_tags": tuple(values["extra_tags"]),
                   "links": tuple(values["links"])})


@dataclass(frozen=True, slots=True)
class NewShare:
    """What intake asks the store to record: one link shared once by one person."""

    url: str  # as posted
    key: str  # canonical dedupe key (links.canonical_key)
    sharer_id: str
    sharer_name: str
    source: Source
    place: str
    event_id: str | None
    visibility: Visibility
    shared_at: datetime
    note: str | None = None
    tags: tuple[str, ...] = ()
    title: str | None = None
    description: str | None = None
    # Never ranks before the link's shares already filed: a feed entry's date says when the feed
    # published it, not when the community had it, so a person who shared it first stays first.
    after_earlier_shares: bool = False


@dataclass(frozen=True, slots=True)
class Owed:
    """An answer the bot owes (a reaction, a reply, a notice): where, what kind, what it says (JSON
    values, as the network's sender reads them), and the idempotency key it is sent with. Written
    to the outbox in the same transaction as what it answers (store/outbox.py)."""

    network: str
    place: str
    kind: str
    payload: Mapping[str, Any]
    key: str
    # False: what it says names someone who asked to be forgotten (`forget me`'s own answer): once
    # sent, the outbox keeps the row without it (store/outbox.py).
    kept: bool = True


@dataclass(frozen=True, slots=True)
class Share:
    id: int
    link_id: int
    url: str
    sharer_id: str
    sharer_name: str
    source: Source
    place: str
    event_id: str | None
    visibility: Visibility
    shared_at: datetime
    note: str | None
    tags: tuple[str, ...]
    # What the source said of the page (a feed entry, a bookmark, the command line's --title):
    # kept per share, so a title only a private share gave is never published.
    title: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    id: int
    key: str
    url: str  # as first posted
    title: str | None
    description: str | None
    tags: tuple[str, ...]  # the union of its shares' tags, sorted
    share_count: int
    first_sharer_name: str
    first_shared_at: datetime
    site_name: str | None = None  # from the page, once fetched


class PageState(StrEnum):
    """Where fetching a link's page stands."""

    PENDING = "pending"  # not fetched yet
    OK = "ok"
    FAILED = "failed"  # retried later, with backoff
    DEAD = "dead"  # gone (404, 410) or failing for too long: marked, never deleted
    REFUSED = "refused"  # the fetch guard said no (a private address, a bad scheme): not retried


@dataclass(frozen=True, slots=True)
class Page:
    """What fetching a link found. A person's own title for a link wins over the page's."""

    state: PageState
    final_url: str | None = None
    canonical_url: str | None = None
    title: str | None = None
    description: str | None = None
    site_name: str | None = None
    language: str | None = None
    image_url: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    reason: str | None = None
    attempts: int = 0
    fetched_at: datetime | None = None
    next_fetch_at: datetime | None = None
    # The URL that was asked for: what the page says is published only when it was fetched from
    # the published URL (a private URL's page may say what its private parameters selected).
    fetched_url: str | None = None


@dataclass(frozen=True, slots=True)
class Audience:
    """Who reads an answer, and so which shares it may be computed from (watchbot/published.py).

    The public (a group room, the digest, exports, the fediverse) sees publishable shares only.
    A private place (a direct chat, a private room) sees those and the shares made in that very
    place; with `person`, only that person's own shares there (an answer to a private share on
    the fediverse, whose place is the whole instance). The operator's own view (the command
    line, backups) is the whole LinkRecord, not an Audience."""

    place: str | None = None  # a private place whose own shares it sees too; None: the public
    person: str | None = None  # only this sharer's shares of that place

    def sees(self, share: Share) -> bool:
        if share.visibility.publishable:
            return True
        return share.place == self.place and (self.person is None or share.sharer_id == self.person)

    @classmethod
    def of_share(cls, share: Share) -> Audience:
        """Who reads an answer to this share: where it was posted, as it was posted."""
        return PUBLIC if share.visibility.publishable else cls(share.place, share.sharer_id)


PUBLIC = Audience()


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """A link with every share of it, oldest first: what `show` and exports work from."""

    link: Link
    shares: tuple[Share, ...]
    page: Page | None = None


@dataclass(frozen=True, slots=True)
class Filed:
    """What the store did with a NewShare."""

    link: Link
    share: Share
    new_link: bool  # the link was not in the store before
    new_share: bool  # False when this very share was already recorded (a replayed event)
    first_share: Share  # the earliest share of the link; `share` itself when new_link
    # Every share of the link, oldest first: what an answer computes its audience's view from.
    shares: tuple[Share, ...] = ()


@dataclass(frozen=True, slots=True)
class Period:
    """A stretch of time a digest covers (watchbot/digest/schedule.py computes them from a cron
    schedule)."""

    start: datetime  # aware, included
    end: datetime  # aware, excluded

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True, slots=True)
class Treatment:
    """How a room's links are filed by default, from its state (watchbot/rooms.py decides)."""

    visibility: Visibility
    reason: str  # why, in a few words, for `watchbot rooms` and the join notice


@dataclass(frozen=True, slots=True)
class RoomRecord:
    """A room as the store keeps it: what its state says, and an operator's choice over it."""

    room_id: str
    name: str | None
    state: Treatment
    override: Visibility | None
    overridden_by: str | None
    overridden_at: datetime | None
    joined: bool
    updated_at: datetime

    @property
    def visibility(self) -> Visibility:
        """How links shared there from now on are filed."""
        if self.state.visibility is Visibility.DIRECT:
            return Visibility.DIRECT
        return self.override or self.state.visibility

    @property
    def why(self) -> str:
        if self.override is not None and self.state.visibility is not Visibility.DIRECT:
            return f"set {self.override.value} by {self.overridden_by} on {self.overridden_at:%Y-%m-%d}"
        return self.state.reason
