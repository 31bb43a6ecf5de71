"""Pipeline catalogue pages: the catalogue with search, a pipeline's page (graph, inputs, outputs,
CWL source, review), and importing (file or zip upload, git, the web editor).

The rules stay in ``PipelineService`` (called with the caller's actor), as in the REST API
(``datalabs.pipelines.router``). The run form and the run pages are in ``web/pipeline_runs.py``.
Nothing a CWL document contains reaches a page as HTML: its doc and source are escaped text, and
the graph picture is drawn by Graphviz from escaped labels (``pipelines/graph.py``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse

from datalabs.accounts.models import Role
from datalabs.api.deps import AppSettings, Caller, DbSession
from datalabs.errors import DatalabsError, InvalidInput, PermissionDenied
from datalabs.pipelines.router import CWL_SUFFIXES, MAX_UPLOAD
from datalabs.pipelines.service import KINDS, SORTS, PipelineService
from datalabs.web.deps import PageCaller, form_action, logged_in
from datalabs.web.pages import render

router = APIRouter(include_in_schema=False)
KIND_LABELS = {"step": "Step (CommandLineTool)", "pipeline": "Pipeline (Workflow)"}
SORT_LABELS = {"modified": "Last modified", "name": "Name"}


def pipeline_href(name: str) -> str:
    return f"/pipelines/{quote(name, safe='')}"


def is_developer(actor) -> bool:
    return actor is not None and actor.role.at_least(Role.DEVELOPER)


def is_moderator(actor) -> bool:
    return actor is not None and actor.role.at_least(Role.MODERATOR)


def paragraphs(text: str) -> list[str]:
    """A CWL ``doc`` as plain-text paragraphs (blank lines separate them)."""
    found, current = [], []
    for line in (text or "").splitlines():
        if line.strip():
            current.append(line.strip())
        elif current:
            found.append(" ".join(current))
            current = []
    if current:
        found.append(" ".join(current))
    return found


def type_label(spec: dict) -> str:
    """A field's CWL type as people read it: ``File``, ``int[]``, ``enum (a, b)``."""
    kind = spec.get("type", "Any")
    if kind == "array":
        return type_label(spec.get("items") or {"type": "Any"}) + "[]"
    if kind == "enum":
        return "enum (" + ", ".join(str(s) for s in spec.get("symbols", [])) + ")"
    return kind


def default_label(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict) and value.get("class") in ("File", "Directory"):
        return str(value.get("path") or value.get("location") or value.get("basename") or value["class"])
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(default_label(v) for v in value)
    return str(value)


# -- the catalogue ------------------------------------------------------------------------------

@router.get("/pipelines")
def catalogue(request: Request, caller: PageCaller, db: DbSession, settings: AppSettings, q: str = "",
              tag: str = "", kind: str = "", sort: str = "modified"):
    kind = kind if kind in KINDS else ""
    sort = sort if sort in SORTS else "modified"
    service = PipelineService(db, settings)
    found = service.catalogue(caller.actor, text=q.strip()[:200], tag=tag.strip()[:64], kind=kind, sort=sort)
    latest = {pipeline.name: service.visible_versions(caller.actor, pipeline)[-1].version for pipeline, _ in found}
    return render(request, "pipelines/catalogue.html", {
        "found": found,
        "latest": latest,
        "search": {"q": q, "tag": tag, "kind": kind, "sort": sort},
        "kinds": KIND_LABELS,
        "sorts": SORT_LABELS,
        "can_import": is_developer(caller.actor),
    })


# -- importing ----------------------------------------------------------------------------------

def _require_developer(caller: Caller):
    actor = logged_in(caller)
    if not is_developer(actor):
        raise PermissionDenied("only developers may import pipelines (ask an admin for the developer role)")
    return actor


def import_page(request: Request, caller: Caller, *, error: str | None = None, problems: list | None = None,
                form: dict | None = None, which: str = "", status_code: int = 200):
    actor = _require_developer(caller)
    return render(request, "pipelines/import.html", {
        "error": error,
        "problems": problems or [],
        "form": form or {},
        "which": which,
        "teams": sorted(actor.teams),
        "max_upload": MAX_UPLOAD,
        "suffixes": ", ".join(CWL_SUFFIXES + (".zip",)),
    }, status_code=status_code)


