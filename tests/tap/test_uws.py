"""UWS 1.1 asynchronous TAP jobs (/tap/async): lifecycle, documents, owners, filters, restart survival."""

from __future__ import annotations

import time
from datetime import timedelta
from xml.etree import ElementTree

from sqlalchemy import update

from datalabs.app import create_app
from datalabs.db.base import utcnow
from datalabs.tap.models import TapJob
from tests.conftest import in_process_client

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
XLINK = "{http://www.w3.org/1999/xlink}"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
IDS = "SELECT identifier FROM archive.products ORDER BY identifier"


def create(client, adql: str = IDS, headers=None, **params) -> str:
    response = client.post("/tap/async", data={"LANG": "ADQL", "QUERY": adql, **params}, headers=headers or {})
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("http://testserver/tap/async/")
    return location.removeprefix("http://testserver")


def job_document(client, url: str, headers=None, **params) -> ElementTree.Element:
    response = client.get(url, headers=headers or {}, params=params)
    assert response.status_code == 200, response.text
    root = ElementTree.fromstring(response.content)
    assert root.tag == f"{UWS}job" and root.get("version") == "1.1"
    return root


def text_of(root, name: str) -> str | None:
    element = root.find(f"{UWS}{name}")
    return None if element is None or element.get(XSI_NIL) == "true" else element.text


def test_a_job_is_created_pending_and_runs_on_request(tap_client, wait_for_phase, votable_of):
    url = create(tap_client, RUNID="my-run", MAXREC="2")
    root = job_document(tap_client, url)
    assert text_of(root, "phase") == "PENDING"
    assert text_of(root, "runId") == "my-run"
    assert text_of(root, "ownerId") is None  # anonymous
    assert text_of(root, "startTime") is None
    assert int(text_of(root, "executionDuration")) == 600
    parameters = {p.get("id"): p.text for p in root.find(f"{UWS}parameters")}
    assert parameters["query"] == IDS and parameters["maxrec"] == "2"
    assert tap_client.get(f"{url}/phase").text == "PENDING"

    response = tap_client.post(f"{url}/phase", data={"PHASE": "RUN"})
    assert response.status_code == 303 and response.headers["location"].endswith(url)
    assert wait_for_phase(tap_client, url, ("COMPLETED", "ERROR")) == "COMPLETED"
    root = job_document(tap_client, url)
    assert text_of(root, "startTime") and text_of(root, "endTime")
    result = root.find(f"{UWS}results/{UWS}result")
    assert result.get("id") == "result"
    assert result.get(f"{XLINK}href") == f"http://testserver{url}/results/result"
    response = tap_client.get(f"{url}/results/result")
    assert response.headers["content-type"].startswith("application/x-votable+xml")
    table = votable_of(response)
    assert table.column("identifier") == ["PUB-1", "PUB-2"]
    assert [status for status, _ in table.statuses] == ["OK", "OVERFLOW"]
    results = ElementTree.fromstring(tap_client.get(f"{url}/results").content)
    assert results.tag == f"{UWS}results" and len(results) == 1


def test_phase_run_at_creation_starts_the_job_and_wait_blocks(tap_client):
    url = create(tap_client, PHASE="RUN", FORMAT="csv")
    started = time.monotonic()
    root = job_document(tap_client, url, WAIT="20")
    while text_of(root, "phase") in ("QUEUED", "EXECUTING") and time.monotonic() - started < 20:
        root = job_document(tap_client, url, WAIT="20")
    assert text_of(root, "phase") == "COMPLETED"
    response = tap_client.get(f"{url}/results/result")
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.splitlines() == ["identifier", "PUB-1", "PUB-2", "PUB-3"]


def test_wait_returns_at_once_when_the_phase_differs_and_after_the_wait_otherwise(tap_client):
    url = create(tap_client)
    started = time.monotonic()
    assert text_of(job_document(tap_client, url, WAIT="10", PHASE="QUEUED"), "phase") == "PENDING"
    assert time.monotonic() - started < 2
    started = time.monotonic()
    assert text_of(job_document(tap_client, url, WAIT="0.5"), "phase") == "PENDING"
    assert 0.4 < time.monotonic() - started < 5


def test_a_bad_query_ends_in_error_with_a_summary(tap_client, wait_for_phase, votable_of):
    url = create(tap_client, "SELECT FROM WHERE", PHASE="RUN")
    assert wait_for_phase(tap_client, url, ("COMPLETED", "ERROR")) == "ERROR"
    root = job_document(tap_client, url)
    summary = root.find(f"{UWS}errorSummary")
    assert summary.get("type") == "fatal"
    assert "ADQL error" in summary.find(f"{UWS}message").text
    status, message = votable_of(tap_client.get(f"{url}/error")).statuses[0]
    assert status == "ERROR" and "ADQL error" in message
    assert tap_client.get(f"{url}/results/result").status_code == 404


