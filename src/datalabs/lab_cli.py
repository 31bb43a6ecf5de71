"""``datalabs lab ...``: the datalab catalogue on a running server, through the REST API."""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import click
import httpx
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeElapsedColumn
from rich.table import Table

from datalabs.client import ApiError, Client, _raise_for_error, quoted
from datalabs.remote_cli import remote_command
from datalabs.sizes import format_size, parse_size

console = Console()
err_console = Console(stderr=True)


@click.group()
def lab() -> None:
    """Datalabs: the catalogue (import, list, show, submit, publish, reject) and your sessions (launch,
    sessions, session, logs, renew, stop)."""


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if ".git" in relative.parts or path.is_symlink() or not path.is_file():
                continue
            bundle.write(path, relative.as_posix())
    return buffer.getvalue()


def _show_version(data: dict) -> None:
    console.print(f"[bold]{data['title']}[/bold] {data['version']} ({data['state']}, {data['kind']})")
    if data.get("rejection_reason"):
        console.print(f"rejected: {data['rejection_reason']}")


@lab.command("import")
@click.argument("source")
@click.option("--team", default=None, help="Share the datalab with this team of yours.")
@click.option("--ref", default=None, help="Git branch or tag (git URLs only).")
@remote_command
def lab_import(client: Client, source: str, team: str | None, ref: str | None):
    """Import a version from SOURCE: a local package folder, a .zip, or a git URL."""
    path = Path(source)
    if path.is_dir():
        body, name = _zip_folder(path), path.name + ".zip"
    elif path.is_file():
        body, name = path.read_bytes(), path.name
    elif "://" in source or source.startswith("git@"):
        data = client.request("POST", "/api/v1/datalabs/import/git",
                              json={"url": source, "ref": ref, "team": team}).json()
        return data, _show_version
    else:
        raise click.BadParameter(f"{source} is neither a folder, a file nor a git URL", param_hint="SOURCE")
    params = {"filename": os.path.basename(name)}
    if team:
        params["team"] = team
    data = client.request("POST", "/api/v1/datalabs/import/zip", params=params, content=body).json()
    return data, _show_version


@lab.command("list")
@click.option("--query", "-q", default="", help="Words in the name, title, abstract or keywords.")
@click.option("--keyword", default="", help="Only datalabs with this keyword.")
@click.option("--mission", default="", help="Only datalabs for this mission.")
@click.option("--instrument", default="", help="Only datalabs for this instrument.")
@click.option("--kind", type=click.Choice(["", "jupyterlab", "web", "desktop"]), default="", help="Only this kind.")
@remote_command
def lab_list(client: Client, query: str, keyword: str, mission: str, instrument: str, kind: str):
    """List the datalabs you can see."""
    data = client.get("/api/v1/datalabs", q=query, keyword=keyword, mission=mission, instrument=instrument,
                      kind=kind)

    def show(rows):
        table = Table(title="datalabs", title_justify="left")
        for column in ("name", "version", "state", "kind", "mission", "title"):
            table.add_column(column)
        for row in rows:
            table.add_row(row["name"] + (" *" if row["official"] else ""), row["version"], row["state"], row["kind"],
                          row["mission"], row["title"])
        console.print(table)

    return data, show


@lab.command("show")
@click.argument("name")
@remote_command
def lab_show(client: Client, name: str):
    """Show datalab NAME and its versions."""
    data = client.get(f"/api/v1/datalabs/{quoted(name)}")

    def show(d):
        console.print(f"[bold]{d['title']}[/bold] ({d['name']}; {d['kind']}; owner {d['owner']}"
                      f"{'; team ' + d['team'] if d['team'] else ''}{'; official' if d['official'] else ''}"
                      f"{'; withdrawn' if d['withdrawn'] else ''})")
        console.print(d["abstract"])
        for version in d["versions"]:
            note = f" - rejected: {version['rejection_reason']}" if version["rejection_reason"] else ""
            console.print(f"  {version['version']:<10} {version['state']:<10} {version['created_at'][:16]}{note}")

    return data, show


