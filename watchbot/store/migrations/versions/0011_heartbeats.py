"""Heartbeats: each network's last good sync or poll, or why it stopped (`watchbot status`).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from watchbot.store.schema import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "heartbeats",
        sa.Column("network", sa.Text, nullable=False),
        sa.Column("beat_at", UTCDateTime, nullable=False),
        sa.Column("problem", sa.Text),
        sa.PrimaryKeyConstraint("network", name="pk_heartbeats"),
    )


def downgrade() -> None:
    op.drop_table("heartbeats")
