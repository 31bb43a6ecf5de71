"""Web pages: login and logout, dashboard. Pages call the same services as the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from datalabs.accounts.service import AccountService
from datalabs.api.deps import LOGIN_COOKIE, AppSettings, Caller, DbSession, get_caller
from datalabs.errors import NotAuthenticated
from datalabs.storage.datasets import DatasetService
from datalabs.storage.files import FileService
from datalabs.web.pages import render

router = APIRouter(include_in_schema=False)
PRELOGIN_COOKIE = "datalabs_prelogin"


def page_caller(request: Request, caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    request.state.caller = caller
    return caller


PageCaller = Annotated[Caller, Depends(page_caller)]


def logged_in(caller: Caller):
    if caller.actor is None:
        raise NotAuthenticated("log in to see this page")
    return caller.actor


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

    expected = request.cookies.get(PRELOGIN_COOKIE, "")
    context = {"next": _safe_next(next), "login_csrf": expected, "username": username}
    if not expected or not hmac.compare_digest(expected, csrf_token):
        context["error"] = "Your login form expired. Please try again."
        return render(request, "login.html", context, status_code=403)
    service = AccountService(db)
    user = service.authenticate(username.strip(), password)
    if user is None:
        context["error"] = "Unknown user name or wrong password."
        return render(request, "login.html", context, status_code=401)
    secret, _ = service.start_login(user, timedelta(hours=settings.login_session_hours))
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(LOGIN_COOKIE, secret, httponly=True, samesite="lax", secure=_secure(request, settings),
                        max_age=int(settings.login_session_hours * 3600), path="/")
    response.delete_cookie(PRELOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, db: DbSession, caller: PageCaller, csrf_token: Annotated[str, Form()] = ""):
    caller.check_csrf(csrf_token)
    cookie = request.cookies.get(LOGIN_COOKIE)
    if cookie:
        AccountService(db).end_login(cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.get("/")
def dashboard(request: Request, caller: PageCaller, db: DbSession, settings: AppSettings):
    actor = logged_in(caller)
    files = FileService(db, settings)
    return render(request, "dashboard.html", {
        "workspaces": files.workspaces(actor),
        "datasets": DatasetService(db).visible(actor),
        "teams": sorted(actor.teams.items()),
    })
