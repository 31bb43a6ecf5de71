"""The archive page in a real headless Chromium, against a real uvicorn server: the volumes, an ADQL query run
through the editor at the TAP service (rows, paging, sorting, an error with its place, the download links),
the query builder, a product page opened from a result row (attribute filter, pdr snippet, no quicklook)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.archive.conftest import scan_volume  # noqa: F401 - the fixture
from tests.web.test_archive_pages import pds3_label
from tests.web.test_browser import browser, log_in, pytestmark  # noqa: F401 - the fixture and the marks

PRODUCTS = 60  # more than a page of results (50)


@pytest.fixture
def archive(make_user, make_volume, scan_volume):  # noqa: F811
    make_user("alice")
    labels = {f"data/IMG_{i:03d}.LBL": pds3_label(f"IMG_{i:03d}", target="PHOBOS" if i % 3 == 0 else "MARS",
                                                  start=f"2020-01-{1 + i % 28:02d}T00:00:{i % 60:02d}")
              for i in range(PRODUCTS)}
    root = make_volume("samples", title="Sample volume", files=labels)
    scan_volume("samples", root)


def tap_available(live_server: str) -> bool:
    """A real check: the TAP service answers a query in JSON."""
    try:
        query = {"REQUEST": "doQuery", "LANG": "ADQL", "FORMAT": "json",
                 "QUERY": "SELECT TOP 1 identifier FROM archive.products"}
        response = httpx.post(f"{live_server}/tap/sync", data=query, timeout=20)
        return response.status_code == 200 and "rows" in response.json()
    except (httpx.HTTPError, ValueError):
        return False


def test_query_the_archive_from_the_page(browser, live_server, archive):  # noqa: F811
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.set_default_timeout(20_000)
    try:
        log_in(page, live_server, "alice", "/archive")
        expect(page.get_by_role("heading", level=1)).to_have_text("Archive")
        volume = page.locator("#volume-samples")
        expect(volume).to_contain_text("Sample volume")
        expect(volume).to_contain_text("volume.samples")
        expect(volume.locator("td.num").first).to_have_text(str(PRODUCTS))
        expect(page.get_by_role("button", name="Scan samples")).to_have_count(0)  # not an admin

        if not tap_available(live_server):
            pytest.skip("TAP not available")

        # the example query: 20 rows, identifiers linked to their products
        page.get_by_role("button", name="Run", exact=True).click()
        rows = page.locator("#adql-results tbody tr")
        expect(rows).to_have_count(20)
        expect(page.locator("#adql-status")).to_contain_text("20 rows")
        expect(rows.first.get_by_role("link")).to_have_text(re.compile(r"^IMG_\d{3}$"))

        # all rows: two pages of 50, sorting in the page
        editor = page.get_by_label("ADQL query")
        editor.fill("SELECT identifier, target, product_key FROM archive.products")
        page.get_by_role("button", name="Run", exact=True).click()
        expect(page.locator("#adql-status")).to_contain_text(f"{PRODUCTS} rows, showing 1–50")
        expect(rows).to_have_count(50)
        page.get_by_role("button", name="Next page").click()
        expect(rows).to_have_count(PRODUCTS - 50)
        expect(page.locator("#adql-page")).to_have_text("Page 2 of 2")
        page.get_by_role("button", name="Sort by identifier").click()  # sorting starts again at page 1
        expect(page.locator("#adql-page")).to_have_text("Page 1 of 2")
        expect(rows.first.locator("td").first).to_have_text("IMG_000")
        page.get_by_role("button", name="Sort by identifier").click()
        expect(rows.first.locator("td").first).to_have_text(f"IMG_{PRODUCTS - 1:03d}")
        expect(page.locator("#adql-results th[aria-sort]")).to_have_attribute("aria-sort", "descending")

        # the download links repeat the query
        csv_href = page.get_by_role("link", name="CSV").get_attribute("href")
        params = parse_qs(urlsplit(csv_href).query)
        assert params["FORMAT"] == ["csv"] and params["QUERY"] == [editor.input_value()]
        csv = httpx.get(live_server + csv_href, timeout=20)
        assert csv.status_code == 200 and csv.text.count("IMG_") == PRODUCTS
        votable = page.get_by_role("link", name="VOTable").get_attribute("href")
        assert "<VOTABLE" in httpx.get(live_server + votable, timeout=20).text

        # an error: the ADQL message with its place, which can be selected in the editor
        editor.fill("SELECT identifier\nFROM archive.products\nWHERE nosuchcolumn = 1")
        page.get_by_role("button", name="Run", exact=True).click()
        error = page.locator("#adql-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text("nosuchcolumn")
        expect(error).to_contain_text(re.compile(r"line 3"))
        expect(page.locator("#adql-results-wrap")).to_be_hidden()
        error.get_by_role("button").click()
        selected = editor.evaluate("e => e.value.slice(e.selectionStart, e.selectionEnd)")
        assert selected == "nosuchcolumn"

        # MAXREC cuts the result, and the page says so
        editor.fill("SELECT identifier FROM archive.products")
        page.get_by_label("Rows at most (MAXREC)").fill("7")
        page.get_by_role("button", name="Run", exact=True).click()
        expect(page.locator("#adql-status")).to_contain_text("cut at MAXREC (7 rows)")
        expect(rows).to_have_count(7)
        page.get_by_label("Rows at most (MAXREC)").fill("1000")

        # the query builder writes the query into the editor: names that need quotes get them, numbers are numbers
        page.locator("#query-builder-box summary").click()
        page.get_by_label("Table").select_option("volume.samples")
        expect(page.locator('#qb-columns option[value="IMAGE.LINES"]')).to_have_count(1)
        page.get_by_label("Columns").select_option(["identifier", "IMAGE.LINES"])
        page.get_by_label("Column 1").select_option("IMAGE.LINES")
        page.get_by_label("Operator 1").select_option(">=")
        page.get_by_label("Value 1").fill("2")
        page.get_by_role("button", name="Write ADQL").click()
        assert editor.input_value() == ('SELECT TOP 100 identifier, "IMAGE.LINES"\nFROM volume.samples\n'
                                        'WHERE "IMAGE.LINES" >= 2')
        page.get_by_role("button", name="Run", exact=True).click()
        expect(page.locator("#adql-status")).to_contain_text(f"{PRODUCTS} rows")
        page.get_by_label("Value 1").fill("")
        page.get_by_label("Column 1").select_option("")
        page.get_by_label("Table").select_option("archive.products")
        expect(page.locator("#qb-columns option[value=identifier]")).to_have_count(1)
        page.get_by_label("Columns").select_option(["identifier", "target", "start_time"])
        page.get_by_label("Rows (TOP)").fill("500")
        page.get_by_label("Column 1").select_option("target")
        page.get_by_label("Operator 1").select_option("=")
        page.get_by_label("Value 1").fill("PHOBOS")
        page.get_by_label("Order by").select_option("start_time")
        page.get_by_role("button", name="Write ADQL").click()
        assert editor.input_value() == ("SELECT TOP 500 identifier, target, start_time\nFROM archive.products\n"
                                        "WHERE target = 'PHOBOS'\nORDER BY start_time")
        page.get_by_role("button", name="Run", exact=True).click()
        expect(page.locator("#adql-error")).to_be_hidden()
        expect(rows).to_have_count(PRODUCTS // 3)
        for cell in rows.locator("td:nth-child(2)").all_text_contents():
            assert cell == "PHOBOS"

        # a result row opens its product's page
        first = rows.first.get_by_role("link").text_content()
        rows.first.get_by_role("link").click()
        page.wait_for_url(re.compile(r".*/archive/products/IMG_\d{3}$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(first)
        expect(page.get_by_label("Python code that reads the product")).to_have_value(
            f'pdr.read("/media/data/samples/data/{first}.LBL")')
        expect(page.locator("#quicklook-missing")).to_be_visible()  # no image file beside the label
        expect(page.locator("#quicklook")).to_be_hidden()
        attributes = page.locator("#attributes tbody tr")
        total = attributes.count()
        assert total > 10
        page.get_by_label("Filter the attributes").fill("filter_num")
        expect(page.locator("#attributes tbody tr:visible")).to_have_count(1)
        expect(page.locator("#attribute-count")).to_contain_text(f"1 of {total} attributes")
        expect(page.locator("#attributes tbody tr:visible li")).to_have_count(3)
    finally:
        page.close()


def test_an_admin_starts_a_scan_and_the_page_follows_it(browser, live_server, archive, make_user,  # noqa: F811
                                                        session_factory):
    from playwright.sync_api import expect

    from datalabs.archive.models import ArchiveScan
    from datalabs.archive.service import ArchiveService
    from datalabs.db.base import utcnow

    make_user("root", role="admin")
    with session_factory() as db:  # a scan shown running (no thread drives it: the test moves it on)
        scan = ArchiveService(db).begin_scan("samples", None)
        scan.files_total, scan.files_done = 10, 4
        db.commit()
        scan_id = scan.id
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.set_default_timeout(20_000)
    try:
        log_in(page, live_server, "root", "/archive")
        cell = page.locator("#volume-samples .scan-cell")
        expect(cell.locator(".badge")).to_have_text("running")
        expect(cell.locator("progress")).to_have_attribute("value", "4")
        expect(page.get_by_role("button", name="Scan samples")).to_be_disabled()
        with session_factory() as db:
            scan = db.get(ArchiveScan, scan_id)
            scan.files_done = 7
            db.commit()
        expect(cell).to_contain_text("7 / 10 files read")  # polled
        assert cell.locator("progress").evaluate("bar => bar.value") == 7
        with session_factory() as db:
            scan = db.get(ArchiveScan, scan_id)
            scan.files_done, scan.state, scan.finished_at = 10, "completed", utcnow()
            db.commit()
        expect(cell.locator(".badge")).to_have_text("completed")
        expect(cell.locator("progress")).to_have_count(0)  # the page was reloaded when the scan ended

        page.get_by_role("button", name="Scan samples").click()  # a real scan, in the server's thread
        page.wait_for_url(f"{live_server}/archive#volume-samples")
        expect(cell.locator(".badge")).to_have_text("completed")
        expect(cell).to_contain_text(f"{PRODUCTS} unchanged")
    finally:
        page.close()