@router.get("/pipelines/import")
def import_form(request: Request, caller: PageCaller):
    return import_page(request, caller)


def _options(name: str, version: str, team: str, tags: str) -> dict:
    return {"name": name.strip() or None, "version": version.strip() or None, "team": team.strip() or None,
            "tags": [t.strip() for t in tags.split(",") if t.strip()]}


def _import_action(request: Request, caller: Caller, db, run, form: dict, which: str):
    failure: dict = {}

    def action():
        try:
            version = run()
        except DatalabsError as exc:
            failure["problems"] = list(getattr(exc, "problems", None) or [])
            raise
        return RedirectResponse(f"{pipeline_href(version.pipeline.name)}?version={quote(version.version, safe='')}",
                                status_code=303)

    def page(message: str, status: int):
        return import_page(request, caller, error=message, problems=failure.get("problems"), form=form,
                           which=which, status_code=status)

    return form_action(request, "/pipelines/import", action, page, db)


@router.post("/pipelines/import/file")
def import_file(request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
                csrf_token: Annotated[str, Form()] = "", file: Annotated[UploadFile | None, File()] = None,
                name: Annotated[str, Form()] = "", version: Annotated[str, Form()] = "",
                team: Annotated[str, Form()] = "", tags: Annotated[str, Form()] = "",
                main: Annotated[str, Form()] = ""):
    form = {"name": name, "version": version, "team": team, "tags": tags, "main": main}

    def run():
        actor = _require_developer(caller)
        caller.check_csrf(csrf_token)
        if file is None or not file.filename:
            raise InvalidInput("choose a CWL document or a zip of a folder to upload", field="file")
        filename = os.path.basename(file.filename) or "pipeline.cwl"
        is_zip = filename.lower().endswith(".zip")
        if not is_zip and not filename.lower().endswith(CWL_SUFFIXES):
            raise InvalidInput(f"send a CWL document ({', '.join(CWL_SUFFIXES)}) or a .zip of a folder", field="file")
        service = PipelineService(db, settings)
        options = _options(name, version, team, tags)
        with tempfile.TemporaryDirectory(prefix="datalabs-upload-") as folder:
            target = Path(folder) / filename
            _save(file, target)
            if is_zip:
                return service.import_zip(actor, target, filename=filename, main=main.strip() or None, **options)
            return service.import_file(actor, target, **options)

    return _import_action(request, caller, db, run, form, "file")


def _save(upload: UploadFile, target: Path) -> None:
    size = 0
    with target.open("wb") as sink:
        while chunk := upload.file.read(1024 * 1024):
            size += len(chunk)
            if size > MAX_UPLOAD:
                raise InvalidInput(f"the upload is larger than {MAX_UPLOAD // 1024**2} MiB", code="too_large",
                                   field="file")
            sink.write(chunk)
    if size == 0:
        raise InvalidInput("the file you chose is empty", code="empty_body", field="file")


@router.post("/pipelines/import/git")
def import_git(request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
               csrf_token: Annotated[str, Form()] = "", url: Annotated[str, Form()] = "",
               ref: Annotated[str, Form()] = "", main: Annotated[str, Form()] = "",
               name: Annotated[str, Form()] = "", version: Annotated[str, Form()] = "",
               team: Annotated[str, Form()] = "", tags: Annotated[str, Form()] = ""):
    form = {"url": url, "ref": ref, "main": main, "name": name, "version": version, "team": team, "tags": tags}

    def run():
        actor = _require_developer(caller)
        caller.check_csrf(csrf_token)
        if not url.strip():
            raise InvalidInput("give the address of the git repository", field="url")
        options = _options(name, version, team, tags)
        return PipelineService(db, settings).import_git(actor, url.strip(), ref.strip() or None,
                                                        main=main.strip() or None, **options)

    return _import_action(request, caller, db, run, form, "git")


