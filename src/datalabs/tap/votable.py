"""Query results as VOTable 1.4 (TABLEDATA), CSV, TSV or JSON, and DALI error documents.

The VOTable is written directly rather than through astropy's writer: DALI wants ``QUERY_STATUS`` both
before the table (``OK``) and, when MAXREC cut the result short, after it (``OVERFLOW``), which astropy's
tree cannot place; rows are streamed as they are formatted. (Tests read every document back with
astropy.io.votable.) FIELD metadata comes from the declared TapColumn of a plain column reference, and is
inferred from the values for expressions.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from itertools import chain, islice
from xml.sax.saxutils import escape, quoteattr

from datalabs.errors import InvalidInput

VOTABLE_NS = "http://www.ivoa.net/xml/VOTable/v1.3"  # VOTable 1.4 keeps the 1.3 namespace
VOTABLE_MIME = "application/x-votable+xml"
INFER_ROWS = 1000  # an expression's VOTable type is inferred from this many rows
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class OutputFormat:
    name: str  # votable | csv | tsv | json
    mime: str
    extension: str
    aliases: tuple[str, ...]


FORMATS = (
    OutputFormat("votable", VOTABLE_MIME, "xml",
                 ("votable", VOTABLE_MIME, "text/xml", "application/xml", "votable/td", "vot",
                  "application/x-votable+xml;serialization=tabledata")),
    OutputFormat("csv", "text/csv", "csv", ("csv", "text/csv")),
    OutputFormat("tsv", "text/tab-separated-values", "tsv", ("tsv", "text/tab-separated-values")),
    OutputFormat("json", "application/json", "json", ("json", "application/json")),
)


def output_format(value: str | None) -> OutputFormat:
    """The format named by FORMAT/RESPONSEFORMAT (VOTable when not given)."""
    if not value:
        return FORMATS[0]
    wanted = value.strip().lower().replace(" ", "")
    for candidate in (wanted, wanted.split(";")[0]):
        for fmt in FORMATS:
            if candidate in fmt.aliases:
                return fmt
    names = ", ".join(alias for fmt in FORMATS for alias in fmt.aliases[:2])
    raise InvalidInput(f"unsupported output format {value!r}; use one of {names}", field="RESPONSEFORMAT")


@dataclass(frozen=True)
class Field:
    name: str
    datatype: str
    arraysize: str | None = None
    xtype: str | None = None
    unit: str = ""
    ucd: str = ""
    utype: str = ""
    description: str = ""


def fields_for(columns: Sequence, rows: Sequence[Sequence]) -> list[Field]:
    """VOTable FIELDs for result columns (adql.ResultColumn): declared metadata, or inferred from values."""
    fields = []
    for position, result_column in enumerate(columns):
        values = [row[position] for row in rows if row[position] is not None]
        declared = result_column.column
        if declared is not None:
            datatype, arraysize = declared.datatype, declared.arraysize
            if datatype == "char" and any(isinstance(v, str) and not v.isascii() for v in values):
                datatype = "unicodeChar"
            if datatype in ("char", "unicodeChar") and not arraysize:
                arraysize = "*"
            fields.append(Field(result_column.name, datatype, arraysize, declared.xtype, declared.unit,
                                declared.ucd, declared.utype, declared.description))
        else:
            fields.append(Field(result_column.name, *_inferred(values)))
    return fields


def _inferred(values: list) -> tuple[str, str | None]:
    if values and all(isinstance(v, bool) for v in values):
        return "boolean", None
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "long", None
    if values and all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in values):
        return "double", None
    texts = [_text(v) for v in values]
    return ("char" if all(t.isascii() for t in texts) else "unicodeChar"), "*"


def _text(value) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def cell(value, datatype: str) -> str:
    """One value as TABLEDATA/CSV text; '' is null."""
    if value is None:
        return ""
    if datatype == "boolean":
        if isinstance(value, str):
            return "true" if value.strip().lower() in ("1", "t", "true", "y", "yes") else "false"
        return "true" if value else "false"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN" if datatype in ("float", "double") else ""
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        if datatype in ("short", "int", "long") and value.is_integer():
            return str(int(value))
        return repr(value)
    return _text(value)


def _xml_text(text: str) -> str:
    return escape(_XML_INVALID.sub("\ufffd", text))


def _attr(text: str) -> str:
    return quoteattr(_XML_INVALID.sub("\ufffd", text), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def _head() -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<VOTABLE version="1.4" xmlns="{VOTABLE_NS}" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:schemaLocation="{VOTABLE_NS} http://www.ivoa.net/xml/VOTable/v1.3">\n')


def _field_xml(field: Field) -> str:
    attrs = [f"name={_attr(field.name)}", f"datatype={_attr(field.datatype)}"]
    for key in ("arraysize", "xtype", "unit", "ucd", "utype"):
        value = getattr(field, key)
        if value:
            attrs.append(f"{key}={_attr(value)}")
    description = f"<DESCRIPTION>{_xml_text(field.description)}</DESCRIPTION>" if field.description else ""
    return f'<FIELD {" ".join(attrs)}>{description}</FIELD>\n' if description else f'<FIELD {" ".join(attrs)}/>\n'


def iter_votable(fields: Sequence[Field], rows: Iterable[Sequence], *, overflow: Callable[[], bool], query: str = "",
                 infos: dict[str, str] | None = None) -> Iterator[str]:
    yield _head()
    yield '<RESOURCE type="results">\n<INFO name="QUERY_STATUS" value="OK"/>\n'
    if query:
        yield f'<INFO name="QUERY" value={_attr(query)}/>\n'
    for name, value in (infos or {}).items():
        yield f"<INFO name={_attr(name)} value={_attr(value)}/>\n"
    yield "<TABLE>\n"
    for field in fields:
        yield _field_xml(field)
    yield "<DATA><TABLEDATA>\n"
    types = [field.datatype for field in fields]
    for row in rows:
        yield "<TR>" + "".join(f"<TD>{_xml_text(cell(v, t))}</TD>" for v, t in zip(row, types)) + "</TR>\n"
    yield "</TABLEDATA></DATA>\n</TABLE>\n"
    if overflow():  # known once every row has been read
        yield '<INFO name="QUERY_STATUS" value="OVERFLOW"/>\n'
    yield "</RESOURCE>\n</VOTABLE>\n"


def _iter_delimited(fields: Sequence[Field], rows: Iterable[Sequence], delimiter: str) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n" if delimiter == "," else "\n")
    writer.writerow([field.name for field in fields])
    types = [field.datatype for field in fields]
    for index, row in enumerate(rows):
        values = [cell(v, t) for v, t in zip(row, types)]
        if delimiter == "\t":  # TSV has no quoting: tabs and line breaks inside values become spaces
            values = [re.sub(r"[\t\r\n]", " ", v) for v in values]
        writer.writerow(values)
        if index % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _json_value(value, datatype: str):
    if value is None or isinstance(value, (bool, int, str)):
        if datatype == "boolean" and value is not None:
            return cell(value, datatype) == "true"
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dict, list)):
        return value
    return _text(value)


def _iter_json(fields: Sequence[Field], rows: Iterable[Sequence], overflow: Callable[[], bool]) -> Iterator[str]:
    columns = [{k: v for k, v in vars(field).items() if v} for field in fields]
    yield '{"columns": ' + json.dumps(columns) + ', "rows": ['
    types = [field.datatype for field in fields]
    for index, row in enumerate(rows):
        yield ("," if index else "") + "\n" + json.dumps([_json_value(v, t) for v, t in zip(row, types)])
    yield '\n], "overflow": ' + json.dumps(overflow()) + "}\n"


def iter_document(fmt: OutputFormat, columns: Sequence, rows: Iterable[Sequence], *,
                  overflow: bool | Callable[[], bool], query: str = "") -> Iterator[bytes]:
    """The result in the format asked for, as UTF-8 chunks. ``rows`` may be an iterator (then ``overflow`` is a
    callable asked once the rows are read); expressions' types are inferred from the first rows."""
    rows = iter(rows)
    head = list(islice(rows, INFER_ROWS))
    fields = fields_for(columns, head)
    rows = chain(head, rows)
    if not callable(overflow):
        overflow = partial(bool, overflow)
    if fmt.name == "votable":
        chunks = iter_votable(fields, rows, overflow=overflow, query=query)
    elif fmt.name == "csv":
        chunks = _iter_delimited(fields, rows, ",")
    elif fmt.name == "tsv":
        chunks = _iter_delimited(fields, rows, "\t")
    else:
        chunks = _iter_json(fields, rows, overflow)
    for chunk in chunks:
        if chunk:
            yield chunk.encode("utf-8")


def error_document(message: str) -> bytes:
    """A DALI error document: a VOTable whose QUERY_STATUS is ERROR, with the message as the INFO's text."""
    return (_head() + '<RESOURCE type="results">\n'
            f'<INFO name="QUERY_STATUS" value="ERROR">{_xml_text(message)}</INFO>\n'
            "</RESOURCE>\n</VOTABLE>\n").encode("utf-8")


def adql_error_message(error) -> str:
    """An AdqlError's message with where it is ("line 1, column 8: ...")."""
    line, column = getattr(error, "line", None), getattr(error, "column", None)
    message = getattr(error, "message", None) or str(error)
    if line is not None and column is not None:
        return f"ADQL error at line {line}, column {column}: {message}"
    if line is not None:
        return f"ADQL error at line {line}: {message}"
    return f"ADQL error: {message}"
