"""The published view: each link's public URL and search text, the title each share gave, the URL
each page was fetched from, and which log entries name private links (decision 15).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27
"""

from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

from watchbot.model import Link, LinkRecord, Page, PageState, Share, Source, Visibility
from watchbot.published import view_of

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BATCH = 500
# Fetched again from the published URL when fetched from another (as Store._rebuild_published).
_REFETCHED = ("ok", "failed", "dead")


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("published_url", sa.Text))
        batch.add_column(sa.Column("published_document", sa.Text, nullable=False, server_default=""))
    with op.batch_alter_table("shares") as batch:
        batch.add_column(sa.Column("title", sa.Text))
        batch.add_column(sa.Column("description", sa.Text))
    with op.batch_alter_table("link_pages") as batch:
        batch.add_column(sa.Column("fetched_url", sa.Text))
    with op.batch_alter_table("moderation_log") as batch:
        batch.add_column(sa.Column("private_target", sa.Boolean, nullable=False, server_default=sa.false()))
    _create_search_index()
    _fill()


def _create_search_index() -> None:
    """Full-text search over links.published_document, as decision 4 does for search_document."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_links_published_search ON links "
                   "USING GIN (to_tsvector('simple', published_document))")
        return
    op.execute(
        "CREATE VIRTUAL TABLE published_fts USING fts5(published_document, content='links', "
        "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
    )
    # Index the links already there (their documents are empty yet): an external-content index
    # must hold a row before the update trigger may delete it, or it is corrupt.
    op.execute("INSERT INTO published_fts(published_fts) VALUES ('rebuild')")
    op.execute(
        "CREATE TRIGGER published_fts_insert AFTER INSERT ON links BEGIN "
        "INSERT INTO published_fts(rowid, published_document) VALUES (new.id, new.published_document); END"
    )
    op.execute(
        "CREATE TRIGGER published_fts_delete AFTER DELETE ON links BEGIN "
        "INSERT INTO published_fts(published_fts, rowid, published_document) "
        "VALUES ('delete', old.id, old.published_document); END"
    )
    op.execute(
        "CREATE TRIGGER published_fts_update AFTER UPDATE OF published_document ON links BEGIN "
        "INSERT INTO published_fts(published_fts, rowid, published_document) "
        "VALUES ('delete', old.id, old.published_document); "
        "INSERT INTO published_fts(rowid, published_document) VALUES (new.id, new.published_document); END"
    )


def _fill() -> None:
    """What the links filed so far publish. Pages were fetched from the link's stored URL. A title
    the link was given goes to its first share only where that cannot publish a private share's
    title (its shares are all publishable, or none is): elsewhere the page's title stands."""
    conn = op.get_bind()
    conn.execute(sa.text(
        "UPDATE link_pages SET fetched_url = (SELECT url FROM links WHERE links.id = link_pages.link_id)"))
    after = 0
    while True:
        ids = list(conn.execute(sa.text("SELECT id FROM links WHERE id > :after ORDER BY id LIMIT :n"),
                                {"after": after, "n": BATCH}).scalars())
        if not ids:
            return
        for record in _records(conn, ids):
            _fill_one(conn, record)
        after = ids[-1]


def _fill_one(conn, record: LinkRecord) -> None:
    link, first = record.link, record.shares[0]
    if (link.title or link.description) and len({s.visibility.publishable for s in record.shares}) == 1:
        conn.execute(sa.text("UPDATE shares SET title = :title, description = :description WHERE id = :id"),
                     {"title": link.title, "description": link.description, "id": first.id})
        first = replace(first, title=link.title, description=link.description)
        record = LinkRecord(link, (first, *record.shares[1:]), record.page)
    view = view_of(record)
    conn.execute(sa.text("UPDATE links SET published_url = :url, published_document = :document WHERE id = :id"),
                 {"url": view and view.url, "document": view.search_text() if view else "", "id": link.id})
    page = record.page
    if view is not None and page is not None and page.fetched_url != view.url and page.state.value in _REFETCHED:
        conn.execute(sa.text("UPDATE link_pages SET state = 'pending', next_fetch_at = :now WHERE link_id = :id"),
                     {"now": _stored_now(conn), "id": link.id})


def _records(conn, ids: list[int]) -> list[LinkRecord]:
    """The records of these links, read with the columns this revision knows (not the latest
    schema's tables, which a later revision may change)."""
    params = {"ids": ids}
    in_ids = sa.bindparam("ids", expanding=True)
    tags = defaultdict(list)
    for share_id, tag in conn.execute(sa.text(
            "SELECT share_tags.share_id, share_tags.tag FROM share_tags JOIN shares ON shares.id = share_tags.share_id "
            "WHERE shares.link_id IN :ids ORDER BY share_tags.tag").bindparams(in_ids), params):
        tags[share_id].append(tag)
    shares = defaultdict(list)
    for row in conn.execute(sa.text(
            "SELECT id, link_id, url, sharer_id, sharer_name, source, place, event_id, visibility, shared_at, note "
            "FROM shares WHERE link_id IN :ids").bindparams(in_ids), params):
        shares[row.link_id].append(Share(
            id=row.id, link_id=row.link_id, url=row.url, sharer_id=row.sharer_id, sharer_name=row.sharer_name,
            source=Source(row.source), place=row.place, event_id=row.event_id, visibility=Visibility(row.visibility),
            shared_at=_utc(row.shared_at), note=row.note, tags=tuple(tags[row.id])))
    pages = {row.link_id: Page(state=PageState(row.state), title=row.title, description=row.description,
                               site_name=row.site_name, fetched_url=row.fetched_url)
             for row in conn.execute(sa.text(
                 "SELECT link_id, state, title, description, site_name, fetched_url FROM link_pages "
                 "WHERE link_id IN :ids").bindparams(in_ids), params)}
    records = []
    for row in conn.execute(sa.text("SELECT id, key, url, title, description FROM links WHERE id IN :ids")
                            .bindparams(in_ids), params):
        own = sorted(shares[row.id], key=lambda s: (s.shared_at, s.id))
        if not own:
            continue
        link = Link(id=row.id, key=row.key, url=row.url, title=row.title, description=row.description, tags=(),
                    share_count=len(own), first_sharer_name=own[0].sharer_name, first_shared_at=own[0].shared_at)
        records.append(LinkRecord(link, tuple(own), pages.get(row.id)))
    return records


def _utc(value) -> datetime:
    if isinstance(value, str):  # SQLite through text(): the stored spelling
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _stored_now(conn):
    now = datetime.now(timezone.utc)
    return now.replace(tzinfo=None) if conn.dialect.name == "sqlite" else now


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS published_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS published_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_links_published_search")
    with op.batch_alter_table("moderation_log") as batch:
        batch.drop_column("private_target")
    with op.batch_alter_table("link_pages") as batch:
        batch.drop_column("fetched_url")
    with op.batch_alter_table("shares") as batch:
        batch.drop_column("description")
        batch.drop_column("title")
    with op.batch_alter_table("links") as batch:
        batch.drop_column("published_document")
        batch.drop_column("published_url")
