"""Pipeline tables: catalogue entries (CWL steps and workflows) with their versions, and runs.

A run keeps one row per cwltool job (a step, or one element of a scattered step) and the events
that show its progress. Rows are never deleted when a run ends: its record and logs stay.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from datalabs.accounts.models import Team, User
from datalabs.catalogue.models import VersionState
from datalabs.db.base import Base, UTCDateTime, utcnow
from datalabs.states import RunState


class Pipeline(Base):
    """A catalogue entry: one CWL step (``CommandLineTool``) or pipeline (``Workflow``) under one name."""

    __tablename__ = "pipelines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "step" or "pipeline"
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), nullable=True)
    official: Mapped[bool] = mapped_column(default=False)  # a system pipeline, maintained by the admins
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    owner: Mapped[User] = relationship(lazy="joined")
    team: Mapped[Team | None] = relationship(lazy="joined")
    versions: Mapped[list[PipelineVersion]] = relationship(
        back_populates="pipeline", cascade="all, delete-orphan", lazy="selectin", order_by="PipelineVersion.id"
    )


class PipelineVersion(Base):
    """One imported version: the CWL as given, packed into one document, and what the UI needs of it."""

    __tablename__ = "pipeline_versions"
    __table_args__ = (UniqueConstraint("pipeline_id", "version", name="uq_pipeline_versions_pipeline_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=VersionState.DRAFT.value)
    title: Mapped[str] = mapped_column(String(300))
    doc: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list] = mapped_column(JSON, default=list)
    cwl_class: Mapped[str] = mapped_column(String(32))  # CommandLineTool, Workflow, ExpressionTool
    cwl_version: Mapped[str] = mapped_column(String(16), default="v1.2")
    main_file: Mapped[str] = mapped_column(String(300))  # the document's file name, for messages and downloads
    source_text: Mapped[str] = mapped_column(Text)  # the main document as imported
    packed: Mapped[dict] = mapped_column(JSON)  # self-contained: every `run:` inlined (catalogue steps too)
    inputs: Mapped[list] = mapped_column(JSON, default=list)  # the launch form's fields (see pipelines.cwl)
    outputs: Mapped[list] = mapped_column(JSON, default=list)
    graph: Mapped[dict] = mapped_column(JSON, default=dict)  # steps and edges, for the picture
    uses: Mapped[list] = mapped_column(JSON, default=list)  # catalogue steps used, "name@version"
    environments: Mapped[list] = mapped_column(JSON, default=list)  # datalabs whose environment steps name
    source: Mapped[str] = mapped_column(String(2000), default="")
    source_kind: Mapped[str] = mapped_column(String(16), default="file")  # file, folder, git, editor
    rejection_reason: Mapped[str] = mapped_column(Text, default="")
    reviewed_by: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    pipeline: Mapped[Pipeline] = relationship(back_populates="versions", lazy="joined")


class PipelineRun(Base):
    """One run of a pipeline version (or of a workflow sent through WES)."""

    __tablename__ = "pipeline_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("pipeline_versions.id", ondelete="SET NULL"),
                                                   nullable=True)
    pipeline_name: Mapped[str] = mapped_column(String(64), default="")  # kept if the version goes
    pipeline_version: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[str] = mapped_column(String(16), default=RunState.PENDING.value, index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")  # what it is doing now ("render: 12/40 done")
    inputs: Mapped[dict] = mapped_column(JSON, default=dict)  # as the user gave them (platform paths, scalars)
    outputs: Mapped[dict] = mapped_column(JSON, default=dict)  # final CWL outputs, as platform paths
    output_workspace: Mapped[str] = mapped_column(String(100), default="my_workspace")  # or team_workspaces/<t>
    output_path: Mapped[str] = mapped_column(String(1000), default="")  # e.g. my_workspace/pipelines/<run>
    cpu: Mapped[float] = mapped_column(Float, default=1.0)  # cores its steps may use at once
    tags: Mapped[dict] = mapped_column(JSON, default=dict)  # free labels (WES tags)
    backend_state: Mapped[dict] = mapped_column(JSON, default=dict)  # the driver process (pid, start time)
    events_offset: Mapped[int] = mapped_column(Integer, default=0)  # how far the driver's event file is read
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # driver starts (a resume after a crash adds one)
    step_totals: Mapped[dict] = mapped_column(JSON, default=dict)  # step -> jobs expected (scatter width)
    jobs_done: Mapped[int] = mapped_column(Integer, default=0)
    jobs_failed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship(lazy="joined")
    version: Mapped[PipelineVersion | None] = relationship(lazy="joined")


class PipelineJob(Base):
    """One cwltool job of a run: a step, or one element of a scattered step."""

    __tablename__ = "pipeline_jobs"
    __table_args__ = (UniqueConstraint("run_id", "name", name="uq_pipeline_jobs_run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("pipeline_runs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))  # cwltool's job name: "render", "render_12"
    step: Mapped[str] = mapped_column(String(200))  # the workflow step it belongs to: "render"
    state: Mapped[str] = mapped_column(String(16), default=RunState.RUNNING.value)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    log_path: Mapped[str] = mapped_column(String(4096), default="")  # host path, served through the API only
    outputs: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PipelineRunEvent(Base):
    """One step of a run's life, shown as its progress stream and its history."""

    __tablename__ = "pipeline_run_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("pipeline_runs.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
