"""Names of people who said `forget me` before the log was scrubbed by it leave the log now.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from watchbot.store.forget import _scrub_log

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    # Before, forgetting logged "ACCOUNT forget ACCOUNT"; now it logs a pseudonym.
    forgotten = conn.execute(sa.text(
        "SELECT DISTINCT actor FROM moderation_log WHERE action = 'forget' AND actor = target "
        "AND actor NOT LIKE 'forgotten-%'")).scalars().all()
    for account in forgotten:
        _scrub_log(conn, account)


def downgrade() -> None:
    pass  # a name once forgotten is not put back
