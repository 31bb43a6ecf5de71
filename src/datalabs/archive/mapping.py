"""Named wide tables from a YAML mapping file: for the products of an instrument (or an identifier pattern),
each column is one label attribute (optionally one element of a sequence), a core column, or an ADQL
expression over the table's other columns. The table is a view over the stored attributes, so it is always
as fresh as the last scan; it is queryable over TAP like any table.

    tables:
      - name: osiris
        description: Rosetta OSIRIS NAC images with their geometry
        match: {instrument: OSINAC}              # core columns: equal to a value, a list of values, or a glob
        columns:
          filename: $label_name                  # core values: $identifier $data_set $mission $instrument
          dataset: DATA_SET_ID                   #   $target $start_time $stop_time $label_path $label_name
          surf_int_x: IMAGE_POI.ROSETTA:SURF_INT_CART_COORD[0]      #   $label_stem $datalabs_path $volume
          distance: {attribute: IMAGE_POI.ROSETTA:SURFACE_INTERCEPT_DISTANCE, unit: km}
          half_width: {expr: "sc_altitude * SIN(RADIANS(azimuth_fov))", type: float, unit: km}
        where: "distance < 50"                   # optional ADQL condition over the columns

A mistake is reported with the table, the column and what is wrong; nothing is stored then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from datalabs.archive.attribute_sql import check_attribute_name
from datalabs.errors import InvalidInput

CORE_VALUES = {
    "identifier": "identifier", "data_set": "data_set", "mission": "mission", "instrument": "instrument",
    "target": "target", "start_time": "start_time", "stop_time": "stop_time", "label_path": "label_path",
    "label_name": None, "label_stem": None, "datalabs_path": "datalabs_path", "volume": None, "processing_level": "processing_level",
    "product_class": "product_class", "size": "size",
}
MATCH_FIELDS = ("volume", "identifier", "data_set", "mission", "instrument", "target", "product_class",
                "label_format")
TYPES = ("int", "float", "str", "date")
_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_COLUMN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
_ATTRIBUTE = re.compile(r"^(?P<name>[^\[\]]+?)(?:\[(?P<index>\d+)\])?$")
RESERVED_TABLES = {"products", "label_problems", "attributes"}


@dataclass(frozen=True)
class MappedColumn:
    name: str
    kind: str  # attribute | core | expr
    source: str  # the attribute name, the core value name, or the ADQL expression
    index: int | None = None
    datatype: str | None = None  # None: found from the data when the table is stored
    unit: str = ""
    description: str = ""
    ucd: str = ""

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "source": self.source, "index": self.index,
                "datatype": self.datatype, "unit": self.unit, "description": self.description, "ucd": self.ucd}

    @classmethod
    def from_dict(cls, data: dict) -> MappedColumn:
        return cls(**data)


@dataclass(frozen=True)
class MappedTableSpec:
    name: str
    description: str
    match: dict[str, list[str]]
    columns: tuple[MappedColumn, ...]
    where: str = ""

    def as_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "match": self.match,
                "columns": [c.as_dict() for c in self.columns], "where": self.where}

    @classmethod
    def from_dict(cls, data: dict) -> MappedTableSpec:
        return cls(name=data["name"], description=data.get("description", ""), match=data.get("match", {}),
                   columns=tuple(MappedColumn.from_dict(c) for c in data["columns"]), where=data.get("where", ""))


def parse_mapping(text: str, *, source: str = "mapping") -> list[MappedTableSpec]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise InvalidInput(f"{source}: not valid YAML{where}: {getattr(exc, 'problem', exc)}",
                           field="mapping") from None
    if isinstance(document, dict) and "tables" not in document and "columns" in document:
        document = {"tables": [document]}  # a file with one table
    if not isinstance(document, dict) or not isinstance(document.get("tables"), list) or not document["tables"]:
        raise InvalidInput(f"{source}: expected a 'tables:' list of tables", field="mapping")
    specs = [_table(entry, f"{source}: tables[{i}]") for i, entry in enumerate(document["tables"])]
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise InvalidInput(f"{source}: a table name is given twice", field="mapping")
    return specs


def _table(entry: object, where: str) -> MappedTableSpec:
    if not isinstance(entry, dict):
        raise InvalidInput(f"{where}: expected a mapping with name, match and columns", field="mapping")
    unknown = set(entry) - {"name", "description", "match", "columns", "where"}
    if unknown:
        raise InvalidInput(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}", field="mapping")
    name = entry.get("name")
    if not isinstance(name, str) or not _TABLE_NAME.match(name) or name in RESERVED_TABLES:
        raise InvalidInput(f"{where}: name must be lower-case letters, digits and _ (starting with a letter, "
                           f"not {', '.join(sorted(RESERVED_TABLES))}); got {name!r}", field="mapping")
    where = f"{where.split(':')[0]}: table {name}"
    match = _match(entry.get("match") or {}, where)
    columns_in = entry.get("columns")
    if not isinstance(columns_in, dict) or not columns_in:
        raise InvalidInput(f"{where}: 'columns' must map column names to label attributes", field="mapping")
    columns = tuple(_column(str(col), value, where) for col, value in columns_in.items())
    lowered = [c.name.lower() for c in columns]
    if len(set(lowered)) != len(lowered):
        raise InvalidInput(f"{where}: two columns have the same name (names are case-insensitive)",
                           field="mapping")
    condition = entry.get("where") or ""
    if not isinstance(condition, str):
        raise InvalidInput(f"{where}: 'where' must be an ADQL condition (text)", field="mapping")
    description = entry.get("description") or ""
    return MappedTableSpec(name=name, description=str(description)[:2000], match=match, columns=columns,
                           where=condition)


def _match(match: object, where: str) -> dict[str, list[str]]:
    if not isinstance(match, dict):
        raise InvalidInput(f"{where}: 'match' must map core fields ({', '.join(MATCH_FIELDS)}) to values",
                           field="mapping")
    result = {}
    for key, value in match.items():
        if key not in MATCH_FIELDS:
            raise InvalidInput(f"{where}: match: unknown field {key!r} (one of {', '.join(MATCH_FIELDS)})",
                               field="mapping")
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str | int | float) for v in values):
            raise InvalidInput(f"{where}: match.{key}: expected a value or a list of values", field="mapping")
        result[key] = [str(v) for v in values]
    return result


def _column(name: str, value: object, where: str) -> MappedColumn:
    if not _COLUMN_NAME.match(name):
        raise InvalidInput(f"{where}: column {name!r}: names are letters, digits and _ (starting with a letter)",
                           field="mapping")
    where = f"{where}, column {name}"
    options: dict = {}
    if isinstance(value, dict):
        unknown = set(value) - {"attribute", "core", "expr", "index", "type", "unit", "description", "ucd"}
        if unknown:
            raise InvalidInput(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}", field="mapping")
        sources = [k for k in ("attribute", "core", "expr") if k in value]
        if len(sources) != 1:
            raise InvalidInput(f"{where}: give exactly one of attribute, core or expr", field="mapping")
        kind = sources[0]
        source = str(value[kind])
        datatype = value.get("type")
        if datatype is not None and datatype not in TYPES:
            raise InvalidInput(f"{where}: type must be one of {', '.join(TYPES)}", field="mapping")
        options = {"datatype": datatype, "unit": str(value.get("unit", "")), "ucd": str(value.get("ucd", "")),
                   "description": str(value.get("description", ""))}
        index = value.get("index")
        if index is not None and (not isinstance(index, int) or index < 0):
            raise InvalidInput(f"{where}: index must be a whole number >= 0", field="mapping")
    elif isinstance(value, str):
        kind, source, index = ("core", value[1:], None) if value.startswith("$") else ("attribute", value, None)
    else:
        raise InvalidInput(f"{where}: expected an attribute name, $core_value or a mapping", field="mapping")
    if kind == "core":
        source = source.lstrip("$")
        if source not in CORE_VALUES:
            raise InvalidInput(f"{where}: unknown core value {source!r} (one of "
                               f"{', '.join('$' + k for k in CORE_VALUES)})", field="mapping")
    elif kind == "attribute":
        parsed = _ATTRIBUTE.match(source.strip())
        if not parsed:
            raise InvalidInput(f"{where}: cannot read attribute {source!r} (write NAME or NAME[index])",
                               field="mapping")
        source = parsed["name"]
        if parsed["index"] is not None:
            index = int(parsed["index"])
        try:
            check_attribute_name(source)
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc.message}", field="mapping") from None
    elif not source.strip():
        raise InvalidInput(f"{where}: empty expression", field="mapping")
    return MappedColumn(name=name, kind=kind, source=source, index=index, **options)
