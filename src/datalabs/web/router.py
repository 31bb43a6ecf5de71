"""Web pages: login and logout, the dashboard, and the routers of the other pages.

Pages call the same services as the API; no SQL here. Each part of the UI has its module with
its own router (``files``, ``account``, ``teams``, ``volumes``, ``catalogue``, ``sessions``,
``pipelines``, ``pipeline_runs``, ``archive``, ``discover``), included below.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from datalabs.accounts.service import AccountService
from datalabs.api.deps import LOGIN_COOKIE, AppSettings, DbSession
from datalabs.errors import DatalabsError, PermissionDenied, status_for
from datalabs.storage.files import FileService
from datalabs.web import (account, archive, catalogue, discover, files, pipeline_runs, pipelines, sessions, teams,
                          volumes)
from datalabs.web.deps import PageCaller, logged_in, page_caller  # noqa: F401 - re-exported for other routers
from datalabs.web.pages import render, render_error_page

router = APIRouter(include_in_schema=False)
PRELOGIN_COOKIE = "datalabs_prelogin"


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _secure(request: Request, settings) -> bool:
    if settings.cookie_secure == "always":
        return True
    if settings.cookie_secure == "never":
        return False
    return request.url.scheme == "https"


@router.get("/login")
def login_page(request: Request, caller: PageCaller, next: str = "/"):
    from datalabs.accounts.secrets import new_cookie_secret

    if caller.actor is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    token = request.cookies.get(PRELOGIN_COOKIE) or new_cookie_secret()
    response = render(request, "login.html", {"next": _safe_next(next), "login_csrf": token})
    response.set_cookie(PRELOGIN_COOKIE, token, httponly=True, samesite="strict", path="/login")
    return response


@router.post("/login")
def login(request: Request, db: DbSession, settings: AppSettings, caller: PageCaller,
          username: Annotated[str, Form()], password: Annotated[str, Form()],
          csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/"):
    import hmac

    from datalabs.accounts.secrets import new_cookie_secret

    expected = request.cookies.get(PRELOGIN_COOKIE, "")
    context = {"next": _safe_next(next), "login_csrf": expected, "username": username}
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        # A fresh form token, so that trying again works (the old cookie may have been lost).
        context |= {"error": "Your login form expired. Please try again.", "login_csrf": new_cookie_secret()}
        response = render(request, "login.html", context, status_code=403)
        response.set_cookie(PRELOGIN_COOKIE, context["login_csrf"], httponly=True, samesite="strict", path="/login")
        return response
    name = username.strip()
    throttle = getattr(request.app.state, "login_throttle", None)
    if throttle is not None:
        try:
            throttle.check(name)
        except DatalabsError as exc:
            context["error"] = f"{exc.message[:1].upper()}{exc.message[1:]}."
            return render(request, "login.html", context, status_code=status_for(exc))
    service = AccountService(db)
    user = service.authenticate(name, password)
    if user is None:
        if throttle is not None:
            throttle.failed(name)
        context["error"] = "Unknown user name or wrong password."
        return render(request, "login.html", context, status_code=401)
    if throttle is not None:
        throttle.succeeded(name)
    secret, _ = service.start_login(user, timedelta(hours=settings.login_session_hours))
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(LOGIN_COOKIE, secret, httponly=True, samesite="lax", secure=_secure(request, settings),
                        max_age=int(settings.login_session_hours * 3600), path="/")
    response.delete_cookie(PRELOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, db: DbSession, caller: PageCaller, csrf_token: Annotated[str, Form()] = ""):
    try:
        caller.check_csrf(csrf_token)
    except PermissionDenied as exc:
        return render_error_page(request, 403, exc.message, exc.code)
    cookie = request.cookies.get(LOGIN_COOKIE)
    if cookie:
        AccountService(db).end_login(cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.get("/")
def dashboard(request: Request, caller: PageCaller, db: DbSession, settings: AppSettings):
    actor = logged_in(caller)
    return render(request, "dashboard.html", {
        "workspaces": FileService(db, settings).workspaces(actor),
        "datasets": volumes.visible_volumes(db, actor),
        "teams": sorted(actor.teams.items()),
    })


for part in (discover, volumes, files, account, teams, catalogue, sessions, pipelines, pipeline_runs, archive):
    router.include_router(part.router)
