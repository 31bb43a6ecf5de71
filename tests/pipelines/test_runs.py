"""Pipeline runs end to end: real cwltool drivers, real bubblewrap steps, real cgroups."""

from __future__ import annotations

import shutil

import pytest

from tests.pipelines.conftest import publish_pipeline, wait_for_run

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (scripts/setup installs it)")

SCATTER = """cwlVersion: v1.2
class: Workflow
label: Squares
requirements: {ScatterFeatureRequirement: {}}
inputs:
  numbers: int[]
  note: File
outputs:
  squares:
    type: File[]
    outputSource: square/out
  total:
    type: File
    outputSource: add/out
steps:
  square:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c]
      arguments: ['expr "$0" "*" "$0" > square.txt; echo "squared $0" >&2', $(inputs.n)]
      inputs: {n: int}
      outputs: {out: {type: File, outputBinding: {glob: square.txt}}}
    scatter: n
    in: {n: numbers}
    out: [out]
  add:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c]
      arguments: ['cat "$@" | paste -sd+ | bc > total.txt; cat $(inputs.note.path) >> total.txt', sh]
      inputs:
        parts: {type: 'File[]', inputBinding: {position: 1}}
        note: File
      outputs: {out: {type: File, outputBinding: {glob: total.txt}}}
    in: {parts: square/out, note: note}
    out: [out]
"""

FAIL = """cwlVersion: v1.2
class: CommandLineTool
label: Fails
baseCommand: [sh, -c, 'echo "bad calibration table" >&2; exit 3']
inputs: []
outputs: []
"""

HOG = """cwlVersion: v1.2
class: CommandLineTool
label: Memory hog
requirements: {ResourceRequirement: {ramMin: 64}}
baseCommand: [python3, -c, 'x = bytearray(400 * 1024 * 1024); print(len(x))']
inputs: []
outputs: []
"""

