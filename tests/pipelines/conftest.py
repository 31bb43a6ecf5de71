"""Shared fixtures for pipeline tests: publish a CWL document, and an API whose pipeline
supervisor runs real driver processes (cwltool in the sandbox)."""

from __future__ import annotations

import time

import pytest

from datalabs.accounts.actor import Actor
from datalabs.accounts.service import AccountService
from datalabs.app import create_app
from datalabs.pipelines.service import PipelineService
from tests.conftest import in_process_client


def publish_pipeline(settings, session_factory, name: str, text: str, *, version: str = "1.0",
                     filename: str | None = None) -> str:
    """Import CWL text and publish it (as the admin 'pipeadmin')."""
    with session_factory() as db:
        accounts = AccountService(db)
        if accounts.repo.user_by_name("pipeadmin") is None:
            accounts.create_user("pipeadmin", password=None, role="admin")
        admin = Actor.of(accounts.repo.user_by_name("pipeadmin"))
        service = PipelineService(db, settings)
        imported = service.import_text(admin, text, filename or f"{name}.cwl", name=name, version=version)
        service.submit(admin, name, imported.version)
        service.publish(admin, name, imported.version)
    return name


@pytest.fixture
def pipelines_api(settings):
    """An in-process client to an app whose pipeline supervisor runs (with its warm driver launcher, as in
    production); runs are cancelled afterwards."""
    settings.pipeline_warm_launcher = True
    app = create_app(settings)
    app.state.pipeline_supervisor.start()
    with in_process_client(app) as http:
        http.app = app
        yield http
    app.state.pipeline_supervisor.shutdown()
    _stop_drivers(settings)
    app.state.engine.dispose()


def _stop_drivers(settings) -> None:
    import json
    import os
    import signal

    for config in settings.pipeline_runs_dir.glob("*/events.jsonl"):
        for line in config.read_text().splitlines():
            event = json.loads(line)
            if event.get("event") == "driver_started":
                try:
                    os.killpg(event["pid"], signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def wait_for_run(api, run_id: str, headers: dict, *, states=("completed", "failed", "stopped"),
                 timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api.get(f"/api/v1/runs/{run_id}", headers=headers).json()
        if run["state"] in states:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still {run['state']} after {timeout} s: {run}")
