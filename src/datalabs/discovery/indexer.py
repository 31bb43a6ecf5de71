"""Keeping the index true: documents written (asset row, facet values, readers, text index), assets gone
removed, and every change of a watched row (a datalab published, a volume re-embargoed, a scan finished)
re-described in the same transaction as the change itself, so the index can never say otherwise.

How: :func:`follow` hooks a session factory. ``after_flush`` collects the source keys of the rows that
changed (also deleted ones); ``before_commit`` flushes, describes those keys and writes them inside a
savepoint. A source that fails to describe is logged and left for the next change or ``reindex``, never
allowed to undo the user's own change.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterable

from sqlalchemy import delete, event, func, literal_column, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from datalabs.db.base import utcnow
from datalabs.discovery.documents import AssetDocument
from datalabs.discovery.models import DiscoveryAsset, DiscoveryFacetValue, DiscoveryReader, DiscoveryState
from datalabs.discovery.sources import SOURCES, keys_of, source_for

log = logging.getLogger(__name__)
POSTGRES_VECTOR = """
UPDATE discovery_assets SET search_vector =
    setweight(to_tsvector('english', :a), 'A') || setweight(to_tsvector('english', :b), 'B') ||
    setweight(to_tsvector('english', :c), 'C') || setweight(to_tsvector('english', :d), 'D')
