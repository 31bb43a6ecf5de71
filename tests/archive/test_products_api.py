"""The archive REST routes: PDS-Search-API-style product queries, product pages, scans started by admins,
mapped tables and indexes, and the embargo rule on all of them."""

from __future__ import annotations

import time

import pytest

from tests.archive.conftest import OSIRIS, OSIRIS_MAPPING, SHARED_PDS, needs_shared


@pytest.fixture
def osiris(scan_volume):
    needs_shared()
    return scan_volume("osiris", OSIRIS, mapping=OSIRIS_MAPPING.read_text())


def _all_phase_angles(client):
    body = client.get("/api/v1/archive/products", params={"fields": "PHASE_ANGLE", "limit": 1000}).json()
    return {item["identifier"]: item["properties"]["PHASE_ANGLE"] for item in body["data"]}


def test_q_filters_on_any_attribute_with_the_registry_grammar(osiris, client):
    angles = _all_phase_angles(client)
    expected = sorted(ident for ident, angle in angles.items() if isinstance(angle, float) and angle > 90)
    assert expected and len(expected) < len(angles)
    body = client.get("/api/v1/archive/products", params={
        "q": '(INSTRUMENT_ID eq "OSINAC") and (PHASE_ANGLE gt 90)', "fields": "PHASE_ANGLE,START_TIME",
        "limit": 1000}).json()
    assert sorted(item["identifier"] for item in body["data"]) == expected
    assert body["summary"]["hits"] == len(expected)
    first = body["data"][0]
    assert set(first["properties"]) == {"PHASE_ANGLE", "START_TIME"}
    assert first["datalabs_path"].startswith("/media/data/osiris/")
    namespaced = client.get("/api/v1/archive/products", params={
        "q": 'IMAGE_POI.ROSETTA:SURFACE_INTERCEPT_DISTANCE lt 20', "limit": 1000}).json()
    for item in namespaced["data"]:
        assert item["properties"]["IMAGE_POI.ROSETTA:SURFACE_INTERCEPT_DISTANCE"] < 20


def test_pages_with_search_after_cover_every_product_once_and_facets_count(osiris, client):
    seen, after = [], None
    while True:
        params = {"limit": 10, "fields": "PRODUCT_ID"}
        if after:
            params["search-after"] = ",".join(after)
        body = client.get("/api/v1/archive/products", params=params).json()
        seen += [item["product_key"] for item in body["data"]]
        after = body["summary"]["search_after"]
        if not after:
            break
    assert len(seen) == len(set(seen)) == 35
    sorted_page = client.get("/api/v1/archive/products", params={"sort": "start_time", "limit": 35}).json()
    times = [item["start_time"] for item in sorted_page["data"]]
    assert times == sorted(times)
    facets = client.get("/api/v1/archive/products", params={"facet-fields": "data_set,TARGET_TYPE",
                                                            "limit": 0}).json()["summary"]["facets"]
    by_field = {facet["property"]: facet["counts"] for facet in facets}
    assert sum(by_field["data_set"].values()) == 35 and len(by_field["data_set"]) == 35
    assert by_field["TARGET_TYPE"] == {"COMET": 35}


def test_bad_queries_say_what_is_wrong_and_where(osiris, client):
    response = client.get("/api/v1/archive/products", params={"q": '(PHASE_ANGLE equals 3)'})
    assert response.status_code == 422
    assert "position" in response.json()["error"]["message"] and "equals" in response.json()["error"]["message"]
    response = client.get("/api/v1/archive/products", params={"q": "X' eq 1"})
    assert response.status_code == 422
    assert client.get("/api/v1/archive/products", params={"limit": 100001}).status_code == 422
    assert client.get("/api/v1/archive/products", params={"search-after": "abc"}).status_code == 422


def test_a_product_page_has_every_attribute_with_units(osiris, client):
    product = client.get("/api/v1/archive/products/N20140916T011808794ID30F16.FIT").json()
    assert product["volume"] == "osiris" and product["label_format"] == "PDS3"
    assert product["attributes"]["IMAGE_POI.ROSETTA:SURF_INT_CART_COORD"] == [-1.516, 0.23, -0.179]
    assert product["units"]["PHASE_ANGLE"].lower() == "deg"
    assert product["files"] == [] or all(f.endswith(".FIT") for f in product["files"])
    by_key = client.get(f"/api/v1/archive/products/{product['product_key']}").json()
    assert by_key["identifier"] == product["identifier"]
    assert client.get("/api/v1/archive/products/NOPE").status_code == 404