PEEK = """cwlVersion: v1.2
class: CommandLineTool
label: Peek
baseCommand: [sh, -c]
arguments: ['ls /media /work 2>&1; cat $(inputs.secret_path) > seen.txt 2>&1; true']
inputs: {secret_path: string}
outputs: {seen: {type: File, outputBinding: {glob: seen.txt}}}
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
    make_user("alice", password=None)
    workspace = settings.workspaces_dir / "users" / "alice"
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "note.txt").write_text("from alice\n")
    return "alice"


def test_scatter_gather_runs_in_the_sandbox_and_delivers_to_the_workspace(
        pipelines_api, settings, session_factory, alice, auth):
    publish_pipeline(settings, session_factory, "squares", SCATTER)
    response = pipelines_api.post("/api/v1/pipelines/squares/runs", headers=auth("alice"),
                                  json={"inputs": {"numbers": [1, 2, 3, 4], "note": "my_workspace/note.txt"},
                                        "provenance": True})
    assert response.status_code == 201, response.text
    run = wait_for_run(pipelines_api, response.json()["id"], auth("alice"))
    assert run["state"] == "completed", run
    assert run["output_path"] == f"my_workspace/pipelines/{run['id']}"
    total = settings.workspaces_dir / "users" / "alice" / "pipelines" / run["id"] / "total.txt"
    assert total.read_text() == "30\nfrom alice\n"
    assert run["outputs"]["total"]["path"] == f"{run['output_path']}/total.txt"
    steps = {s["step"]: s for s in run["steps"]}
    assert steps["square"] == {"step": "square", "state": "completed", "total": 4, "done": 4, "failed": 0,
                               "running": 0}
    jobs = pipelines_api.get(f"/api/v1/runs/{run['id']}/jobs", headers=auth("alice")).json()
    assert len(jobs) == 5 and all(j["state"] == "completed" and j["exit_code"] == 0 for j in jobs)
    square_job = next(j for j in jobs if j["step"] == "square")
    log = pipelines_api.get(f"/api/v1/runs/{run['id']}/logs", params={"job": square_job["name"]},
                            headers=auth("alice"))
    assert log.status_code == 200 and log.text.startswith("squared ")
    intermediate = square_job["outputs"]["out"][0]["path"]
    download = pipelines_api.get(f"/api/v1/runs/{run['id']}/files/{intermediate}", headers=auth("alice"))
    assert download.status_code == 200 and download.content.strip().isdigit()
    crate = pipelines_api.get(f"/api/v1/runs/{run['id']}/provenance", headers=auth("alice"))
    assert crate.status_code == 200 and crate.content[:2] == b"PK"


def test_bad_inputs_are_refused_before_anything_runs(pipelines_api, settings, session_factory, alice, auth,
                                                     make_user, make_volume):
    publish_pipeline(settings, session_factory, "squares", SCATTER)
    make_user("bob", password=None)
    bob_space = settings.workspaces_dir / "users" / "bob"
    bob_space.mkdir(parents=True, exist_ok=True)
    (bob_space / "secret.txt").write_text("bob's\n")
    make_volume("embargoed", private=True, files={"x.txt": "secret\n"})
    url = "/api/v1/pipelines/squares/runs"
    cases = [
        ({"numbers": [1]}, 422, "missing required input 'note'"),
        ({"numbers": "three", "note": "my_workspace/note.txt"}, 422, "input 'numbers' must be a list of int"),
        ({"numbers": [1, "x"], "note": "my_workspace/note.txt"}, 422, "input 'numbers[1]' must be an int"),
        ({"numbers": [1], "note": "my_workspace/note.txt", "extra": 1}, 422, "unknown input 'extra'"),
        ({"numbers": [1], "note": "my_workspace/"}, 422, "must be a file"),
        ({"numbers": [1], "note": "my_workspace/../bob/secret.txt"}, 422, None),
        ({"numbers": [1], "note": "team_workspaces/bobs/secret.txt"}, 404, "input 'note'"),
        ({"numbers": [1], "note": "data/embargoed/x.txt"}, 404, "input 'note'"),
        ({"numbers": [1], "note": "my_workspace/missing.txt"}, 404, "input 'note'"),
    ]
    for inputs, status, message in cases:
        response = pipelines_api.post(url, headers=auth("alice"), json={"inputs": inputs})
        assert response.status_code == status, (inputs, response.text)
        if message:
            assert message in response.json()["error"]["message"], (inputs, response.text)
    assert pipelines_api.get("/api/v1/runs", headers=auth("alice")).json() == []
    assert not settings.pipeline_runs_dir.exists() or not any(settings.pipeline_runs_dir.iterdir())


def test_a_failing_step_names_the_step_and_the_cause_and_delivers_nothing(
        pipelines_api, settings, session_factory, alice, auth):
    publish_pipeline(settings, session_factory, "fails", FAIL)
    run = pipelines_api.post("/api/v1/pipelines/fails/runs", headers=auth("alice"), json={}).json()
    run = wait_for_run(pipelines_api, run["id"], auth("alice"))
    assert run["state"] == "failed"
    assert "step 'fails' exited with code 3: bad calibration table" in run["reason"]
    no_provenance = pipelines_api.get(f"/api/v1/runs/{run['id']}/provenance", headers=auth("alice"))
    assert no_provenance.status_code == 404 and "recorded no provenance" in no_provenance.text
    assert not (settings.workspaces_dir / "users" / "alice" / "pipelines" / run["id"]).exists()


def test_a_step_over_its_memory_limit_is_stopped_and_says_so(pipelines_api, settings, session_factory, alice,
                                                              auth):
    publish_pipeline(settings, session_factory, "hog", HOG)
    run = pipelines_api.post("/api/v1/pipelines/hog/runs", headers=auth("alice"), json={}).json()
    run = wait_for_run(pipelines_api, run["id"], auth("alice"))
    assert run["state"] == "failed"
    assert "went over its memory limit of 64.0 MiB" in run["reason"], run["reason"]


def test_a_step_sees_only_its_inputs(pipelines_api, settings, session_factory, alice, auth, make_user):
    make_user("bob", password=None)
    bob_space = settings.workspaces_dir / "users" / "bob"
    bob_space.mkdir(parents=True, exist_ok=True)
    (bob_space / "secret.txt").write_text("bob's secret\n")
    publish_pipeline(settings, session_factory, "peek", PEEK)
    run = pipelines_api.post("/api/v1/pipelines/peek/runs", headers=auth("alice"),
                             json={"inputs": {"secret_path": str(bob_space / "secret.txt")}}).json()
    run = wait_for_run(pipelines_api, run["id"], auth("alice"))
    assert run["state"] == "completed", run
    seen = (settings.workspaces_dir / "users" / "alice" / "pipelines" / run["id"] / "seen.txt").read_text()
    assert "bob's secret" not in seen and "No such file" in seen


def test_cancel_stops_every_step_and_others_cannot_see_the_run(pipelines_api, settings, session_factory, alice,
                                                                auth, make_user):
    make_user("bob", password=None)
    publish_pipeline(settings, session_factory, "sleepy", SLEEPY)
    run = pipelines_api.post("/api/v1/pipelines/sleepy/runs", headers=auth("alice"), json={}).json()
    wait_for_run(pipelines_api, run["id"], auth("alice"), states=("running",))
    for path in (f"/api/v1/runs/{run['id']}", f"/api/v1/runs/{run['id']}/jobs", f"/api/v1/runs/{run['id']}/logs"):
        assert pipelines_api.get(path, headers=auth("bob")).status_code == 404
    assert pipelines_api.post(f"/api/v1/runs/{run['id']}/cancel", headers=auth("bob")).status_code == 404
    cancelled = pipelines_api.post(f"/api/v1/runs/{run['id']}/cancel", headers=auth("alice"))
    assert cancelled.status_code == 200
    run = wait_for_run(pipelines_api, run["id"], auth("alice"))
    assert run["state"] == "stopped" and run["reason"] == "cancelled by you"
    jobs = pipelines_api.get(f"/api/v1/runs/{run['id']}/jobs", headers=auth("alice")).json()
    assert all(j["state"] != "running" for j in jobs)


LINK_OUT = """cwlVersion: v1.2
class: CommandLineTool
label: Leaks
baseCommand: [sh, -c, 'ln -s ../../../../../../../../etc/hostname leak.txt']
inputs: []
outputs: {leak: {type: File, outputBinding: {glob: leak.txt}}}
"""

DOCKER_REQUIRED = """cwlVersion: v1.2
class: CommandLineTool
label: In a container
requirements: {DockerRequirement: {dockerPull: "python:3.11-slim"}}
baseCommand: [echo, hi]
inputs: []
outputs: []
"""

DOCKER_WITH_FALLBACK = """cwlVersion: v1.2
class: CommandLineTool
label: In a container, or the platform's tools
$namespaces: {datalabs: "https://datalabs.dev/cwl#"}
requirements: {DockerRequirement: {dockerPull: "debian:12"}}
hints: [{class: "datalabs:Environment", datalab: "tools"}]
baseCommand: [echo, hi]
inputs: []
outputs: []
"""

PARALLEL = """cwlVersion: v1.2
class: Workflow
requirements: {ScatterFeatureRequirement: {}}
inputs: {items: 'int[]'}
outputs: []
steps:
  nap:
    run:
      class: CommandLineTool
      baseCommand: [sleep, '0.5']
      inputs: {n: int}
      outputs: []
    scatter: n
    in: {n: items}
    out: []
