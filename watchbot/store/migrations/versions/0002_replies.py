"""Replies the bot made, per thread: so it answers a post once and caps its replies per thread.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from watchbot.store.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replies",
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("answered_id", sa.Text, nullable=False),
        sa.Column("thread", sa.Text, nullable=False),
        sa.Column("reply_id", sa.Text),
        sa.Column("answered_uri", sa.Text),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("source", "answered_id", name="pk_replies"),
    )
    op.create_index("ix_replies_source_thread", "replies", ["source", "thread"])
    op.create_index("ix_replies_source_reply_id", "replies", ["source", "reply_id"])
    op.create_index("ix_replies_source_answered_uri", "replies", ["source", "answered_uri"])


def downgrade() -> None:
    op.drop_table("replies")
