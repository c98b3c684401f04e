"""What the bot learnt by fetching each link (title, site, canonical URL, fetch state), the other
keys a link is known by, and the merges of links found to be the same page.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from watchbot.store.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _link_id(table: str) -> sa.Column:
    return sa.Column(
        "link_id", sa.Integer,
        sa.ForeignKey("links.id", ondelete="CASCADE", name=f"fk_{table}_link_id_links"), nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "link_pages",
        _link_id("link_pages"),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("final_url", sa.Text),
        sa.Column("canonical_url", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("site_name", sa.Text),
        sa.Column("language", sa.Text),
        sa.Column("image_url", sa.Text),
        sa.Column("author", sa.Text),
        sa.Column("published_at", UTCDateTime),
        sa.Column("reason", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("fetched_at", UTCDateTime),
        sa.Column("next_fetch_at", UTCDateTime),
        sa.PrimaryKeyConstraint("link_id", name="pk_link_pages"),
    )
    op.create_index("ix_link_pages_next_fetch_at", "link_pages", ["next_fetch_at"])
    # Links filed before: their pages are to be fetched too, the oldest first.
    op.execute("INSERT INTO link_pages (link_id, state, attempts, next_fetch_at) "
               "SELECT id, 'pending', 0, filed_at FROM links")
    op.create_table(
        "link_aliases",
        sa.Column("key", sa.Text, nullable=False),
        _link_id("link_aliases"),
        sa.Column("merge_id", sa.Integer),
        sa.PrimaryKeyConstraint("key", name="pk_link_aliases"),
    )
    op.create_index("ix_link_aliases_link_id", "link_aliases", ["link_id"])
    op.create_table(
        "link_merges",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kept_id", sa.Integer, nullable=False),
        sa.Column("merged_id", sa.Integer, nullable=False),
        sa.Column("merged_key", sa.Text, nullable=False),
        sa.Column("merged_url", sa.Text, nullable=False),
        sa.Column("merged_title", sa.Text),
        sa.Column("merged_description", sa.Text),
        sa.Column("merged_filed_at", UTCDateTime, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("undone_at", UTCDateTime),
    )
    op.create_index("ix_link_merges_merged_id", "link_merges", ["merged_id"])


def downgrade() -> None:
    for table in ("link_merges", "link_aliases", "link_pages"):
        op.drop_table(table)
