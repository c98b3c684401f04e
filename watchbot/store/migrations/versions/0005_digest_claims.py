"""Who is posting a digest run and since when: a crashed poster's claim goes stale and another
process (or the same one, restarted) resumes where it stopped; a live one is never doubled.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from watchbot.store.schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("digest_runs") as table:
        table.add_column(sa.Column("claimed_by", sa.Text))
        table.add_column(sa.Column("claimed_at", UTCDateTime))
        table.add_column(sa.Column("finished_at", UTCDateTime))


def downgrade() -> None:
    with op.batch_alter_table("digest_runs") as table:
        table.drop_column("finished_at")
        table.drop_column("claimed_at")
        table.drop_column("claimed_by")
