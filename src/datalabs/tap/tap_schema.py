"""TAP_SCHEMA (TAP 1.1 §4): the schemas, tables, columns and foreign keys one caller may query, as five
queryable tables made from that caller's TapCatalogue - so a table the caller may not see is never listed.

Each TAP_SCHEMA table's ``source`` is a ``VALUES`` list wrapped in a SELECT that names and casts its columns
(``column1``, ``column2``... are the names both SQLite and PostgreSQL give to VALUES columns; the casts give
all-NULL columns a type on PostgreSQL). VALUES has no compound-SELECT limit (SQLite stops at 500 UNION
ALLs), so thousands of columns are fine. TAP_SCHEMA describes itself too.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence

from datalabs.tap.catalogue import TapCatalogue, TapColumn, TapForeignKey, TapSchema, TapTable

SCHEMA = "TAP_SCHEMA"
_REGULAR = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# ADQL 2.1 §2.1.2: SQL-92's reserved words and ADQL's own; a name that is one must be delimited
RESERVED = frozenset("""
ABSOLUTE ACTION ADD ALL ALLOCATE ALTER AND ANY ARE AS ASC ASSERTION AT AUTHORIZATION AVG BEGIN BETWEEN BIT
BIT_LENGTH BOTH BY CASCADE CASCADED CASE CAST CATALOG CHAR CHARACTER CHARACTER_LENGTH CHAR_LENGTH CHECK CLOSE
COALESCE COLLATE COLLATION COLUMN COMMIT CONNECT CONNECTION CONSTRAINT CONSTRAINTS CONTINUE CONVERT
CORRESPONDING COUNT CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER CURSOR DATE
DAY DEALLOCATE DECIMAL DECLARE DEFAULT DEFERRABLE DEFERRED DELETE DESC DESCRIBE DESCRIPTOR DIAGNOSTICS
DISCONNECT DISTINCT DOMAIN DOUBLE DROP ELSE END END-EXEC ESCAPE EXCEPT EXCEPTION EXEC EXECUTE EXISTS EXTERNAL
EXTRACT FALSE FETCH FIRST FLOAT FOR FOREIGN FOUND FROM FULL GET GLOBAL GO GOTO GRANT GROUP HAVING HOUR IDENTITY
IMMEDIATE IN INDICATOR INITIALLY INNER INPUT INSENSITIVE INSERT INT INTEGER INTERSECT INTERVAL INTO IS
ISOLATION JOIN KEY LANGUAGE LAST LEADING LEFT LEVEL LIKE LOCAL LOWER MATCH MAX MIN MINUTE MODULE MONTH NAMES
NATIONAL NATURAL NCHAR NEXT NO NOT NULL NULLIF NUMERIC OCTET_LENGTH OF ON ONLY OPEN OPTION OR ORDER OUTER
OUTPUT OVERLAPS PAD PARTIAL POSITION PRECISION PREPARE PRESERVE PRIMARY PRIOR PRIVILEGES PROCEDURE PUBLIC READ
REAL REFERENCES RELATIVE RESTRICT REVOKE RIGHT ROLLBACK ROWS SCHEMA SCROLL SECOND SECTION SELECT SESSION
SESSION_USER SET SIZE SMALLINT SOME SPACE SQL SQLCODE SQLERROR SQLSTATE SUBSTRING SUM SYSTEM_USER TABLE
TEMPORARY THEN TIME TIMESTAMP TIMEZONE_HOUR TIMEZONE_MINUTE TO TRAILING TRANSACTION TRANSLATE TRANSLATION TRIM
TRUE UNION UNIQUE UNKNOWN UPDATE UPPER USAGE USER USING VALUE VALUES VARCHAR VARYING VIEW WHEN WHENEVER WHERE
WITH WORK WRITE YEAR ZONE
ABS ACOS AREA ASIN ATAN ATAN2 BIGINT BOX CEILING CENTROID CIRCLE CONTAINS COORD1 COORD2 COORDSYS COS COT
DEGREES DISTANCE EXP FLOOR ILIKE INTERSECTS IN_UNIT LOG LOG10 MOD OFFSET PI POINT POLYGON POWER RADIANS REGION
RAND ROUND SIN SQRT TAN TOP TRUNCATE
""".split())


def adql_name(name: str) -> str:
    """A name as it must be written in ADQL: a delimited identifier (double quotes) unless it is regular."""
    if _REGULAR.match(name) and name.upper() not in RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def _text(name: str, description: str, *, principal: bool = True, std: bool = True) -> TapColumn:
    return TapColumn(name, f'"{name}"', "char", arraysize="*", description=description, principal=principal,
                     std=std)


def _int(name: str, description: str, *, principal: bool = False, std: bool = True) -> TapColumn:
    return TapColumn(name, f'"{name}"', "int", description=description, principal=principal, std=std)


# (table, description, columns): the TAP 1.1 TAP_SCHEMA, in its standard column order
_LAYOUT: list[tuple[str, str, tuple[TapColumn, ...]]] = [
    ("schemas", "The schemas of this service.", (
        _text("schema_name", "schema name, as it is written in queries"),
        _text("utype", "utype of the schema"),
        _text("description", "description of the schema"),
        _int("schema_index", "recommended order of the schemas in a display"),
    )),
    ("tables", "The tables of this service.", (
        _text("schema_name", "the schema this table belongs to"),
        _text("table_name", "table name, qualified by its schema, as it is written in queries"),
        _text("table_type", "table or view"),
        _text("utype", "utype of the table"),
        _text("description", "description of the table"),
        _int("table_index", "recommended order of the tables in a display"),
    )),
    ("columns", "The columns of every table of this service.", (
        _text("table_name", "the table this column belongs to (qualified)"),
        _text("column_name", "column name, as it is written in queries"),
        _text("utype", "utype of the column"),
        _text("ucd", "UCD of the column"),
        _text("unit", "unit of the column's values (VOUnit)"),
        _text("description", "description of the column"),
        _text("datatype", "VOTable datatype of the column"),
        _text("arraysize", "VOTable arraysize of the column"),
        _text("xtype", "VOTable xtype of the column"),
        _int("size", "deprecated: arraysize as an integer"),
        _int("principal", "1 if the column is one of the table's principal columns", principal=True),
        _int("indexed", "1 if the column is indexed", principal=True),
        _int("std", "1 if the column is defined by a standard", principal=True),
        _int("column_index", "recommended order of the columns of a table in a display"),
    )),
    ("keys", "Foreign keys between the tables of this service.", (
        _text("key_id", "unique key identifier"),
        _text("from_table", "table holding the foreign key (qualified)"),
        _text("target_table", "table the foreign key points at (qualified)"),
        _text("utype", "utype of the key"),
        _text("description", "description of the key"),
    )),
    ("key_columns", "The columns of the foreign keys of this service.", (
        _text("key_id", "the key this column pair belongs to"),
        _text("from_column", "column of the key's from_table"),
        _text("target_column", "column of the key's target_table"),
    )),
]

_SELF_KEYS: dict[str, tuple[TapForeignKey, ...]] = {
    "tables": (TapForeignKey("TAP_SCHEMA.tables-schemas", "TAP_SCHEMA.schemas", (("schema_name", "schema_name"),),
                             "the schema of a table"),),
    "columns": (TapForeignKey("TAP_SCHEMA.columns-tables", "TAP_SCHEMA.tables", (("table_name", "table_name"),),
                              "the table of a column"),),
    "keys": (TapForeignKey("TAP_SCHEMA.keys-tables-from", "TAP_SCHEMA.tables", (("from_table", "table_name"),),
                           "the table holding a key"),
             TapForeignKey("TAP_SCHEMA.keys-tables-target", "TAP_SCHEMA.tables", (("target_table", "table_name"),),
                           "the table a key points at")),
    "key_columns": (TapForeignKey("TAP_SCHEMA.key_columns-keys", "TAP_SCHEMA.keys", (("key_id", "key_id"),),
                                  "the key of a column pair"),),
}


def with_tap_schema(catalogue: TapCatalogue) -> TapCatalogue:
    """The catalogue plus TAP_SCHEMA, whose rows describe exactly the catalogue's tables and itself."""
    skeleton = [TapTable(SCHEMA, name, "", columns, description, foreign_keys=_SELF_KEYS.get(name, ()))
                for name, description, columns in _LAYOUT]
    schemas = [TapSchema(SCHEMA, "The tables that describe this service (TAP 1.1 TAP_SCHEMA).")]
    schemas += [schema for schema in catalogue.schemas if schema.name != SCHEMA]
    tables = skeleton + [table for table in catalogue.tables if table.schema != SCHEMA]
    rows = _rows(schemas, tables)
    tap_tables = [TapTable(t.schema, t.name, _values_source(t.columns, rows[t.name]), t.columns, t.description,
                           foreign_keys=t.foreign_keys) for t in skeleton]
    return TapCatalogue(catalogue.dialect, schemas, tap_tables + tables[len(skeleton):])


