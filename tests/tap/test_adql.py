"""ADQL -> SQL: every translated query is run for real on the test database (SQLite, or PostgreSQL when
DATALABS_TEST_DATABASE_URL is set), over two small tables described by a TapCatalogue of our own."""

from __future__ import annotations

import json
import math
import sqlite3

import pytest
from sqlalchemy import text

from datalabs.tap import adql_functions
from datalabs.tap.adql import (
    SUPPORTED_FUNCTIONS,
    UNSUPPORTED_FUNCTIONS,
    AdqlError,
    parse_expression,
    register_sqlite_functions,
    translate,
)
from datalabs.tap.catalogue import TapCatalogue, TapColumn, TapSchema, TapTable

PRODUCTS = [  # id, name, target, ra, mag, volume_id, public, attrs
    (1, "O'Brien crater", "Mars", 10.5, 1.5, 1, 1, {"IMAGE.X:y": 7, "Label's": "q"}),
    (2, "mars rover", "mars", 20.0, None, 1, 1, {}),
    (3, "Moon_base", "Moon", None, 3.0, 2, 1, {"IMAGE.X:y": 9}),
    (4, "Secret", "Mars", 30.0, 2.0, 2, 0, {}),  # embargoed: the table's source leaves it out
    (5, "a%b\\c", "Phobos", 40.25, -1.0, None, 1, {}),
]
VOLUMES = [(1, "MRO"), (2, "LRO"), (3, "Empty")]


def _catalogue(dialect: str) -> TapCatalogue:
    json_value = "attrs" if dialect == "sqlite" else "CAST(attrs AS JSONB)"
    extra = "json_extract({json}, '$.\"{key}\"')" if dialect == "sqlite" else "({json} ->> '{key}')"
    products = TapTable(
        "pds", "products", "(SELECT * FROM adql_products WHERE public = 1)",
        (
            TapColumn("product_id", "id", "int", ucd="meta.id"),
            TapColumn("name", "name", "char", arraysize="*"),
            TapColumn("target", "target", "char", arraysize="*"),
            TapColumn("ra", "ra", "double", unit="deg"),
            TapColumn("mag", "mag", "double"),
            TapColumn("volume_id", "volume_id", "int"),
            TapColumn("IMAGE_POI.ROSETTA:X", "ra * 2", "double"),
        ),
        extra_attributes=json_value, extra_attribute_sql=extra,
    )
    volumes = TapTable("pds", "volumes", "adql_volumes",
                       (TapColumn("volume_id", "id", "int"), TapColumn("Title", "title", "char", arraysize="*")))
    wide = TapTable("pds", "wide", "adql_volumes",
                    tuple(TapColumn(f"c{i}", f"id + {i}", "int") for i in range(200)))
    other = TapTable("other", "wide", "adql_volumes", (TapColumn("x", "id", "int"),))
    return TapCatalogue(dialect, [TapSchema("pds"), TapSchema("other")], [products, volumes, wide, other])


@pytest.fixture
def database(db):
    """The test database with adql_products and adql_volumes (dropped afterwards), and a catalogue over them."""
    dialect = db.connection().dialect.name
    real = "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
    _drop(db)
    db.execute(text(f"CREATE TABLE adql_products (id INTEGER PRIMARY KEY, name TEXT, target TEXT, ra {real}, "
                    f"mag {real}, volume_id INTEGER, public INTEGER, attrs TEXT)"))
    db.execute(text("CREATE TABLE adql_volumes (id INTEGER PRIMARY KEY, title TEXT)"))
    for row in PRODUCTS:
        db.execute(text("INSERT INTO adql_products VALUES (:id, :name, :target, :ra, :mag, :volume, :public, :attrs)"),
                   dict(zip(("id", "name", "target", "ra", "mag", "volume", "public"), row[:7]),
                        attrs=json.dumps(row[7])))
    for row in VOLUMES:
        db.execute(text("INSERT INTO adql_volumes VALUES (:id, :title)"), dict(id=row[0], title=row[1]))
    db.commit()
    yield Database(db, _catalogue(dialect))
    db.rollback()
    _drop(db)


