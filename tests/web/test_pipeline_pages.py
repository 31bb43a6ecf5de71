"""The pipeline pages with the in-process client: the catalogue, a pipeline's page, importing,
review, the run form generated from the CWL inputs (and its errors next to the field), the run
pages, cancel, and who may see a run (another user gets 404). No run is executed here (no
supervisor): the browser test (test_pipelines_browser.py) runs one for real."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher, profiles
from starlette.datastructures import FormData

from datalabs.accounts import secrets
from datalabs.errors import InvalidInput
from datalabs.web.pipeline_runs import field_of, form_inputs, widget
from tests.pipelines.conftest import publish_pipeline
from tests.web.conftest import csrf_of

RUN_PAGE = re.compile(r"^/runs/(r_[0-9a-f]{16})$")

FORM_CWL = """cwlVersion: v1.2
class: CommandLineTool
id: calibrate
label: Calibrate <frames>
doc: |
  Calibrates raw frames.

  Second <b>paragraph</b>.
baseCommand: [sh, -c]
arguments: ['cat "$0" > out.txt', $(inputs.table.path)]
inputs:
  table: {type: File, label: Calibration table, doc: The CSV table}
  scale: {type: int, default: 3}
  factor: {type: 'double?'}
  mode: {type: {type: enum, symbols: [fast, precise]}, default: fast}
  verbose: {type: boolean, default: true}
  names: {type: 'string[]', default: [a, b]}
  note: {type: 'string?', doc: a note}
  extra: {type: ['null', {type: record, fields: {x: int}}]}
outputs:
  out: {type: File, outputBinding: {glob: out.txt}}
