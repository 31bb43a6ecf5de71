"""The ``q=`` query language of ``/api/v1/archive/products``, parsed and compiled to SQLAlchemy.

The language is the one of the NASA PDS Search API (registry API, ANTLR grammar ``Search.g4``), so that
queries written for the PDS registry work here unchanged::

    (pds:Time_Coordinates.pds:start_date_time ge "2020-01-01" and TARGET_NAME eq "MARS")
    not (ORBIT_NUMBER lt 100)
    (PRODUCT_ID like "ROS_*" or exists ref_lid_target)

Grammar (keywords are case-insensitive)::

    query      := expression END
    expression := term ( "and" term )*  |  term ( "or" term )*
    term       := "(" expression ")" | "not" term | "exists" FIELD | FIELD "exists"
                | FIELD ("eq"|"ne"|"gt"|"ge"|"lt"|"le") (STRING | NUMBER) | FIELD "like" STRING
    FIELD      := any run of characters but whitespace, parentheses and quotes that is not a keyword
    STRING     := '"' ... '"', where \\" is a double quote and \\\\ a backslash (other backslashes stay)
    NUMBER     := -?digits(.digits)?

Like the registry, ``and`` and ``or`` cannot be mixed without parentheses: ``a and b or c`` is refused
rather than silently given a precedence the user may not expect. Where the registry is stricter for no
benefit, this parser accepts more: a bare ``a and b`` at the top level (the registry wants
``(a and b)``), ``not`` before any term (the registry: only before a parenthesis), ``x exists`` as well
as the registry's ``exists x``, and ``\\"`` inside strings. Values are never bare words: ``x eq MARS``
is an error, as in the registry. Keywords are reserved: a field cannot be called ``eq`` or ``and``.

Meaning (``to_sql``), for a product and a field F:

- numeric literal: ``eq ne gt ge lt le`` compare F as a number; a value that is not numeric never matches.
- string literal: the same operators compare F as text (ISO 8601 dates compare correctly as text).
- ``like``: ``*`` is any run of characters, ``?`` one character, a backslash makes the next character
  literal (``"50\\*"``); SQL's own ``%`` and ``_`` are plain characters. Case-insensitive on every
  database (SQLite's LIKE already is for ASCII, PostgreSQL's is not: ``lower()`` on both sides makes
  them agree).
- ``exists``: the product has F (whatever its value).
- ``ne``: the product has F and F is not ``eq`` the value. Products lacking F do not match.
- ``not``: exactly the products the operand does not match, including those lacking its fields
  (the registry's OpenSearch ``must_not``). SQL would let a NULL (a missing field) swallow the row, since
  ``NOT NULL`` is NULL, so the operand is wrapped in ``coalesce(..., false)`` first. Only ``not`` (and
  ``ne``) need this: in a negation-free filter NULL already behaves as false, and the plain comparison
  stays usable by an index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NoReturn, Protocol

from sqlalchemy import ColumnElement, and_, false, func, not_, or_

from datalabs.errors import InvalidInput

MAX_QUERY_LENGTH = 10_000
MAX_NESTING = 50  # parentheses and "not"s inside each other; keeps the recursive parser off the stack limit

COMPARISON_OPERATORS = ("eq", "ne", "gt", "ge", "lt", "le")
OPERATORS = (*COMPARISON_OPERATORS, "like", "exists")
# "all"/"any" are the registry's array quantifiers (all(FIELD) eq ...): reserved so that they fail clearly
KEYWORDS = frozenset({*OPERATORS, "and", "or", "not", "all", "any"})

_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]*)?")  # the registry's NUMBER: no exponent, no leading "+" or "."
_WORD_END = re.compile(r"[\s()\"']")
_LIKE_ESCAPE = "!"  # not "\\": PostgreSQL before a connection is made would double it in ESCAPE '...'


class QueryError(InvalidInput):
    """A ``q`` the user must correct. ``position`` is the 0-based offset in ``q`` where the problem is."""

    code = "invalid_query"

    def __init__(self, message: str, position: int, query: str = "") -> None:
        super().__init__(message, field="q")
        self.message = message
        self.position = position
        self.query = query

    def __str__(self) -> str:
        return f"{self.message} at position {self.position}: {self.context}"

    @property
    def context(self) -> str:
        """Up to 25 characters either side of the position, the position marked with ``>>>``."""
        start, end = max(0, self.position - 25), min(len(self.query), self.position + 25)
        before = self.query[start:self.position].replace("\n", " ")
        after = self.query[self.position:end].replace("\n", " ")
        return ("..." if start else "") + before + ">>>" + after + ("..." if end < len(self.query) else "")


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str  # one of OPERATORS
    value: str | int | float | None  # None for "exists"


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    operands: tuple[Node, ...]  # two or more: "a and b and c" is one BoolOp


Node = Comparison | Not | BoolOp


@dataclass(frozen=True)
class _Token:
    kind: str  # "(" | ")" | "string" | "word" | "end"
    text: str  # the value of a string, the characters of anything else
    position: int

    @property
    def keyword(self) -> str | None:
        return self.text.lower() if self.kind == "word" and self.text.lower() in KEYWORDS else None

    def describe(self) -> str:
        if self.kind == "end":
            return "the end of the query"
        if self.kind == "string":
            return "a string"
        return repr(self.text)


def _tokenize(q: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(q):
        char = q[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(_Token(char, char, i))
            i += 1
        elif char == '"':
            value, i = _read_string(q, i)
            tokens.append(value)
        elif char == "'":
            raise QueryError("strings are written in double quotes, not single quotes", i, q)
        else:
            end = _WORD_END.search(q, i)
            stop = end.start() if end else len(q)
            tokens.append(_Token("word", q[i:stop], i))
            i = stop
    tokens.append(_Token("end", "", len(q)))
    return tokens


def _read_string(q: str, start: int) -> tuple[_Token, int]:
    chars: list[str] = []
    i = start + 1
    while i < len(q):
        char = q[i]
        if char == '"':
            return _Token("string", "".join(chars), start), i + 1
        if char == "\\" and i + 1 < len(q) and q[i + 1] in '"\\':
            chars.append(q[i + 1])
            i += 2
            continue
        # any other backslash is kept, so that like's "\*" reaches the pattern and registry strings
        # (which have no escapes at all) mean the same here
        chars.append(char)
        i += 1
    raise QueryError("unterminated string: no closing double quote", start, q)


class _Parser:
    def __init__(self, q: str) -> None:
        self.q = q
        self.tokens = _tokenize(q)
        self.index = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def fail(self, message: str, token: _Token) -> NoReturn:
        raise QueryError(message, token.position, self.q)

    def query(self) -> Node:
        if self.peek().kind == "end":
            raise QueryError("empty query", 0, self.q)
        node = self.expression(0)
        token = self.peek()
        if token.kind == ")":
            self.fail("unexpected ')' with no matching '('", token)
        if token.kind != "end":
            self.fail(f"expected 'and', 'or' or the end of the query, found {token.describe()}", token)
        return node

    def expression(self, depth: int) -> Node:
        operands = [self.term(depth)]
        op: str | None = None
        while self.peek().keyword in ("and", "or"):
            token = self.advance()
            keyword = token.text.lower()
            if op is not None and keyword != op:
                self.fail(f"'and' and 'or' cannot be mixed without parentheses; group them, "
                          f"e.g. (a {op} b) {keyword} c", token)
            op = keyword
            operands.append(self.term(depth))
        return BoolOp(op, tuple(operands)) if op else operands[0]

    def term(self, depth: int) -> Node:
        token = self.peek()
        if token.kind == "(" or token.keyword == "not":
            if depth >= MAX_NESTING:
                self.fail(f"the query is nested too deeply (more than {MAX_NESTING} levels)", token)
            self.advance()
            if token.kind == "(":
                return self.group(token, depth + 1)
            return Not(self.term(depth + 1))
        if token.keyword == "exists":
            self.advance()
            return Comparison(self.field(), "exists", None)
        return self.comparison()

    def group(self, opening: _Token, depth: int) -> Node:
        node = self.expression(depth)
        token = self.peek()
        if token.kind != ")":
            if token.kind == "end":
                self.fail("unbalanced parentheses: this '(' is never closed", opening)
            self.fail(f"expected 'and', 'or' or ')', found {token.describe()}", token)
        self.advance()
        return node

    def field(self) -> str:
        token = self.peek()
        if token.keyword in ("all", "any") and self.tokens[self.index + 1].kind == "(":
            self.fail(f"the array quantifier {token.text}(...) is not supported: compare the field itself",
                      token)
        if token.kind == "word" and token.keyword is None and not _NUMBER.fullmatch(token.text):
            self.advance()
            return token.text
        if token.kind == "end":
            self.fail("expected a comparison such as FIELD eq \"value\", found the end of the query", token)
        if token.keyword:
            self.fail(f"expected a field name, found the keyword {token.text!r}", token)
        self.fail(f"expected a field name, found {token.describe()}", token)

    def comparison(self) -> Comparison:
        field = self.field()
        token = self.advance()
        op = token.keyword
        if token.kind == "end":
            self.fail(f"missing operator after {field!r}: expected one of {', '.join(OPERATORS)}", token)
        if op not in OPERATORS:
            self.fail(f"unknown operator {token.describe()}: expected one of {', '.join(OPERATORS)}", token)
        if op == "exists":
            return Comparison(field, op, None)
        value = self.advance()
        if value.kind == "string":
            return Comparison(field, op, value.text)
        if op == "like":
            self.fail(f"'like' needs a pattern in double quotes, found {value.describe()}", value)
        if value.kind == "word" and _NUMBER.fullmatch(value.text):
            return Comparison(field, op, self.number(value))
        if value.kind == "end":
            self.fail(f"missing value after {token.text!r}", value)
        self.fail(f"expected a value in double quotes or a number after {token.text!r}, "
                  f"found {value.describe()}", value)

    def number(self, token: _Token) -> int | float:
        if "." not in token.text:
            whole = int(token.text)
            if -(2**63) <= whole < 2**63:
                return whole
            # databases bind 64-bit integers at most; a float compares with what is stored just as well
        value = float(token.text)
        if value in (float("inf"), float("-inf")):
            self.fail("number out of range", token)
        return value


def parse(q: str) -> Node:
    """The tree of ``q``; a QueryError tells the user what is wrong, and where."""
    if len(q) > MAX_QUERY_LENGTH:
        raise QueryError(f"the query is longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH, q)
    return _Parser(q).query()


class FieldResolver(Protocol):
    """How a label attribute is read from a product row; the SQL differs between SQLite and PostgreSQL."""

    def text(self, field: str) -> ColumnElement:
        """The field as text (NULL when the product lacks it)."""

    def number(self, field: str) -> ColumnElement:
        """The field as a number (NULL when the product lacks it or its value is not numeric)."""

    def present(self, field: str) -> ColumnElement:
        """True when the product has the field, never NULL."""


def to_sql(node: Node, fields: FieldResolver) -> ColumnElement:
    """A boolean SQL expression selecting the products that match ``node`` (meaning: module docstring)."""
    if isinstance(node, Comparison):
        return _comparison(node, fields)
    if isinstance(node, Not):
        return not_(_null_is_false(to_sql(node.operand, fields)))
    combine = and_ if node.op == "and" else or_
    return combine(*(to_sql(operand, fields) for operand in node.operands))


def _null_is_false(condition: ColumnElement) -> ColumnElement:
    return func.coalesce(condition, false())


def _comparison(node: Comparison, fields: FieldResolver) -> ColumnElement:
    if node.op == "exists":
        return fields.present(node.field)
    if node.op == "like":
        pattern = like_pattern(str(node.value))
        return func.lower(fields.text(node.field)).like(func.lower(pattern), escape=_LIKE_ESCAPE)
    if node.op == "ne":
        equal = _comparison(Comparison(node.field, "eq", node.value), fields)
        return and_(fields.present(node.field), not_(_null_is_false(equal)))
    numeric = isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    column = fields.number(node.field) if numeric else fields.text(node.field)
    value = node.value
    if node.op == "eq":
        return column == value
    if node.op == "gt":
        return column > value
    if node.op == "ge":
        return column >= value
    if node.op == "lt":
        return column < value
    if node.op == "le":
        return column <= value
    raise ValueError(f"unknown operator {node.op!r}")  # the parser never makes one


def like_pattern(wildcards: str) -> str:
    """A registry-style pattern (``*``, ``?``, backslash for a literal) as a SQL LIKE pattern escaped by ``!``."""
    out: list[str] = []
    chars = iter(wildcards)
    for char in chars:
        if char == "\\":
            char = next(chars, "\\")  # a trailing backslash is itself
            out.append(_literal(char))
        elif char == "*":
            out.append("%")
        elif char == "?":
            out.append("_")
        else:
            out.append(_literal(char))
    return "".join(out)


def _literal(char: str) -> str:
    return _LIKE_ESCAPE + char if char in ("%", "_", _LIKE_ESCAPE) else char