def _drop(db) -> None:
    db.execute(text("DROP TABLE IF EXISTS adql_products"))
    db.execute(text("DROP TABLE IF EXISTS adql_volumes"))
    db.commit()


class Database:
    def __init__(self, db, catalogue: TapCatalogue) -> None:
        self.db = db
        self.catalogue = catalogue
        self.dialect = catalogue.dialect

    def translate(self, adql: str, maxrec: int | None = None):
        return translate(adql, self.catalogue, maxrec=maxrec)

    def rows(self, adql: str, maxrec: int | None = None) -> list[tuple]:
        """Runs the translation as the TAP service does: on the DB-API connection, no parameters."""
        translation = self.translate(adql, maxrec)
        raw = self.db.connection().connection.dbapi_connection
        if self.dialect == "sqlite":
            register_sqlite_functions(raw)
        cursor = raw.cursor()
        try:
            cursor.execute(translation.sql)
            return [tuple(row) for row in cursor.fetchall()]
        except Exception:
            raw.rollback()
            raise
        finally:
            cursor.close()

    def values(self, adql: str) -> list:
        return [row[0] for row in self.rows(adql)]

    def one(self, adql: str):
        rows = self.rows(adql)
        assert len(rows) == 1, rows
        return rows[0][0] if len(rows[0]) == 1 else rows[0]

    def error(self, adql: str, maxrec: int | None = None) -> AdqlError:
        with pytest.raises(AdqlError) as caught:
            self.translate(adql, maxrec)
        return caught.value


# --- SELECT *, names, metadata ---------------------------------------------------------------------------


def test_select_star_gives_every_declared_column_in_order_and_only_the_rows_the_catalogue_allows(database):
    translation = database.translate("SELECT * FROM pds.products ORDER BY product_id")
    assert [column.name for column in translation.columns] == [
        "product_id", "name", "target", "ra", "mag", "volume_id", "IMAGE_POI.ROSETTA:X"]
    assert translation.columns[3].column.unit == "deg"
    rows = database.rows("SELECT * FROM pds.products ORDER BY product_id")
    assert [row[0] for row in rows] == [1, 2, 3, 5]
    assert rows[0][:3] == (1, "O'Brien crater", "Mars")
    assert rows[0][6] == 21.0


def test_result_columns_are_named_by_alias_column_or_function_and_unique(database):
    translation = database.translate(
        'SELECT p.name AS "My Name", p.ra, COUNT(*), count(p.mag), ra + 1, SQRT(ra), p.name AS other, '
        "v.volume_id, p.volume_id FROM products AS p JOIN volumes AS v ON p.volume_id = v.volume_id "
        "GROUP BY p.name, p.ra, v.volume_id, p.volume_id")
    assert [column.name for column in translation.columns] == [
        "My Name", "ra", "count", "count_2", "expr", "sqrt", "other", "volume_id", "volume_id_2"]
    assert translation.columns[0].column.name == "name"
    assert translation.columns[1].column.unit == "deg"
    assert [column.column for column in translation.columns[2:6]] == [None] * 4
    assert translation.columns[7].column.datatype == "int"


def test_star_expansion_over_joins_and_qualified_star(database):
    joined = database.translate("SELECT * FROM products AS p JOIN volumes AS v ON p.volume_id = v.volume_id")
    assert [column.name for column in joined.columns][-3:] == ["IMAGE_POI.ROSETTA:X", "volume_id_2", "Title"]
    using = database.translate("SELECT * FROM products JOIN volumes USING (volume_id)")
    assert [column.name for column in using.columns][:3] == ["volume_id", "product_id", "name"]
    assert [column.name for column in using.columns][-1] == "Title"
    assert len(database.rows("SELECT * FROM products JOIN volumes USING (volume_id)")) == 3
    assert [column.name for column in database.translate("SELECT v.* FROM products p, volumes v").columns] == [
        "volume_id", "Title"]


