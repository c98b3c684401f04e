"""Rooms: how each chat room's links are filed, decided by the room's state or an operator.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from watchbot.store.schema import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rooms",
        sa.Column("room_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("state_visibility", sa.Text, nullable=False),
        sa.Column("state_reason", sa.Text, nullable=False),
        sa.Column("override", sa.Text),
        sa.Column("overridden_by", sa.Text),
        sa.Column("overridden_at", UTCDateTime),
        sa.Column("joined", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rooms")
