"""The ``datalabs`` command. Commands parse arguments, call services, print results; no logic here.

Admin commands (``db``, ``user``, ``team``, ``dataset``, ``token``) work on the local data dir.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from datalabs import __version__
from datalabs.errors import DatalabsError, InvalidInput

console = Console()
err_console = Console(stderr=True)


# -- plumbing -------------------------------------------------------------------------------

def _settings(data_dir: Path | None, **overrides):
    from datalabs.settings import Settings

    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    try:
        return Settings(**values)
    except ValueError as exc:
        raise click.UsageError(f"invalid settings: {exc}") from None


def _open_db(settings):
    """A session on an up-to-date database (a new, empty database is created on the spot)."""
    from datalabs.db import migrate
    from datalabs.db.engine import make_engine, make_session_factory
    from sqlalchemy import inspect

    engine = make_engine(settings)
    if not migrate.is_current(engine):
        if inspect(engine).get_table_names():
            raise click.ClickException("the database schema is outdated: run `datalabs db upgrade` first")
        migrate.upgrade(settings)
    return make_session_factory(engine)()


def admin_command(func):
    """Adds ``--data-dir`` and ``--json``; opens the database; turns domain errors into messages."""

    @click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Data folder (default: $DATALABS_DATA_DIR or ~/.local/share/datalabs).")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    @wraps(func)
    def wrapper(data_dir, as_json, **kwargs):
        settings = _settings(data_dir)
        with _open_db(settings) as db:
            try:
                result = func(db=db, settings=settings, **kwargs)
            except DatalabsError as exc:
                raise click.ClickException(exc.message) from None
        if isinstance(result, str):  # a one-line report
            click.echo(json.dumps({"message": result}) if as_json else result)
        elif result is not None:
            rows, columns, title = result
            _print(rows, columns, title, as_json)

    return wrapper


def _print(rows, columns, title, as_json):
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if isinstance(rows, dict):
        rows = [rows]
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)


def _parse_when(value: str | None) -> datetime | None:
    """``2027-01-31``, an ISO date-time, or a duration from now: ``30d``, ``12h``, ``90m``."""
    if value is None:
        return None
    duration = re.fullmatch(r"(\d+)([dhm])", value.strip())
    if duration:
        amount, unit = int(duration.group(1)), duration.group(2)
        delta = {"d": timedelta(days=amount), "h": timedelta(hours=amount), "m": timedelta(minutes=amount)}[unit]
        return datetime.now(UTC) + delta
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"invalid expiry {value!r}: write YYYY-MM-DD, an ISO date-time, or 30d / 12h") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise InvalidInput("no password on standard input")
        return password
    if sys.stdin.isatty():
        return click.prompt("Password (empty for token-only access)", hide_input=True,
                            confirmation_prompt=True, default="", show_default=False) or None
    return None


# -- commands -------------------------------------------------------------------------------

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datalabs")
def main() -> None:
    """datalabs: a science platform that brings the user to the data."""


@main.command()
@click.option("--demo", is_flag=True, help="Create demo users, a team and archive volumes, and print how to log in.")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8000).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data folder (default: $DATALABS_DATA_DIR or ~/.local/share/datalabs).")
@click.option("--backend", default=None,
              help="Execution backend of sessions and pipeline steps: local (default), slurm, kubernetes, ...")
def serve(demo: bool, host: str | None, port: int | None, data_dir: Path | None, backend: str | None) -> None:
    """Run the platform (web UI, REST API) on HOST:PORT."""
    import uvicorn

    from datalabs.app import create_app

    settings = _settings(data_dir, host=host, port=port, backend=backend)
    with _open_db(settings) as db:
        if demo:
            from datalabs.demo import seed_demo

            try:
                report = seed_demo(db, settings)
            except DatalabsError as exc:
                raise click.ClickException(exc.message) from None
            console.print(report)
    console.print(f"datalabs {__version__} on [bold]{settings.base_url}[/bold]  (API docs: {settings.base_url}/api/docs)")
    app = create_app(settings)
    logging.getLogger("uvicorn.access").addFilter(_not_proxied)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips)


def _not_proxied(record: logging.LogRecord) -> bool:
    """Requests into sessions stay out of the access log: a JupyterLab page makes hundreds, and
    the log line costs more than the proxying (bench/sessions)."""
    args = record.args
    return not (isinstance(args, tuple) and len(args) > 2 and str(args[2]).startswith("/datalabs/s_"))


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data folder (default: $DATALABS_DATA_DIR or ~/.local/share/datalabs).")
@click.option("--revision", default="head", show_default=True, help="Alembic revision to upgrade to.")
def db_upgrade(data_dir: Path | None, revision: str) -> None:
    """Create or upgrade the database schema."""
    from datalabs.db import migrate

    settings = _settings(data_dir)
    migrate.upgrade(settings, revision)
    click.echo(f"database at {revision}: {_redacted(settings.sqlalchemy_url)}")


def _redacted(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


# users

USER_COLUMNS = ["name", "role", "active", "teams", "quota", "created"]


def _user_row(user) -> dict:
    from datalabs.sizes import format_size

    return {"name": user.name, "role": user.role, "active": user.is_active, "display_name": user.display_name,
            "email": user.email, "teams": ", ".join(sorted(m.team.name + ("*" if m.is_admin else "")
                                                            for m in user.memberships)),
            "quota": format_size(user.quota_bytes) if user.quota_bytes is not None else "default",
            "quota_bytes": user.quota_bytes, "created": user.created_at.strftime("%Y-%m-%d %H:%M")}


@main.group()
def user() -> None:
    """Users and their roles."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["user", "developer", "moderator", "admin"]), default="user",
              show_default=True, help="Platform role.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--display-name", default="", help="Full name shown in the web UI.")