def test_case_insensitive_names_and_delimited_identifiers(database):
    assert database.values("SELECT P.NAME FROM PDS.Products AS p WHERE p.Target = 'Moon'") == ["Moon_base"]
    assert database.values('SELECT "IMAGE_POI.ROSETTA:X" FROM products WHERE product_id = 1') == [21.0]
    assert database.values('SELECT "image_poi.rosetta:x" FROM products WHERE product_id = 1') == [21.0]
    assert database.values('SELECT "Title" FROM volumes WHERE volume_id = 2') == ["LRO"]
    translation = database.translate('SELECT "name" AS "Ünïcode ""quoted""" FROM products')
    assert translation.columns[0].name == 'Ünïcode "quoted"'
    assert len(database.rows('SELECT "name" AS "Ünïcode ""quoted""" FROM products')) == 4


def test_derived_tables_hold_only_the_columns_the_query_uses(database):
    sql = database.translate("SELECT c3 FROM pds.wide WHERE c150 > 0").sql
    assert '"c3"' in sql and '"c150"' in sql and '"c4"' not in sql
    assert database.values("SELECT c3 FROM pds.wide WHERE c150 > 0 ORDER BY c3") == [4, 5, 6]
    assert database.one("SELECT COUNT(*) FROM pds.wide") == 3
    assert len(database.translate("SELECT * FROM pds.wide").columns) == 200


def test_extra_attributes_are_read_from_json_for_delimited_undeclared_names(database):
    rows = database.rows('SELECT product_id, "IMAGE.X:y", "Label\'s" FROM products ORDER BY product_id')
    assert [(row[0], None if row[1] is None else int(row[1]), row[2]) for row in rows] == [
        (1, 7, "q"), (2, None, None), (3, 9, None), (5, None, None)]
    translation = database.translate('SELECT p."IMAGE.X:y" FROM products AS p')
    assert translation.columns[0].name == "IMAGE.X:y" and translation.columns[0].column is None
    assert "unknown column" in database.error("SELECT nosuchattr FROM products").message
    assert "unknown column" in database.error('SELECT "NoSuch" FROM volumes').message
    # a name that could break out of the JSON path is refused, not pasted
    assert "unknown column" in database.error('SELECT "x""" FROM products').message


# --- TOP, MAXREC, OFFSET ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("query_top", "maxrec", "limit", "rows"), [
    (None, None, None, 4),
    (None, 2, 3, 3),  # MAXREC+1: the caller sees the overflow
    (None, 10, 11, 4),
    (2, None, 2, 2),
    (2, 3, 2, 2),
    (3, 3, 3, 3),
    (5, 2, 3, 3),
    (None, 0, 0, 0),
    (2, 0, 0, 0),
])
def test_top_and_maxrec(database, query_top, maxrec, limit, rows):
    top = f"TOP {query_top} " if query_top is not None else ""
    adql = f"SELECT {top}product_id FROM products ORDER BY product_id"
    translation = database.translate(adql, maxrec)
    assert translation.top == query_top
    assert (f"LIMIT {limit}" in translation.sql) == (limit is not None)
    assert len(database.rows(adql, maxrec)) == rows


def test_offset(database):
    assert database.values("SELECT product_id FROM products ORDER BY product_id OFFSET 1") == [2, 3, 5]
    assert database.values("SELECT TOP 2 product_id FROM products ORDER BY product_id OFFSET 1") == [2, 3]
    assert database.rows("SELECT product_id FROM products ORDER BY product_id OFFSET 1", maxrec=1) == [(2,), (3,)]


def test_limit_is_not_adql(database):
    error = database.error("SELECT product_id FROM products LIMIT 5")
    assert error.line == 1 and error.column is not None


# --- predicates, strings, arithmetic ---------------------------------------------------------------------


def test_strings_with_quotes_and_backslashes(database):
    assert database.values("SELECT product_id FROM products WHERE name = 'O''Brien crater'") == [1]
    assert database.values("SELECT product_id FROM products WHERE name = 'a%b\\c'") == [5]
    assert database.one("SELECT 'it''s' || ' ' || name FROM products WHERE product_id = 2") == "it's mars rover"


def test_backslashes_stay_literal_even_if_postgresql_reads_strings_the_old_way(database):
    if database.dialect == "postgresql":
        database.db.connection().exec_driver_sql("SET LOCAL standard_conforming_strings = off")
    attack = "SELECT product_id FROM products WHERE name = 'a\\' OR name = ' UNION SELECT 99 --'"
    assert database.values(attack) == []
    assert database.values("SELECT product_id FROM products WHERE name = 'a%b\\c'") == [5]


