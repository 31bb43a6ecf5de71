"""The archive as TAP tables, for one caller (TapCatalogue): embargoed volumes they may not read are absent.

- ``archive.products``: the core columns of every product of every volume the caller can read; any label
  attribute can also be named as a quoted column (``"IMAGE_POI.ROSETTA:SURF_INT_CART_COORD"``) although
  TAP_SCHEMA does not list them all (thousands across missions).
- ``archive.label_problems``: the labels a scan could not read, with the reason and position.
- ``volume.<name>``: one table per volume: the core columns plus every attribute found in its labels, typed
  and with units (from the attribute catalogue).
- ``mapped.<name>``: the wide tables defined by mapping files.
"""

from __future__ import annotations

import re

import sqlglot
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from datalabs.accounts.actor import Actor
from datalabs.archive import attribute_sql
from datalabs.archive.mapping import MappedColumn, MappedTableSpec
from datalabs.archive.models import ArchiveAttribute, ArchiveIndex, ArchiveTable
from datalabs.storage.datasets import DatasetService
from datalabs.tap.catalogue import TapCatalogue, TapColumn, TapSchema, TapTable

JSON_COLUMN = "attributes"
VOTABLE_TYPES = {"int": ("long", None, None), "float": ("double", None, None), "str": ("char", "*", None),
                 "date": ("char", "*", "timestamp"), "list": ("char", "*", None)}


def _core(name: str, datatype: str, description: str, *, sql: str | None = None, ucd: str = "",
          unit: str = "", principal: bool = False, xtype: str | None = None, indexed: bool = False) -> TapColumn:
    arraysize = "*" if datatype == "char" else None
    return TapColumn(name=name, sql=sql or name, datatype=datatype, arraysize=arraysize, xtype=xtype,
                     description=description, ucd=ucd, unit=unit, principal=principal, indexed=indexed)


CORE_COLUMNS = (
    _core("product_key", "long", "Our key of the product (stable until its label changes)", sql="id",
          ucd="meta.id", indexed=True),
    _core("volume", "char", "The archive volume the product is on", ucd="meta.dataset", principal=True),
    _core("identifier", "char", "PDS3 PRODUCT_ID, or PDS4 LIDVID (logical_identifier::version_id)",
          ucd="meta.id;meta.main", principal=True, indexed=True),
    _core("label_format", "char", "PDS3 or PDS4"),
    _core("data_set", "char", "PDS3 DATA_SET_ID, or the PDS4 collection LID", ucd="meta.dataset",
          principal=True, indexed=True),
    _core("mission", "char", "Mission (PDS3 MISSION_NAME/MISSION_ID, PDS4 Investigation_Area name)",
          principal=True, indexed=True),
    _core("instrument", "char", "Instrument (PDS3 INSTRUMENT_ID, PDS4 Observing_System_Component)",
          ucd="meta.id;instr", principal=True, indexed=True),
    _core("target", "char", "Target name(s)", ucd="meta.id;src", principal=True, indexed=True),
    _core("start_time", "char", "Start of the observation (ISO 8601, UTC)", ucd="time.start", principal=True,
          xtype="timestamp", indexed=True),
    _core("stop_time", "char", "End of the observation (ISO 8601, UTC)", ucd="time.end", xtype="timestamp"),
    _core("processing_level", "char", "Processing level"),
    _core("product_class", "char", "PDS4 product class, or PDS3 product type / first object"),
    _core("label_path", "char", "The label's path inside the volume"),
    _core("files", "char", "The data files the label names (JSON list of paths inside the volume)"),
    _core("size", "long", "Bytes of the label and its data files", unit="byte"),
    _core("datalabs_path", "char", "Where the label is inside a datalab: open it with pdr.read(datalabs_path)",
          ucd="meta.ref.url", principal=True),
)
CORE_NAMES = {column.name.lower() for column in CORE_COLUMNS}


def _products_source(dataset_ids: list[int]) -> str:
    ids = ", ".join(str(int(i)) for i in dataset_ids) or "NULL"
    return (f"(SELECT p.*, d.name AS volume FROM archive_products p JOIN datasets d ON d.id = p.dataset_id "
            f"WHERE p.dataset_id IN ({ids}))")


