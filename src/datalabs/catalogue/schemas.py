"""API shapes for the catalogue."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from datalabs.catalogue.models import Datalab, DatalabVersion


class EnvironmentOut(BaseModel):
    id: str
    status: str
    reason: str


class EnvironmentDetail(EnvironmentOut):
    python_version: str
    requirements: str = Field(description="What is installed (normalised; a first comment line lists host packages).")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, env) -> EnvironmentDetail:
        return cls(id=env.id, status=env.status, reason=env.reason, python_version=env.python_version,
                   requirements=env.requirements, created_at=env.created_at, started_at=env.started_at,
                   finished_at=env.finished_at)


class VersionOut(BaseModel):
    version: str
    state: str = Field(description="draft, submitted, published or rejected.")
    title: str
    abstract: str
    description: str
    license: str
    mission: str
    instrument: str
    kind: str = Field(description="jupyterlab, web or desktop.")
    keywords: list[str]
    rejection_reason: str
    reviewed_by: str
    source: str
    source_kind: str
    platform_version: str = Field(description="Set by the platform.")
    created_at: datetime
    submitted_at: datetime | None
    published_at: datetime | None
    runtime: dict
    meta: dict = Field(description="Every key of datalab-meta.yml, flattened (dotted), unknown keys included.")
    environment: EnvironmentOut | None

    @classmethod
    def of(cls, version: DatalabVersion) -> VersionOut:
        env = version.environment
        return cls(
            version=version.version, state=version.state, title=version.title, abstract=version.abstract,
            description=version.description, license=version.license, mission=version.mission,
            instrument=version.instrument, kind=version.kind, keywords=version.keywords,
            rejection_reason=version.rejection_reason, reviewed_by=version.reviewed_by, source=version.source,
            source_kind=version.source_kind, platform_version=version.platform_version,
            created_at=version.created_at, submitted_at=version.submitted_at, published_at=version.published_at,
            runtime=version.runtime, meta=version.meta,
            environment=EnvironmentOut(id=env.id, status=env.status, reason=env.reason) if env else None)


class DatalabSummary(BaseModel):
    name: str
    title: str
    abstract: str
    kind: str
    mission: str
    instrument: str
    keywords: list[str]
    version: str = Field(description="The version shown: the latest published, else the latest visible.")
    state: str
    official: bool
    withdrawn: bool
    owner: str
    team: str | None

    @classmethod
    def of(cls, datalab: Datalab, shown: DatalabVersion) -> DatalabSummary:
        return cls(name=datalab.name, title=shown.title, abstract=shown.abstract, kind=shown.kind,
                   mission=shown.mission, instrument=shown.instrument, keywords=shown.keywords,
                   version=shown.version, state=shown.state, official=datalab.official,
                   withdrawn=datalab.withdrawn_at is not None, owner=datalab.owner.name,
                   team=datalab.team.name if datalab.team else None)


class DatalabOut(DatalabSummary):
    versions: list[VersionOut]


class GitImport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="An https:// git URL (admins may also give a path or file:// URL on the server).")
    ref: str | None = Field(None, description="Branch or tag (default: the default branch).")
    team: str | None = Field(None, description="Share the datalab with this team of yours.")


class DatalabChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    official: bool | None = Field(None, description="Moderators only.")
    withdrawn: bool | None = Field(None, description="Moderators or the datalab's developers.")


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str
