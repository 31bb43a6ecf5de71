"""ADQL as sqlglot reads it: a small dialect of our own, and the one function that parses a query.

ADQL 2.1 is SQL-92 with a few additions (``TOP n``, ``OFFSET``, ``ILIKE``, ADQL's own function names). We let
sqlglot's generic tokenizer and parser do the work and narrow them down: ``TOP`` is a keyword and ``LIMIT`` is
not (so ``... LIMIT 5`` is a syntax error, as it is in ADQL), and only the aggregates, ``COALESCE`` and ``CAST``
are parsed as known functions; every other call stays an ``exp.Anonymous`` with the name as written, so the
translator (adql_functions.py) decides alone what a function means, instead of sqlglot guessing (sqlglot's
``LOG(x)`` would be base 10 on SQLite, ADQL's is natural).
"""

from __future__ import annotations

import re

from sqlglot import exp, parser, tokens
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType


class AdqlError(Exception):
    """What is wrong with a query, for the person who wrote it; ``line``/``column`` are 1-based when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}, column {column})" if line is not None and column is not None else ""
        super().__init__(message + where)
        self.message = message
        self.line = line
        self.column = column


class Adql(Dialect):
    # Which way NULLs sort is the one ordering choice ADQL leaves open. We sort them as larger than every
    # value (last in ascending order, first in descending order) on both databases: that is PostgreSQL's own
    # rule, so PostgreSQL gets no NULLS clause and keeps using its indexes for the common `TOP n ... ORDER BY`
    # queries; on SQLite (NULLs small) sqlglot writes the NULLS LAST/FIRST that gives the same result, and
    # SQLite's planner still reads such an ORDER BY from an index.
    NULL_ORDERING = "nulls_are_large"
    # Integer / integer truncates in ADQL as it does in both databases: sqlglot must not rewrite divisions.
    TYPED_DIVISION = True

    class Tokenizer(tokens.Tokenizer):
        KEYWORDS = {**tokens.Tokenizer.KEYWORDS, "TOP": TokenType.TOP}
        KEYWORDS.pop("LIMIT")
        HEX_STRINGS = [("0x", ""), ("0X", "")]  # ADQL 2.1 hexadecimal integers (the translator makes them numbers)

    class Parser(parser.Parser):
        FUNCTIONS = {name: parser.Parser.FUNCTIONS[name] for name in ("COUNT", "SUM", "AVG", "MIN", "MAX", "COALESCE")}
        FUNCTION_PARSERS = {"CAST": parser.Parser.FUNCTION_PARSERS["CAST"]}


ADQL = Adql()
_MISSING_QUOTE = re.compile(r"Missing (.) from \d+:(\d+)")
_CLASS_NAME = re.compile(r"<class '[\w.]*\.(\w+)'>")


def position(sql: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = sql.count("\n", 0, offset) + 1
    return line, offset - (sql.rfind("\n", 0, offset) + 1) + 1


def node_position(sql: str, node: exp.Expression) -> tuple[int | None, int | None]:
    """Where a parsed node (or its first identifier) starts in the query, when sqlglot kept it."""
    for candidate in (node, *node.find_all(exp.Identifier)):
        start = candidate.meta.get("start")
        if start is not None:
            return position(sql, start)
    return None, None


def error_at(sql: str, node: exp.Expression, message: str) -> AdqlError:
    return AdqlError(message, *node_position(sql, node))


def parse_query(sql: str) -> exp.Expression:
    """The one statement of ``sql`` (a trailing ';' is fine), or AdqlError with the position of the problem."""
    tokenizer = ADQL.tokenizer()
    try:
        found = tokenizer.tokenize(sql)
    except TokenError as error:
        raise _token_error(sql, error) from None
    statements = _split_statements(sql, found)
    if not statements:
        raise AdqlError("the query is empty")
    try:
        trees = ADQL.parser().parse(statements[0], sql)
    except ParseError as error:
        raise parse_error(error) from None
    tree = trees[0] if trees else None
    if tree is None:
        raise AdqlError("the query is empty")
    return tree


def _split_statements(sql: str, found: list[tokens.Token]) -> list[list[tokens.Token]]:
    statements: list[list[tokens.Token]] = [[]]
    for token in found:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        elif len(statements) > 1 and statements[-1] == [] and any(statements[:-1]):
            raise AdqlError("only one statement is allowed; remove what follows the ';'",
                            *position(sql, token.start))
        else:
            statements[-1].append(token)
    return [statement for statement in statements if statement]


def _token_error(sql: str, error: TokenError) -> AdqlError:
    missing = _MISSING_QUOTE.match(str(error.__cause__ or ""))
    if missing:
        quote, offset = missing.group(1), int(missing.group(2))
        what = "string" if quote == "'" else "delimited identifier"
        return AdqlError(f"unterminated {what}: the {quote} here has no closing {quote}",
                         *position(sql, offset))
    return AdqlError("the query cannot be read (an unterminated comment or an unexpected character?)")


def parse_error(error: ParseError) -> AdqlError:
    first = error.errors[0] if error.errors else {}
    line, column = first.get("line"), first.get("col")
    highlight = first.get("highlight") or ""
    if column is not None and highlight and "\n" not in highlight:
        column = max(1, column - len(highlight) + 1)  # sqlglot points at the token's last character
    description = _CLASS_NAME.sub(r"\1", first.get("description") or "syntax error")
    near = f" near '{highlight}'" if highlight else ""
    return AdqlError(f"syntax error{near}: {description}", line, column)
