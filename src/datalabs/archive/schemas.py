"""Request and response shapes of the archive routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ScanOut(BaseModel):
    id: int
    volume: str
    state: str = Field(description="running, completed or failed")
    files_total: int = Field(description="Changed or new files to read")
    files_done: int
    indexed: int = Field(description="Products written")
    unchanged: int = Field(description="Files skipped: unchanged since the last scan")
    problems: int = Field(description="Labels that could not be read (see /problems)")
    removed: int = Field(description="Products whose label is gone")
    error: str
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, scan, volume: str) -> ScanOut:
        return cls(id=scan.id, volume=volume, state=scan.state, files_total=scan.files_total,
                   files_done=scan.files_done, indexed=scan.indexed, unchanged=scan.unchanged,
                   problems=scan.problems, removed=scan.removed, error=scan.error, started_at=scan.started_at,
                   finished_at=scan.finished_at)


class VolumeIndexOut(BaseModel):
    volume: str
    title: str
    products: int
    problems: int
    attributes: int
    tap_table: str = Field(description="The volume's TAP table (every attribute as a column)")
    last_scan: ScanOut | None

    @classmethod
    def of(cls, volume, products: int, problems: int, attributes: int, last_scan) -> VolumeIndexOut:
        from datalabs.archive.tap_tables import volume_table_name

        return cls(volume=volume.name, title=volume.title, products=products, problems=problems,
                   attributes=attributes, tap_table=f"volume.{volume_table_name(volume.name)}",
                   last_scan=ScanOut.of(last_scan, volume.name) if last_scan else None)


class AttributeOut(BaseModel):
    name: str
    datatype: str = Field(description="int, float, str, date or list")
    unit: str
    count: int = Field(description="Products that have it")


class ProblemOut(BaseModel):
    path: str
    reason: str
    line: int | None
    column: int | None
    scanned_at: datetime


class TableOut(BaseModel):
    name: str
    tap_table: str
    description: str
    columns: list[dict]
    mapping: str
    updated_at: datetime

    @classmethod
    def of(cls, table) -> TableOut:
        return cls(name=table.name, tap_table=f"mapped.{table.name}", description=table.description,
                   columns=table.spec.get("columns", []), mapping=table.mapping, updated_at=table.updated_at)


class IndexIn(BaseModel):
    attribute: str = Field(description="A label attribute name, e.g. IMAGE_POI.ROSETTA:SURFACE_INTERCEPT_DISTANCE")


class IndexOut(BaseModel):
    attribute: str
    index_name: str
    created_at: datetime
