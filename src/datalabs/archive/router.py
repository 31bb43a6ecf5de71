"""Archive metadata routes: volumes and their scans, products (PDS Search API style), quicklooks, mapped
tables and indexes on demand. ADQL queries are served by the TAP service at /tap."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from datalabs.api.deps import AppSettings, CurrentActor, DbSession, OptionalActor
from datalabs.archive import schemas
from datalabs.archive.quicklook import QuicklookService
from datalabs.archive.search import ProductSearch, SearchRequest, parse_list
from datalabs.archive.service import ArchiveService

router = APIRouter(prefix="/api/v1/archive", tags=["archive"])


@router.get("/volumes", response_model=list[schemas.VolumeIndexOut],
            summary="Archive volumes you can read, with their products, problems, attributes and last scan")
def volumes(db: DbSession, actor: OptionalActor):
    return [schemas.VolumeIndexOut.of(**item) for item in ArchiveService(db).summary(actor)]


@router.post("/volumes/{volume}/scans", response_model=schemas.ScanOut, status_code=202,
             summary="Scan a volume's labels (admins); runs in the background, follow it at the scan's URL")
def start_scan(volume: str, db: DbSession, actor: CurrentActor, request: Request):
    scan = ArchiveService(db).begin_scan(volume, actor)
    request.app.state.archive_scans.start(scan.id)
    return schemas.ScanOut.of(scan, volume)


@router.get("/volumes/{volume}/scans/{scan_id}", response_model=schemas.ScanOut,
            summary="A scan's progress: files done of total, products indexed, problems")
def scan_progress(volume: str, scan_id: int, db: DbSession, actor: OptionalActor):
    return schemas.ScanOut.of(ArchiveService(db).scan_record(volume, scan_id, actor), volume)


@router.get("/volumes/{volume}/attributes", response_model=list[schemas.AttributeOut],
            summary="Every attribute found in a volume's labels: name, type, unit, how many products have it")
def attributes(volume: str, db: DbSession, actor: OptionalActor):
    return [schemas.AttributeOut.model_validate(a, from_attributes=True)
            for a in ArchiveService(db).attributes(volume, actor)]


@router.get("/volumes/{volume}/problems", response_model=list[schemas.ProblemOut],
            summary="Labels of a volume that could not be read, with the reason and position")
def problems(volume: str, db: DbSession, actor: OptionalActor,
             limit: Annotated[int, Query(ge=1, le=10000)] = 1000):
    return [schemas.ProblemOut.model_validate(p, from_attributes=True)
            for p in ArchiveService(db).problems(volume, actor, limit=limit)]


@router.get("/products", summary="Search products, PDS Search API style: q, fields, limit, search-after, "
                                 "sort, facet-fields (any label attribute can be a field)")
def products(db: DbSession, actor: OptionalActor,
             q: Annotated[str, Query(description='e.g. (TARGET_NAME eq "MARS") and (ORBIT_NUMBER gt 100)')] = "",
             fields: Annotated[str | None, Query(description="Comma-separated fields to return.")] = None,
             limit: Annotated[int, Query(description="Products per page (0-10000).")] = 100,
             search_after: Annotated[str | None, Query(alias="search-after",
                                                       description="summary.search_after of the last page.")] = None,
             sort: Annotated[str, Query(description="A field to sort on (default: product_key).")] = "product_key",
             facet_fields: Annotated[str | None, Query(alias="facet-fields",
                                                       description="Fields to count values of.")] = None,
             volume: Annotated[str | None, Query(description="Only this volume.")] = None):
    request = SearchRequest(q=q, fields=parse_list(fields), limit=limit, search_after=parse_list(search_after),
                            sort=sort or "product_key", facet_fields=parse_list(facet_fields), volume=volume)
    return ProductSearch(db).search(actor, request)


@router.get("/products/{key:path}/quicklook.png", response_class=Response,
            summary="A PNG quicklook of an image product (rendered with pdr, then cached)")
async def quicklook(key: str, db: DbSession, actor: OptionalActor, settings: AppSettings):
    product = ProductSearch(db).product(actor, key)
    volume = ArchiveService(db).volume(product["volume"], actor)
    png = await run_in_threadpool(QuicklookService(settings).png, product, Path(volume.path) / product["label_path"])
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/products/{key:path}", summary="One product (by product_key or identifier/LIDVID): every label "
                                            "attribute with units, the files, datalabs_path")
def product(key: str, db: DbSession, actor: OptionalActor):
    return ProductSearch(db).product(actor, key)


@router.get("/tables", response_model=list[schemas.TableOut], summary="The mapped tables (also in TAP_SCHEMA)")
def tables(db: DbSession, actor: OptionalActor):
    return [schemas.TableOut.of(t) for t in ArchiveService(db).tables()]


@router.put("/tables", response_model=list[schemas.TableOut],
            summary="Define or replace mapped tables from a YAML mapping file (admins)")
def define_tables(db: DbSession, actor: CurrentActor,
                  mapping: Annotated[str, Body(media_type="application/yaml",
                                               description="The mapping file (YAML).")]):
    return [schemas.TableOut.of(t) for t in ArchiveService(db).define_tables(mapping, actor)]


@router.delete("/tables/{name}", status_code=204, response_class=Response, summary="Remove a mapped table (admins)")
def drop_table(name: str, db: DbSession, actor: CurrentActor):
    ArchiveService(db).drop_table(name, actor)


@router.get("/indexes", response_model=list[schemas.IndexOut], summary="Attributes with an index")
def indexes(db: DbSession, actor: OptionalActor):
    return [schemas.IndexOut.model_validate(i, from_attributes=True) for i in ArchiveService(db).indexes()]


@router.post("/indexes", response_model=schemas.IndexOut, status_code=201,
             summary="Index one attribute so that queries filtering or sorting on it are fast (admins)")
def create_index(body: schemas.IndexIn, db: DbSession, actor: CurrentActor):
    return schemas.IndexOut.model_validate(ArchiveService(db).create_index(body.attribute, actor),
                                           from_attributes=True)


@router.delete("/indexes/{attribute:path}", status_code=204, response_class=Response,
               summary="Drop the index of an attribute (admins)")
def drop_index(attribute: str, db: DbSession, actor: CurrentActor):
    ArchiveService(db).drop_index(attribute, actor)
