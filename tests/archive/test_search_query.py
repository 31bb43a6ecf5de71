"""The PDS-Search-API ``q=`` language: parsing (tree, precedence, errors with positions) and what the
compiled SQL selects from a real SQLite table of products whose attributes are JSON."""

from __future__ import annotations

import pytest
from sqlalchemy import (JSON, Column, Float, Integer, MetaData, Table, Text, case, cast, column, create_engine, func,
                        select)
from sqlalchemy.dialects import postgresql, sqlite

from datalabs.archive.search_query import (
    MAX_NESTING,
    MAX_QUERY_LENGTH,
    BoolOp,
    Comparison,
    Not,
    QueryError,
    like_pattern,
    parse,
    to_sql,
)

START = "pds:Time_Coordinates.pds:start_date_time"
POI = "IMAGE_POI.ROSETTA:SURF_INT_CART_COORD"


def eq(field, value):
    return Comparison(field, "eq", value)


# ---------------------------------------------------------------- parse: trees


def test_single_comparison_without_parentheses():
    assert parse('PRODUCT_ID eq "A_001"') == eq("PRODUCT_ID", "A_001")


def test_parentheses_around_one_comparison_add_nothing():
    assert parse('((PRODUCT_ID eq "A_001"))') == eq("PRODUCT_ID", "A_001")


@pytest.mark.parametrize("op", ["eq", "ne", "gt", "ge", "lt", "le"])
def test_every_comparison_operator(op):
    assert parse(f"ORBIT {op} 10") == Comparison("ORBIT", op, 10)


def test_field_names_keep_dots_colons_slashes_dashes_carets():
    assert parse(f'{START} ge "2020-01-01"') == Comparison(START, "ge", "2020-01-01")
    assert parse(f"{POI} lt -1.5") == Comparison(POI, "lt", -1.5)
    assert parse('a/b-c^d:e.f eq "x"') == eq("a/b-c^d:e.f", "x")
    assert parse('ref_lid_target eq "urn:nasa:pds:context:target:planet.mars"') == eq(
        "ref_lid_target", "urn:nasa:pds:context:target:planet.mars")


def test_numbers_are_int_or_float_as_written():
    assert parse("x eq 42").value == 42 and isinstance(parse("x eq 42").value, int)
    assert parse("x eq -7").value == -7
    assert parse("x eq 2.5").value == 2.5
    assert parse("x eq 3.").value == 3.0 and isinstance(parse("x eq 3.").value, float)


def test_an_integer_too_large_for_the_database_becomes_a_float():
    assert parse("x gt 123456789012345678901234567890").value == pytest.approx(1.2345678901234568e29)


def test_a_quoted_number_is_a_string():
    assert parse('x eq "42"') == eq("x", "42")


def test_string_escapes():
    assert parse(r'x eq "say \"hi\""').value == 'say "hi"'
    assert parse(r'x eq "back\\slash"').value == "back\\slash"
    # other backslashes are kept (the registry has no escapes at all; like uses them for * and ?)
    assert parse(r'x like "50\*"').value == "50\\*"


def test_strings_keep_spaces_parentheses_and_keywords():
    assert parse('TITLE eq "Mars (and Phobos) or not"').value == "Mars (and Phobos) or not"


def test_and_chain_is_one_node():
    assert parse("a eq 1 and b eq 2 and c eq 3") == BoolOp("and", (eq("a", 1), eq("b", 2), eq("c", 3)))


def test_or_chain_is_one_node():
    assert parse("(a eq 1 or b eq 2 or c eq 3)") == BoolOp("or", (eq("a", 1), eq("b", 2), eq("c", 3)))


def test_parentheses_decide_grouping():
    assert parse("(a eq 1 and b eq 2) or c eq 3") == BoolOp(
        "or", (BoolOp("and", (eq("a", 1), eq("b", 2))), eq("c", 3)))
    assert parse("a eq 1 and (b eq 2 or c eq 3)") == BoolOp(
        "and", (eq("a", 1), BoolOp("or", (eq("b", 2), eq("c", 3)))))


