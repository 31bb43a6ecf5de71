"""The file browser: ``/browse/<virtual path>`` over the tree of ``FileService``.

Browsing and downloading work without JavaScript. Changes (upload, new folder, rename, delete)
are made by ``static/files.js`` through the file API, with the login cookie and CSRF header.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from datalabs.api.deps import AppSettings, DbSession
from datalabs.storage.files import MY_WORKSPACE, TEAM_WORKSPACES, VOLUMES, FileService, Located
from datalabs.web.deps import PageCaller, visitor_allowed
from datalabs.web.pages import render
from datalabs.web.volumes import visible_volumes

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 200
ROOT_NOTES = {
    MY_WORKSPACE: "Your personal workspace (read-write)",
    TEAM_WORKSPACES: "The workspaces of your teams (read-write)",
    VOLUMES: "Archive volumes (read-only)",
}


@dataclass(frozen=True)
class Crumb:
    label: str
    href: str


def breadcrumbs(path: str) -> list[Crumb]:
    crumbs = [Crumb("All files", "/browse/")]
    parts = path.split("/") if path else []
    for index, part in enumerate(parts):
        crumbs.append(Crumb(part, "/browse/" + "/".join(parts[: index + 1])))
    return crumbs


def _page_number(value: str, pages: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 1
    return min(max(number, 1), pages)


def _notes(service: FileService, db, actor, place: Located) -> dict[str, str]:
    """Short descriptions shown next to the entries of the places above the workspaces and volumes."""
    if place.path == "":
        return ROOT_NOTES
    if place.path == VOLUMES:
        return {v.name: v.title + (" (embargoed)" if v.embargoed else "") for v in visible_volumes(db, actor)}
    if place.path == TEAM_WORKSPACES:
        return {name: "Team admin" if admin else "Member" for name, admin in actor.teams.items()}
    return {}


@router.get("/browse")
def browse_top():
    return RedirectResponse("/browse/", status_code=307)


@router.get("/browse/{path:path}")
def browse(request: Request, caller: PageCaller, db: DbSession, settings: AppSettings, path: str = "",
           page: str = "1"):
    visitor_allowed(request, caller)
    actor = caller.actor
    service = FileService(db, settings)
    place = service.locate(actor, path)
    entry = service.stat(actor, path)
    root = place.root
    context = {
        "place": place.path,
        "parent": place.path.rsplit("/", 1)[0] if "/" in place.path else "",
        "crumbs": breadcrumbs(place.path),
        "root_kind": root.kind if root else None,
        "writable": bool(root and root.writable),
    }
    if entry.type != "directory":
        return render(request, "file.html", context | {"file": entry})
    children = service.list(actor, path)
    pages = max(1, -(-len(children) // PAGE_SIZE))
    number = _page_number(page, pages)
    start = (number - 1) * PAGE_SIZE
    context |= {
        "entries": children[start: start + PAGE_SIZE],
        "total": len(children),
        "first": start + 1,
        "last": min(start + PAGE_SIZE, len(children)),
        "page": number,
        "pages": pages,
        "notes": _notes(service, db, actor, place),
        "workspace": root.shown_as if root and root.writable else None,
        "used": service.usage(root) if root and root.writable else None,
        "quota": root.quota if root else None,
        "workspaces": service.workspaces(actor) if root is None and actor is not None else [],
    }
    return render(request, "browse.html", context)
