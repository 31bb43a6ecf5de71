"""The IVOA TAP 1.1 service at ``/tap``: synchronous queries, UWS 1.1 asynchronous jobs and VOSI.

Parameter names are case-insensitive (TAP 1.1 §2.3) and may come in the query string or a form body.
Errors: a query that fails (bad ADQL, bad parameter, the database refusing it, a time limit) gives a DALI
error document - a VOTable with ``QUERY_STATUS`` ``ERROR`` - with HTTP 400 (DALI 1.1 §4.4: a status code for
the error; pyvo reads the document either way and raises DALQueryError with its message); UWS resources
answer errors in plain text (400 for a bad value, 404 for a job that is not the caller's, 409 for a change
the job's phase does not allow). Callers are authenticated as everywhere else (token or login cookie);
anonymous callers see public volumes only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from datalabs.accounts.actor import Actor
from datalabs.accounts.models import User
from datalabs.api.deps import AppSettings, DbSession, OptionalActor
from datalabs.errors import DatalabsError, InvalidInput, NotFound, status_for
from datalabs.tap import uws, votable, vosi
from datalabs.tap.query import install_sqlite_functions
from datalabs.tap.tap_schema import caller_catalogue, qualified_adql_name

log = logging.getLogger(__name__)

PREFIX = "/tap"
MAX_WAIT_SECONDS = 60.0
XML = "text/xml; charset=utf-8"
VOTABLE = votable.VOTABLE_MIME + "; charset=utf-8"


class TapRoute(APIRoute):
    """Domain errors on TAP routes (authentication included): a VOTable error document on /sync, plain text
    on the UWS and VOSI resources."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except DatalabsError as error:
                status = 400 if isinstance(error, InvalidInput) else status_for(error)
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                if request.url.path.rstrip("/").endswith("/sync"):
                    return Response(votable.error_document(error.message), status, headers=headers,
                                    media_type=VOTABLE)
                return PlainTextResponse(error.message, status, headers=headers)

        return route


router = APIRouter(prefix=PREFIX, tags=["tap"], route_class=TapRoute)


def setup_tap(app: FastAPI) -> None:
    """Wire the TAP service into ``app``: its job runner (started by the app's lifespan), SQL functions."""
    state = app.state
    install_sqlite_functions(state.engine)
    state.tap_runner = uws.JobRunner(state.settings, state.session_factory, state.engine, caller_catalogue)
    app.include_router(router)


def _runner(request: Request) -> uws.JobRunner:
    return request.app.state.tap_runner


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


async def _params(request: Request) -> list[tuple[str, str]]:
    items = list(request.query_params.multi_items())
    if request.method == "POST":
        form = await request.form()
        items += [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
        if any(not isinstance(value, str) for _, value in form.multi_items()):
            items.append(("UPLOAD", "(a file)"))  # only UPLOAD sends files; refused when the job runs
    return items


# -- synchronous queries --------------------------------------------------------------------

@router.get("/sync", response_class=Response, summary="Run an ADQL query and return its result (TAP 1.1 sync)")
async def sync_query_get(request: Request, actor: OptionalActor) -> Response:
    params = uws.normalise(await _params(request))
    return await run_in_threadpool(_sync, request, actor, params)


@router.post("/sync", response_class=Response, summary="Run an ADQL query (form-encoded parameters)")
async def sync_query_post(request: Request, actor: OptionalActor) -> Response:
    params = uws.normalise(await _params(request))
    return await run_in_threadpool(_sync, request, actor, params)


def _sync(request: Request, actor: Actor | None, params: dict[str, str]) -> Response:
    from datalabs.tap import adql

    settings, runner = request.app.state.settings, _runner(request)
    try:
        tap_request = uws.query_request(params, settings)
        with request.app.state.session_factory() as db:
            catalogue = runner.catalogue_builder(db, actor)
        result = uws.execute(runner.engine, catalogue, tap_request, timeout_seconds=settings.tap_sync_timeout_seconds)
    except (adql.AdqlError, DatalabsError) as error:
        return Response(votable.error_document(uws.failure_message(error)), 400, media_type=VOTABLE)
    except Exception:  # noqa: BLE001 - a bug of ours: still a DALI error document for the client
        log.exception("TAP sync query failed: %r", params.get("QUERY"))
        return Response(votable.error_document("internal error while running the query"), 500, media_type=VOTABLE)
    chunks = votable.iter_document(tap_request.fmt, result.columns, result.rows, overflow=result.overflow,
                                   query=tap_request.query)
    media_type = tap_request.fmt.mime + ("; charset=utf-8" if tap_request.fmt.name != "json" else "")
    # the rows are in memory already: one body, written here in the worker thread (a streamed response
    # would cost a thread hop per chunk, ten times the query itself for small results)
    return Response(b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks), media_type=media_type)


