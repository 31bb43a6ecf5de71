"""Request and response bodies of the session API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from datalabs.sessions.models import LabSession, LabSessionEvent
from datalabs.sessions.spec import base_url_of


class LaunchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    datalab: str = Field(description="Catalogue name of the datalab, e.g. `psa-lab`.")
    version: str | None = Field(None, description="Version to launch; default: the latest published.")
    cpu: float | None = Field(None, description="CPUs (fractions allowed); default: the datalab's default.")
    memory: str | int | None = Field(None, description="Memory, in bytes or with a unit (`4G`); default: the datalab's.")
    volumes: list[str] = Field(default_factory=list, description="Archive volumes to mount read-only under /media/data.")
    team_workspaces: list[str] | None = Field(
        None, description="Team workspaces to mount read-write; default: every team of yours.")


class SessionOut(BaseModel):
    id: str
    url: str = Field(description="Where the datalab is used in the browser (through the proxy).")
    user: str
    datalab: str
    version: str
    kind: str
    state: str
    reason: str = Field(description="Why it failed or stopped; empty while all is well.")
    cpu: float
    memory: int
    volumes: list[str]
    team_workspaces: list[str]
    backend: str
    reported: dict = Field(description="What the datalab reported of itself with `datalab-status`.")
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    expires_at: datetime | None
    last_activity_at: datetime | None

    @classmethod
    def of(cls, session: LabSession) -> SessionOut:
        return cls(
            id=session.id, url=base_url_of(session.id), user=session.user.name, datalab=session.datalab_name,
            version=session.version, kind=session.kind, state=session.state, reason=session.reason, cpu=session.cpu,
            memory=session.memory, volumes=list(session.volumes), team_workspaces=list(session.team_workspaces),
            backend=session.backend, reported=dict(session.reported or {}), created_at=session.created_at,
            started_at=session.started_at, ended_at=session.ended_at, expires_at=session.expires_at,
            last_activity_at=session.last_activity_at,
        )


class EventOut(BaseModel):
    id: int
    at: datetime
    state: str
    progress: int = Field(description="0-100: how far the launch has come.")
    message: str

    @classmethod
    def of(cls, event: LabSessionEvent) -> EventOut:
        return cls(id=event.id, at=event.at, state=event.state, progress=event.progress, message=event.message)


class VolumeChoice(BaseModel):
    name: str
    title: str
    mission: str
    private: bool


class LaunchOptionsOut(BaseModel):
    datalab: str
    versions: list[str]
    default_version: str
    kind: str
    cpu_default: float
    cpu_max: float
    memory_default: int
    memory_max: int
    volumes: list[VolumeChoice]
    team_workspaces: list[str]
    sessions_running: int
    sessions_allowed: int


class BackendOut(BaseModel):
    name: str = Field(description="The `backend` setting: local, slurm, kubernetes, ...")
    enforces_limits: bool = Field(description="Whether CPU and memory limits are enforced.")
    isolation: str = Field(description="How sessions and steps are kept apart, in one line.")
    details: dict = Field(description="The backend's own facts (Slurm: configuration, partition, `sinfo`).")
