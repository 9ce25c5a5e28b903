"""Many rows in one statement: one array per column, `unnest`ed back into rows.

A statement per row costs a round trip to PostgreSQL, a context switch on each side and the
per-statement work of both; an executemany still runs one statement per row. One `unnest` statement
has a constant text whatever the number of rows, so psycopg prepares it once per connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class BulkRows:
    """The columns of a bulk statement, each with its PostgreSQL type (jsonb travels as text)."""

    columns: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, **types: str) -> BulkRows:
        return cls(tuple(types.items()))

    @property
    def names(self) -> str:
        return ", ".join(f'"{name}"' for name, _ in self.columns)

    def select(self, ordinality: bool = False) -> str:
        """`SELECT <columns> FROM unnest(<one array per column>)`, binary parameters in column order;
        with `ordinality`, also each row's position in the arrays, as column "n"."""
        cast = ", ".join(f'"{name}"::jsonb AS "{name}"' if kind == "jsonb" else f'"{name}"'
                         for name, kind in self.columns)
        arrays = ", ".join(f"%b::{'text' if kind == 'jsonb' else kind}[]" for _, kind in self.columns)
        if ordinality:
            return f'SELECT {cast}, "n" FROM unnest({arrays}) WITH ORDINALITY AS u({self.names}, "n")'
        return f"SELECT {cast} FROM unnest({arrays}) AS u({self.names})"

    def source(self, alias: str = "s", ordinality: bool = False) -> str:
        """The rows as a FROM item: `(SELECT ...) AS <alias>`."""
        return f"({self.select(ordinality)}) AS {alias}"

    def arrays(self, rows: Iterable[Mapping[str, Any]]) -> list[list[Any]]:
        """The parameters of `source()`: one list per column, rows in order."""
        rows = list(rows)
        return [[_json(row.get(name)) for row in rows] if kind == "jsonb" else [row.get(name) for row in rows]
                for name, kind in self.columns]

    async def execute(self, conn: AsyncConnection, statement: str, rows: Sequence[Mapping[str, Any]]) -> Any:
        """`statement` (built on these columns) for `rows`, on the psycopg connection under `conn`'s
        transaction, prepared; its cursor, or None when there are no rows (nothing is sent)."""
        if not rows:
            return None
        raw = await conn.get_raw_connection()
        return await raw.driver_connection.execute(statement, self.arrays(rows), prepare=True)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def last_by(rows: Sequence[Mapping[str, Any]], key: str) -> list[Mapping[str, Any]]:
    """One row per key, the last of each, in the order of their first appearance."""
    merged: dict[Any, Mapping[str, Any]] = {}
    for row in rows:
        merged[row[key]] = row
    return list(merged.values())
