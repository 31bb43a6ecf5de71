"""What ADQL's functions, LIKE and CAST become in each database, and what SQLite needs registered for them.

Choices (the same answer on both databases unless said otherwise):
- LIKE is case-sensitive, as ADQL says, and has no escape character. PostgreSQL: ``LIKE ... ESCAPE ''`` (its
  default escape is a backslash). SQLite's LIKE ignores ASCII case unless a connection-wide pragma says
  otherwise, so a literal pattern becomes the equivalent GLOB (case-sensitive, native, can use an index) and
  any other pattern calls ``datalabs_like``, registered by ``register_sqlite_functions``.
- ILIKE: PostgreSQL's ILIKE; on SQLite ``LOWER(a) LIKE LOWER(b)`` (case folding of ASCII letters only there).
- ROUND rounds half away from zero, TRUNCATE towards zero, both to a number of decimals that may be negative
  (tens, hundreds), and return floating point: PostgreSQL computes them in NUMERIC (its only type with a
  digits argument) and converts back; SQLite uses its own round()/trunc() or, where those fall short,
  ``datalabs_round``/``datalabs_truncate``.
- RAND's optional argument has no meaning in ADQL 2.1 and is ignored.
- MOD of two integers is the integer remainder; otherwise the floating-point one (PostgreSQL's mod() has no
  floating-point version, so it goes through NUMERIC too).
- LOG is the natural logarithm (SQLite's log() is base 10: we emit LN).
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Callable
from functools import lru_cache

from sqlglot import exp

from datalabs.tap.adql_dialect import AdqlError

GEOMETRY_FUNCTIONS = ("AREA", "BOX", "CENTROID", "CIRCLE", "CONTAINS", "COORD1", "COORD2", "COORDSYS",
                      "DISTANCE", "INTERSECTS", "POINT", "POLYGON", "REGION")
UNSUPPORTED_FUNCTIONS = (*GEOMETRY_FUNCTIONS, "IN_UNIT")

_SAME_NAME = ("ABS", "ACOS", "ASIN", "ATAN", "ATAN2", "CEILING", "COS", "DEGREES", "EXP", "FLOOR", "LOG10",
              "LOWER", "PI", "POWER", "RADIANS", "SIN", "SQRT", "TAN", "UPPER")
_ARITY = {"ATAN2": (2, 2), "POWER": (2, 2), "MOD": (2, 2), "PI": (0, 0), "RAND": (0, 1), "ROUND": (1, 2),
          "TRUNCATE": (1, 2), "LOG": (1, 1), "COT": (1, 1)}
SCALAR_FUNCTIONS = tuple(sorted({*_SAME_NAME, *_ARITY}))
AGGREGATE_FUNCTIONS = ("AVG", "COUNT", "MAX", "MIN", "SUM")
# every function a query may call (ADQL's mandatory ones need no mention in the capabilities)
STANDARD_FUNCTIONS = tuple(sorted({*SCALAR_FUNCTIONS, *AGGREGATE_FUNCTIONS, "COALESCE"}))
# the optional ADQL 2.1 features we implement, as the capabilities document declares them (TAPRegExt
# languageFeatures type -> forms); no geometry and no user-defined functions
_FEATURE = "ivo://ivoa.net/std/TAPRegExt#features-adql-"
SUPPORTED_FUNCTIONS = {
    _FEATURE + "string": ("LOWER", "UPPER", "ILIKE"),
    _FEATURE + "sets": ("UNION", "EXCEPT", "INTERSECT"),
    _FEATURE + "type": ("CAST",),
    _FEATURE + "conditional": ("COALESCE",),
    _FEATURE + "offset": ("OFFSET",),
}

_INTEGER_DATATYPES = {"short", "int", "long", "unsignedByte"}
_CAST_TYPES = {
    exp.DataType.Type.SMALLINT: "SMALLINT", exp.DataType.Type.INT: "INTEGER", exp.DataType.Type.BIGINT: "BIGINT",
    exp.DataType.Type.FLOAT: "REAL", exp.DataType.Type.DOUBLE: "DOUBLE PRECISION",
    exp.DataType.Type.CHAR: "CHAR", exp.DataType.Type.VARCHAR: "VARCHAR",
    exp.DataType.Type.TIMESTAMP: "TIMESTAMP",
}


def call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def is_integer(node: exp.Expression) -> bool:
    """Whether an expression is known to be an integer (literal, integer column, arithmetic of those)."""
    if isinstance(node, exp.Paren | exp.Neg):
        return is_integer(node.this)
    if isinstance(node, exp.Literal):
        return not node.is_string and node.this.lstrip("-").isdigit()
    if isinstance(node, exp.Column):
        column = node.meta.get("tap_column")
        return column is not None and column.datatype in _INTEGER_DATATYPES
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div | exp.Mod):
        return is_integer(node.this) and is_integer(node.expression)
    return False


def _as_numeric(node: exp.Expression) -> exp.Expression:
    return exp.Cast(this=node, to=exp.DataType.build("NUMERIC"))


def _as_double(node: exp.Expression) -> exp.Expression:
    return exp.Cast(this=node, to=exp.DataType.build("DOUBLE PRECISION"))


def _mod(dialect: str, a: exp.Expression, b: exp.Expression) -> exp.Expression:
    if is_integer(a) and is_integer(b):
        return exp.Paren(this=exp.Mod(this=a, expression=b))
    if dialect == "postgresql":
        return _as_double(call("MOD", _as_numeric(a), _as_numeric(b)))
    return call("MOD", a, b)


def _rounding(dialect: str, name: str, args: list[exp.Expression]) -> exp.Expression:
    if dialect == "postgresql":
        digits = [arg if is_integer(arg) else exp.Cast(this=arg, to=exp.DataType.build("INT")) for arg in args[1:]]
        numeric = [_as_numeric(args[0]), *digits]
        return _as_double(call("ROUND" if name == "ROUND" else "TRUNC", *numeric))
    if len(args) == 1:
        return call("ROUND" if name == "ROUND" else "TRUNC", *args)
    if name == "ROUND" and isinstance(args[1], exp.Literal) and args[1].this.isdigit():
        return call("ROUND", *args)
    # SQLite's round() takes a negative number of digits as 0; ADQL rounds to tens, hundreds...
    return call("datalabs_round" if name == "ROUND" else "datalabs_truncate", *args)


def check_function(node: exp.Anonymous, sql: str,
                   error_at: Callable[[str, exp.Expression, str], AdqlError]) -> None:
    """AdqlError unless the call names a function we translate, with as many arguments as it takes."""
    name = node.name.upper()
    if name in GEOMETRY_FUNCTIONS:
        raise error_at(sql, node, f"geometric functions are not supported by this service ({name})")
    if name not in SCALAR_FUNCTIONS:
        if name in UNSUPPORTED_FUNCTIONS:
            raise error_at(sql, node, f"{name} is not supported by this service")
        raise error_at(sql, node, f"unknown function {node.name} (see the service's capabilities)")
    low, high = _ARITY.get(name, (1, 1))
    count = len(node.expressions)
    if not low <= count <= high:
        wanted = str(low) if low == high else f"{low} or {high}"
        raise error_at(sql, node, f"{name} takes {wanted} argument{'s' if high != 1 else ''}, not {count}")


def translate_function(node: exp.Anonymous, dialect: str, sql: str,
                       error_at: Callable[[str, exp.Expression, str], AdqlError]) -> exp.Expression:
    """The target-database expression for one ADQL function call whose arguments are already translated."""
    check_function(node, sql, error_at)
    name = node.name.upper()
    args = list(node.expressions)
    if name in _SAME_NAME:
        return call(name, *args)
    if name == "LOG":
        return call("LN", *args)
    if name == "COT":
        return call("COT", *args) if dialect == "postgresql" else exp.Paren(
            this=exp.Div(this=exp.Literal.number("1.0"), expression=call("TAN", *args), typed=True))
    if name == "MOD":
        return _mod(dialect, *args)
    if name == "RAND":  # ADQL 2.1 gives RAND's argument (once a seed) no meaning: it is ignored
        # SQLite's random() is a 64-bit integer: scaled to [0, 1) like PostgreSQL's random()
        return call("RANDOM") if dialect == "postgresql" else exp.Paren(this=exp.Add(
            this=exp.Div(this=call("RANDOM"), expression=exp.Literal.number("18446744073709551616.0"), typed=True),
            expression=exp.Literal.number("0.5")))
    return _rounding(dialect, name, args)


def translate_cast(node: exp.Cast, dialect: str, sql: str,
                   error_at: Callable[[str, exp.Expression, str], AdqlError]) -> exp.Expression:
    target = node.args["to"]
    type_name = _CAST_TYPES.get(target.this)
    if type_name is None:
        raise error_at(sql, node, f"CAST to {target.sql()} is not supported; use one of INTEGER, SMALLINT, "
                                  "BIGINT, REAL, DOUBLE PRECISION, CHAR(n), VARCHAR(n), TIMESTAMP")
    if dialect == "sqlite" and type_name == "TIMESTAMP":
        # SQLite has no timestamp type (CAST would give a number): an ISO 8601 string instead
        return call("strftime", exp.Literal.string("%Y-%m-%dT%H:%M:%f"), node.this)
    return node


def translate_like(node: exp.Like | exp.ILike, dialect: str) -> exp.Expression:
    value, pattern, negated = node.this, node.expression, bool(node.args.get("negate"))
    if dialect == "postgresql":
        return exp.Escape(this=node, expression=exp.Literal.string(""))
    if isinstance(node, exp.ILike):
        matched: exp.Expression = exp.Like(this=call("LOWER", value), expression=call("LOWER", pattern))
    elif isinstance(pattern, exp.Literal) and pattern.is_string:
        matched = exp.Glob(this=value, expression=exp.Literal.string(like_to_glob(pattern.this)))
    else:
        matched = exp.EQ(this=call("datalabs_like", value, pattern), expression=exp.Literal.number(1))
    return exp.Not(this=exp.Paren(this=matched)) if negated else matched


def like_to_glob(pattern: str) -> str:
    special = {"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}
    return "".join(special.get(char, char) for char in pattern)


@lru_cache(maxsize=256)
def _like_regex(pattern: str) -> re.Pattern[str]:
    parts = {"%": ".*", "_": "."}
    return re.compile("".join(parts.get(char) or re.escape(char) for char in pattern), re.DOTALL)


def _like(value, pattern) -> int | None:
    if value is None or pattern is None:
        return None
    return int(_like_regex(str(pattern)).fullmatch(str(value)) is not None)


def _truncate(value, digits) -> float | None:
    if value is None or digits is None:
        return None
    scale = 10.0 ** int(digits)
    return math.trunc(float(value) * scale) / scale


def _round_half_away(value, digits) -> float | None:
    """Half away from zero, to ``digits`` decimals (negative: tens, hundreds...), as PostgreSQL's NUMERIC does."""
    if value is None or digits is None:
        return None
    scale = 10.0 ** int(digits)
    return math.copysign(math.floor(abs(float(value)) * scale + 0.5) / scale, float(value))


