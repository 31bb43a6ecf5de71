"""GA4GH WES 1.1 over pipeline runs, driven as a WES client does: multipart forms, real runs."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from tests.pipelines.conftest import publish_pipeline

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (scripts/setup installs it)")

WES = "/ga4gh/wes/v1"

GREET = """cwlVersion: v1.2
class: Workflow
label: Greet
inputs:
  who: string
  note: File
outputs:
  greeting:
    type: File
    outputSource: say/out
steps:
  say:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c]
      arguments: ['echo "hello $0" > greeting.txt; cat $(inputs.note.path) >> greeting.txt; echo said >&2',
                  $(inputs.who)]
      inputs: {who: string, note: File}
      outputs: {out: {type: File, outputBinding: {glob: greeting.txt}}}
    in: {who: who, note: note}
    out: [out]
"""

TOOL = """cwlVersion: v1.2
class: CommandLineTool
baseCommand: [sh, -c, 'echo "shout $0" | tr a-z A-Z']
inputs:
  word: {type: string, inputBinding: {position: 1}}
outputs:
  out: stdout
stdout: shout.txt
"""

WORKFLOW = """cwlVersion: v1.2
class: Workflow
inputs:
  word: string
outputs:
  shouted:
    type: File
    outputSource: shout/out
steps:
  shout:
    run: tools/shout.cwl
    in: {word: word}
    out: [out]
"""

BROKEN = """cwlVersion: v1.2
class: CommandLineTool
baseCommand: echo
inputs:
  x: {type: strnig}
outputs: []
"""

SLEEPY = """cwlVersion: v1.2
class: CommandLineTool
label: Sleepy
baseCommand: [sleep, '300']
inputs: []
outputs: []
"""


@pytest.fixture
def alice(make_user, settings):
    make_user("alice", role="developer", password=None)
    workspace = settings.workspaces_dir / "users" / "alice"
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "note.txt").write_text("from alice\n")
    return "alice"


def form(workflow_url: str, params: dict | None = None, *, attachments=(), as_files=False, **extra) -> dict:
    """What a WES client sends: a multipart form. With as_files, every field is a file part named after
    its key, as wes-client's WESClient sends them (Python `requests` with files=[(key, text)])."""
    fields = {"workflow_url": workflow_url, "workflow_type": "CWL", "workflow_type_version": "v1.2",
              "workflow_params": json.dumps(params or {}), **extra}
    parts = [(key, (key if as_files else None, value)) for key, value in fields.items()]
    parts += [("workflow_attachment", (name, text.encode())) for name, text in attachments]
    return {"files": parts}


