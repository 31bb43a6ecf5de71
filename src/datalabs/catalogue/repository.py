"""SQL for the catalogue."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from datalabs.catalogue.models import Datalab, DatalabVersion


class CatalogueRepository:
    def __init__(self, db: Session) -> None:
        self.db = db

    def datalab(self, name: str) -> Datalab | None:
        return self.db.scalar(select(Datalab).where(Datalab.name == name))

    def datalabs(self) -> list[Datalab]:
        return list(self.db.scalars(select(Datalab).order_by(Datalab.name)))

    def version(self, datalab: Datalab, version: str) -> DatalabVersion | None:
        return self.db.scalar(select(DatalabVersion).where(DatalabVersion.datalab_id == datalab.id,
                                                           DatalabVersion.version == version))

    def add(self, row) -> None:
        self.db.add(row)
