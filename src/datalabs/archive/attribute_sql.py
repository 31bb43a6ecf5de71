"""SQL that reads one label attribute out of a product's ``attributes`` JSON, on SQLite and PostgreSQL.

Every attribute of every label lives in one JSON document per product (JSONB on PostgreSQL). Any attribute
can be used in a WHERE clause through these expressions; an index made on demand (archive.indexes) is an
expression index on exactly the same expression, so the database uses it for such queries.

- SQLite: ``json_extract`` returns SQL-typed values (integer, real, text; arrays as JSON text); numbers are
  guarded by ``json_type`` so a ``"N/A"`` in a numeric attribute reads as NULL, not as text.
- PostgreSQL: ``->>`` for text, ``datalabs_num(->)`` (an immutable function made by migration 0005) for
  numbers.
"""

from __future__ import annotations

import re

from datalabs.errors import InvalidInput

_PLAIN_KEY = re.compile(r"^[^\"'\\\x00-\x1f]{1,600}$")
NUMERIC_TYPES = ("int", "float")


def check_attribute_name(name: str) -> str:
    if not _PLAIN_KEY.match(name):
        raise InvalidInput(f"invalid attribute name {name!r}: at most 600 characters, no quotes, backslashes or "
                           "control characters", field="attribute")
    return name


def _sqlite_path(name: str, index: int | None) -> str:
    suffix = f"[{index}]" if index is not None else ""
    return f"'$.\"{name}\"{suffix}'"


def _pg_path(name: str, index: int | None) -> str:
    return f"'{name}'" if index is None else f"'{name}' -> {index}"


def text_sql(dialect: str, json_column: str, name: str, index: int | None = None) -> str:
    """The attribute as text (numbers and lists as their JSON text)."""
    check_attribute_name(name)
    if dialect == "sqlite":
        return f"json_extract({json_column}, {_sqlite_path(name, index)})"
    if index is None:
        return f"({json_column} ->> '{name}')"
    return f"({json_column} -> '{name}' ->> {index})"


def number_sql(dialect: str, json_column: str, name: str, index: int | None = None) -> str:
    """The attribute as a double; NULL when it is absent or not a number."""
    check_attribute_name(name)
    if dialect == "sqlite":
        path = _sqlite_path(name, index)
        return (f"(CASE WHEN json_type({json_column}, {path}) IN ('integer', 'real') "
                f"THEN json_extract({json_column}, {path}) END)")
    return f"datalabs_num({json_column} -> {_pg_path(name, index)})"


def present_sql(dialect: str, json_column: str, name: str) -> str:
    check_attribute_name(name)
    if dialect == "sqlite":
        return f"(json_type({json_column}, {_sqlite_path(name, None)}) IS NOT NULL)"
    return f"({json_column} ? '{name}')"


def typed_sql(dialect: str, json_column: str, name: str, datatype: str, index: int | None = None) -> str:
    """The expression a TAP column of this attribute type reads."""
    if datatype in NUMERIC_TYPES:
        return number_sql(dialect, json_column, name, index)
    return text_sql(dialect, json_column, name, index)
