"""Discovery routes: search with facets, suggestions, one asset (JSON or JSON-LD), the DCAT catalogue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from datalabs.api.deps import AppSettings, DbSession, OptionalActor
from datalabs.discovery import jsonld, schemas
from datalabs.errors import InvalidInput
from datalabs.discovery.search import MAX_PER_PAGE, SORTS, DiscoverySearch, SearchRequest, parse_filters

router = APIRouter(prefix="/api/v1/discover", tags=["discovery"])
JSONLD = "application/ld+json"


def public_base(request: Request, settings) -> str:
    """Absolute URLs in linked data: the configured public URL, else the one the request came to."""
    return (settings.public_url or str(request.base_url)).rstrip("/")


@router.get("", response_model=schemas.SearchOut,
            summary="Search every asset you may see (data sets, volumes, datalabs, pipelines), with facet counts")
def discover(db: DbSession, actor: OptionalActor,
             q: Annotated[str, Query(description='words (all must match), "a phrase", prefix*, a OR b, -word; '
                                                 "empty: everything")] = "",
             facet: Annotated[list[str], Query(description="FACET:VALUE, repeatable: values of one facet are "
                                                           "alternatives, facets combine (asset_type, domain, "
                                                           "mission, instrument, target, thematic_area)")] = [],  # noqa: B006
             sort: Annotated[str, Query(description="relevance (default with q), title (default without), "
                                                    "newest, modified")] = "",
             page: Annotated[int, Query(ge=1)] = 1,
             per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 20,
             facet_limit: Annotated[int, Query(ge=1, le=200, description="values listed per facet")] = 20):
    search = DiscoverySearch(db)
    result = search.search(actor, SearchRequest(q=q, filters=parse_filters(facet), sort=sort, page=page,
                                                per_page=per_page, facet_limit=facet_limit))
    return schemas.SearchOut.of(q, result, search.today())


@router.get("/suggest", response_model=list[schemas.SuggestionOut],
            summary="Suggestions while typing: facet values (missions, instruments, targets...) and asset titles")
def suggest(db: DbSession, actor: OptionalActor, q: str = "",
            limit: Annotated[int, Query(ge=1, le=20)] = 8):
    return [schemas.SuggestionOut(**s) for s in DiscoverySearch(db).suggest(actor, q, limit)]


@router.get("/sorts", summary="The sort orders of a search, with what each means")
def sorts() -> dict[str, str]:
    return SORTS


@router.get("/catalog", summary="DCAT catalogue of the public assets as JSON-LD, paged with Hydra (for harvesters)",
            response_class=JSONResponse)
def catalog(db: DbSession, request: Request, settings: AppSettings,
            page: Annotated[int, Query(ge=1)] = 1, per_page: Annotated[int, Query(ge=1, le=500)] = 100):
    assets, total = DiscoverySearch(db).public_page(page, per_page)
    document = jsonld.catalogue_page(assets, public_base(request, settings), page=page, per_page=per_page,
                                     total=total, title="datalabs catalogue")
    return JSONResponse(document, media_type=JSONLD)


@router.get("/assets/{key:path}", response_model=schemas.AssetDetailOut,
            summary="One asset you may see; JSON-LD (schema.org + DCAT) with ?format=jsonld or "
                    "Accept: application/ld+json",
            responses={200: {"content": {JSONLD: {}}}})
def asset(key: str, db: DbSession, actor: OptionalActor, request: Request, settings: AppSettings,
          format: Annotated[str, Query(description="json (default) or jsonld")] = ""):  # noqa: A002
    search = DiscoverySearch(db)
    found = search.asset(actor, key)
    if format not in ("", "json", "jsonld"):
        raise InvalidInput(f"unknown format {format[:20]!r}: json or jsonld", field="format")
    if format == "jsonld" or (not format and JSONLD in request.headers.get("accept", "")):
        return JSONResponse(jsonld.describe(found, public_base(request, settings)), media_type=JSONLD)
    return schemas.AssetDetailOut.of(found, search.today())
