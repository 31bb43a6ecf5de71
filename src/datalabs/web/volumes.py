"""The archive volumes page, and the pages of capabilities still to come (the archive pages are in archive.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Request

from datalabs.accounts.actor import Actor
from datalabs.api.deps import DbSession
from datalabs.storage.datasets import DatasetService
from datalabs.storage.models import Dataset
from datalabs.web.deps import PageCaller, visitor_allowed
from datalabs.web.pages import render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class VolumeView:
    name: str
    title: str
    description: str
    mission: str
    instrument: str
    domain: str
    embargoed: bool
    release_date: date | None
    teams: list[str]

    @classmethod
    def of(cls, dataset: Dataset, today: date) -> VolumeView:
        return cls(name=dataset.name, title=dataset.title or dataset.name, description=dataset.description,
                   mission=dataset.mission, instrument=dataset.instrument, domain=dataset.domain,
                   embargoed=dataset.is_embargoed_on(today), release_date=dataset.release_date,
                   teams=sorted(grant.team.name for grant in dataset.allowed))


def visible_volumes(db, actor: Actor | None) -> list[VolumeView]:
    service = DatasetService(db)
    today = service.today()
    volumes = [VolumeView.of(d, today) for d in service.visible(actor)]
    return sorted(volumes, key=lambda v: (v.title.lower(), v.name))


@router.get("/volumes")
def volumes_page(request: Request, caller: PageCaller, db: DbSession):
    visitor_allowed(request, caller)
    return render(request, "volumes.html", {"volumes": visible_volumes(db, caller.actor)})
