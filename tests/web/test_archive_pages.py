"""The archive pages with the in-process client: /archive (volumes with counts and scans, the Scan button of
admins, the ADQL editor, the query builder's tables, the product search), a volume's label problems, and a
product's page (core fields, files, every attribute, the pdr snippet, the quicklook). The embargo rule: an
embargoed volume, its products and its problems are 404 to whoever is outside its team, as in the API.

Small synthetic PDS3 volumes keep most tests independent of ../shared; the OSIRIS test reads real labels.
The ADQL editor itself is exercised in a browser (test_archive_browser.py)."""

from __future__ import annotations

import html
import re

import pytest
from argon2 import PasswordHasher, profiles

from datalabs.accounts import secrets
from datalabs.archive.service import ArchiveService
from tests.archive.conftest import OSIRIS, needs_shared, scan_volume  # noqa: F401 - the fixture
from tests.web.conftest import csrf_of


def pds3_label(product_id: str, *, target: str = "MARS", start: str = "2020-01-01T00:00:00",
               extra: str = "") -> str:
    return (f'PDS_VERSION_ID = PDS3\nRECORD_TYPE = FIXED_LENGTH\nPRODUCT_ID = "{product_id}"\n'
            f'DATA_SET_ID = "TEST-M-CAM-2-EDR-V1.0"\nMISSION_NAME = "TEST MISSION"\nINSTRUMENT_ID = "CAM"\n'
            f'TARGET_NAME = "{target}"\nSTART_TIME = {start}\nSTOP_TIME = {start}\n'
            f'EXPOSURE_DURATION = 1.5 <s>\nFILTER_NUMBER = (1, 2, 3)\n{extra}'
            f'OBJECT = IMAGE\n  LINES = 2\n  LINE_SAMPLES = 2\n  SAMPLE_BITS = 8\nEND_OBJECT = IMAGE\nEND\n')


BROKEN_LABEL = "PDS_VERSION_ID = PDS3\nPRODUCT_ID = \"BROKEN\"\nTARGET_NAME = = MARS\nEND\n"


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch):
    monkeypatch.setattr(secrets, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def people(make_user):
    make_user("root", role="admin")
    make_user("alice", teams={"rosetta": False})
    make_user("bob")


def scan_as_admin(session_factory, name: str) -> None:
    """Scan a volume as the admin ``root`` (an embargoed volume is NotFound to ``actor=None``)."""
    from datalabs.accounts.actor import Actor
    from datalabs.accounts.service import AccountService

    with session_factory() as db:
        service = ArchiveService(db)
        service.run_scan(service.begin_scan(name, Actor.of(AccountService(db).user("root"))), workers=1)


@pytest.fixture
def volumes(make_volume, scan_volume, people, session_factory):
    """``pubvol`` (two products and a broken label) and ``secretvol`` (embargoed for rosetta), both scanned."""
    public = make_volume("pubvol", title="Public samples", files={
        "data/PUB_ONE.LBL": pds3_label("PUB_ONE", extra='NOTE = "first <b>bold</b>"\n'),
        "data/PUB_TWO.LBL": pds3_label("PUB_TWO", target="PHOBOS", start="2021-06-01T12:00:00"),
        "data/BROKEN.LBL": BROKEN_LABEL,
    })
    secret = make_volume("secretvol", private=True, teams=["rosetta"], title="Secret samples",
                         files={"SECRET_ONE.LBL": pds3_label("SECRET_ONE")})
    scan_volume("pubvol", public)
    scan_as_admin(session_factory, "secretvol")
    return public, secret


def product_key(client, identifier: str, headers=None) -> int:
    body = client.get("/api/v1/archive/products", params={"q": f'(identifier eq "{identifier}")', "fields": "x"},
                      headers=headers or {}).json()
    return body["data"][0]["product_key"]


def test_archive_page_renders_for_visitors_and_users(web, volumes):
    for http in (web(), web("alice"), web("root")):
        page = http.get("/archive")
        assert page.status_code == 200, page.text
        assert "Coming soon" not in page.text
        row = re.search(r'<tr id="volume-pubvol".*?</tr>', page.text, re.S).group(0)
        assert "Public samples" in row and "volume.pubvol" in row
        assert re.search(r'<td class="num">2</td>', row)  # products
        assert "/archive/volumes/pubvol/problems" in row and "completed" in row
        assert 'id="adql-query"' in page.text and "FROM archive.products" in page.text
        assert 'action="/tap/sync"' in page.text
        assert '<option value="archive.products"' in page.text and '<option value="volume.pubvol"' in page.text
    assert 'id="logout"' not in web().get("/archive").text


def test_the_adql_form_works_without_javascript(web, volumes):
    """Without the page's script the editor's form posts to /tap/sync and the result comes back as a VOTable."""
    page = web("bob").get("/archive")
    form = re.search(r'<form method="post" action="/tap/sync" id="adql-form">.*?</form>', page.text, re.S).group(0)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form))
    fields["QUERY"] = html.unescape(re.search(r'name="QUERY"[^>]*>(.*?)</textarea>', form, re.S).group(1))
    fields["MAXREC"] = re.search(r'name="MAXREC"[^>]*value="(\d+)"', form).group(1)
    for name, rows in (("bob", ["PUB_ONE", "PUB_TWO"]), ("alice", ["PUB_ONE", "PUB_TWO", "SECRET_ONE"])):
        result = web(name).post("/tap/sync", data=fields)  # with the login cookie, as the browser sends it
        assert result.status_code == 200 and "<VOTABLE" in result.text
        assert sorted(re.findall(r"<TR><TD>(\w+)</TD>", result.text)) == rows


