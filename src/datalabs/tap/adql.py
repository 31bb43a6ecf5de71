"""ADQL 2.1 -> SQL for the catalogue's database (SQLite or PostgreSQL), through sqlglot and our ADQL dialect.

A query is parsed once (adql_dialect.py), then walked scope by scope: every table reference must name a
catalogue table, every column a declared column of a table in scope, every function one we translate
(adql_functions.py). Each table reference becomes a derived table ``(SELECT <column sql> AS "<name>", ...
FROM <table source>) AS "<alias>"`` holding only the columns the query uses, so the SQL can reach nothing the
catalogue does not describe. The derived tables are pasted in as text after sqlglot has written the SQL: the
catalogue's SQL is already in the database's dialect and must not be re-parsed on every query.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError

from datalabs.tap.adql_dialect import ADQL, AdqlError, error_at, parse_error, parse_query
from datalabs.tap.adql_functions import (
    STANDARD_FUNCTIONS,
    SUPPORTED_FUNCTIONS,
    UNSUPPORTED_FUNCTIONS,
    check_function,
    register_sqlite_functions,
    translate_cast,
    translate_function,
    translate_like,
)
from datalabs.tap.catalogue import TapCatalogue, TapColumn, TapTable

__all__ = ["AdqlError", "ResultColumn", "STANDARD_FUNCTIONS", "SUPPORTED_FUNCTIONS", "Translation",
           "UNSUPPORTED_FUNCTIONS", "parse_expression", "register_sqlite_functions", "translate"]


@dataclass(frozen=True)
class ResultColumn:
    name: str  # unique within the result (case-insensitively): the query's alias, the column's name, or "count"...
    column: TapColumn | None  # the declared column when the output is a plain column reference


@dataclass(frozen=True)
class Translation:
    sql: str  # for the catalogue's database, no parameters
    columns: list[ResultColumn]  # in output order
    top: int | None  # the query's TOP


_TARGETS = {"sqlite": Dialect.get_or_raise("sqlite"), "postgresql": Dialect.get_or_raise("postgres")}
_SET_OPERATIONS = (exp.Union, exp.Intersect, exp.Except)
_SELECT_CLAUSES = {"expressions", "distinct", "from_", "joins", "where", "group", "having", "order", "limit",
                   "offset"}
_SET_CLAUSES = {"this", "expression", "distinct", "order", "limit", "offset"}
_JOIN_PARTS = {"this", "on", "side", "kind", "using", "method"}
_CLAUSE_PARTS = {"where": {"this"}, "having": {"this"}, "group": {"expressions"}, "order": {"expressions"},
                 "limit": {"expression"}, "offset": {"expression"}}
# the expression nodes ADQL can produce (query nodes, columns and function calls are handled on their own)
_ALLOWED = {
    exp.Identifier, exp.Literal, exp.Null, exp.Boolean, exp.Paren, exp.Neg, exp.Not, exp.And, exp.Or,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.Between, exp.In, exp.Is,
    exp.Exists, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.DPipe, exp.Case, exp.If, exp.Cast, exp.DataType,
    exp.DataTypeParam, exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Coalesce, exp.Distinct,
    exp.Anonymous, exp.Star,
}
_AGGREGATES = (exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Coalesce, exp.Cast)
_SOURCE_PREFIX = "datalabs_source_"


def translate(adql: str, catalogue: TapCatalogue, *, maxrec: int | None) -> Translation:
    """The SQL for one ADQL query, what its columns are, and its TOP; AdqlError when the query is refused."""
    target = _TARGETS.get(catalogue.dialect)
    if target is None:
        raise ValueError(f"no ADQL translation for database dialect {catalogue.dialect!r}")
    tree = parse_query(adql)
    if tree.args.get("with_"):
        raise error_at(adql, tree, "WITH (common table expressions) is not part of ADQL 2.1")
    while isinstance(tree, exp.Subquery) and not tree.alias and not tree.args.get("limit"):
        tree = tree.this  # (SELECT ...): the parentheses change nothing
    if not isinstance(tree, (exp.Select, *_SET_OPERATIONS)):
        raise error_at(adql, tree, "only a single SELECT query can be run (a TAP service is read-only)")
    translator = _Translator(adql, catalogue)
    outputs = translator.query(tree, None)
    top = _limit_value(adql, tree) if isinstance(tree, exp.Select) else None
    rows = _row_limit(top, maxrec)
    if rows is not None:
        tree.set("limit", exp.Limit(expression=exp.Literal.number(rows)))
    sql = target.generate(tree, copy=False, comments=False, identify=True)
    return Translation(translator.paste_sources(sql), [ResultColumn(name, column) for name, column in outputs], top)


def parse_expression(adql: str, dialect: str | None = None) -> exp.Expression:
    """One ADQL value expression (e.g. a mapped column's definition), its functions, LIKE and CAST translated
    for ``dialect`` when given; its columns are left for the caller to resolve."""
    try:
        tree = ADQL.parse_into(exp.Condition, adql)[0]
    except ParseError as error:
        raise parse_error(error) from None
    except TokenError as error:
        raise AdqlError(f"the expression cannot be read: {error.__cause__ or error}") from None
    if tree is None:
        raise AdqlError("the expression is empty")
    if dialect is None:
        return tree
    translator = _Translator(adql, TapCatalogue(dialect))
    for node in reversed(list(tree.walk(bfs=False))):  # arguments before the call that takes them
        translated = translator.translate_node(node)
        if translated is not node:
            if node is tree:
                tree = translated
            else:
                node.replace(translated)
    return tree


def _row_limit(top: int | None, maxrec: int | None) -> int | None:
    """TOP, or MAXREC+1 rows when TOP asks for more (the extra row tells the caller the result overflowed)."""
    if maxrec is None or (top is not None and top <= maxrec):
        return top
    return 0 if maxrec == 0 else maxrec + 1


def _limit_value(adql: str, node: exp.Expression) -> int | None:
    limit = node.args.get("limit")
    if limit is None:
        return None
    return _non_negative_integer(adql, limit.expression, "TOP")


def _non_negative_integer(adql: str, node: exp.Expression, clause: str) -> int:
    if not (isinstance(node, exp.Literal) and not node.is_string and node.this.isdigit()):
        raise error_at(adql, node, f"{clause} must be followed by a whole number")
    return int(node.this)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _check_clauses(adql: str, node: exp.Expression, allowed: set[str]) -> None:
    for key, value in node.args.items():
        if value and key not in allowed:
            what = "WITH (common table expressions)" if key == "with_" else key.rstrip("_").upper()
            raise error_at(adql, node, f"{what} is not part of ADQL 2.1")


Column = tuple[str, TapColumn | None]  # a visible column: exact name, declared metadata (None: computed)


class _Source:
    """One FROM item: a catalogue table (replaced by a derived table) or a subquery with an alias."""

    def __init__(self, alias: str, user_alias: bool, table: TapTable | None, columns: list[Column]) -> None:
        self.alias = alias
        self.user_alias = user_alias
        self.table = table
        self.columns = columns
        self.used: dict[str, str] = {}  # name -> SQL expression of the derived table, in order of first use
        self._exact: dict[str, Column] | None = None
        self._folded: dict[str, Column] = {}

    def find(self, name: str) -> Column | None:
        if self._exact is None:
            self._exact = {column[0]: column for column in self.columns}
            for column in reversed(self.columns):
                self._folded[column[0].lower()] = column
        return self._exact.get(name) or self._folded.get(name.lower())

    def use(self, name: str, column: TapColumn | None) -> None:
        if self.table is not None and column is not None:
            self.used.setdefault(name, column.sql)

    @property
    def has_extra_attributes(self) -> bool:
        return bool(self.table and self.table.extra_attributes and self.table.extra_attribute_sql)


class _Scope:
    """The FROM clause of one SELECT: its sources, what `*` means, and the columns merged by USING."""

    def __init__(self, parent: _Scope | None) -> None:
        self.parent = parent
        self.sources: list[_Source] = []
        self.star: list[tuple[_Source | None, str, TapColumn | None]] = []  # None: a merged USING column
        self.merged: dict[str, tuple[str, TapColumn | None, set[int]]] = {}  # folded name -> name, column, sources


class _Translator:
    def __init__(self, adql: str, catalogue: TapCatalogue) -> None:
        self.adql = adql
        self.catalogue = catalogue
        self.dialect = catalogue.dialect
        self.tables: list[_Source] = []
        self.texts: list[str] = []  # SQL pasted in place of placeholder columns
        self.placeholder = f"{_SOURCE_PREFIX}{secrets.token_hex(6)}_"  # users cannot guess it into their query

    def error(self, node: exp.Expression, message: str) -> AdqlError:
        return error_at(self.adql, node, message)

    # --- queries -------------------------------------------------------------------------------------------

    def query(self, node: exp.Expression, parent: _Scope | None) -> list[Column]:
        if isinstance(node, exp.Select):
            return self.select(node, parent)
        if isinstance(node, _SET_OPERATIONS):
            return self.set_operation(node, parent)
        if isinstance(node, exp.Subquery) and not node.alias:
            return self.query(node.this, parent)
        raise self.error(node, "only SELECT queries are allowed here")

    def set_operation(self, node: exp.Expression, parent: _Scope | None) -> list[Column]:
        _check_clauses(self.adql, node, _SET_CLAUSES)
        if self.dialect == "sqlite" and not node.args.get("distinct") and not isinstance(node, exp.Union):
            raise self.error(node, f"{node.key.upper()} ALL is not supported by this service")
        left = self.query(node.this, parent)
        right = self.query(node.expression, parent)
        if len(left) != len(right):
            raise self.error(node, f"both sides of {node.key.upper()} must have the same number of columns "
                                   f"({len(left)} and {len(right)})")
        for clause in ("order", "limit", "offset"):
            if node.args.get(clause):
                _check_clauses(self.adql, node.args[clause], _CLAUSE_PARTS[clause])
        order = node.args.get("order")
        for ordered in order.expressions if order else ():
            target = ordered.this
            name = self.output_name(target, [name for name, _ in left])
            if name is not None:
                ordered.set("this", exp.Column(this=exp.Identifier(this=name, quoted=True)))
            elif not (isinstance(target, exp.Literal) and not target.is_string):
                raise self.error(target, f"ORDER BY of a {node.key.upper()} must name one of its result columns")
        if node.args.get("offset"):
            _non_negative_integer(self.adql, node.args["offset"].expression, "OFFSET")
        return left

    def select(self, node: exp.Select, parent: _Scope | None) -> list[Column]:
        _check_clauses(self.adql, node, _SELECT_CLAUSES)
        distinct = node.args.get("distinct")
        if distinct is not None and distinct.args.get("on"):
            raise self.error(node, "DISTINCT ON is not part of ADQL 2.1")
        scope = _Scope(parent)
        if node.args.get("from_"):
            first = self.add_source(scope, node.args["from_"].this)
            scope.star = [(first, name, column) for name, column in first.columns]
        for join in node.args.get("joins") or ():
            self.join(scope, join)
        outputs, aliases = self.projections(node, scope)
        if node.args.get("where"):
            node.args["where"].set("this", self.visit(node.args["where"].this, scope))
        for clause in ("where", "group", "having", "order", "limit", "offset"):
            if node.args.get(clause):
                _check_clauses(self.adql, node.args[clause], _CLAUSE_PARTS[clause])
        if node.args.get("group"):
            group = node.args["group"]
            group.set("expressions", [self.visit(item, scope, aliases) for item in group.expressions])
        if node.args.get("having"):
            node.args["having"].set("this", self.visit(node.args["having"].this, scope, aliases))
        if node.args.get("order"):
            self.order_by(node.args["order"], scope, outputs, aliases)
        _limit_value(self.adql, node)
        if node.args.get("offset"):
            _non_negative_integer(self.adql, node.args["offset"].expression, "OFFSET")
        return outputs

    def projections(self, node: exp.Select, scope: _Scope) -> tuple[list[Column], dict[str, exp.Expression]]:
        # an item is (name, expression, column); the columns of a `*` carry their SQL text instead of a node:
        # building and writing hundreds of sqlglot nodes for a wide table would cost milliseconds
        items: list[tuple[str, exp.Expression | str, TapColumn | None]] = []
        aliases: dict[str, exp.Expression] = {}
        for item in node.expressions:
            if isinstance(item, exp.Star):
                items.extend(self.expand(scope.star))
                continue
            if isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
                source = self.qualified_source(scope, item)
                items.extend(self.expand([(source, name, column) for name, column in source.columns]))
                continue
            alias = item.args["alias"].name if isinstance(item, exp.Alias) else None
            expression = item.this if isinstance(item, exp.Alias) else item
            hint = _name_hint(expression)
            expression = self.visit(expression, scope)
            column = expression.meta.get("tap_column") if isinstance(expression, exp.Column) else None
            if alias is not None:
                aliases.setdefault(alias.lower(), expression)
            items.append((alias or (expression.name if isinstance(expression, exp.Column) else hint),
                          expression, column))
        projections: list[exp.Expression] = []
        outputs: list[Column] = []
        taken: set[str] = set()
        texts: list[str] = []  # consecutive `*` columns, pasted as one placeholder
        for name, expression, column in items:
            unique, number = name, 2
            while unique.lower() in taken:
                unique, number = f"{name}_{number}", number + 1
            taken.add(unique.lower())
            outputs.append((unique, column))
            if isinstance(expression, str):
                texts.append(expression if name == unique else f"{expression} AS {_quote(unique)}")
                continue
            if texts:
                projections.append(self.pasted(", ".join(texts)))
                texts = []
            if isinstance(expression, exp.Column) and expression.name == unique:
                projections.append(expression)
            else:
                projections.append(exp.Alias(this=expression, alias=exp.Identifier(this=unique, quoted=True)))
        if texts:
            projections.append(self.pasted(", ".join(texts)))
        node.set("expressions", projections)
        return outputs, aliases

    def expand(self, star: list[tuple[_Source | None, str, TapColumn | None]]):
        for source, name, column in star:
            if source is None:
                yield name, _quote(name), column
            else:
                source.use(name, column)
                yield name, f"{_quote(source.alias)}.{_quote(name)}", column

    def pasted(self, sql: str) -> exp.Expression:
        """A placeholder column that paste_sources replaces by ``sql``."""
        self.texts.append(sql)
        return exp.Column(this=exp.Identifier(this=f"{self.placeholder}t{len(self.texts) - 1}", quoted=True))

    def order_by(self, order: exp.Order, scope: _Scope, outputs: list[Column],
                 aliases: dict[str, exp.Expression]) -> None:
        names = [name for name, _ in outputs]
        for ordered in order.expressions:
            _check_clauses(self.adql, ordered, {"this", "desc", "nulls_first"})
            name = self.output_name(ordered.this, names)
            if name is not None:  # a result column's name wins over a column of the tables, as in SQL
                ordered.set("this", exp.Column(this=exp.Identifier(this=name, quoted=True)))
            elif not (isinstance(ordered.this, exp.Literal) and not ordered.this.is_string):
                ordered.set("this", self.visit(ordered.this, scope, aliases))

    @staticmethod
    def output_name(target: exp.Expression, names: list[str]) -> str | None:
        if not (isinstance(target, exp.Column) and not target.table and isinstance(target.this, exp.Identifier)):
            return None
        wanted = target.name
        if wanted in names:
            return wanted
        folded = [name for name in names if name.lower() == wanted.lower()]
        return folded[0] if folded else None

    # --- FROM ----------------------------------------------------------------------------------------------

    def add_source(self, scope: _Scope, node: exp.Expression) -> _Source:
        if isinstance(node, exp.Table):
            source = self.catalogue_source(node)
        elif isinstance(node, exp.Subquery):
            if not node.alias:
                raise self.error(node, "a subquery in FROM needs an alias: (SELECT ...) AS name")
            if node.args["alias"].columns:
                raise self.error(node, "column names after a subquery's alias are not part of ADQL 2.1")
            source = _Source(node.alias, True, None, self.query(node.this, scope.parent))
            node.set("alias", exp.TableAlias(this=exp.Identifier(this=source.alias, quoted=True)))
        else:
            raise self.error(node, "only tables and subqueries can follow FROM or JOIN")
        if any(other.alias.lower() == source.alias.lower() for other in scope.sources):
            raise self.error(node, f"{source.alias} appears twice in FROM: give each occurrence its own alias")
        scope.sources.append(source)
        return source

    def catalogue_source(self, node: exp.Table) -> _Source:
        if set(key for key, value in node.args.items() if value) - {"this", "db", "catalog", "alias"} or \
                not isinstance(node.this, exp.Identifier):
            raise self.error(node, "only tables and subqueries can follow FROM or JOIN")
        written = ".".join(part.name for part in node.parts)
        table = None if node.args.get("catalog") else self.catalogue.table(written)
        if table is None:
            if sum(candidate.name.lower() == written.lower() for candidate in self.catalogue.tables) > 1:
                raise self.error(node, f"table name {written} is in several schemas: qualify it (schema.{written})")
            raise self.error(node, f"unknown table {written} (see TAP_SCHEMA.tables)")
        alias = node.args.get("alias")
        if alias is not None and alias.columns:
            raise self.error(node, "column names after a table's alias are not part of ADQL 2.1")
        source = _Source(alias.name if alias else table.name, alias is not None, table,
                         [(column.name, column) for column in table.columns])
        node.set("this", exp.Identifier(this=f"{self.placeholder}s{len(self.tables)}", quoted=True))
        node.set("db", None)
        node.set("alias", exp.TableAlias(this=exp.Identifier(this=source.alias, quoted=True)))
        self.tables.append(source)
        return source

    def join(self, scope: _Scope, join: exp.Join) -> None:
        _check_clauses(self.adql, join, _JOIN_PARTS)
        side, method = (join.args.get(key) or "" for key in ("side", "method"))
        if side.upper() in ("RIGHT", "FULL") and self.dialect == "sqlite" and sqlite3.sqlite_version_info < (3, 39):
            raise self.error(join, f"{side.upper()} JOIN needs SQLite 3.39 or later on this service")
        left = list(scope.star)
        source = self.add_source(scope, join.this)
        using = [identifier.name for identifier in join.args.get("using") or ()]
        if method.upper() == "NATURAL":
            right_names = {name.lower() for name, _ in source.columns}
            using = [name for _, name, _ in left if name.lower() in right_names]
            join.set("method", None)
            if not using:  # nothing in common: a natural join is a cross join
                if side:
                    join.set("on", exp.true())
                else:
                    join.set("kind", "CROSS")
        elif method:
            raise self.error(join, f"{method.upper()} JOIN is not part of ADQL 2.1")
        if using:
            self.merge(scope, join, left, source, using)
        else:
            scope.star = left + [(source, name, column) for name, column in source.columns]
        if join.args.get("on"):
            join.set("on", self.visit(join.args["on"], scope))

    def merge(self, scope: _Scope, join: exp.Join, left, source: _Source, using: list[str]) -> None:
        """JOIN ... USING: each named column appears once, first, and unqualified refers to it."""
        merged_entries, folded = [], {name.lower() for name in using}
        for wanted in using:
            matches = [entry for entry in left if entry[1].lower() == wanted.lower()]
            right = source.find(wanted)
            if len(matches) != 1 or right is None:
                side = "right" if right is None else "left"
                problem = "is ambiguous on" if len(matches) > 1 else "is not a column of"
                raise self.error(join, f"column {wanted} of USING {problem} the {side} side of the join")
            left_source, name, column = matches[0]
            if name != right[0]:
                raise self.error(join, f"USING column {wanted} is spelled {name} on the left and {right[0]} on the "
                                       "right: join with ON instead")
            if left_source is None:
                sources = scope.merged[name.lower()][2] | {id(source)}
            else:
                left_source.use(name, column)
                sources = {id(left_source), id(source)}
            source.use(name, right[1])
            scope.merged[name.lower()] = (name, column, sources)
            merged_entries.append((None, name, column))
        join.set("using", [exp.Identifier(this=name, quoted=True) for _, name, _ in merged_entries])
        scope.star = (merged_entries + [entry for entry in left if entry[1].lower() not in folded]
                      + [(source, name, column) for name, column in source.columns if name.lower() not in folded])

    # --- expressions ---------------------------------------------------------------------------------------

    def visit(self, node: exp.Expression, scope: _Scope,
              aliases: dict[str, exp.Expression] | None = None) -> exp.Expression:
        """The node with its columns resolved and its functions translated (or AdqlError)."""
        if isinstance(node, exp.Column):
            if isinstance(node.this, exp.Star):
                raise self.error(node, "table.* is only allowed in the select list")
            return self.column(node, scope, aliases)
        if isinstance(node, (exp.Select, *_SET_OPERATIONS)):
            self.query(node, scope)
            return node
        if isinstance(node, exp.Subquery):
            if node.alias:
                raise self.error(node, "only a subquery in FROM can have an alias")
            self.query(node.this, scope)
            return node
        if isinstance(node, exp.HexString):
            if not re.fullmatch(r"[0-9a-fA-F]+", node.this):
                raise self.error(node, f"0x{node.this} is not a hexadecimal number")
            return exp.Literal.number(int(node.this, 16))
        if isinstance(node, exp.Literal) and node.is_string and "\\" in node.this and self.dialect == "postgresql":
            # an escape string means the same whatever standard_conforming_strings says: a backslash can never
            # end a string early on a server where it is off
            escaped = node.this.replace("\\", "\\\\").replace("'", "''")
            return exp.Var(this=f"E'{escaped}'")
        if type(node) not in _ALLOWED:
            if isinstance(node, exp.Func):
                raise self.error(node, f"unknown function {node.sql_name()} (see the service's capabilities)")
            raise self.error(node, f"{node.key.upper()} is not part of ADQL 2.1")
        if isinstance(node, exp.Star) and not isinstance(node.parent, exp.Count):
            raise self.error(node, "* is only allowed in SELECT * and COUNT(*)")
        if isinstance(node, exp.Exists) and isinstance(node.this, exp.Select) and \
                [type(item) for item in node.this.expressions] == [exp.Star]:
            node.this.set("expressions", [exp.Literal.number(1)])  # EXISTS needs no columns
        if isinstance(node, exp.Anonymous):  # before its arguments: CONTAINS(POINT(...), ...) names CONTAINS
            check_function(node, self.adql, error_at)
        if isinstance(node, exp.In) and (node.args.get("unnest") or node.args.get("field")):
            raise self.error(node, "IN takes a list of values or a subquery")
        for key, value in list(node.args.items()):
            if isinstance(value, exp.Expression):
                replaced = self.visit(value, scope, aliases)
                if replaced is not value:
                    node.set(key, replaced)
            elif isinstance(value, list) and any(isinstance(item, exp.Expression) for item in value):
                node.set(key, [self.visit(item, scope, aliases) if isinstance(item, exp.Expression) else item
                               for item in value])
        return self.translate_node(node)

    def translate_node(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous):
            return translate_function(node, self.dialect, self.adql, error_at)
        if isinstance(node, exp.Cast):
            return translate_cast(node, self.dialect, self.adql, error_at)
        if isinstance(node, exp.Like | exp.ILike):
            return translate_like(node, self.dialect)
        return node

    def column(self, node: exp.Column, scope: _Scope, aliases: dict[str, exp.Expression] | None) -> exp.Expression:
        name, delimited = node.name, node.this.quoted
        if node.args.get("table"):
            source = self.qualified_source(scope, node)
            found = source.find(name)
            if found is None and delimited and source.has_extra_attributes:
                found = self.extra_attribute(source, name, node)
            if found is None:
                raise self.error(node, f"unknown column {name} in {source.alias}")
            return self.reference(source, *found, use=True)
        level: _Scope | None = scope
        while level is not None:
            matches = [(source, found) for source in level.sources if (found := source.find(name))]
            if len(matches) == 1:
                return self.reference(matches[0][0], *matches[0][1], use=True)
            if matches:
                merged = level.merged.get(name.lower())
                if merged and {id(source) for source, _ in matches} <= merged[2]:
                    reference = exp.Column(this=exp.Identifier(this=merged[0], quoted=True))
                    reference.meta["tap_column"] = merged[1]
                    return reference
                where = ", ".join(source.alias for source, _ in matches)
                raise self.error(node, f"ambiguous column {name}: it is in {where}; qualify it")
            extended = [source for source in level.sources if source.has_extra_attributes] if delimited else []
            if len(extended) == 1:
                return self.reference(extended[0], *self.extra_attribute(extended[0], name, node), use=False)
            if extended:
                raise self.error(node, f"ambiguous column {name}: qualify it with one of "
                                       + ", ".join(source.alias for source in extended))
            level = level.parent
        if aliases and name.lower() in aliases:  # GROUP BY, HAVING, ORDER BY may name a result column
            return aliases[name.lower()].copy()
        raise self.error(node, f"unknown column {name}")

    def reference(self, source: _Source, name: str, column: TapColumn | None, use: bool = True) -> exp.Column:
        if use:
            source.use(name, column)
        reference = exp.Column(this=exp.Identifier(this=name, quoted=True),
                               table=exp.Identifier(this=source.alias, quoted=True))
        reference.meta["tap_column"] = column
        return reference

    def extra_attribute(self, source: _Source, name: str, node: exp.Expression) -> Column:
        """An undeclared, delimited name read from the table's JSON of extra attributes."""
        if any(char in name for char in '"\\') or any(ord(char) < 32 for char in name):
            raise self.error(node, f"unknown column {name}")
        table = source.table
        key = name.replace("'", "''")
        source.used.setdefault(name, table.extra_attribute_sql.format(json=table.extra_attributes, key=key))
        return name, None

    def qualified_source(self, scope: _Scope, node: exp.Column) -> _Source:
        parts = [part.name for part in node.parts[:-1]]
        written = ".".join(parts)
        level: _Scope | None = scope
        while level is not None and len(parts) <= 2:
            if len(parts) == 1:
                found = [source for source in level.sources if source.alias.lower() == parts[0].lower()]
            else:
                found = [source for source in level.sources if source.table is not None and not source.user_alias
                         and source.table.qualified_name.lower() == written.lower()]
            if found:
                return found[0]  # aliases are unique within a FROM clause
            level = level.parent
        raise self.error(node, f"unknown table or alias {written} in {written}.{node.name}")

    def paste_sources(self, sql: str) -> str:
        """Puts each catalogue table's derived table, and each pasted text, where sqlglot wrote its placeholder."""

        def pasted(match: re.Match[str]) -> str:
            if match.group(1) == "t":
                return self.texts[int(match.group(2))]
            source = self.tables[int(match.group(2))]
            columns = ", ".join(f"{expression} AS {_quote(name)}" for name, expression in source.used.items())
            return f"(SELECT {columns or '1 AS datalabs_row'} FROM {_aliased(source.table.source)})"

        return re.sub(rf'"{self.placeholder}([st])(\d+)"', pasted, sql)


def _aliased(source: str) -> str:
    """A table source ready for FROM: PostgreSQL (before 16) wants an alias after a parenthesised SELECT."""
    stripped = source.strip()
    return f"{stripped} AS datalabs_rows" if stripped.startswith("(") and stripped.endswith(")") else stripped


def _name_hint(node: exp.Expression) -> str:
    """The result column name of an expression without alias: the function's name, or "expr"."""
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, _AGGREGATES):
        return node.key
    return "expr"
