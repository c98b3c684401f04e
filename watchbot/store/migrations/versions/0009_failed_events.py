"""Failed events: what could not be handled, kept so the bot moves on and an operator can retry it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from watchbot.store.schema import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "failed_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("place", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("payload", sa.Text),
        sa.Column("failed_at", UTCDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("retry_asked_at", UTCDateTime),
        sa.Column("resolved_at", UTCDateTime),
        sa.Column("resolution", sa.Text),
        sa.UniqueConstraint("source", "event_id", name="uq_failed_events_source_event_id"),
    )
    op.create_index("ix_failed_events_source_retry_asked_at", "failed_events", ["source", "retry_asked_at"])


def downgrade() -> None:
    op.drop_table("failed_events")