def test_anonymous_visitors_log_in_when_anonymous_browse_is_off(settings, volumes):
    from datalabs.app import create_app
    from tests.conftest import in_process_client

    app = create_app(settings.model_copy(update={"anonymous_browse": False}))
    with in_process_client(app) as http:
        for path in ("/archive", "/archive/volumes/pubvol/problems", "/archive/products/PUB_ONE"):
            response = http.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


def test_an_embargoed_volume_is_invisible_outside_its_team(web, client, volumes, auth):
    secret_key = product_key(client, "SECRET_ONE", auth("alice"))
    for http in (web(), web("bob")):
        page = http.get("/archive")
        assert "secretvol" not in page.text and "Secret samples" not in page.text
        assert "volume.secretvol" not in page.text
        # the same answer as for a name never registered
        for asked, ghost, path in (("SECRET_ONE", "GHOST_ONE", "/archive/products/{}"),
                                   (str(secret_key), "999999", "/archive/products/{}"),
                                   ("secretvol", "ghostvol", "/archive/volumes/{}/problems")):
            response = http.get(path.format(asked))
            assert response.status_code == 404, path
            shown = re.sub(rf"(?<![\w#]){asked}(?!\w)", ghost, response.text)
            assert shown == http.get(path.format(ghost)).text
        found = http.get("/archive", params={"q": ""})
        assert "PUB_ONE" in found.text and "SECRET_ONE" not in found.text
        nothing = http.get("/archive", params={"q": '(identifier eq "SECRET_ONE")'})
        assert nothing.status_code == 200 and "0 products found" in nothing.text
    for http in (web("alice"), web("root")):
        page = http.get("/archive")
        assert "Secret samples" in page.text and "volume.secretvol" in page.text and "embargoed" in page.text
        assert http.get("/archive/products/SECRET_ONE").status_code == 200
        assert http.get(f"/archive/products/{secret_key}").status_code == 200
        assert http.get("/archive/volumes/secretvol/problems").status_code == 200
        assert "SECRET_ONE" in http.get("/archive", params={"q": '(identifier eq "SECRET_ONE")'}).text


