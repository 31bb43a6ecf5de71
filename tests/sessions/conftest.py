"""Shared fixtures for session tests: a published datalab to launch, and an app whose
supervisor runs (the in-process client does not run the lifespan)."""

from __future__ import annotations

from pathlib import Path

import pytest

from datalabs.accounts.actor import Actor
from datalabs.accounts.service import AccountService
from datalabs.app import create_app
from datalabs.catalogue.service import CatalogueService
from tests.conftest import in_process_client

WEB_LAB = """title: Tiny web lab
alternateName: {name}
abstract: A web server for tests.
distribution.license: MIT
version: "{version}"
runtime:
  kind: web
  command: {command}
  environment: none
  cpu: {{default: 0.5, max: 2}}
  memory: {{default: 256M, max: 1G}}
"""
HTTP_SERVER = '[python3, -m, http.server, "{port}", --bind, 127.0.0.1]'


def publish_lab(settings, session_factory, folder: Path, name: str = "tiny", *, command: str = HTTP_SERVER,
                version: str = "1.0", meta: str | None = None, builder=None) -> str:
    """Import, submit and publish a datalab package (as the admin 'labadmin': server folders are admins')."""
    folder.mkdir(parents=True, exist_ok=True)
    if meta != "keep":  # "keep": a real package folder (e.g. a copy of examples/datalabs/psa-lab)
        (folder / "datalab-meta.yml").write_text(meta or WEB_LAB.format(name=name, command=command, version=version))
    with session_factory() as db:
        accounts = AccountService(db)
        if accounts.repo.user_by_name("labadmin") is None:
            accounts.create_user("labadmin", password="password-123456", role="admin")
        admin = Actor.of(accounts.repo.user_by_name("labadmin"))
        service = CatalogueService(db, settings, builder)
        imported = service.import_folder(admin, folder)
        service.submit(admin, name, imported.version)
        service.publish(admin, name, imported.version)
    return name


@pytest.fixture
def tiny_lab(settings, session_factory, tmp_path):
    return publish_lab(settings, session_factory, tmp_path / "tiny-package")


@pytest.fixture
def running_app(settings):
    """An app with its supervisor running, and every session it made stopped afterwards."""
    made = []

    def make(backend=None):
        app = create_app(settings, backend=backend)
        app.state.supervisor.start()
        made.append(app)
        return app

    yield make
    for app in made:
        app.state.supervisor.shutdown(stop_sessions=True)
        app.state.engine.dispose()


@pytest.fixture
def api(running_app):
    app = running_app()
    with in_process_client(app) as http:
        http.app = app
        yield http
