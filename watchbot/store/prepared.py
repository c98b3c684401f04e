"""Statements of the filing path, and the digest's read, run on the driver's own cursor (decisions 27, 24).

Every message runs the same ten or so statements, and SQLAlchemy's work for each execution
(processing every parameter through its type, building a result object, firing events) took
longer than SQLite's own work on them. A `Prepared` statement is still written in SQLAlchemy
Core and compiled by it, once per dialect: the SQL, the parameters' order and each parameter's
conversion (UTCDateTime's) stay SQLAlchemy's. Only the execution skips it, on the same DBAPI
connection and so in the caller's transaction. Errors come out as SQLAlchemy's (IntegrityError,
OperationalError), as from `Connection.execute`.

For statements whose results need no conversion (ids, counts, text): a result column of a type
with a result processor (a datetime) would come back raw, so compiling one is refused, unless the
statement names it as `raw`: its caller converts it (`UTCDateTime.reader`, the digest's read).
Parameters SQLAlchemy renders at execution (IN lists, literal-rendered values) are rendered once,
at compile time, when the statement holds their values; one the caller gives is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement


_REQUIRED = object()  # a parameter the caller must give


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    positional: bool  # sqlite3 takes a tuple (qmark); psycopg a mapping (pyformat)
    # Per parameter, in the order the SQL takes them: its name, the value written in the statement
    # itself (a literal compared to) or _REQUIRED, and its type's conversion (UTCDateTime's) or None.
    slots: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...]

    def parameters(self, given: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        values = []
        for name, default, convert in self.slots:
            value = given[name] if default is _REQUIRED else default
            values.append(value if convert is None or value is None else convert(value))
        return tuple(values) if self.positional else dict(zip((slot[0] for slot in self.slots), values))


class Prepared:
    """A Core statement, compiled once per dialect, executed on the DBAPI cursor. `raw`: result
    columns, by name, that come back as the driver gives them, converted by the caller."""

    __slots__ = ("statement", "raw", "_by_dialect")

    def __init__(self, statement: ClauseElement, *, raw: Iterable[str] = ()) -> None:
        self.statement = statement
        self.raw = frozenset(raw)
        self._by_dialect: dict[str, _Compiled] = {}

    def first(self, conn: Connection, parameters: Mapping[str, Any] | None = None) -> tuple | None:
        """The first row, or None."""
        cursor = self._execute(conn, parameters or {})
        try:
            return cursor.fetchone()
        finally:
            cursor.close()

    def scalar(self, conn: Connection, parameters: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = self.first(conn, parameters)
        return None if row is None else row[0]

    def all(self, conn: Connection, parameters: Mapping[str, Any] | None = None) -> list[tuple]:
        """Every row, as the driver's tuples."""
        cursor = self._execute(conn, parameters or {})
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    def run(self, conn: Connection, parameters: Mapping[str, Any] | None = None) -> None:
        self._execute(conn, parameters or {}).close()

    def run_many(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        compiled = self._compiled(conn.dialect)
        rows = [compiled.parameters(row) for row in rows]
        if not rows:
            return
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(compiled.sql, rows)
        except conn.dialect.loaded_dbapi.Error as error:
            raise DBAPIError.instance(compiled.sql, rows, error, conn.dialect.loaded_dbapi.Error) from error
        finally:
            cursor.close()

    def _execute(self, conn: Connection, given: Mapping[str, Any]):
        compiled = self._compiled(conn.dialect)
        parameters = compiled.parameters(given)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(compiled.sql, parameters)
        except conn.dialect.loaded_dbapi.Error as error:
            cursor.close()
            raise DBAPIError.instance(compiled.sql, parameters, error, conn.dialect.loaded_dbapi.Error) from error
        return cursor

    def compiled(self, dialect: Dialect) -> _Compiled:
        """The SQL the driver runs and how its parameters are made (benchmarks run the same SQL)."""
        return self._compiled(dialect)

    def _compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = _compile(self.statement, dialect, self.raw)
        return compiled


def _compile(statement: ClauseElement, dialect: Dialect, raw: frozenset[str] = frozenset()) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
        raise ValueError("a prepared statement cannot fill Python-side column defaults: give every value")
    columns = list(getattr(statement, "exported_columns", ()))  # what it selects or returns
    if unknown := raw - {column.name for column in columns}:
        raise ValueError(f"a prepared statement has no result column {', '.join(sorted(unknown))}")
    for column in columns:
        if column.name not in raw and column.type.dialect_impl(dialect).result_processor(dialect, None) is not None:
            raise ValueError(f"a prepared statement's result column {column.name!r} needs converting")
    if "POSTCOMPILE" in str(compiled):
        return _expanded(compiled, dialect)
    bind_named = {name: bind for bind, name in compiled.bind_names.items()}
    names = tuple(compiled.positiontup) if compiled.positional else tuple(bind_named)
    slots = []
    for name in names:
        bind = bind_named[name]
        convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
        slots.append((name, _REQUIRED if bind.required else bind.effective_value, convert))
    return _Compiled(str(compiled), compiled.positional, tuple(slots))


def _expanded(compiled, dialect: Dialect) -> _Compiled:
    """A statement with parameters SQLAlchemy renders at execution (an IN list, a literal), rendered
    now: possible only when the statement holds their values, so the SQL is the same each time."""
    late = set(compiled.literal_execute_params) | set(compiled.post_compile_params)
    if any(bind.required for bind in late):
        raise ValueError("a prepared statement cannot have parameters given at execution rendered in its SQL "
                         "(an IN list of given values)")
    required = {name for bind, name in compiled.bind_names.items() if bind.required}
    if required & set(getattr(compiled, "escaped_bind_names", None) or ()):
        raise ValueError("a prepared statement's parameters are named as the SQL names them: plain names only")
    expanded = compiled.construct_expanded_state(dict.fromkeys(required))  # the given ones are not rendered
    names = tuple(expanded.positiontup) if compiled.positional else tuple(expanded.parameters)
    bind_named = {name: bind for bind, name in compiled.bind_names.items()}
    slots = []
    for name in names:
        bind = bind_named.get(name)  # None: one value of an expanded IN list
        convert = bind.type.dialect_impl(dialect).bind_processor(dialect) if bind is not None \
            else expanded.processors.get(name)
        slots.append((name, _REQUIRED if name in required else expanded.parameters[name], convert))
    return _Compiled(expanded.statement, compiled.positional, tuple(slots))