WHERE id = :id
"""
ENGLISH = literal_column("'english'::regconfig")  # PostgreSQL's text search configuration (stems as porter)
PENDING = "datalabs.discovery.pending"  # session.info key: source keys changed in this transaction
# Text weights: title > alternate name and keywords > abstract and facet values > description
SQLITE_WEIGHTS = (10.0, 6.0, 5.0, 3.0, 3.0, 1.0)  # discovery_fts columns, in order
FTS_COLUMNS = ("title", "alternate_name", "keywords", "abstract", "context", "description")


def follow(factory: sessionmaker, base_url: str = "") -> None:
    """Re-index, within the same transaction, whatever the sessions of ``factory`` change."""
    if getattr(factory, "_discovery_follows", False):
        return
    factory._discovery_follows = True

    @event.listens_for(factory, "after_flush")
    def collect(session: Session, _context) -> None:
        pending = session.info.setdefault(PENDING, set())
        for row in (*session.new, *session.dirty, *session.deleted):
            if (key := keys_of(row)) is not None:
                pending.add(key)

    @event.listens_for(factory, "before_commit")
    def reindex_changed(session: Session) -> None:
        session.flush()  # commit flushes after this event: what is still unflushed must be collected now
        keys = session.info.pop(PENDING, set())
        if keys:
            refresh(session, keys, base_url)

    @event.listens_for(factory, "after_rollback")
    def forget(session: Session) -> None:
        session.info.pop(PENDING, None)


def refresh(db: Session, keys: Iterable[str], base_url: str = "") -> None:
    """Describe ``keys`` again and write what they are now (inside a savepoint per key)."""
    for key in sorted(keys):
        try:
            with db.begin_nested():
                write(db, key, source_for(key).describe(db, key, base_url))
        except Exception:  # noqa: BLE001 - the user's change stands; the index catches up on the next one
            log.exception("could not index %s for discovery", key)


def reindex(db: Session, base_url: str = "", progress=None) -> int:
    """Every asset described again from its source; what no source has any more is removed. Commits."""
    keys = [key for source in SOURCES for key in source.all_keys(db)]
    for done, key in enumerate(keys, 1):
        refresh(db, [key], base_url)
        if progress is not None:
            progress(done, len(keys))
    db.execute(delete(DiscoveryAsset).where(DiscoveryAsset.source_key.not_in(keys)) if keys
               else delete(DiscoveryAsset))
    changed(db)
    if db.get_bind().dialect.name == "sqlite":
        db.execute(text("DELETE FROM discovery_fts WHERE rowid NOT IN (SELECT id FROM discovery_assets)"))
    db.commit()
    return db.scalar(select(func.count()).select_from(DiscoveryAsset))


def index_if_empty(db: Session) -> None:
    """Build the index when it holds nothing but there are assets (an upgrade from before it). Commits."""
    if db.scalar(select(DiscoveryAsset.id).limit(1)) is None and any(source.all_keys(db) for source in SOURCES):
        reindex(db)


def write(db: Session, source_key: str, documents: list[AssetDocument]) -> None:
    """Make the index hold exactly ``documents`` for ``source_key``."""
    sqlite = db.get_bind().dialect.name == "sqlite"
    changed(db)
    existing = {key: asset_id for key, asset_id in db.execute(
        select(DiscoveryAsset.key, DiscoveryAsset.id).where(DiscoveryAsset.source_key == source_key))}
    wanted = {document.key for document in documents}
    gone = [asset_id for key, asset_id in existing.items() if key not in wanted]
    if gone:
        _remove(db, gone, sqlite)
    now = utcnow()
    for document in documents:
        asset_id = existing.get(document.key)
        if asset_id is None:  # a key once held by another source key (a renamed volume, say) is taken over
            asset_id = db.scalar(select(DiscoveryAsset.id).where(DiscoveryAsset.key == document.key))
        asset = db.get(DiscoveryAsset, asset_id) if asset_id is not None else None
        if asset is None:
            asset = DiscoveryAsset(key=document.key)
            db.add(asset)
        _fill(asset, document, source_key, now)
        db.flush()
        db.execute(delete(DiscoveryFacetValue).where(DiscoveryFacetValue.asset_id == asset.id))
        db.execute(delete(DiscoveryReader).where(DiscoveryReader.asset_id == asset.id))
        facet_rows = [{"asset_id": asset.id, "facet": facet, "value": value, "folded": value.lower()}
                      for facet, values in document.facet_values().items() for value in values]
        if facet_rows:
            db.execute(DiscoveryFacetValue.__table__.insert(), facet_rows)
        if document.readers:
            db.execute(DiscoveryReader.__table__.insert(),
                       [{"asset_id": asset.id, "principal": p} for p in sorted(document.readers)])
        _write_text(db, asset.id, document, sqlite)


def _fill(asset: DiscoveryAsset, document: AssetDocument, source_key: str, now) -> None:
    asset.source_key = source_key
    asset.asset_type = document.asset_type
    asset.name = document.name[:600]
    asset.title = document.title[:600]
    asset.sort_title = sort_title(document.title)
    asset.alternate_name = document.alternate_name[:600]
    asset.abstract = document.abstract
    asset.description = document.description
    asset.keywords = list(document.keywords)
    asset.creator = document.creator[:600]
    asset.citation = document.citation
    asset.license = document.license[:300]
    asset.audience = list(document.audience)
    asset.facets = document.facet_values()
    asset.details = document.details
    asset.url = document.url
    asset.date_created = document.date_created
    asset.date_modified = document.date_modified
    asset.open_from = document.open_from
    asset.indexed_at = now


def sort_title(title: str) -> str:
    return " ".join(title.split()).lower()[:200]


def changed(db: Session) -> None:
    """A new state token: what searches cached before this write is not used again."""
    token = secrets.token_hex(16)
    if db.execute(update(DiscoveryState).where(DiscoveryState.id == 1).values(token=token)).rowcount == 0:
        db.add(DiscoveryState(id=1, token=token))
        db.flush()


def text_fields(document: AssetDocument) -> dict[str, str]:
    return {"title": document.title, "alternate_name": document.alternate_name,
            "keywords": " ".join(document.keywords), "abstract": document.abstract,
            "context": document.context_text(), "description": document.description}


def _write_text(db: Session, asset_id: int, document: AssetDocument, sqlite: bool) -> None:
    fields = text_fields(document)
    if sqlite:
        db.execute(text("DELETE FROM discovery_fts WHERE rowid = :id"), {"id": asset_id})
        db.execute(text(f"INSERT INTO discovery_fts (rowid, {', '.join(FTS_COLUMNS)}) "
                        f"VALUES (:id, {', '.join(':' + c for c in FTS_COLUMNS)})"), {"id": asset_id, **fields})
        return
    db.execute(text(POSTGRES_VECTOR), {
        "id": asset_id, "a": fields["title"], "b": fields["alternate_name"] + " " + fields["keywords"],
        "c": fields["abstract"] + " " + fields["context"], "d": fields["description"]})


def _remove(db: Session, asset_ids: list[int], sqlite: bool) -> None:
    db.execute(delete(DiscoveryAsset).where(DiscoveryAsset.id.in_(asset_ids)))
    if sqlite:
        db.execute(text("DELETE FROM discovery_fts WHERE rowid IN (SELECT value FROM json_each(:ids))"),
                   {"ids": json.dumps(asset_ids)})