def test_hexadecimal_literals_and_a_parenthesised_query(database):
    assert database.one("SELECT 0xFF, 0x1a FROM volumes WHERE volume_id = 1") == (255, 26)
    assert database.values("(SELECT title FROM volumes WHERE volume_id = 2)") == ["LRO"]


def test_like_is_case_sensitive_and_knows_percent_and_underscore(database):
    assert database.values("SELECT product_id FROM products WHERE target LIKE 'M%' ORDER BY 1") == [1, 3]
    assert database.values("SELECT product_id FROM products WHERE target LIKE 'm%'") == [2]
    assert database.values("SELECT product_id FROM products WHERE name LIKE 'Moon_base'") == [3]
    assert database.values("SELECT product_id FROM products WHERE name LIKE 'Moon_b%'") == [3]
    assert database.values("SELECT product_id FROM products WHERE name LIKE '%\\'") == []
    assert database.values("SELECT product_id FROM products WHERE name LIKE 'a%\\c'") == [5]  # no escape char
    assert database.values("SELECT product_id FROM products WHERE name LIKE '*'") == []  # GLOB's * is literal
    assert database.values("SELECT product_id FROM products WHERE target NOT LIKE 'M%' ORDER BY 1") == [2, 5]
    # a pattern that is not a literal (SQLite: the registered datalabs_like)
    assert database.values("SELECT product_id FROM products WHERE name LIKE target || '%' ORDER BY 1") == [2, 3]
    assert database.values("SELECT product_id FROM products WHERE name NOT LIKE target || '%' ORDER BY 1") == [1, 5]
    assert database.values("SELECT product_id FROM products WHERE name LIKE LOWER(target) || '%'") == [2]


def test_ilike(database):
    assert database.values("SELECT product_id FROM products WHERE target ILIKE 'MARS' ORDER BY 1") == [1, 2]
    assert database.values("SELECT product_id FROM products WHERE name NOT ILIKE '%R%' ORDER BY 1") == [3, 5]


def test_predicates(database):
    assert database.values("SELECT product_id FROM products WHERE ra BETWEEN 10 AND 20 ORDER BY 1") == [1, 2]
    assert database.values("SELECT product_id FROM products WHERE ra NOT BETWEEN 10 AND 20 ORDER BY 1") == [5]
    assert database.values("SELECT product_id FROM products WHERE mag IS NULL") == [2]
    assert database.values("SELECT product_id FROM products WHERE ra IS NOT NULL ORDER BY 1") == [1, 2, 5]
    assert database.values("SELECT product_id FROM products WHERE target IN ('Mars', 'Moon') ORDER BY 1") == [1, 3]
    assert database.values("SELECT product_id FROM products WHERE product_id NOT IN (1, 2) ORDER BY 1") == [3, 5]
    assert database.values("SELECT product_id FROM products WHERE NOT (ra > 15 OR ra IS NULL)") == [1]
    assert database.values("SELECT product_id FROM products WHERE ra > mag * 10 ORDER BY 1") == [5]
    assert database.values("SELECT product_id FROM products WHERE ra <> 10.5 AND ra >= 20 ORDER BY 1") == [2, 5]
    assert database.values("SELECT product_id FROM products WHERE "
                           "CASE WHEN mag < 0 THEN 'faint' ELSE 'bright' END = 'faint'") == [5]


def test_arithmetic_and_integer_division(database):
    assert database.one("SELECT 7 / 2, 7.0 / 2, -7 / 2, 2 + 3 * 4 - 1 FROM volumes WHERE volume_id = 1") == (
        3, 3.5, -3, 13)
    assert database.one("SELECT product_id / 2 FROM products WHERE product_id = 5") == 2
    assert database.one("SELECT -ra FROM products WHERE product_id = 1") == -10.5


# --- ORDER BY, GROUP BY, DISTINCT --------------------------------------------------------------------------


