"""The ``datalabs`` command: every command has --help, --json prints JSON, and bad input gives a
clear message, a non-zero exit status and changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text

from datalabs.accounts.service import AccountService
from datalabs.cli import main as cli
from datalabs.db import migrate
from datalabs.db.models import Base
from datalabs.settings import settings_markdown
from tests.conftest import PASSWORD
from tests.db.test_migrations import FTS_TABLES


@pytest.fixture
def run(settings):
    """Run the CLI on the test data dir and database; ``ok=False`` expects a failure."""

    def invoke(*args, input=None, ok=True):
        env = {"DATALABS_DATA_DIR": str(settings.data_dir)}
        if settings.database_url:
            env["DATALABS_DATABASE_URL"] = settings.database_url
        result = CliRunner().invoke(cli, [str(a) for a in args], input=input, env=env)
        if ok:
            assert result.exit_code == 0, result.output
            assert result.exception is None or isinstance(result.exception, SystemExit)
        else:
            assert result.exit_code != 0, result.output
            assert isinstance(result.exception, SystemExit), f"crashed instead of a message: {result.exception!r}"
        return result

    return invoke


@pytest.fixture
def state(session_factory):
    """The whole database as comparable text (to check that a failed command changed nothing)."""

    def dump():
        with session_factory() as session:
            return {table.name: sorted(repr(tuple(row)) for row in session.execute(text(f"SELECT * FROM {table.name}")))
                    for table in Base.metadata.sorted_tables}

    return dump


def as_json(result):
    return json.loads(result.stdout)


def all_commands(group=cli, path=()):
    yield path
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from all_commands(command, (*path, name))


# -- help and version -----------------------------------------------------------------------

@pytest.mark.parametrize("path", list(all_commands()), ids=lambda p: " ".join(p) or "datalabs")
def test_every_command_has_help(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    command = cli
    for name in path:
        command = command.commands[name]
    assert command.help or command.short_help, f"{' '.join(path)} has no help text"


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and "datalabs" in result.output


def test_unknown_command():
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code == 2 and "No such command" in result.output


# -- database -------------------------------------------------------------------------------

def test_db_upgrade_on_a_fresh_dir_creates_the_schema(tmp_path):
    folder = tmp_path / "fresh" / "data"
    result = CliRunner().invoke(cli, ["db", "upgrade", "--data-dir", str(folder)], env={"DATALABS_DATABASE_URL": None})
    assert result.exit_code == 0, result.output
    assert "database at head" in result.output
    database = folder / "datalabs.sqlite3"
    assert database.exists()
    engine = create_engine(f"sqlite:///{database}")
    try:
        tables = set(inspect(engine).get_table_names())
        assert {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"} | FTS_TABLES == tables
        assert migrate.is_current(engine)
    finally:
        engine.dispose()
    again = CliRunner().invoke(cli, ["db", "upgrade", "--data-dir", str(folder)], env={"DATALABS_DATABASE_URL": None})
    assert again.exit_code == 0


def test_db_upgrade_hides_the_database_password():
    result = CliRunner().invoke(cli, ["db", "upgrade", "--help"])
    assert result.exit_code == 0
    from datalabs.cli import _redacted

    assert _redacted("postgresql+psycopg://me:s3cret@host/db") == "postgresql+psycopg://me:***@host/db"


def test_admin_commands_create_a_missing_database(tmp_path):
    folder = tmp_path / "new"
    result = CliRunner().invoke(cli, ["user", "list", "--json", "--data-dir", str(folder)],
                                env={"DATALABS_DATABASE_URL": None})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


# -- users ----------------------------------------------------------------------------------

def test_user_add_with_password_from_stdin(run, db):
    result = run("user", "add", "alice", "--role", "developer", "--password-stdin", "--json", input=PASSWORD + "\n")
    row = as_json(result)
    assert (row["name"], row["role"], row["active"]) == ("alice", "developer", True)
    assert AccountService(db).authenticate("alice", PASSWORD).name == "alice"


def test_user_add_without_password_makes_a_token_only_user(run, db):
    run("user", "add", "bot")
    assert AccountService(db).user("bot").password_hash is None


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["user", "add", "Alice"], None, "invalid user name"),
    (["user", "add", "al ice"], None, "invalid user name"),
    (["user", "add", "a" * 33], None, "invalid user name"),
    (["user", "add", "alice\n"], None, "invalid user name"),
    (["user", "add", "alice", "--password-stdin"], "", "no password on standard input"),
    (["user", "add", "alice", "--password-stdin"], "\n", "no password on standard input"),
    (["user", "add", "alice", "--password-stdin"], "short\n", "too short"),
    (["user", "add", "alice", "--role", "emperor"], None, "emperor"),
    (["user", "add", "existing"], None, "already exists"),
    (["user", "add", "existing", "--role", "admin"], None, "already exists"),
    (["user", "passwd", "ghost", "--password-stdin"], PASSWORD + "\n", "no user named 'ghost'"),
    (["user", "passwd", "existing", "--password-stdin"], "", "no password on standard input"),
    (["user", "passwd", "existing", "--password-stdin"], "tiny\n", "too short"),
    (["user", "passwd", "existing"], None, "no password given"),
    (["user", "role", "ghost", "admin"], None, "no user named 'ghost'"),
    (["user", "role", "existing", "root"], None, "root"),
    (["user", "quota", "ghost", "1G"], None, "no user named 'ghost'"),
    (["user", "quota", "existing", "lots"], None, "not a size"),
    (["user", "quota", "existing", "1.5X"], None, "not a size"),
    (["user", "quota", "existing", "100000P"], None, "too large"),
])
def test_bad_user_commands_change_nothing(run, make_user, state, db, args, stdin, message):
    make_user("existing")
    before = state()
    result = run(*args, input=stdin, ok=False)
    assert message in result.output
    assert "Traceback" not in result.output
    assert state() == before
    assert AccountService(db).authenticate("existing", PASSWORD) is not None


def test_user_passwd(run, make_user, db):
    make_user("alice")
    result = run("user", "passwd", "alice", "--password-stdin", "--json", input="brand-new-password\n")
    assert as_json(result) == {"message": "password of alice changed"}
    assert AccountService(db).authenticate("alice", PASSWORD) is None
    assert AccountService(db).authenticate("alice", "brand-new-password") is not None


def test_user_role_quota_list(run, make_user, db):
    make_user("alice", password=None)
    assert as_json(run("user", "role", "alice", "moderator", "--json"))["role"] == "moderator"
    assert as_json(run("user", "quota", "alice", "20G", "--json"))["quota_bytes"] == 20 * 1024**3
    listed = as_json(run("user", "list", "--json"))
    assert [(u["name"], u["role"], u["quota_bytes"]) for u in listed] == [("alice", "moderator", 20 * 1024**3)]
    assert as_json(run("user", "quota", "alice", "default", "--json"))["quota_bytes"] is None
    assert "alice" in run("user", "list").stdout  # the table


# -- teams ----------------------------------------------------------------------------------

def test_team_commands(run, make_user):
    make_user("tara", password=None)
    make_user("mike", password=None)
    assert as_json(run("team", "add", "astro", "--description", "Planetary", "--json"))["name"] == "astro"
    row = as_json(run("team", "add-member", "astro", "tara", "--admin", "--json"))
    assert row["member_list"] == [{"user": "tara", "admin": True}]
    row = as_json(run("team", "add-member", "astro", "mike", "--json"))
    assert sorted(m["user"] for m in row["member_list"]) == ["mike", "tara"]
    assert as_json(run("team", "quota", "astro", "100G", "--json"))["quota_bytes"] == 100 * 1024**3
    assert [t["name"] for t in as_json(run("team", "list", "--json"))] == ["astro"]
    row = as_json(run("team", "remove-member", "astro", "mike", "--json"))
    assert row["member_list"] == [{"user": "tara", "admin": True}]


@pytest.mark.parametrize(("args", "message"), [
    (["team", "add", "Astro"], "invalid team name"),
    (["team", "add", "my team"], "invalid team name"),
    (["team", "add", "t" * 33], "invalid team name"),
    (["team", "add", "astro"], "already exists"),
    (["team", "add-member", "nosuch", "mike"], "no team named 'nosuch'"),
    (["team", "add-member", "astro", "ghost"], "no user named 'ghost'"),
    (["team", "remove-member", "astro", "oscar"], "not a member"),
    (["team", "remove-member", "astro", "tara"], "last admin"),
    (["team", "add-member", "astro", "tara"], "last admin"),  # demoting the last admin
    (["team", "quota", "nosuch", "1G"], "no team named 'nosuch'"),
    (["team", "quota", "astro", "big"], "not a size"),
])
def test_bad_team_commands_change_nothing(run, make_user, state, args, message):
    make_user("tara", password=None, teams={"astro": True})
    make_user("mike", password=None, teams={"astro": False})
    make_user("oscar", password=None)
    before = state()
    result = run(*args, ok=False)
    assert message in result.output
    assert state() == before


# -- archive volumes ------------------------------------------------------------------------

def test_dataset_commands(run, make_user, tmp_path):
    make_user("tara", password=None, teams={"astro": True})
    folder = tmp_path / "vol"
    folder.mkdir()
    row = as_json(run("dataset", "add", "vol-1", str(folder), "--private", "--team", "astro",
                      "--release-date", "2099-01-01", "--mission", "Rosetta", "--json"))
    assert (row["name"], row["private"], row["release_date"], row["teams"]) == ("vol-1", True, "2099-01-01", ["astro"])
    assert row["access"] == "embargoed until 2099-01-01 (astro)"
    row = as_json(run("dataset", "add", "old", str(folder), "--private", "--release-date", "2001-01-01", "--json"))
    assert row["access"] == "public since 2001-01-01"
    assert [d["name"] for d in as_json(run("dataset", "list", "--json"))] == ["old", "vol-1"]
    assert as_json(run("dataset", "remove", "old", "--json")) == {"message": "archive volume old unregistered"}
    assert folder.is_dir()
    assert "vol-1" in run("dataset", "list").stdout


@pytest.mark.parametrize(("args", "message"), [
    (["dataset", "add", "vol", "{missing}"], "is not a folder"),
    (["dataset", "add", "vol", "{file}"], "is not a folder"),
    (["dataset", "add", "existing", "{folder}"], "already exists"),
    (["dataset", "add", "Bad Name", "{folder}"], "invalid volume name"),
    (["dataset", "add", "vol", "{folder}", "--private", "--release-date", "2024-13-45"], "invalid release date"),
    (["dataset", "add", "vol", "{folder}", "--private", "--release-date", "soon"], "invalid release date"),
    (["dataset", "add", "vol", "{folder}", "--team", "astro"], "--private"),
    (["dataset", "add", "vol", "{folder}", "--release-date", "2030-01-01"], "--private"),
    (["dataset", "add", "vol", "{folder}", "--private", "--team", "nosuch"], "no team named 'nosuch'"),
    (["dataset", "remove", "ghost"], "no archive volume named 'ghost'"),
])
def test_bad_dataset_commands_change_nothing(run, make_volume, make_user, state, tmp_path, args, message):
    make_user("tara", password=None, teams={"astro": True})
    make_volume("existing")
    folder = tmp_path / "folder"
    folder.mkdir()
    (tmp_path / "plain.txt").write_text("x")
    values = {"{missing}": str(tmp_path / "missing"), "{file}": str(tmp_path / "plain.txt"), "{folder}": str(folder)}
    before = state()
    result = run(*[values.get(a, a) for a in args], ok=False)
    assert message in result.output
    if "{missing}" in args:
        assert str(tmp_path / "missing") in result.output  # the message names the path
    assert state() == before


# -- tokens ---------------------------------------------------------------------------------

def test_token_create_prints_the_secret_once(run, make_user, client, session_factory):
    make_user("alice", password=None)
    result = run("token", "create", "alice", "--scope", "read", "--name", "laptop")
    secret = result.stdout.strip()
    assert secret.startswith("dlt_") and "\n" not in secret
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).json()["scopes"] == ["read"]
    listed = as_json(run("token", "list", "alice", "--json"))
    assert [(t["name"], t["scopes"], t["state"]) for t in listed] == [("laptop", "read", "active")]
    assert secret not in json.dumps(listed)
    with session_factory() as session:
        stored = session.execute(text("SELECT * FROM api_tokens")).all()
    assert secret not in repr(stored)


def test_token_create_json_and_expiry(run, make_user, client):
    make_user("alice", password=None)
    created = as_json(run("token", "create", "alice", "--expires", "30d", "--json"))
    assert created["user"] == "alice" and created["token"].startswith("dlt_") and created["state"] == "active"
    expires = datetime.strptime(created["expires"], "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert timedelta(days=29) < expires - datetime.now(UTC) < timedelta(days=31)
    dated = as_json(run("token", "create", "alice", "--expires", "2099-12-31", "--json"))
    assert dated["expires"] == "2099-12-31 00:00"
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {dated['token']}"}).status_code == 200


def test_token_revoke(run, make_user, client):
    make_user("alice", password=None)
    created = as_json(run("token", "create", "alice", "--json"))
    revoked = as_json(run("token", "revoke", "alice", str(created["id"]), "--json"))
    assert revoked["state"] == "revoked"
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {created['token']}"})
    assert response.status_code == 401


def test_token_list_shows_expired_tokens(run, make_user, session_factory, client):
    from datalabs.accounts.models import ApiToken

    make_user("alice", password=None)
    created = as_json(run("token", "create", "alice", "--expires", "1h", "--json"))
    with session_factory() as session:
        session.get(ApiToken, created["id"]).expires_at = datetime(2020, 1, 2, 3, 4, tzinfo=UTC)
        session.commit()
    listed = as_json(run("token", "list", "alice", "--json"))
    assert [(t["id"], t["state"], t["expires"]) for t in listed] == [(created["id"], "expired", "2020-01-02 03:04")]
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {created['token']}"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "expired_token"


@pytest.mark.parametrize(("args", "message"), [
    (["token", "create", "ghost"], "no user named 'ghost'"),
    (["token", "create", "alice", "--expires", "2024-13-45"], "invalid expiry"),
    (["token", "create", "alice", "--expires", "soon"], "invalid expiry"),
    (["token", "create", "alice", "--expires", "2001-01-01"], "in the past"),
    (["token", "create", "alice", "--scope", "sudo"], "sudo"),
    (["token", "list", "ghost"], "no user named 'ghost'"),
    (["token", "revoke", "alice", "999"], "no token 999"),
    (["token", "revoke", "alice", "{bobs}"], "no token"),  # another user's token
    (["token", "revoke", "alice", "abc"], "abc"),
])
def test_bad_token_commands_change_nothing(run, make_user, token_for, state, session_factory, args, message):
    make_user("alice", password=None)
    make_user("bob", password=None)
    token_for("bob")
    with session_factory() as session:
        bobs = str(AccountService(session).tokens("bob")[0].id)
    before = state()
    result = run(*[bobs if a == "{bobs}" else a for a in args], ok=False)
    assert message in result.output
    assert state() == before


# -- settings -------------------------------------------------------------------------------

def test_settings_prints_json_with_secrets_hidden(tmp_path):
    env = {"DATALABS_SECRET_KEY": "very-secret", "DATALABS_DATABASE_URL": "postgresql://u:pw@h/db",
           "DATALABS_USER_QUOTA": "5G"}
    result = CliRunner().invoke(cli, ["settings", "--data-dir", str(tmp_path)], env=env)
    assert result.exit_code == 0, result.output
    values = json.loads(result.stdout)
    assert values["secret_key"] == "***" and "very-secret" not in result.output
    assert values["database_url"] == "postgresql://u:***@h/db"
    assert values["user_quota"] == 5 * 1024**3
    assert values["data_dir"] == str(tmp_path)


def test_settings_markdown():
    result = CliRunner().invoke(cli, ["settings", "--markdown"])
    assert result.exit_code == 0
    assert result.stdout == settings_markdown()


def test_invalid_setting_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["user", "list", "--data-dir", str(tmp_path)], env={"DATALABS_USER_QUOTA": "lots"})
    assert result.exit_code == 2
    assert "invalid settings" in result.output and "user_quota" in result.output


def test_bad_toml_file_is_a_clear_error(tmp_path):
    (tmp_path / "datalabs.toml").write_text("user_quota = [unclosed\n")
    result = CliRunner().invoke(cli, ["user", "list", "--data-dir", str(tmp_path)], env={"DATALABS_DATABASE_URL": None})
    assert result.exit_code == 2
    assert "datalabs.toml" in result.output


def test_dataset_update_changes_only_what_is_given(run, make_user, make_volume):
    make_user("tara", password=None, teams={"astro": True})
    make_volume("vol", mission="Rosetta")
    changed = as_json(run("dataset", "update", "vol", "--private", "--team", "astro", "--release-date", "2031-01-01",
                          "--json"))
    assert (changed["private"], changed["teams"], str(changed["release_date"])) == (True, ["astro"], "2031-01-01")
    assert changed["mission"] == "Rosetta"  # untouched
    public = as_json(run("dataset", "update", "vol", "--public", "--no-teams", "--release-date", "none", "--json"))
    assert (public["private"], public["teams"], public["release_date"]) == (False, [], None)


@pytest.mark.parametrize("args, message", [
    (["dataset", "update", "vol"], "nothing to change"),
    (["dataset", "update", "ghost", "--title", "x"], "no archive volume named 'ghost'"),
    (["dataset", "update", "vol", "--team", "nope", "--private"], "no team named 'nope'"),
    (["dataset", "update", "vol", "--release-date", "2031-02-30", "--private"], "invalid release date"),
    (["dataset", "update", "vol", "--path", "/does/not/exist"], "is not a folder"),
    (["dataset", "update", "emb", "--public"], "teams are only given to embargoed"),
])
def test_bad_dataset_updates_change_nothing(run, make_user, make_volume, state, args, message):
    make_user("tara", password=None, teams={"astro": True})
    make_volume("vol")
    make_volume("emb", private=True, teams=["astro"], release_date="2031-01-01")
    before = state()
    result = run(*args, ok=False)
    assert message in result.output
    assert state() == before
