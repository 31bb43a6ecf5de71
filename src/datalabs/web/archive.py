"""The archive pages: volumes with their scans, the ADQL editor and query builder, the product search
(``q=`` syntax), a volume's label problems, and a product's page.

As in the REST API (``datalabs.archive.router``), every service is called with the caller's actor, so an
embargoed volume, its products and its problems are ``NotFound`` to whoever may not read it. ADQL queries
do not pass through here: the page's script (``static/archive.js``) sends them to the TAP service at
``/tap/sync`` with the login cookie, and TAP applies the same rule (``archive.tap_tables``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from datalabs.accounts.models import Role
from datalabs.api.deps import Caller, DbSession
from datalabs.archive.models import ArchiveScan
from datalabs.archive.search import ProductSearch, SearchRequest, parse_list
from datalabs.archive.service import ArchiveService
from datalabs.archive.tap_tables import build_catalogue, volume_table_name
from datalabs.errors import InvalidInput
from datalabs.web.deps import PageCaller, form_action, logged_in, visitor_allowed
from datalabs.web.pages import render
from datalabs.web.volumes import VolumeView

router = APIRouter(include_in_schema=False)
SEARCH_PAGE = 50
PROBLEMS_SHOWN = 1000
SEARCH_FIELDS = ["volume", "instrument", "target", "start_time"]
EXAMPLE_QUERY = "SELECT TOP 20 identifier, start_time, datalabs_path\nFROM archive.products\nORDER BY start_time"


def product_href(key: Any) -> str:
    return f"/archive/products/{quote(str(key), safe='')}"


def browse_href(volume: str, path: str) -> str:
    return "/browse/data/" + quote(f"{volume}/{path}", safe="/")


def is_admin(actor) -> bool:
    return actor is not None and actor.role.at_least(Role.ADMIN)


@dataclass(frozen=True)
class ScanView:
    id: int
    state: str
    files_done: int
    files_total: int
    indexed: int
    unchanged: int
    problems: int
    removed: int
    error: str
    started_at: Any
    finished_at: Any

    @classmethod
    def of(cls, scan: ArchiveScan) -> ScanView:
        return cls(id=scan.id, state=scan.state, files_done=scan.files_done, files_total=scan.files_total,
                   indexed=scan.indexed, unchanged=scan.unchanged, problems=scan.problems, removed=scan.removed,
                   error=scan.error, started_at=scan.started_at, finished_at=scan.finished_at)


@dataclass(frozen=True)
class ArchiveVolume:
    volume: VolumeView
    products: int
    problems: int
    attributes: int
    tap_table: str
    scan: ScanView | None


def archive_volumes(db, actor) -> list[ArchiveVolume]:
    service = ArchiveService(db)
    today = service.datasets.today()
    rows = [ArchiveVolume(volume=VolumeView.of(item["volume"], today), products=item["products"],
                          problems=item["problems"], attributes=item["attributes"],
                          tap_table=f"volume.{volume_table_name(item['volume'].name)}",
                          scan=ScanView.of(item["last_scan"]) if item["last_scan"] else None)
            for item in service.summary(actor)]
    return sorted(rows, key=lambda row: (row.volume.title.lower(), row.volume.name))


def query_tables(db, actor) -> list[dict]:
    """The tables the caller may query, for the query builder (their columns are read from /tap/tables)."""
    from datalabs.tap.tap_schema import qualified_adql_name

    return [{"name": qualified_adql_name(table), "description": table.description, "columns": len(table.columns)}
            for table in build_catalogue(db, actor).tables]


def product_search(db, actor, q: str | None, after: str) -> dict | None:
    """One page of products matching ``q`` (None: no search asked for)."""
    if q is None:
        return None
    try:
        request = SearchRequest(q=q.strip(), fields=SEARCH_FIELDS, limit=SEARCH_PAGE, search_after=parse_list(after))
        found = ProductSearch(db).search(actor, request)
    except InvalidInput as exc:
        return {"q": q, "error": exc.message, "items": [], "hits": 0, "next": None}
    summary = found["summary"]
    items = [{"href": product_href(item["product_key"]), "identifier": item["identifier"], **item["properties"]}
             for item in found["data"]]
    next_href = None
    if summary["search_after"]:
        next_href = "/archive?" + urlencode({"q": q, "after": ",".join(summary["search_after"])}) + "#search"
    return {"q": q, "error": None, "items": items, "hits": summary["hits"], "next": next_href,
            "took": summary["took"], "paged": bool(after)}


def archive_page(request: Request, caller: Caller, db, *, q: str | None = None, after: str = "",
                 error: str | None = None, status_code: int = 200):
    visitor_allowed(request, caller)
    actor = caller.actor
    search = product_search(db, actor, q, after)
    if status_code == 200 and search and search["error"]:
        status_code = 422
    return render(request, "archive/index.html", {
        "volumes": archive_volumes(db, actor),
        "can_scan": is_admin(actor),
        "tap_available": hasattr(request.app.state, "tap_runner"),
        "tables": query_tables(db, actor),
        "example": EXAMPLE_QUERY,
        "search": search,
        "error": error,
    }, status_code=status_code)


@router.get("/archive")
def archive_index(request: Request, caller: PageCaller, db: DbSession, q: str | None = None, after: str = ""):
    return archive_page(request, caller, db, q=q, after=after)


@router.post("/archive/volumes/{name}/scan")
def start_scan(name: str, request: Request, caller: PageCaller, db: DbSession,
               csrf_token: Annotated[str, Form()] = ""):
    """Scan a volume's labels (admins), as POST /api/v1/archive/volumes/{volume}/scans does."""

    def action():
        actor = logged_in(caller)
        caller.check_csrf(csrf_token)
        scan = ArchiveService(db).begin_scan(name, actor)
        request.app.state.archive_scans.start(scan.id)
        return RedirectResponse(f"/archive#volume-{quote(name, safe='')}", status_code=303)

    def page(message: str, status: int):
        return archive_page(request, caller, db, error=message, status_code=status)

    return form_action(request, "/archive", action, page, db)