@click.option("--email", default="", help="E-mail address.")
@admin_command
def user_add(db, settings, name, role, password_stdin, display_name, email):
    """Create user NAME (asks for a password on a terminal; without one, only API tokens work)."""
    from datalabs.accounts.service import AccountService

    password = _read_password(password_stdin)
    created = AccountService(db).create_user(name, role=role, password=password,
                                             display_name=display_name, email=email)
    return _user_row(created), USER_COLUMNS, "user created"


@user.command("list")
@admin_command
def user_list(db, settings):
    """List users."""
    from datalabs.accounts.service import AccountService

    return [_user_row(u) for u in AccountService(db).users()], USER_COLUMNS, "users"


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@admin_command
def user_passwd(db, settings, name, password_stdin):
    """Set the password of user NAME."""
    from datalabs.accounts.service import AccountService

    password = _read_password(password_stdin)
    if password is None:
        raise InvalidInput("no password given")
    AccountService(db).set_password(name, password)
    return f"password of {name} changed"


@user.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(["user", "developer", "moderator", "admin"]))
@admin_command
def user_role(db, settings, name, role):
    """Give user NAME another ROLE."""
    from datalabs.accounts.service import AccountService

    return _user_row(AccountService(db).set_role(name, role)), USER_COLUMNS, "user changed"


@user.command("quota")
@click.argument("name")
@click.argument("size")
@admin_command
def user_quota(db, settings, name, size):
    """Set the personal workspace quota of NAME (e.g. 20G; 'default' for the site default)."""
    from datalabs.accounts.service import AccountService
    from datalabs.sizes import parse_size

    quota = None if size == "default" else _size(size, parse_size)
    return _user_row(AccountService(db).set_user_quota(name, quota)), USER_COLUMNS, "user changed"


def _size(text, parse):
    try:
        return parse(text)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


# teams

TEAM_COLUMNS = ["name", "members", "quota", "description"]


def _team_row(team) -> dict:
    from datalabs.sizes import format_size

    members = sorted(m.user.name + ("*" if m.is_admin else "") for m in team.memberships)
    return {"name": team.name, "description": team.description, "members": ", ".join(members),
            "member_list": [{"user": m.user.name, "admin": m.is_admin} for m in team.memberships],
            "quota": format_size(team.quota_bytes) if team.quota_bytes is not None else "default",
            "quota_bytes": team.quota_bytes}


@main.group()
def team() -> None:
    """Teams and their members (* marks team admins)."""


@team.command("add")
@click.argument("name")
@click.option("--description", default="", help="What the team is for.")
@admin_command
def team_add(db, settings, name, description):
    """Create team NAME."""
    from datalabs.accounts.service import AccountService

    return _team_row(AccountService(db).create_team(name, description=description)), TEAM_COLUMNS, "team created"


@team.command("list")
@admin_command
def team_list(db, settings):
    """List teams."""
    from datalabs.accounts.service import AccountService

    return [_team_row(t) for t in AccountService(db).teams()], TEAM_COLUMNS, "teams"


@team.command("add-member")
@click.argument("team_name", metavar="TEAM")
@click.argument("user_name", metavar="USER")
@click.option("--admin", is_flag=True, help="Make USER an admin of TEAM (manages its members).")
@admin_command
def team_add_member(db, settings, team_name, user_name, admin):
    """Add USER to TEAM (again, to change the admin flag)."""
    from datalabs.accounts.service import AccountService

    service = AccountService(db)
    service.add_member(team_name, user_name, admin=admin)
    return _team_row(service.team(team_name)), TEAM_COLUMNS, "team changed"