"""

BAD_CWL = "cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: echo\ninputs:\n  x: {type: nosuchtype}\noutputs: []\n"


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch):
    monkeypatch.setattr(secrets, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def people(make_user, settings):
    make_user("alice", role="developer", teams={"rosetta": False})
    make_user("bob")
    make_user("mod", role="moderator")
    folder = settings.workspaces_dir / "users" / "alice"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "table.csv").write_text("a,b\n1,2\n")


@pytest.fixture
def calibrate(settings, session_factory, people):
    return publish_pipeline(settings, session_factory, "calibrate", FORM_CWL)


def post(http, page: str, url: str, data: dict, files=None):
    token = csrf_of(http.get(page))
    return http.post(url, data={"csrf_token": token} | data, files=files)


def test_catalogue_search_and_filters(web, calibrate):
    anonymous = web()
    page = anonymous.get("/pipelines")
    assert page.status_code == 200
    assert "Calibrate &lt;frames&gt;" in page.text and "<frames>" not in page.text
    assert 'data-pipeline="calibrate"' in page.text
    assert "published" in page.text
    assert 'data-pipeline="calibrate"' not in anonymous.get("/pipelines?q=nomatch").text
    assert 'data-pipeline="calibrate"' in anonymous.get("/pipelines?kind=step&sort=name").text
    assert 'data-pipeline="calibrate"' not in anonymous.get("/pipelines?kind=pipeline").text
    assert anonymous.get("/pipelines?kind=bogus&sort=bogus").status_code == 200  # ignored, not an error
    assert "Import a pipeline" not in anonymous.get("/pipelines").text
    alice = web("alice")
    assert 'href="/pipelines/import"' in alice.get("/pipelines").text
    assert 'href="/runs"' in alice.get("/pipelines").text  # the navigation


def test_pipeline_page_shows_doc_inputs_source_and_graph(web, calibrate):
    page = web().get("/pipelines/calibrate")
    assert page.status_code == 200
    text = page.text
    assert "<p>Calibrates raw frames.</p>" in text
    assert "Second &lt;b&gt;paragraph&lt;/b&gt;." in text
    assert "<code>table</code>" in text and "Calibration table" in text
    assert "enum (fast, precise)" in text and "string[]" in text
    assert "&lt;frames&gt;" in text and "<frames>" not in text
    assert "arguments: [&#39;cat" in text  # the CWL source, escaped
    assert ("<svg" in text) or ('id="no-graph"' in text)
    assert "Log in to run" in text
    assert web().get("/pipelines/ghost").status_code == 404


def test_import_from_the_editor_then_review(web, people):
    alice = web("alice")
    assert alice.get("/pipelines/import").status_code == 200
    assert web("bob").get("/pipelines/import").status_code == 403
    done = post(alice, "/pipelines/import", "/pipelines/import/text",
                {"text": FORM_CWL, "filename": "calibrate.cwl", "tags": "calibration, raw"})
    assert done.status_code == 303, done.text[:500]
    assert done.headers["location"] == "/pipelines/calibrate?version=1.0"
    page = alice.get(done.headers["location"])
    assert "draft" in page.text and "Submit for review" in page.text and "calibration" in page.text
    assert web("bob").get("/pipelines/calibrate").status_code == 404

    submitted = post(alice, "/pipelines/calibrate", "/pipelines/calibrate/versions/1.0/submit", {})
    assert submitted.status_code == 303
    moderator = web("mod")
    refused = post(moderator, "/pipelines/calibrate", "/pipelines/calibrate/versions/1.0/reject", {"reason": " "})
    assert refused.status_code == 422 and "reason" in refused.text
    published = post(moderator, "/pipelines/calibrate", "/pipelines/calibrate/versions/1.0/publish", {})
    assert published.status_code == 303
    assert 'data-pipeline="calibrate"' in web().get("/pipelines").text


def test_import_errors_show_file_line_and_field(web, people):
    alice = web("alice")
    refused = post(alice, "/pipelines/import", "/pipelines/import/text", {"text": BAD_CWL, "filename": "bad.cwl"})
    assert refused.status_code == 422
    assert 'id="import-error"' in refused.text
    assert "<code>bad.cwl</code>" in refused.text
    assert "nosuchtype" in refused.text
    assert "cwlVersion: v1.2" in refused.text  # the text typed is kept


def test_import_by_file_upload(web, people):
    alice = web("alice")
    done = post(alice, "/pipelines/import", "/pipelines/import/file", {"name": "calib-two", "version": "2.0"},
                files={"file": ("tool.cwl", FORM_CWL.encode(), "application/octet-stream")})
    assert done.status_code == 303, done.text[:500]
    assert done.headers["location"] == "/pipelines/calib-two?version=2.0"
    wrong = post(alice, "/pipelines/import", "/pipelines/import/file", {},
                 files={"file": ("tool.txt", b"x", "text/plain")})
    assert wrong.status_code == 422 and "CWL document" in wrong.text


def test_the_run_form_is_generated_from_the_inputs(web, calibrate):
    alice = web("alice")
    form = alice.get("/pipelines/calibrate/run")
    assert form.status_code == 200
    text = form.text
    assert 'name="input.table"' in text and 'list="path-roots"' in text and 'data-kind="File"' in text
    assert re.search(r'name="input.scale" type="number" step="1" value="3"', text)
    assert re.search(r'name="input.factor" type="number" step="any" value=""', text)
    assert '<option value="fast" selected>fast</option>' in text
    assert re.search(r'name="input.verbose" value="true" checked', text)
    assert ">a\nb</textarea>" in text
    assert "Calibration table" in text and "The CSV table" in text and "optional" in text
    assert '<option value="my_workspace/">' in text  # the datalist of roots
    assert '<option value="rosetta">team_workspaces/rosetta</option>' in text
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", text):
        if 'type="hidden"' not in tag:
            field_id = re.search(r'id="([^"]+)"', tag).group(1)
            assert f'for="{field_id}"' in text, f"no label for {tag}"
    assert web().get("/pipelines/calibrate/run").status_code == 303  # log in first


def test_run_errors_appear_next_to_the_field(web, calibrate):
    alice = web("alice")
    missing = post(alice, "/pipelines/calibrate/run", "/pipelines/calibrate/run",
                   {"input.table": "my_workspace/nope.csv", "input.scale": "4", "input.mode": "precise"})
    assert missing.status_code == 404
    assert 'id="error-table"' in missing.text and "nope.csv" in missing.text
    assert 'value="my_workspace/nope.csv"' in missing.text and 'value="4"' in missing.text  # kept
    assert '<option value="precise" selected>' in missing.text
    wrong = post(alice, "/pipelines/calibrate/run", "/pipelines/calibrate/run",
                 {"input.table": "my_workspace/table.csv", "input.scale": "many"})
    assert wrong.status_code == 422 and 'id="error-scale"' in wrong.text
    cpu = post(alice, "/pipelines/calibrate/run", "/pipelines/calibrate/run",
               {"input.table": "my_workspace/table.csv", "cpu": "100000"})
    assert cpu.status_code == 422 and 'id="error-cpu"' in cpu.text


def test_launch_follow_cancel_and_privacy(web, calibrate):
    alice = web("alice")
    started = post(alice, "/pipelines/calibrate/run", "/pipelines/calibrate/run",
                   {"input.table": "my_workspace/table.csv", "input.scale": "5", "input.mode": "precise",
                    "input.names": "x\n\ny\n", "input.note": "hello <b>", "cpu": "1"})
    assert started.status_code == 303, started.text[:800]
    run_id = RUN_PAGE.match(started.headers["location"]).group(1)
    page = alice.get(started.headers["location"])
    assert page.status_code == 200
    assert 'id="run-state"' in page.text and "pending" in page.text
    assert "hello &lt;b&gt;" in page.text and "Cancel the run" in page.text
    assert 'data-live="true"' in page.text
    assert f"my_workspace/pipelines/{run_id}" in page.text
    listing = alice.get("/runs")
    assert f'data-run="{run_id}"' in listing.text
    api = alice.get(f"/api/v1/runs/{run_id}").json()
    assert api["inputs"] == {"table": "my_workspace/table.csv", "scale": "5", "mode": "precise", "verbose": False,
                             "names": ["x", "y"], "note": "hello <b>"}

    bob = web("bob")
    assert bob.get(f"/runs/{run_id}").status_code == 404
    assert f'data-run="{run_id}"' not in bob.get("/runs").text
    assert post(bob, "/runs", f"/runs/{run_id}/cancel", {}).status_code == 404
    assert web().get(f"/runs/{run_id}").status_code == 303

    cancelled = post(alice, f"/runs/{run_id}", f"/runs/{run_id}/cancel", {})
    assert cancelled.status_code == 303 and cancelled.headers["location"] == f"/runs/{run_id}"
    page = alice.get(f"/runs/{run_id}")
    assert "stopped" in page.text and "Cancel the run" not in page.text and "Download provenance" in page.text
    again = post(alice, f"/runs/{run_id}", f"/runs/{run_id}/rerun", {})
    assert again.status_code == 303 and RUN_PAGE.match(again.headers["location"])
    assert again.headers["location"] != f"/runs/{run_id}"


def test_form_inputs_types_the_values():
    fields = [{"id": "f", "type": "File"}, {"id": "n", "type": "int"}, {"id": "b", "type": "boolean"},
              {"id": "flags", "type": "array", "items": {"type": "boolean"}},
              {"id": "opt", "type": "string", "optional": True}, {"id": "r", "type": "record", "optional": True},
              {"id": "xs", "type": "array", "items": {"type": "int"}, "optional": True}]
    form = FormData([("input.f", " my_workspace/a.txt "), ("input.n", "3"), ("input.flags", "true\nno"),
                     ("input.opt", ""), ("input.r", '{"x": 1}'), ("input.xs", "")])
    assert form_inputs(fields, form) == {"f": "my_workspace/a.txt", "n": "3", "b": False, "flags": [True, False],
                                         "r": {"x": 1}}
    with pytest.raises(InvalidInput) as bad:
        form_inputs(fields, FormData([("input.r", "{nope")]))
    assert bad.value.field == "inputs.r"
    assert field_of(InvalidInput("x", field="inputs.xs[2]")) == "xs"
    assert [widget(f) for f in fields] == ["path", "integer", "checkbox", "lines", "text", "json", "lines"]
