"""PostgreSQL as deployed in production (docs/postgresql.md): the pool settings reach the engine and behave as
documented, PgBouncer mode keeps no pool and prepares no statements, `datalabs db upgrade` makes a new database
and is idempotent, and a `pg_dump -Fc` / `pg_restore` round trip gives back a working platform.

These tests run only on PostgreSQL (``DATALABS_TEST_DATABASE_URL``); the ones that create databases need a role
allowed to (``CREATEDB``) and skip with that reason otherwise. Every database they create is dropped again.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, exc, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool, QueuePool

from datalabs.accounts.service import AccountService
from datalabs.app import create_app
from datalabs.archive.service import ArchiveService
from datalabs.cli import main
from datalabs.db import migrate
from datalabs.db.engine import make_engine
from datalabs.settings import Settings
from datalabs.storage.datasets import DatasetService
from tests.conftest import PG_URL, in_process_client

pytestmark = pytest.mark.skipif(not PG_URL, reason="set DATALABS_TEST_DATABASE_URL to test on PostgreSQL "
                                                  "(scripts/test does)")


def _server_url(settings: Settings) -> str:
    return settings.sqlalchemy_url


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar()


# -- connection pool -----------------------------------------------------------------------------------------


def test_pool_settings_reach_the_engine(settings):
    tuned = settings.model_copy(update={"database_pool_size": 3, "database_max_overflow": 4,
                                        "database_pool_timeout": 7.5, "database_pool_recycle": 600})
    engine = make_engine(tuned)
    try:
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool.size() == 3
        assert engine.pool._max_overflow == 4
        assert engine.pool.timeout() == 7.5
        assert engine.pool._recycle == 600
        assert engine.pool._pre_ping
        # the pool keeps pool_size connections open, overflow ones are closed when given back
        connections = [engine.connect() for _ in range(5)]
        pids = {c.execute(text("SELECT pg_backend_pid()")).scalar() for c in connections}
        assert len(pids) == 5
        for connection in connections:
            connection.close()
        assert engine.pool.checkedin() == 3
    finally:
        engine.dispose()


def test_a_full_pool_fails_after_the_pool_timeout(settings):
    tight = settings.model_copy(update={"database_pool_size": 1, "database_max_overflow": 0,
                                        "database_pool_timeout": 0.3})
    engine = make_engine(tight)
    try:
        with engine.connect():
            started = time.monotonic()
            with pytest.raises(exc.TimeoutError):
                engine.connect()
            assert 0.25 < time.monotonic() - started < 5
        with engine.connect() as connection:  # given back: usable again
            assert connection.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_old_connections_are_recycled(settings):
    engine = make_engine(settings.model_copy(update={"database_pool_size": 1, "database_pool_recycle": 1}))
    try:
        first = _backend_pid(engine)
        assert _backend_pid(engine) == first  # pooled: the same server connection again
        time.sleep(1.2)
        assert _backend_pid(engine) != first  # older than pool_recycle: replaced
    finally:
        engine.dispose()


def _prepared_after_repeats(engine) -> int:
    with engine.connect() as connection:
        for number in range(12):
            assert connection.execute(text("SELECT count(*) FROM users WHERE id > :n"), {"n": number}).scalar() == 0
        return connection.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar()


def test_pgbouncer_mode_keeps_no_pool_and_prepares_no_statements(settings, make_user):
    direct = make_engine(settings)
    try:  # psycopg prepares a statement run five times: this is what breaks PgBouncer's transaction mode
        assert _prepared_after_repeats(direct) > 0
    finally:
        direct.dispose()

    bouncer = settings.model_copy(update={"database_pgbouncer": True, "database_pool_size": 50})
    engine = make_engine(bouncer)
    try:
        assert isinstance(engine.pool, NullPool)
        assert _prepared_after_repeats(engine) == 0
        assert _backend_pid(engine) != _backend_pid(engine)  # every checkout is a new connection
    finally:
        engine.dispose()

    # the whole platform works that way
    make_user("ada", role="admin")
    app = create_app(bouncer)
    try:
        assert isinstance(app.state.session_factory.kw["bind"].pool, NullPool)
        with app.state.session_factory() as db:
            token = AccountService(db).create_token("ada", scopes=["read", "write", "admin"]).secret
        with in_process_client(app) as client:
            response = client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            assert "ada" in response.text
    finally:
        app.state.archive_scans.wait(120)


def test_statement_timeout_cancels_long_statements_and_keeps_url_options(settings):
    url = make_url(settings.sqlalchemy_url).update_query_dict({"options": "-c application_name=datalabs-prod"})
    limited = settings.model_copy(update={"database_url": url.render_as_string(hide_password=False),
                                          "database_statement_timeout": 0.2})
    engine = make_engine(limited)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar() == "200ms"
            assert connection.execute(text("SHOW application_name")).scalar() == "datalabs-prod"
            with pytest.raises(exc.OperationalError, match="statement timeout"):
                connection.execute(text("SELECT pg_sleep(2)"))
    finally:
        engine.dispose()
    unlimited = make_engine(settings)
    try:
        with unlimited.connect() as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar() == "0"
    finally:
        unlimited.dispose()


# -- new databases: upgrade, backup and restore --------------------------------------------------------------


@pytest.fixture
def new_database(settings):
    """Makes empty databases on the test server (dropped at the end); yields a function name -> URL."""
    admin = create_engine(_server_url(settings), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    made: list[str] = []

    def make() -> str:
        name = f"pgprod_{secrets.token_hex(5)}"
        with admin.connect() as connection:
            try:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            except exc.ProgrammingError as error:
                if "permission denied" in str(error):
                    pytest.skip("the test role may not create databases (ALTER ROLE ... CREATEDB)")
                raise
        made.append(name)
        return make_url(_server_url(settings)).set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as connection:
        for name in made:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _alembic_heads(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


def test_db_upgrade_makes_a_new_database_and_is_idempotent(new_database, tmp_path, monkeypatch):
    from alembic.script import ScriptDirectory

    url = new_database()
    monkeypatch.setenv("DATALABS_DATABASE_URL", url)  # as in a deployment: the URL from the environment
    engine = create_engine(url, poolclass=NullPool)
    try:
        assert inspect(engine).get_table_names() == []
        runner = CliRunner()
        result = runner.invoke(main, ["db", "upgrade", "--data-dir", str(tmp_path / "data")])
        assert result.exit_code == 0, result.output
        assert "database at head" in result.output
        head = set(ScriptDirectory(str(migrate.MIGRATIONS_DIR)).get_heads())
        assert _alembic_heads(url) == head
        assert migrate.is_current(engine)
        tables = set(inspect(engine).get_table_names())
        assert {"users", "datasets", "archive_products", "discovery_assets"} <= tables

        with engine.begin() as connection:
            connection.execute(text("INSERT INTO teams (name, description, created_at) "
                                    "VALUES ('kept', '', now())"))
        again = runner.invoke(main, ["db", "upgrade", "--data-dir", str(tmp_path / "data")])
        assert again.exit_code == 0, again.output
        assert _alembic_heads(url) == head
        assert set(inspect(engine).get_table_names()) == tables
        with engine.connect() as connection:  # nothing was dropped or rebuilt
            assert connection.execute(text("SELECT name FROM teams")).scalars().all() == ["kept"]
    finally:
        engine.dispose()


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0)
    if not candidates:
        pytest.skip(f"{name} is not installed")
    return candidates[-1]


def test_backup_and_restore_round_trip(new_database, settings, tmp_path):
    pg_dump, pg_restore = _pg_tool("pg_dump"), _pg_tool("pg_restore")
    source_url = new_database()
    data_dir = tmp_path / "site"
    data_dir.mkdir()
    source = settings.model_copy(update={"database_url": source_url, "data_dir": data_dir})
    migrate.upgrade(source)

    volume = tmp_path / "volumes" / "rosetta-osiris"
    volume.mkdir(parents=True)
    (volume / "README.txt").write_text("OSIRIS images of 67P\n")
    (volume / "N2014.LBL").write_text('PDS_VERSION_ID = PDS3\nPRODUCT_ID = "N2014.IMG"\n'
                                      'TARGET_NAME = "67P/CHURYUMOV-GERASIMENKO 1 (1969 R1)"\n'
                                      'SPACECRAFT_ALTITUDE = 12.5 <km>\nEND\n')
    app = create_app(source)
    with app.state.session_factory() as db:
        accounts = AccountService(db)
        accounts.create_user("ada", role="admin", password=None)
        accounts.create_user("bob", role="user", password=None)
        accounts.create_team("comets")
        accounts.add_member("comets", "bob", admin=False)
        token = accounts.create_token("ada", scopes=["read", "write", "admin"]).secret
        DatasetService(db).register("rosetta-osiris", volume, private=True, teams=["comets"],
                                    title="Rosetta OSIRIS comet images")
        archive = ArchiveService(db)
        assert archive.run_scan(archive.begin_scan("rosetta-osiris", None), workers=1).state == "completed"
        archive.create_index("SPACECRAFT_ALTITUDE", None)  # JSONB expression index on datalabs_num(...)
    query = {"q": 'SPACECRAFT_ALTITUDE gt 10 and TARGET_NAME like "67P*"', "fields": "SPACECRAFT_ALTITUDE"}
    headers = {"Authorization": f"Bearer {token}"}
    with in_process_client(app) as client:
        before = client.get("/api/v1/datasets/rosetta-osiris", headers=headers)
        assert before.status_code == 200, before.text
        found_before = client.get("/api/v1/discover", params={"q": "comet"}, headers=headers).json()
        products_before = client.get("/api/v1/archive/products", params=query, headers=headers).json()
    app.state.archive_scans.wait(120)
    app.state.session_factory.kw["bind"].dispose()
    assert found_before["total"] >= 1
    assert [item["identifier"] for item in products_before["data"]] == ["N2014.IMG"]

    dump = tmp_path / "datalabs.dump"
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    subprocess.run([pg_dump, "-Fc", "--no-owner", "-f", str(dump), _libpq_url(source_url)], check=True, env=env,
                   timeout=120)
    assert dump.stat().st_size > 0

    target_url = new_database()
    subprocess.run([pg_restore, "--no-owner", "--exit-on-error", "-d", _libpq_url(target_url), str(dump)],
                   check=True, env=env, timeout=120)
    target = settings.model_copy(update={"database_url": target_url, "data_dir": data_dir})
    migrate.upgrade(target)  # the documented step after a restore: at head already, so nothing to do
    assert _alembic_heads(target_url) == _alembic_heads(source_url)

    restored = create_app(target)  # refuses an outdated schema: this one is current
    try:
        with in_process_client(restored) as client:
            after = client.get("/api/v1/datasets/rosetta-osiris", headers=headers)  # the token survived too
            assert after.status_code == 200, after.text
            assert after.json() == before.json()
            users = client.get("/api/v1/users", headers=headers)
            assert users.status_code == 200, users.text
            assert {"ada", "bob"} <= {user["name"] for user in users.json()}
            # the full-text index (tsvector + GIN) came back with its contents
            assert client.get("/api/v1/discover", params={"q": "comet"}, headers=headers).json() == found_before
            # the label attributes (JSONB), the attribute index on demand and its function came back
            products = client.get("/api/v1/archive/products", params=query, headers=headers).json()
            assert products["data"] == products_before["data"]
        with create_engine(target_url, poolclass=NullPool).connect() as connection:
            index = connection.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = "
                                            "(SELECT index_name FROM archive_indexes)")).scalar()
            assert "datalabs_num" in index
        # the sequences came back too: new rows do not collide with restored ones
        with restored.state.session_factory() as db:
            carol = AccountService(db).create_user("carol", password=None)
            assert carol.id > AccountService(db).user("bob").id
    finally:
        restored.state.archive_scans.wait(120)
        restored.state.session_factory.kw["bind"].dispose()