def test_upload_is_refused(tap_client, wait_for_phase):
    url = create(tap_client, PHASE="RUN", UPLOAD="t,http://example.org/t.xml")
    assert wait_for_phase(tap_client, url, ("COMPLETED", "ERROR")) == "ERROR"
    assert "UPLOAD is not supported" in job_document(tap_client, url).find(f"{UWS}errorSummary/{UWS}message").text


def test_abort_and_delete(tap_client):
    url = create(tap_client)
    assert tap_client.post(f"{url}/phase", data={"PHASE": "ABORT"}).status_code == 303
    assert tap_client.get(f"{url}/phase").text == "ABORTED"
    assert tap_client.post(f"{url}/phase", data={"PHASE": "RUN"}).status_code == 303  # changes nothing now
    assert tap_client.get(f"{url}/phase").text == "ABORTED"
    response = tap_client.post(url, data={"ACTION": "DELETE"})
    assert response.status_code == 303 and response.headers["location"] == "http://testserver/tap/async"
    assert tap_client.get(url).status_code == 404
    other = create(tap_client)
    assert tap_client.delete(other).status_code == 303
    assert tap_client.get(other).status_code == 404


def test_aborting_a_running_job_stops_its_query(tap_client, app, wait_for_phase):
    slow = ("SELECT COUNT(*) FROM TAP_SCHEMA.columns AS a, TAP_SCHEMA.columns AS b, TAP_SCHEMA.columns AS c, "
            "TAP_SCHEMA.columns AS d, TAP_SCHEMA.columns AS e")
    url = create(tap_client, slow, PHASE="RUN")
    assert wait_for_phase(tap_client, url, ("EXECUTING", "COMPLETED", "ERROR")) == "EXECUTING"
    time.sleep(0.2)  # into the query
    assert tap_client.post(f"{url}/phase", data={"PHASE": "ABORT"}).status_code == 303
    assert tap_client.get(f"{url}/phase").text == "ABORTED"
    deadline = time.monotonic() + 10
    while app.state.tap_runner._cancels and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not app.state.tap_runner._cancels  # the worker is free again
    assert tap_client.get(f"{url}/phase").text == "ABORTED"