def _math(function: Callable[..., float]) -> Callable[..., float | None]:
    """SQLite's own math functions return NULL for NULL arguments and for arguments out of their domain."""

    def wrapped(*args):
        if any(arg is None for arg in args):
            return None
        try:
            return function(*(float(arg) for arg in args))
        except (ValueError, OverflowError, ZeroDivisionError):
            return None

    return wrapped


# used when SQLite was built without SQLITE_ENABLE_MATH_FUNCTIONS (before 3.35, or some distributions)
_SQLITE_MATH = {
    "acos": (1, math.acos), "asin": (1, math.asin), "atan": (1, math.atan), "atan2": (2, math.atan2),
    "ceiling": (1, math.ceil), "cos": (1, math.cos), "degrees": (1, math.degrees), "exp": (1, math.exp),
    "floor": (1, math.floor), "ln": (1, math.log), "log10": (1, math.log10), "mod": (2, math.fmod),
    "pi": (0, lambda: math.pi), "power": (2, math.pow), "radians": (1, math.radians), "sin": (1, math.sin),
    "sqrt": (1, math.sqrt), "tan": (1, math.tan), "trunc": (1, math.trunc),
}


def _has_math_functions(connection) -> bool:
    try:
        connection.execute("SELECT sqrt(4), ln(1), trunc(1.5)").fetchone()
    except sqlite3.OperationalError:
        return False
    return True


def register_sqlite_functions(dbapi_connection) -> None:
    """Adds to a sqlite3 connection what translated ADQL calls and SQLite may lack (e.g. a "connect" event)."""
    dbapi_connection.create_function("datalabs_like", 2, _like, deterministic=True)
    dbapi_connection.create_function("datalabs_truncate", 2, _truncate, deterministic=True)
    dbapi_connection.create_function("datalabs_round", 2, _round_half_away, deterministic=True)
    if not _has_math_functions(dbapi_connection):
        for name, (arity, function) in _SQLITE_MATH.items():
            dbapi_connection.create_function(name, arity, _math(function), deterministic=True)
