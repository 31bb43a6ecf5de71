"""TAP synchronous queries (/tap/sync): results in every format, MAXREC and overflow, errors, embargo,
TAP_SCHEMA made per caller."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import text

from datalabs.db.engine import make_engine
from datalabs.tap import query as tap_query
from datalabs.tap.catalogue import TapCatalogue, TapColumn, TapSchema, TapTable
from datalabs.tap.tap_schema import with_tap_schema

IDS = "SELECT identifier FROM archive.products ORDER BY identifier"


def sync(client, adql: str, headers=None, method: str = "post", **params):
    data = {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": adql, **params}
    if method == "get":
        return client.get("/tap/sync", params=data, headers=headers or {})
    return client.post("/tap/sync", data=data, headers=headers or {})


def test_a_query_returns_a_votable_with_declared_field_metadata(tap_client, votable_of):
    response = sync(tap_client, "SELECT identifier, size, start_time FROM archive.products ORDER BY identifier")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-votable+xml")
    table = votable_of(response)
    assert table.statuses == [("OK", "")]
    assert table.column("identifier") == ["PUB-1", "PUB-2", "PUB-3"]
    assert table.column("size") == [100, 200, 300]
    fields = {field.name: field for field in table.table.fields}
    assert fields["size"].datatype == "long" and str(fields["size"].unit) == "byte"
    assert fields["start_time"].xtype == "timestamp" and fields["start_time"].ucd == "time.start"
    assert any(info.name == "QUERY" and "archive.products" in info.value for info in table.resource.infos)


def test_expressions_get_types_inferred_from_their_values(tap_client, votable_of):
    response = sync(tap_client, "SELECT COUNT(*) AS n, MAX(size) * 1.5 AS big FROM archive.products")
    table = votable_of(response)
    fields = {field.name: field.datatype for field in table.table.fields}
    assert fields == {"n": "long", "big": "double"}
    assert table.rows == [(3, 450.0)]


def test_parameter_names_are_case_insensitive_and_get_works(tap_client, votable_of):
    response = tap_client.get("/tap/sync", params={"request": "doQuery", "lang": "adql-2.1", "query": IDS,
                                                   "maxrec": "2"})
    table = votable_of(response)
    assert table.column("identifier") == ["PUB-1", "PUB-2"]
    assert [status for status, _ in table.statuses] == ["OK", "OVERFLOW"]


def test_overflow_is_reported_after_the_table(tap_client):
    body = sync(tap_client, IDS, MAXREC="1").text
    assert body.index('value="OK"') < body.index("<TABLE>") < body.index("</TABLE>") < body.index('value="OVERFLOW"')


def test_maxrec_zero_returns_the_metadata_only(tap_client, votable_of):
    # TAP 1.1 §2.7.4: MAXREC=0 asks for the metadata without running the query, so nothing is known of
    # overflow: the table is empty and QUERY_STATUS is OK
    table = votable_of(sync(tap_client, IDS, MAXREC="0"))
    assert table.field_names == ["identifier"]
    assert table.rows == []
    assert [status for status, _ in table.statuses] == ["OK"]


def test_no_overflow_when_everything_fits(tap_client, votable_of):
    table = votable_of(sync(tap_client, IDS, MAXREC="3"))
    assert len(table.rows) == 3 and [status for status, _ in table.statuses] == ["OK"]
    table = votable_of(sync(tap_client, "SELECT TOP 2 identifier FROM archive.products ORDER BY identifier"))
    assert len(table.rows) == 2 and [status for status, _ in table.statuses] == ["OK"]


def test_maxrec_is_held_to_the_hard_limit(tap_client, app, votable_of):
    app.state.settings.tap_max_maxrec = 2
    table = votable_of(sync(tap_client, IDS, MAXREC="1000"))
    assert len(table.rows) == 2 and table.statuses[-1][0] == "OVERFLOW"
    table = votable_of(sync(tap_client, IDS))  # the default is held to it too
    assert len(table.rows) == 2


@pytest.mark.parametrize("fmt,mime", [("csv", "text/csv"), ("text/csv", "text/csv")])
def test_csv(tap_client, fmt, mime):
    response = sync(tap_client, "SELECT identifier, size FROM archive.products ORDER BY identifier", FORMAT=fmt)
    assert response.headers["content-type"].startswith(mime)
    assert list(csv.reader(io.StringIO(response.text))) == [["identifier", "size"], ["PUB-1", "100"],
                                                            ["PUB-2", "200"], ["PUB-3", "300"]]


def test_tsv_and_json(tap_client):
    response = sync(tap_client, "SELECT identifier, size FROM archive.products ORDER BY identifier",
                    RESPONSEFORMAT="tsv")
    assert response.headers["content-type"].startswith("text/tab-separated-values")
    assert response.text.splitlines() == ["identifier\tsize", "PUB-1\t100", "PUB-2\t200", "PUB-3\t300"]
    response = sync(tap_client, "SELECT identifier, size FROM archive.products ORDER BY identifier",
                    RESPONSEFORMAT="application/json", MAXREC="2")
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert [column["name"] for column in body["columns"]] == ["identifier", "size"]
    assert body["columns"][1]["datatype"] == "long"
    assert body["rows"] == [["PUB-1", 100], ["PUB-2", 200]]
    assert body["overflow"] is True


def test_an_unknown_format_is_an_error_document(tap_client, votable_of):
    response = sync(tap_client, IDS, FORMAT="fits")
    assert response.status_code == 400
    status, message = votable_of(response).statuses[0]
    assert status == "ERROR" and "unsupported output format 'fits'" in message


def test_an_adql_error_says_where(tap_client, votable_of):
    response = sync(tap_client, "SELECT identifier FROM archive.products WHERE")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/x-votable+xml")
    status, message = votable_of(response).statuses[0]
    assert status == "ERROR"
    assert "line 1" in message and "column" in message


def test_an_unknown_table_is_an_error(tap_client, votable_of):
    status, message = votable_of(sync(tap_client, "SELECT * FROM archive.nothing")).statuses[0]
    assert status == "ERROR" and "nothing" in message


@pytest.mark.parametrize("params,expected", [
    ({"LANG": "SQL"}, "unsupported LANG"),
    ({"REQUEST": "getCapabilities"}, "only doQuery"),
    ({"UPLOAD": "t,http://example.org/t.xml"}, "UPLOAD is not supported"),
    ({"MAXREC": "many"}, "MAXREC must be a whole number"),
    ({"QUERY": ""}, "QUERY parameter is missing"),
])
def test_bad_parameters_are_error_documents(tap_client, votable_of, params, expected):
    response = sync(tap_client, IDS, **params)
    assert response.status_code == 400
    status, message = votable_of(response).statuses[0]
    assert status == "ERROR" and expected in message


def test_embargoed_products_are_seen_by_the_allowed_team_only(tap_client, auth, votable_of):
    everything = "SELECT identifier FROM archive.products ORDER BY identifier"
    public = ["PUB-1", "PUB-2", "PUB-3"]
    assert votable_of(sync(tap_client, everything)).column("identifier") == public
    assert votable_of(sync(tap_client, everything, headers=auth("bob"))).column("identifier") == public
    assert votable_of(sync(tap_client, everything, headers=auth("alice"))).column("identifier") == \
        public + ["SECRET-1", "SECRET-2"]


def test_an_invalid_token_is_refused_as_an_error_document(tap_client, votable_of):
    response = sync(tap_client, IDS, headers={"Authorization": "Bearer dlt_nonsense"})
    assert response.status_code == 401
    assert votable_of(response).statuses[0][0] == "ERROR"


def test_tap_schema_lists_what_the_caller_may_query(tap_client, auth, votable_of):
    tables = "SELECT table_name FROM TAP_SCHEMA.tables ORDER BY table_index"
    anonymous = votable_of(sync(tap_client, tables)).column("table_name")
    member = votable_of(sync(tap_client, tables, headers=auth("alice"))).column("table_name")
    assert anonymous[:5] == ["TAP_SCHEMA.schemas", "TAP_SCHEMA.tables", "TAP_SCHEMA.columns", "TAP_SCHEMA.keys",
                             "TAP_SCHEMA.key_columns"]
    assert "archive.products" in anonymous and "volume.pubvol" in anonymous
    assert "volume.secretvol" not in anonymous
    assert "volume.secretvol" in member
    columns = votable_of(sync(tap_client, "SELECT column_name, datatype, arraysize, unit, principal, std, "
                                          "column_index FROM TAP_SCHEMA.columns WHERE table_name = 'volume.pubvol' "
                                          "ORDER BY column_index"))
    names = columns.column("column_name")
    assert '"IMAGE_POI.ROSETTA:X"' in names and "EXPOSURE" in names
    assert "SECRET_ATTR" not in votable_of(sync(tap_client, "SELECT column_name FROM TAP_SCHEMA.columns")) \
        .column("column_name")
    exposure = columns.rows[names.index("EXPOSURE")]
    assert exposure[1:4] == ("double", "", "s")
    assert columns.column("column_index") == list(range(len(names)))


def test_tap_schema_describes_itself(tap_client, votable_of):
    rows = votable_of(sync(tap_client, "SELECT column_name, datatype, std FROM TAP_SCHEMA.columns "
                                       "WHERE table_name = 'TAP_SCHEMA.columns' ORDER BY column_index")).rows
    assert [row[0] for row in rows][:3] == ["table_name", "column_name", "utype"]
    assert "column_index" in [row[0] for row in rows]
    assert all(row[2] == 1 for row in rows)
    keys = votable_of(sync(tap_client, "SELECT from_table, target_table FROM TAP_SCHEMA.keys")).rows
    assert ("TAP_SCHEMA.columns", "TAP_SCHEMA.tables") in keys
    schemas = votable_of(sync(tap_client, "SELECT schema_name FROM TAP_SCHEMA.schemas")).column("schema_name")
    assert schemas[0] == "TAP_SCHEMA" and "archive" in schemas


def test_tap_schema_copes_with_thousands_of_columns(settings):
    columns = tuple(TapColumn(f"attr_{i}", f"attr_{i}", "double", unit="m", description="it's 'quoted'")
                    for i in range(3000))
    catalogue = with_tap_schema(TapCatalogue(
        "postgresql" if settings.sqlalchemy_url.startswith("postgresql") else "sqlite",
        [TapSchema("wide")], [TapTable("wide", "t", "(SELECT 1 AS x)", columns)]))
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            tap_columns = catalogue.table("TAP_SCHEMA.columns")
            count = connection.execute(text(f"SELECT COUNT(*), SUM(column_index), MAX(description) "
                                            f"FROM {tap_columns.source} AS c WHERE table_name = 'wide.t'")).one()
            keys = catalogue.table("TAP_SCHEMA.key_columns")
            assert connection.execute(text(f"SELECT COUNT(*) FROM {keys.source} AS k")).scalar() == 5
    finally:
        engine.dispose()
    assert tuple(count) == (3000, sum(range(3000)), "it's 'quoted'")


def test_a_query_past_its_time_limit_is_stopped(tap_client, app, votable_of):
    app.state.settings.tap_sync_timeout_seconds = 0.05
    slow = ("SELECT COUNT(*) FROM TAP_SCHEMA.columns AS a, TAP_SCHEMA.columns AS b, TAP_SCHEMA.columns AS c, "
            "TAP_SCHEMA.columns AS d")
    response = sync(tap_client, slow)
    assert response.status_code == 400
    status, message = votable_of(response).statuses[0]
    assert status == "ERROR" and "time limit" in message


def test_queries_cannot_write(app, tap_data):
    class Translation:
        sql = "DELETE FROM archive_products"
        columns: list = []

    with pytest.raises(tap_query.QueryError):
        tap_query.run(app.state.engine, Translation(), maxrec=10, timeout_seconds=5)
    with app.state.engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM archive_products")).scalar() == 5


def test_the_votable_writer_copes_with_awkward_values(votable_of):
    from datalabs.tap import votable
    from datalabs.tap.adql import ResultColumn

    class Body:
        def __init__(self, content: bytes) -> None:
            self.content = content

    columns = [ResultColumn("name", TapColumn("name", "name", "char", arraysize="*")),
               ResultColumn("flag", TapColumn("flag", "flag", "boolean")),
               ResultColumn("x", None), ResultColumn("attrs", None)]
    rows = [("Ganymède <&> \x01", 1, float("nan"), {"A": [1, 2]}), (None, 0, 2.5, None), ("b", None, None, "c")]
    document = b"".join(votable.iter_document(votable.output_format("votable"), columns, rows, overflow=False))
    table = votable_of(Body(document))
    assert [field.datatype for field in table.table.fields] == ["unicodeChar", "boolean", "double", "char"]
    assert table.column("name")[0] == "Ganymède <&> \ufffd"
    assert table.column("flag")[:2] == [True, False]
    assert table.column("x")[1] == 2.5
    assert table.column("attrs")[0] == '{"A": [1, 2]}'
    error = votable.error_document("bad <query> & more")
    assert votable_of(Body(error)).statuses == [("ERROR", "bad <query> & more")]
