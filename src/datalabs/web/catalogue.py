"""Datalab catalogue pages: the catalogue with search and import, a datalab's page, its review.

The rules stay in ``CatalogueService`` (called with the caller's actor), as in the REST API
(``datalabs.catalogue.router``): what a caller may see, import, submit, publish or withdraw.
Nothing a package contains reaches a page as HTML: its README is shown as escaped text and its
logo is served by its own route under a Content-Security-Policy that allows no script.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from datalabs.accounts.models import Role
from datalabs.api.deps import AppSettings, Caller, DbSession
from datalabs.catalogue.meta import PackageInvalid
from datalabs.catalogue.router import MAX_ZIP_UPLOAD
from datalabs.catalogue.service import CatalogueService
from datalabs.errors import InvalidInput, NotFound, PermissionDenied
from datalabs.web.deps import PageCaller, form_action, logged_in
from datalabs.web.markdown import render_markdown
from datalabs.web.pages import render

router = APIRouter(include_in_schema=False)
KINDS = [("jupyterlab", "JupyterLab"), ("web", "Web application"), ("desktop", "Desktop")]
LOGOS = {"logo.svg": "image/svg+xml", "logo.png": "image/png", "logo.jpg": "image/jpeg"}
READMES = ("README.md", "README.txt", "README.rst", "README")
MAX_README = 200 * 1024
LOGO_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def _lab_href(name: str) -> str:
    return f"/datalabs/{quote(name, safe='')}"


def _is_developer(actor) -> bool:
    return actor is not None and actor.role.at_least(Role.DEVELOPER)


def _is_moderator(actor) -> bool:
    return actor is not None and actor.role.at_least(Role.MODERATOR)


def _require_developer(caller: Caller):
    actor = logged_in(caller)
    if not _is_developer(actor):
        raise PermissionDenied("only developers may import datalabs (ask an admin for the developer role)")
    return actor


def catalogue_page(request: Request, caller: Caller, db, settings, *, q: str = "", kind: str = "",
                   mission: str = "", instrument: str = "", error: str | None = None,
                   problems: list | None = None, form: dict | None = None, status_code: int = 200):
    service = CatalogueService(db, settings)
    found = service.catalogue(caller.actor, text=q, mission=mission.strip(), instrument=instrument.strip(),
                              kind=kind)
    return render(request, "datalabs.html", {
        "found": found,
        "search": {"q": q, "kind": kind, "mission": mission, "instrument": instrument},
        "kinds": KINDS,
        "can_import": _is_developer(caller.actor),
        "error": error,
        "problems": problems or [],
        "form": form or {},
    }, status_code=status_code)


def _package_file(version, names) -> Path | None:
    if not version.package_path:
        return None
    root = Path(version.package_path)
    for name in names:
        candidate = root / name
        if candidate.is_file() and not candidate.is_symlink():
            return candidate
    return None


def _readme(version) -> str:
    found = _package_file(version, READMES)
    if found is None:
        return ""
    with found.open("rb") as source:
        data = source.read(MAX_README + 1)
    text = data[:MAX_README].decode("utf-8", errors="replace")
    return text + ("\n[… the README is longer; cut here]" if len(data) > MAX_README else "")


def _meta_rows(meta: dict) -> list[tuple[str, str]]:
    rows = []
    for key, value in meta.items():
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        rows.append((str(key), shown))
    return rows


def detail_page(request: Request, caller: Caller, db, settings, name: str, *, version: str | None = None,
                error: str | None = None, form: dict | None = None, status_code: int = 200):
    service = CatalogueService(db, settings)
    actor = caller.actor
    datalab = service.get(actor, name)
    versions = service.visible_versions(actor, datalab)
    shown = service.shown_version(actor, datalab, version)
    can_manage = service.can_manage(actor, datalab)
    return render(request, "datalab.html", {
        "datalab": datalab,
        "shown": shown,
        "versions": versions,
        "meta_rows": _meta_rows(shown.meta or {}),
        "readme": render_markdown(_readme(shown)),
        "has_logo": _package_file(shown, LOGOS) is not None,
        "can_manage": can_manage,
        "is_moderator": _is_moderator(actor),
        "can_withdraw": can_manage or _is_moderator(actor),
        "href": _lab_href(datalab.name),
        "error": error,
        "form": form or {},
    }, status_code=status_code)


# -- the catalogue and importing -----------------------------------------------------------------

@router.get("/datalabs")
def datalabs(request: Request, caller: PageCaller, db: DbSession, settings: AppSettings, q: str = "",
             kind: str = "", mission: str = "", instrument: str = ""):
    return catalogue_page(request, caller, db, settings, q=q, kind=kind, mission=mission, instrument=instrument)


def _import_action(request: Request, caller: Caller, db, settings, run, form: dict):
    failure: dict = {}

    def action():
        try:
            version = run()
        except PackageInvalid as exc:
            failure["problems"] = [str(problem) for problem in exc.problems]
            raise
        return RedirectResponse(_lab_href(version.datalab.name), status_code=303)

    def page(message: str, status: int):
        problems = failure.get("problems", [])
        return catalogue_page(request, caller, db, settings, error=None if problems else message,
                              problems=problems, form=form, status_code=status)

    return form_action(request, "/datalabs", action, page, db)


@router.post("/datalabs/import/zip")
def import_zip(request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
               csrf_token: Annotated[str, Form()] = "", archive: Annotated[UploadFile | None, File()] = None):
    def run():
        actor = _require_developer(caller)
        caller.check_csrf(csrf_token)
        if archive is None or not archive.filename:
            raise InvalidInput("choose the zip of the package to upload", field="archive")
        with tempfile.TemporaryDirectory(prefix="datalabs-zip-") as folder:
            target = Path(folder) / "package.zip"
            with target.open("wb") as sink:
                size = 0
                while chunk := archive.file.read(1024 * 1024):
                    size += len(chunk)
                    if size > MAX_ZIP_UPLOAD:
                        raise InvalidInput(f"the zip is larger than {MAX_ZIP_UPLOAD // 1024**2} MiB", code="too_large")
                    sink.write(chunk)
            if size == 0:
                raise InvalidInput("the zip you chose is empty", code="empty_body", field="archive")
            return CatalogueService(db, settings).import_zip(actor, target,
                                                             filename=os.path.basename(archive.filename))

    return _import_action(request, caller, db, settings, run, {})


@router.post("/datalabs/import/git")
def import_git(request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
               csrf_token: Annotated[str, Form()] = "", url: Annotated[str, Form()] = "",
               ref: Annotated[str, Form()] = ""):
    def run():
        actor = _require_developer(caller)
        caller.check_csrf(csrf_token)
        if not url.strip():
            raise InvalidInput("give the address of the git repository", field="url")
        return CatalogueService(db, settings).import_git(actor, url.strip(), ref=ref.strip() or None)

    return _import_action(request, caller, db, settings, run, {"url": url, "ref": ref})


# -- a datalab -----------------------------------------------------------------------------------

@router.get("/datalabs/{name}")
def datalab(name: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
            version: str = ""):
    return detail_page(request, caller, db, settings, name, version=version or None)


@router.get("/datalabs/{name}/logo")
def datalab_logo(name: str, caller: PageCaller, db: DbSession, settings: AppSettings, version: str = ""):
    service = CatalogueService(db, settings)
    datalab = service.get(caller.actor, name)
    shown = service.shown_version(caller.actor, datalab, version)
    found = _package_file(shown, LOGOS)
    if found is None:
        raise NotFound(f"datalab {name!r} has no logo", field="logo")
    return Response(found.read_bytes(), media_type=LOGOS[found.name], headers={
        "Content-Security-Policy": LOGO_CSP, "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=300"})


def _lab_action(request: Request, caller: Caller, db, settings, name: str, csrf_token: str, run,
                form: dict | None = None):
    href = _lab_href(name)

    def action():
        actor = logged_in(caller)
        caller.check_csrf(csrf_token)
        run(CatalogueService(db, settings), actor)
        return RedirectResponse(href, status_code=303)

    def page(message: str, status: int):
        return detail_page(request, caller, db, settings, name, error=message, form=form, status_code=status)

    return form_action(request, href, action, page, db)


@router.post("/datalabs/{name}/versions/{version}/submit")
def submit(name: str, version: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
           csrf_token: Annotated[str, Form()] = ""):
    return _lab_action(request, caller, db, settings, name, csrf_token,
                       lambda service, actor: service.submit(actor, name, version))


@router.post("/datalabs/{name}/versions/{version}/publish")
def publish(name: str, version: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
            csrf_token: Annotated[str, Form()] = ""):
    return _lab_action(request, caller, db, settings, name, csrf_token,
                       lambda service, actor: service.publish(actor, name, version))


@router.post("/datalabs/{name}/versions/{version}/reject")
def reject(name: str, version: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
           csrf_token: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = ""):
    return _lab_action(request, caller, db, settings, name, csrf_token,
                       lambda service, actor: service.reject(actor, name, version, reason),
                       form={"reason": reason, "version": version})


@router.post("/datalabs/{name}/official")
def set_official(name: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
                 csrf_token: Annotated[str, Form()] = "", official: Annotated[bool, Form()] = False):
    return _lab_action(request, caller, db, settings, name, csrf_token,
                       lambda service, actor: service.set_official(actor, name, official))


@router.post("/datalabs/{name}/withdraw")
def withdraw(name: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
             csrf_token: Annotated[str, Form()] = "", withdrawn: Annotated[bool, Form()] = False):
    return _lab_action(request, caller, db, settings, name, csrf_token,
                       lambda service, actor: service.withdraw(actor, name, withdrawn=withdrawn))