def test_order_by_alias_number_and_nulls_last_ascending(database):
    assert database.values("SELECT product_id AS n FROM products ORDER BY n DESC") == [5, 3, 2, 1]
    assert database.values("SELECT product_id, ra FROM products ORDER BY 2") == [1, 2, 5, 3]
    assert database.values("SELECT product_id, ra FROM products ORDER BY ra DESC") == [3, 5, 2, 1]
    assert database.values("SELECT product_id FROM products ORDER BY mag") == [5, 1, 3, 2]
    assert database.values("SELECT product_id, mag * 2 AS m2 FROM products ORDER BY m2 + 0 DESC") == [2, 3, 1, 5]
    sql = database.translate("SELECT product_id FROM products ORDER BY ra").sql
    assert ("NULLS LAST" in sql) == (database.dialect == "sqlite")  # PostgreSQL's own rule: no clause


def test_group_by_having_distinct_and_aggregates(database):
    assert database.rows("SELECT volume_id, COUNT(*) AS n FROM products GROUP BY volume_id HAVING COUNT(*) > 1") \
        == [(1, 2)]
    assert database.rows("SELECT volume_id AS v, COUNT(*) AS n FROM products WHERE volume_id IS NOT NULL "
                         "GROUP BY v HAVING n >= 1 ORDER BY v") == [(1, 2), (2, 1)]
    assert sorted(database.values("SELECT DISTINCT target FROM products")) == ["Mars", "Moon", "Phobos", "mars"]
    assert database.one("SELECT COUNT(DISTINCT volume_id), COUNT(mag), SUM(product_id), MIN(ra), MAX(ra) "
                        "FROM products") == (2, 3, 11, 10.5, 40.25)
    assert database.one("SELECT AVG(mag) FROM products") == pytest.approx(3.5 / 3)
    assert database.one("SELECT COUNT(*) FROM products WHERE product_id > 100") == 0


# --- joins and subqueries --------------------------------------------------------------------------------


def test_joins(database):
    assert database.rows("SELECT p.product_id, v.Title FROM products AS p JOIN volumes AS v "
                         "ON p.volume_id = v.volume_id ORDER BY 1") == [(1, "MRO"), (2, "MRO"), (3, "LRO")]
    assert database.rows("SELECT p.product_id, v.title FROM products AS p LEFT OUTER JOIN volumes AS v "
                         "ON p.volume_id = v.volume_id ORDER BY 1") == [(1, "MRO"), (2, "MRO"), (3, "LRO"), (5, None)]
    assert database.rows("SELECT p.product_id, v.title FROM products AS p RIGHT OUTER JOIN volumes AS v "
                         "ON p.volume_id = v.volume_id ORDER BY 2, 1") == [(None, "Empty"), (3, "LRO"), (1, "MRO"),
                                                                            (2, "MRO")]
    full = database.rows("SELECT p.product_id, v.title FROM products AS p FULL OUTER JOIN volumes AS v "
                         "ON p.volume_id = v.volume_id")
    assert len(full) == 5
    assert database.rows("SELECT product_id, title FROM products NATURAL JOIN volumes ORDER BY 1") == [
        (1, "MRO"), (2, "MRO"), (3, "LRO")]
    assert database.rows("SELECT volume_id, title FROM products JOIN volumes USING (volume_id) "
                         "WHERE product_id = 3") == [(2, "LRO")]
    assert database.one("SELECT COUNT(*) FROM products CROSS JOIN volumes") == 12
    assert database.one("SELECT COUNT(*) FROM products, volumes") == 12
    assert database.one("SELECT COUNT(*) FROM products AS a JOIN products AS b ON a.product_id < b.product_id") == 6


def test_ambiguous_and_unknown_qualifiers(database):
    error = database.error("SELECT volume_id FROM products AS p JOIN volumes AS v ON p.volume_id = v.volume_id")
    assert "ambiguous column volume_id" in error.message and (error.line, error.column) == (1, 8)
    assert "unknown table or alias" in database.error("SELECT products.name FROM products AS p").message
    assert "appears twice" in database.error("SELECT 1 FROM products JOIN products ON 1 = 1").message
    assert database.values("SELECT pds.products.name FROM pds.products WHERE product_id = 1") == ["O'Brien crater"]
    assert "several schemas" in database.error("SELECT x FROM wide").message
    assert database.values("SELECT x FROM other.wide ORDER BY x") == [1, 2, 3]


