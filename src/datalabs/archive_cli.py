"""`datalabs archive ...`: index the labels of archive volumes, define mapped tables, make indexes (admin
commands on the local data folder, like `datalabs dataset`)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from datalabs.cli import admin_command


@click.group()
def archive() -> None:
    """Archive metadata: every PDS3/PDS4 label attribute, indexed and queryable (TAP at /tap)."""


@archive.command("scan")
@click.argument("volume")
@click.option("--config", "mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A YAML mapping file: the named tables to define once the scan is done.")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Reading processes (default: cores).")
@admin_command
def archive_scan(db, settings, volume, mapping, workers):
    """Find and index every label of VOLUME (incremental: unchanged files are skipped)."""
    from datalabs.archive.service import ArchiveService

    service = ArchiveService(db)
    mapping_text = mapping.read_text() if mapping else None
    if mapping_text is not None:  # a broken mapping file is reported before the (long) scan, not after
        from datalabs.archive.mapping import parse_mapping

        parse_mapping(mapping_text, source=str(mapping))
    scan = service.begin_scan(volume, None)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), transient=False) as bar:
        task = bar.add_task(f"scanning {volume}", total=None, detail="finding labels")

        def show(counts):
            bar.update(task, total=counts.files_total or None, completed=counts.files_done,
                       detail=f"{counts.indexed} indexed, {counts.unchanged} unchanged, {counts.problems} problems")

        service.run_scan(scan, workers=workers, progress=show)
    lines = [f"volume {volume}: {scan.indexed} products indexed, {scan.unchanged} files unchanged, "
             f"{scan.problems} labels with problems, {scan.removed} removed"]
    if mapping_text is not None:
        tables = service.define_tables(mapping_text, None, source=str(mapping))
        lines.append("mapped tables: " + ", ".join(f"mapped.{t.name}" for t in tables))
    if scan.problems:
        lines.append(f"see them with: datalabs archive problems {volume}")
    return "\n".join(lines)


@archive.command("problems")
@click.argument("volume")
@admin_command
def archive_problems(db, settings, volume):
    """Labels of VOLUME that could not be read, with the reason and position."""
    from datalabs.archive.service import ArchiveService

    rows = [{"path": p.path, "line": p.line, "column": p.column, "reason": p.reason}
            for p in ArchiveService(db).problems(volume, None, local=True)]
    return rows, ["path", "line", "column", "reason"], f"label problems of {volume}"


@archive.command("attributes")
@click.argument("volume")
@admin_command
def archive_attributes(db, settings, volume):
    """Every attribute found in VOLUME's labels, with type, unit and count."""
    from datalabs.archive.service import ArchiveService

    rows = [{"name": a.name, "type": a.datatype, "unit": a.unit, "products": a.count}
            for a in ArchiveService(db).attributes(volume, None, local=True)]
    return rows, ["name", "type", "unit", "products"], f"attributes of {volume}"


@archive.command("define")
@click.argument("mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@admin_command
def archive_define(db, settings, mapping):
    """Define (or replace) the named tables of a YAML MAPPING file."""
    from datalabs.archive.service import ArchiveService

    tables = ArchiveService(db).define_tables(mapping.read_text(), None, source=str(mapping))
    return "defined: " + ", ".join(f"mapped.{t.name} ({len(t.spec['columns'])} columns)" for t in tables)


@archive.command("tables")
@admin_command
def archive_tables(db, settings):
    """The mapped tables."""
    from datalabs.archive.service import ArchiveService

    rows = [{"table": f"mapped.{t.name}", "columns": len(t.spec.get("columns", [])), "description": t.description}
            for t in ArchiveService(db).tables()]
    return rows, ["table", "columns", "description"], "mapped tables"


@archive.command("index")
@click.argument("attribute")
@click.option("--drop", is_flag=True, help="Drop the index instead.")
@admin_command
def archive_index(db, settings, attribute, drop):
    """Make (or --drop) an index on one label ATTRIBUTE, for fast queries filtering on it."""
    from datalabs.archive.service import ArchiveService

    service = ArchiveService(db)
    if drop:
        service.drop_index(attribute, None)
        return f"index on {attribute} dropped"
    row = service.create_index(attribute, None)
    return f"index {row.index_name} on {attribute}"
