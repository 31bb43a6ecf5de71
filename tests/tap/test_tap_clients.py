"""Real TAP clients against a real server (``live_server``): pyvo, astroquery's TapPlus and STILTS taplint."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import requests

QUERY = "SELECT identifier, size FROM archive.products ORDER BY identifier"


@pytest.fixture
def tap_url(live_server, tap_data) -> str:
    return f"{live_server}/tap"


def test_pyvo_sync_async_tables_and_capabilities(tap_url):
    import pyvo

    service = pyvo.dal.TAPService(tap_url)
    result = service.search(QUERY)
    assert [row["identifier"] for row in result] == ["PUB-1", "PUB-2", "PUB-3"]
    assert service.search(QUERY, maxrec=2).to_table()["identifier"].tolist() == ["PUB-1", "PUB-2"]

    job = service.submit_job("SELECT COUNT(*) AS n FROM archive.products")
    job.run()
    job.wait(phases=["COMPLETED", "ERROR", "ABORTED"], timeout=30)
    job.raise_if_error()
    assert job.fetch_result().to_table()["n"].tolist() == [3]
    job.delete()

    result = service.run_async(QUERY)
    assert len(result) == 3

    tables = service.tables
    assert "archive.products" in tables.keys() and "TAP_SCHEMA.columns" in tables.keys()
    assert "identifier" in [column.name for column in tables["archive.products"].columns]
    standard_ids = [capability.standardid for capability in service.capabilities]
    assert "ivo://ivoa.net/std/TAP" in standard_ids
    assert service.maxrec == 100000 and service.hardlimit == 10000000


def test_pyvo_reports_adql_errors(tap_url):
    import pyvo

    service = pyvo.dal.TAPService(tap_url)
    with pytest.raises(pyvo.dal.DALQueryError) as raised:
        service.search("SELECT identifier FROM archive.products WHERE")
    assert "ADQL error at line 1" in str(raised.value)
    with pytest.raises(pyvo.dal.DALQueryError) as raised:
        service.run_async("SELECT FROM WHERE")
    assert "ADQL error" in str(raised.value)


def test_pyvo_with_a_token_sees_the_embargoed_products_of_its_team(tap_url, token_for):
    import pyvo

    def identifiers(user: str | None) -> list[str]:
        session = requests.Session()
        if user:
            session.headers["Authorization"] = f"Bearer {token_for(user)}"
        service = pyvo.dal.TAPService(tap_url, session=session)
        return sorted(row["identifier"] for row in service.run_async("SELECT identifier FROM archive.products"))

    public = ["PUB-1", "PUB-2", "PUB-3"]
    assert identifiers(None) == public
    assert identifiers("bob") == public
    assert identifiers("alice") == public + ["SECRET-1", "SECRET-2"]


def test_astroquery_tapplus(tap_url):
    from astroquery.utils.tap.core import TapPlus

    tap = TapPlus(url=tap_url, verbose=False)
    table = tap.launch_job(QUERY).get_results()
    assert list(table["identifier"]) == ["PUB-1", "PUB-2", "PUB-3"]
    job = tap.launch_job_async(QUERY)
    assert list(job.get_results()["size"]) == [100, 200, 300]


@pytest.mark.skipif(shutil.which("stilts") is None, reason="STILTS (Debian package stilts) is not installed")
def test_taplint_finds_no_errors(tap_url):
    # Every stage runs except UPL (uploads are not supported); maxtable bounds the per-table metadata queries
    # (MDQ) and maxrepeat the repeated reports, which keeps the run to a few seconds.
    command = ["stilts", "taplint", f"tapurl={tap_url}", "report=EW", "maxrepeat=3", "stages=-UPL",
               "maxtable=10"]
    output = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
    errors = [line for line in output.splitlines() if re.match(r"^E-", line)]
    print(output)  # shown with -s: the warnings too
    assert not errors, "\n".join(errors)
    assert "Section UWS" in output and "Totals: Errors: 0;" in output


@pytest.mark.skipif(shutil.which("stilts") is None, reason="STILTS (Debian package stilts) is not installed")
def test_stilts_tapquery_the_tap_client_of_topcat(tap_url):
    # TOPCAT's TAP window and `stilts tapquery` share STILTS's TAP client (uk.ac.starlink.vo): sync and async
    for sync in ("true", "false"):
        command = ["stilts", "tapquery", f"tapurl={tap_url}", f"sync={sync}", "ofmt=csv", "out=-",
                   "adql=SELECT identifier, datalabs_path FROM archive.products ORDER BY identifier"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.strip().splitlines()
        assert lines[0] == "identifier,datalabs_path" and len(lines) > 1
        assert all("/media/data/" in line for line in lines[1:])