def test_only_admins_see_and_use_the_scan_button(web, volumes, app):
    assert 'action="/archive/volumes/pubvol/scan"' not in web("alice").get("/archive").text
    assert 'action="/archive/volumes/pubvol/scan"' not in web().get("/archive").text

    alice = web("alice")
    refused = alice.post("/archive/volumes/pubvol/scan", data={"csrf_token": csrf_of(alice.get("/archive"))})
    assert refused.status_code == 403 and "Not allowed" not in refused.text  # the archive page, with the message
    assert 'role="alert"' in refused.text and "admin" in refused.text
    anonymous = web().post("/archive/volumes/pubvol/scan", data={})
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")

    root = web("root")
    page = root.get("/archive")
    assert 'action="/archive/volumes/pubvol/scan"' in page.text
    assert root.post("/archive/volumes/pubvol/scan", data={"csrf_token": "forged"}).status_code == 403
    done = root.post("/archive/volumes/pubvol/scan", data={"csrf_token": csrf_of(page)})
    assert done.status_code == 303 and done.headers["location"] == "/archive#volume-pubvol"
    app.state.archive_scans.wait(30)
    row = re.search(r'<tr id="volume-pubvol".*?</tr>', root.get("/archive").text, re.S).group(0)
    assert "completed" in row and "3 unchanged" in row
    ghost = root.post("/archive/volumes/ghost/scan", data={"csrf_token": csrf_of(page)})
    assert ghost.status_code == 404


def test_a_running_scan_shows_its_progress_and_refuses_a_second(web, volumes, session_factory):
    with session_factory() as db:
        scan = ArchiveService(db).begin_scan("pubvol", None)  # left running: no thread follows it
        scan.files_total, scan.files_done = 10, 4
        db.commit()
        scan_id = scan.id
    root = web("root")
    page = root.get("/archive")
    row = re.search(r'<tr id="volume-pubvol".*?</tr>', page.text, re.S).group(0)
    assert f'data-scan-url="/api/v1/archive/volumes/pubvol/scans/{scan_id}"' in row
    assert '<progress value="4" max="10"' in row and "running" in row
    assert re.search(r"<button[^>]*disabled[^>]*>Scan</button>", row, re.S)
    again = root.post("/archive/volumes/pubvol/scan", data={"csrf_token": csrf_of(page)})
    assert again.status_code == 409 and "being scanned already" in again.text


def test_the_problems_page_lists_path_line_column_and_reason(web, volumes, client):
    expected = client.get("/api/v1/archive/volumes/pubvol/problems").json()
    assert len(expected) == 1
    problem = expected[0]
    page = web().get("/archive/volumes/pubvol/problems")
    assert page.status_code == 200
    row = re.search(r'<table class="striped" id="problems">.*?</table>', page.text, re.S).group(0)
    assert 'href="/browse/data/pubvol/data/BROKEN.LBL"' in row
    assert f'<td class="num">{problem["line"]}</td>' in row
    assert f'<td class="num">{problem["column"] if problem["column"] is not None else ""}</td>' in row
    assert problem["reason"] in html.unescape(row)
    assert web().get("/archive/volumes/ghost/problems").status_code == 404
    empty = web("alice").get("/archive/volumes/secretvol/problems")
    assert "Every label of this volume could be read" in empty.text


