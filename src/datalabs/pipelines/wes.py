"""GA4GH Workflow Execution Service (WES) 1.1 over pipeline runs, so existing WES clients can submit
and follow runs. A WES run is a pipeline run: it is listed, shown and cancelled by the rest of the API too.

``workflow_url`` is either a catalogue reference (``catalogue:NAME`` or ``catalogue:NAME@VERSION``) or
the relative name of one of the ``workflow_attachment`` files. Attached workflows are imported as a
private draft pipeline of the caller (``wes-<hash>``, version = the hash of the packed document), so
submitting the same workflow again reuses that version. File inputs are platform paths, as for
every run. Errors on these routes have the WES shape ``{"msg", "status_code"}``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import posixpath
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from sqlalchemy import and_, func, or_, select
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from datalabs import __version__
from datalabs.accounts.actor import Actor
from datalabs.accounts.models import Role
from datalabs.api.deps import AppSettings, CurrentActor, DbSession, OptionalActor
from datalabs.errors import DatalabsError, InvalidInput, NotFound, PermissionDenied, status_for
from datalabs.pipelines import cwl
from datalabs.pipelines.models import PipelineJob, PipelineRun, PipelineVersion
from datalabs.pipelines.runs import RunService
from datalabs.pipelines.service import PipelineService
from datalabs.settings import Settings
from datalabs.states import RunState

PREFIX = "/ga4gh/wes/v1"
WES_VERSION = "1.1.0"
CWL_VERSIONS = ["v1.0", "v1.1", "v1.2"]
ENGINE = "cwltool"
CATALOGUE = "catalogue:"
DEFAULT_PAGE, MAX_PAGE = 100, 1000
MAX_ATTACHMENTS, MAX_ATTACHMENT_BYTES = 100, 1_000_000
MAX_TAGS, MAX_TAG_TEXT = 50, 1000

# Our run states as WES states (building is a session state; a run never enters it).
WES_STATES: dict[str, str] = {
    RunState.PENDING.value: "QUEUED",
    RunState.BUILDING.value: "INITIALIZING",
    RunState.STARTING.value: "INITIALIZING",
    RunState.RUNNING.value: "RUNNING",
    RunState.STOPPING.value: "CANCELING",
    RunState.STOPPED.value: "CANCELED",
    RunState.FAILED.value: "EXECUTOR_ERROR",
    RunState.COMPLETED.value: "COMPLETE",
}
ALL_WES_STATES = ["UNKNOWN", "QUEUED", "INITIALIZING", "RUNNING", "PAUSED", "COMPLETE", "EXECUTOR_ERROR",
                  "SYSTEM_ERROR", "CANCELED", "CANCELING", "PREEMPTED"]


def wes_state(state: str) -> str:
    return WES_STATES.get(state, "UNKNOWN")


# -- errors: the WES shape, on these routes only ---------------------------------------------

def wes_error(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"msg": message, "status_code": status}, status_code=status, headers=headers)


class WesRoute(APIRoute):
    """Turns every error of a WES route (its dependencies' too: 401 included) into an ErrorResponse."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def wes_handler(request: Request):
            try:
                return await handler(request)
            except DatalabsError as exc:
                status = status_for(exc)
                return wes_error(400 if status == 422 else status, exc.message)
            except RequestValidationError as exc:
                problems = [f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
                            for e in exc.errors()[:5]]
                return wes_error(400, "invalid request: " + "; ".join(problems))
            except StarletteHTTPException as exc:
                return wes_error(exc.status_code, str(exc.detail))

        return wes_handler


router = APIRouter(prefix=PREFIX, tags=["GA4GH WES"], route_class=WesRoute)


# -- what the routes return (the WES 1.1 schemas) ---------------------------------------------

class ErrorResponse(BaseModel):
    msg: str
    status_code: int


class RunId(BaseModel):
    run_id: str


class RunStatus(BaseModel):
    run_id: str
    state: str


class RunListResponse(BaseModel):
    runs: list[RunStatus]
    next_page_token: str = Field("", description="Give it as page_token for the next page; empty: no more.")


class Log(BaseModel):
    name: str | None = None
    cmd: list[str] = []
    start_time: str | None = None
    end_time: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    exit_code: int | None = None
    system_logs: list[str] = []


class TaskLog(Log):
    id: str
    tes_uri: str | None = None


class TaskListResponse(BaseModel):
    task_logs: list[TaskLog]
    next_page_token: str = ""


class RunRequest(BaseModel):
    workflow_params: dict
    workflow_type: str
    workflow_type_version: str
    tags: dict
    workflow_engine_parameters: dict = {}
    workflow_engine: str = ENGINE
    workflow_url: str


class RunLog(BaseModel):
    run_id: str
    request: RunRequest
    state: str
    run_log: Log
    task_logs_url: str
    task_logs: list[TaskLog]
    outputs: dict


def errors(*statuses: int) -> dict:
    return {status: {"model": ErrorResponse} for status in statuses}


# -- service-info ------------------------------------------------------------------------------

@router.get("/service-info", summary="WES service-info: CWL versions, engine, your runs by state")
def service_info(request: Request, actor: OptionalActor, db: DbSession, settings: AppSettings) -> dict:
    base = _base_url(request, settings)
    counts = dict.fromkeys(ALL_WES_STATES, 0)
    if actor is not None:
        rows = db.execute(select(PipelineRun.state, func.count()).where(PipelineRun.user_id == actor.user_id)
                          .group_by(PipelineRun.state))
        for state, count in rows:
            counts[wes_state(state)] += count
    host = base.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return {
        "id": ".".join(reversed(host.split("."))) + ".datalabs.wes" if any(c.isalpha() for c in host)
        else "datalabs.wes",
        "name": "datalabs Workflow Execution Service",
        "type": {"group": "org.ga4gh", "artifact": "wes", "version": WES_VERSION},
        "description": "Runs CWL workflows in the datalabs pipeline sandbox. workflow_url is catalogue:NAME"
                       "[@VERSION] or the name of an attached file; File and Directory inputs are platform "
                       "paths (my_workspace/..., team_workspaces/<team>/..., data/<volume>/...).",
        "organization": {"name": "datalabs", "url": base},
        "documentationUrl": f"{base}/api/docs",
        "version": __version__,
        "workflow_type_versions": {"CWL": {"workflow_type_version": CWL_VERSIONS}},
        "supported_wes_versions": [WES_VERSION],
        "supported_filesystem_protocols": ["file"],
        "workflow_engine_versions": {ENGINE: {"workflow_engine_version": [_cwltool_version()]}},
        "default_workflow_engine_parameters": [],
        "system_state_counts": counts,
        "auth_instructions_url": f"{base}/account#tokens",
        "tags": {"workflow_url": "catalogue:NAME, catalogue:NAME@VERSION, or the name of an attached file",
                 "workflow_engine_parameters": "cpu: CPUs the run's steps may use at once",
                 "inputs": "File and Directory inputs are platform paths: my_workspace/..., "
                           "team_workspaces/<team>/..., data/<volume>/..."},
    }


# -- runs --------------------------------------------------------------------------------------

async def run_request_form(request: Request) -> dict[str, Any]:
    """The multipart form of a RunRequest. Clients send fields as plain parts or as file parts
    (Python ``requests`` with ``files=``), so every field is read either way. A JSON RunRequest body
    (objects in place of JSON strings) is taken too, for clients that send one; it cannot attach files."""
    if request.headers.get("content-type", "").split(";")[0].strip() == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise InvalidInput("the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise InvalidInput("the request body must be a JSON object (a RunRequest)")
        return {key: json.dumps(value) if isinstance(value, (dict, list)) else value for key, value in body.items()
                if key != "workflow_attachment"} | {"workflow_attachment": []}
    form = await request.form(max_files=MAX_ATTACHMENTS + 10, max_fields=100)
    fields: dict[str, Any] = {"workflow_attachment": []}
    for key, value in form.multi_items():
        if key == "workflow_attachment":
            if not isinstance(value, UploadFile):
                raise InvalidInput("workflow_attachment must be a file part", field="workflow_attachment")
            if len(fields["workflow_attachment"]) >= MAX_ATTACHMENTS:
                raise InvalidInput(f"at most {MAX_ATTACHMENTS} attachments", field="workflow_attachment")
            data = await value.read(MAX_ATTACHMENT_BYTES + 1)
            if len(data) > MAX_ATTACHMENT_BYTES:
                raise InvalidInput(f"attachment {value.filename!r} is larger than {MAX_ATTACHMENT_BYTES} bytes",
                                   field="workflow_attachment")
            fields["workflow_attachment"].append((value.filename or "", data))
        else:
            if isinstance(value, UploadFile):
                value = (await value.read(MAX_ATTACHMENT_BYTES)).decode("utf-8", errors="replace")
            fields[key] = value
    return fields


@router.post("/runs", summary="Submit a run (multipart form): workflow_url is catalogue:NAME[@VERSION] or an "
             "attached file", response_model=RunId, responses=errors(400, 401, 403), openapi_extra={"requestBody": {
                 "required": True, "content": {"multipart/form-data": {"schema": {
                     "type": "object", "required": ["workflow_type", "workflow_url"], "properties": {
                         "workflow_params": {"type": "string", "description": "JSON object: the inputs"},
                         "workflow_type": {"type": "string", "enum": ["CWL"]},
                         "workflow_type_version": {"type": "string", "enum": CWL_VERSIONS},
                         "tags": {"type": "string", "description": "JSON object of strings"},
                         "workflow_engine": {"type": "string", "enum": [ENGINE]},
                         "workflow_engine_parameters": {"type": "string", "description": "JSON object; cpu"},
                         "workflow_url": {"type": "string"},
                         "workflow_attachment": {"type": "array", "items": {"type": "string", "format": "binary"}},
                     }}}}}})
def submit(request: Request, actor: CurrentActor, form: Annotated[dict, Depends(run_request_form)],
           db: DbSession, settings: AppSettings) -> RunId:
    params = _json_object(form, "workflow_params")
    tags = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in _json_object(form, "tags").items()}
    if len(tags) > MAX_TAGS or any(len(k) > MAX_TAG_TEXT or len(v) > MAX_TAG_TEXT for k, v in tags.items()):
        raise InvalidInput(f"tags: at most {MAX_TAGS}, each key and value at most {MAX_TAG_TEXT} characters")
    cpu = _cpu(_json_object(form, "workflow_engine_parameters"))
    _check_type(form)
    url = str(form.get("workflow_url") or "").strip()
    try:
        version = _version_for(actor, db, settings, url, form["workflow_attachment"])
        run = RunService(db, settings).launch(actor, version, params, cpu=cpu, tags=tags)
    except NotFound as exc:  # a pipeline, version or input file that is not there: the request is wrong
        raise InvalidInput(exc.message, field=exc.field) from None
    supervisor = getattr(request.app.state, "pipeline_supervisor", None)
    if supervisor is not None:
        supervisor.wake()
    return RunId(run_id=run.id)


@router.get("/runs", summary="Your runs, newest first, a page at a time (page_size, page_token)",
            response_model=RunListResponse, responses=errors(400, 401))
def list_runs(actor: CurrentActor, db: DbSession, settings: AppSettings,
              page_size: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Runs per page.")] = DEFAULT_PAGE,
              page_token: Annotated[str, Query(description="next_page_token of the previous page.")] = ""):
    query = (select(PipelineRun).where(PipelineRun.user_id == actor.user_id)
             .order_by(PipelineRun.created_at.desc(), PipelineRun.id.desc()))
    if page_token:
        try:
            after = RunService(db, settings).get(actor, page_token)
        except NotFound:
            raise InvalidInput(f"invalid page_token {page_token!r}", field="page_token") from None
        query = query.where(or_(PipelineRun.created_at < after.created_at,
                                and_(PipelineRun.created_at == after.created_at, PipelineRun.id < after.id)))
    rows = list(db.scalars(query.limit(page_size + 1)))
    page = rows[:page_size]
    more = len(rows) > page_size
    return RunListResponse(runs=[RunStatus(run_id=r.id, state=wes_state(r.state)) for r in page],
                           next_page_token=page[-1].id if more else "")


@router.get("/runs/{run_id}", summary="A run's log: request, state, engine log, task logs, outputs",
            response_model=RunLog, responses=errors(401, 404))
def run_log(run_id: str, request: Request, actor: CurrentActor, db: DbSession, settings: AppSettings):
    runs = RunService(db, settings)
    run = runs.get(actor, run_id)
    base = _base_url(request, settings)
    logs = f"{base}/api/v1/runs/{run.id}/logs"
    version: PipelineVersion | None = run.version
    return RunLog(
        run_id=run.id,
        request=RunRequest(workflow_params=run.inputs or {}, workflow_type="CWL",
                           workflow_type_version=version.cwl_version if version else "v1.2",
                           tags=run.tags or {}, workflow_engine_parameters={"cpu": str(run.cpu)},
                           workflow_url=f"{CATALOGUE}{run.pipeline_name}@{run.pipeline_version}"),
        state=wes_state(run.state),
        run_log=Log(name=run.pipeline_name, start_time=_time(run.started_at), end_time=_time(run.ended_at),
                    stdout=logs, stderr=logs, exit_code=_exit_code(run.state),
                    system_logs=[run.reason] if run.reason else []),
        task_logs_url=f"{base}{PREFIX}/runs/{run.id}/tasks",
        task_logs=[_task_log(job, logs) for job in runs.jobs(actor, run.id)],
        outputs=run.outputs or {},
    )


@router.get("/runs/{run_id}/status", summary="A run's state", response_model=RunStatus, responses=errors(401, 404))
def run_status(run_id: str, actor: CurrentActor, db: DbSession, settings: AppSettings):
    run = RunService(db, settings).get(actor, run_id)
    return RunStatus(run_id=run.id, state=wes_state(run.state))


@router.post("/runs/{run_id}/cancel", summary="Cancel a run (CANCELING, then CANCELED)", response_model=RunId,
             responses=errors(401, 404))
def cancel_run(run_id: str, request: Request, actor: CurrentActor, db: DbSession, settings: AppSettings):
    run = RunService(db, settings).cancel(actor, run_id)
    supervisor = getattr(request.app.state, "pipeline_supervisor", None)
    if supervisor is not None:
        supervisor.wake()
    return RunId(run_id=run.id)


@router.get("/runs/{run_id}/tasks", summary="A run's task logs (one per job), a page at a time",
            response_model=TaskListResponse, responses=errors(400, 401, 404))
def run_tasks(run_id: str, request: Request, actor: CurrentActor, db: DbSession, settings: AppSettings,
              page_size: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Tasks per page.")] = DEFAULT_PAGE,
              page_token: Annotated[str, Query(description="next_page_token of the previous page.")] = ""):
    jobs = RunService(db, settings).jobs(actor, run_id)
    if page_token:
        if not page_token.isdigit():
            raise InvalidInput(f"invalid page_token {page_token!r}", field="page_token")
        jobs = [job for job in jobs if job.id > int(page_token)]
    page = jobs[:page_size]
    logs = f"{_base_url(request, settings)}/api/v1/runs/{run_id}/logs"
    return TaskListResponse(task_logs=[_task_log(job, logs) for job in page],
                            next_page_token=str(page[-1].id) if len(jobs) > page_size else "")


# -- helpers -----------------------------------------------------------------------------------

def _version_for(actor: Actor, db, settings: Settings, url: str, attachments: list) -> PipelineVersion:
    if not url:
        raise InvalidInput("workflow_url is required: catalogue:NAME[@VERSION] or the name of an attached file",
                           field="workflow_url")
    service = PipelineService(db, settings)
    if url.startswith(CATALOGUE):
        name, _, version = url[len(CATALOGUE):].partition("@")
        return service.runnable(actor, name.strip(), version.strip() or None)
    main = _relative(url, "workflow_url")
    names = [_relative(filename, "workflow_attachment") for filename, _ in attachments]
    if main not in names:
        attached = ", ".join(names[:10]) or "none"
        raise InvalidInput(f"workflow_url {url!r} is neither catalogue:NAME[@VERSION] nor one of the attached "
                           f"files (attached: {attached}); URLs and server paths are not fetched",
                           field="workflow_url")
    return _import_attached(actor, service, main, list(zip(names, (data for _, data in attachments))))


def _import_attached(actor: Actor, service: PipelineService, main: str, files: list) -> PipelineVersion:
    """The attached workflow as the caller's private draft pipeline, reusing an identical version."""
    if not actor.role.at_least(Role.DEVELOPER):
        raise PermissionDenied("running an attached workflow imports it as your draft pipeline, which needs the "
                               "developer role; run a catalogue pipeline with workflow_url=catalogue:NAME instead")
    with tempfile.TemporaryDirectory(prefix="datalabs-wes-") as folder:
        root = Path(folder) / "workflow"
        for name, data in files:
            target = root / name
            if target.exists():
                raise InvalidInput(f"two attachments are named {name!r}", field="workflow_attachment")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        with tempfile.TemporaryDirectory(prefix="datalabs-wes-steps-") as steps:
            document = cwl.load_file(root / main, resolve_catalogue=service.resolver(actor, Path(steps)))
        digest = hashlib.sha256(json.dumps(document.packed, sort_keys=True).encode()).hexdigest()
        # the caller is in the name: the same workflow sent by two users makes two private pipelines
        name = "wes-" + hashlib.sha256(f"{actor.user_id}:{digest}".encode()).hexdigest()[:8]
        try:
            return service.runnable(actor, name, digest)
        except NotFound:
            return service.import_file(actor, root / main, name=name, version=digest, tags=["wes"],
                                       source=f"WES: {main}")


def _relative(path: str, field: str) -> str:
    """A relative path inside the attachments: no URL, absolute path, '..' or backslash."""
    text = path.strip()
    bad = (not text or "://" in text or text.startswith(("/", "~")) or "\\" in text or ":" in text
           or "\x00" in text)
    normal = posixpath.normpath(text) if not bad else ""
    if bad or normal.startswith("../") or normal in ("..", ".") or any(p == ".." for p in text.split("/")):
        raise InvalidInput(f"{field} {path!r} must be catalogue:NAME[@VERSION] or the relative name of an attached "
                           "file (no URL, absolute path or '..')" if field == "workflow_url"
                           else f"attachment name {path!r} must be a relative path without '..'", field=field)
    return normal


def _json_object(form: dict, key: str) -> dict:
    text = form.get(key)
    if text is None or not str(text).strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"{key} is not valid JSON: {exc}", field=key) from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{key} must be a JSON object", field=key)
    return value


