"""The gate's read of a person's recent shares by (sharer_id, shared_at): a range, not their history.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_shares_sharer_id_shared_at", "shares", ["sharer_id", "shared_at"])
    op.drop_index("ix_shares_sharer_id", table_name="shares")  # the new one serves its lookups too


def downgrade() -> None:
    op.create_index("ix_shares_sharer_id", "shares", ["sharer_id"])
    op.drop_index("ix_shares_sharer_id_shared_at", table_name="shares")
