"""Alembic environment: runs on the connection the store hands over (store/database.py)."""

from alembic import context
from sqlalchemy import text

from watchbot.store.schema import metadata

connection = context.config.attributes["connection"]
if connection.dialect.name == "postgresql":
    # Two processes starting at once must not both migrate: the second waits for the first.
    connection.execute(text("SELECT pg_advisory_xact_lock(7238101)"))
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
