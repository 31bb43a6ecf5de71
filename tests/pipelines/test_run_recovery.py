"""A server stopped mid-run, and a workflow engine killed mid-run: no run, job or output is lost."""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest

from datalabs.app import create_app
from tests.conftest import in_process_client
from tests.pipelines.conftest import publish_pipeline, wait_for_run

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (scripts/setup installs it)")

TWO_STEPS = """cwlVersion: v1.2
class: Workflow
label: Quick then slow
inputs:
  seconds: int
outputs:
  result:
    type: File
    outputSource: slow/out
steps:
  quick:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c, 'date +%s%N > first.txt']
      inputs: []
      outputs: {out: {type: File, outputBinding: {glob: first.txt}}}
    in: {}
    out: [out]
  slow:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c]
      arguments: ['sleep $0; cat $1 > result.txt; echo done >> result.txt', $(inputs.seconds), $(inputs.first.path)]
      inputs: {seconds: int, first: File}
      outputs: {out: {type: File, outputBinding: {glob: result.txt}}}
    in: {seconds: seconds, first: quick/out}
    out: [out]
"""


@pytest.fixture
def alice(make_user):
    return make_user("alice", password=None)


def _running_app(settings):
    app = create_app(settings)
    app.state.pipeline_supervisor.start()
    return app


def _wait_for_job(api, run_id, headers, step, state="running"):
    import time

    for _ in range(600):
        jobs = api.get(f"/api/v1/runs/{run_id}/jobs", headers=headers).json()
        if any(j["step"] == step and j["state"] == state for j in jobs):
            return jobs
        time.sleep(0.1)
    raise AssertionError(f"no {state} job of step {step}: {jobs}")


def _driver_pid(settings, run_id):
    events = (settings.pipeline_runs_dir / run_id / "events.jsonl").read_text().splitlines()
    return [json.loads(e)["pid"] for e in events if json.loads(e)["event"] == "driver_started"][-1]


def test_a_run_goes_on_while_the_server_is_down(settings, session_factory, alice, auth):
    publish_pipeline(settings, session_factory, "quick-slow", TWO_STEPS)
    first = _running_app(settings)
    with in_process_client(first) as api:
        run = api.post("/api/v1/pipelines/quick-slow/runs", headers=auth("alice"), json={"inputs": {"seconds": 3}}).json()
        _wait_for_job(api, run["id"], auth("alice"), "slow")
    first.state.pipeline_supervisor.shutdown()  # the server goes away; the run's engine does not
    first.state.engine.dispose()

    second = _running_app(settings)
    try:
        with in_process_client(second) as api:
            done = wait_for_run(api, run["id"], auth("alice"))
            assert done["state"] == "completed", done
            assert done["attempts"] == 1
            jobs = api.get(f"/api/v1/runs/{run['id']}/jobs", headers=auth("alice")).json()
            assert sorted(j["step"] for j in jobs) == ["quick", "slow"]
    finally:
        second.state.pipeline_supervisor.shutdown()
        second.state.engine.dispose()
    result = settings.workspaces_dir / "users" / "alice" / "pipelines" / run["id"] / "result.txt"
    assert result.read_text().endswith("done\n")


def test_a_killed_workflow_engine_is_resumed_and_reuses_finished_jobs(settings, session_factory, alice, auth):
    publish_pipeline(settings, session_factory, "quick-slow", TWO_STEPS)
    app = _running_app(settings)
    try:
        with in_process_client(app) as api:
            run = api.post("/api/v1/pipelines/quick-slow/runs", headers=auth("alice"),
                           json={"inputs": {"seconds": 2}}).json()
            _wait_for_job(api, run["id"], auth("alice"), "slow")
            quick_output = next(settings.pipeline_runs_dir.glob(f"{run['id']}/cache/jobs/*/*/first.txt")).read_text()
            os.killpg(_driver_pid(settings, run["id"]), signal.SIGKILL)  # as a crash or the OOM killer would
            done = wait_for_run(api, run["id"], auth("alice"))
            assert done["state"] == "completed", done
            assert done["attempts"] == 2
            events = [e["message"] for e in api.get(f"/api/v1/runs/{run['id']}/events", headers=auth("alice")).json()]
            assert any("resuming the run" in message for message in events)
    finally:
        app.state.pipeline_supervisor.shutdown()
        app.state.engine.dispose()
    result = settings.workspaces_dir / "users" / "alice" / "pipelines" / run["id"] / "result.txt"
    assert result.read_text() == quick_output + "done\n"  # the quick step was not run again
