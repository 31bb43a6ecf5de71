"""API shapes for archive volumes, workspaces and files."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from datalabs.storage.beneath import Entry
from datalabs.storage.datasets import today_utc
from datalabs.storage.models import Dataset


class DatasetOut(BaseModel):
    name: str
    title: str
    description: str
    mission: str
    instrument: str
    domain: str
    private: bool = Field(description="Registered as embargoed (private).")
    embargoed: bool = Field(description="Still under embargo today.")
    release_date: date | None
    teams: list[str] = Field(description="Teams allowed before the release date.")
    datalabs_path: str = Field(description="Where a datalab sees it: /media/data/<name>.")
    files_path: str = Field(description="Its path in the file API: data/<name>.")
    created_at: datetime

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetOut:
        return cls(name=dataset.name, title=dataset.title or dataset.name, description=dataset.description,
                   mission=dataset.mission, instrument=dataset.instrument, domain=dataset.domain,
                   private=dataset.is_private, embargoed=dataset.is_embargoed_on(today_utc()),
                   release_date=dataset.release_date, teams=sorted(g.team.name for g in dataset.allowed),
                   datalabs_path=f"/media/data/{dataset.name}", files_path=f"data/{dataset.name}",
                   created_at=dataset.created_at)


class DatasetAdminOut(DatasetOut):
    path: str = Field(description="Folder on the host (shown to admins only).")

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetAdminOut:
        return cls(**DatasetOut.of(dataset).model_dump(), path=dataset.path)


class DatasetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    path: str
    title: str = ""
    description: str = ""
    mission: str = ""
    instrument: str = ""
    domain: str = ""
    private: bool = False
    release_date: date | None = None
    teams: list[str] = []


class DatasetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None
    title: str | None = None
    description: str | None = None
    mission: str | None = None
    instrument: str | None = None
    domain: str | None = None
    private: bool | None = None
    release_date: date | None = None
    teams: list[str] | None = None


class EntryOut(BaseModel):
    name: str
    path: str
    type: Literal["file", "directory", "symlink", "other"]
    size: int
    modified: datetime

    @classmethod
    def of(cls, entry: Entry, parent: str) -> EntryOut:
        path = f"{parent}/{entry.name}" if parent else entry.name
        return cls(name=entry.name, path=path, type=entry.type, size=entry.size, modified=entry.modified)


class FileInfoOut(EntryOut):
    writable: bool
    entries: list[EntryOut] | None = Field(None, description="For folders: their content, folders first.")
    total: int | None = Field(None, description="For folders: how many entries in all (see limit/offset).")


class WorkspaceOut(BaseModel):
    path: str
    kind: Literal["personal", "team"]
    used_bytes: int
    quota_bytes: int | None


class FileChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="The new path (move or rename), e.g. my_workspace/new-name.txt.")


class FileCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["directory"] = "directory"
    parents: bool = Field(False, description="Also create missing parent folders.")
