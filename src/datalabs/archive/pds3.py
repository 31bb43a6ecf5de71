"""PDS3 (ODL) label syntax: label text -> flat, typed attributes.

Written by hand because the indexer reads tens of thousands of labels per volume and pvl is two to three
orders of magnitude too slow for that (about 1 s per Rosetta OSIRIS label). Most statements are one line
`KEY = VALUE`; those are read with string methods, and remembered (line -> key and value, value text ->
value) because the labels of one volume repeat most of their lines. Anything else (multi-line strings and
sequences, comments after values, structure words written unusually, broken text) goes through one
regular expression per statement, and only a label that is broken pays for the error diagnosis.

Decisions (the tests hold them):
- A detached label may end at end-of-file without an END statement as long as every OBJECT/GROUP is
  closed: several real and synthetic labels do, and nothing is ambiguous then. An OBJECT/GROUP still
  open at end-of-file is an error at the line of that OBJECT/GROUP.
- Bytes outside ASCII (a latin-1 degree sign in a description) are accepted inside quoted strings and
  comments: losing a whole label for one character helps nobody. pvl rejects them.
- An empty value (`KEY =` followed by the next statement or a structure word) is an error, as in pvl's
  strict ODL parser (its default parser would store an "EmptyValueAtLine" placeholder).
- `N/A`, `UNK`, `NULL` stay the strings they are (pvl: N/A and UNK too, NULL becomes None); TRUE and
  FALSE stay strings (pvl: bool): attribute types are int, float, str, date and list only.
- A line starting with `#` is a comment (a PVL habit of some real index labels); a `#` after a value is an
  error, as in pvl's ODL parser.
- Dates and times stay as written except that day-of-year dates become calendar dates (2014-259 ->
  2014-09-16): queries compare them as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta


class Pds3SyntaxError(ValueError):
    """The text is not PDS3 label syntax at `line`, `column` (both 1-based)."""

    def __init__(self, reason: str, line: int | None = None, column: int | None = None):
        super().__init__(reason)
        self.reason, self.line, self.column = reason, line, column


@dataclass
class Pds3Attributes:
    """What a PDS3 label says, flattened: `IMAGE.LINES`, `IMAGE_POI.ROSETTA:SURF_INT_CART_COORD`."""

    attributes: dict[str, object] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    objects: list[str] = field(default_factory=list)  # names of the top-level OBJECTs, in label order
    pointers: list[str] = field(default_factory=list)  # flattened names of the ^POINTER attributes
    ended: bool = False  # an END statement was found (False: the label stopped at end-of-file)


# --- the lexical shapes -------------------------------------------------------------------------------

_COMMENT = r"/\*[^*]*+\*++(?:[^/*][^*]*+\*++)*+/"
# blanks, /* comments */ and whole-line "# comments"
# (possessive quantifiers everywhere: no backtracking, so a failing match costs linear time, never 2**n)
_SKIP = rf"(?:(?:(?<=[\r\n])|\A)[ \t]*+#[^\r\n]*+|\s++|{_COMMENT})*+"
_QUOTED = r'"[^"]*+"'
_SYMBOL = r"'[^'\n]*'"
_SEQUENCE = rf'\((?:[^()"]++|{_QUOTED}|\((?:[^()"]++|{_QUOTED})*+\))*+\)'  # ODL sequences are 1-D or 2-D
_SET = rf'\{{(?:[^{{}}"]++|{_QUOTED})*+\}}'
_BASED = r"\d+#[+-]?[0-9A-Za-z]+#"
_SCALAR = r"(?:[^\s(){}\"',=<>/;#]++|/(?!\*))++"
_UNIT = r"[ \t]*<(?P<unit>[^<>\r\n]*)>"

# One statement: `KEY = VALUE [<unit>]`, or a bare word (END, END_OBJECT, END_GROUP), with the blanks and
# comments before it. `value` is None when there is no `=`.
_STATEMENT = re.compile(
    rf"{_SKIP}(?P<key>[A-Za-z^][A-Za-z0-9_:^]*)[ \t]*"
    rf"(?:=[ \t]*(?:{_SKIP})(?P<value>{_QUOTED}|{_SYMBOL}|{_SEQUENCE}|{_SET}|{_BASED}|{_SCALAR})(?:{_UNIT})?)?"
    rf"[ \t]*;?"
)
_TRAILING = re.compile(rf"{_SKIP}\Z")
_EQUALS = re.compile(rf"[ \t]*=[ \t]*(?:{_SKIP})")

_STRUCTURE_WORDS = {
    "OBJECT": "OBJECT", "BEGIN_OBJECT": "OBJECT", "GROUP": "GROUP", "BEGIN_GROUP": "GROUP",
    "END_OBJECT": "END_OBJECT", "END_GROUP": "END_GROUP", "END": "END",
}

# the spellings met so far (OBJECT, Object, End_Group, ...): not attribute names
_STRUCTURE_SPELLINGS: set[str] = set()
_INT = re.compile(r"[+-]?\d+\Z")
_REAL = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?\Z|[+-]?\d+[eE][+-]?\d+\Z")
_BASED_INT = re.compile(r"(\d+)#([+-]?)([0-9A-Za-z]+)#\Z")
_TIME = r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d*)?)?(?:Z|[+-]\d{1,2}(?::?\d{2})?)?"
_DATE = re.compile(rf"(\d{{4}})-(\d{{2}})-(\d{{2}})(T{_TIME})?\Z|(\d{{4}})-(\d{{3}})(T{_TIME})?\Z|{_TIME}\Z")
_NUMBER_LIST = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*(?:,\s*[+-]?(?:\d+\.?\d*|\.\d+)"
                          r"(?:[eE][+-]?\d+)?\s*)*\Z")
_QUOTED_LIST = re.compile(r'\s*"[^"]*"\s*(?:,\s*"[^"]*"\s*)*\Z')
_WORD_LIST = re.compile(r"\s*[A-Za-z][A-Za-z0-9_]*\s*(?:,\s*[A-Za-z][A-Za-z0-9_]*\s*)*\Z")
_QUOTED_ITEM = re.compile(r'"([^"]*)"')
_UNIT_ITEM = re.compile(r"\s*<([^<>]*)>")
_ITEM_TOKEN = re.compile(rf'\s+|{_COMMENT}|{_QUOTED}|{_SYMBOL}|<[^<>]*>|[(){{}},]|{_BASED}|{_SCALAR}')
_DASH_BREAK = re.compile(r"-[\r\n][\s]*")


# --- values -------------------------------------------------------------------------------------------

def quoted_text(inner: str) -> str:
    """The PDS reading of a quoted string: a dash at a line end joins the lines, every run of blanks and
    line breaks becomes one space, and leading/trailing blanks go (pvl does the same)."""
    if "-\n" in inner or "-\r" in inner:
        inner = _DASH_BREAK.sub("", inner)
    if ("  " in inner or "\n" in inner or "\r" in inner or "\t" in inner
            or inner[:1] == " " or inner[-1:] == " "):
        return " ".join(inner.split())
    return inner


def iso_date(token: str) -> str:
    """A PDS3 date/time written in ISO form: day-of-year dates (2014-259) become calendar dates; time,
    precision and zone stay as written."""
    match = _DATE.match(token)
    if match and match.group(5):
        year, day = int(match.group(5)), int(match.group(6))
        if 1 <= day <= 366:
            calendar = date(year, 1, 1) + timedelta(days=day - 1)
            return calendar.isoformat() + (match.group(7) or "")
    return token


def scalar(token: str) -> tuple[object, str]:
    """An unquoted value -> (value, type name)."""
    first = token[0]
    if first.isalpha() or first == "_":
        return token, "str"
    if token.isdigit() and token.isascii():
        return int(token), "int"
    if "." in token or "e" in token or "E" in token:
        if _REAL.match(token):
            return float(token), "float"
    elif _INT.match(token):
        return int(token), "int"
    if first.isdigit():
        if _DATE.match(token):
            return iso_date(token), "date"
        based = _BASED_INT.match(token)
        if based:
            try:
                number = int(based.group(3), int(based.group(1)))
            except ValueError:
                return token, "str"
            return (-number if based.group(2) == "-" else number), "int"
    return token, "str"  # e.g. an unquoted MD5 checksum, a "+" or a "1A": text as written


def _list_value(body: str, opening: str) -> tuple[list, str | None]:
    """The items of a sequence or set, `body` being the text between the brackets. Returns the list
    (nested for 2-D sequences) and the unit(s) written on its items, if any."""
    if _NUMBER_LIST.match(body):
        parts = body.split(",")
        if "." in body or "e" in body or "E" in body:
            return [float(p) if ("." in p or "e" in p or "E" in p) else int(p) for p in parts], None
        return [int(p) for p in parts], None
    if "<" in body and '"' not in body and "(" not in body:
        written = _UNIT_ITEM.findall(body)
        bare = _UNIT_ITEM.sub("", body)
        if _NUMBER_LIST.match(bare):
            numbers, _ = _list_value(bare, opening)
            return numbers, ", ".join(dict.fromkeys(u.strip() for u in written))
    if _WORD_LIST.match(body):
        return [p.strip() for p in body.split(",")], None
    if _QUOTED_LIST.match(body):
        return [quoted_text(q) for q in _QUOTED_ITEM.findall(body)], None
    return _general_list(body, opening)


def _general_list(body: str, opening: str) -> tuple[list, str | None]:
    tokens = []
    position = 0
    for match in _ITEM_TOKEN.finditer(body):
        if match.start() != position:
            break
        position = match.end()
        token = match.group()
        if not token.isspace() and not token.startswith("/*"):
            tokens.append(token)
    if position != len(body):
        raise ValueError(f"{opening}...: {body[position:position + 20]!r} is not PDS3 syntax")
    units: list[str] = []
    closing = {"(": ")", "{": "}"}

    def items(position: int, end: str | None) -> tuple[list, int]:
        values: list = []
        expect_item = True
        while position < len(tokens):
            token = tokens[position]
            if token == end:
                if expect_item and values:
                    raise ValueError("a comma with no value after it")
                return values, position + 1
            if token in (")", "}"):
                raise ValueError(f"an unexpected '{token}'")
            if token == ",":
                if expect_item:
                    raise ValueError("a comma with no value before it")
                expect_item = True
                position += 1
                continue
            if token.startswith("<"):
                if expect_item:
                    raise ValueError("a unit with no value")
                unit = token[1:-1].strip()
                if unit not in units:
                    units.append(unit)
                position += 1
                continue
            if not expect_item:
                raise ValueError("two values with no comma between them")
            if token in ("(", "{"):
                inner, position = items(position + 1, closing[token])
                values.append(inner)
            else:
                values.append(_item(token))
                position += 1
            expect_item = False
        if end is not None:
            raise ValueError(f"a '{opening}' that is never closed")
        return values, position

    values, _ = items(0, None)
    return values, (", ".join(units) if units else None)


def _item(token: str) -> object:
    if token[0] == '"':
        return quoted_text(token[1:-1])
    if token[0] == "'":
        return token[1:-1]
    return scalar(token)[0]


# --- the statement loop -------------------------------------------------------------------------------

def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _fail(text: str, offset: int, reason: str) -> Pds3SyntaxError:
    line, column = _position(text, offset)
    return Pds3SyntaxError(reason, line, column)


def _skip(text: str, offset: int) -> int:
    """Where the next token starts (after blanks and comments); an unterminated comment is an error."""
    while True:
        while offset < len(text) and text[offset].isspace():
            offset += 1
        if text.startswith("/*", offset):
            end = text.find("*/", offset + 2)
            if end < 0:
                raise _fail(text, offset, "a comment that is never closed (no '*/')")
            offset = end + 2
            continue
        return offset


def _diagnose(text: str, offset: int) -> Pds3SyntaxError:
    """Why no statement starts at `offset`: the slow path, run only when a label is broken."""
    start = _skip(text, offset)
    key = re.compile(r"[A-Za-z^][A-Za-z0-9_:^]*").match(text, start)
    if not key:
        shown = text[start:start + 1]
        if shown and not shown.isprintable():
            return _fail(text, start, "binary data where a statement should start")
        return _fail(text, start, f"a statement must start with a keyword, found {shown!r}")
    equals = _EQUALS.match(text, key.end())
    if not equals:
        return _fail(text, key.end(), f"'=' expected after {key.group()!r}")
    value_at = _skip(text, equals.end())
    rest = text[value_at:]
    if not rest:
        return _fail(text, value_at, f"{key.group()!r} has no value (end of label)")
    if rest[0] == '"':
        return _fail(text, value_at, f"the quoted string of {key.group()!r} is never closed")
    if rest[0] == "'":
        return _fail(text, value_at, f"the quoted symbol of {key.group()!r} is never closed")
    if rest[0] in "({":
        return _fail(text, value_at, f"the sequence or set of {key.group()!r} is never closed")
    return _fail(text, value_at, f"the value of {key.group()!r} is not PDS3 syntax: {rest[:20]!r}")


def parse(text: str, detached: bool = True) -> Pds3Attributes:
    """Parses PDS3 label text (up to and including END; anything after END is ignored).

    In a detached label an END met while an OBJECT is still open is skipped: real labels (Viking Orbiter
    EDRs) carry an inlined ^STRUCTURE file whose own END sits inside the TABLE object. In an attached
    label END always ends the label, because binary data follows it.

    Speed: most statements are one line `KEY = VALUE`; those are read with string methods and remembered
    per process (whole lines, keys, value texts, structure lines: the labels of one volume repeat most of
    them), which is several times faster than any regular expression over the same text. Everything else
    (multi-line strings and sequences, comments after values, unusual spellings, broken text) goes
    through `_STATEMENT`, one statement at a time. Cached lists are copied before use, so no two labels
    share a mutable value."""
    out = Pds3Attributes()
    attributes, units, types, pointers = out.attributes, out.units, out.types, out.pointers
    multi: set[str] = set()
    stack: list[tuple[str, str, str, int]] = []  # (OBJECT|GROUP, name, previous prefix, offset)
    prefix = ""
    length = len(text)
    lines = text.split("\n")
    count = len(lines)
    index = 0
    known_index, known_start = 0, 0  # lines[known_index] starts at text[known_start]
    known_keys, known_values, known_lines = _KNOWN_KEYS, _KNOWN_VALUES, _KNOWN_LINES
    known_structure = _KNOWN_STRUCTURE
    for cache in (known_keys, known_values, known_lines, known_structure):
        if len(cache) > _CACHE_LIMIT:  # bounded: a long scan must not grow without end
            cache.clear()
    match_statement = _STATEMENT.match
    while index < count:
        # -- fast path: one whole line `KEY = VALUE` ---------------------------------------------------
        line = lines[index]
        known = known_lines.get(line)  # labels of one volume repeat most of their lines exactly
        if known is None:
            key, equals, raw = line.partition("=")
            if equals:
                key = key.strip()
                if key in known_keys or (key not in _STRUCTURE_SPELLINGS and _plain_key(key)):
                    raw = raw.strip()
                    value = known_values.get(raw)
                    if value is None and raw:
                        value = _simple_value(raw)
                        if value is not _NOT_SIMPLE:
                            known_values[raw] = value
                    if value is not None and value is not _NOT_SIMPLE:
                        known = (key, *value)
                        known_lines[line] = known
        if known is not None:
            if known is _NOTHING:  # a blank or comment line
                index += 1
                continue
            key, value, kind, unit = known
            if kind == "list":
                value = value.copy()  # a cached list must never be shared between labels
            name = prefix + key
            if unit is not None:
                units[name] = unit
            if name in attributes:
                if name in multi:
                    attributes[name].append(value)
                else:
                    attributes[name] = [attributes[name], value]
                    multi.add(name)
                    types[name] = "list"
            else:
                attributes[name] = value
                types[name] = kind
                if key[0] == "^":
                    pointers.append(name)
            index += 1
            continue
        structure = known_structure.get(line)
        if structure is not None:  # OBJECT = NAME, END_GROUP, ... seen before in this spelling
            word, name = structure
            if word == "OBJECT" or word == "GROUP":
                if not prefix and word == "OBJECT":
                    out.objects.append(name)
                stack.append((word, name, prefix, -index - 1))  # negative: a line, not an offset
                prefix = f"{prefix}{name}."
                index += 1
                continue
            if stack and stack[-1][0] == word[4:] and (name is None or stack[-1][1].upper() == name.upper()):
                prefix = stack.pop()[2]
                index += 1
                continue
            # a mismatched END_OBJECT/END_GROUP: the general path reports it
        else:
            key, equals, raw = line.partition("=")
            if equals:
                # OBJECT = NAME, GROUP = NAME, END_OBJECT = NAME: the usual, well-formed cases only
                key = key.strip()
                word = _STRUCTURE_WORDS.get(key.upper()) if len(key) < 13 else None
                raw = raw.strip()
                if word is not None and word != "END" and raw.isidentifier():
                    known_structure[line] = (word, raw)
                    continue  # handled above, on the next turn
            else:
                bare = line.strip()
                if not bare or (bare[0] == "/" and bare.startswith("/*") and bare.endswith("*/")
                                and bare.count("*/") == 1):
                    known_lines[line] = _NOTHING
                    index += 1
                    continue
                word = _STRUCTURE_WORDS.get(bare.upper()) if len(bare) < 13 else None
                if word == "END_OBJECT" or word == "END_GROUP":
                    known_structure[line] = (word, None)
                    continue  # handled above, on the next turn
        # -- general path: statements however they are written, until one ends a line ----------------
        line_start = known_start + sum(map(len, lines[known_index:index])) + (index - known_index)
        offset = line_start
        while True:
            match = match_statement(text, offset)
            key = match.group("key") if match is not None else None
            if key is None:
                if _TRAILING.match(text, offset):
                    offset = length
                    break
                raise _diagnose(text, offset)
            raw = match.group("value")
            word = _STRUCTURE_WORDS.get(key.upper()) if len(key) < 13 and key[0] in "OGBEogbe" else None
            if word is not None:
                if word == "END":
                    if raw is not None:
                        raise _fail(text, match.start("key"), "END cannot take a value")
                    if not (stack and detached):
                        out.ended = True
                        offset = length
                        break
                elif word == "OBJECT" or word == "GROUP":
                    if raw is None:
                        raise _fail(text, match.end(), f"{key} needs a name ({key} = NAME)")
                    name = raw[1:-1] if raw[0] in "\"'" else raw
                    if not prefix and word == "OBJECT":
                        out.objects.append(name)
                    stack.append((word, name, prefix, match.start("key")))
                    prefix = f"{prefix}{name}."
                else:
                    opened = word[4:]
                    if not stack:
                        raise _fail(text, match.start("key"), f"{key} without an open {opened}")
                    kind, name, previous, _ = stack[-1]
                    if kind != opened:
                        raise _fail(text, match.start("key"), f"{key} closes {kind} = {name}")
                    if raw is not None:
                        closing = raw[1:-1] if raw[0] in "\"'" else raw
                        if closing.upper() != name.upper():
                            raise _fail(text, match.start("value"),
                                        f"{key} = {closing} closes {kind} = {name}")
                    stack.pop()
                    prefix = previous
            else:
                if raw is None:
                    # `KEY = <nothing valid>` (the slow path says why) or a keyword with no `=` at all
                    if _EQUALS.match(text, match.end("key")):
                        raise _diagnose(text, offset)
                    raise _fail(text, match.end("key"), f"'=' expected after {key!r}")
                first = raw[0]
                unit = match.group("unit")
                if first == '"':
                    value, kind = quoted_text(raw[1:-1]), "str"
                elif first == "'":
                    value, kind = raw[1:-1], "str"
                elif first == "(" or first == "{":
                    try:
                        value, list_unit = _list_value(raw[1:-1], first)
                    except ValueError as error:
                        raise _fail(text, match.start("value"), f"{key}: {error}") from None
                    kind = "list"
                    if unit is None:
                        unit = list_unit
                else:
                    if _STRUCTURE_WORDS.get(raw.upper()) is not None:
                        raise _fail(text, match.start("value"), f"{key!r} has no value (found {raw})")
                    value, kind = scalar(raw)
                name = prefix + key if prefix else key
                if unit is not None:
                    units[name] = unit.strip()
                if name in attributes:
                    if name in multi:
                        attributes[name].append(value)
                    else:
                        attributes[name] = [attributes[name], value]
                        multi.add(name)
                        types[name] = "list"
                else:
                    attributes[name] = value
                    types[name] = kind
                    if key[0] == "^":
                        pointers.append(name)
            offset = _after_statement(text, match, key)
            newline = text.find("\n", offset)
            if newline < 0:
                newline = length
            if not text[offset:newline].strip():
                offset = newline + 1
                break
        if offset >= length:
            break
        # back to the fast path at the line after the statement(s) just read
        index += text.count("\n", line_start, offset)
        known_index, known_start = index, offset
    if stack:
        kind, name, _, at = stack[-1]
        if at < 0:  # opened on the fast path: the line is known, the column is where the keyword starts
            line = lines[-at - 1]
            raise Pds3SyntaxError(f"{kind} = {name} is never closed (no END_{kind})", -at,
                                  len(line) - len(line.lstrip()) + 1)
        raise _fail(text, at, f"{kind} = {name} is never closed (no END_{kind})")
    return out


_CACHE_LIMIT = 50_000  # entries per cache (about 250 bytes each): tens of MB per worker at most
_KNOWN_KEYS: set[str] = set()  # keys already found plain (a name, not a structure word)
_KNOWN_VALUES: dict[str, tuple[object, str, str | None]] = {}  # one-line value text -> value, type, unit
_KNOWN_LINES: dict[str, tuple[str, object, str, str | None]] = {}  # a whole simple line -> key, value, ...
_KNOWN_STRUCTURE: dict[str, tuple[str, str | None]] = {}  # "  END_OBJECT = IMAGE\r" -> (END_OBJECT, IMAGE)


def _plain_key(key: str) -> bool:
    """`key` is an attribute name (not OBJECT, END_GROUP, ...); remembered, as labels repeat their keys."""
    if not (key.isidentifier() and key.isascii()) and not _KEY.fullmatch(key):
        return False
    if key.upper() in _STRUCTURE_WORDS:
        _STRUCTURE_SPELLINGS.add(key)
        return False
    _KNOWN_KEYS.add(key)
    return True


def _after_statement(text: str, match: re.Match, key: str) -> int:
    """Where the next statement may start; a statement must be followed by a line break or comment."""
    offset = match.end()
    if offset < len(text) and not text[offset].isspace() and not text.startswith("/*", offset):
        value = match.group("value")
        if text[offset] == "=" and value is not None:  # `KEY =` with nothing: the next keyword was taken
            raise _fail(text, offset, f"{key!r} has no value ({value!r} is followed by '=')")
        raise _fail(text, offset, f"unexpected {text[offset]!r} after the statement of {key!r}")
    return offset


_NOT_SIMPLE = object()
_NOTHING = ("", None, "", None)  # a cached blank or comment line
_KEY = re.compile(r"\^?[A-Za-z][A-Za-z0-9_]*(?::[A-Za-z0-9_]+)*")
_SCALAR_TOKEN = re.compile(r"[^\s(){}\"',=<>/;#]*(?:/(?!\*)[^\s(){}\"',=<>/;#]*)*")


def _simple_value(raw: str) -> tuple[object, str, str | None] | object:
    """The value of a one-line statement, or _NOT_SIMPLE when the general path must read it (a string or
    sequence going on over several lines, a comment after the value, anything unusual)."""
    first = raw[0]
    if first == '"':
        if raw[-1] == '"' and raw.count('"') == 2:
            return quoted_text(raw[1:-1]), "str", None
        return _NOT_SIMPLE
    if "/*" in raw:
        return _NOT_SIMPLE
    unit = None
    if raw[-1] == ">":
        raw, _, unit = raw.partition("<")
        unit = unit[:-1].strip()
        raw = raw.rstrip()
        if not raw or ">" in unit or "<" in unit:
            return _NOT_SIMPLE
    if first == "(":
        if raw[-1] != ")" or raw.count("(") != 1 or raw.count(")") != 1 or raw.count('"') % 2:
            return _NOT_SIMPLE
        try:
            value, list_unit = _list_value(raw[1:-1], "(")
        except ValueError:
            return _NOT_SIMPLE
        return value, "list", unit if unit is not None else list_unit
    if " " in raw or "\t" in raw or first in "{'":
        return _NOT_SIMPLE
    value, kind = scalar(raw)
    if kind == "str":  # numbers and dates are checked by their own patterns; words are checked here
        if not raw.replace("_", "").isalnum() and not _SCALAR_TOKEN.fullmatch(raw):
            return _NOT_SIMPLE
        if len(raw) < 13 and raw.upper() in _STRUCTURE_WORDS:
            return _NOT_SIMPLE  # `KEY = END_OBJECT`: a missing value, reported by the general path
    return value, kind, unit
