"""Reactions to shared messages (who reacted to which), for the digest's ranking.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reactions",
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("reactor", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("source", "event_id", "reactor", name="pk_reactions"),
    )


def downgrade() -> None:
    op.drop_table("reactions")
