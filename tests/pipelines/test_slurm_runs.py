"""Pipeline runs on the real single-node Slurm cluster (``scripts/slurm``): every CWL step is a Slurm job
(``srun``), a scatter fans out as one job per element, cancel cancels the jobs, and Slurm's verdict on a
step (OUT_OF_MEMORY) becomes the step's reason."""

from __future__ import annotations

import time

import pytest

from datalabs.execution.slurm_cli import parse_oneliner
from datalabs.pipelines.slurm_steps import run_job_name
from tests.pipelines.conftest import publish_pipeline, wait_for_run
from tests.pipelines.test_examples_on_platform import _inputs_in_workspace, _publish_example
from tests.slurm_cluster import slurm_settings  # noqa: F401 - fixture
from tests.slurm_cluster import slurm

pytestmark = pytest.mark.live


def _jobs_of(run_id: str, states: str = "all") -> list[dict]:
    ids = slurm("squeue", "--noheader", f"--states={states}", f"--name={run_job_name(run_id)}",
                "--format=%i").stdout.split()
    return [parse_oneliner(slurm("scontrol", "show", "job", "--oneliner", i).stdout) for i in ids]


def test_scatter_gather_runs_each_step_as_a_slurm_job(slurm_settings, pipelines_api, session_factory, make_user,
                                                     auth):
    settings = slurm_settings
    make_user("alice", password=None)
    _publish_example(settings, session_factory, "scatter-gather")
    inputs = _inputs_in_workspace(settings, "alice", "scatter-gather")
    response = pipelines_api.post("/api/v1/pipelines/scatter-gather/runs", headers=auth("alice"),
                                  json={"inputs": inputs})
    assert response.status_code == 201, response.text
    run = wait_for_run(pipelines_api, response.json()["id"], auth("alice"), timeout=180)
    assert run["state"] == "completed", (run["reason"], pipelines_api.get(
        f"/api/v1/runs/{run['id']}/logs", headers=auth("alice")).text[-3000:])
    delivered = settings.workspaces_dir / "users" / "alice" / "pipelines" / run["id"]
    assert "sum: 55" in (delivered / "total.txt").read_text()
    assert run["step_totals"]["square"] == 5
    jobs = _jobs_of(run["id"])
    # split, five squares (the scatter fanned out as one job per element) and gather: seven Slurm jobs
    assert len(jobs) == 7 and {j["JobState"] for j in jobs} == {"COMPLETED"}
    assert {j["MinMemoryNode"] for j in jobs} == {"256M"} and {j["NumCPUs"] for j in jobs} == {"1"}
    logs = settings.pipeline_runs_dir / run["id"] / "logs"
    assert len(list(logs.glob("*.slurm-job"))) == 7  # each step's launcher saw its own Slurm job


SLEEPY_SCATTER = """cwlVersion: v1.2
class: Workflow
label: Sleepy scatter
requirements: {ScatterFeatureRequirement: {}}
inputs: []
steps:
  nap:
    run:
      class: CommandLineTool
      baseCommand: [sleep, '300']
      inputs: {which: {type: int}}
      outputs: []
    scatter: which
    in: {which: {default: [1, 2, 3, 4, 5, 6]}}
    out: []
outputs: []
"""


def test_cancel_cancels_the_runs_slurm_jobs(slurm_settings, pipelines_api, session_factory, make_user, auth):
    make_user("alice", password=None)
    publish_pipeline(slurm_settings, session_factory, "sleepy-scatter", SLEEPY_SCATTER)
    run = pipelines_api.post("/api/v1/pipelines/sleepy-scatter/runs", headers=auth("alice"), json={}).json()
    deadline = time.monotonic() + 60
    while len(_jobs_of(run["id"], "PENDING,RUNNING")) < 6:  # two run (the node's CPUs), four wait in Slurm's queue
        assert time.monotonic() < deadline, _jobs_of(run["id"])
        time.sleep(0.2)
    assert {j["JobState"] for j in _jobs_of(run["id"], "PENDING,RUNNING")} == {"RUNNING", "PENDING"}
    assert pipelines_api.post(f"/api/v1/runs/{run['id']}/cancel", headers=auth("alice")).status_code == 200
    run = wait_for_run(pipelines_api, run["id"], auth("alice"), timeout=60)
    assert run["state"] == "stopped" and run["reason"] == "cancelled by you"
    deadline = time.monotonic() + 30
    while _jobs_of(run["id"], "PENDING,RUNNING,COMPLETING"):
        assert time.monotonic() < deadline, _jobs_of(run["id"], "PENDING,RUNNING,COMPLETING")
        time.sleep(0.2)
    ended = {j["JobState"] for j in _jobs_of(run["id"])}
    # the waiting ones cancelled; a running one may end FAILED first (its srun stopped with the driver)
    assert "CANCELLED" in ended and ended <= {"CANCELLED", "FAILED"}, ended


HUNGRY = """cwlVersion: v1.2
class: CommandLineTool
label: Hungry
requirements: {ResourceRequirement: {ramMin: 100}}
baseCommand: [python3, -c, "import time\\nb = []\\nwhile True:\\n    b.append(bytearray(20 * 2**20))\\n    time.sleep(0.01)"]
inputs: []
outputs: []
"""


def test_a_step_slurm_ends_for_its_memory_fails_with_slurms_reason(slurm_settings, pipelines_api, session_factory,
                                                                   make_user, auth):
    make_user("alice", password=None)
    publish_pipeline(slurm_settings, session_factory, "hungry", HUNGRY)
    run = pipelines_api.post("/api/v1/pipelines/hungry/runs", headers=auth("alice"), json={}).json()
    run = wait_for_run(pipelines_api, run["id"], auth("alice"), timeout=120)
    assert run["state"] == "failed"
    jobs = pipelines_api.get(f"/api/v1/runs/{run['id']}/jobs", headers=auth("alice")).json()
    assert len(jobs) == 1 and "OUT_OF_MEMORY" in jobs[0]["reason"] and "100.0 MiB" in jobs[0]["reason"], jobs
    assert [j["JobState"] for j in _jobs_of(run["id"])] == ["OUT_OF_MEMORY"]
