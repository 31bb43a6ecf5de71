"""The shipped example pipelines, imported into the catalogue and run through the platform: in the
sandbox, with their example inputs copied into the user's workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from datalabs.accounts.actor import Actor
from datalabs.accounts.service import AccountService
from datalabs.pipelines.service import PipelineService
from tests.pipelines.conftest import wait_for_run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipelines"
SHELL_EXAMPLES = ["simple", "timestamp", "hello-pipeman", "cdr-demo", "scatter-gather"]

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (scripts/setup installs it)")


def _publish_example(settings, session_factory, name: str) -> None:
    with session_factory() as db:
        accounts = AccountService(db)
        if accounts.repo.user_by_name("pipeadmin") is None:
            accounts.create_user("pipeadmin", password=None, role="admin")
        admin = Actor.of(accounts.repo.user_by_name("pipeadmin"))
        service = PipelineService(db, settings)
        imported = service.import_folder(admin, EXAMPLES / name)
        service.submit(admin, imported.pipeline.name, imported.version)
        service.publish(admin, imported.pipeline.name, imported.version)


def _inputs_in_workspace(settings, user: str, name: str) -> dict:
    """The example job, with its files copied to my_workspace/examples/<name>/ and named by platform path."""
    job = yaml.safe_load((EXAMPLES / name / "example-job.yml").read_text()) or {}
    target = settings.workspaces_dir / "users" / user / "examples" / name
    target.mkdir(parents=True, exist_ok=True)
    for key, value in list(job.items()):
        if isinstance(value, dict) and value.get("class") in ("File", "Directory"):
            source = EXAMPLES / name / value["path"]
            copy = target / source.name
            if source.is_dir():
                shutil.copytree(source, copy, dirs_exist_ok=True)
            else:
                shutil.copy(source, copy)
            job[key] = f"my_workspace/examples/{name}/{source.name}"
    return job


@pytest.mark.parametrize("name", SHELL_EXAMPLES)
def test_example_runs_on_the_platform(name, pipelines_api, settings, session_factory, make_user, auth):
    make_user("alice", password=None)
    _publish_example(settings, session_factory, name)
    inputs = _inputs_in_workspace(settings, "alice", name)
    response = pipelines_api.post(f"/api/v1/pipelines/{name}/runs", headers=auth("alice"), json={"inputs": inputs})
    assert response.status_code == 201, response.text
    run = wait_for_run(pipelines_api, response.json()["id"], auth("alice"))
    assert run["state"] == "completed", (run["reason"], pipelines_api.get(
        f"/api/v1/runs/{run['id']}/logs", headers=auth("alice")).text[-3000:])
    delivered = settings.workspaces_dir / "users" / "alice" / "pipelines" / run["id"]
    files = {p.name: p for p in delivered.rglob("*") if p.is_file()}
    assert files, run
    if name == "hello-pipeman":
        text = next(iter(files.values())).read_text()
        import subprocess

        banner = subprocess.run(["figlet", "PIPEMAN"], capture_output=True, text=True).stdout
        assert banner.strip() in text
    if name == "scatter-gather":
        assert "sum: 55" in (delivered / "total.txt").read_text()
        assert run["outputs"]["sum"] == 55  # a JavaScript expression, evaluated by node in a sandbox
        assert run["step_totals"]["square"] == 5


SHARED_PDS = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "pds"
UV_CACHE = Path.home() / ".cache" / "datalabs-tests" / "uv"  # shared with the session tests: warm builds


@pytest.fixture
def psa_lab_environment(settings, session_factory, tmp_path):
    """The psa-lab datalab published with its environment built (pdr, matplotlib), as pds-quicklook needs."""
    import time

    from datalabs.catalogue.environments import EnvironmentBuilder
    from datalabs.catalogue.models import Environment
    from tests.sessions.conftest import publish_lab

    settings.build_environments = True
    settings.env_cache_dir = UV_CACHE
    builder = EnvironmentBuilder(settings, session_factory)
    package = tmp_path / "psa-lab"
    shutil.copytree(EXAMPLES.parent / "datalabs" / "psa-lab", package)
    publish_lab(settings, session_factory, package, "psa-lab", meta="keep", builder=builder)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        with session_factory() as db:
            statuses = [e.status for e in db.query(Environment)]
        if statuses and all(s in ("ready", "failed") for s in statuses):
            break
        time.sleep(0.5)
    assert statuses == ["ready"], statuses
    yield
    builder.shutdown(wait=True)


def test_pds_quicklook_renders_the_products_of_a_volume_folder(psa_lab_environment, pipelines_api, settings,
                                                               session_factory, make_user, auth, make_volume):
    make_user("alice", password=None)
    sample = EXAMPLES / "pds-quicklook" / "sample"
    make_volume("samples", files={f"images/{p.name}": p.read_bytes() for p in sample.iterdir()})
    _publish_example(settings, session_factory, "pds-quicklook")
    response = pipelines_api.post("/api/v1/pipelines/pds-quicklook/runs", headers=auth("alice"),
                                  json={"inputs": {"volume": "data/samples/images"}})
    assert response.status_code == 201, response.text
    run = wait_for_run(pipelines_api, response.json()["id"], auth("alice"), timeout=300)
    assert run["state"] == "completed", (run["reason"], pipelines_api.get(
        f"/api/v1/runs/{run['id']}/logs", headers=auth("alice")).text[-3000:])
    sheet = settings.workspaces_dir / "users" / "alice" / "pipelines" / run["id"] / "quicklooks"
    pngs = sorted(sheet.glob("*.png"))
    assert pngs and pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (sheet / "index.html").read_text()
    assert all(png.name in html for png in pngs)
    steps = {s["step"]: s for s in run["steps"]}
    assert steps["render"]["done"] == steps["render"]["total"] >= 1
