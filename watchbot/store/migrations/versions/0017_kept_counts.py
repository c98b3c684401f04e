"""Kept counts: what /metrics reports, counted by the database as rows change (decision 31).

One table, `kept_counts(name, key, subkey, n)`: for each family, the number of its table's rows by
one or two labels. Triggers on each counted table keep it in the transaction that changes the
rows, on SQLite and PostgreSQL alike, whatever path changes them (filing, removal, moderation,
forget, a room's past shares re-marked, cascades from a removed link, the CLI, imports). The rows
there are counted once, here.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_OUTBOX_STATE = ("CASE WHEN {row}.sent_at IS NOT NULL THEN 'sent' "
                 "WHEN {row}.failed_at IS NOT NULL THEN 'failed' ELSE 'waiting' END")
_OPEN = "CASE WHEN {row}.resolved_at IS NULL THEN 'open' ELSE 'resolved' END"

# name: (table, key, subkey, the columns whose change may move a row from one count to another).
# {row} is the row: NEW or OLD in a trigger, the table itself when counting.
FAMILIES = {
    "links": ("links", "''", "''", ()),
    "shares": ("shares", "{row}.source", "{row}.visibility", ("source", "visibility")),
    "pages": ("link_pages", "{row}.state", "''", ("state",)),
    "outbox": ("outbox", "{row}.network", _OUTBOX_STATE, ("network", "sent_at", "failed_at")),
    "failed_events": ("failed_events", "{row}.source", _OPEN, ("source", "resolved_at")),
    "digest_runs": ("digest_runs", "{row}.status", "''", ("status",)),
}


def upgrade() -> None:
    op.create_table(
        "kept_counts",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("subkey", sa.Text, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", "key", "subkey", name="pk_kept_counts"),
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, (table, key, subkey, columns) in FAMILIES.items():
        # The triggers first: on PostgreSQL, making one waits for the table's writers and holds
        # them off until this commits, so every row is counted once, by the count below or by them.
        for statement in (_postgresql_triggers if postgresql else _sqlite_triggers)(name, table, key, subkey, columns):
            op.execute(statement)
        op.execute(f"INSERT INTO kept_counts (name, key, subkey, n) "
                   f"SELECT '{name}', {key.format(row=table)}, {subkey.format(row=table)}, count(*) "
                   f"FROM {table} GROUP BY 2, 3")


def _bump(name: str, key: str, subkey: str, row: str, delta: int) -> str:
    return (f"INSERT INTO kept_counts (name, key, subkey, n) "
            f"VALUES ('{name}', {key.format(row=row)}, {subkey.format(row=row)}, {delta}) "
            f"ON CONFLICT (name, key, subkey) DO UPDATE SET n = kept_counts.n + excluded.n")


def _moved(key: str, subkey: str, distinct: str) -> str:
    """The condition under which an update moves a row to another count."""
    return " OR ".join(f"{part.format(row='old')} {distinct} {part.format(row='new')}"
                       for part in (key, subkey) if "{row}" in part)


def _sqlite_triggers(name: str, table: str, key: str, subkey: str, columns: tuple[str, ...]) -> list[str]:
    statements = [
        f"CREATE TRIGGER kept_counts_{name}_insert AFTER INSERT ON {table} BEGIN "
        f"{_bump(name, key, subkey, 'new', 1)}; END",
        f"CREATE TRIGGER kept_counts_{name}_delete AFTER DELETE ON {table} BEGIN "
        f"{_bump(name, key, subkey, 'old', -1)}; END",
    ]
    if columns:
        statements.append(
            f"CREATE TRIGGER kept_counts_{name}_update AFTER UPDATE OF {', '.join(columns)} ON {table} "
            f"WHEN {_moved(key, subkey, 'IS NOT')} BEGIN "
            f"{_bump(name, key, subkey, 'old', -1)}; {_bump(name, key, subkey, 'new', 1)}; END")
    return statements


def _postgresql_triggers(name: str, table: str, key: str, subkey: str, columns: tuple[str, ...]) -> list[str]:
    """Deferred to the commit: a counter's row is locked from then to the end of the commit only,
    not for the whole transaction (two writers' transactions wait on each other for less, and
    cannot deadlock on counters taken in opposite orders but in the instant both commit)."""
    deferred = "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
    statements = [
        f"CREATE FUNCTION kept_counts_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP <> 'INSERT' THEN {_bump(name, key, subkey, 'OLD', -1)}; END IF; "
        f"IF TG_OP <> 'DELETE' THEN {_bump(name, key, subkey, 'NEW', 1)}; END IF; "
        f"RETURN NULL; END $$",
        f"CREATE CONSTRAINT TRIGGER kept_counts_{name} AFTER INSERT OR DELETE ON {table} {deferred} "
        f"EXECUTE FUNCTION kept_counts_{name}()",
    ]
    if columns:
        statements.append(
            f"CREATE CONSTRAINT TRIGGER kept_counts_{name}_update AFTER UPDATE OF {', '.join(columns)} ON {table} "
            f"{deferred} WHEN ({_moved(key, subkey, 'IS DISTINCT FROM')}) EXECUTE FUNCTION kept_counts_{name}()")
    return statements


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, (table, *_rest) in FAMILIES.items():
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS kept_counts_{name}_update ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS kept_counts_{name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS kept_counts_{name}()")
        else:
            for event in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS kept_counts_{name}_{event}")
    op.drop_table("kept_counts")