def test_a_wrong_phase_is_a_plain_400(tap_client):
    url = create(tap_client)
    response = tap_client.post(f"{url}/phase", data={"PHASE": "SUSPEND"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert "RUN or ABORT" in response.text
    assert tap_client.post("/tap/async", data={"QUERY": IDS, "PHASE": "ABORT"}).status_code == 400


def test_execution_duration_destruction_quote_owner_and_parameters(tap_client, app):
    url = create(tap_client)
    assert tap_client.post(f"{url}/executionduration", data={"EXECUTIONDURATION": "30"}).status_code == 303
    assert tap_client.get(f"{url}/executionduration").text == "30"
    tap_client.post(f"{url}/executionduration", data={"EXECUTIONDURATION": "999999"})
    assert tap_client.get(f"{url}/executionduration").text == str(app.state.settings.tap_max_execution_duration_seconds)
    assert tap_client.post(f"{url}/executionduration", data={"EXECUTIONDURATION": "soon"}).status_code == 400

    soon = (utcnow() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert tap_client.post(f"{url}/destruction", data={"DESTRUCTION": soon}).status_code == 303
    assert tap_client.get(f"{url}/destruction").text.startswith(soon[:-1])
    far = (utcnow() + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    tap_client.post(f"{url}/destruction", data={"DESTRUCTION": far})
    assert tap_client.get(f"{url}/destruction").text < far  # held to the retention period

    assert tap_client.get(f"{url}/quote").status_code == 200
    assert tap_client.get(f"{url}/owner").text == ""
    assert tap_client.post(f"{url}/parameters", data={"MAXREC": "1"}).status_code == 303
    parameters = ElementTree.fromstring(tap_client.get(f"{url}/parameters").content)
    assert {p.get("id"): p.text for p in parameters}["maxrec"] == "1"
    tap_client.post(f"{url}/phase", data={"PHASE": "RUN"})
    response = tap_client.post(f"{url}/parameters", data={"MAXREC": "5"})
    assert response.status_code == 409 and "PENDING" in response.text


def test_jobs_are_their_owners_alone(tap_client, auth):
    url = create(tap_client, headers=auth("alice"))
    assert text_of(job_document(tap_client, url, headers=auth("alice")), "ownerId") == "alice"
    assert tap_client.get(f"{url}/owner", headers=auth("alice")).text == "alice"
    for headers in (auth("bob"), {}):
        for path in ("", "/phase", "/parameters", "/results", "/error", "/quote", "/owner", "/destruction",
                     "/executionduration", "/results/result"):
            assert tap_client.get(url + path, headers=headers).status_code == 404, path
        assert tap_client.post(f"{url}/phase", data={"PHASE": "RUN"}, headers=headers).status_code == 404
        assert tap_client.post(url, data={"ACTION": "DELETE"}, headers=headers).status_code == 404
        assert tap_client.delete(url, headers=headers).status_code == 404
    assert tap_client.get(f"{url}/phase", headers=auth("alice")).text == "PENDING"


def test_anonymous_jobs_are_read_by_id_and_listed_to_nobody(tap_client, auth):
    url = create(tap_client)
    assert tap_client.get(url, headers=auth("bob")).status_code == 200
    for headers in ({}, auth("bob")):
        listing = ElementTree.fromstring(tap_client.get("/tap/async", headers=headers).content)
        assert listing.tag == f"{UWS}jobs" and listing.get("version") == "1.1"
        assert len(listing) == 0


def test_the_job_list_and_its_filters(tap_client, auth, wait_for_phase):
    headers = auth("alice")
    first = create(tap_client, headers=headers)
    time.sleep(0.02)
    second = create(tap_client, headers=headers, PHASE="RUN")
    create(tap_client, headers=auth("bob"))
    wait_for_phase(tap_client, second, ("COMPLETED", "ERROR"), headers=headers)

    def listed(**params) -> list[str]:
        root = ElementTree.fromstring(tap_client.get("/tap/async", params=params, headers=headers).content)
        return [ref.get(f"{XLINK}href").removeprefix("http://testserver") for ref in root]

    assert listed() == [first, second]
    assert listed(PHASE="PENDING") == [first]
    assert listed(phase="COMPLETED") == [second]
    assert listed(LAST="1") == [second]
    root = ElementTree.fromstring(tap_client.get("/tap/async", headers=headers).content)
    ref = root[0]
    assert ref.find(f"{UWS}phase").text == "PENDING" and ref.find(f"{UWS}ownerId").text == "alice"
    created = ref.find(f"{UWS}creationTime").text
    assert listed(AFTER=created) == [second]
    assert tap_client.get("/tap/async", params={"PHASE": "NONSENSE"}, headers=headers).status_code == 400


def test_embargoed_rows_follow_the_jobs_owner(tap_client, auth, wait_for_phase, votable_of):
    for user, expected in (("alice", 5), ("bob", 3)):
        url = create(tap_client, headers=auth(user), PHASE="RUN")
        assert wait_for_phase(tap_client, url, ("COMPLETED", "ERROR"), headers=auth(user)) == "COMPLETED"
        assert len(votable_of(tap_client.get(f"{url}/results/result", headers=auth(user))).rows) == expected


def test_expired_jobs_are_removed_with_their_results(tap_client, app, session_factory, wait_for_phase):
    url = create(tap_client, PHASE="RUN")
    assert wait_for_phase(tap_client, url, ("COMPLETED",)) == "COMPLETED"
    job_id = url.rsplit("/", 1)[1]
    folder = app.state.settings.data_dir / "tap" / "jobs" / job_id
    assert (folder / "result.xml").is_file()
    assert app.state.tap_runner.sweep() == 0
    assert app.state.tap_runner.sweep(now=utcnow() + timedelta(days=8)) == 1
    assert not folder.exists()
    assert tap_client.get(url).status_code == 404


def test_jobs_survive_a_restart(app, tap_data, session_factory, settings, wait_for_phase):
    with in_process_client(app) as first:  # its runner never starts: the jobs stay where they are
        queued = create(first, PHASE="RUN")
        executing = create(first, PHASE="RUN")
        pending = create(first)
    with session_factory() as db:
        db.execute(update(TapJob).where(TapJob.id == executing.rsplit("/", 1)[1]).values(phase="EXECUTING"))
        db.commit()
    app.state.engine.dispose()

    second_app = create_app(settings)
    second_app.state.tap_runner.start()
    try:
        with in_process_client(second_app) as second:
            for url in (queued, executing):
                assert wait_for_phase(second, url, ("COMPLETED", "ERROR")) == "COMPLETED"
                assert second.get(f"{url}/results/result").status_code == 200
            assert second.get(f"{pending}/phase").text == "PENDING"
    finally:
        second_app.state.tap_runner.shutdown(wait=True)
        second_app.state.engine.dispose()


def test_large_results_are_written_in_chunks_with_overflow(tap_client, wait_for_phase, votable_of):
    pairs = "SELECT a.column_name, b.column_index FROM TAP_SCHEMA.columns AS a, TAP_SCHEMA.columns AS b"
    url = create(tap_client, pairs, PHASE="RUN", MAXREC="1500")
    assert wait_for_phase(tap_client, url, ("COMPLETED", "ERROR")) == "COMPLETED"
    table = votable_of(tap_client.get(f"{url}/results/result"))
    assert len(table.rows) == 1500 and [status for status, _ in table.statuses] == ["OK", "OVERFLOW"]
    url = create(tap_client, pairs.replace("SELECT", "SELECT TOP 2500"), PHASE="RUN", MAXREC="3000",
                 FORMAT="json")
    assert wait_for_phase(tap_client, url, ("COMPLETED", "ERROR")) == "COMPLETED"
    body = tap_client.get(f"{url}/results/result").json()
    assert len(body["rows"]) == 2500 and body["overflow"] is False
