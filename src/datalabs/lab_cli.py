"""``datalabs lab ...``: the datalab catalogue on a running server, through the REST API."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from datalabs.client import Client, quoted
from datalabs.remote_cli import remote_command

console = Console()


@click.group()
def lab() -> None:
    """The datalab catalogue: import, list, show, submit, publish, reject."""


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