_BUILT: OrderedDict[tuple, TapCatalogue] = OrderedDict()  # catalogue_key -> catalogue (read-only once built)
_BUILT_LOCK = threading.Lock()
BUILT_KEPT = 64


def caller_catalogue(db, actor) -> TapCatalogue:
    """Everything ``actor`` (None: anonymous) may query over TAP: the archive's tables and TAP_SCHEMA. Built
    catalogues are reused while what they depend on (archive.tap_tables.catalogue_key) is unchanged: building
    one costs milliseconds, more than most indexed queries."""
    from datalabs.archive.tap_tables import build_catalogue, catalogue_key

    key = catalogue_key(db, actor)
    with _BUILT_LOCK:
        if key in _BUILT:
            _BUILT.move_to_end(key)
            return _BUILT[key]
    catalogue = with_tap_schema(build_catalogue(db, actor))
    with _BUILT_LOCK:
        _BUILT[key] = catalogue
        while len(_BUILT) > BUILT_KEPT:
            _BUILT.popitem(last=False)
    return catalogue


def qualified_adql_name(table: TapTable) -> str:
    return f"{adql_name(table.schema)}.{adql_name(table.name)}"


def _rows(schemas: Sequence[TapSchema], tables: Sequence[TapTable]) -> dict[str, list[tuple]]:
    rows: dict[str, list[tuple]] = {"schemas": [], "tables": [], "columns": [], "keys": [], "key_columns": []}
    for index, schema in enumerate(schemas):
        rows["schemas"].append((adql_name(schema.name), schema.utype or None, schema.description or None, index))
    for table_index, table in enumerate(tables):
        name = qualified_adql_name(table)
        rows["tables"].append((adql_name(table.schema), name, table.table_type, table.utype or None,
                               table.description or None, table_index))
        for column_index, column in enumerate(table.columns):
            size = int(column.arraysize.rstrip("*")) if column.arraysize and column.arraysize.rstrip("*").isdigit() \
                else None
            rows["columns"].append((name, adql_name(column.name), column.utype or None, column.ucd or None,
                                    column.unit or None, column.description or None, column.datatype,
                                    column.arraysize, column.xtype, size, int(column.principal), int(column.indexed),
                                    int(column.std), column_index))
        for key in table.foreign_keys:
            target_schema, _, target_name = key.target_table.partition(".")
            target = f"{adql_name(target_schema)}.{adql_name(target_name)}" if target_name else key.target_table
            rows["keys"].append((key.key_id, name, target, None, key.description or None))
            for from_column, target_column in key.columns:
                rows["key_columns"].append((key.key_id, adql_name(from_column), adql_name(target_column)))
    return rows


def _literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _values_source(columns: Sequence[TapColumn], rows: list[tuple]) -> str:
    casts = []
    for position, column in enumerate(columns, start=1):
        sql_type = "INTEGER" if column.datatype == "int" else "VARCHAR"
        casts.append(f'CAST(column{position} AS {sql_type}) AS "{column.name}"')
    if not rows:  # VALUES needs a row: one of NULLs, filtered out
        nulls = ", ".join("NULL" for _ in columns)
        return f"(SELECT {', '.join(casts)} FROM (VALUES ({nulls})) AS tap_values WHERE 1 = 0)"
    values = ",\n".join("(" + ", ".join(_literal(value) for value in row) + ")" for row in rows)
    return f"(SELECT {', '.join(casts)} FROM (VALUES {values}) AS tap_values)"
