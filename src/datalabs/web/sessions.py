"""Datalab session pages: the launch form, a session's page (progress, log), and "My datalabs".

The rules stay in ``SessionService`` (called with the caller's actor), as in the REST API
(``datalabs.sessions.router``): what one may launch and with which limits, whose session one may
see (its owner and admins; anyone else gets 404), renew or destroy. Progress and logs reach the
page live from the API's server-sent events (``static/sessions.js``); without the script the
page shows what was known when it was rendered, and reloading shows more.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse

from datalabs.api.deps import AppSettings, Caller, DbSession
from datalabs.errors import InvalidInput
from datalabs.sessions.models import LabSession
from datalabs.sessions.service import LaunchOptions, LaunchRequest, SessionService
from datalabs.sessions.spec import base_url_of
from datalabs.sizes import format_size
from datalabs.states import TERMINAL, RunState
from datalabs.web.deps import PageCaller, form_action, logged_in
from datalabs.web.pages import render

router = APIRouter(include_in_schema=False)
MEMORY_STEPS = [256 * 1024**2, 512 * 1024**2] + [2**k * 1024**3 for k in range(0, 10)]  # 256M .. 512G
ENDED_SHOWN = 20
# The badge colours of the pages' existing states (app.css), by session state.
STATE_BADGES = {"running": "state-active", "failed": "state-rejected", "stopped": "state-expired",
                "stopping": "state-expired"}
ENDED = {s.value for s in TERMINAL}


def _sessions(request: Request, db, settings) -> SessionService:
    return SessionService(db, settings, builder=getattr(request.app.state, "env_builder", None))


def _session_href(session_id: str) -> str:
    return f"/sessions/{quote(session_id, safe='')}"


def _launch_href(name: str) -> str:
    return f"/datalabs/{quote(name, safe='')}/launch"


def memory_choices(default: int, maximum: int) -> list[tuple[int, str]]:
    """Sizes offered in the memory menu: round steps up to the maximum, plus the default and the maximum."""
    sizes = {size for size in MEMORY_STEPS if size <= maximum} | {default, maximum}
    return [(size, format_size(size)) for size in sorted(sizes)]


def _wake(request: Request) -> None:
    supervisor = getattr(request.app.state, "supervisor", None)
    if supervisor is not None:
        supervisor.wake()


# -- launching ---------------------------------------------------------------------------------

def launch_page(request: Request, caller: Caller, db, settings, name: str, *, version: str | None = None,
                error: str | None = None, form: dict | None = None, status_code: int = 200):
    actor = logged_in(caller)
    options: LaunchOptions = _sessions(request, db, settings).options(actor, name, version or None)
    form = form or {}
    chosen_volumes = set(form.get("volumes", ()))
    chosen_teams = set(form["team_workspaces"]) if "team_workspaces" in form else set(options.team_workspaces)
    memory = form.get("memory") or str(options.memory_default)
    versions = list(options.versions)
    if options.default_version not in versions:  # a version one may see and launch, not listed (a moderator's)
        versions.append(options.default_version)
    return render(request, "launch.html", {
        "options": options,
        "versions": versions,
        "lab_href": f"/datalabs/{quote(name, safe='')}",
        "action": _launch_href(name),
        "cpu": form.get("cpu") or f"{options.cpu_default:g}",
        "memory": memory,
        "memory_choices": memory_choices(options.memory_default, options.memory_max),
        "chosen_volumes": chosen_volumes,
        "chosen_teams": chosen_teams,
        "at_limit": options.sessions_running >= options.sessions_allowed,
        "error": error,
    }, status_code=status_code)


@router.get("/datalabs/{name}/launch")
def launch_form(name: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
                version: str = "",
                volume: Annotated[list[str], Query()] = []):  # noqa: B006 - FastAPI copies defaults
    """``?volume=NAME`` (repeatable) pre-checks those volumes (the discovery page's "Open in datalab"); names
    the caller may not read are not in the form's list, so they check nothing and are never shown."""
    form = {"volumes": volume} if volume else None
    return launch_page(request, caller, db, settings, name, version=version or None, form=form)


@router.post("/datalabs/{name}/launch")
def launch(name: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
           csrf_token: Annotated[str, Form()] = "", version: Annotated[str, Form()] = "",
           cpu: Annotated[str, Form()] = "", memory: Annotated[str, Form()] = "",
           volumes: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
           team_workspaces: Annotated[list[str], Form()] = [],  # noqa: B006
           teams_shown: Annotated[str, Form()] = ""):
    form = {"cpu": cpu, "memory": memory, "volumes": volumes}
    # An unchecked box sends nothing: the form says it listed the teams, so "none" is a choice;
    # a form without the list (a script, say) gets every team, as in the API.
    teams = tuple(team_workspaces) if teams_shown else None
    if teams is not None:
        form["team_workspaces"] = teams

    def action():
        actor = logged_in(caller)
        caller.check_csrf(csrf_token)
        if len(cpu) > 32 or len(memory) > 32:
            raise InvalidInput("cpu and memory must be short numbers such as 2 and 4G")
        session = _sessions(request, db, settings).launch(actor, LaunchRequest(
            datalab=name, version=version or None, cpu=cpu.strip() or None, memory=memory.strip() or None,
            volumes=tuple(volumes), team_workspaces=teams))
        _wake(request)
        return RedirectResponse(_session_href(session.id), status_code=303)

    def page(message: str, status: int):
        return launch_page(request, caller, db, settings, name, version=version or None, error=message,
                           form=form, status_code=status)

    return form_action(request, _launch_href(name), action, page, db)


# -- a session ---------------------------------------------------------------------------------

def _view(session: LabSession, actor) -> dict:
    """What the pages show of a session, besides the row itself."""
    return {
        "session": session,
        "href": _session_href(session.id),
        "url": base_url_of(session.id),
        "badge": STATE_BADGES.get(session.state, "state-submitted"),
        "ended": session.state in ENDED,
        "running": session.state == RunState.RUNNING.value,
        "mine": actor.user_id == session.user_id,  # only the owner passes the proxy, not even an admin
        "renewable": session.state not in ENDED and session.state != RunState.STOPPING.value,
    }


def session_page(request: Request, caller: Caller, db, settings, session_id: str, *, error: str | None = None,
                 status_code: int = 200):
    actor = logged_in(caller)
    service = _sessions(request, db, settings)
    session = service.get(actor, session_id)
    events = service.events(actor, session_id)
    return render(request, "sessions_detail.html", _view(session, actor) | {
        "events": events,
        "progress": events[-1].progress if events else 0,
        "last_event": events[-1].id if events else 0,
        "lab_href": f"/datalabs/{quote(session.datalab_name, safe='')}",
        "owner": session.user.name,
        "error": error,
    }, status_code=status_code)


@router.get("/sessions")
def my_sessions(request: Request, caller: PageCaller, db: DbSession, settings: AppSettings):
    actor = logged_in(caller)
    found = _sessions(request, db, settings).list(actor, ended=True)
    active = [_view(s, actor) for s in found if s.state not in ENDED]
    ended = [_view(s, actor) for s in found if s.state in ENDED][:ENDED_SHOWN]
    return render(request, "sessions.html", {"active": active, "ended": ended,
                                             "allowed": settings.sessions_per_user})


@router.get("/sessions/{session_id}")
def show_session(session_id: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings):
    return session_page(request, caller, db, settings, session_id)


def _session_action(request: Request, caller: Caller, db, settings, session_id: str, csrf_token: str, back: str,
                    run):
    href = _session_href(session_id)

    def action():
        actor = logged_in(caller)
        caller.check_csrf(csrf_token)
        run(_sessions(request, db, settings), actor)
        return RedirectResponse("/sessions" if back == "list" else href, status_code=303)

    def page(message: str, status: int):
        return session_page(request, caller, db, settings, session_id, error=message, status_code=status)

    return form_action(request, href, action, page, db)


@router.post("/sessions/{session_id}/renew")
def renew(session_id: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
          csrf_token: Annotated[str, Form()] = "", back: Annotated[str, Form()] = ""):
    return _session_action(request, caller, db, settings, session_id, csrf_token, back,
                           lambda service, actor: service.renew(actor, session_id))


@router.post("/sessions/{session_id}/destroy")
def destroy(session_id: str, request: Request, caller: PageCaller, db: DbSession, settings: AppSettings,
            csrf_token: Annotated[str, Form()] = "", back: Annotated[str, Form()] = ""):
    def run(service: SessionService, actor):
        service.stop(actor, session_id)
        _wake(request)

    return _session_action(request, caller, db, settings, session_id, csrf_token, back, run)