def test_not_binds_to_the_next_term_only():
    assert parse("not a eq 1 and b eq 2") == BoolOp("and", (Not(eq("a", 1)), eq("b", 2)))
    assert parse("not (a eq 1 and b eq 2)") == Not(BoolOp("and", (eq("a", 1), eq("b", 2))))
    assert parse("not not a eq 1") == Not(Not(eq("a", 1)))


def test_exists_prefix_as_in_the_registry_and_postfix():
    assert parse("exists ref_lid_target") == Comparison("ref_lid_target", "exists", None)
    assert parse("ref_lid_target exists") == Comparison("ref_lid_target", "exists", None)
    assert parse("not exists x and y exists") == BoolOp(
        "and", (Not(Comparison("x", "exists", None)), Comparison("y", "exists", None)))


def test_keywords_are_case_insensitive():
    assert parse('NOT (A EQ 1 AND B Like "x*") Or Exists C') == BoolOp("or", (
        Not(BoolOp("and", (eq("A", 1), Comparison("B", "like", "x*")))),
        Comparison("C", "exists", None)))


def test_field_names_keep_their_case():
    assert parse('Target_Name eq "Mars"') == eq("Target_Name", "Mars")


def test_whitespace_is_free():
    assert parse(' \t(a  eq\n1)\r\n') == eq("a", 1)
    assert parse('(a eq "x")and(b eq "y")') == BoolOp("and", (eq("a", "x"), eq("b", "y")))


def test_nesting_up_to_the_limit():
    depth = MAX_NESTING
    assert parse("(" * depth + "a eq 1" + ")" * depth) == eq("a", 1)
    assert parse("not " * depth + "a eq 1") is not None


# ---------------------------------------------------------------- parse: errors


