"""Team pages: my teams (admins: all), a team's members, and membership changes.

Permission rules stay in ``AccountService`` (called with the caller's actor): a team admin or a
platform admin may add, promote and remove members; a member may leave; anyone else sees 404.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from datalabs.accounts.service import AccountService
from datalabs.api.deps import AppSettings, Caller, DbSession
from datalabs.errors import AlreadyExists, InvalidInput
from datalabs.storage.files import FileService
from datalabs.web.deps import PageCaller, form_action, logged_in
from datalabs.web.pages import render

router = APIRouter(include_in_schema=False)


def _team_href(name: str) -> str:
    return f"/teams/{quote(name)}"


def teams_page(request: Request, caller: Caller, db, *, error: str | None = None, form: dict | None = None,
               status_code: int = 200):
    actor = logged_in(caller)
    teams = sorted(AccountService(db).teams(actor), key=lambda t: t.name)
    return render(request, "teams.html", {"teams": teams, "mine": actor.teams, "error": error,
                                          "form": form or {}}, status_code=status_code)


def team_page(request: Request, caller: Caller, db, settings, name: str, *, error: str | None = None,
              form: dict | None = None, status_code: int = 200):
    actor = logged_in(caller)
    team = AccountService(db).team(name, actor)
    members = sorted(team.memberships, key=lambda m: m.user.name)
    workspace = None
    if actor.in_team(team.name):
        files = FileService(db, settings)
        root = files.team_root(actor, team.name)
        workspace = {"path": root.shown_as, "used": files.usage(root), "quota": root.quota}
    return render(request, "team.html", {
        "team": team,
        "members": members,
        "admins": sum(m.is_admin for m in members),
        "can_manage": actor.admins_team(team.name),
        "is_member": actor.in_team(team.name),
        "workspace": workspace,
        "error": error,
        "form": form or {},
    }, status_code=status_code)


@router.get("/teams")
def teams(request: Request, caller: PageCaller, db: DbSession):
    return teams_page(request, caller, db)


@router.post("/teams")
def create_team(request: Request, caller: PageCaller, db: DbSession, csrf_token: Annotated[str, Form()] = "",
                name: Annotated[str, Form()] = "", description: Annotated[str, Form()] = ""):
    def action():
        actor = logged_in(caller)
        caller.check_csrf(csrf_token)
        team = AccountService(db).create_team(name.strip(), description=description.strip(), actor=actor)
        return RedirectResponse(_team_href(team.name), status_code=303)

    def page(message: str, status: int):
        form = {"name": name, "description": description}
        return teams_page(request, caller, db, error=message, form=form, status_code=status)

    return form_action(request, "/teams", action, page, db)


@router.get("/teams/{name}")
def team(name: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings):
    return team_page(request, caller, db, settings, name)


@router.post("/teams/{name}/members")
def add_member(name: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
               csrf_token: Annotated[str, Form()] = "", user: Annotated[str, Form()] = "",
               admin: Annotated[bool, Form()] = False):
    user = user.strip()

    def action():
        actor = logged_in(caller)
        caller.check_csrf(csrf_token)
        service = AccountService(db)
        team = service.team(name, actor)
        if any(m.user.name == user for m in team.memberships):
            raise AlreadyExists(f"{user!r} is already a member of team {name!r}", field="user")
        service.add_member(name, user, admin=admin, actor=actor)
        return RedirectResponse(_team_href(name) + "#members", status_code=303)

    def page(message: str, status: int):
        return team_page(request, caller, db, settings, name, error=message, status_code=status,
                         form={"user": user, "admin": admin})

    return form_action(request, _team_href(name), action, page, db)


@router.post("/teams/{name}/members/{user}/admin")
def set_admin(name: str, user: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
              csrf_token: Annotated[str, Form()] = "", admin: Annotated[bool, Form()] = False):
    def action():
        actor = logged_in(caller)
        caller.check_csrf(csrf_token)
        service = AccountService(db)
        team = service.team(name, actor)
        membership = next((m for m in team.memberships if m.user.name == user), None)
        if membership is None:  # add_member would add them: this form only changes the flag
            raise InvalidInput(f"{user!r} is not a member of team {name!r}", field="user")
        service.add_member(name, user, admin=admin, actor=actor)
        return RedirectResponse(_team_href(name) + "#members", status_code=303)

    def page(message: str, status: int):
        return team_page(request, caller, db, settings, name, error=message, status_code=status)

    return form_action(request, _team_href(name), action, page, db)


@router.post("/teams/{name}/members/{user}/remove")
def remove_member(name: str, user: str, request: Request, caller: PageCaller, db: DbSession,
                  settings: AppSettings, csrf_token: Annotated[str, Form()] = ""):
    def action():
        actor = logged_in(caller)
        caller.check_csrf(csrf_token)
        AccountService(db).remove_member(name, user, actor=actor)
        if user == actor.name and not actor.is_admin:
            return RedirectResponse("/teams", status_code=303)  # left the team: its page is gone
        return RedirectResponse(_team_href(name) + "#members", status_code=303)

    def page(message: str, status: int):
        return team_page(request, caller, db, settings, name, error=message, status_code=status)

    return form_action(request, _team_href(name), action, page, db)
