"""Sessions on the real single-node Slurm cluster (``scripts/slurm``), end to end: psa-lab launched as a
batch job and used through the proxy (a kernel runs code over its WebSocket), the queue shown to the
user while the cluster is full, and a restarted server adopting its Slurm jobs again."""

from __future__ import annotations

import shutil
import time

import httpx
import pytest

from datalabs.app import create_app
from datalabs.execution.slurm_cli import parse_oneliner
from datalabs.sessions.models import LabSession
from datalabs.storage.datasets import DatasetService
from tests.conftest import in_process_client
from tests.sessions.conftest import publish_lab
from tests.sessions.helpers import wait_for
from tests.sessions.test_local_sessions import LABEL, ROOT, SHARED_PDS, UV_CACHE, open_kernel, run_code
from tests.slurm_cluster import slurm_settings  # noqa: F401 - fixture
from tests.slurm_cluster import fill_the_cluster, node_name, slurm

pytestmark = pytest.mark.live


@pytest.fixture
def people(new_user, auth):
    new_user("alice")
    new_user("bob")
    return {"alice": auth("alice"), "bob": auth("bob")}


def _job_of(session_id: str) -> dict:
    jobs = slurm("squeue", "--noheader", "--states=all", f"--name=datalab-{session_id}", "--format=%i").stdout.split()
    assert len(jobs) == 1, jobs
    return parse_oneliner(slurm("scontrol", "show", "job", "--oneliner", jobs[0]).stdout)


@pytest.mark.skipif(not SHARED_PDS.is_dir(), reason="needs ../shared/testdata")
def test_psa_lab_runs_as_a_slurm_job_and_is_used_through_the_proxy(slurm_settings, live_server, session_factory,
                                                                  people, tmp_path, db):
    settings = slurm_settings
    settings.build_environments = True
    settings.env_cache_dir = UV_CACHE
    app = create_app(settings)
    package = tmp_path / "psa-lab"
    shutil.copytree(ROOT / "examples" / "datalabs" / "psa-lab", package)
    publish_lab(settings, session_factory, package, "psa-lab", meta="keep", builder=app.state.env_builder)
    DatasetService(db).register("pds", SHARED_PDS)
    alice, bob = people["alice"], people["bob"]
    with httpx.Client(base_url=live_server, timeout=60) as http:
        created = http.post("/api/v1/sessions", json={"datalab": "psa-lab", "volumes": ["pds"], "memory": "2G",
                                                      "cpu": 1}, headers=alice)
        assert created.status_code == 201, created.text
        session_id = created.json()["id"]
        wait_for(http, session_id, alice, timeout=600)
        job = _job_of(session_id)
        assert job["JobState"] == "RUNNING" and job["BatchHost"] == node_name()
        assert job["NumCPUs"] == "1" and job["MinMemoryNode"] == f"{2048 + 96}M"
        base = f"/datalabs/{session_id}/"
        ws_url, xsrf = open_kernel(http, live_server, base, alice)
        code = (
            "import os, pdr\n"
            f"product = pdr.read('/media/data/pds/{LABEL}').metaget('PRODUCT_ID')\n"
            "open('/media/my_workspace/from-slurm.txt', 'w').write(product)\n"
            "print('product', product, 'job', os.environ.get('SLURM_JOB_ID', 'hidden'))\n"
        )
        output, errors = run_code(ws_url, {**alice, "Cookie": f"_xsrf={xsrf}"}, code)
        assert errors == [] and "product 1_N1472853667.118" in output
        assert "job hidden" in output  # the sandbox's environment is the datalab's, not the job's
        assert (settings.workspaces_dir / "users" / "alice" / "from-slurm.txt").read_text() == "1_N1472853667.118"
        assert http.get(base + "api/status", headers=bob).status_code == 404
        assert http.delete(f"/api/v1/sessions/{session_id}", headers=alice).status_code == 200
        wait_for(http, session_id, alice, states=("stopped",), timeout=60)
        assert _job_of(session_id)["JobState"] in ("CANCELLED", "COMPLETED")


def test_the_queue_is_shown_while_the_cluster_is_full_and_the_session_starts_when_it_frees(
        slurm_settings, running_app, session_factory, people, tmp_path):
    publish_lab(slurm_settings, session_factory, tmp_path / "tiny", "tiny")
    blocker = fill_the_cluster()
    app = running_app()
    alice = people["alice"]
    with in_process_client(app) as http:
        session_id = http.post("/api/v1/sessions", json={"datalab": "tiny"}, headers=alice).json()["id"]
        deadline = time.monotonic() + 60
        while True:
            messages = [e["message"] for e in http.get(f"/api/v1/sessions/{session_id}/events", headers=alice).json()]
            if any("reason Resources" in m for m in messages) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        queued = [m for m in messages if m.startswith("queued: position 1, ")]
        assert queued and "waiting for free CPUs or memory" in queued[-1], messages
        assert http.get(f"/api/v1/sessions/{session_id}", headers=alice).json()["state"] == "starting"
        slurm("scancel", blocker)
        wait_for(http, session_id, alice, timeout=60)
        assert http.get(f"/datalabs/{session_id}/", headers=alice).status_code == 200


def test_a_restarted_server_adopts_its_slurm_jobs(slurm_settings, running_app, session_factory, people, tmp_path, db):
    publish_lab(slurm_settings, session_factory, tmp_path / "tiny", "tiny")
    alice = people["alice"]
    first = running_app()
    with in_process_client(first) as http:
        session_id = http.post("/api/v1/sessions", json={"datalab": "tiny"}, headers=alice).json()["id"]
        wait_for(http, session_id, alice, timeout=60)
    first.state.supervisor.shutdown(stop_sessions=False)  # the server goes away; the job stays
    state = db.get(LabSession, session_id).backend_state
    assert set(state) >= {"job_id", "run_dir"} and _job_of(session_id)["JobState"] == "RUNNING"
    again = running_app()
    with in_process_client(again) as http:
        deadline = time.monotonic() + 30
        while True:
            messages = [e["message"] for e in http.get(f"/api/v1/sessions/{session_id}/events", headers=alice).json()]
            if "adopted again after a server restart" in messages or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert "adopted again after a server restart" in messages
        page = http.get(f"/datalabs/{session_id}/", headers=alice)
        assert page.status_code == 200 and "Directory listing" in page.text
        http.delete(f"/api/v1/sessions/{session_id}", headers=alice)
        wait_for(http, session_id, alice, states=("stopped",), timeout=60)
    assert _job_of(session_id)["JobState"] in ("CANCELLED", "COMPLETED")


def test_admins_see_the_backend_and_the_cluster(slurm_settings, running_app, new_user, auth):
    new_user("root", role="admin")
    new_user("carol")
    app = running_app()
    with in_process_client(app) as http:
        seen = http.get("/api/v1/backend", headers=auth("root"))
        assert seen.status_code == 200, seen.text
        body = seen.json()
        assert body["name"] == "slurm" and body["enforces_limits"]
        assert body["details"]["slurm_conf"] == str(slurm_settings.slurm_conf)
        assert body["details"]["sinfo"].startswith("datalabs* 1 ")  # partition (* default), nodes, CPUs, memory, state
        assert http.get("/api/v1/backend", headers=auth("carol")).status_code == 403
        assert http.get("/api/v1/backend").status_code == 401
