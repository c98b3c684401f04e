"""The first schema: links, shares and their tags, cursors, digest runs, moderation log.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from watchbot.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("search_document", sa.Text, nullable=False, server_default=""),
        sa.Column("filed_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("key", name="uq_links_key"),
    )
    op.create_table(
        "shares",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "link_id",
            sa.Integer,
            sa.ForeignKey("links.id", ondelete="CASCADE", name="fk_shares_link_id_links"),
            nullable=False,
        ),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("sharer_id", sa.Text, nullable=False),
        sa.Column("sharer_name", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("place", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text),
        sa.Column("visibility", sa.Text, nullable=False),
        sa.Column("shared_at", UTCDateTime, nullable=False),
        sa.Column("note", sa.Text),
        sa.UniqueConstraint("source", "event_id", "link_id", name="uq_shares_source_event_id_link_id"),
    )
    op.create_index("ix_shares_link_id", "shares", ["link_id"])
    op.create_index("ix_shares_shared_at", "shares", ["shared_at"])
    op.create_index("ix_shares_sharer_id", "shares", ["sharer_id"])
    op.create_table(
        "share_tags",
        sa.Column(
            "share_id",
            sa.Integer,
            sa.ForeignKey("shares.id", ondelete="CASCADE", name="fk_share_tags_share_id_shares"),
            nullable=False,
        ),
        sa.Column("tag", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("share_id", "tag", name="pk_share_tags"),
    )
    op.create_index("ix_share_tags_tag", "share_tags", ["tag"])
    op.create_table(
        "cursors",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "digest_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("outlet", sa.Text, nullable=False),
        sa.Column("period_start", UTCDateTime, nullable=False),
        sa.Column("period_end", UTCDateTime, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("outlet", "period_start", name="uq_digest_runs_outlet_period_start"),
    )
    op.create_table(
        "digest_parts",
        sa.Column(
            "run_id",
            sa.Integer,
            sa.ForeignKey("digest_runs.id", ondelete="CASCADE", name="fk_digest_parts_run_id_digest_runs"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("remote_id", sa.Text),
        sa.Column("sent_at", UTCDateTime),
        sa.PrimaryKeyConstraint("run_id", "seq", name="pk_digest_parts"),
    )
    op.create_table(
        "moderation_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
    )
    _create_search_index()


def _create_search_index() -> None:
    """Full-text search over links.search_document, in each database's own way."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_links_search ON links "
            "USING GIN (to_tsvector('simple', search_document))"
        )
        return
    # SQLite: an FTS5 index whose content lives in links (external content), kept in step by
    # triggers, so the store writes the document in one place for both databases.
    op.execute(
        "CREATE VIRTUAL TABLE links_fts USING fts5(search_document, content='links', "
        "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER links_fts_insert AFTER INSERT ON links BEGIN "
        "INSERT INTO links_fts(rowid, search_document) VALUES (new.id, new.search_document); END"
    )
    op.execute(
        "CREATE TRIGGER links_fts_delete AFTER DELETE ON links BEGIN "
        "INSERT INTO links_fts(links_fts, rowid, search_document) "
        "VALUES ('delete', old.id, old.search_document); END"
    )
    op.execute(
        "CREATE TRIGGER links_fts_update AFTER UPDATE OF search_document ON links BEGIN "
        "INSERT INTO links_fts(links_fts, rowid, search_document) "
        "VALUES ('delete', old.id, old.search_document); "
        "INSERT INTO links_fts(rowid, search_document) VALUES (new.id, new.search_document); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS links_fts")
    for table in ("moderation_log", "digest_parts", "digest_runs", "cursors", "share_tags", "shares", "links"):
        op.drop_table(table)
