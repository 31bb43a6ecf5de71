"""Products in the style of the PDS Search API: ``q=`` filters (search_query.py), chosen ``fields``, pages
with ``limit`` and ``search-after``, ``facet-fields`` with counts; and one product with everything.

Field names are core columns (identifier, data_set, mission, instrument, target, start_time, stop_time,
processing_level, product_class, label_format, label_path, datalabs_path, volume, size, product_key; ``lidvid``
is an alias of identifier) or any label attribute (``IMAGE_POI.ROSETTA:SURF_INT_CART_COORD``,
``pds:Time_Coordinates.pds:start_date_time``). Only products on volumes the caller may read are seen.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, literal_column, null, or_, select
from sqlalchemy.orm import Session

from datalabs.accounts.actor import Actor
from datalabs.archive import attribute_sql
from datalabs.archive.models import ArchiveProduct
from datalabs.archive.search_query import QueryError, parse, to_sql
from datalabs.errors import InvalidInput, NotFound
from datalabs.storage.datasets import DatasetService
from datalabs.storage.models import Dataset

MAX_LIMIT = 10_000
MAX_FACET_VALUES = 100
CORE_FIELDS = {
    "product_key": ArchiveProduct.id, "identifier": ArchiveProduct.identifier, "lidvid": ArchiveProduct.identifier,
    "data_set": ArchiveProduct.data_set, "mission": ArchiveProduct.mission, "instrument": ArchiveProduct.instrument,
    "target": ArchiveProduct.target, "start_time": ArchiveProduct.start_time, "stop_time": ArchiveProduct.stop_time,
    "processing_level": ArchiveProduct.processing_level, "product_class": ArchiveProduct.product_class,
    "label_format": ArchiveProduct.label_format, "label_path": ArchiveProduct.label_path,
    "datalabs_path": ArchiveProduct.datalabs_path, "size": ArchiveProduct.size, "volume": Dataset.name,
}
NUMERIC_CORE = {"product_key", "size"}
SUMMARY_FIELDS = ("product_key", "identifier", "volume", "data_set", "mission", "instrument", "target",
                  "start_time", "stop_time", "processing_level", "product_class", "label_format", "datalabs_path")


class Fields:
    """The FieldResolver of search_query for our tables, on SQLite and PostgreSQL."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect

    def _attribute(self, field: str) -> str:
        try:
            return attribute_sql.check_attribute_name(field)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field="q") from None

    def text(self, field: str) -> ColumnElement:
        if field in CORE_FIELDS:
            column = CORE_FIELDS[field]
            return func.cast(column, ArchiveProduct.identifier.type) if field in NUMERIC_CORE else column
        return literal_column(attribute_sql.text_sql(self.dialect, "archive_products.attributes",
                                                     self._attribute(field)))

    def number(self, field: str) -> ColumnElement:
        if field in CORE_FIELDS:
            return CORE_FIELDS[field] if field in NUMERIC_CORE else null()
        return literal_column(attribute_sql.number_sql(self.dialect, "archive_products.attributes",
                                                       self._attribute(field)))

    def present(self, field: str) -> ColumnElement:
        if field in CORE_FIELDS:
            return CORE_FIELDS[field].is_not(None)
        return literal_column(attribute_sql.present_sql(self.dialect, "archive_products.attributes",
                                                        self._attribute(field)))

    def sortable(self, field: str) -> ColumnElement:
        if field in CORE_FIELDS:
            return CORE_FIELDS[field]
        return literal_column(attribute_sql.text_sql(self.dialect, "archive_products.attributes",
                                                     self._attribute(field)))


@dataclass
class SearchRequest:
    q: str = ""
    fields: list[str] | None = None  # None: the core fields and every attribute
    limit: int = 100
    search_after: list[str] | None = None
    sort: str = "product_key"
    facet_fields: list[str] | None = None
    volume: str | None = None