@router.post("/pipelines/import/text")
def import_text(request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
                csrf_token: Annotated[str, Form()] = "", text: Annotated[str, Form()] = "",
                filename: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
                version: Annotated[str, Form()] = "", team: Annotated[str, Form()] = "",
                tags: Annotated[str, Form()] = ""):
    form = {"text": text, "filename": filename, "name": name, "version": version, "team": team, "tags": tags}

    def run():
        actor = _require_developer(caller)
        caller.check_csrf(csrf_token)
        if not text.strip():
            raise InvalidInput("write the CWL document", field="text")
        return PipelineService(db, settings).import_text(actor, text, filename.strip() or "pipeline.cwl",
                                                         **_options(name, version, team, tags))

    return _import_action(request, caller, db, run, form, "text")


# -- a pipeline ---------------------------------------------------------------------------------

def _graph(shown, name: str) -> tuple[str, str]:
    """(inline SVG, "") or ("", why there is no picture)."""
    from datalabs.pipelines.graph import graph_svg

    if not shown.graph:
        return "", "This version has no graph."
    try:
        return graph_svg(shown.graph, shown.title or name), ""
    except DatalabsError as exc:
        return "", exc.message


def detail_page(request: Request, caller: Caller, db, settings, name: str, *, version: str | None = None,
                error: str | None = None, form: dict | None = None, status_code: int = 200):
    service = PipelineService(db, settings)
    actor = caller.actor
    pipeline = service.get(actor, name)
    shown = service.version(actor, name, version) if version else service.shown_version(actor, pipeline)
    svg, no_graph = _graph(shown, name)
    href = pipeline_href(pipeline.name)
    return render(request, "pipelines/detail.html", {
        "pipeline": pipeline,
        "shown": shown,
        "versions": service.visible_versions(actor, pipeline),
        "doc": paragraphs(shown.doc),
        "svg": svg,
        "no_graph": no_graph,
        "inputs": [dict(f, type_label=type_label(f), default_label=default_label(f.get("default")))
                   for f in shown.inputs or []],
        "outputs": [dict(f, type_label=type_label(f)) for f in shown.outputs or []],
        "can_manage": service.can_manage(actor, pipeline),
        "is_moderator": is_moderator(actor),
        "href": href,
        "run_href": f"{href}/run" + ("" if shown.state == "published" else f"?version={quote(shown.version, safe='')}"),
        "error": error,
        "form": form or {},
    }, status_code=status_code)


@router.get("/pipelines/{name}")
def pipeline_page(name: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
                  version: str = ""):
    return detail_page(request, caller, db, settings, name, version=version or None)


def _review_action(request: Request, caller: Caller, db, settings, name: str, version: str, csrf_token: str, run,
                   form: dict | None = None):
    href = pipeline_href(name)

    def action():
        actor = logged_in(caller)
        caller.check_csrf(csrf_token)
        run(PipelineService(db, settings), actor)
        return RedirectResponse(f"{href}?version={quote(version, safe='')}", status_code=303)

    def page(message: str, status: int):
        return detail_page(request, caller, db, settings, name, error=message, form=form, status_code=status)

    return form_action(request, href, action, page, db)


@router.post("/pipelines/{name}/versions/{version}/submit")
def submit(name: str, version: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
           csrf_token: Annotated[str, Form()] = ""):
    return _review_action(request, caller, db, settings, name, version, csrf_token,
                          lambda service, actor: service.submit(actor, name, version))


@router.post("/pipelines/{name}/versions/{version}/publish")
def publish(name: str, version: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
            csrf_token: Annotated[str, Form()] = ""):
    return _review_action(request, caller, db, settings, name, version, csrf_token,
                          lambda service, actor: service.publish(actor, name, version))


@router.post("/pipelines/{name}/versions/{version}/reject")
def reject(name: str, version: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
           csrf_token: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = ""):
    return _review_action(request, caller, db, settings, name, version, csrf_token,
                          lambda service, actor: service.reject(actor, name, version, reason),
                          form={"reason": reason, "version": version})
