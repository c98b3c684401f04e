"""The outbox: every answer the bot owes, written with what it answers, sent once from there.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from watchbot.store.schema import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("network", sa.Text, nullable=False),
        sa.Column("place", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", UTCDateTime),
        sa.Column("remote_id", sa.Text),
        sa.Column("failed_at", UTCDateTime),
        sa.UniqueConstraint("network", "key", name="uq_outbox_network_key"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outbox_network_sent_at_failed_at_next_attempt_at", "outbox",
                    ["network", "sent_at", "failed_at", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("outbox")