# -- VOSI -----------------------------------------------------------------------------------

@router.get("/capabilities", response_class=Response, summary="VOSI capabilities of the TAP service")
def capabilities(request: Request, settings: AppSettings) -> Response:
    return Response(vosi.capabilities_xml(_base(request), settings), media_type=XML)


@router.get("/availability", response_class=Response, summary="VOSI availability of the TAP service")
def availability() -> Response:
    return Response(vosi.availability_xml(), media_type=XML)


@router.get("/tables", response_class=Response, summary="VOSI tableset: every table the caller can query")
def tables(request: Request, db: DbSession, actor: OptionalActor) -> Response:
    return Response(vosi.tableset_xml(_runner(request).catalogue_builder(db, actor)), media_type=XML)


@router.get("/tables/{name}", response_class=Response, summary="VOSI table: one table and its columns")
def table(name: str, request: Request, db: DbSession, actor: OptionalActor) -> Response:
    catalogue = _runner(request).catalogue_builder(db, actor)
    wanted = name.replace('"', "").lower()
    for candidate in catalogue.tables:
        if wanted in (candidate.qualified_name.lower(), qualified_adql_name(candidate).replace('"', "").lower()):
            return Response(vosi.table_xml(candidate), media_type=XML)
    raise NotFound(f"no table {name!r}")


# -- asynchronous jobs (UWS 1.1) --------------------------------------------------------------

def _owner_names(db, jobs) -> dict[int, str]:
    ids = {job.owner_id for job in jobs if job.owner_id is not None}
    return {user.id: user.name for user in (db.get(User, user_id) for user_id in ids) if user is not None}


def _job_document(request: Request, db, job) -> Response:
    owner = _owner_names(db, [job]).get(job.owner_id) if job.owner_id is not None else None
    return Response(uws.job_xml(job, f"{_base(request)}/async/{job.id}", owner), media_type=XML)


def _see_job(request: Request, job_id: str) -> RedirectResponse:
    return RedirectResponse(f"{_base(request)}/async/{job_id}", status_code=303)


@router.get("/async", response_class=Response, summary="UWS job list (the caller's jobs)")
def list_jobs(request: Request, db: DbSession, actor: OptionalActor, settings: AppSettings) -> Response:
    query = [(name.upper(), value) for name, value in request.query_params.multi_items()]
    phases = [value for name, value in query if name == "PHASE"]
    after = next((value for name, value in query if name == "AFTER"), None)
    last = next((value for name, value in query if name == "LAST"), None)
    jobs = uws.JobService(db, settings).list(actor, phases=phases, after=after, last=last)
    return Response(uws.jobs_xml(jobs, f"{_base(request)}/async", _owner_names(db, jobs)), media_type=XML)


@router.post("/async", response_class=Response, status_code=303,
             summary="Create a UWS job (PHASE=RUN also starts it); 303 to the job")
async def create_job(request: Request, actor: OptionalActor) -> Response:
    params = uws.normalise(await _params(request))
    job_id = await run_in_threadpool(_create, request, actor, params)
    return _see_job(request, job_id)


def _create(request: Request, actor: Actor | None, params: dict[str, str]) -> str:
    with request.app.state.session_factory() as db:
        service = uws.JobService(db, request.app.state.settings)
        phase = params.pop("PHASE", None)
        if phase is not None and phase.upper() != "RUN":
            raise InvalidInput(f"PHASE at creation must be RUN, not {phase!r}", field="PHASE")
        job = service.create(actor, params)
        if phase is not None and service.run(job):
            _runner(request).submit(job.id)
        return job.id


@router.get("/async/{job_id}", response_class=Response,
            summary="A UWS job; WAIT=seconds (and PHASE=) blocks until its phase changes")