@team.command("remove-member")
@click.argument("team_name", metavar="TEAM")
@click.argument("user_name", metavar="USER")
@admin_command
def team_remove_member(db, settings, team_name, user_name):
    """Remove USER from TEAM."""
    from datalabs.accounts.service import AccountService

    service = AccountService(db)
    service.remove_member(team_name, user_name)
    return _team_row(service.team(team_name)), TEAM_COLUMNS, "team changed"


@team.command("quota")
@click.argument("name")
@click.argument("size")
@admin_command
def team_quota(db, settings, name, size):
    """Set the team workspace quota of NAME (e.g. 100G; 'default' for the site default)."""
    from datalabs.accounts.service import AccountService
    from datalabs.sizes import parse_size

    quota = None if size == "default" else _size(size, parse_size)
    return _team_row(AccountService(db).set_team_quota(name, quota)), TEAM_COLUMNS, "team changed"


# archive volumes

DATASET_COLUMNS = ["name", "access", "mission", "instrument", "path"]


def _dataset_row(dataset) -> dict:
    from datalabs.storage.datasets import today_utc

    if not dataset.is_private:
        access = "public"
    elif dataset.is_embargoed_on(today_utc()):
        teams = ", ".join(sorted(g.team.name for g in dataset.allowed)) or "admins"
        until = f" until {dataset.release_date}" if dataset.release_date else ""
        access = f"embargoed{until} ({teams})"
    else:
        access = f"public since {dataset.release_date}"
    return {"name": dataset.name, "path": dataset.path, "access": access, "private": dataset.is_private,
            "release_date": dataset.release_date, "teams": sorted(g.team.name for g in dataset.allowed),
            "title": dataset.title, "mission": dataset.mission, "instrument": dataset.instrument,
            "domain": dataset.domain, "description": dataset.description}


@main.group()
def dataset() -> None:
    """Archive volumes (read-only folders of data, public or embargoed)."""


@dataset.command("add")
@click.argument("name")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--private", is_flag=True, help="Embargoed: visible only to --team members until --release-date.")
@click.option("--team", "teams", multiple=True, help="Team allowed before the release date (repeatable).")
@click.option("--release-date", default=None, help="YYYY-MM-DD: the day an embargoed volume becomes public.")
@click.option("--title", default="", help="Title shown to users.")
@click.option("--mission", default="", help="Mission, e.g. Rosetta.")
@click.option("--instrument", default="", help="Instrument, e.g. OSIRIS.")
@click.option("--domain", default="", help="Domain, e.g. Space Science.")
@click.option("--description", default="", help="Description shown to users.")
@admin_command
def dataset_add(db, settings, name, path, private, teams, release_date, **descriptive):
    """Register the folder PATH as archive volume NAME (always read-only)."""
    from datalabs.storage.datasets import DatasetService

    if (teams or release_date) and not private:
        raise InvalidInput("--team and --release-date apply to --private volumes")
    created = DatasetService(db).register(name, path, private=private, teams=list(teams),
                                          release_date=release_date, **descriptive)
    return _dataset_row(created), DATASET_COLUMNS, "archive volume registered"


@dataset.command("list")
@admin_command
def dataset_list(db, settings):
    """List archive volumes."""
    from datalabs.storage.datasets import DatasetService

    return [_dataset_row(d) for d in DatasetService(db).repo.all()], DATASET_COLUMNS, "archive volumes"


@dataset.command("update")
@click.argument("name")
@click.option("--path", "new_path", type=click.Path(path_type=Path), default=None, help="New folder on this machine.")
@click.option("--private/--public", default=None, help="Embargo the volume, or make it public now.")
@click.option("--team", "teams", multiple=True, help="Teams allowed before the release date (replaces the list).")
@click.option("--no-teams", is_flag=True, help="Remove every team allowed before the release date.")
@click.option("--release-date", default=None, help="YYYY-MM-DD; 'none' to remove it.")
@click.option("--title", default=None, help="Title shown to users.")
@click.option("--mission", default=None, help="Mission, e.g. Rosetta.")
@click.option("--instrument", default=None, help="Instrument, e.g. OSIRIS.")
@click.option("--domain", default=None, help="Domain, e.g. Space Science.")
@click.option("--description", default=None, help="Description shown to users.")
@admin_command
def dataset_update(db, settings, name, new_path, private, teams, no_teams, release_date, **descriptive):
    """Change archive volume NAME: only the options given change."""
    from datalabs.storage.datasets import DatasetService

    changes = {key: value for key, value in descriptive.items() if value is not None}
    if new_path is not None:
        changes["path"] = new_path
    if private is not None:
        changes["private"] = private
    if teams or no_teams:
        changes["teams"] = [] if no_teams else list(teams)
    if release_date is not None:
        changes["release_date"] = None if release_date.lower() == "none" else release_date
    if not changes:
        raise InvalidInput("nothing to change: give at least one option (see --help)")
    updated = DatasetService(db).update(name, **changes)
    return _dataset_row(updated), DATASET_COLUMNS, "archive volume changed"


