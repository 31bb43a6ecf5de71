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

from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from datalabs.api.deps import AppSettings, CurrentActor, DbSession, OptionalActor
from datalabs.catalogue import schemas
from datalabs.catalogue.service import CatalogueService
from datalabs.errors import InvalidInput

router = APIRouter(prefix="/api/v1", tags=["catalogue"])


def get_catalogue(request: Request, db: DbSession, settings: AppSettings) -> CatalogueService:
    return CatalogueService(db, settings, getattr(request.app.state, "env_builder", None))


Catalogue = Annotated[CatalogueService, Depends(get_catalogue)]
MAX_ZIP_UPLOAD = 200 * 1024**2


def _out(service: CatalogueService, actor, datalab) -> schemas.DatalabOut:
    shown = service.shown_version(actor, datalab)
    return schemas.DatalabOut(**schemas.DatalabSummary.of(datalab, shown).model_dump(),
                              versions=[schemas.VersionOut.of(v) for v in service.visible_versions(actor, datalab)])


@router.get("/datalabs", response_model=list[schemas.DatalabSummary],
            summary="The datalab catalogue (text filter, keyword, mission, instrument, kind)")
def list_datalabs(actor: OptionalActor, catalogue: Catalogue,
                  q: Annotated[str, Query(description="Words in the name, title, abstract or keywords.")] = "",
                  keyword: str = "", mission: str = "", instrument: str = "",
                  kind: Annotated[str, Query(description="jupyterlab, web or desktop.")] = ""):
    found = catalogue.catalogue(actor, text=q, keyword=keyword, mission=mission,
                                                     instrument=instrument, kind=kind)
    return [schemas.DatalabSummary.of(datalab, shown) for datalab, shown in found]


@router.get("/datalabs/{name}", response_model=schemas.DatalabOut, summary="A datalab and its versions")
def get_datalab(name: str, actor: OptionalActor, catalogue: Catalogue):
    return _out(catalogue, actor, catalogue.get(actor, name))


@router.patch("/datalabs/{name}", response_model=schemas.DatalabOut,
              summary="Mark official (moderators) or withdraw / restore (moderators, its developers)")
def change_datalab(name: str, body: schemas.DatalabChange, actor: CurrentActor, catalogue: Catalogue):
    if body.official is not None:
        catalogue.set_official(actor, name, body.official)
    if body.withdrawn is not None:
        catalogue.withdraw(actor, name, withdrawn=body.withdrawn)
    return _out(catalogue, actor, catalogue.get(actor, name))


@router.post("/datalabs/import/git", response_model=schemas.VersionOut, status_code=201,
             summary="Import a version from a git repository (developers)")
def import_git(body: schemas.GitImport, actor: CurrentActor, catalogue: Catalogue):
    version = catalogue.import_git(actor, body.url, ref=body.ref, team=body.team)
    return schemas.VersionOut.of(version)


@router.post("/datalabs/import/zip", response_model=schemas.VersionOut, status_code=201,
             summary="Import a version from a zip of the package (request body; developers)")
