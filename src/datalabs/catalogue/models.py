"""Catalogue tables: datalabs, their versions, and the Python environments built for them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from datalabs.accounts.models import Team, User
from datalabs.db.base import Base, UTCDateTime, utcnow


class VersionState(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    PUBLISHED = "published"
    REJECTED = "rejected"


class EnvironmentStatus(enum.StrEnum):
    PENDING = "pending"
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


class Datalab(Base):
    """A catalogue entry: one tool under one name, with all its versions."""

    __tablename__ = "datalabs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), nullable=True)
    official: Mapped[bool] = mapped_column(Boolean, default=False)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    owner: Mapped[User] = relationship(lazy="joined")
    team: Mapped[Team | None] = relationship(lazy="joined")
    versions: Mapped[list[DatalabVersion]] = relationship(
        back_populates="datalab", cascade="all, delete-orphan", lazy="selectin", order_by="DatalabVersion.id"
    )


class DatalabVersion(Base):
    """One imported version. Descriptive fields come from datalab-meta.yml; published ones never change."""

    __tablename__ = "datalab_versions"
    __table_args__ = (UniqueConstraint("datalab_id", "version", name="uq_datalab_versions_datalab_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    datalab_id: Mapped[int] = mapped_column(ForeignKey("datalabs.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=VersionState.DRAFT.value)
    title: Mapped[str] = mapped_column(String(300))
    abstract: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    license: Mapped[str] = mapped_column(String(200))
    mission: Mapped[str] = mapped_column(String(200), default="")
    instrument: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(16), default="jupyterlab")
    keywords: Mapped[list] = mapped_column(JSON, default=list)
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    runtime: Mapped[dict] = mapped_column(JSON, default=dict)
    source: Mapped[str] = mapped_column(String(2000), default="")
    source_kind: Mapped[str] = mapped_column(String(16), default="folder")
    package_path: Mapped[str] = mapped_column(String(4096), default="")
    environment_id: Mapped[str | None] = mapped_column(ForeignKey("environments.id", ondelete="SET NULL"),
                                                       nullable=True)
    rejection_reason: Mapped[str] = mapped_column(Text, default="")
    reviewed_by: Mapped[str] = mapped_column(String(32), default="")
    platform_version: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    datalab: Mapped[Datalab] = relationship(back_populates="versions", lazy="joined")
    environment: Mapped[Environment | None] = relationship(lazy="joined")


class Environment(Base):
    """A Python environment, named by the hash of what goes into it: equal inputs share one."""

    __tablename__ = "environments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=EnvironmentStatus.PENDING.value)
    requirements: Mapped[str] = mapped_column(Text, default="")
    python_version: Mapped[str] = mapped_column(String(32), default="")
    reason: Mapped[str] = mapped_column(String(1000), default="")
    path: Mapped[str] = mapped_column(String(4096), default="")
    log_path: Mapped[str] = mapped_column(String(4096), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
