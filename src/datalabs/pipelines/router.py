"""Pipeline catalogue routes: list and show CWL steps and pipelines, import versions, review them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from datalabs.api.deps import AppSettings, CurrentActor, DbSession, OptionalActor
from datalabs.errors import InvalidInput
from datalabs.pipelines import schemas
from datalabs.pipelines.service import PipelineService

router = APIRouter(prefix="/api/v1/pipelines", tags=["pipelines"])
MAX_UPLOAD = 50 * 1024**2
CWL_SUFFIXES = (".cwl", ".yml", ".yaml", ".json")


def get_pipelines(db: DbSession, settings: AppSettings) -> PipelineService:
    return PipelineService(db, settings)


Pipelines = Annotated[PipelineService, Depends(get_pipelines)]


def _out(service: PipelineService, actor, pipeline) -> schemas.PipelineOut:
    shown = service.shown_version(actor, pipeline)
    return schemas.PipelineOut(**schemas.PipelineSummary.of(pipeline, shown).model_dump(),
                               versions=[schemas.PipelineVersionSummary.of(v)
                                         for v in service.visible_versions(actor, pipeline)])


@router.get("", response_model=list[schemas.PipelineSummary],
            summary="The pipeline catalogue (text filter, tag, kind; the last modified first)")
def list_pipelines(actor: OptionalActor, pipelines: Pipelines,
                   text: Annotated[str, Query(description="Words in the name, title, doc or tags.")] = "",
                   tag: str = "", kind: Annotated[str, Query(description="step or pipeline.")] = "",
                   sort: Annotated[str, Query(description="modified (default) or name.")] = "modified"):
    found = pipelines.catalogue(actor, text=text, tag=tag, kind=kind, sort=sort)
    return [schemas.PipelineSummary.of(pipeline, shown) for pipeline, shown in found]


@router.post("", response_model=schemas.PipelineVersionOut, status_code=201,
             summary="Import a version from an uploaded .cwl file or a .zip of a folder (developers)")
async def import_upload(actor: CurrentActor, pipelines: Pipelines,
                        file: Annotated[UploadFile, File(description="A CWL document, or a zip of a folder.")],
                        name: Annotated[str | None, Form()] = None, version: Annotated[str | None, Form()] = None,
                        team: Annotated[str | None, Form()] = None, main: Annotated[str | None, Form()] = None,
                        tags: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
                        official: Annotated[bool, Form()] = False):
    filename = os.path.basename(file.filename or "") or "pipeline.cwl"
    is_zip = filename.lower().endswith(".zip")
    if not is_zip and not filename.lower().endswith(CWL_SUFFIXES):
        raise InvalidInput(f"send a CWL document ({', '.join(CWL_SUFFIXES)}) or a .zip of a folder", field="file")
    options = {"name": name, "version": version, "team": team, "tags": tags, "official": official}
    with tempfile.TemporaryDirectory(prefix="datalabs-upload-") as folder:
        target = Path(folder) / filename
        await _save(file, target)
        if is_zip:
            row = await run_in_threadpool(pipelines.import_zip, actor, target, filename=filename, main=main,
                                          **options)
        else:
            row = await run_in_threadpool(pipelines.import_file, actor, target, **options)
        return schemas.PipelineVersionOut.of(row)


async def _save(upload: UploadFile, target: Path) -> None:
    size = 0
    with target.open("wb") as sink:
        while chunk := await upload.read(1024 * 1024):
            size += len(chunk)
            if size > MAX_UPLOAD:
                raise InvalidInput(f"the upload is larger than {MAX_UPLOAD // 1024**2} MiB", code="too_large")
            sink.write(chunk)
    if size == 0:
        raise InvalidInput("the uploaded file is empty", code="empty_body", field="file")


@router.post("/git", response_model=schemas.PipelineVersionOut, status_code=201,
             summary="Import a version from a git repository (developers)")
def import_git(body: schemas.PipelineGitImport, actor: CurrentActor, pipelines: Pipelines):
    row = pipelines.import_git(actor, body.git, body.ref, main=body.main, name=body.name, version=body.version,
                               team=body.team, tags=body.tags, official=body.official)
    return schemas.PipelineVersionOut.of(row)


@router.post("/text", response_model=schemas.PipelineVersionOut, status_code=201,
             summary="Import a version from CWL text, as typed in the web editor (developers)")
def import_text(body: schemas.PipelineTextImport, actor: CurrentActor, pipelines: Pipelines):
    row = pipelines.import_text(actor, body.text, body.filename, name=body.name, version=body.version,
                                team=body.team, tags=body.tags, official=body.official)
    return schemas.PipelineVersionOut.of(row)


@router.get("/{name}", response_model=schemas.PipelineOut, summary="A pipeline and its versions")
def get_pipeline(name: str, actor: OptionalActor, pipelines: Pipelines):
    return _out(pipelines, actor, pipelines.get(actor, name))


@router.patch("/{name}", response_model=schemas.PipelineOut,
              summary="Mark official (admins) or withdraw / restore (moderators, its developers)")
def change_pipeline(name: str, body: schemas.PipelineChange, actor: CurrentActor, pipelines: Pipelines):
    if body.official is not None:
        pipelines.set_official(actor, name, body.official)
    if body.withdrawn is not None:
        pipelines.withdraw(actor, name, withdrawn=body.withdrawn)
    return _out(pipelines, actor, pipelines.get(actor, name))


@router.get("/{name}/versions/{version}", response_model=schemas.PipelineVersionOut,
            summary="One version: its CWL as imported and packed, inputs, outputs and graph")
def get_version(name: str, version: str, actor: OptionalActor, pipelines: Pipelines):
    return schemas.PipelineVersionOut.of(pipelines.version(actor, name, version))


@router.get("/{name}/versions/{version}/graph.svg", summary="The picture of a version (SVG, drawn by Graphviz)",
            response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}})
def version_graph(name: str, version: str, actor: OptionalActor, pipelines: Pipelines):
    svg = pipelines.graph_svg(actor, name, version)
    return Response(svg, media_type="image/svg+xml",
                    headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
                             "X-Content-Type-Options": "nosniff"})


@router.get("/{name}/versions/{version}/source", response_class=PlainTextResponse,
            summary="The main CWL document of a version, as imported (text)")
def version_source(name: str, version: str, actor: OptionalActor, pipelines: Pipelines):
    row = pipelines.version(actor, name, version)
    return PlainTextResponse(row.source_text, headers={"X-Content-Type-Options": "nosniff",
                                                       "Content-Disposition": f'inline; filename="{_safe(row.main_file)}"'})


def _safe(filename: str) -> str:
    return "".join(c for c in filename if c.isalnum() or c in "._-") or "pipeline.cwl"


@router.post("/{name}/versions/{version}/submit", response_model=schemas.PipelineVersionOut,
             summary="Submit a draft for review (its developers)")
def submit(name: str, version: str, actor: CurrentActor, pipelines: Pipelines):
    return schemas.PipelineVersionOut.of(pipelines.submit(actor, name, version))


@router.post("/{name}/versions/{version}/publish", response_model=schemas.PipelineVersionOut,
             summary="Publish a submitted version (moderators)")
def publish(name: str, version: str, actor: CurrentActor, pipelines: Pipelines):
    return schemas.PipelineVersionOut.of(pipelines.publish(actor, name, version))


@router.post("/{name}/versions/{version}/reject", response_model=schemas.PipelineVersionOut,
             summary="Reject a submitted version with a reason (moderators)")
def reject(name: str, version: str, body: schemas.PipelineRejection, actor: CurrentActor, pipelines: Pipelines):
    return schemas.PipelineVersionOut.of(pipelines.reject(actor, name, version, body.reason))