async def get_job(job_id: str, request: Request, actor: OptionalActor) -> Response:
    query = {name.upper(): value for name, value in request.query_params.multi_items()}
    wait = _wait_seconds(query.get("WAIT"))
    settings, factory = request.app.state.settings, request.app.state.session_factory

    def load():
        with factory() as db:
            job = uws.JobService(db, settings).get(job_id, actor)
            return job, _job_document(request, db, job)

    job, document = await run_in_threadpool(load)
    expected = (query.get("PHASE") or job.phase).upper()
    deadline = time.monotonic() + wait
    while job.phase == expected and job.phase in uws.ACTIVE and time.monotonic() < deadline:
        await anyio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        job, document = await run_in_threadpool(load)
    return document


def _wait_seconds(value: str | None) -> float:
    if value is None or not value.strip():
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        raise InvalidInput(f"WAIT must be a number of seconds, not {value!r}", field="WAIT") from None
    return MAX_WAIT_SECONDS if seconds < 0 else min(seconds, MAX_WAIT_SECONDS)


@router.post("/async/{job_id}", response_class=Response, status_code=303,
             summary="ACTION=DELETE deletes the job; other parameters change a PENDING job")
async def post_job(job_id: str, request: Request, actor: OptionalActor) -> Response:
    params = uws.normalise(await _params(request))
    if params.get("ACTION", "").upper() == "DELETE":
        await run_in_threadpool(_delete, request, actor, job_id)
        return RedirectResponse(f"{_base(request)}/async", status_code=303)
    await run_in_threadpool(_update, request, actor, job_id, params)
    return _see_job(request, job_id)


@router.delete("/async/{job_id}", response_class=Response, status_code=303, summary="Delete a UWS job")
def delete_job(job_id: str, request: Request, actor: OptionalActor) -> Response:
    _delete(request, actor, job_id)
    return RedirectResponse(f"{_base(request)}/async", status_code=303)


def _delete(request: Request, actor: Actor | None, job_id: str) -> None:
    with request.app.state.session_factory() as db:
        service = uws.JobService(db, request.app.state.settings)
        job = service.get(job_id, actor)
        _runner(request).abort(job.id)
        service.delete(job)


def _update(request: Request, actor: Actor | None, job_id: str, params: dict[str, Any]) -> None:
    with request.app.state.session_factory() as db:
        service = uws.JobService(db, request.app.state.settings)
        job = service.get(job_id, actor)
        phase = params.pop("PHASE", None)
        params.pop("ACTION", None)
        if params:
            service.update(job, params)
        if phase is not None:
            _change_phase(request, service, job, phase)


def _change_phase(request: Request, service: uws.JobService, job, phase: str) -> None:
    wanted = phase.strip().upper()
    if wanted == "RUN":
        if service.run(job):
            _runner(request).submit(job.id)
    elif wanted == "ABORT":
        service.abort(job)
        _runner(request).abort(job.id)
    else:
        raise InvalidInput(f"PHASE must be RUN or ABORT, not {phase!r}", field="PHASE")


@router.get("/async/{job_id}/phase", response_class=PlainTextResponse, summary="The job's phase")
def get_phase(job_id: str, db: DbSession, actor: OptionalActor, settings: AppSettings) -> str:
    return uws.JobService(db, settings).get(job_id, actor).phase


@router.post("/async/{job_id}/phase", response_class=Response, status_code=303,
             summary="PHASE=RUN starts the job, PHASE=ABORT aborts it")
async def post_phase(job_id: str, request: Request, actor: OptionalActor) -> Response:
    params = uws.normalise(await _params(request))
    if "PHASE" not in params:
        raise InvalidInput("send PHASE=RUN or PHASE=ABORT", field="PHASE")

    def change() -> None:
        with request.app.state.session_factory() as db:
            service = uws.JobService(db, request.app.state.settings)
            _change_phase(request, service, service.get(job_id, actor), params["PHASE"])

    await run_in_threadpool(change)
    return _see_job(request, job_id)


@router.get("/async/{job_id}/quote", response_class=PlainTextResponse, summary="The job's quote (none given)")
def get_quote(job_id: str, db: DbSession, actor: OptionalActor, settings: AppSettings) -> str:
    uws.JobService(db, settings).get(job_id, actor)
    return ""


@router.get("/async/{job_id}/executionduration", response_class=PlainTextResponse,
            summary="The job's time limit in seconds")