def test_embargoed_products_are_invisible_to_others(scan_volume, client, make_user, auth, make_volume):
    needs_shared()
    make_user("alice", teams={"osiris-team": False})
    make_user("bob")
    scan_volume("secret", OSIRIS, private=True, teams=("osiris-team",))
    assert client.get("/api/v1/archive/products", params={"limit": 5}).json()["data"] == []
    assert client.get("/api/v1/archive/products", headers=auth("bob")).json()["summary"]["hits"] == 0
    assert client.get("/api/v1/archive/products", headers=auth("alice")).json()["summary"]["hits"] == 35
    key = client.get("/api/v1/archive/products", headers=auth("alice")).json()["data"][0]["product_key"]
    assert client.get(f"/api/v1/archive/products/{key}", headers=auth("bob")).status_code == 404
    assert client.get(f"/api/v1/archive/products/{key}", headers=auth("alice")).status_code == 200
    facets = client.get("/api/v1/archive/products", params={"facet-fields": "volume"},
                        headers=auth("bob")).json()["summary"]["facets"]
    assert facets[0]["counts"] == {}
    assert client.get("/api/v1/archive/volumes/secret/attributes", headers=auth("bob")).status_code == 404
    assert client.get("/api/v1/archive/volumes/secret/attributes", headers=auth("alice")).status_code == 200


def test_only_admins_scan_define_tables_and_index(client, make_user, auth, make_volume):
    needs_shared()
    make_user("root", role="admin")
    make_user("carol")
    registered = client.post("/api/v1/datasets", headers=auth("root"),
                             json={"name": "osiris", "path": str(OSIRIS)})
    assert registered.status_code in (200, 201), registered.text
    assert client.post("/api/v1/archive/volumes/osiris/scans", headers=auth("carol")).status_code == 403
    started = client.post("/api/v1/archive/volumes/osiris/scans", headers=auth("root"))
    assert started.status_code == 202, started.text
    scan_id = started.json()["id"]
    deadline = time.monotonic() + 60
    while True:
        scan = client.get(f"/api/v1/archive/volumes/osiris/scans/{scan_id}").json()
        if scan["state"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert scan["state"] == "completed" and scan["indexed"] == 35 and scan["files_done"] == scan["files_total"]
    volumes = client.get("/api/v1/archive/volumes").json()
    assert volumes[0]["products"] == 35 and volumes[0]["tap_table"] == "volume.osiris"

    mapping = OSIRIS_MAPPING.read_text()
    headers = {"Content-Type": "application/yaml"}
    assert client.put("/api/v1/archive/tables", content=mapping,
                      headers={**headers, **auth("carol")}).status_code == 403
    defined = client.put("/api/v1/archive/tables", content=mapping, headers={**headers, **auth("root")})
    assert defined.status_code == 200, defined.text
    assert defined.json()[0]["tap_table"] == "mapped.osiris"
    broken = client.put("/api/v1/archive/tables", content="tables:\n  - name: x\n    columns: {a: 'B[x'}\n",
                        headers={**headers, **auth("root")})
    assert broken.status_code == 422 and "column a" in broken.json()["error"]["message"]
    bad_expr = client.put("/api/v1/archive/tables",
                          content="tables:\n  - name: y\n    columns: {a: PHASE_ANGLE, b: {expr: 'nope * 2'}}\n",
                          headers={**headers, **auth("root")})
    assert bad_expr.status_code == 422 and "nope" in bad_expr.json()["error"]["message"]

    assert client.post("/api/v1/archive/indexes", json={"attribute": "PHASE_ANGLE"},
                       headers=auth("carol")).status_code == 403
    made = client.post("/api/v1/archive/indexes", json={"attribute": "PHASE_ANGLE"}, headers=auth("root"))
    assert made.status_code == 201, made.text
    assert [i["attribute"] for i in client.get("/api/v1/archive/indexes").json()] == ["PHASE_ANGLE"]
    assert client.post("/api/v1/archive/indexes", json={"attribute": "NO_SUCH_THING"},
                       headers=auth("root")).status_code == 404
    assert client.delete("/api/v1/archive/indexes/PHASE_ANGLE", headers=auth("root")).status_code == 204


def test_quicklook_of_an_image_product_is_a_png(scan_volume, client):
    needs_shared()
    scan_volume("cassis", SHARED_PDS / "pds4" / "tgo_cassis")
    products = {p["datalabs_path"].rsplit("/", 1)[-1]: p for p in
                client.get("/api/v1/archive/products", params={"limit": 50}).json()["data"]}
    image = products["MY36_015782_024_0_PAN_cropped.xml"]
    response = client.get(f"/api/v1/archive/products/{image['product_key']}/quicklook.png")
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"\x89PNG") and response.headers["content-type"] == "image/png"
    again = client.get(f"/api/v1/archive/products/{image['product_key']}/quicklook.png")
    assert again.content == response.content  # from the cache
    broken = products["CAS-MCO-2016-11-26T22.50.27.381-BLU-03005-B1.xml"]
    failed = client.get(f"/api/v1/archive/products/{broken['product_key']}/quicklook.png")
    assert failed.status_code == 422 and "pdr could not read" in failed.json()["error"]["message"]