def test_subqueries(database):
    assert database.values("SELECT product_id FROM products WHERE volume_id IN "
                           "(SELECT volume_id FROM volumes WHERE title = 'LRO')") == [3]
    assert database.values("SELECT title FROM volumes AS v WHERE NOT EXISTS "
                           "(SELECT * FROM products AS p WHERE p.volume_id = v.volume_id)") == ["Empty"]
    assert database.rows("SELECT s.n, s.v FROM (SELECT COUNT(*) AS n, volume_id AS v FROM products "
                         "GROUP BY volume_id) AS s WHERE s.v = 1") == [(2, 1)]
    assert database.values("SELECT title FROM volumes WHERE volume_id = "
                           "(SELECT MAX(volume_id) FROM products)") == ["LRO"]
    translation = database.translate("SELECT * FROM (SELECT name, ra AS r FROM products) AS s")
    assert [(column.name, column.column and column.column.name) for column in translation.columns] == [
        ("name", "name"), ("r", "ra")]
    assert "needs an alias" in database.error("SELECT * FROM (SELECT name FROM products)").message


def test_set_operations(database):
    assert database.values("SELECT volume_id FROM products UNION SELECT volume_id FROM volumes "
                           "ORDER BY volume_id") == [1, 2, 3, None]
    assert database.values("SELECT volume_id FROM volumes EXCEPT SELECT volume_id FROM products") == [3]
    assert database.values("SELECT volume_id FROM volumes INTERSECT SELECT volume_id FROM products "
                           "ORDER BY 1") == [1, 2]
    assert len(database.rows("SELECT volume_id FROM volumes UNION ALL SELECT volume_id FROM volumes")) == 6
    if database.dialect == "postgresql":
        assert database.values("SELECT volume_id FROM volumes INTERSECT ALL SELECT volume_id FROM products "
                               "ORDER BY 1") == [1, 2]
    else:
        assert "INTERSECT ALL" in database.error(
            "SELECT volume_id FROM volumes INTERSECT ALL SELECT volume_id FROM products").message
    assert len(database.rows("SELECT volume_id FROM volumes UNION ALL SELECT volume_id FROM volumes",
                             maxrec=2)) == 3
    assert "same number of columns" in database.error(
        "SELECT volume_id, title FROM volumes UNION SELECT volume_id FROM volumes").message


# --- functions -------------------------------------------------------------------------------------------


def test_math_functions(database):
    row = database.one(
        "SELECT ABS(-2.5), CEILING(1.2), DEGREES(PI()), EXP(1), FLOOR(-1.5), LOG(10), LOG10(1000), "
        "MOD(7, 3), MOD(7.5, 2), PI(), POWER(2, 10), RADIANS(180), SQRT(16), SIN(0), COS(0), TAN(0), "
        "ASIN(1), ACOS(1), ATAN(1), ATAN2(1, 1), COT(1) FROM volumes WHERE volume_id = 1")
    expected = [2.5, 2, 180, math.e, -2, math.log(10), 3, 1, 1.5, math.pi, 1024, math.pi, 4, 0, 1, 0,
                math.pi / 2, 0, math.pi / 4, math.pi / 4, 1 / math.tan(1)]
    assert [float(value) for value in row] == pytest.approx(expected)
    assert database.one("SELECT MOD(product_id, 2) FROM products WHERE product_id = 5") == 1


def test_round_and_truncate_agree_on_both_databases(database):
    row = database.one("SELECT ROUND(2.5), ROUND(-2.5), ROUND(1.2345, 2), TRUNCATE(1.99), TRUNCATE(-1.99), "
                       "TRUNCATE(1.2399, 2), ROUND(ra, 1), TRUNCATE(ra) FROM products WHERE product_id = 5")
    assert [float(value) for value in row] == pytest.approx([3, -3, 1.23, 1, -1, 1.23, 40.3, 40])


def test_rounding_to_tens(database):
    row = database.one("SELECT ROUND(1234.5, -1), ROUND(-1250, -2), TRUNCATE(1299, -2), ROUND(ra, product_id - 4) "
                       "FROM products WHERE product_id = 5")
    assert [float(value) for value in row] == [1230, -1300, 1200, 40.3]


