"""Template set-up and page rendering shared by every web route."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.templating import Jinja2Templates

from datalabs import __version__
from datalabs.settings import Settings
from datalabs.sizes import format_size

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

NAV = [
    ("Dashboard", "/"),
    ("Archive volumes", "/volumes"),
    ("Workspaces", "/browse/my_workspace"),
    ("Teams", "/teams"),
    ("Datalabs", "/datalabs"),
    ("My datalabs", "/sessions"),
    ("Pipelines", "/pipelines"),
    ("Runs", "/runs"),
    ("Archive", "/archive"),
    ("Discover", "/discover"),
]
# Pages that belong to a navigation entry without starting with its address.
NAV_SECTIONS = {
    "/volumes": ("/browse/data",),
    "/browse/my_workspace": ("/browse/team_workspaces", "/browse"),
}
# Navigation shown to visitors who are not logged in (when they may browse public volumes).
ANONYMOUS_NAV = [("Archive volumes", "/volumes"), ("Archive", "/archive")]


def current_nav(path: str) -> str | None:
    """The navigation address the page at ``path`` belongs to (for ``aria-current``)."""
    best, best_length = None, -1
    for _, href in NAV:
        for prefix in (href, *NAV_SECTIONS.get(href, ())):
            matches = path == prefix if prefix == "/" else (path == prefix or path.startswith(prefix.rstrip("/") + "/"))
            if matches and len(prefix) > best_length:
                best, best_length = href, len(prefix)
    return best


def url_path(path: str) -> str:
    """A virtual file path quoted segment by segment for use in a URL."""
    return quote(path, safe="/")


def format_when(value: datetime | date | None, empty: str = "–") -> str:
    if value is None:
        return empty
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def iso(value: datetime | date | None) -> str:
    return "" if value is None else value.isoformat()


def make_templates(settings: Settings) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.globals.update(version=__version__, nav=NAV, anonymous_nav=ANONYMOUS_NAV,
                                 anonymous_browse=settings.anonymous_browse,
                                 vendor_css=(STATIC_DIR / "vendor" / "pico.min.css").exists())
    templates.env.filters["size"] = format_size
    templates.env.filters["urlpath"] = url_path
    templates.env.filters["when"] = format_when
    templates.env.filters["iso"] = iso
    return templates


def render(request: Request, template: str, context: dict | None = None, *, status_code: int = 200, caller=None):
    from datalabs.api.deps import Caller  # local: pages must not import the API at module load

    caller = caller or getattr(request.state, "caller", None) or Caller(None)
    values = {"actor": caller.actor, "csrf_token": caller.csrf_token, "path": request.url.path,
              "current_nav": current_nav(request.url.path)}
    values.update(context or {})
    return request.app.state.templates.TemplateResponse(request, template, values, status_code=status_code)


def render_error_page(request: Request, status: int, message: str, code: str):
    if status == 401:
        from fastapi.responses import RedirectResponse

        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    return render(request, "error.html", {"status": status, "message": message, "code": code}, status_code=status)