def test_the_product_page_shows_fields_files_attributes_and_the_pdr_snippet(web, volumes, client):
    page = web().get("/archive/products/PUB_ONE")
    assert page.status_code == 200, page.text
    text = page.text
    assert '<h1 class="product-title">PUB_ONE</h1>' in text
    assert "TEST-M-CAM-2-EDR-V1.0" in text and "TEST MISSION" in text
    assert html.unescape(re.search(r'id="pdr-snippet"[^>]*value="([^"]*)"', text).group(1)) == \
        'pdr.read("/media/data/pubvol/data/PUB_ONE.LBL")'
    assert 'href="/browse/data/pubvol/data/PUB_ONE.LBL"' in text
    key = product_key(client, "PUB_ONE")
    assert f'src="/api/v1/archive/products/{key}/quicklook.png"' in text
    attributes = re.search(r'<table class="striped" id="attributes">.*?</table>', text, re.S).group(0)
    exposure = re.search(r'<tr data-name="EXPOSURE_DURATION">.*?</tr>', attributes, re.S).group(0)
    assert "1.5" in exposure and "<td>s</td>" in exposure
    filters = re.search(r'<tr data-name="FILTER_NUMBER">.*?</tr>', attributes, re.S).group(0)
    assert re.findall(r"<li>(\w+)</li>", filters) == ["1", "2", "3"]
    assert "first &lt;b&gt;bold&lt;/b&gt;" in attributes and "<b>bold" not in attributes
    assert 'id="attribute-filter"' in text
    by_key = web().get(f"/archive/products/{key}")
    assert by_key.status_code == 200 and '<h1 class="product-title">PUB_ONE</h1>' in by_key.text
    assert web().get("/archive/products/NO_SUCH_PRODUCT").status_code == 404


def test_the_product_search_uses_the_q_syntax_and_pages(web, volumes):
    http = web("alice")
    found = http.get("/archive", params={"q": '(TARGET_NAME eq "PHOBOS")'})
    assert found.status_code == 200
    results = re.search(r'<table class="striped" id="search-results">.*?</table>', found.text, re.S).group(0)
    assert "PUB_TWO" in results and "PUB_ONE" not in results
    assert '1 product found' in found.text
    everything = http.get("/archive", params={"q": ""})
    assert "3 products found" in everything.text  # pubvol's two and alice's team's secret one
    bad = http.get("/archive", params={"q": "(TARGET_NAME eq"})
    assert bad.status_code == 422 and 'id="search-error"' in bad.text and "invalid q" in bad.text


def test_paging_the_search_with_search_after(web, make_volume, scan_volume, people, monkeypatch):
    from datalabs.web import archive

    monkeypatch.setattr(archive, "SEARCH_PAGE", 2)
    root = make_volume("many", files={f"P{i}.LBL": pds3_label(f"P{i}") for i in range(5)})
    scan_volume("many", root)
    http = web()
    seen, url = [], "/archive?q="
    while url:
        page = http.get(url)
        seen += re.findall(r'<a href="/archive/products/\d+">(P\d)</a>', page.text)
        match = re.search(r'<a href="([^"]+)" id="search-next">', page.text)
        url = html.unescape(match.group(1)) if match else None
    assert sorted(seen) == [f"P{i}" for i in range(5)]


def test_the_osiris_product_page_shows_every_label_attribute(web, scan_volume, people, client):
    needs_shared()
    scan_volume("osiris", OSIRIS)
    cart_name = "IMAGE_POI.ROSETTA:SURF_INT_CART_COORD"
    found = client.get("/api/v1/archive/products", params={"limit": 100, "fields": cart_name}).json()["data"]
    item = next(item for item in found if isinstance(item["properties"][cart_name], list))
    product = client.get(f"/api/v1/archive/products/{item['product_key']}").json()
    page = web("alice").get(f"/archive/products/{item['identifier']}")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-name="([^"]+)">', page.text)
    assert sorted(html.unescape(r) for r in rows) == sorted(product["attributes"], key=str.lower) or \
        {html.unescape(r) for r in rows} == set(product["attributes"])
    assert "IMAGE_POI.ROSETTA:SURF_INT_CART_COORD" in rows
    cart = re.search(r'<tr data-name="IMAGE_POI.ROSETTA:SURF_INT_CART_COORD">.*?</tr>', page.text, re.S).group(0)
    values = product["attributes"]["IMAGE_POI.ROSETTA:SURF_INT_CART_COORD"]
    assert isinstance(values, list) and len(re.findall(r"<li>", cart)) == len(values)
    snippet = html.unescape(re.search(r'id="pdr-snippet"[^>]*value="([^"]*)"', page.text).group(1))
    assert snippet == f'pdr.read("{product["datalabs_path"]}")' and snippet.startswith('pdr.read("/media/data/osiris/')