def volume_table_name(volume: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", volume.lower())


def extra_attribute_template(dialect: str) -> str:
    if dialect == "sqlite":
        return "json_extract({json}, '$.\"{key}\"')"
    return "({json} ->> '{key}')"


def attribute_column(dialect: str, name: str, datatype: str, unit: str, count: int | None = None,
                     indexed: bool = False, column_name: str | None = None) -> TapColumn:
    votable, arraysize, xtype = VOTABLE_TYPES.get(datatype, VOTABLE_TYPES["str"])
    description = f"Label attribute {name}" + (f" ({count} products)" if count is not None else "")
    if datatype == "list":
        description += "; a sequence, as JSON text"
    return TapColumn(name=column_name or name, sql=attribute_sql.typed_sql(dialect, JSON_COLUMN, name, datatype),
                     datatype=votable, arraysize=arraysize, xtype=xtype, unit=unit, description=description,
                     indexed=indexed)


_FINGERPRINT = text(
    "SELECT (SELECT max(id) FROM archive_scans WHERE state != 'running'), "
    "(SELECT count(*) FROM archive_scans WHERE state = 'running'), "
    "(SELECT count(*) FROM archive_tables), (SELECT max(updated_at) FROM archive_tables), "
    "(SELECT count(*) FROM archive_indexes), (SELECT max(created_at) FROM archive_indexes), "
    "(SELECT max(updated_at) FROM datasets)")


def catalogue_key(db: Session, actor: Actor | None) -> tuple:
    """What a caller's catalogue depends on: the volumes they can read and the state of scans, mapped tables,
    indexes and volumes (one small query), so a built catalogue can be reused until one of them changes."""
    visible = tuple(sorted(d.id for d in DatasetService(db).visible(actor)))
    return (str(db.get_bind().url), visible, tuple(db.execute(_FINGERPRINT).one()))


def build_catalogue(db: Session, actor: Actor | None) -> TapCatalogue:
    dialect = db.get_bind().dialect.name
    datasets = DatasetService(db).visible(actor)
    indexed = set(db.scalars(select(ArchiveIndex.attribute)))
    catalogue = TapCatalogue(dialect=dialect, schemas=[
        TapSchema("archive", "Every product of every archive volume you can read, with all its label attributes"),
        TapSchema("volume", "One table per archive volume: core columns and every attribute found in its labels"),
        TapSchema("mapped", "Named tables defined by mapping files (column -> label attribute)"),
    ])
    ids = [d.id for d in datasets]
    catalogue.tables.append(TapTable(
        schema="archive", name="products", source=_products_source(ids), columns=CORE_COLUMNS,
        description="Every product with its core columns; name any label attribute as a quoted column, "
                    "e.g. \"IMAGE_POI.ROSETTA:SURF_INT_CART_COORD\" (as JSON text for sequences)",
        extra_attributes=JSON_COLUMN, extra_attribute_sql=extra_attribute_template(dialect)))
    catalogue.tables.append(TapTable(
        schema="archive", name="label_problems", description="Labels that could not be read, and why",
        source=("(SELECT l.*, d.name AS volume FROM archive_label_problems l JOIN datasets d ON d.id = l.dataset_id "
                f"WHERE l.dataset_id IN ({', '.join(map(str, ids)) or 'NULL'}))"),
        columns=(_core("volume", "char", "The archive volume"), _core("path", "char", "The file, inside the volume"),
                 _core("reason", "char", "What is wrong"), _core("line", "int", "Line of the problem", sql='"line"'),
                 _core("column", "int", "Column of the problem", sql='"column"'),
                 _core("scanned_at", "char", "When the scan found it (ISO 8601)", xtype="timestamp"))))
    attributes = _attributes_by_volume(db, ids)
    for dataset in sorted(datasets, key=lambda d: d.name):
        columns = list(CORE_COLUMNS)
        for attribute in attributes.get(dataset.id, []):
            name = attribute.name if attribute.name.lower() not in CORE_NAMES else f"label:{attribute.name}"
            columns.append(attribute_column(dialect, attribute.name, attribute.datatype, attribute.unit,
                                            attribute.count, attribute.name in indexed, column_name=name))
        catalogue.tables.append(TapTable(
            schema="volume", name=volume_table_name(dataset.name), source=_products_source([dataset.id]),
            columns=tuple(columns), description=f"{dataset.title or dataset.name}: every label attribute"))
    for row in db.scalars(select(ArchiveTable).order_by(ArchiveTable.name)):
        spec = MappedTableSpec.from_dict(row.spec)
        visible = [d.id for d in datasets if not spec.match.get("volume") or d.name in spec.match["volume"]]
        catalogue.tables.append(mapped_table(spec, dialect, visible, indexed))
    return catalogue


def _attributes_by_volume(db: Session, ids: list[int]) -> dict[int, list[ArchiveAttribute]]:
    result: dict[int, list[ArchiveAttribute]] = {}
    if not ids:
        return result
    rows = db.scalars(select(ArchiveAttribute).where(ArchiveAttribute.dataset_id.in_(ids))
                      .order_by(ArchiveAttribute.dataset_id, ArchiveAttribute.name))
    for row in rows:
        result.setdefault(row.dataset_id, []).append(row)
    return result


# -- mapped tables ------------------------------------------------------------------------------------------------


def _core_value_sql(name: str, dialect: str) -> str:
    if name in ("label_name", "label_stem"):
        if dialect == "sqlite":
            base = "replace(label_path, rtrim(label_path, replace(label_path, '/', '')), '')"
            if name == "label_name":
                return base
            prefix = f"rtrim({base}, replace({base}, '.', ''))"  # up to and with the last dot
            return f"(CASE WHEN instr({base}, '.') > 0 THEN substr({prefix}, 1, length({prefix}) - 1) ELSE {base} END)"
        if name == "label_name":
            return "regexp_replace(label_path, '^.*/', '')"
        return "regexp_replace(regexp_replace(label_path, '^.*/', ''), '[.][^.]*$', '')"
    return name


def _glob_condition(column: str, values: list[str]) -> str:
    parts = []
    for value in values:
        quoted = value.replace("'", "''")
        if any(ch in value for ch in "*?"):
            pattern = (quoted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                       .replace("*", "%").replace("?", "_"))
            parts.append(f"{column} LIKE '{pattern}' ESCAPE '\\'")
        else:
            parts.append(f"{column} = '{quoted}'")
    return "(" + " OR ".join(parts) + ")"


def expression_sql(expression: str, columns: dict[str, str], dialect: str) -> str:
    """An ADQL value expression over the table's columns, as SQL over the product row."""
    from datalabs.tap.adql import parse_expression  # the ADQL dialect of the TAP service

    tree = parse_expression(expression, dialect)
    target = "postgres" if dialect == "postgresql" else dialect  # sqlglot's name
    lowered = {name.lower(): sql for name, sql in columns.items()}

    def substitute(node):
        if isinstance(node, sqlglot.exp.Column):
            sql = lowered.get(node.name.lower())
            if sql is None:
                raise ValueError(f"unknown column {node.name!r} (columns defined before this one: "
                                 f"{', '.join(columns) or 'none'})")
            return sqlglot.exp.Paren(this=sqlglot.parse_one(sql, read=target))
        return node

    return tree.transform(substitute).sql(dialect=target)


def mapped_columns_sql(spec: MappedTableSpec, dialect: str) -> dict[str, tuple[MappedColumn, str]]:
    result: dict[str, tuple[MappedColumn, str]] = {}
    for column in spec.columns:
        if column.kind == "attribute":
            sql = attribute_sql.typed_sql(dialect, JSON_COLUMN, column.source, column.datatype or "str", column.index)
        elif column.kind == "core":
            sql = _core_value_sql(column.source, dialect)
        else:
            sql = expression_sql(column.source, {name: s for name, (_, s) in result.items()}, dialect)
        result[column.name] = (column, sql)
    return result


def mapped_table(spec: MappedTableSpec, dialect: str, dataset_ids: list[int], indexed: set[str]) -> TapTable:
    columns_sql = mapped_columns_sql(spec, dialect)
    conditions = [_glob_condition(field, values) for field, values in spec.match.items() if field != "volume"]
    if spec.where:
        conditions.append(expression_sql(spec.where, {n: s for n, (_, s) in columns_sql.items()}, dialect))
    where = " AND ".join(conditions) or "1 = 1"
    source = f"(SELECT * FROM {_products_source(dataset_ids)} AS visible WHERE {where})"
    columns = []
    for name, (column, sql) in columns_sql.items():
        votable, arraysize, xtype = VOTABLE_TYPES.get(column.datatype or "str", VOTABLE_TYPES["str"])
        if column.kind == "core" and column.source in ("size",):
            votable, arraysize = "long", None
        columns.append(TapColumn(name=name, sql=sql, datatype=votable, arraysize=arraysize, xtype=xtype,
                                 unit=column.unit, ucd=column.ucd, principal=True,
                                 indexed=column.kind == "attribute" and column.source in indexed,
                                 description=column.description or _describe(column)))
    return TapTable(schema="mapped", name=spec.name, source=source, columns=tuple(columns),
                    description=spec.description or f"Mapped table {spec.name}")


def _describe(column: MappedColumn) -> str:
    if column.kind == "attribute":
        return f"Label attribute {column.source}" + (f"[{column.index}]" if column.index is not None else "")
    if column.kind == "core":
        return f"Core value {column.source}"
    return f"= {column.source}"
