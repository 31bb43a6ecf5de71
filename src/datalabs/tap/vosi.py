"""VOSI documents of the TAP service: capabilities (TAPRegExt TableAccess), availability and the tableset
(every schema, table and column the caller may query, TAP_SCHEMA included; names as TAP_SCHEMA gives them).
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from datalabs import __version__
from datalabs.settings import Settings
from datalabs.tap import votable
from datalabs.tap.catalogue import TapCatalogue, TapColumn, TapTable
from datalabs.tap.tap_schema import adql_name, qualified_adql_name

XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
VS = 'xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1"'
FEATURES = "ivo://ivoa.net/std/TAPRegExt#features-"
OUTPUT_IDS = {"votable": "ivo://ivoa.net/std/TAPRegExt#output-votable-td"}
# ADQL 2.1 made COALESCE (mandatory in 2.0) an optional feature of this type, which taplint 3.4.7 (Debian's
# STILTS, our validator) reports as an unknown key - an error. COALESCE works either way; it is not declared.
UNDECLARED_FEATURES = {FEATURES + "adql-conditional"}


def _features(supported) -> dict[str, list[tuple[str, str]]]:
    """adql.SUPPORTED_FUNCTIONS as {feature type: [(form, description)]}: a mapping of type to forms, or a
    flat collection of function names (then listed as geometry or user-defined functions)."""
    result: dict[str, list[tuple[str, str]]] = {}
    if isinstance(supported, dict):
        for key, forms in supported.items():
            if isinstance(forms, str):  # {name: description}
                result.setdefault(FEATURES + "udf", []).append((str(key), forms))
                continue
            feature_type = key if str(key).startswith("ivo://") else FEATURES + str(key)
            items = forms.items() if isinstance(forms, dict) else ((form, "") for form in forms)
            result.setdefault(feature_type, []).extend((str(form), str(text)) for form, text in items)
        return result
    geometry = {"AREA", "BOX", "CENTROID", "CIRCLE", "CONTAINS", "COORD1", "COORD2", "COORDSYS", "DISTANCE",
                "INTERSECTS", "POINT", "POLYGON", "REGION"}
    for name in supported or ():
        kind = "adqlgeo" if str(name).upper() in geometry else "udf"
        result.setdefault(FEATURES + kind, []).append((str(name), ""))
    return result


def capabilities_xml(base_url: str, settings: Settings) -> str:
    """VOSI capabilities: TAP 1.1 (TAPRegExt TableAccess) and the three VOSI endpoints."""
    from datalabs.tap import adql

    features = []
    for feature_type, forms in _features(getattr(adql, "SUPPORTED_FUNCTIONS", ())).items():
        if feature_type in UNDECLARED_FEATURES:
            continue
        items = "".join(f"<feature><form>{escape(form)}</form>"
                        + (f"<description>{escape(text)}</description>" if text else "") + "</feature>"
                        for form, text in forms)
        features.append(f'<languageFeatures type="{feature_type}">{items}</languageFeatures>\n')
    formats = []
    for fmt in votable.FORMATS:
        ivo_id = f' ivo-id="{OUTPUT_IDS[fmt.name]}"' if fmt.name in OUTPUT_IDS else ""
        formats.append(f"<outputFormat{ivo_id}><mime>{escape(fmt.mime)}</mime><alias>{fmt.name}</alias>"
                       "</outputFormat>\n")
    retention = int(settings.tap_job_lifetime_days * 86400)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0" {XSI} {VS} '
        'xmlns:vr="http://www.ivoa.net/xml/VOResource/v1.0" xmlns:tr="http://www.ivoa.net/xml/TAPRegExt/v1.0">\n'
        '<capability standardID="ivo://ivoa.net/std/TAP" xsi:type="tr:TableAccess">\n'
        '<interface xsi:type="vs:ParamHTTP" role="std" version="1.1">'
        f'<accessURL use="base">{escape(base_url)}</accessURL></interface>\n'
        "<language><name>ADQL</name>"
        '<version ivo-id="ivo://ivoa.net/std/ADQL#v2.0">2.0</version>'
        '<version ivo-id="ivo://ivoa.net/std/ADQL#v2.1">2.1</version>'
        "<description>ADQL 2.1 over the archive's label metadata</description>\n"
        + "".join(features) + "</language>\n"
        + "".join(formats)
        + f"<retentionPeriod><default>{retention}</default><hard>{retention}</hard></retentionPeriod>\n"
        f"<executionDuration><default>{settings.tap_execution_duration_seconds}</default>"
        f"<hard>{settings.tap_max_execution_duration_seconds}</hard></executionDuration>\n"
        f'<outputLimit><default unit="row">{min(settings.tap_default_maxrec, settings.tap_max_maxrec)}</default>'
        f'<hard unit="row">{settings.tap_max_maxrec}</hard></outputLimit>\n'
        "</capability>\n"
        + "".join(
            f'<capability standardID="ivo://ivoa.net/std/VOSI#{name}">'
            f'<interface xsi:type="vs:ParamHTTP" role="std"><accessURL use="full">{escape(base_url)}/{name}'
            "</accessURL></interface></capability>\n"
            for name in ("capabilities", "availability", "tables"))
        + "</vosi:capabilities>\n"
    )


def availability_xml() -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">'
            "<vosi:available>true</vosi:available>"
            f"<vosi:note>datalabs {escape(__version__)}: the TAP service is accepting queries</vosi:note>"
            "</vosi:availability>\n")


def _column_xml(column: TapColumn) -> str:
    std = ' std="true"' if column.std else ""
    parts = [f"<column{std}><name>{escape(adql_name(column.name))}</name>"]
    for tag, value in (("description", column.description), ("unit", column.unit), ("ucd", column.ucd),
                       ("utype", column.utype)):
        if value:
            parts.append(f"<{tag}>{escape(value)}</{tag}>")
    arraysize = f" arraysize={quoteattr(column.arraysize)}" if column.arraysize else ""
    # VODataService 1.1 (what validators read) has the xtype as dataType's extendedType
    xtype = f" extendedType={quoteattr(column.xtype)}" if column.xtype else ""
    parts.append(f'<dataType xsi:type="vs:VOTableType"{arraysize}{xtype}>{escape(column.datatype)}</dataType>')
    if column.indexed:
        parts.append("<flag>indexed</flag>")
    if column.principal:
        parts.append("<flag>principal</flag>")
    return "".join(parts) + "</column>\n"


def _table_body(table: TapTable) -> str:
    parts = [f"<name>{escape(qualified_adql_name(table))}</name>"]
    if table.description:
        parts.append(f"<description>{escape(table.description)}</description>")
    if table.utype:
        parts.append(f"<utype>{escape(table.utype)}</utype>")
    parts.append("\n")
    parts.extend(_column_xml(column) for column in table.columns)
    for key in table.foreign_keys:
        target_schema, _, target_name = key.target_table.partition(".")
        target = f"{adql_name(target_schema)}.{adql_name(target_name)}" if target_name else key.target_table
        pairs = "".join(f"<fkColumn><fromColumn>{escape(adql_name(a))}</fromColumn>"
                        f"<targetColumn>{escape(adql_name(b))}</targetColumn></fkColumn>" for a, b in key.columns)
        description = f"<description>{escape(key.description)}</description>" if key.description else ""
        parts.append(f"<foreignKey><targetTable>{escape(target)}</targetTable>{pairs}{description}</foreignKey>\n")
    return "".join(parts)


def tableset_xml(catalogue: TapCatalogue) -> str:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n'
             f'<vosi:tableset xmlns:vosi="http://www.ivoa.net/xml/VOSITables/v1.0" {XSI} {VS}>\n']
    for schema in catalogue.schemas:
        tables = [table for table in catalogue.tables if table.schema == schema.name]
        parts.append(f"<schema><name>{escape(adql_name(schema.name))}</name>")
        if schema.description:
            parts.append(f"<description>{escape(schema.description)}</description>")
        if schema.utype:
            parts.append(f"<utype>{escape(schema.utype)}</utype>")
        parts.append("\n")
        for table in tables:
            parts.append(f'<table type="{escape(table.table_type)}">{_table_body(table)}</table>\n')
        parts.append("</schema>\n")
    parts.append("</vosi:tableset>\n")
    return "".join(parts)


def table_xml(table: TapTable) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<vosi:table xmlns:vosi="http://www.ivoa.net/xml/VOSITables/v1.0" {XSI} {VS} '
            f'type="{escape(table.table_type)}">{_table_body(table)}</vosi:table>\n')
