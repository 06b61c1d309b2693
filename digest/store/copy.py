"""Copy a whole store to another database: SQLite to PostgreSQL, or back.

The target is migrated to this version's schema and must hold no rows yet. Every
table of the schema is copied in key order, in one target transaction, and the
row counts of source and target are compared per table before it commits: a
difference (a process wrote to the source meanwhile) rolls the copy back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, select
from sqlalchemy.exc import SQLAlchemyError

from digest.errors import StoreError
from digest.store import schema

BATCH = 5000  # rows per read and per executemany


def _tables() -> list[Table]:
    """Every table but `meta` (the target has its own schema version), parents first."""
    return [t for t in schema.metadata.sorted_tables if t is not schema.meta]


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _rows(conn: Connection, table: Table) -> Iterator[list[dict[str, Any]]]:
    stmt = select(table).order_by(*table.primary_key.columns)
    result = conn.execution_options(yield_per=BATCH).execute(stmt)
    for part in result.mappings().partitions(BATCH):
        yield [dict(r) for r in part]


def _reset_sequences(conn: Connection) -> None:
    """PostgreSQL hands out ids from sequences, which rows copied with their ids
    never moved: move each past the largest id copied."""
    for table in _tables():
        if "id" not in table.c or not table.c.id.primary_key:
            continue
        sequence = func.pg_get_serial_sequence(table.name, "id")
        # setval is strict: an empty table (max NULL) leaves its sequence alone.
        conn.execute(select(func.setval(sequence, func.max(table.c.id))).select_from(table))


def copy_store(source: Engine, target: Engine) -> dict[str, int]:
    """Copy every row of `source` into the empty store `target`; both must be at
    this version's schema. Returns the rows copied per table."""
    copied: dict[str, int] = {}
    try:
        with source.connect() as src, target.begin() as dst:
            for table in _tables():
                if _count(dst, table):
                    raise StoreError(
                        f"the target store already holds rows in {table.name}: "
                        "copy into an empty database"
                    )
            for table in _tables():
                n = 0
                for batch in _rows(src, table):
                    dst.execute(table.insert(), batch)
                    n += len(batch)
                copied[table.name] = n
            for name, value in src.execute(select(schema.meta.c.key, schema.meta.c.value)):
                if name != "schema_version":  # the store id too: a copy is the same store
                    dst.execute(schema.meta.delete().where(schema.meta.c.key == name))
                    dst.execute(schema.meta.insert().values(key=name, value=value))
            for table in _tables():
                have, got = _count(src, table), _count(dst, table)
                if not have == got == copied[table.name]:
                    raise StoreError(
                        f"{table.name}: the source holds {have} rows, {copied[table.name]} were "
                        f"copied and the target holds {got}; was the source written to meanwhile?"
                    )
            if dst.dialect.name == "postgresql":
                _reset_sequences(dst)
    except SQLAlchemyError as exc:
        raise StoreError(f"store error: {exc}") from exc
    return copied
