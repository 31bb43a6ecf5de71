"""Pipeline run pages: the run form generated from a version's CWL inputs, "My runs", and a run's
page (steps, jobs, logs, outputs, cancel, rerun, provenance).

The rules stay in ``RunService`` and ``PipelineService`` (called with the caller's actor), as in
the REST API (``datalabs.pipelines.run_router``): a run is its owner's; admins may see and cancel
anyone's; everyone else gets 404. The form posts here; an error naming an input
(``field="inputs.<id>"``) is shown next to that input. A run's progress, jobs and logs reach its
page live by polling the API (``static/runs.js``); without the script, reloading shows the news.
"""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from datalabs.api.deps import AppSettings, Caller, DbSession
from datalabs.errors import DatalabsError, InvalidInput, NotFound
from datalabs.pipelines.run_schemas import JobOut
from datalabs.pipelines.runs import RunService, cpu_quota
from datalabs.pipelines.service import PipelineService
from datalabs.states import TERMINAL
from datalabs.storage.files import FileService
from datalabs.web.deps import PageCaller, form_action, logged_in
from datalabs.web.pages import render
from datalabs.web.pipelines import default_label, pipeline_href, type_label
from datalabs.web.volumes import visible_volumes

router = APIRouter(include_in_schema=False)
ENDED = {s.value for s in TERMINAL}
STATE_BADGES = {"completed": "state-active", "running": "state-submitted", "failed": "state-rejected",
                "stopped": "state-expired", "stopping": "state-expired"}
LINE_TYPES = ("File", "Directory", "string", "int", "long", "float", "double", "boolean", "enum")
FIELD_PREFIX = "input."
MAX_FIELD = 100_000


def run_href(run_id: str) -> str:
    return f"/runs/{quote(run_id, safe='')}"


def _wake(request: Request) -> None:
    supervisor = getattr(request.app.state, "pipeline_supervisor", None)
    if supervisor is not None:
        supervisor.wake()


# -- the run form ---------------------------------------------------------------------------------

def widget(spec: dict) -> str:
    """How the form asks for one input: path, integer, number, text, checkbox, choice, lines or json."""
    kind = spec.get("type", "Any")
    if kind in ("File", "Directory"):
        return "path"
    if kind in ("int", "long"):
        return "integer"
    if kind in ("float", "double"):
        return "number"
    if kind == "boolean":
        return "checkbox"
    if kind == "enum":
        return "choice"
    if kind == "string":
        return "text"
    if kind == "array" and (spec.get("items") or {}).get("type") in LINE_TYPES:
        return "lines"
    return "json"


def _shown_value(spec: dict) -> str:
    """The text a field starts with: the CWL default (files and folders are left for the user to choose)."""
    value = spec.get("default")
    if value is None:
        return ""
    shape = widget(spec)
    if shape == "path":
        return ""
    if shape == "lines":
        return "\n".join(default_label(v) for v in value) if isinstance(value, list) else ""
    if shape == "json":
        return json.dumps(value, indent=1)
    if shape == "checkbox":
        return "true" if value is True else ""
    return default_label(value)


def form_inputs(fields: list[dict], form: FormData) -> dict:
    """The form's fields (``input.<id>``) as the run service's inputs, typed by the CWL inputs."""
    inputs: dict = {}
    for spec in fields:
        name = spec["id"]
        shape = widget(spec)
        raw = form.get(FIELD_PREFIX + name)
        if shape == "checkbox":
            inputs[name] = raw == "true"
            continue
        text = raw if isinstance(raw, str) else ""
        if len(text) > MAX_FIELD:
            raise InvalidInput(f"input {name!r} is too long", field=f"inputs.{name}")
        if shape == "lines":
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if not lines and (spec.get("optional") or spec.get("default") is not None):
                continue
            if (spec.get("items") or {}).get("type") == "boolean":
                lines = [line.lower() in ("true", "yes", "1") for line in lines]
            inputs[name] = lines
        elif shape == "json":
            if not text.strip():
                continue
            try:
                inputs[name] = json.loads(text)
            except ValueError as exc:
                raise InvalidInput(f"input {name!r} must be written in JSON ({exc})", field=f"inputs.{name}") from None
        elif text.strip():
            inputs[name] = text if shape == "text" else text.strip()
    return inputs


def field_of(error: DatalabsError) -> str:
    """The form field an error names: ``inputs.numbers[2]`` -> ``numbers``; other fields as they are."""
    field = error.field or ""
    if field.startswith("inputs."):
        return field[len("inputs."):].split("[", 1)[0]
    return field


def _runnable_versions(service: PipelineService, actor, pipeline) -> list[str]:
    found = []
    for version in pipeline.versions:
        try:
            service.runnable(actor, pipeline.name, version.version)
        except NotFound:
            continue
        found.append(version.version)
    return found


def _path_choices(db, settings, actor) -> list[str]:
    roots = [w.path for w in FileService(db, settings).workspaces(actor)]
    return roots + [f"data/{v.name}" for v in visible_volumes(db, actor)]


def run_form_page(request: Request, caller: Caller, db, settings, name: str, *, version: str | None = None,
                  error: str | None = None, error_field: str = "", values: dict | None = None,
                  choices: dict | None = None, status_code: int = 200):
    actor = logged_in(caller)
    service = PipelineService(db, settings)
    chosen = service.runnable(actor, name, version or None)
    fields = []
    for spec in chosen.inputs or []:
        key = FIELD_PREFIX + spec["id"]
        value = values[key] if values is not None and key in values else _shown_value(spec)
        fields.append(dict(spec, widget=widget(spec), name=key, value=value, type_label=type_label(spec),
                           default_label=default_label(spec.get("default")),
                           required=not spec.get("optional") and spec.get("default") is None))
    choices = choices or {}
    quota = cpu_quota(settings)
    return render(request, "pipelines/run_form.html", {
        "pipeline": chosen.pipeline,
        "shown": chosen,
        "versions": _runnable_versions(service, actor, chosen.pipeline),
        "fields": fields,
        "paths": _path_choices(db, settings, actor),
        "teams": sorted(actor.teams),
        "team": choices.get("team", ""),
        "cpu": choices.get("cpu") or f"{quota:g}",
        "cpu_max": quota,
        "href": pipeline_href(chosen.pipeline.name),
        "action": f"{pipeline_href(chosen.pipeline.name)}/run",
        "error": error,
        "error_field": error_field,
    }, status_code=status_code)


