"""Archive volumes: registration by admins, and the embargo rule that decides who sees one.

An embargoed volume is visible only to platform admins and the teams allowed before its release
date; from that date on it is public, with no manual step (the rule is evaluated on every read).
To anyone else it does not exist: the same ``NotFound`` as for a name never registered.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from datalabs.accounts.actor import Actor
from datalabs.accounts.repository import AccountRepository
from datalabs.accounts.service import require_admin
from datalabs.errors import AlreadyExists, InvalidInput, NotFound
from datalabs.names import check_text, check_volume_name
from datalabs.storage.models import Dataset, DatasetTeam
from datalabs.storage.repository import DatasetRepository

DESCRIPTIVE_FIELDS = ("title", "description", "mission", "instrument", "domain")


def today_utc() -> date:
    return datetime.now(UTC).date()


def can_read(actor: Actor | None, dataset: Dataset, today: date) -> bool:
    if not dataset.is_embargoed_on(today):
        return True
    if actor is None:
        return False
    return actor.is_admin or bool(actor.team_ids & dataset.team_ids)


def parse_release_date(value: str | date | None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"invalid release date {value!r}: write it as YYYY-MM-DD",
                           field="release_date") from None


class DatasetService:
    def __init__(self, db: Session, today: Callable[[], date] = today_utc) -> None:
        self.db = db
        self.repo = DatasetRepository(db)
        self.accounts = AccountRepository(db)
        self.today = today

    def visible(self, actor: Actor | None) -> list[Dataset]:
        today = self.today()
        return [d for d in self.repo.all() if can_read(actor, d, today)]

    def get(self, name: str, actor: Actor | None) -> Dataset:
        dataset = self.repo.by_name(name)
        if dataset is None or not can_read(actor, dataset, self.today()):
            raise NotFound(f"no archive volume named {name!r}", field="volume")
        return dataset

    def register(self, name: str, path: str | Path, *, private: bool = False,
                 teams: list[str] | None = None, release_date: str | date | None = None,
                 actor: Actor | None = None, **descriptive: str) -> Dataset:
        if actor is not None:
            require_admin(actor)
        check_volume_name(name)
        if self.repo.by_name(name):
            raise AlreadyExists(f"an archive volume named {name!r} already exists", field="name")
        dataset = Dataset(name=name, path=_checked_volume_path(path))
        self._apply(dataset, private=private, teams=teams, release_date=release_date, **descriptive)
        self.repo.add(dataset)
        self.db.commit()
        return dataset

    def update(self, name: str, *, actor: Actor | None = None, **changes) -> Dataset:
        if actor is not None:
            require_admin(actor)
        dataset = self.repo.by_name(name)
        if dataset is None:
            raise NotFound(f"no archive volume named {name!r}", field="volume")
        if "path" in changes and changes["path"] is not None:
            dataset.path = _checked_volume_path(changes.pop("path"))
        changes.pop("path", None)
        self._apply(dataset, **changes)
        self.db.commit()
        return dataset

    def unregister(self, name: str, *, actor: Actor | None = None) -> None:
        """Forget a volume. Its files are never touched: volumes are read-only to datalabs."""
        if actor is not None:
            require_admin(actor)
        dataset = self.repo.by_name(name)
        if dataset is None:
            raise NotFound(f"no archive volume named {name!r}", field="volume")
        self.repo.delete(dataset)
        self.db.commit()

    def _apply(self, dataset: Dataset, *, private: bool | None = None, teams: list[str] | None = None,
               release_date: str | date | None = ..., **descriptive: str | None) -> None:
        for key, value in descriptive.items():
            if key not in DESCRIPTIVE_FIELDS:
                raise InvalidInput(f"unknown volume field {key!r}", field=key)
            check_text(key, value, Dataset.__table__.c[key].type.length)
            if value is not None:
                setattr(dataset, key, value)
        if private is not None:
            dataset.is_private = private
        if release_date is not ...:
            dataset.release_date = parse_release_date(release_date)
        if teams is not None:
            grants = []
            for team_name in dict.fromkeys(teams):
                team = self.accounts.team_by_name(team_name)
                if team is None:
                    raise NotFound(f"no team named {team_name!r}", field="teams")
                grants.append(DatasetTeam(team_id=team.id))
            dataset.allowed = grants
        if dataset.allowed and not dataset.is_private:
            raise InvalidInput("teams are only given to embargoed (private) volumes", field="teams")
        if dataset.release_date is not None and not dataset.is_private:  # it would be public already
            raise InvalidInput("a release date only applies to embargoed (private) volumes", field="release_date")


def _checked_volume_path(path: str | Path) -> str:
    check_text("path", str(path))
    resolved = Path(path).expanduser()
    if not resolved.is_absolute():
        resolved = Path.cwd() / resolved
    resolved = Path(os.path.realpath(resolved))
    if not resolved.is_dir():
        raise InvalidInput(f"{path} is not a folder on this machine", field="path")
    if not os.access(resolved, os.R_OK | os.X_OK):
        raise InvalidInput(f"{path} cannot be read by the datalabs server", field="path")
    return str(resolved)
