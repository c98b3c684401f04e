"""Link numbers are never handed out twice, on SQLite too.

Without AUTOINCREMENT, SQLite gives a new row the highest id plus one: after `rm` of the newest
link, its number went to the next link, so an old digest or reply pointed at another link.
PostgreSQL's sequence never reuses a number; SQLite needs the table made again with AUTOINCREMENT
(store/database.py turns foreign keys off while migrating, so copying `links` cascades to nothing).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The numbers a store has handed out that may no longer be in `links`: a link merged into another
# (unmerge gives its number back) and a reported link since removed.
_HIGHEST_NUMBER_EVER = (
    "SELECT max(n) FROM (SELECT max(id) AS n FROM links UNION ALL SELECT max(merged_id) FROM link_merges "
    "UNION ALL SELECT max(link_id) FROM reports) AS numbers"
)
_FTS_TRIGGERS = (
    "CREATE TRIGGER links_fts_insert AFTER INSERT ON links BEGIN "
    "INSERT INTO links_fts(rowid, search_document) VALUES (new.id, new.search_document); END",
    "CREATE TRIGGER links_fts_delete AFTER DELETE ON links BEGIN "
    "INSERT INTO links_fts(links_fts, rowid, search_document) "
    "VALUES ('delete', old.id, old.search_document); END",
    "CREATE TRIGGER links_fts_update AFTER UPDATE OF search_document ON links BEGIN "
    "INSERT INTO links_fts(links_fts, rowid, search_document) "
    "VALUES ('delete', old.id, old.search_document); "
    "INSERT INTO links_fts(rowid, search_document) VALUES (new.id, new.search_document); END",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # a PostgreSQL sequence never goes back
    highest = op.get_bind().exec_driver_sql(_HIGHEST_NUMBER_EVER).scalar()
    _copy_links(autoincrement=True)
    if highest:
        # sqlite_sequence exists once a table with AUTOINCREMENT does, and holds its high mark.
        op.execute("DELETE FROM sqlite_sequence WHERE name = 'links'")
        op.execute(f"INSERT INTO sqlite_sequence (name, seq) VALUES ('links', {int(highest)})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _copy_links(autoincrement=False)


def _copy_links(*, autoincrement: bool) -> None:
    # Copying the table drops its triggers (the search index's); they are made again after.
    with op.batch_alter_table("links", recreate="always",
                              table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass
    for trigger in _FTS_TRIGGERS:
        op.execute(trigger)
