"""SQL for archive volumes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from datalabs.names import storable
from datalabs.storage.models import Dataset


class DatasetRepository:
    def __init__(self, db: Session) -> None:
        self.db = db

    def by_name(self, name: str) -> Dataset | None:
        if not storable(name):
            return None
        return self.db.scalar(select(Dataset).where(Dataset.name == name))

    def all(self) -> list[Dataset]:
        return list(self.db.scalars(select(Dataset).order_by(Dataset.name)))

    def add(self, dataset: Dataset) -> None:
        self.db.add(dataset)

    def delete(self, dataset: Dataset) -> None:
        self.db.delete(dataset)