def error_of(q: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse(q)
    return caught.value


@pytest.mark.parametrize(("q", "position", "words"), [
    ("", 0, "empty"),
    ("   ", 0, "empty"),
    ("a", 1, "missing operator"),
    ("a equals 1", 2, "unknown operator 'equals'"),
    ("a eq", 4, "missing value"),
    ("a eq and b eq 1", 5, "expected a value"),
    ("a eq MARS", 5, "expected a value in double quotes or a number"),
    ("a eq 'MARS'", 5, "double quotes"),
    ('a eq "MARS', 5, "unterminated string"),
    (r'a eq "MARS\"', 5, "unterminated string"),
    ("a like 5", 7, "'like' needs a pattern"),
    ("(a eq 1", 0, "never closed"),
    ("((a eq 1) and (b eq 2)", 0, "never closed"),
    ("a eq 1)", 6, "unexpected ')'"),
    ("(a eq 1))", 8, "unexpected ')'"),
    ("()", 1, "expected a field name"),
    ("a eq 1 and", 10, "the end of the query"),
    ("a eq 1 b eq 2", 7, "expected 'and', 'or' or the end"),
    ("(a eq 1 b eq 2)", 8, "expected 'and', 'or' or ')'"),
    ("a eq 1 and b eq 2 or c eq 3", 18, "cannot be mixed"),
    ("(a eq 1 or b eq 2 AND c eq 3)", 18, "cannot be mixed"),
    ("eq eq 1", 0, "keyword 'eq'"),
    ('"a" eq 1', 0, "expected a field name, found a string"),
    ("12 eq 1", 0, "expected a field name"),
    ("exists", 6, "the end of the query"),
    ("exists and", 7, "keyword 'and'"),
    ("any(a) eq 1", 0, "any(...) is not supported"),
    ("not", 3, "the end of the query"),
    ("a eq 1 not b eq 1", 7, "expected 'and', 'or'"),
])
def test_errors_name_the_problem_and_its_position(q, position, words):
    error = error_of(q)
    assert error.position == position
    assert words in error.message


def test_mixing_and_or_is_refused_like_the_registry():
    # the registry's grammar has no precedence between "and" and "or": parentheses are required
    error = error_of('(TARGET eq "MARS" and ORBIT gt 1 or ORBIT lt 0)')
    assert "(a and b) or c" in error.message


def test_nesting_deeper_than_the_limit():
    depth = MAX_NESTING + 1
    error = error_of("(" * depth + "a eq 1" + ")" * depth)
    assert error.position == MAX_NESTING
    assert "nested too deeply" in error.message
    assert error_of("not " * depth + "a eq 1").position == 4 * MAX_NESTING


def test_query_length_limit():
    long = "a eq " + '"' + "x" * MAX_QUERY_LENGTH + '"'
    error = error_of(long)
    assert error.position == MAX_QUERY_LENGTH
    assert "longer than" in error.message


def test_str_shows_message_position_and_context():
    error = error_of('PRODUCT_ID equals "A_001"')
    assert str(error) == (
        "unknown operator 'equals': expected one of eq, ne, gt, ge, lt, le, like, exists "
        'at position 11: PRODUCT_ID >>>equals "A_001"')


def test_str_context_is_cut_around_the_position():
    q = "a" * 100 + " eq MARS and " + "b" * 100
    text = str(error_of(q))
    assert text.endswith(": ..." + "a" * 21 + " eq >>>MARS and " + "b" * 16 + "...")


def test_query_error_is_invalid_input_for_the_api():
    from datalabs.errors import HTTP_STATUS, InvalidInput, status_for

    error = error_of("a eq")
    assert isinstance(error, InvalidInput)
    assert error.code == "invalid_query" and error.field == "q"
    assert status_for(error) == HTTP_STATUS[InvalidInput]


# ---------------------------------------------------------------- like patterns


@pytest.mark.parametrize(("wildcards", "sql"), [
    ("A_*", "A!_%"),
    ("A?00*", "A_00%"),
    ("100%*", "100!%%"),
    ("wow!", "wow!!"),
    (r"50\*", "50*"),
    (r"what\?", "what?"),
    ("a\\\\b", "a\\b"),
    ("trailing\\", "trailing\\"),
])
def test_like_pattern(wildcards, sql):
    assert like_pattern(wildcards) == sql


# ---------------------------------------------------------------- to_sql on a real database

PRODUCTS = {
    1: {"PRODUCT_ID": "A_001", START: "2020-01-01T00:00:00Z", POI: 1.5, "ORBIT_NUMBER": 10,
        "TARGET_NAME": "MARS", "NOTE": "100% done", "FLAG": "a*b?"},
    2: {"PRODUCT_ID": "A_002", START: "2021-06-01T12:00:00Z", POI: -3, "ORBIT_NUMBER": 20,
        "TARGET_NAME": "Phobos", "NOTE": "100 percent"},
    3: {"PRODUCT_ID": "AX002", "ORBIT_NUMBER": "N/A", "TARGET_NAME": "MARS", "NOTE": 'said "hi"'},
    4: {"PRODUCT_ID": "B_100", "ref_lid_target": "urn:nasa:pds:context:target:planet.mars",
        "NOTE": None},
}


class JsonFields:
    """Label attributes read out of a SQLite JSON column with json_extract (a test stand-in for the
    production resolver)."""

    def __init__(self, column):
        self.column = column

    def _path(self, field):
        return f'$."{field}"'

    def text(self, field):
        return cast(func.json_extract(self.column, self._path(field)), Text)

    def number(self, field):
        path = self._path(field)
        return case((func.json_type(self.column, path).in_(["integer", "real"]),
                     func.json_extract(self.column, path)))

    def present(self, field):
        return func.json_type(self.column, self._path(field)).is_not(None)


@pytest.fixture(scope="module")
def products():
    engine = create_engine("sqlite://")
    table = Table("products", MetaData(), Column("id", Integer, primary_key=True), Column("attrs", JSON))
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [{"id": i, "attrs": attrs} for i, attrs in PRODUCTS.items()])

    def matching(q: str) -> set[int]:
        condition = to_sql(parse(q), JsonFields(table.c.attrs))
        with engine.connect() as connection:
            return set(connection.scalars(select(table.c.id).where(condition)))

    yield matching
    engine.dispose()