def _review(action: str):
    @click.argument("name")
    @click.argument("version")
    @remote_command
    def command(client: Client, name: str, version: str, **extra):
        body = {"reason": extra["reason"]} if "reason" in extra else None
        data = client.request("POST", f"/api/v1/datalabs/{quoted(name)}/versions/{quoted(version)}/{action}",
                              json=body).json()
        return data, _show_version

    return command


lab.command("submit", help="Submit draft VERSION of NAME for review (its developers).")(_review("submit"))
lab.command("publish", help="Publish submitted VERSION of NAME (moderators).")(_review("publish"))
lab.command("reject", help="Reject submitted VERSION of NAME with a reason (moderators).")(
    click.option("--reason", required=True, help="What the developer should change.")(_review("reject")))


# -- sessions -------------------------------------------------------------------------------

ENDED = ("stopped", "failed")
STREAM_TIMEOUT = httpx.Timeout(60.0, read=None)  # a followed stream may stay silent for long


def _as_json() -> bool:
    """Whether ``--json`` was given (``remote_command`` consumes it before the command runs)."""
    return bool(click.get_current_context().params.get("as_json"))


def _sse(client: Client, path: str, **params) -> Iterator[tuple[str, str]]:
    """The server-sent events of ``path`` as (event, data) pairs, until the server ends the stream."""
    try:
        with client.http.stream("GET", path, params=params, timeout=STREAM_TIMEOUT) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for_error(response)
            event, data = "message", []
            for line in response.iter_lines():
                if not line:
                    if data:
                        yield event, "\n".join(data)
                    event, data = "message", []
                elif line.startswith(":"):
                    continue
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "event":
                        event = value
                    elif field == "data":
                        data.append(value)
            if data:
                yield event, "\n".join(data)
    except httpx.ConnectError:
        raise ApiError(0, "unreachable", f"cannot reach datalabs at {client.url}") from None
    except httpx.RemoteProtocolError:  # the server went away mid-stream: the caller looks at the session
        return


