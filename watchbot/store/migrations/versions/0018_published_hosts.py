"""Look-alike hosts in punycode: the published URL of each link whose host is written outside
ASCII is made again by `links.published_url`, which now shows a host that could pass for another
(`аррӏе.com`) in its ASCII form (decision 33). Only the host changes: the search text keeps its
words, the page stays fetched (the ASCII host is the same server), so its title stays published.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from watchbot.links import InvalidURL, published_url

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

BATCH = 500


def upgrade() -> None:
    conn = op.get_bind()
    after = 0
    while True:
        rows = conn.execute(sa.text(
            "SELECT id, published_url, published_document FROM links WHERE id > :after AND published_url IS NOT NULL "
            "ORDER BY id LIMIT :n"), {"after": after, "n": BATCH}).all()
        if not rows:
            return
        for row in rows:
            if not row.published_url.isascii():
                _reshow(conn, row)
        after = rows[-1].id


def _reshow(conn, row) -> None:
    try:
        shown = published_url(row.published_url)  # already clean: only the host can change
    except InvalidURL:
        return
    if shown == row.published_url:
        return
    document = row.published_document or ""
    if document.startswith(row.published_url):  # the view's search text starts with its URL
        document = shown + document[len(row.published_url):]
    conn.execute(sa.text("UPDATE links SET published_url = :url, published_document = :document WHERE id = :id"),
                 {"url": shown, "document": document, "id": row.id})
    conn.execute(sa.text("UPDATE link_pages SET fetched_url = :url WHERE link_id = :id AND fetched_url = :old"),
                 {"url": shown, "id": row.id, "old": row.published_url})


def downgrade() -> None:
    pass  # the ASCII host is the same host: nothing to undo