@pytest.mark.parametrize(("q", "ids"), [
    # text equality, fields with dots and colons in their names
    ('PRODUCT_ID eq "A_001"', {1}),
    ('ref_lid_target eq "urn:nasa:pds:context:target:planet.mars"', {4}),
    (f'{START} eq "2020-01-01T00:00:00Z"', {1}),
    # ISO dates compare as text
    (f'{START} ge "2021-01-01"', {2}),
    (f'{START} lt "2021"', {1}),
    (f'{START} le "2021-06-01T12:00:00Z"', {1, 2}),
    # numbers compare as numbers (10 < 9 as text would be wrong), non-numeric values never match
    ("ORBIT_NUMBER gt 9", {1, 2}),
    ("ORBIT_NUMBER ge 10", {1, 2}),
    ("ORBIT_NUMBER lt 20", {1}),
    ("ORBIT_NUMBER le 20.0", {1, 2}),
    ("ORBIT_NUMBER eq 10", {1}),
    ("ORBIT_NUMBER eq 10.0", {1}),
    (f"{POI} lt 0", {2}),
    (f"{POI} eq 1.5", {1}),
    ('ORBIT_NUMBER eq "N/A"', {3}),
    ("PRODUCT_ID eq 1", set()),
    ('NOTE eq "said \\"hi\\""', {3}),
    # ne: products having the field with another value; a non-numeric value differs from any number
    ("ORBIT_NUMBER ne 10", {2, 3}),
    ('TARGET_NAME ne "MARS"', {2}),
    ('NOTE ne "100 percent"', {1, 3, 4}),  # 4 has NOTE (null): it has the field, with another value
    # exists
    ("exists ORBIT_NUMBER", {1, 2, 3}),
    ("ref_lid_target exists", {4}),
    ("NOTE exists", {1, 2, 3, 4}),
    ("nothing_has_this exists", set()),
    # not includes products lacking the field (OpenSearch must_not)
    ("not (ORBIT_NUMBER eq 10)", {2, 3, 4}),
    ("not (ORBIT_NUMBER gt 15)", {1, 3, 4}),
    ("not (ORBIT_NUMBER ne 10)", {1, 4}),
    ("not (ORBIT_NUMBER exists)", {4}),
    ("not (nothing_has_this eq 1)", {1, 2, 3, 4}),
    ("not not (ORBIT_NUMBER eq 10)", {1}),
    # a NULL inside and/or under not must not swallow the row (3: MARS, orbit "N/A")
    ('not (TARGET_NAME eq "MARS" and ORBIT_NUMBER gt 5)', {2, 3, 4}),
    ('not (TARGET_NAME eq "Phobos" or ORBIT_NUMBER lt 15)', {3, 4}),
    ('not (not (ORBIT_NUMBER gt 15) and TARGET_NAME eq "MARS")', {2, 4}),
    # and / or
    ('(TARGET_NAME eq "MARS" and ORBIT_NUMBER gt 5)', {1}),
    ('TARGET_NAME eq "MARS" or ref_lid_target like "*mars"', {1, 3, 4}),
    ('(TARGET_NAME eq "MARS" or TARGET_NAME eq "Phobos") and ORBIT_NUMBER ge 20', {2}),
    # like: * and ?, literal % and _, case-insensitive, escapes for literal * and ?
    ('PRODUCT_ID like "A_*"', {1, 2}),
    ('PRODUCT_ID like "A?00*"', {1, 2, 3}),
    ('PRODUCT_ID like "A_00?"', {1, 2}),
    ('NOTE like "100%*"', {1}),
    ('NOTE like "*%*"', {1}),
    ('NOTE like "100*"', {1, 2}),
    ('TARGET_NAME like "mars"', {1, 3}),
    ('TARGET_NAME like "PHO*"', {2}),
    ('FLAG like "a\\*b\\?"', {1}),
    ('FLAG like "a\\*x?"', set()),
    ('NOTE like "*\\"hi\\""', {3}),
    ('not (TARGET_NAME like "m*")', {2, 4}),
])
def test_query_selects(products, q, ids):
    assert products(q) == ids


def test_compiles_for_postgresql_too():
    # the production resolver is elsewhere; this only checks that nothing here is SQLite-specific
    class Columns:
        def text(self, field):
            return column(field, Text)

        def number(self, field):
            return column(field + "_number", Float)

        def present(self, field):
            return column(field, Text).is_not(None)

    condition = to_sql(parse('not (a ne 1 and b like "x_*") or c exists'), Columns())
    sql = str(condition.compile(dialect=postgresql.dialect()))
    assert "NOT coalesce(" in sql and "ESCAPE '!'" in sql
    assert str(condition.compile(dialect=sqlite.dialect()))