def _memory(ctx, param, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parse_size(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a size: write e.g. 4G, 512M or a number of bytes") from None
    return value


def _when(value: str | None, *, short: bool = False) -> str:
    """A UTC time to the minute (``short``: without the year)."""
    return value[5 if short else 0:16].replace("T", " ") if value else "-"


def _say(where: Console, text: str) -> None:
    """Print plain text (no markup, colours or folding: ids and URLs stay whole for copying)."""
    where.print(text, markup=False, highlight=False, soft_wrap=True)


def _short_size(size: int) -> str:
    """A size as --memory takes it: 256M, 1.5G."""
    for unit, factor in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if size >= factor:
            return f"{size / factor:.1f}".removesuffix(".0") + unit
    return str(size)


def _cpus(cpu: float) -> str:
    return f"{cpu:g}"


def _session_url(client: Client, session: dict) -> str:
    return client.url + session["url"]


def _show_session(client: Client):
    def show(s: dict) -> None:
        about = f"{s['datalab']} {s['version']} ({s['kind']}) - {s['state']}"
        about += f": {s['reason']}" if s["reason"] else ""
        console.print(f"[bold]{s['id']}[/bold]: {escape(about)}", highlight=False, soft_wrap=True)
        if s["state"] not in ENDED:
            _say(console, f"  url:      {_session_url(client, s)}")
        _say(console, f"  user:     {s['user']}")
        _say(console, f"  cpu:      {_cpus(s['cpu'])}   memory: {format_size(s['memory'])}")
        _say(console, f"  volumes:  {', '.join(s['volumes']) or '-'}")
        _say(console, f"  teams:    {', '.join(s['team_workspaces']) or '-'}")
        _say(console, f"  created:  {_when(s['created_at'])}   started: {_when(s['started_at'])}")
        _say(console, f"  expires:  {_when(s['expires_at'])}   ended:   {_when(s['ended_at'])}   (UTC)")
        for event in s.get("events") or ():
            _say(console, f"  {_when(event['at'])} {event['state']:<9} {event['progress']:>3}% {event['message']}")

    return show


def _wait_until_started(client: Client, session: dict, quiet: bool) -> dict:
    """Follow the launch's progress events until it runs or ends; returns the session as it is then."""
    session_id = session["id"]
    with Progress("[progress.description]{task.description}", BarColumn(), TaskProgressColumn(),
                  TimeElapsedColumn(), console=err_console, transient=True, disable=quiet) as bar:
        task = bar.add_task(f"launching {session['datalab']}", total=100)
        plain = not quiet and not err_console.is_terminal  # no live bar: one line per step instead
        while True:
            for event, data in _sse(client, f"/api/v1/sessions/{quoted(session_id)}/events", follow="true"):
                if event != "progress":
                    continue
                step = json.loads(data)
                bar.update(task, completed=step["progress"], description=escape(step["message"]))
                if plain:
                    _say(err_console, f"[{step['progress']:>3}%] {step['message']}")
            session = client.get(f"/api/v1/sessions/{quoted(session_id)}")
            if session["state"] == "running" or session["state"] in ENDED:
                return session
            time.sleep(1.0)  # the stream broke off (a server restart?): follow again


@lab.command("launch")
@click.argument("name")
@click.option("--version", "version", default=None, help="Version to launch (default: the latest published).")
@click.option("--cpu", type=float, default=None, help="CPUs, fractions allowed (default: the datalab's).")
@click.option("--memory", callback=_memory, default=None, help="Memory such as 4G or 512M (default: the datalab's).")
@click.option("--volume", "volumes", multiple=True, help="Archive volume to mount read-only (repeatable).")
@click.option("--team-workspace", "team_workspaces", multiple=True,
              help="Team workspace to mount (repeatable; default: every team of yours).")
@click.option("--no-team-workspaces", is_flag=True, help="Mount no team workspace.")
@click.option("--no-wait", is_flag=True, help="Return at once instead of waiting until the datalab runs.")
@remote_command
def lab_launch(client: Client, name: str, version: str | None, cpu: float | None, memory: str | None,
               volumes: tuple[str, ...], team_workspaces: tuple[str, ...], no_team_workspaces: bool, no_wait: bool):
    """Launch datalab NAME and wait until it runs; prints the URL to open in a browser."""
    if no_team_workspaces and team_workspaces:
        raise click.UsageError("--team-workspace and --no-team-workspaces exclude each other")
    body = {"datalab": name, "version": version, "cpu": cpu, "memory": memory, "volumes": list(volumes),
            "team_workspaces": [] if no_team_workspaces else (list(team_workspaces) or None)}
    session = client.request("POST", "/api/v1/sessions", json=body).json()
    if no_wait:
        return session, lambda s: _say(console,
            f"{s['id']}: {s['state']}; follow it with `datalabs lab session {s['id']}`; "
            f"it will be at {_session_url(client, s)}")
    try:
        session = _wait_until_started(client, session, quiet=_as_json())
    except KeyboardInterrupt:
        _say(err_console, f"stopped waiting; {session['id']} goes on starting "
                          f"(`datalabs lab stop {session['id']}` destroys it)")
        raise SystemExit(130) from None
    if session["state"] != "running":
        if _as_json():
            click.echo(json.dumps(session, indent=2, default=str))
        raise click.ClickException(f"session {session['id']} {session['state']}: "
                                   f"{session['reason'] or 'no reason given'}")
    return session, lambda s: _say(console,
        f"{s['id']} is running ({s['datalab']} {s['version']}, {_cpus(s['cpu'])} CPU, {format_size(s['memory'])}, "
        f"until {_when(s['expires_at'])} UTC): {_session_url(client, s)}")


@lab.command("sessions")
@click.option("--all", "show_all", is_flag=True, help="Include stopped and failed sessions.")
@click.option("--everyone", is_flag=True, help="Every user's sessions (admins).")
@remote_command
def lab_sessions(client: Client, show_all: bool, everyone: bool):
    """List your datalab sessions (active ones unless --all)."""
    rows = client.get("/api/v1/sessions", ended=str(show_all).lower(), everyone=str(everyone).lower())

    def show(sessions):
        table = Table(title="sessions (times in UTC)", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        columns = ["id"] + (["user"] if everyone else []) + ["datalab", "version", "state", "cpu", "memory",
                                                             "started", "expires", "reason"]
        for column in columns:
            table.add_column(column, no_wrap=column in ("id", "state", "cpu", "memory", "started", "expires"),
                             min_width=len(column), overflow="fold")
        for s in sessions:
            table.add_row(s["id"], *([s["user"]] if everyone else []), s["datalab"], s["version"], s["state"],
                          _cpus(s["cpu"]), _short_size(s["memory"]), _when(s["started_at"], short=True),
                          _when(s["expires_at"], short=True), s["reason"])
        wide = console if console.is_terminal else Console(width=max(console.width, 140))  # piped: do not fold
        wide.print(table)

    return rows, show


@lab.command("session")
@click.argument("session_id", metavar="ID")
@click.option("--events", is_flag=True, help="Also list its progress events.")
@remote_command
def lab_session(client: Client, session_id: str, events: bool):
    """Show session ID: its state (and why it failed or stopped), resources and URL."""
    session = client.get(f"/api/v1/sessions/{quoted(session_id)}")
    if events:
        session["events"] = client.get(f"/api/v1/sessions/{quoted(session_id)}/events")
    return session, _show_session(client)


@lab.command("logs")
@click.argument("session_id", metavar="ID")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output until the session ends.")
@remote_command
def lab_logs(client: Client, session_id: str, follow: bool):
    """Print the output (stdout and stderr) of session ID."""
    path = f"/api/v1/sessions/{quoted(session_id)}/logs"
    if not follow:
        pieces, offset = [], 0
        while True:  # the server answers in pieces of up to 1 MiB; X-Log-Offset says where to go on
            response = client.request("GET", path, params={"offset": offset})
            pieces.append(response.text)
            following = int(response.headers.get("x-log-offset", offset))
            if following <= offset or not response.text:
                break
            offset = following
        return {"id": session_id, "log": "".join(pieces)}, lambda d: click.echo(d["log"], nl=False)
    as_json = _as_json()
    for event, data in _sse(client, path, follow="true"):
        if event == "end":
            if as_json:
                click.echo(json.dumps({"end": data}))
            break
        click.echo(json.dumps({"line": data}) if as_json else data)
    return None


@lab.command("stop")
@click.argument("session_id", metavar="ID")
@click.option("--wait", is_flag=True, help="Wait until its processes have ended.")
@remote_command
def lab_stop(client: Client, session_id: str, wait: bool):
    """Destroy session ID: its processes end; your files and its log stay."""
    session = client.request("DELETE", f"/api/v1/sessions/{quoted(session_id)}").json()
    deadline = time.monotonic() + 120
    while wait and session["state"] not in ENDED and time.monotonic() < deadline:
        time.sleep(0.3)
        session = client.get(f"/api/v1/sessions/{quoted(session_id)}")
    return session, lambda s: _say(console, f"{s['id']}: {s['state']}" + (f" ({s['reason']})" if s["reason"] else ""))


lab.add_command(click.Command("destroy", params=lab_stop.params, callback=lab_stop.callback,
                              help="Destroy session ID (the same as `datalabs lab stop`)."))


@lab.command("renew")
@click.argument("session_id", metavar="ID")
@remote_command
def lab_renew(client: Client, session_id: str):
    """Keep session ID for another session lifetime from now."""
    session = client.request("POST", f"/api/v1/sessions/{quoted(session_id)}/renew").json()
    return session, lambda s: _say(console,
        f"{s['id']} runs until {_when(s['expires_at'])} UTC" if s["expires_at"] else f"{s['id']} never expires")