@router.get("/pipelines/{name}/run")
def run_form(name: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
             version: str = ""):
    return run_form_page(request, caller, db, settings, name, version=version or None)


@router.post("/pipelines/{name}/run")
async def launch(name: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings):
    form = await request.form()
    values = {key: value for key, value in form.items() if key.startswith(FIELD_PREFIX) and isinstance(value, str)}
    version, team, cpu = (str(form.get(key) or "") for key in ("version", "team", "cpu"))
    failure: dict = {}

    def action():
        actor = logged_in(caller)
        caller.check_csrf(str(form.get("csrf_token") or ""))
        try:
            chosen = PipelineService(db, settings).runnable(actor, name, version or None)
            inputs = form_inputs(chosen.inputs or [], form)
            try:
                cores = float(cpu) if cpu.strip() else None
            except ValueError:
                raise InvalidInput("CPUs must be a number such as 2", field="cpu") from None
            run = RunService(db, settings).launch(actor, chosen, inputs, team=team or None, cpu=cores)
        except DatalabsError as exc:
            failure["field"] = field_of(exc)
            raise
        _wake(request)
        return RedirectResponse(run_href(run.id), status_code=303)

    def page(message: str, status: int):
        return run_form_page(request, caller, db, settings, name, version=version or None, error=message,
                             error_field=failure.get("field", ""), values=values,
                             choices={"team": team, "cpu": cpu}, status_code=status)

    # the form is read here (its fields are named after the pipeline's inputs); the rest runs in a thread
    response = await run_in_threadpool(form_action, request, f"{pipeline_href(name)}/run", action, page, db)
    await form.close()
    return response


# -- runs ------------------------------------------------------------------------------------------

def _progress(run) -> tuple[int, int]:
    total = sum(int(v or 0) for v in (run.step_totals or {}).values())
    return run.jobs_done, max(total, run.jobs_done)


def _view(run, actor) -> dict:
    done, total = _progress(run)
    return {"run": run, "href": run_href(run.id), "badge": STATE_BADGES.get(run.state, "state-submitted"),
            "ended": run.state in ENDED, "done": done, "total": total, "mine": run.user_id == actor.user_id}


@router.get("/runs")
def my_runs(request: Request, caller: PageCaller, db: DbSession, settings: AppSettings):
    actor = logged_in(caller)
    runs = RunService(db, settings).list(actor, limit=200)
    return render(request, "pipelines/runs.html", {"runs": [_view(r, actor) for r in runs]})


def _files_of(value) -> list[dict]:
    """The File and Directory objects in a run's final outputs (paths in the workspace)."""
    if isinstance(value, dict):
        if value.get("class") in ("File", "Directory") and isinstance(value.get("path"), str):
            return [value]
        return [item for v in value.values() for item in _files_of(v)]
    if isinstance(value, list):
        return [item for v in value for item in _files_of(v)]
    return []


def _final_outputs(run) -> list[dict]:
    rows = []
    for key, value in (run.outputs or {}).items():
        files = _files_of(value)
        rows.append({"id": key, "files": files, "value": "" if files else json.dumps(value)})
    return rows


def run_page(request: Request, caller: Caller, db, settings, run_id: str, *, error: str | None = None,
             status_code: int = 200):
    actor = logged_in(caller)
    service = RunService(db, settings)
    run = service.get(actor, run_id)
    run_dir = str(service.run_dir(run))
    jobs = [JobOut.of(job, run_dir) for job in service.jobs(actor, run_id)]
    return render(request, "pipelines/run.html", _view(run, actor) | {
        "steps": service.steps(actor, run_id),
        "jobs": jobs,
        "final": _final_outputs(run),
        "owner": run.user.name,
        "pipeline_href": pipeline_href(run.pipeline_name),
        "inputs": [(key, json.dumps(value) if not isinstance(value, str) else value)
                   for key, value in (run.inputs or {}).items()],
        "error": error,
    }, status_code=status_code)


@router.get("/runs/{run_id}")
def show_run(run_id: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings):
    return run_page(request, caller, db, settings, run_id)


def _run_action(request: Request, caller: Caller, db, settings, run_id: str, csrf_token: str, act):
    href = run_href(run_id)

    def action():
        actor = logged_in(caller)
        caller.check_csrf(csrf_token)
        run = act(RunService(db, settings), actor)
        _wake(request)
        return RedirectResponse(run_href(run.id), status_code=303)

    def page(message: str, status: int):
        return run_page(request, caller, db, settings, run_id, error=message, status_code=status)

    return form_action(request, href, action, page, db)


@router.post("/runs/{run_id}/cancel")
def cancel(run_id: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
           csrf_token: Annotated[str, Form()] = ""):
    return _run_action(request, caller, db, settings, run_id, csrf_token,
                       lambda service, actor: service.cancel(actor, run_id))


@router.post("/runs/{run_id}/rerun")
def rerun(run_id: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
          csrf_token: Annotated[str, Form()] = ""):
    return _run_action(request, caller, db, settings, run_id, csrf_token,
                       lambda service, actor: service.rerun(actor, run_id))
