"""Archive volume tables. Workspaces are folders, not rows: they follow users and teams."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from datalabs.accounts.models import Team
from datalabs.db.base import Base, UTCDateTime, utcnow


class Dataset(Base):
    """A read-only archive volume: a folder on the host, public or embargoed until a date."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(String(4096))
    title: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(String(10000), default="")
    mission: Mapped[str] = mapped_column(String(200), default="")
    instrument: Mapped[str] = mapped_column(String(200), default="")
    domain: Mapped[str] = mapped_column(String(200), default="")
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    release_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    allowed: Mapped[list[DatasetTeam]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def team_ids(self) -> set[int]:
        return {grant.team_id for grant in self.allowed}

    def is_embargoed_on(self, today: date) -> bool:
        return self.is_private and (self.release_date is None or today < self.release_date)


class DatasetTeam(Base):
    """A team allowed to read an embargoed volume before its release date."""

    __tablename__ = "dataset_teams"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)

    team: Mapped[Team] = relationship(lazy="joined")
