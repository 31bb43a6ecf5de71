"""VOSI resources of the TAP service: capabilities, availability, tables (per caller)."""

from __future__ import annotations

from xml.etree import ElementTree

CAPS = "{http://www.ivoa.net/xml/VOSICapabilities/v1.0}"
TABLES = "{http://www.ivoa.net/xml/VOSITables/v1.0}"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def test_capabilities(tap_client, app):
    response = tap_client.get("/tap/capabilities")
    assert response.status_code == 200 and "xml" in response.headers["content-type"]
    root = ElementTree.fromstring(response.content)
    assert root.tag == f"{CAPS}capabilities"
    by_id = {cap.get("standardID"): cap for cap in root.findall("capability")}
    assert set(by_id) == {"ivo://ivoa.net/std/TAP", "ivo://ivoa.net/std/VOSI#capabilities",
                          "ivo://ivoa.net/std/VOSI#availability", "ivo://ivoa.net/std/VOSI#tables"}
    tap = by_id["ivo://ivoa.net/std/TAP"]
    assert tap.get(XSI_TYPE) == "tr:TableAccess"
    interface = tap.find("interface")
    assert interface.get("version") == "1.1" and interface.get("role") == "std"
    assert interface.find("accessURL").text == "http://testserver/tap"
    language = tap.find("language")
    assert language.find("name").text == "ADQL"
    assert [v.text for v in language.findall("version")] == ["2.0", "2.1"]
    assert language.findall("languageFeatures")
    assert {f.find("mime").text for f in tap.findall("outputFormat")} == {
        "application/x-votable+xml", "text/csv", "text/tab-separated-values", "application/json"}
    assert tap.find("outputLimit/default").text == "100000"
    assert tap.find("outputLimit/hard").text == str(app.state.settings.tap_max_maxrec)
    assert tap.find("executionDuration/default").text == "600"
    assert tap.find("retentionPeriod/default").text == str(7 * 86400)
    assert tap.find("uploadMethod") is None
    assert by_id["ivo://ivoa.net/std/VOSI#tables"].find("interface/accessURL").text == "http://testserver/tap/tables"


def test_availability(tap_client):
    root = ElementTree.fromstring(tap_client.get("/tap/availability").content)
    ns = "{http://www.ivoa.net/xml/VOSIAvailability/v1.0}"
    assert root.tag == f"{ns}availability" and root.find(f"{ns}available").text == "true"
    assert root.find(f"{ns}note").text


def _tables(tap_client, headers=None) -> dict[str, ElementTree.Element]:
    root = ElementTree.fromstring(tap_client.get("/tap/tables", headers=headers or {}).content)
    assert root.tag == f"{TABLES}tableset"
    return {table.find("name").text: table for schema in root.findall("schema") for table in schema.findall("table")}


def test_tables_lists_what_the_caller_may_query(tap_client, auth):
    anonymous = _tables(tap_client)
    assert {"TAP_SCHEMA.schemas", "TAP_SCHEMA.tables", "TAP_SCHEMA.columns", "TAP_SCHEMA.keys",
            "TAP_SCHEMA.key_columns", "archive.products", "volume.pubvol"} <= set(anonymous)
    assert "volume.secretvol" not in anonymous
    assert "volume.secretvol" not in _tables(tap_client, auth("bob"))
    assert "volume.secretvol" in _tables(tap_client, auth("alice"))
    columns = {c.find("name").text: c for c in anonymous["volume.pubvol"].findall("column")}
    exposure = columns["EXPOSURE"]
    assert exposure.find("unit").text == "s" and exposure.find("dataType").text == "double"
    assert '"IMAGE_POI.ROSETTA:X"' in columns
    keys = anonymous["TAP_SCHEMA.columns"].findall("foreignKey")
    assert keys[0].find("targetTable").text == "TAP_SCHEMA.tables"


def test_one_table(tap_client, auth):
    response = tap_client.get("/tap/tables/archive.products")
    root = ElementTree.fromstring(response.content)
    assert root.tag == f"{TABLES}table" and root.find("name").text == "archive.products"
    assert "identifier" in [c.find("name").text for c in root.findall("column")]
    assert tap_client.get("/tap/tables/volume.secretvol").status_code == 404
    assert tap_client.get("/tap/tables/volume.secretvol", headers=auth("alice")).status_code == 200
    assert tap_client.get("/tap/tables/nothing.here").status_code == 404
