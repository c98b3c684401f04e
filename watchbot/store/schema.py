"""The one schema, for SQLite and PostgreSQL alike (SQLAlchemy Core).

Migrations (store/migrations/versions) create what is described here; a test checks that the
migrated database and this metadata agree, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both databases.

    PostgreSQL keeps the offset (timestamptz); SQLite has no such type, so UTC is stored without
    an offset and given back aware. Naive datetimes are refused: they are always a bug here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    @classmethod
    def reader(cls, dialect) -> Callable[[Any], datetime | None]:
        """What a statement run on the driver's cursor (store/prepared.py) calls on each raw
        value of such a column: the same moment `Connection.execute` would give, faster.

        SQLAlchemy's way on SQLite, `fromisoformat` then `replace(tzinfo=utc)`, spends most of its
        time in `replace` (a keyword call: 1 µs, the parsing 0.1 µs). Text as SQLAlchemy writes
        it here (naive UTC, "2026-11-20 16:05:02.248876") is parsed aware in one call instead; any
        other value (an offset, a date alone, a number) goes SQLAlchemy's own way."""
        exact = cls().dialect_impl(dialect).result_processor(dialect, None) or (lambda value: value)
        if dialect.name != "sqlite":
            return exact
        parse, utc = datetime.fromisoformat, timezone.utc

        def read(value: Any) -> datetime | None:
            if value.__class__ is str:
                try:
                    moment = parse(value + "+00:00")
                except ValueError:
                    return exact(value)
                if moment.tzinfo is utc:  # else "+00:00" was read as the time of a date alone
                    return moment
            return exact(value)

        return read


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

links = Table(
    "links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", Text, nullable=False, unique=True),  # links.canonical_key
    Column("url", Text, nullable=False),  # as first posted
    Column("title", Text),
    Column("description", Text),
    # url, title, description, notes and tags in one text: what full-text search indexes
    # (an FTS5 table on SQLite, a GIN tsvector index on PostgreSQL).
    Column("search_document", Text, nullable=False, server_default=""),
    Column("filed_at", UTCDateTime, nullable=False),
    # The public view (watchbot/published.py), kept by links.rebuild_search_document: the URL
    # published (NULL: no share may be published, the link does not exist for the public) and
    # the only text public search matches (published_fts on SQLite, a GIN index on PostgreSQL).
    Column("published_url", Text),
    Column("published_document", Text, nullable=False, server_default=""),
    # SQLite: a removed link's number is never handed out again (PostgreSQL's sequence never goes back).
    sqlite_autoincrement=True,
)

