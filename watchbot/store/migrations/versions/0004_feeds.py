"""Feeds whose entries are filed as shares: each feed's polling state, and the keys of the entries
it has shown.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from watchbot.store.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("format", sa.Text),
        sa.Column("tags", sa.Text, nullable=False, server_default=""),
        sa.Column("alert", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("every_seconds", sa.Integer, nullable=False),
        sa.Column("backfill", sa.Integer, nullable=False, server_default="0"),
        sa.Column("added_by", sa.Text, nullable=False),
        sa.Column("added_at", UTCDateTime, nullable=False),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("polled_at", UTCDateTime),
        sa.Column("next_poll_at", UTCDateTime, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("disabled_at", UTCDateTime),
        sa.Column("disabled_reason", sa.Text),
        sa.Column("disabled_told_at", UTCDateTime),
        sa.UniqueConstraint("url", name="uq_feeds_url"),
    )
    op.create_index("ix_feeds_next_poll_at", "feeds", ["next_poll_at"])
    op.create_table(
        "feed_entries",
        sa.Column("feed_id", sa.Integer,
                  sa.ForeignKey("feeds.id", ondelete="CASCADE", name="fk_feed_entries_feed_id_feeds"),
                  nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("seen_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("feed_id", "key", name="pk_feed_entries"),
    )


def downgrade() -> None:
    op.drop_table("feed_entries")
    op.drop_table("feeds")
