"""The schema is made by the Alembic migrations only, and they produce exactly the models' schema,
on SQLite and on PostgreSQL. SQLite runs in WAL mode with foreign keys on."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from datalabs.db import migrate
from datalabs.db.engine import make_engine
from datalabs.db.models import Base
from datalabs.errors import DatalabsError
from datalabs.settings import Settings
from tests.conftest import PG_URL

TABLES = {table.name for table in Base.metadata.sorted_tables}
# SQLite's full-text index of the discovery portal: an FTS5 virtual table (and its shadow tables), made by
# migration 0006 and written by discovery/indexer.py; no model describes it
FTS_TABLES = {"discovery_fts", "discovery_fts_config", "discovery_fts_content", "discovery_fts_data",
              "discovery_fts_docsize", "discovery_fts_idx"}


def _modelled(name, type_, _parent_names) -> bool:
    return not (type_ == "table" and name in FTS_TABLES)


def differences(engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "compare_server_default": True,
                                                               "include_name": _modelled})
        return compare_metadata(context, Base.metadata)


def test_migrated_test_database_matches_the_models(settings):
    """The database every test runs on (SQLite, or PostgreSQL when configured) has no drift."""
    engine = make_engine(settings)
    try:
        assert differences(engine) == []
        assert migrate.is_current(engine)
        assert TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_on_an_empty_sqlite_database(tmp_path):
    settings = Settings(data_dir=tmp_path / "fresh", database_url=None)
    engine = make_engine(settings)
    try:
        assert not migrate.is_current(engine)
        migrate.upgrade(settings)
        assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"} | FTS_TABLES
        assert differences(engine) == []
        assert migrate.is_current(engine)
        migrate.upgrade(settings)  # again: nothing to do
    finally:
        engine.dispose()


def test_downgrade_to_nothing_and_up_again_on_sqlite(tmp_path):
    settings = Settings(data_dir=tmp_path, database_url=None)
    migrate.upgrade(settings)
    config = migrate.alembic_config(settings)
    command.downgrade(config, "base")
    engine = make_engine(settings)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        command.upgrade(config, "head")
        assert differences(engine) == []
    finally:
        engine.dispose()


@pytest.fixture
def fresh_postgres_schema():
    """A new, empty PostgreSQL schema in the test database, used through ``search_path``."""
    if not PG_URL:
        pytest.skip("set DATALABS_TEST_DATABASE_URL to test on PostgreSQL (scripts/test does)")
    schema = f"fresh_{secrets.token_hex(6)}"
    admin = create_engine(Settings(data_dir=Path("/tmp"), database_url=PG_URL).sqlalchemy_url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(Settings(data_dir=Path("/tmp"), database_url=PG_URL).sqlalchemy_url)
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False), schema
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_upgrade_on_an_empty_postgresql_database(fresh_postgres_schema, tmp_path):
    url, schema = fresh_postgres_schema
    settings = Settings(data_dir=tmp_path, database_url=url)
    engine = make_engine(settings)
    try:
        assert inspect(engine).get_table_names() == []
        assert not migrate.is_current(engine)
        migrate.upgrade(settings)
        assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
        with engine.connect() as connection:
            assert connection.execute(text("SELECT current_schema()")).scalar() == schema
        assert differences(engine) == []
        assert migrate.is_current(engine)
        command.downgrade(migrate.alembic_config(settings), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(settings)
        assert differences(engine) == []
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    settings = Settings(data_dir=tmp_path, database_url=None)
    migrate.upgrade(settings)
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO teams (name, description, created_at) "
                                    "VALUES ('t', '', '2024-01-01 00:00:00')"))
        assert (tmp_path / "datalabs.sqlite3-wal").exists()
        with engine.begin() as connection, pytest.raises(Exception, match="FOREIGN KEY"):
            connection.execute(text("INSERT INTO team_memberships (team_id, user_id, is_admin, created_at) "
                                    "VALUES (1, 999, 0, '2024-01-01 00:00:00')"))
    finally:
        engine.dispose()
    # WAL is a property of the file: a plain connection sees it too
    plain = create_engine(f"sqlite:///{tmp_path / 'datalabs.sqlite3'}")
    try:
        with plain.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        plain.dispose()


def test_one_linear_history_with_a_single_head():
    script = ScriptDirectory(str(migrate.MIGRATIONS_DIR))
    assert len(script.get_heads()) == 1
    revisions = list(script.walk_revisions())
    assert revisions[-1].down_revision is None
    for newer, older in zip(revisions, revisions[1:], strict=False):
        assert newer.down_revision == older.revision


def test_app_refuses_a_database_that_is_not_migrated(tmp_path):
    from datalabs.app import create_app

    with pytest.raises(DatalabsError) as caught:
        create_app(Settings(data_dir=tmp_path, database_url=None, secret_key="x"))
    assert caught.value.code == "schema_outdated"
    assert "datalabs db upgrade" in caught.value.message
