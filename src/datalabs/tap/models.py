"""TAP asynchronous (UWS) jobs: kept in the database, so they survive a restart; results are files."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from datalabs.db.base import Base, UTCDateTime, utcnow


class TapJob(Base):
    __tablename__ = "tap_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True,
                                                 index=True)  # None: an anonymous job (public data only)
    run_id: Mapped[str] = mapped_column(String(200), default="")
    phase: Mapped[str] = mapped_column(String(16), default="PENDING")  # UWS 1.1 phases
    parameters: Mapped[dict] = mapped_column(JSON, default=dict)  # LANG, QUERY, FORMAT, MAXREC, ... as given
    query: Mapped[str] = mapped_column(Text, default="")
    execution_duration: Mapped[int] = mapped_column(Integer, default=0)  # seconds; 0 = no limit
    destruction: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    result_rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    overflow: Mapped[bool] = mapped_column(Boolean, default=False)
    result_format: Mapped[str] = mapped_column(String(100), default="")  # MIME type of the result file
