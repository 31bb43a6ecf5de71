"""Commands that act as a user: they talk to a running server through the REST API.

Each takes ``--url``/``--token`` (or ``DATALABS_URL``/``DATALABS_TOKEN``) and ``--json``.
Later command groups (``lab``, ``pipeline``, ``archive``, ``discover``) follow the same pattern.
"""

from __future__ import annotations

import json
from functools import wraps
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from datalabs.client import ApiError, Client, quoted
from datalabs.sizes import format_size

console = Console()


def remote_command(func):
    """Adds ``--url``, ``--token`` and ``--json``; gives the command a ``client``; reports API errors."""

    @click.option("--url", envvar="DATALABS_URL", default=None, help="Server URL (default $DATALABS_URL or http://127.0.0.1:8000).")
    @click.option("--token", envvar="DATALABS_TOKEN", default=None, help="API token (default $DATALABS_TOKEN).")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    @wraps(func)
    def wrapper(url, token, as_json, **kwargs):
        with Client(url, token) as client:
            try:
                result = func(client=client, **kwargs)
            except ApiError as exc:
                raise click.ClickException(exc.message) from None
        if result is not None:
            data, show = result
            if as_json:
                click.echo(json.dumps(data, indent=2, default=str))
            else:
                show(data)

    return wrapper


@click.command()
@remote_command
def whoami(client: Client):
    """Show the user the token belongs to."""
    me = client.get("/api/v1/me")

    def show(data):
        teams = ", ".join(t["team"] + (" (admin)" if t["admin"] else "") for t in data["teams"]) or "none"
        console.print(f"{data['name']} ({data['effective_role']}) via {data['authenticated_by']}; teams: {teams}")

    return me, show


@click.group()
def files() -> None:
    """Workspaces and archive volumes on a server: my_workspace/..., team_workspaces/<team>/..., data/<volume>/..."""


@files.command("ls")
@click.argument("path", default="")
@remote_command
def files_ls(client: Client, path: str):
    """List a folder (or stat a file)."""
    info = client.stat(path, limit=10000)

    def show(data):
        table = Table(title=data["path"] or "/", title_justify="left")
        for column in ("name", "type", "size", "modified"):
            table.add_column(column)
        for entry in data.get("entries") or [data]:
            size = format_size(entry["size"]) if entry["type"] == "file" else ""
            table.add_row(entry["name"] + ("/" if entry["type"] == "directory" else ""), entry["type"], size,
                          entry["modified"][:19].replace("T", " "))
        console.print(table)

    return info, show


def _progress() -> Progress:
    return Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), console=console, transient=True)


@files.command("get")
@click.argument("path")
@click.argument("target", type=click.Path(path_type=Path), required=False)
@remote_command
def files_get(client: Client, path: str, target: Path | None):
    """Download file PATH to TARGET (default: its name, in the current folder)."""
    target = target or Path(path.rstrip("/").rsplit("/", 1)[-1])
    if target.is_dir():
        target = target / path.rstrip("/").rsplit("/", 1)[-1]
    with _progress() as bar:
        task = bar.add_task(f"get {path}", total=None)
        size = client.download(path, target, lambda done, total: bar.update(task, completed=done, total=total or None))
    return {"path": path, "target": str(target), "bytes": size}, lambda d: console.print(
        f"{d['target']}: {format_size(d['bytes'])}")


@files.command("put")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("path")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
@click.option("--parents", is_flag=True, help="Create missing folders.")
@remote_command
def files_put(client: Client, source: Path, path: str, overwrite: bool, parents: bool):
    """Upload SOURCE to PATH (a file path, or a folder ending in '/')."""
    if path.endswith("/") or path in ("my_workspace",) or path.startswith("team_workspaces/") and path.count("/") == 1:
        path = path.rstrip("/") + "/" + source.name
    with _progress() as bar:
        task = bar.add_task(f"put {source.name}", total=source.stat().st_size)
        entry = client.upload(source, path, overwrite=overwrite, parents=parents,
                              progress=lambda done, total: bar.update(task, completed=done))
    return entry, lambda d: console.print(f"{d['path']}: {format_size(d['size'])}")


@files.command("mkdir")
@click.argument("path")
@click.option("--parents", "-p", is_flag=True, help="Create missing parent folders.")
@remote_command
def files_mkdir(client: Client, path: str, parents: bool):
    """Create folder PATH."""
    entry = client.request("POST", f"/api/v1/files/{quoted(path)}", json={"type": "directory", "parents": parents}).json()
    return entry, lambda d: console.print(f"created {d['path']}/")


@files.command("mv")
@click.argument("path")
@click.argument("destination")
@remote_command
def files_mv(client: Client, path: str, destination: str):
    """Move or rename PATH to DESTINATION (never overwrites)."""
    entry = client.request("PATCH", f"/api/v1/files/{quoted(path)}", json={"path": destination}).json()
    return entry, lambda d: console.print(f"{path} -> {d['path']}")


@files.command("rm")
@click.argument("path")
@click.option("--recursive", "-r", is_flag=True, help="Delete a folder and everything in it.")
@remote_command
def files_rm(client: Client, path: str, recursive: bool):
    """Delete file or folder PATH."""
    client.request("DELETE", f"/api/v1/files/{quoted(path)}", params={"recursive": str(recursive).lower()})
    return {"deleted": path}, lambda d: console.print(f"deleted {path}")
