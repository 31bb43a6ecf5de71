"""Session tables: one row per launched datalab, and the events that show its progress."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from datalabs.accounts.models import User
from datalabs.db.base import Base, UTCDateTime, utcnow
from datalabs.states import RunState


class LabSession(Base):
    """A running (or ended) datalab. Rows are never deleted: an ended session keeps its log."""

    __tablename__ = "lab_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    datalab_name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("datalab_versions.id", ondelete="SET NULL"),
                                                   nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=RunState.PENDING.value, index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    cpu: Mapped[float] = mapped_column(Float)
    memory: Mapped[int] = mapped_column(BigInteger)
    volumes: Mapped[list] = mapped_column(JSON, default=list)
    team_workspaces: Mapped[list] = mapped_column(JSON, default=list)
    backend: Mapped[str] = mapped_column(String(32))
    backend_state: Mapped[dict] = mapped_column(JSON, default=dict)  # opaque: only the backend reads it
    address: Mapped[dict] = mapped_column(JSON, default=dict)
    reported: Mapped[dict] = mapped_column(JSON, default=dict)  # what the datalab said of itself
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship(lazy="joined")


class LabSessionEvent(Base):
    """One step of a session's life, shown as progress while it starts and as its history after."""

    __tablename__ = "lab_session_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("lab_sessions.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(16))
    progress: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