@dataset.command("remove")
@click.argument("name")
@admin_command
def dataset_remove(db, settings, name):
    """Unregister archive volume NAME (its files are not touched)."""
    from datalabs.storage.datasets import DatasetService

    DatasetService(db).unregister(name)
    return f"archive volume {name} unregistered"


# tokens

TOKEN_COLUMNS = ["id", "name", "prefix", "scopes", "expires", "last_used", "state"]


def _token_row(token) -> dict:
    state = "revoked" if token.revoked_at else (
        "expired" if token.expires_at and token.expires_at <= datetime.now(UTC) else "active")
    return {"id": token.id, "name": token.name, "prefix": token.prefix, "scopes": token.scopes,
            "expires": token.expires_at.strftime("%Y-%m-%d %H:%M") if token.expires_at else "never",
            "last_used": token.last_used_at.strftime("%Y-%m-%d %H:%M") if token.last_used_at else "never",
            "state": state}


@main.group()
def token() -> None:
    """Personal API tokens."""


@token.command("create")
@click.argument("user_name", metavar="USER")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(["read", "write", "admin"]),
              help="What the token may do (repeatable; default: read and write).")
@click.option("--expires", default=None, help="Expiry: YYYY-MM-DD, an ISO date-time, or 30d / 12h from now.")
@click.option("--name", default="", help="A label to recognise the token by.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data folder (default: $DATALABS_DATA_DIR or ~/.local/share/datalabs).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def token_create(user_name, scopes, expires, name, data_dir, as_json):
    """Create an API token for USER and print it once."""
    from datalabs.accounts.service import AccountService

    settings = _settings(data_dir)
    with _open_db(settings) as session:
        try:
            new = AccountService(session).create_token(user_name, name=name, scopes=list(scopes) or None,
                                                       expires_at=_parse_when(expires))
        except DatalabsError as exc:
            raise click.ClickException(exc.message) from None
    if as_json:
        click.echo(json.dumps({**_token_row(new.token), "user": user_name, "token": new.secret}, indent=2))
    else:
        click.echo(new.secret)
        err_console.print(f"token {new.token.id} for {user_name} ({new.token.scopes}); it is shown only this once")


@token.command("list")
@click.argument("user_name", metavar="USER")
@admin_command
def token_list(db, settings, user_name):
    """List the API tokens of USER (never their secrets)."""
    from datalabs.accounts.service import AccountService

    return [_token_row(t) for t in AccountService(db).tokens(user_name)], TOKEN_COLUMNS, f"tokens of {user_name}"


@token.command("revoke")
@click.argument("user_name", metavar="USER")
@click.argument("token_id", type=int)
@admin_command
def token_revoke(db, settings, user_name, token_id):
    """Revoke token TOKEN_ID of USER."""
    from datalabs.accounts.service import AccountService

    return _token_row(AccountService(db).revoke_token(user_name, token_id)), TOKEN_COLUMNS, "token revoked"


@main.command("settings")
@click.option("--markdown", is_flag=True, help="Print the settings reference (docs/settings.md).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data folder (default: $DATALABS_DATA_DIR or ~/.local/share/datalabs).")
def settings_command(markdown: bool, data_dir: Path | None) -> None:
    """Show the settings in force (secrets hidden), or their reference."""
    from datalabs.settings import settings_markdown

    if markdown:
        click.echo(settings_markdown(), nl=False)
        return
    values = _settings(data_dir).model_dump(mode="json")
    if values.get("secret_key"):
        values["secret_key"] = "***"
    if values.get("database_url"):
        values["database_url"] = _redacted(values["database_url"])
    click.echo(json.dumps(values, indent=2))


@main.command("docs")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("docs"), show_default=True,
              help="Folder to write the reference pages into.")
def docs_command(out: Path) -> None:
    """Regenerate the reference pages (settings, REST API, CLI) from the code."""
    from datalabs.docs import write

    changed = write(out)
    click.echo(f"updated: {', '.join(changed)}" if changed else "docs are up to date")


def _add_remote_commands() -> None:
    from datalabs.archive_cli import archive
    from datalabs.discover_cli import discover
    from datalabs.lab_cli import lab
    from datalabs.pipeline_cli import pipeline
    from datalabs.pipeline_runs_cli import pipeline_run  # noqa: F401 - adds run, runs, status, logs, cancel
    from datalabs.remote_cli import files, whoami

    main.add_command(whoami)
    main.add_command(files)
    main.add_command(lab)
    main.add_command(pipeline)
    main.add_command(archive)
    main.add_command(discover)


_add_remote_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