"""


def test_an_output_link_leading_outside_the_step_is_refused(pipelines_api, settings, session_factory, alice, auth):
    publish_pipeline(settings, session_factory, "leaks", LINK_OUT)
    run = pipelines_api.post("/api/v1/pipelines/leaks/runs", headers=auth("alice"), json={}).json()
    run = wait_for_run(pipelines_api, run["id"], auth("alice"))
    assert run["state"] == "failed"
    assert "symbolic link that leads outside its output folder: leak.txt" in run["reason"], run["reason"]
    assert not (settings.workspaces_dir / "users" / "alice" / "pipelines" / run["id"]).exists()


def test_a_workspace_link_to_outside_is_not_an_input(pipelines_api, settings, session_factory, alice, auth):
    publish_pipeline(settings, session_factory, "squares", SCATTER)
    (settings.workspaces_dir / "users" / "alice" / "passwd.txt").symlink_to("/etc/passwd")
    response = pipelines_api.post("/api/v1/pipelines/squares/runs", headers=auth("alice"),
                                  json={"inputs": {"numbers": [1], "note": "my_workspace/passwd.txt"}})
    assert response.status_code in (403, 404, 422), response.text
    assert "passwd.txt" in response.json()["error"]["message"]


def test_a_required_container_image_is_refused_unless_an_environment_is_named(pipelines_api, settings,
                                                                               session_factory, alice, auth):
    publish_pipeline(settings, session_factory, "boxed", DOCKER_REQUIRED)
    refused = pipelines_api.post("/api/v1/pipelines/boxed/runs", headers=auth("alice"), json={})
    assert refused.status_code == 422
    assert "requires the container image 'python:3.11-slim'" in refused.json()["error"]["message"]
    publish_pipeline(settings, session_factory, "fallback", DOCKER_WITH_FALLBACK)
    unknown_env = pipelines_api.post("/api/v1/pipelines/fallback/runs", headers=auth("alice"), json={})
    assert unknown_env.status_code == 422 and "datalab 'tools'" in unknown_env.json()["error"]["message"]


def test_outputs_go_to_a_chosen_team_workspace_and_only_a_member_may_choose_it(
        pipelines_api, settings, session_factory, make_user, auth):
    make_user("alice", password=None, teams={"astro": False})
    make_user("bob", password=None)
    publish_pipeline(settings, session_factory, "leaks-not", FAIL.replace("exit 3", "exit 0").replace(
        "outputs: []", "outputs: {}"))
    refused = pipelines_api.post("/api/v1/pipelines/leaks-not/runs", headers=auth("bob"), json={"team": "astro"})
    assert refused.status_code == 404
    run = pipelines_api.post("/api/v1/pipelines/leaks-not/runs", headers=auth("alice"), json={"team": "astro"}).json()
    run = wait_for_run(pipelines_api, run["id"], auth("alice"))
    assert run["state"] == "completed" and run["output_path"] == f"team_workspaces/astro/pipelines/{run['id']}"
    assert (settings.workspaces_dir / "teams" / "astro" / "pipelines" / run["id"]).is_dir()


def test_a_scatter_never_runs_more_steps_at_once_than_the_cpus_given(pipelines_api, settings, session_factory,
                                                                      alice, auth):
    publish_pipeline(settings, session_factory, "naps", PARALLEL)
    run = pipelines_api.post("/api/v1/pipelines/naps/runs", headers=auth("alice"),
                             json={"inputs": {"items": [1, 2, 3, 4]}, "cpu": 1}).json()
    run = wait_for_run(pipelines_api, run["id"], auth("alice"))
    assert run["state"] == "completed"
    jobs = sorted(pipelines_api.get(f"/api/v1/runs/{run['id']}/jobs", headers=auth("alice")).json(),
                  key=lambda j: j["started_at"])
    assert len(jobs) == 4
    for earlier, later in zip(jobs, jobs[1:]):
        assert later["started_at"] >= earlier["ended_at"], (earlier, later)  # one at a time with one CPU
