"""``datalabs pipeline ...``: the pipeline catalogue on a running server, through the REST API.

Run commands (run, runs, logs, cancel) are added to the same ``pipeline`` group elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from datalabs.client import Client, quoted
from datalabs.lab_cli import _zip_folder
from datalabs.remote_cli import remote_command

console = Console()


@click.group()
def pipeline() -> None:
    """Pipelines: the catalogue of CWL steps and workflows, and your runs."""


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _show_imported(data: dict) -> None:
    _say(f"{data['name']} {data['version']}: {data['title']} ({data['cwl_class']}, {data['state']})")
    if data.get("uses"):
        _say(f"  uses: {', '.join(data['uses'])}")


@pipeline.command("import")
@click.argument("source")
@click.option("--name", default=None, help="Catalogue name (default: the CWL id, or the file name).")
@click.option("--version", "version", default=None, help="Version (default: datalabs-pipeline.yml's, else 1.0).")
@click.option("--team", default=None, help="Share the pipeline with this team of yours.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable; default: the document's s:keywords).")
@click.option("--main", default=None, help="The main CWL file of a folder or repository.")
@click.option("--ref", default=None, help="Git branch or tag (git URLs only).")
@remote_command
def pipeline_import(client: Client, source: str, name: str | None, version: str | None, team: str | None,
                    tags: tuple[str, ...], main: str | None, ref: str | None):
    """Import a version from SOURCE: a .cwl file, a folder (sent zipped), a .zip, or a git URL."""
    options = {"name": name, "version": version, "team": team, "tags": list(tags)}
    path = Path(source)
    if "://" in source or source.startswith("git@"):
        body = {"git": source, "ref": ref, "main": main, **options}
        return client.request("POST", "/api/v1/pipelines/git", json=body).json(), _show_imported
    if path.is_dir():
        upload = (path.resolve().name + ".zip", _zip_folder(path))
    elif path.is_file():
        upload = (path.name, path.read_bytes())
    else:
        raise click.BadParameter(f"{source} is neither a file, a folder nor a git URL", param_hint="SOURCE")
    form = {key: value for key, value in {**options, "main": main}.items() if value not in (None, [])}
    data = client.request("POST", "/api/v1/pipelines", files={"file": upload}, data=form).json()
    return data, _show_imported


@pipeline.command("list")
@click.option("--query", "-q", "text", default="", help="Words in the name, title, doc or tags.")
@click.option("--tag", default="", help="Only pipelines with this tag.")
@click.option("--kind", type=click.Choice(["", "step", "pipeline"]), default="", help="Only steps, or only pipelines.")
@click.option("--sort", type=click.Choice(["modified", "name"]), default="modified", help="Order (default: modified).")
@remote_command
def pipeline_list(client: Client, text: str, tag: str, kind: str, sort: str):
    """List the pipelines and steps you can see."""
    rows = client.get("/api/v1/pipelines", text=text, tag=tag, kind=kind, sort=sort)

    def show(found):
        table = Table(title="pipelines", title_justify="left")
        for column in ("name", "kind", "version", "state", "modified", "title"):
            table.add_column(column)
        for row in found:
            table.add_row(row["name"] + (" *" if row["official"] else ""), row["kind"], row["version"], row["state"],
                          row["updated_at"][:16].replace("T", " "), row["title"])
        console.print(table)

    return rows, show


@pipeline.command("show")
@click.argument("name")
@click.option("--version", "version", default=None, help="Version (default: the one the catalogue shows).")
@click.option("--source", is_flag=True, help="Print the CWL document as imported instead.")
@remote_command
def pipeline_show(client: Client, name: str, version: str | None, source: bool):
    """Show pipeline NAME: title, versions and the inputs a run needs."""
    entry = client.get(f"/api/v1/pipelines/{quoted(name)}")
    version = version or entry["version"]
    base = f"/api/v1/pipelines/{quoted(name)}/versions/{quoted(version)}"
    if source:
        text = client.request("GET", f"{base}/source").text
        return {"name": name, "version": version, "source": text}, lambda d: click.echo(d["source"], nl=False)
    entry["shown"] = client.get(base)
    return entry, _show_pipeline


def _show_pipeline(data: dict) -> None:
    shown = data["shown"]
    _say(f"{shown['title']} ({data['name']}; {data['kind']}; owner {data['owner']}"
         f"{'; team ' + data['team'] if data['team'] else ''}{'; official' if data['official'] else ''}"
         f"{'; withdrawn' if data['withdrawn'] else ''})")
    if shown["doc"]:
        _say(shown["doc"])
    for version in data["versions"]:
        note = f" - rejected: {version['rejection_reason']}" if version["rejection_reason"] else ""
        _say(f"  {version['version']:<10} {version['state']:<10} {version['created_at'][:16]}{note}")
    table = Table(title=f"inputs of {shown['version']}", title_justify="left")
    for column in ("input", "type", "required", "default", "label"):
        table.add_column(column)
    for item in shown["inputs"]:
        table.add_row(item["id"], _type_text(item), "no" if item["optional"] else "yes",
                      "" if item["default"] is None else str(item["default"]), item["label"])
    console.print(table)
    if shown["uses"]:
        _say(f"uses: {', '.join(shown['uses'])}")


def _type_text(item: dict) -> str:
    if item["type"] == "array":
        return _type_text({**item["items"], "optional": False}) + "[]"
    if item["type"] == "enum":
        return "enum(" + "|".join(item.get("symbols", [])) + ")"
    return item["type"]