def get_execution_duration(job_id: str, db: DbSession, actor: OptionalActor, settings: AppSettings) -> str:
    return str(uws.JobService(db, settings).get(job_id, actor).execution_duration)


@router.post("/async/{job_id}/executionduration", response_class=Response, status_code=303,
             summary="EXECUTIONDURATION=seconds (while PENDING)")
async def post_execution_duration(job_id: str, request: Request, actor: OptionalActor) -> Response:
    return await _set_job_value(request, actor, job_id, "EXECUTIONDURATION", "<seconds>", "set_execution_duration")


@router.get("/async/{job_id}/destruction", response_class=PlainTextResponse,
            summary="When the job and its result are deleted (ISO 8601)")
def get_destruction(job_id: str, db: DbSession, actor: OptionalActor, settings: AppSettings) -> str:
    return uws.iso_time(uws.JobService(db, settings).get(job_id, actor).destruction) or ""


@router.post("/async/{job_id}/destruction", response_class=Response, status_code=303,
             summary="DESTRUCTION=<ISO 8601 time> (no later than the retention period allows)")
async def post_destruction(job_id: str, request: Request, actor: OptionalActor) -> Response:
    return await _set_job_value(request, actor, job_id, "DESTRUCTION", "<ISO 8601 time>", "set_destruction")


async def _set_job_value(request: Request, actor: Actor | None, job_id: str, name: str, form: str,
                         setter: str) -> Response:
    """POST NAME=value to one of a job's resources: the JobService method ``setter`` checks and stores it."""
    value = uws.normalise(await _params(request)).get(name)
    if value is None:
        raise InvalidInput(f"send {name}={form}", field=name)

    def change() -> None:
        with request.app.state.session_factory() as db:
            service = uws.JobService(db, request.app.state.settings)
            getattr(service, setter)(service.get(job_id, actor), value)

    await run_in_threadpool(change)
    return _see_job(request, job_id)


@router.get("/async/{job_id}/error", response_class=Response, summary="The job's error, as a VOTable error document")
def get_error(job_id: str, db: DbSession, actor: OptionalActor, settings: AppSettings) -> Response:
    job = uws.JobService(db, settings).get(job_id, actor)
    if job.phase != uws.ERROR:
        raise NotFound(f"job {job_id} has no error (it is {job.phase})")
    return Response(votable.error_document(job.error), media_type=VOTABLE)


@router.get("/async/{job_id}/parameters", response_class=Response, summary="The job's parameters")
def get_parameters(job_id: str, request: Request, db: DbSession, actor: OptionalActor,
                   settings: AppSettings) -> Response:
    job = uws.JobService(db, settings).get(job_id, actor)
    return Response(uws.parameters_xml(job, standalone=True), media_type=XML)


@router.post("/async/{job_id}/parameters", response_class=Response, status_code=303,
             summary="Change parameters of a PENDING job")
async def post_parameters(job_id: str, request: Request, actor: OptionalActor) -> Response:
    params = uws.normalise(await _params(request))
    await run_in_threadpool(_update, request, actor, job_id, params)
    return _see_job(request, job_id)


@router.get("/async/{job_id}/results", response_class=Response, summary="The job's results")
def get_results(job_id: str, request: Request, db: DbSession, actor: OptionalActor,
                settings: AppSettings) -> Response:
    job = uws.JobService(db, settings).get(job_id, actor)
    return Response(uws.results_xml(job, f"{_base(request)}/async/{job.id}", standalone=True), media_type=XML)


@router.get("/async/{job_id}/results/result", response_class=Response, summary="The job's result table")
def get_result(job_id: str, db: DbSession, actor: OptionalActor, settings: AppSettings) -> Response:
    job = uws.JobService(db, settings).get(job_id, actor)
    path = uws.result_path(settings, job) if job.phase == uws.COMPLETED else None
    if path is None or not path.is_file():
        raise NotFound(f"job {job_id} has no result (it is {job.phase})")
    return FileResponse(path, media_type=job.result_format or votable.VOTABLE_MIME)


@router.get("/async/{job_id}/owner", response_class=PlainTextResponse, summary="The job's owner (empty: anonymous)")
def get_owner(job_id: str, db: DbSession, actor: OptionalActor, settings: AppSettings) -> str:
    job = uws.JobService(db, settings).get(job_id, actor)
    return _owner_names(db, [job]).get(job.owner_id, "") if job.owner_id is not None else ""
