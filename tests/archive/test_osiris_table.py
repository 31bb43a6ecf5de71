"""The OSIRIS table of the osiris_zoo notebook, made by a mapping file and queried over TAP, equals the
notebook's own output (expected_values_osiris_zoo.csv) value for value."""

from __future__ import annotations

import csv
import io
import math

from tests.archive.conftest import OSIRIS, OSIRIS_MAPPING, needs_shared

NOTEBOOK_FILTER = "surf_int_x IS NOT NULL AND distance < 50"  # the notebook kept images with an intercept < 50 km


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def _same(column: str, ours: str, theirs: str) -> bool:
    if column in ("start_time", "stop_time"):
        return ours.replace("T", " ").rstrip("Z") == theirs
    try:
        theirs_number = float(theirs)
    except ValueError:
        return ours == theirs
    return math.isclose(float(ours), theirs_number, rel_tol=1e-12, abs_tol=1e-12)


def test_mapped_osiris_table_equals_the_notebooks_values(scan_volume, client):
    needs_shared()
    scan_volume("osiris", OSIRIS, mapping=OSIRIS_MAPPING.read_text())
    expected = _rows((OSIRIS / "expected_values_osiris_zoo.csv").read_text())
    response = client.post("/tap/sync", data={
        "REQUEST": "doQuery", "LANG": "ADQL", "FORMAT": "csv",
        "QUERY": f"SELECT * FROM mapped.osiris WHERE {NOTEBOOK_FILTER} ORDER BY filename"})
    assert response.status_code == 200, response.text
    ours = {row["filename"]: row for row in _rows(response.text)}
    assert sorted(ours) == sorted(row["filename"] for row in expected)
    for row in expected:
        mine = ours[row["filename"]]
        for column, value in row.items():
            assert _same(column, mine[column], value), (row["filename"], column, mine[column], value)
    assert all(row["datalabs_path"] == f"/media/data/osiris/{name}" for name, row in ours.items())


def test_mapped_table_is_described_with_units_in_tap_schema(scan_volume, client):
    needs_shared()
    scan_volume("osiris", OSIRIS, mapping=OSIRIS_MAPPING.read_text())
    response = client.post("/tap/sync", data={
        "REQUEST": "doQuery", "LANG": "ADQL", "FORMAT": "csv",
        "QUERY": "SELECT column_name, unit, datatype FROM TAP_SCHEMA.columns WHERE table_name = 'mapped.osiris'"})
    assert response.status_code == 200, response.text
    # TAP 1.1: a name that needs quoting in ADQL (DISTANCE is a reserved word) is listed quoted
    columns = {row["column_name"].strip('"'): row for row in _rows(response.text)}
    assert columns["distance"]["unit"] == "km" and columns["distance"]["datatype"] == "double"
    assert columns["phase_angle"]["unit"] == "deg"
    assert columns["prod_id"]["datatype"] == "char"