@router.get("/archive/volumes/{name}/problems")
def problems_page(name: str, request: Request, caller: PageCaller, db: DbSession):
    visitor_allowed(request, caller)
    service = ArchiveService(db)
    problems = service.problems(name, caller.actor, limit=PROBLEMS_SHOWN)
    volume = VolumeView.of(service.volume(name, caller.actor), service.datasets.today())
    return render(request, "archive/problems.html", {
        "volume": volume,
        "problems": [{"path": p.path, "href": browse_href(volume.name, p.path), "line": p.line, "column": p.column,
                      "reason": p.reason, "scanned_at": p.scanned_at} for p in problems],
        "limit": PROBLEMS_SHOWN,
    })


# -- a product ----------------------------------------------------------------------------------------------------

def attribute_rows(attributes: dict, units: dict) -> list[dict]:
    rows = []
    for name in sorted(attributes, key=str.lower):
        value = attributes[name]
        unit = units.get(name, "") if isinstance(units, dict) else ""
        if isinstance(value, (list, tuple)):
            shown = [_text(v) for v in value]
            unit_list = unit if isinstance(unit, list) else None
            rows.append({"name": name, "values": shown, "value": ", ".join(shown),
                         "unit": _unit_text(unit_list) if unit_list else _text(unit)})
        else:
            rows.append({"name": name, "values": None, "value": _text(value), "unit": _unit_text(unit)})
    return rows


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_text(v) for v in value) + ")"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return str(value)


def _unit_text(unit) -> str:
    if isinstance(unit, list):
        distinct = [u for u in dict.fromkeys(_text(u) for u in unit) if u]
        return ", ".join(distinct)
    return _text(unit)


@router.get("/archive/products/{key:path}")
def product_page(key: str, request: Request, caller: PageCaller, db: DbSession):
    visitor_allowed(request, caller)
    product = ProductSearch(db).product(caller.actor, key)
    volume = product["volume"]
    files = [product["label_path"], *[f for f in product.get("files") or [] if f != product["label_path"]]]
    return render(request, "archive/product.html", {
        "product": product,
        "pdr_snippet": f"pdr.read({_python_string(product['datalabs_path'])})",
        "files": [{"path": f, "href": browse_href(volume, f), "label": f == product["label_path"]} for f in files],
        "volume_href": "/browse/data/" + quote(volume, safe=""),
        "attributes": attribute_rows(product.get("attributes") or {}, product.get("units") or {}),
        "quicklook": f"/api/v1/archive/products/{quote(str(product['product_key']), safe='')}/quicklook.png",
    })


def _python_string(value: str) -> str:
    """A Python string literal in double quotes (a path with a quote or backslash stays valid Python)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