def test_rand_string_cast_coalesce_case(database):
    values = database.values("SELECT RAND(), RAND(42) FROM products")
    assert all(0 <= value < 1 for value in values)
    assert database.one("SELECT UPPER(name), LOWER(target), name || '/' || target FROM products "
                        "WHERE product_id = 2") == ("MARS ROVER", "mars", "mars rover/mars")
    assert database.one("SELECT COALESCE(mag, -99) FROM products WHERE product_id = 2") == -99
    row = database.one("SELECT CAST(ra AS INTEGER), CAST(product_id AS DOUBLE PRECISION), CAST(product_id AS REAL), "
                       "CAST(product_id AS BIGINT), CAST(product_id AS SMALLINT), CAST(product_id AS VARCHAR(10)), "
                       "CAST(ra AS CHAR(4)) FROM products WHERE product_id = 2")
    assert row[0] == 20 and row[1] == 2.0 and row[2] == 2.0 and row[3] == 2 and row[4] == 2 and row[5] == "2"
    assert row[6].startswith("20")
    stamp = database.one("SELECT CAST('2020-01-02T03:04:05' AS TIMESTAMP) FROM volumes WHERE volume_id = 1")
    assert str(stamp).replace(" ", "T").startswith("2020-01-02T03:04:05")
    assert database.one("SELECT CASE target WHEN 'Mars' THEN 1 ELSE 0 END FROM products WHERE product_id = 1") == 1
    assert "CAST to" in database.error("SELECT CAST(ra AS TEXT) FROM products").message


def test_unknown_and_geometric_functions_are_refused(database):
    error = database.error("SELECT name FROM products WHERE\n  CONTAINS(POINT('ICRS', ra, mag), "
                           "CIRCLE('ICRS', 1, 2, 3)) = 1")
    assert error.message == "geometric functions are not supported by this service (CONTAINS)"
    assert (error.line, error.column) == (2, 3)
    error = database.error("SELECT load_extension('x') FROM products")
    assert error.message.startswith("unknown function load_extension")
    assert "unknown function" in database.error("SELECT CURRENT_DATE FROM products").message
    assert "takes 2 arguments" in database.error("SELECT ATAN2(1) FROM products").message
    assert "IN_UNIT" in database.error("SELECT IN_UNIT(ra, 'rad') FROM products").message
    assert "POINT" in UNSUPPORTED_FUNCTIONS and "CONTAINS" in UNSUPPORTED_FUNCTIONS
    assert "ILIKE" in SUPPORTED_FUNCTIONS["ivo://ivoa.net/std/TAPRegExt#features-adql-string"]


# --- refusals and injection attempts ---------------------------------------------------------------------


def test_syntax_errors_say_where(database):
    error = database.error("SELECT name\nFROM products\nWHERE ra = = 3")
    assert (error.line, error.column) == (3, 12) and "'='" in error.message
    error = database.error("SELECT name FROM products WHERE name = 'unterminated")
    assert error.message.startswith("unterminated string") and (error.line, error.column) == (1, 40)
    assert "unknown column nosuch" in database.error("SELECT nosuch FROM products").message


@pytest.mark.parametrize("statement", [
    "DROP TABLE adql_products",
    "DELETE FROM products",
    "INSERT INTO products (name) VALUES ('x')",
    "UPDATE products SET name = 'x'",
    "PRAGMA case_sensitive_like = 1",
    "ATTACH DATABASE '/tmp/x.db' AS x",
    "CREATE TABLE x (a INTEGER)",
    "WITH x AS (SELECT name FROM products) SELECT * FROM x",
])
def test_only_select_is_allowed(database, statement):
    database.error(statement)


