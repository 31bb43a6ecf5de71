"""Catalogue routes: list and show datalabs, import versions, review them.

Descriptive fields come from datalab-meta.yml (re-import a draft to change them, or PATCH a
draft's descriptive fields); publication state and ``official`` are moderators'; platform
fields are never accepted from users.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from starlette.concurrency import run_in_threadpool

from datalabs.api.deps import AppSettings, CurrentActor, DbSession, OptionalActor
from datalabs.catalogue import schemas
from datalabs.catalogue.service import CatalogueService
from datalabs.errors import InvalidInput

router = APIRouter(prefix="/api/v1", tags=["catalogue"])
MAX_ZIP_UPLOAD = 200 * 1024**2


def _out(service: CatalogueService, actor, datalab) -> schemas.DatalabOut:
    versions = service.visible_versions(actor, datalab)
    published = [v for v in versions if v.state == "published"]
    shown = (published or versions)[-1]
    return schemas.DatalabOut(**schemas.DatalabSummary.of(datalab, shown).model_dump(),
                              versions=[schemas.VersionOut.of(v) for v in versions])


@router.get("/datalabs", response_model=list[schemas.DatalabSummary],
            summary="The datalab catalogue (text filter, keyword, mission, instrument, kind)")
def list_datalabs(actor: OptionalActor, db: DbSession, settings: AppSettings,
                  q: Annotated[str, Query(description="Words in the name, title, abstract or keywords.")] = "",
                  keyword: str = "", mission: str = "", instrument: str = "",
                  kind: Annotated[str, Query(description="jupyterlab, web or desktop.")] = ""):
    found = CatalogueService(db, settings).catalogue(actor, text=q, keyword=keyword, mission=mission,
                                                     instrument=instrument, kind=kind)
    return [schemas.DatalabSummary.of(datalab, shown) for datalab, shown in found]


@router.get("/datalabs/{name}", response_model=schemas.DatalabOut, summary="A datalab and its versions")
def get_datalab(name: str, actor: OptionalActor, db: DbSession, settings: AppSettings):
    service = CatalogueService(db, settings)
    return _out(service, actor, service.get(actor, name))


@router.patch("/datalabs/{name}", response_model=schemas.DatalabOut,
              summary="Mark official (moderators) or withdraw / restore (moderators, its developers)")
def change_datalab(name: str, body: schemas.DatalabChange, actor: CurrentActor, db: DbSession,
                   settings: AppSettings):
    service = CatalogueService(db, settings)
    if body.official is not None:
        service.set_official(actor, name, body.official)
    if body.withdrawn is not None:
        service.withdraw(actor, name, withdrawn=body.withdrawn)
    return _out(service, actor, service.get(actor, name))


@router.post("/datalabs/import/git", response_model=schemas.VersionOut, status_code=201,
             summary="Import a version from a git repository (developers)")
def import_git(body: schemas.GitImport, actor: CurrentActor, db: DbSession, settings: AppSettings):
    version = CatalogueService(db, settings).import_git(actor, body.url, ref=body.ref, team=body.team)
    return schemas.VersionOut.of(version)


@router.post("/datalabs/import/zip", response_model=schemas.VersionOut, status_code=201,
             summary="Import a version from a zip of the package (request body; developers)")
async def import_zip(request: Request, actor: CurrentActor, db: DbSession, settings: AppSettings,
                     team: Annotated[str | None, Query(description="Share the datalab with this team.")] = None,
                     filename: Annotated[str, Query(description="Shown as the version's source.")] = "upload.zip"):
    with tempfile.TemporaryDirectory(prefix="datalabs-zip-") as folder:
        archive = Path(folder) / "package.zip"
        size = 0
        with archive.open("wb") as sink:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_ZIP_UPLOAD:
                    raise InvalidInput(f"the zip is larger than {MAX_ZIP_UPLOAD // 1024**2} MiB", code="too_large")
                sink.write(chunk)
        if size == 0:
            raise InvalidInput("send the zip of the package as the request body", code="empty_body")
        version = await run_in_threadpool(CatalogueService(db, settings).import_zip, actor, archive,
                                          filename=os.path.basename(filename), team=team)
        return schemas.VersionOut.of(version)


@router.get("/datalabs/{name}/versions/{version}", response_model=schemas.VersionOut, summary="One version")
def get_version(name: str, version: str, actor: OptionalActor, db: DbSession, settings: AppSettings):
    return schemas.VersionOut.of(CatalogueService(db, settings).version(actor, name, version))


@router.patch("/datalabs/{name}/versions/{version}", response_model=schemas.VersionOut,
              summary="Edit descriptive fields of a draft (its developers)")
def edit_version(name: str, version: str, actor: CurrentActor, db: DbSession, settings: AppSettings,
                 changes: Annotated[dict[str, Any], Body(description="title, abstract, description, mission, "
                                                          "instrument, keywords")]):
    return schemas.VersionOut.of(CatalogueService(db, settings).update_fields(actor, name, version, changes))


@router.post("/datalabs/{name}/versions/{version}/submit", response_model=schemas.VersionOut,
             summary="Submit a draft for review (its developers)")
def submit(name: str, version: str, actor: CurrentActor, db: DbSession, settings: AppSettings):
    return schemas.VersionOut.of(CatalogueService(db, settings).submit(actor, name, version))


@router.post("/datalabs/{name}/versions/{version}/publish", response_model=schemas.VersionOut,
             summary="Publish a submitted version (moderators)")
def publish(name: str, version: str, actor: CurrentActor, db: DbSession, settings: AppSettings):
    return schemas.VersionOut.of(CatalogueService(db, settings).publish(actor, name, version))


@router.post("/datalabs/{name}/versions/{version}/reject", response_model=schemas.VersionOut,
             summary="Reject a submitted version with a reason (moderators)")
def reject(name: str, version: str, body: schemas.Rejection, actor: CurrentActor, db: DbSession,
           settings: AppSettings):
    return schemas.VersionOut.of(CatalogueService(db, settings).reject(actor, name, version, body.reason))


@router.get("/datalabs/{name}/jsonld", summary="A datalab as schema.org SoftwareApplication JSON-LD")
def datalab_jsonld(name: str, request: Request, actor: OptionalActor, db: DbSession, settings: AppSettings,
                   version: Annotated[str | None, Query(description="Default: the version shown in the catalogue.")] = None):
    from fastapi.responses import JSONResponse

    from datalabs.catalogue.jsonld import software_application
    from datalabs.catalogue.meta import Meta

    service = CatalogueService(db, settings)
    datalab = service.get(actor, name)
    visible = service.visible_versions(actor, datalab)
    published = [v for v in visible if v.state == "published"]
    row = service.version(actor, name, version) if version else (published or visible)[-1]
    meta = Meta(values=row.meta, lines={}, sections={}, section_lines={})
    document = software_application(meta, name=datalab.name, version=row.version,
                                    url=f"{settings.base_url}/datalabs/{datalab.name}", kind=row.kind,
                                    date_created=row.created_at, date_published=row.published_at,
                                    official=datalab.official)
    return JSONResponse(document, media_type="application/ld+json")
