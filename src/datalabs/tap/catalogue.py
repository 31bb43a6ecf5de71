"""What a TAP caller can query: schemas, tables and columns with their metadata, and for each table the SQL
that produces its rows for that caller (embargoed products already filtered out).

The ADQL translator (adql.py) turns each ADQL table reference into a derived table built from
``TapTable.source`` and the columns' ``sql`` expressions, so a query can never reach a row or a column that
is not described here. TAP_SCHEMA (tap_schema.py) is made from the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TapColumn:
    name: str  # as ADQL names it (case-insensitive unless it needs quoting, e.g. "IMAGE_POI.ROSETTA:X")
    sql: str  # SQL expression over the table's source row, in the database's dialect
    datatype: str  # VOTable datatype: boolean, short, int, long, float, double, char, unicodeChar
    arraysize: str | None = None  # "*" for variable-length strings
    xtype: str | None = None  # "timestamp" for ISO 8601 times
    unit: str = ""
    ucd: str = ""
    utype: str = ""
    description: str = ""
    principal: bool = False
    indexed: bool = False
    std: bool = False


@dataclass(frozen=True)
class TapForeignKey:
    key_id: str
    target_table: str  # qualified: schema.table
    columns: tuple[tuple[str, str], ...]  # (from_column, target_column)
    description: str = ""


@dataclass(frozen=True)
class TapTable:
    schema: str
    name: str  # unqualified
    source: str  # a table name or a parenthesised SELECT, filtered for the caller
    columns: tuple[TapColumn, ...]
    description: str = ""
    table_type: str = "table"  # table | view
    utype: str = ""
    foreign_keys: tuple[TapForeignKey, ...] = ()
    # SQL expression of a JSON object holding more attributes than the declared columns: a quoted column name
    # that is not declared is read from it (None: undeclared columns are an error)
    extra_attributes: str | None = None
    # how to read one undeclared attribute from extra_attributes, per dialect; {json} and {key} are filled in
    # (e.g. sqlite: "json_extract({json}, '$.\"{key}\"')")
    extra_attribute_sql: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> TapColumn | None:
        for column in self.columns:
            if column.name == name:
                return column
        lowered = name.lower()
        for column in self.columns:
            if column.name.lower() == lowered:
                return column
        return None


@dataclass(frozen=True)
class TapSchema:
    name: str
    description: str = ""
    utype: str = ""


@dataclass
class TapCatalogue:
    """Everything one caller may query (built per request by archive.tap_tables)."""

    dialect: str  # sqlite | postgresql
    schemas: list[TapSchema] = field(default_factory=list)
    tables: list[TapTable] = field(default_factory=list)

    def table(self, qualified_or_bare: str) -> TapTable | None:
        wanted = qualified_or_bare.lower()
        for table in self.tables:
            if table.qualified_name.lower() == wanted:
                return table
        bare = [table for table in self.tables if table.name.lower() == wanted]
        return bare[0] if len(bare) == 1 else None