@pytest.mark.parametrize("attack", [
    "SELECT name FROM products; DROP TABLE adql_products",
    "SELECT name FROM products; DROP TABLE adql_products;",
    "SELECT name FROM products WHERE name = 'x'; DELETE FROM adql_products --'",
    "SELECT * FROM sqlite_master",
    "SELECT * FROM pg_catalog.pg_user",
    "SELECT * FROM adql_products",
    "SELECT name FROM products WHERE product_id IN (SELECT id FROM adql_products)",
    "SELECT name FROM products WHERE EXISTS (SELECT 1 FROM sqlite_master)",
    "SELECT name, (SELECT COUNT(*) FROM information_schema.tables) FROM products",
    "SELECT name FROM products AS p JOIN (SELECT id FROM adql_volumes) AS v ON 1 = 1",
    "SELECT public FROM products",
    "SELECT attrs FROM products",
    "SELECT name FROM products WHERE product_id = ?",
    "SELECT name FROM products WHERE product_id = :id",
    "SELECT name FROM products ORDER BY name COLLATE nocase",
    "SELECT target FROM products GROUP BY ROLLUP (target)",
    "SELECT TOP 50 PERCENT name FROM products",
    "SELECT name FROM products WHERE name LIKE 'a' ESCAPE '!'",
])
def test_injection_attempts_are_refused(database, attack):
    database.error(attack)
    assert database.one("SELECT COUNT(*) FROM products") == 4  # nothing was run, nothing was dropped


def test_a_hostile_attribute_name_is_only_ever_a_json_key(database):
    assert database.values('SELECT "x\') FROM adql_products --" FROM products WHERE product_id = 1') == [None]
    assert database.one("SELECT COUNT(*) FROM products") == 4


def test_comments_and_a_trailing_semicolon_are_harmless(database):
    adql = ("SELECT name -- a comment; DROP TABLE adql_products\nFROM products /* ; DELETE FROM adql_products */ "
            "WHERE product_id = 1;")
    translation = database.translate(adql)
    assert "DROP" not in translation.sql and "DELETE" not in translation.sql and "--" not in translation.sql
    assert database.values(adql) == ["O'Brien crater"]


def test_embargoed_rows_cannot_be_reached(database):
    assert database.one("SELECT COUNT(*) FROM products WHERE name = 'Secret'") == 0
    assert database.one("SELECT COUNT(*) FROM products AS a, products AS b WHERE a.product_id = 4") == 0


# --- SQLite specifics and cost ---------------------------------------------------------------------------


def test_sqlite_functions_are_registered_when_sqlite_lacks_math(monkeypatch):
    monkeypatch.setattr(adql_functions, "_has_math_functions", lambda connection: False)
    connection = sqlite3.connect(":memory:")
    register_sqlite_functions(connection)
    row = connection.execute("SELECT sqrt(16), ln(1), log10(100), mod(7.5, 2), trunc(-1.5), pi(), sqrt(-1), "
                             "sqrt(NULL), datalabs_truncate(1.239, 2), datalabs_like('Ab', 'A_'), "
                             "datalabs_like('ab', 'A_'), datalabs_round(-2.5, 0), datalabs_round(149, -2)").fetchone()
    assert row == (4.0, 0.0, 2.0, 1.5, -1, math.pi, None, None, 1.23, 1, 0, -3.0, 100.0)
    connection.close()


def test_parse_expression_translates_functions_for_a_dialect():
    assert parse_expression("LOG(a) * 2", "sqlite").sql("sqlite") == "LN(a) * 2"
    assert parse_expression("TRUNCATE(a, 1)", "postgresql").sql("postgres") == \
        "CAST(TRUNC(CAST(a AS DECIMAL), 1) AS DOUBLE PRECISION)"
    with pytest.raises(AdqlError):
        parse_expression("a * * 2")


def test_a_wide_table_gives_its_derived_table_only_the_columns_the_query_uses(database):
    # (its speed is measured by bench/archive, not asserted here)
    adql = ("SELECT TOP 100 w.c1, w.c2 AS two, COUNT(*) AS n FROM pds.wide AS w JOIN pds.volumes AS v "
            "ON w.c0 = v.volume_id WHERE w.c150 > 3 AND v.Title LIKE 'M%' GROUP BY w.c1, w.c2 ORDER BY n DESC")
    sql = database.translate(adql, maxrec=1000).sql
    for used in ('"c0"', '"c1"', '"c2"', '"c150"'):
        assert used in sql
    for unused in ('"c3"', '"c100"', '"c149"', '"c199"'):
        assert unused not in sql