shares = Table(
    "shares",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("link_id", Integer, ForeignKey("links.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),  # as posted in this share
    Column("sharer_id", Text, nullable=False),
    Column("sharer_name", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("place", Text, nullable=False),
    Column("event_id", Text),  # the source's own id: a replayed event files nothing twice
    Column("visibility", Text, nullable=False),
    Column("shared_at", UTCDateTime, nullable=False),
    Column("note", Text),
    Column("title", Text),  # what the source said of the page (a feed entry, a bookmark)
    Column("description", Text),
    # One event can share several links, and a replayed event files none of them twice.
    # NULL event ids (the CLI, some imports) are distinct on both databases.
    UniqueConstraint("source", "event_id", "link_id"),
    Index(None, "link_id"),
    Index(None, "shared_at"),
    # The gate counts what one person shared in the last day: a range of this index, however long
    # their history (the sharer_id index it replaces made that read grow with every earlier share).
    Index(None, "sharer_id", "shared_at"),
)

share_tags = Table(
    "share_tags",
    metadata,
    Column("share_id", Integer, ForeignKey("shares.id", ondelete="CASCADE"), nullable=False),
    Column("tag", Text, nullable=False),
    PrimaryKeyConstraint("share_id", "tag"),
    Index(None, "tag"),
)

# Sync positions of the networks (Matrix next_batch, Mastodon notification id, feed ETags):
# kept here so a restart goes on from where the store says, nothing lost, nothing twice.
cursors = Table(
    "cursors",
    metadata,
    Column("name", Text, primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One row per (outlet, period): claiming a digest is one transactional insert.
digest_runs = Table(
    "digest_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("outlet", Text, nullable=False),
    Column("period_start", UTCDateTime, nullable=False),
    Column("period_end", UTCDateTime, nullable=False),
    Column("status", Text, nullable=False),  # posting, posted, empty, amend (posted, to be edited)
    Column("created_at", UTCDateTime, nullable=False),
    # The process posting it, and when it last showed it was alive (each part sent renews it).
    Column("claimed_by", Text),
    Column("claimed_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    UniqueConstraint("outlet", "period_start"),
)

# Each posted part of a digest (Matrix event id, Mastodon status id), recorded as it goes.
digest_parts = Table(
    "digest_parts",
    metadata,
    Column("run_id", Integer, ForeignKey("digest_runs.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("remote_id", Text),
    Column("sent_at", UTCDateTime),
    PrimaryKeyConstraint("run_id", "seq"),
)

# What the bot answered (a status, an event) and in which thread: a post is answered once, and
# the replies in one thread are capped (no endless back-and-forth with a person or another bot).
# A thread is named by the first post the bot saw of it; a reply to a post the bot answered, or to
# the bot's own reply, is in that post's thread.
replies = Table(
    "replies",
    metadata,
    Column("source", Text, nullable=False),
    Column("answered_id", Text, nullable=False),
    Column("thread", Text, nullable=False),
    Column("reply_id", Text),  # the bot's own post; None when it acknowledged another way
    # The answered post's global id (a status URI, the event id of its shares): a digest asks
    # the server, by the local id, whether that post still exists before publishing its links.
    Column("answered_uri", Text),
    Column("at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("source", "answered_id"),
    Index(None, "source", "thread"),
    Index(None, "source", "reply_id"),
    Index(None, "source", "answered_uri"),
)

# What fetching a link found (enrich/): its page's title, site, canonical URL, and the fetch state
# (pending, ok, failed: retried with backoff, dead: marked not deleted, refused: the guard said no).
link_pages = Table(
    "link_pages",
    metadata,
    Column("link_id", Integer, ForeignKey("links.id", ondelete="CASCADE"), nullable=False),
    Column("state", Text, nullable=False),
    Column("final_url", Text),
    Column("canonical_url", Text),
    Column("title", Text),
    Column("description", Text),
    Column("site_name", Text),
    Column("language", Text),
    Column("image_url", Text),  # a URL only: images are never downloaded
    Column("author", Text),
    Column("published_at", UTCDateTime),
    Column("reason", Text),  # why the last fetch failed or was refused
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("fetched_at", UTCDateTime),
    Column("next_fetch_at", UTCDateTime),
    Column("fetched_url", Text),  # the URL asked for: only a page fetched from the published URL is published
    PrimaryKeyConstraint("link_id"),
    Index(None, "next_fetch_at"),
)

# Other keys a link is known by (its final and canonical URLs, the links merged into it): a share
# of any of them is a share of that link.
link_aliases = Table(
    "link_aliases",
    metadata,
    Column("key", Text, nullable=False),
    Column("link_id", Integer, ForeignKey("links.id", ondelete="CASCADE"), nullable=False),
    Column("merge_id", Integer),  # the merge that made this alias, if one did
    PrimaryKeyConstraint("key"),
    Index(None, "link_id"),
)

# A link found to be the same page as an older one is merged into it; what the merge moved is kept
# here, so `watchbot links unmerge` can explain it and put everything back.
link_merges = Table(
    "link_merges",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kept_id", Integer, nullable=False),
    Column("merged_id", Integer, nullable=False),
    Column("merged_key", Text, nullable=False),
    Column("merged_url", Text, nullable=False),
    Column("merged_title", Text),
    Column("merged_description", Text),
    Column("merged_filed_at", UTCDateTime, nullable=False),
    # JSON: the shares moved to the kept link, the shares dropped as repeats (kept whole), the aliases moved
    Column("details", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("undone_at", UTCDateTime),
    Index(None, "merged_id"),
)

moderation_log = Table(
    "moderation_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("reason", Text),
    # The target names what only private shares held: shown in the moderators' rooms only.
    Column("private_target", Boolean, nullable=False, server_default=false()),
)


# Feeds (RSS, Atom, JSON Feed) whose entries are filed as shares (feeds/), with everything polling
# needs to go on after a restart: the validators for conditional requests, when the next poll is
# due, the errors in a row (backoff), and why a feed was disabled and whether its room was told.
feeds = Table(
    "feeds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", Text, nullable=False, unique=True),  # where it is fetched; a 301 moves it
    Column("title", Text),
    Column("format", Text),  # "RSS 2.0", "Atom 1.0", "JSON Feed 1.1", ...
    Column("tags", Text, nullable=False, server_default=""),  # normalised tags, space-separated
    Column("alert", Boolean, nullable=False, server_default=false()),  # each new entry posted at once
    Column("every_seconds", Integer, nullable=False),
    Column("backfill", Integer, nullable=False, server_default="0"),  # entries filed by the first poll
    Column("added_by", Text, nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("polled_at", UTCDateTime),  # None: never polled (the first poll files nothing old)
    Column("next_poll_at", UTCDateTime, nullable=False),
    Column("errors", Integer, nullable=False, server_default="0"),  # failed polls in a row
    Column("last_error", Text),
    Column("disabled_at", UTCDateTime),
    Column("disabled_reason", Text),
    Column("disabled_told_at", UTCDateTime),  # when the rooms were told it was disabled
    Index(None, "next_poll_at"),
)

# The keys of the entries each feed has shown (entry id, link key, title and date hash): an entry
# is new when none of its keys is here.
feed_entries = Table(
    "feed_entries",
    metadata,
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("key", Text, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("feed_id", "key"),
)


# Moderation (moderation.py): who may not share, which domains are refused, what waits for a
# moderator, what members reported. Every action on them is also in moderation_log.
bans = Table(
    "bans",
    metadata,
    Column("account", Text, nullable=False),  # @user:server, user@instance
    Column("reason", Text),
    Column("actor", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account"),
)

blocked_domains = Table(
    "blocked_domains",
    metadata,
    Column("pattern", Text, nullable=False),  # example.com, or *.example.com (it and its subdomains)
    Column("reason", Text),
    Column("actor", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("pattern"),
)

# A newcomer's post held until a moderator approves it (filed then) or rejects it.
review_queue = Table(
    "review_queue",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("author_id", Text, nullable=False),
    # Where it was posted (the Post's place): a room's moderators decide on their room's posts.
    Column("place", Text, nullable=False, server_default=""),
    Column("post", Text, nullable=False),  # the Post as JSON, filed as it was on approval
    Column("at", UTCDateTime, nullable=False),
    Column("state", Text, nullable=False),  # held, approved, rejected
    Column("decided_by", Text),
    Column("decided_at", UTCDateTime),
    UniqueConstraint("source", "event_id"),
    Index(None, "state"),
)

reports = Table(
    "reports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("link_id", Integer, nullable=False),
    Column("reporter", Text, nullable=False),
    Column("reason", Text),
    Column("at", UTCDateTime, nullable=False),
)

# Who reacted to a shared message (Matrix reactions): after the number of sharers, what ranks a
# digest's links. One row per person and message, whatever the emoji.
reactions = Table(
    "reactions",
    metadata,
    Column("source", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("reactor", Text, nullable=False),
    PrimaryKeyConstraint("source", "event_id", "reactor"),
)


# An event whose handling raised (a Matrix event, a Mastodon notification, a feed entry, a page):
# kept with what is needed to retry it, so the bot moves on and an operator decides
# (`watchbot failed`). A second failure of the same event counts one more attempt.
failed_events = Table(
    "failed_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source", Text, nullable=False),  # matrix, mastodon, feed, page
    Column("place", Text, nullable=False),  # room id, instance, feed URL, the page's URL
    Column("event_id", Text, nullable=False),  # the source's own id (a link id for a page)
    Column("reason", Text, nullable=False),  # one line: the error's type and message
    Column("payload", Text),  # the event as JSON, to retry it; None when it was too large to keep
    Column("failed_at", UTCDateTime, nullable=False),  # the last failure
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column("retry_asked_at", UTCDateTime),  # an operator asked the running bot to retry it
    Column("resolved_at", UTCDateTime),
    Column("resolution", Text),  # retried (it went through), forgotten
    UniqueConstraint("source", "event_id"),
    Index(None, "source", "retry_asked_at"),  # what each worker is asked to retry
)


# Each network's last sign of life, written by the running bot (`watchbot status`, the Docker
# HEALTHCHECK): when it last synced or polled well, and, when it stopped, the one line saying why.
heartbeats = Table(
    "heartbeats",
    metadata,
    Column("network", Text, primary_key=True),  # matrix, mastodon
    Column("beat_at", UTCDateTime, nullable=False),
    Column("problem", Text),  # None while all is well
)


# What the bot owes someone (a reaction, a reply, a notice, a favourite, a direct message): written
# in the same transaction as what it answers, sent once from here by the network's sender, with
# `key` as the server's idempotency key (a Matrix transaction id, a Mastodon Idempotency-Key). A
# second write of the same answer (a replayed event) is the same row.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("network", Text, nullable=False),  # matrix, mastodon
    Column("place", Text, nullable=False),  # the room, or the status answered: order is kept per place
    Column("kind", Text, nullable=False),  # reaction, reply, notice, favourite, direct
    Column("payload", Text, nullable=False),  # JSON: what the network's sender needs to send it
    Column("key", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("sent_at", UTCDateTime),
    Column("remote_id", Text),  # the event or status id the server gave it
    Column("failed_at", UTCDateTime),  # given up: kept for the operator, never retried by itself
    UniqueConstraint("network", "key"),
    Index(None, "network", "sent_at", "failed_at", "next_attempt_at"),
    sqlite_autoincrement=True,  # ids give the order of sending; a sent row's id is never reused
)


# The chat rooms the bot is or was in, and how their links are filed (watchbot/rooms.py): what
# the room's state says, kept up to date by the bot, and an operator's choice over it.
rooms = Table(
    "rooms",
    metadata,
    Column("room_id", Text, primary_key=True),
    Column("name", Text),
    Column("state_visibility", Text, nullable=False),  # public, private, direct
    Column("state_reason", Text, nullable=False),
    Column("override", Text),  # public or private, set by an operator; None: the state decides
    Column("overridden_by", Text),
    Column("overridden_at", UTCDateTime),
    Column("joined", Boolean, nullable=False, server_default=false()),  # the bot is in it now
    Column("updated_at", UTCDateTime, nullable=False),
)


# What /metrics reports, counted by the database itself (decision 31): for each family (links,
# shares, pages, outbox, failed_events, digest_runs), its table's rows by one or two labels ('' for
# none), kept by triggers (migration 0017) in the transaction that changes the rows. A handful of
# rows, read instead of counting tables that grow with every share.
kept_counts = Table(
    "kept_counts",
    metadata,
    Column("name", Text, nullable=False),  # the family
    Column("key", Text, nullable=False),  # a source, a state, a network, a status
    Column("subkey", Text, nullable=False),  # a share's visibility, an answer's state, open or resolved
    Column("n", BigInteger, nullable=False),
    PrimaryKeyConstraint("name", "key", "subkey"),
)
