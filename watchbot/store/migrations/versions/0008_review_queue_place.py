"""The review queue says where each post was held (its room), for the room's moderators.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review_queue") as batch:
        batch.add_column(sa.Column("place", sa.Text, nullable=False, server_default=""))
    # Posts held before: their place is in the Post kept as JSON.
    queue = sa.table("review_queue", sa.column("id", sa.Integer), sa.column("post", sa.Text),
                     sa.column("place", sa.Text))
    connection = op.get_bind()
    for row in connection.execute(sa.select(queue.c.id, queue.c.post)).all():
        place = json.loads(row.post).get("place") or ""
        connection.execute(sa.update(queue).where(queue.c.id == row.id).values(place=place))


def downgrade() -> None:
    with op.batch_alter_table("review_queue") as batch:
        batch.drop_column("place")