def _cpu(parameters: dict) -> float | None:
    if parameters.get("cpu") in (None, ""):
        return None
    try:
        return float(parameters["cpu"])
    except (TypeError, ValueError):
        raise InvalidInput(f"workflow_engine_parameters cpu must be a number, not {parameters['cpu']!r}",
                           field="cpu") from None


def _check_type(form: dict) -> None:
    kind = str(form.get("workflow_type") or "")
    if kind.upper() != "CWL":
        raise InvalidInput(f"workflow_type must be CWL, not {kind!r}" if kind else "workflow_type is required (CWL)",
                           field="workflow_type")
    version = str(form.get("workflow_type_version") or "")
    if version and version not in CWL_VERSIONS:
        raise InvalidInput(f"workflow_type_version must be one of {', '.join(CWL_VERSIONS)}, not {version!r}",
                           field="workflow_type_version")
    engine = str(form.get("workflow_engine") or "")
    if engine and engine.lower() != ENGINE:
        raise InvalidInput(f"workflow_engine must be {ENGINE}, not {engine!r}", field="workflow_engine")


def _task_log(job: PipelineJob, logs: str) -> TaskLog:
    url = f"{logs}?job={quote(job.name, safe='')}"
    return TaskLog(id=job.name, name=job.name, start_time=_time(job.started_at), end_time=_time(job.ended_at),
                   stdout=url, stderr=url, exit_code=job.exit_code, system_logs=[job.reason] if job.reason else [])


def _exit_code(state: str) -> int | None:
    """cwltool's: 0 when the workflow succeeded, 1 when it failed; none while running or when cancelled."""
    return {RunState.COMPLETED.value: 0, RunState.FAILED.value: 1}.get(state)


def _time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _base_url(request: Request, settings: Settings) -> str:
    return (settings.public_url or str(request.base_url)).rstrip("/")


def _cwltool_version() -> str:
    try:
        return importlib.metadata.version("cwltool")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - cwltool is a dependency
        return "unknown"
