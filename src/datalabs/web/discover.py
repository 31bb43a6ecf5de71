"""The discovery portal: one search box over data sets, volumes, datalabs and pipelines, with facets.

The page calls ``DiscoverySearch`` with the caller's actor, as the REST API (``datalabs.discovery.router``)
does, so what a caller may not see is neither listed nor counted; results are shaped by the API's own
schemas (``SearchOut``: actions, facet labels, pages), so page and API say the same thing. The first page is
rendered here and works without JavaScript (a plain GET form: ``q``, ``facet=FACET:VALUE`` repeatable,
``sort``, ``page``); ``static/discover.js`` adds suggestions while typing and submits facet and sort
changes at once. A search the index cannot run (an unclosed quote, an unknown facet...) is shown on the
page with the reason, status 400.

"Open in datalab" (volumes and data sets) lists the datalabs the caller may see in the index, each linking
to its launch form with ``?volume=<volume>`` (``web/sessions.py`` pre-checks those volumes).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request

from datalabs.api.deps import DbSession
from datalabs.discovery.schemas import SearchOut
from datalabs.discovery.search import MAX_PAGE, SORTS, DiscoverySearch, SearchRequest, parse_filters
from datalabs.errors import InvalidInput
from datalabs.web.deps import PageCaller, visitor_allowed
from datalabs.web.pages import render

router = APIRouter(include_in_schema=False)
PER_PAGE = 20
LABS_LISTED = 100  # datalabs offered by "Open in datalab" (the index's largest page)
BAD_SEARCH = 400  # a search that cannot be run is a bad request
SORT_LABELS = {"relevance": "Relevance", "title": "Title (A to Z)", "newest": "Newest",
               "modified": "Recently changed"}
TYPE_LABELS = {"dataset": "Data set", "volume": "Volume", "datalab": "Datalab", "pipeline": "Pipeline"}
CHIPS = ("mission", "instrument", "target")
CLOSED_LABEL = {"volume": "embargoed", "dataset": "embargoed"}  # others: "unpublished"


def discover_href(q: str, filters: list[str], sort: str, page: int = 1) -> str:
    params: list[tuple[str, str]] = []
    if q:
        params.append(("q", q))
    params += [("facet", f) for f in filters]
    if sort:
        params.append(("sort", sort))
    if page > 1:
        params.append(("page", str(page)))
    return "/discover" + ("?" + urlencode(params) if params else "")


def launch_href(lab: str, volume: str | None = None) -> str:
    href = f"/datalabs/{quote(lab, safe='')}/launch"
    return href + ("?" + urlencode({"volume": volume}) if volume else "")


def _page_number(page: str) -> int:
    try:
        number = int(page.strip() or "1")
    except ValueError:
        raise InvalidInput(f"page must be a whole number, not {page[:20]!r}", field="page") from None
    if not 1 <= number <= MAX_PAGE:
        raise InvalidInput(f"page must be between 1 and {MAX_PAGE}", field="page")
    return number


def _result_view(hit) -> dict:
    """One result card: the API's hit, plus what the card shows."""
    facets = hit.facets or {}
    return {
        "hit": hit,
        "type_label": TYPE_LABELS.get(hit.asset_type, hit.asset_type),
        "chips": [(name, value) for name in CHIPS for value in facets.get(name, [])],
        "closed_label": None if hit.open else CLOSED_LABEL.get(hit.asset_type, "unpublished"),
        "actions": [{"kind": a.kind, "label": a.label, "href": a.href, "volume": a.volume} for a in hit.actions],
    }


def launchable_labs(search: DiscoverySearch, actor) -> list[dict]:
    """The datalabs the caller may see in the index (by title): what "Open in datalab" offers."""
    if actor is None:
        return []
    result = search.search(actor, SearchRequest(filters={"asset_type": ["datalab"]}, sort="title",
                                                per_page=LABS_LISTED, facet_limit=1))
    return [{"name": hit.asset.name, "title": hit.asset.title, "href": launch_href(hit.asset.name)}
            for hit in result.hits]


@router.get("/discover")
def discover_page(request: Request, caller: PageCaller, db: DbSession, q: str = "",
                  facet: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
                  sort: str = "", page: str = "1"):
    visitor_allowed(request, caller)
    actor = caller.actor
    search = DiscoverySearch(db)
    q = q[:1000]  # the index refuses long queries with a message; the page need not echo megabytes
    # Without a sort asked for, "relevance" is shown: it is the title order until words are typed, so a form
    # sent again with words ranks them (a "title" carried over from the first page would not).
    context = {"q": q, "sort": sort if sort in SORTS else "", "shown_sort": sort if sort in SORTS else "relevance",
               "chosen": facet, "sorts": SORT_LABELS, "type_labels": TYPE_LABELS,
               "error": None, "found": None, "results": [], "facets": [], "labs": [], "prev_href": None,
               "next_href": None, "login_href": "/login?next=" + quote(discover_href(q, facet, sort), safe="")}
    try:
        request_ = SearchRequest(q=q, filters=parse_filters(facet), sort=sort, page=_page_number(page),
                                 per_page=PER_PAGE)
        result = search.search(actor, request_)
    except InvalidInput as exc:
        db.rollback()
        return render(request, "discover.html", context | {"error": exc.message}, status_code=BAD_SEARCH)
    found = SearchOut.of(q, result, search.today())
    results = [_result_view(hit) for hit in found.results]
    wants_labs = any(a["kind"] == "open_in_datalab" for r in results for a in r["actions"])
    return render(request, "discover.html", context | {
        "found": found,
        "results": results,
        "facets": [f for f in found.facets if f.values],
        "labs": launchable_labs(search, actor) if wants_labs else [],
        "first": (found.page - 1) * found.per_page + 1,
        "last": (found.page - 1) * found.per_page + len(results),
        "first_href": discover_href(q, facet, sort),
        "prev_href": discover_href(q, facet, sort, found.page - 1) if found.page > 1 else None,
        "next_href": discover_href(q, facet, sort, found.page + 1) if found.page < found.pages else None,
    })
