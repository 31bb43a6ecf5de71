"""Storage routes: archive volumes, workspaces, and the file API over both.

File paths are virtual: ``my_workspace/...``, ``team_workspaces/<team>/...``, ``data/<volume>/...``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from datalabs.accounts.service import require_admin
from datalabs.api.deps import AppSettings, CurrentActor, DbSession, OptionalActor
from datalabs.errors import NotAuthenticated
from datalabs.storage import schemas
from datalabs.storage.datasets import DatasetService
from datalabs.storage.download import FileDownload
from datalabs.storage.files import FileService

router = APIRouter(prefix="/api/v1", tags=["storage"])


def get_files(db: DbSession, settings: AppSettings) -> FileService:
    return FileService(db, settings)


Files = Annotated[FileService, Depends(get_files)]


def _visitor_allowed(request: Request, actor) -> None:
    if actor is None and not request.app.state.settings.anonymous_browse:
        raise NotAuthenticated("log in to browse archive volumes")


# -- archive volumes ----------------------------------------------------------------------

@router.get("/datasets", response_model=list[schemas.DatasetAdminOut | schemas.DatasetOut],
            summary="Archive volumes I can read")
def list_datasets(request: Request, actor: OptionalActor, db: DbSession):
    _visitor_allowed(request, actor)
    datasets = DatasetService(db).visible(actor)
    out = schemas.DatasetAdminOut if actor and actor.is_admin else schemas.DatasetOut
    return [out.of(d) for d in datasets]


@router.get("/datasets/{name}", response_model=schemas.DatasetAdminOut | schemas.DatasetOut,
            summary="One archive volume")
def get_dataset(name: str, request: Request, actor: OptionalActor, db: DbSession):
    _visitor_allowed(request, actor)
    dataset = DatasetService(db).get(name, actor)
    return (schemas.DatasetAdminOut if actor and actor.is_admin else schemas.DatasetOut).of(dataset)


@router.post("/datasets", response_model=schemas.DatasetAdminOut, status_code=201,
             summary="Register an archive volume (admins)")
def create_dataset(body: schemas.DatasetCreate, actor: CurrentActor, db: DbSession):
    require_admin(actor)
    fields = body.model_dump()
    name, path = fields.pop("name"), fields.pop("path")
    dataset = DatasetService(db).register(name, path, actor=actor, **fields)
    return schemas.DatasetAdminOut.of(dataset)


@router.patch("/datasets/{name}", response_model=schemas.DatasetAdminOut, summary="Change an archive volume (admins)")
def update_dataset(name: str, body: schemas.DatasetUpdate, actor: CurrentActor, db: DbSession):
    require_admin(actor)
    changes = body.model_dump(exclude_unset=True)
    return schemas.DatasetAdminOut.of(DatasetService(db).update(name, actor=actor, **changes))


@router.delete("/datasets/{name}", status_code=204,
               summary="Unregister an archive volume (admins; its files are not touched)")
def delete_dataset(name: str, actor: CurrentActor, db: DbSession):
    require_admin(actor)
    DatasetService(db).unregister(name, actor=actor)
    return Response(status_code=204)


# -- workspaces and files -----------------------------------------------------------------

@router.get("/workspaces", response_model=list[schemas.WorkspaceOut], summary="My workspaces with usage and quota")
def list_workspaces(actor: CurrentActor, files: Files):
    return [schemas.WorkspaceOut(path=w.path, kind=w.kind, used_bytes=w.used, quota_bytes=w.quota)
            for w in files.workspaces(actor)]


@router.get("/files", response_model=schemas.FileInfoOut, summary="The top of the file tree")
@router.get("/files/{path:path}", response_model=schemas.FileInfoOut,
            summary="Stat a file or folder; a folder lists its content")
def stat_file(request: Request, actor: OptionalActor, files: Files, path: str = "",
              limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
              offset: Annotated[int, Query(ge=0)] = 0):
    _visitor_allowed(request, actor)
    place = files.locate(actor, path)
    entry = files.stat(actor, path)
    writable = place.root is not None and place.root.writable
    info = schemas.FileInfoOut(**schemas.EntryOut.of(entry, "").model_dump() | {"path": place.path},
                               writable=writable)
    if entry.type == "directory":
        children = files.list(actor, path)
        info.total = len(children)
        info.entries = [schemas.EntryOut.of(c, place.path) for c in children[offset: offset + limit]]
    return info


@router.post("/files/{path:path}", response_model=schemas.EntryOut, status_code=201, summary="Create a folder")
def create_folder(path: str, body: schemas.FileCreate, actor: CurrentActor, files: Files):
    entry = files.mkdir(actor, path, parents=body.parents)
    place = files.locate(actor, path)
    return schemas.EntryOut.of(entry, place.path.rsplit("/", 1)[0])


@router.patch("/files/{path:path}", response_model=schemas.EntryOut, summary="Move or rename a file or folder")
def move_file(path: str, body: schemas.FileChange, actor: CurrentActor, files: Files):
    entry = files.move(actor, path, body.path)
    target = files.locate(actor, body.path)
    return schemas.EntryOut.of(entry, target.path.rsplit("/", 1)[0])


@router.delete("/files/{path:path}", status_code=204, summary="Delete a file or folder")
def delete_file(path: str, actor: CurrentActor, files: Files,
                recursive: Annotated[bool, Query(description="Delete a folder and all it holds.")] = False):
    files.delete(actor, path, recursive=recursive)
    return Response(status_code=204)


@router.get("/content/{path:path}", response_class=Response,
            summary="Download a file (streamed; HTTP Range, ETag; HEAD for headers only)")
@router.head("/content/{path:path}", response_class=Response, include_in_schema=False)
async def download(path: str, request: Request, actor: OptionalActor, files: Files,
                   inline: Annotated[bool, Query(description="Show in the browser when the type is safe.")] = False):
    _visitor_allowed(request, actor)
    fd, st, name = await run_in_threadpool(files.open_file, actor, path)
    return FileDownload(fd, st, name, request.headers, inline=inline)


@router.put("/content/{path:path}", response_model=schemas.EntryOut, status_code=201,
            summary="Upload a file: the request body is the content (streamed; quota-checked; atomic)")
async def upload(path: str, request: Request, actor: CurrentActor, files: Files,
                 overwrite: Annotated[bool, Query(description="Replace an existing file.")] = False,
                 parents: Annotated[bool, Query(description="Create missing parent folders.")] = False):
    length = request.headers.get("content-length")
    entry = await files.upload(actor, path, request.stream(), length=int(length) if length else None,
                               overwrite=overwrite, parents=parents)
    place = await run_in_threadpool(files.locate, actor, path)
    return schemas.EntryOut.of(entry, place.path.rsplit("/", 1)[0])