async def import_zip(request: Request, actor: CurrentActor, catalogue: Catalogue,
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
        version = await run_in_threadpool(catalogue.import_zip, actor, archive,
                                          filename=os.path.basename(filename), team=team)
        return schemas.VersionOut.of(version)


@router.get("/datalabs/{name}/versions/{version}", response_model=schemas.VersionOut, summary="One version")
def get_version(name: str, version: str, actor: OptionalActor, catalogue: Catalogue):
    return schemas.VersionOut.of(catalogue.version(actor, name, version))


@router.patch("/datalabs/{name}/versions/{version}", response_model=schemas.VersionOut,
              summary="Edit descriptive fields of a draft (its developers)")
def edit_version(name: str, version: str, actor: CurrentActor, catalogue: Catalogue,
                 changes: Annotated[dict[str, Any], Body(description="title, abstract, description, mission, "
                                                          "instrument, keywords")]):
    return schemas.VersionOut.of(catalogue.update_fields(actor, name, version, changes))


@router.post("/datalabs/{name}/versions/{version}/submit", response_model=schemas.VersionOut,
             summary="Submit a draft for review (its developers)")
def submit(name: str, version: str, actor: CurrentActor, catalogue: Catalogue):
    return schemas.VersionOut.of(catalogue.submit(actor, name, version))


@router.post("/datalabs/{name}/versions/{version}/publish", response_model=schemas.VersionOut,
             summary="Publish a submitted version (moderators)")
def publish(name: str, version: str, actor: CurrentActor, catalogue: Catalogue):
    return schemas.VersionOut.of(catalogue.publish(actor, name, version))


@router.post("/datalabs/{name}/versions/{version}/reject", response_model=schemas.VersionOut,
             summary="Reject a submitted version with a reason (moderators)")
def reject(name: str, version: str, body: schemas.Rejection, actor: CurrentActor, catalogue: Catalogue):
    return schemas.VersionOut.of(catalogue.reject(actor, name, version, body.reason))


@router.get("/datalabs/{name}/jsonld", summary="A datalab as schema.org SoftwareApplication JSON-LD")
def datalab_jsonld(name: str, request: Request, actor: OptionalActor, catalogue: Catalogue,
                   version: Annotated[str | None, Query(description="Default: the version shown in the catalogue.")] = None):
    from fastapi.responses import JSONResponse

    from datalabs.catalogue.jsonld import software_application
    from datalabs.catalogue.meta import Meta

    datalab = catalogue.get(actor, name)
    row = catalogue.shown_version(actor, datalab, version)
    meta = Meta(values=row.meta, lines={}, sections={}, section_lines={})
    document = software_application(meta, name=datalab.name, version=row.version,
                                    url=f"{catalogue.settings.base_url}/datalabs/{datalab.name}", kind=row.kind,
                                    date_created=row.created_at, date_published=row.published_at,
                                    official=datalab.official)
    return JSONResponse(document, media_type="application/ld+json")


# -- environments -------------------------------------------------------------------------

@router.get("/environments/{env_id}", response_model=schemas.EnvironmentDetail,
            summary="A datalab environment build: status, reason, times")
def get_environment(env_id: str, actor: OptionalActor, catalogue: Catalogue):
    return schemas.EnvironmentDetail.of(catalogue.environment(actor, env_id))


@router.get("/environments/{env_id}/log", summary="The build log; with follow=true, streamed live (SSE) until the build ends")
def environment_log(env_id: str, actor: OptionalActor, catalogue: Catalogue,
                    follow: Annotated[bool, Query(description="Stream as server-sent events until the build ends.")] = False):
    from fastapi.responses import PlainTextResponse, StreamingResponse

    catalogue.environment(actor, env_id)  # visibility
    builder = catalogue.builder
    if builder is None:
        return PlainTextResponse("")
    if not follow:
        text, _, _ = builder.follow_log(env_id, 0)
        return PlainTextResponse(text)
    return StreamingResponse(_log_events(builder, env_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _log_events(builder, env_id: str):
    import anyio

    offset = 0
    while True:
        text, offset, finished = await anyio.to_thread.run_sync(builder.follow_log, env_id, offset)
        for line in text.splitlines():
            yield f"data: {line}\n\n"
        if finished:
            row = await anyio.to_thread.run_sync(builder.get, env_id)
            status = row.status if row else "unknown"
            yield f"event: end\ndata: {status}\n\n"
            return
        await anyio.sleep(0.5)


@router.post("/datalabs/{name}/versions/{version}/build", response_model=schemas.EnvironmentDetail,
             summary="Build a version's environment again, e.g. after a failure (its developers)")
def rebuild(name: str, version: str, actor: CurrentActor, catalogue: Catalogue):
    return schemas.EnvironmentDetail.of(catalogue.rebuild(actor, name, version))