def wait_for_state(api, run_id: str, headers: dict, states=("COMPLETE", "EXECUTOR_ERROR", "CANCELED"),
                   timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        response = api.get(f"{WES}/runs/{run_id}/status", headers=headers)
        assert response.status_code == 200, response.text
        state = response.json()["state"]
        if state in states:
            return state
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still {state} after {timeout} s")


def test_service_info_describes_the_service_and_counts_your_runs(pipelines_api, auth, alice):
    response = pipelines_api.get(f"{WES}/service-info", headers=auth("alice"))
    assert response.status_code == 200, response.text
    info = response.json()
    assert info["type"] == {"group": "org.ga4gh", "artifact": "wes", "version": "1.1.0"}
    assert info["workflow_type_versions"] == {"CWL": {"workflow_type_version": ["v1.0", "v1.1", "v1.2"]}}
    assert info["supported_wes_versions"] == ["1.1.0"]
    assert info["supported_filesystem_protocols"] == ["file"]
    assert info["workflow_engine_versions"]["cwltool"]["workflow_engine_version"][0][0].isdigit()
    assert info["default_workflow_engine_parameters"] == []
    assert info["system_state_counts"]["COMPLETE"] == 0 and info["system_state_counts"]["QUEUED"] == 0
    assert info["auth_instructions_url"].endswith("/account#tokens")
    for key in ("id", "name", "organization", "version", "tags"):
        assert info[key], key
    assert pipelines_api.get(f"{WES}/service-info").status_code == 200  # public, like every service-info


def test_catalogue_pipeline_runs_to_complete_with_task_logs_and_outputs(pipelines_api, settings, session_factory,
                                                                       auth, alice):
    publish_pipeline(settings, session_factory, "greet", GREET)
    response = pipelines_api.post(f"{WES}/runs", headers=auth("alice"), **form(
        "catalogue:greet", {"who": "world", "note": {"class": "File", "path": "my_workspace/note.txt"}},
        tags=json.dumps({"project": "mars"}), workflow_engine_parameters=json.dumps({"cpu": 1, "other": "x"})))
    assert response.status_code == 200, response.text
    run_id = response.json()["run_id"]
    assert wait_for_state(pipelines_api, run_id, auth("alice")) == "COMPLETE"

    log = pipelines_api.get(f"{WES}/runs/{run_id}", headers=auth("alice")).json()
    assert log["run_id"] == run_id and log["state"] == "COMPLETE"
    assert log["request"]["workflow_url"] == "catalogue:greet@1.0"
    assert log["request"]["workflow_params"]["who"] == "world"
    assert log["request"]["workflow_type"] == "CWL" and log["request"]["tags"] == {"project": "mars"}
    assert log["run_log"]["exit_code"] == 0 and log["run_log"]["start_time"].endswith("Z")
    assert log["outputs"]["greeting"]["path"] == f"my_workspace/pipelines/{run_id}/greeting.txt"
    [task] = log["task_logs"]
    assert task["name"] == "say" and task["exit_code"] == 0 and task["end_time"]
    assert task["stdout"].endswith(f"/api/v1/runs/{run_id}/logs?job=say")
    task_output = pipelines_api.get(task["stdout"], headers=auth("alice"))
    assert task_output.status_code == 200 and "said" in task_output.text
    assert pipelines_api.get(log["run_log"]["stdout"], headers=auth("alice")).status_code == 200
    tasks = pipelines_api.get(log["task_logs_url"], headers=auth("alice")).json()
    assert [t["id"] for t in tasks["task_logs"]] == ["say"] and tasks["next_page_token"] == ""
    greeting = settings.workspaces_dir / "users" / "alice" / "pipelines" / run_id / "greeting.txt"
    assert greeting.read_text() == "hello world\nfrom alice\n"
    counts = pipelines_api.get(f"{WES}/service-info", headers=auth("alice")).json()["system_state_counts"]
    assert counts["COMPLETE"] == 1


def test_attached_workflow_with_a_relative_tool_runs_and_is_reused(pipelines_api, settings, auth, alice,
                                                                    make_user):
    attachments = [("workflow.cwl", WORKFLOW), ("tools/shout.cwl", TOOL)]
    run_ids = []
    for _ in range(2):
        response = pipelines_api.post(f"{WES}/runs", headers=auth("alice"),
                                      **form("workflow.cwl", {"word": "mars"}, attachments=attachments,
                                             as_files=True))
        assert response.status_code == 200, response.text
        run_ids.append(response.json()["run_id"])
    for run_id in run_ids:
        assert wait_for_state(pipelines_api, run_id, auth("alice")) == "COMPLETE"
    logs = [pipelines_api.get(f"{WES}/runs/{run_id}", headers=auth("alice")).json() for run_id in run_ids]
    assert logs[0]["request"]["workflow_url"] == logs[1]["request"]["workflow_url"]  # one imported version
    assert logs[0]["request"]["workflow_url"].startswith("catalogue:wes-")
    shouted = settings.workspaces_dir / "users" / "alice" / "pipelines" / run_ids[0] / "shout.txt"
    assert shouted.read_text() == "SHOUT MARS\n"
    # the imported pipeline is alice's private draft: bob neither sees nor runs it
    make_user("bob", password=None)
    pipeline = logs[0]["request"]["workflow_url"].split(":", 1)[1].split("@")[0]
    assert pipelines_api.get(f"/api/v1/pipelines/{pipeline}", headers=auth("alice")).status_code == 200
    assert pipelines_api.get(f"/api/v1/pipelines/{pipeline}", headers=auth("bob")).status_code == 404
    refused = pipelines_api.post(f"{WES}/runs", headers=auth("bob"),
                                 **form(logs[0]["request"]["workflow_url"], {"word": "mars"}))
    assert refused.status_code == 400 and "no version" in refused.json()["msg"], refused.text


def test_attached_workflows_need_the_developer_role(pipelines_api, auth, make_user):
    make_user("carol", password=None)
    response = pipelines_api.post(f"{WES}/runs", headers=auth("carol"),
                                  **form("workflow.cwl", attachments=[("workflow.cwl", WORKFLOW)]))
    assert response.status_code == 403 and "developer" in response.json()["msg"], response.text


def test_invalid_cwl_is_refused_with_its_line(pipelines_api, auth, alice):
    response = pipelines_api.post(f"{WES}/runs", headers=auth("alice"),
                                  **form("broken.cwl", {"x": "1"}, attachments=[("broken.cwl", BROKEN)]))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status_code"] == 400 and body["msg"].startswith("broken.cwl:4:1: checking field 'inputs'"), body
    assert "broken.cwl:5:7: Field 'type' references unknown identifier 'strnig'" in body["msg"]


def test_bad_requests_are_refused_with_the_wes_error_shape(pipelines_api, settings, session_factory, auth, alice):
    publish_pipeline(settings, session_factory, "greet", GREET)
    attachments = [("workflow.cwl", WORKFLOW), ("tools/shout.cwl", TOOL)]
    cases = [
        (form("http://example.org/workflow.cwl", attachments=attachments), "no URL"),
        (form("file:///etc/passwd", attachments=attachments), "no URL"),
        (form("/etc/passwd", attachments=attachments), "absolute path"),
        (form("../x.cwl", attachments=attachments), "'..'"),
        (form("other.cwl", attachments=attachments), "attached: workflow.cwl, tools/shout.cwl"),
        (form("workflow.cwl", {"word": "x"}, attachments=[("../workflow.cwl", WORKFLOW)]), "without '..'"),
        (form("catalogue:greet", {"note": "my_workspace/note.txt"}), "missing required input 'who'"),
        (form("catalogue:greet", {"who": "x", "note": "my_workspace/missing.txt"}), "input 'note'"),
        (form("catalogue:nothing"), "no pipeline named 'nothing'"),
        (form("catalogue:greet", workflow_type="WDL"), "workflow_type must be CWL"),
        (form("catalogue:greet", workflow_type_version="v2.0"), "workflow_type_version"),
        ({"files": [("workflow_type", (None, "CWL")), ("workflow_params", (None, "{not json"))]}, "not valid JSON"),
        ({"json": {"workflow_type": "CWL", "workflow_url": "catalogue:greet", "workflow_params": {"who": "x"}}},
         "missing required input 'note'"),  # a JSON RunRequest is taken too
        (form("catalogue:greet", {"who": "x", "note": "my_workspace/note.txt"},
              workflow_engine_parameters=json.dumps({"cpu": "lots"})), "cpu must be a number"),
    ]
    for request, message in cases:
        response = pipelines_api.post(f"{WES}/runs", headers=auth("alice"), **request)
        assert response.status_code == 400, (message, response.text)
        body = response.json()
        assert body["status_code"] == 400 and message in body["msg"], (message, body)
    assert pipelines_api.get(f"{WES}/runs", headers=auth("alice")).json() == {"runs": [], "next_page_token": ""}


def test_cancel_a_sleeping_run(pipelines_api, settings, session_factory, auth, alice):
    publish_pipeline(settings, session_factory, "sleepy", SLEEPY)
    run_id = pipelines_api.post(f"{WES}/runs", headers=auth("alice"), **form("catalogue:sleepy")).json()["run_id"]
    wait_for_state(pipelines_api, run_id, auth("alice"), states=("RUNNING",))
    response = pipelines_api.post(f"{WES}/runs/{run_id}/cancel", headers=auth("alice"))
    assert response.status_code == 200 and response.json() == {"run_id": run_id}
    assert wait_for_state(pipelines_api, run_id, auth("alice"), timeout=60) == "CANCELED"
    log = pipelines_api.get(f"{WES}/runs/{run_id}", headers=auth("alice")).json()
    assert log["run_log"]["system_logs"] == ["cancelled by you"] and log["run_log"]["exit_code"] is None


def test_other_users_and_anonymous_callers(pipelines_api, settings, session_factory, auth, alice, make_user):
    publish_pipeline(settings, session_factory, "sleepy", SLEEPY)
    make_user("bob", password=None)
    run_id = pipelines_api.post(f"{WES}/runs", headers=auth("alice"), **form("catalogue:sleepy")).json()["run_id"]
    for method, path in [("get", f"/runs/{run_id}/status"), ("get", f"/runs/{run_id}"),
                         ("post", f"/runs/{run_id}/cancel"), ("get", f"/runs/{run_id}/tasks")]:
        response = pipelines_api.request(method, WES + path, headers=auth("bob"))
        assert response.status_code == 404, (path, response.text)
        assert response.json() == {"msg": f"no pipeline run {run_id!r}", "status_code": 404}
        anonymous = pipelines_api.request(method, WES + path)
        assert anonymous.status_code == 401 and anonymous.json()["status_code"] == 401, anonymous.text
    assert pipelines_api.get(f"{WES}/runs", headers=auth("bob")).json()["runs"] == []
    anonymous = pipelines_api.post(f"{WES}/runs", **form("catalogue:sleepy"))
    assert anonymous.status_code == 401 and set(anonymous.json()) == {"msg", "status_code"}
    assert pipelines_api.get(f"{WES}/runs/{run_id}/status", headers=auth("alice")).status_code == 200
    pipelines_api.post(f"{WES}/runs/{run_id}/cancel", headers=auth("alice"))
    # the rest of the API keeps its own error shape
    assert "error" in pipelines_api.get(f"/api/v1/runs/{run_id}", headers=auth("bob")).json()


def test_list_runs_a_page_at_a_time(pipelines_api, settings, session_factory, auth, alice):
    publish_pipeline(settings, session_factory, "sleepy", SLEEPY)
    submitted = [pipelines_api.post(f"{WES}/runs", headers=auth("alice"), **form("catalogue:sleepy")).json()["run_id"]
                 for _ in range(3)]
    for run_id in submitted:
        pipelines_api.post(f"{WES}/runs/{run_id}/cancel", headers=auth("alice"))
    seen, token = [], ""
    for _ in range(5):
        page = pipelines_api.get(f"{WES}/runs", params={"page_size": 1, "page_token": token},
                                 headers=auth("alice")).json()
        assert len(page["runs"]) <= 1 and set(page["runs"][0]) == {"run_id", "state"}
        seen += [r["run_id"] for r in page["runs"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == submitted[::-1]  # newest first
    everything = pipelines_api.get(f"{WES}/runs", headers=auth("alice")).json()
    assert [r["run_id"] for r in everything["runs"]] == seen and everything["next_page_token"] == ""
    bad = pipelines_api.get(f"{WES}/runs", params={"page_token": "nonsense"}, headers=auth("alice"))
    assert bad.status_code == 400 and "page_token" in bad.json()["msg"]
    bad = pipelines_api.get(f"{WES}/runs", params={"page_size": 0}, headers=auth("alice"))
    assert bad.status_code == 400 and bad.json()["status_code"] == 400
