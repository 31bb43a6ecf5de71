"""Template set-up and page rendering shared by every web route."""

from __future__ import annotations

from pathlib import Path

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
    ("Datalabs", "/datalabs"),
    ("Pipelines", "/pipelines"),
    ("Archive", "/archive"),
    ("Discover", "/discover"),
]


def make_templates(settings: Settings) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.globals.update(version=__version__, nav=NAV,
                                 vendor_css=(STATIC_DIR / "vendor" / "pico.min.css").exists())
    templates.env.filters["size"] = format_size
    return templates


def render(request: Request, template: str, context: dict | None = None, *, status_code: int = 200, caller=None):
    from datalabs.api.deps import Caller  # local: pages must not import the API at module load

    caller = caller or getattr(request.state, "caller", None) or Caller(None)
    values = {"actor": caller.actor, "csrf_token": caller.csrf_token, "path": request.url.path}
    values.update(context or {})
    return request.app.state.templates.TemplateResponse(request, template, values, status_code=status_code)


def render_error_page(request: Request, status: int, message: str, code: str):
    if status == 401:
        from fastapi.responses import RedirectResponse
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    return render(request, "error.html", {"status": status, "message": message, "code": code}, status_code=status)
