"""Shared fixtures. Every test database is built by the real Alembic migrations.

The database is SQLite unless ``DATALABS_TEST_DATABASE_URL`` names a PostgreSQL database
(``scripts/test`` runs the suite on both). On SQLite each test gets a copy of a migrated
template file; on PostgreSQL the schema is migrated once and the tables are emptied (and their sequences
reset) after each test.

Fixtures:
- ``settings``: Settings on a fresh temporary data dir (and the test database); datalab environments
  are not built on import (``build_environments=False``) unless a test turns it on.
- ``session_factory`` / ``db``: SQLAlchemy session factory / one session.
- ``app``: the ASGI app from ``create_app(settings)``.
- ``client``: an ``httpx.Client`` calling the app in-process (fast; for most API tests).
- ``live_server``: the app served by a real uvicorn on a loopback port; yields its base URL.
- ``make_user(name, role="user", password=None, teams={})``: create a user (and memberships).
- ``new_user(name, role="user", teams={})``: the same without a password (faster).
- ``token_for(name, scopes=None)``: an API token secret for that user.
- ``auth(name)``: ``{"Authorization": "Bearer ..."}`` headers for that user (with the ``admin``
  scope when the user is an admin).
- ``make_volume(name, private=False, teams=(), release_date=None, files={...})``: an archive volume
  on a temporary folder holding ``files`` (relative path -> bytes or str).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import anyio
import httpx
import pytest
import uvicorn
from sqlalchemy import text

from datalabs.accounts.service import AccountService
from datalabs.app import create_app
from datalabs.db import migrate
from datalabs.db.engine import make_engine, make_session_factory
from datalabs.db.models import Base
from datalabs.settings import Settings
from datalabs.storage.datasets import DatasetService

SHARED_PDS = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "pds"
PG_URL = os.environ.get("DATALABS_TEST_DATABASE_URL")
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path | None:
    if PG_URL:
        return None
    folder = tmp_path_factory.mktemp("template")
    migrate.upgrade(Settings(data_dir=folder, database_url=None))
    return folder / "datalabs.sqlite3"


DATABASE_WORDS = ("PG_URL", "DATABASE_URL", "Settings(", "make_engine", "migrate.")


def _module_uses_database(module) -> bool:
    try:
        source = Path(module.__file__).read_text()
    except (AttributeError, OSError):
        return True
    return any(word in source for word in DATABASE_WORDS)


def pytest_collection_modifyitems(config, items):
    """On the PostgreSQL pass, a test that never touches a database (no ``settings`` fixture among the ones
    it uses, and its module builds no settings or engine of its own: the PDS3 parser, the sandbox, the Slurm
    backend, ...) is skipped: it ran on the SQLite pass, and would only run again the same way."""
    if not PG_URL:
        return
    skip = pytest.mark.skip(reason="database-independent: it runs on the SQLite pass")
    verdicts: dict = {}
    for item in items:
        if "settings" in getattr(item, "fixturenames", ()):
            continue
        module = getattr(item, "module", None)
        if module not in verdicts:
            verdicts[module] = _module_uses_database(module)
        if not verdicts[module]:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def _postgres_migrated() -> bool:
    if not PG_URL:
        return False
    settings = Settings(data_dir=Path("/tmp"), database_url=PG_URL)
    engine = make_engine(settings)
    with engine.begin() as connection:  # a clean schema each run: migrations start from nothing
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    migrate.upgrade(settings)
    return True


@pytest.fixture
def settings(tmp_path, _sqlite_template, _postgres_migrated, monkeypatch) -> Settings:
    for key in list(os.environ):
        if key.startswith("DATALABS_") and key != "DATALABS_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if PG_URL:
        result = Settings(data_dir=data_dir, database_url=PG_URL, secret_key="test-secret", build_environments=False,
                          backend="fake", pipeline_warm_launcher=False)
    else:
        shutil.copy(_sqlite_template, data_dir / "datalabs.sqlite3")
        result = Settings(data_dir=data_dir, secret_key="test-secret", build_environments=False,
                          backend="fake", pipeline_warm_launcher=False)
    yield result
    if PG_URL:
        engine = make_engine(result)
        with engine.begin() as connection:  # DELETE and reset the sequences: ten times faster than TRUNCATE
            for table in reversed(Base.metadata.sorted_tables):  # children first (foreign keys)
                connection.execute(table.delete())
            connection.execute(text("SELECT setval(c.oid, 1, false) FROM pg_class c "
                                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                    "WHERE c.relkind = 'S' AND n.nspname = 'public'"))
        engine.dispose()


@pytest.fixture
def session_factory(settings):
    engine = make_engine(settings)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def db(session_factory):
    with session_factory() as session:
        yield session


@pytest.fixture
def app(settings):
    app = create_app(settings)
    yield app
    # a scan a test started (POST .../scans) runs in a thread of the app: it ends before the test's database is
    # cleaned, or the cleanup's DELETEs and the scan's last commit deadlock on PostgreSQL
    app.state.archive_scans.wait(120)


class InProcess(httpx.BaseTransport):
    """Lets tests use a plain (sync) ``httpx.Client`` against the ASGI app, without a server."""

    def __init__(self, app) -> None:
        self.transport = httpx.ASGITransport(app=app)

    def handle_request(self, request):
        async def call():
            response = await self.transport.handle_async_request(request)
            body = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=body, request=request)

        return anyio.run(call)


def in_process_client(app) -> httpx.Client:
    return httpx.Client(transport=InProcess(app), base_url="http://testserver")


@pytest.fixture
def client(app):
    with in_process_client(app) as http:
        yield http


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_server(app):
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def make_user(session_factory):
    def make(name: str, role: str = "user", password: str | None = PASSWORD, teams: dict | None = None):
        with session_factory() as session:
            service = AccountService(session)
            if service.repo.user_by_name(name) is None:
                service.create_user(name, role=role, password=password)
            for team, admin in (teams or {}).items():
                if service.repo.team_by_name(team) is None:
                    service.create_team(team)
                service.add_member(team, name, admin=admin)
        return name

    return make


@pytest.fixture
def new_user(make_user):
    """Like ``make_user`` but without a password: skips argon2 hashing where no login is needed."""

    def make(name: str, role: str = "user", teams: dict | None = None) -> str:
        return make_user(name, role=role, password=None, teams=teams)

    return make


@pytest.fixture
def token_for(session_factory):
    def make(name: str, scopes: list[str] | None = None, **kwargs) -> str:
        with session_factory() as session:
            return AccountService(session).create_token(name, scopes=scopes, **kwargs).secret

    return make


@pytest.fixture
def auth(token_for, session_factory):
    cache: dict[str, str] = {}

    def headers(name: str) -> dict[str, str]:
        if name not in cache:
            with session_factory() as session:
                is_admin = AccountService(session).user(name).is_admin
            cache[name] = token_for(name, scopes=["read", "write", "admin"] if is_admin else None)
        return {"Authorization": f"Bearer {cache[name]}"}

    return headers


@pytest.fixture
def make_volume(session_factory, tmp_path):
    def make(name: str, *, private: bool = False, teams=(), release_date=None, files: dict | None = None,
             **descriptive) -> Path:
        root = tmp_path / "volumes" / name
        root.mkdir(parents=True)
        for relative, content in (files or {"README.txt": f"volume {name}\n"}).items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        with session_factory() as session:
            DatasetService(session).register(name, root, private=private, teams=list(teams),
                                             release_date=release_date, **descriptive)
        return root

    return make