class ProductSearch:
    def __init__(self, db: Session) -> None:
        self.db = db
        self.dialect = db.get_bind().dialect.name
        self.fields = Fields(self.dialect)
        self.datasets = DatasetService(db)

    def _visible_ids(self, actor: Actor | None, volume: str | None) -> list[int]:
        if volume:
            return [self.datasets.get(volume, actor).id]
        return [d.id for d in self.datasets.visible(actor)]

    def search(self, actor: Actor | None, request: SearchRequest) -> dict:
        started = time.perf_counter()
        if not 0 <= request.limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 0 and {MAX_LIMIT}", field="limit")
        ids = self._visible_ids(actor, request.volume)
        condition = ArchiveProduct.dataset_id.in_(ids)
        if request.q.strip():
            try:
                condition = and_(condition, to_sql(parse(request.q), self.fields))
            except QueryError as exc:
                raise InvalidInput(f"invalid q: {exc}", field="q") from None
        base = select(ArchiveProduct, Dataset.name).join(Dataset, Dataset.id == ArchiveProduct.dataset_id)
        hits = self.db.scalar(select(func.count()).select_from(ArchiveProduct).join(
            Dataset, Dataset.id == ArchiveProduct.dataset_id).where(condition))
        sort_key = self.fields.sortable(request.sort) if request.sort != "product_key" else None
        page = base.where(condition)
        if request.search_after:
            page = page.where(self._after(sort_key, request.search_after))
        if sort_key is not None:
            page = page.where(sort_key.is_not(None)).order_by(sort_key, ArchiveProduct.id)
        else:
            page = page.order_by(ArchiveProduct.id)
        rows = self.db.execute(page.limit(request.limit)).all()
        data = [self._item(product, volume, request.fields) for product, volume in rows]
        after = None
        if rows and len(rows) == request.limit:
            last = rows[-1][0]
            after = ([str(last.id)] if sort_key is None else
                     [str(self.db.scalar(select(sort_key).where(ArchiveProduct.id == last.id))), str(last.id)])
        facets = [self._facet(field, condition) for field in request.facet_fields or []]
        return {"summary": {"q": request.q, "hits": hits, "limit": request.limit, "sort": request.sort,
                            "search_after": after, "properties": request.fields or [],
                            "took": round((time.perf_counter() - started) * 1000, 1), "facets": facets},
                "data": data}

    def _after(self, sort_key: ColumnElement | None, after: list[str]) -> ColumnElement:
        try:
            if sort_key is None:
                return ArchiveProduct.id > int(after[-1])
            value, key = after[0], int(after[1])
        except (ValueError, IndexError):
            raise InvalidInput("search-after must be the summary.search_after values of the previous page",
                               field="search-after") from None
        return or_(sort_key > value, and_(sort_key == value, ArchiveProduct.id > key))

    def _facet(self, field: str, condition: ColumnElement) -> dict:
        column = self.fields.sortable(field)
        rows = self.db.execute(select(column, func.count()).select_from(ArchiveProduct)
                               .join(Dataset, Dataset.id == ArchiveProduct.dataset_id).where(condition)
                               .group_by(column).order_by(func.count().desc()).limit(MAX_FACET_VALUES)).all()
        return {"property": field, "type": "terms",
                "counts": {("" if value is None else str(value)): count for value, count in rows}}

    def _item(self, product: ArchiveProduct, volume: str, fields: list[str] | None) -> dict:
        core = _core_of(product, volume)
        if fields is None:
            return {**{k: core[k] for k in SUMMARY_FIELDS}, "properties": product.attributes}
        properties = {}
        for field in fields:
            properties[field] = core.get(field, product.attributes.get(field))
        return {**{k: core[k] for k in ("product_key", "identifier", "datalabs_path")}, "properties": properties}

    def product(self, actor: Actor | None, key: str) -> dict:
        """One product by its key or its identifier (LIDVID / PRODUCT_ID), with every attribute and unit."""
        ids = self._visible_ids(actor, None)
        query = select(ArchiveProduct, Dataset.name).join(Dataset, Dataset.id == ArchiveProduct.dataset_id).where(
            ArchiveProduct.dataset_id.in_(ids))
        row = None
        if key.isdigit():
            row = self.db.execute(query.where(ArchiveProduct.id == int(key))).first()
        if row is None:
            row = self.db.execute(query.where(ArchiveProduct.identifier == key).order_by(ArchiveProduct.id)).first()
        if row is None:
            raise NotFound(f"no product {key!r}", field="product")
        product, volume = row
        return {**_core_of(product, volume), "attributes": product.attributes, "units": product.units}


def _core_of(product: ArchiveProduct, volume: str) -> dict:
    return {"product_key": product.id, "identifier": product.identifier, "volume": volume,
            "data_set": product.data_set, "mission": product.mission, "instrument": product.instrument,
            "target": product.target, "start_time": product.start_time, "stop_time": product.stop_time,
            "processing_level": product.processing_level, "product_class": product.product_class,
            "label_format": product.label_format, "label_path": product.label_path,
            "datalabs_path": product.datalabs_path, "files": product.files, "size": product.size}


def parse_list(value: str | None) -> list[str] | None:
    """``a,b,c`` or a JSON list, as the PDS API accepts."""
    if value is None or value == "":
        return None
    value = value.strip()
    if value.startswith("["):
        try:
            items = json.loads(value)
        except ValueError:
            raise InvalidInput(f"cannot read the list {value!r}", field="fields") from None
        return [str(item) for item in items]
    return [part.strip() for part in value.split(",") if part.strip()]
