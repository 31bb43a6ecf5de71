"""`datalabs discover QUERY`: search the platform's assets through the REST API (as the token's user), with
facet filters and counts; `datalabs discover reindex`: rebuild the index from the database (admins, local)."""

from __future__ import annotations

import html
import re

import click
from rich.console import Console
from rich.table import Table

from datalabs.cli import admin_command
from datalabs.client import Client
from datalabs.remote_cli import remote_command

console = Console()


class SearchByDefault(click.Group):
    """``datalabs discover comet nucleus`` is ``datalabs discover search comet nucleus``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["search", *args]
        return super().parse_args(ctx, args)


@click.group(cls=SearchByDefault)
def discover() -> None:
    """Find data sets, volumes, datalabs and pipelines: `datalabs discover QUERY [--facet mission:Rosetta]`."""


@discover.command("search")
@click.argument("query", nargs=-1)
@click.option("--facet", "facets", multiple=True, metavar="FACET:VALUE",
              help="Filter (repeatable): asset_type, domain, mission, instrument, target, thematic_area.")
@click.option("--type", "asset_type", type=click.Choice(["dataset", "volume", "datalab", "pipeline"]), default=None,
              help="Only this asset type (the same as --facet asset_type:TYPE).")
@click.option("--sort", type=click.Choice(["relevance", "title", "newest", "modified"]), default=None)
@click.option("--page", type=click.IntRange(1), default=1)
@click.option("--per-page", type=click.IntRange(1, 100), default=20)
@click.option("--facets/--no-facets", "show_facets", default=True, help="Show the facet counts.")
@remote_command
def discover_search(client: Client, query, facets, asset_type, sort, page, per_page, show_facets):
    """Search with QUERY: words, "a phrase", prefix*, a OR b, -word (empty: everything)."""
    params: list[tuple[str, str | int]] = [("q", " ".join(query)), ("page", page), ("per_page", per_page)]
    params += [("facet", f) for f in facets]
    if asset_type:
        params.append(("facet", f"asset_type:{asset_type}"))
    if sort:
        params.append(("sort", sort))
    body = client.request("GET", "/api/v1/discover", params=params).json()

    def show(data):
        table = Table(title=f"{data['total']} found (page {data['page']} of {data['pages']}, {data['sort']})",
                      title_justify="left")
        for column in ("type", "key", "title", "summary"):
            table.add_column(column, overflow="fold")
        for hit in data["results"]:
            summary = html.unescape(re.sub(r"</?mark>", "", hit["snippet"]))
            table.add_row(hit["asset_type"] + ("" if hit["open"] else " (restricted)"), hit["key"], hit["title"],
                          summary[:160])
        console.print(table)
        if show_facets:
            for facet in data["facets"]:
                if facet["values"]:
                    values = ", ".join(f"{'[bold]' if v['selected'] else ''}{v['value']} ({v['count']})"
                                       f"{'[/bold]' if v['selected'] else ''}" for v in facet["values"][:12])
                    console.print(f"[dim]{facet['label']}:[/dim] {values}")

    return body, show


@discover.command("reindex")
@admin_command
def discover_reindex(db, settings):
    """Describe every asset again from the database (after a restore, or to repair the index)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from datalabs.discovery.indexer import reindex

    with Progress(TextColumn("[bold]reindexing"), BarColumn(), MofNCompleteColumn(), transient=True) as bar:
        task = bar.add_task("reindex", total=None)
        count = reindex(db, progress=lambda done, total: bar.update(task, completed=done, total=total))
    return f"discovery index rebuilt: {count} assets"
