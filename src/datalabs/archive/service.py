"""The archive metadata service: scans of volumes, mapped tables and indexes made on demand (admins), and
what any caller may read about them (the products themselves are queried through search.py and TAP).

Who may do what: scans, mapping files and indexes are admin actions (the CLI acts as a local admin:
``actor=None``); reading follows the volumes' embargo rule (storage.datasets.can_read).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from datalabs.accounts.actor import Actor
from datalabs.accounts.service import require_admin
from datalabs.archive import attribute_catalogue, attribute_sql
from datalabs.archive.mapping import MappedTableSpec, parse_mapping
from datalabs.archive.models import (ArchiveAttribute, ArchiveIndex, ArchiveLabelProblem, ArchiveProduct,
                                     ArchiveScan, ArchiveTable)
from datalabs.archive.scanner import ScanCounts, VolumeScanner
from datalabs.archive.tap_tables import mapped_columns_sql, mapped_table
from datalabs.db.base import utcnow
from datalabs.errors import Conflict, InvalidInput, NotFound
from datalabs.storage.datasets import DatasetService
from datalabs.storage.models import Dataset

log = logging.getLogger(__name__)
PROGRESS_EVERY = 1.0  # seconds between progress writes of a scan


class ArchiveService:
    def __init__(self, db: Session) -> None:
        self.db = db
        self.datasets = DatasetService(db)

    # -- reading ----------------------------------------------------------------------------------------------

    def volume(self, name: str, actor: Actor | None) -> Dataset:
        return self.datasets.get(name, actor)

    def _admin_volume(self, name: str, actor: Actor | None) -> Dataset:
        """For admin actions: an admin actor, or None for the local admin CLI (which sees every volume)."""
        if actor is not None:
            require_admin(actor)
            return self.datasets.get(name, actor)
        dataset = self.datasets.repo.by_name(name)
        if dataset is None:
            raise NotFound(f"no archive volume named {name!r}", field="volume")
        return dataset

    def summary(self, actor: Actor | None) -> list[dict]:
        """Each readable volume with its product, problem and attribute counts and its last scan."""
        volumes = self.datasets.visible(actor)
        ids = [v.id for v in volumes]
        products = dict(self.db.execute(select(ArchiveProduct.dataset_id, func.count()).where(
            ArchiveProduct.dataset_id.in_(ids)).group_by(ArchiveProduct.dataset_id)).all()) if ids else {}
        problems = dict(self.db.execute(select(ArchiveLabelProblem.dataset_id, func.count()).where(
            ArchiveLabelProblem.dataset_id.in_(ids)).group_by(ArchiveLabelProblem.dataset_id)).all()) if ids else {}
        attributes = dict(self.db.execute(select(ArchiveAttribute.dataset_id, func.count()).where(
            ArchiveAttribute.dataset_id.in_(ids)).group_by(ArchiveAttribute.dataset_id)).all()) if ids else {}
        return [{"volume": v, "products": products.get(v.id, 0), "problems": problems.get(v.id, 0),
                 "attributes": attributes.get(v.id, 0), "last_scan": self.last_scan(v.id)} for v in volumes]

    def last_scan(self, dataset_id: int) -> ArchiveScan | None:
        return self.db.scalars(select(ArchiveScan).where(ArchiveScan.dataset_id == dataset_id)
                               .order_by(ArchiveScan.id.desc()).limit(1)).first()

    def scan_record(self, volume: str, scan_id: int, actor: Actor | None) -> ArchiveScan:
        dataset = self.volume(volume, actor)
        scan = self.db.get(ArchiveScan, scan_id)
        if scan is None or scan.dataset_id != dataset.id:
            raise NotFound(f"no scan {scan_id} of volume {volume!r}", field="scan")
        return scan

    def attributes(self, volume: str, actor: Actor | None, *, local: bool = False) -> list[ArchiveAttribute]:
        """``local``: asked by the admin CLI, which sees embargoed volumes too."""
        dataset = self._admin_volume(volume, None) if local else self.volume(volume, actor)
        return list(self.db.scalars(select(ArchiveAttribute).where(ArchiveAttribute.dataset_id == dataset.id)
                                    .order_by(ArchiveAttribute.name)))

    def problems(self, volume: str, actor: Actor | None, *, limit: int = 1000,
                 local: bool = False) -> list[ArchiveLabelProblem]:
        dataset = self._admin_volume(volume, None) if local else self.volume(volume, actor)
        return list(self.db.scalars(select(ArchiveLabelProblem).where(ArchiveLabelProblem.dataset_id == dataset.id)
                                    .order_by(ArchiveLabelProblem.path).limit(limit)))

    def tables(self) -> list[ArchiveTable]:
        return list(self.db.scalars(select(ArchiveTable).order_by(ArchiveTable.name)))

    def indexes(self) -> list[ArchiveIndex]:
        return list(self.db.scalars(select(ArchiveIndex).order_by(ArchiveIndex.attribute)))

    # -- scans ------------------------------------------------------------------------------------------------

    def begin_scan(self, volume: str, actor: Actor | None) -> ArchiveScan:
        dataset = self._admin_volume(volume, actor)
        running = self.db.scalars(select(ArchiveScan).where(ArchiveScan.dataset_id == dataset.id,
                                                            ArchiveScan.state == "running")).first()
        if running is not None:
            raise Conflict(f"volume {volume!r} is being scanned already (scan {running.id}, started "
                           f"{running.started_at:%Y-%m-%d %H:%M:%S} UTC)", field="volume")
        scan = ArchiveScan(dataset_id=dataset.id, started_by_id=actor.user_id if actor else None)
        self.db.add(scan)
        self.db.commit()
        return scan

    def run_scan(self, scan: ArchiveScan, *, workers: int | None = None,
                 progress: Callable[[ScanCounts], None] | None = None) -> ArchiveScan:
        """Scan the volume of a begun scan; the scan row follows the progress (seen by the API and web)."""
        dataset = self.db.get(Dataset, scan.dataset_id)
        last_write = [0.0]

        def follow(counts: ScanCounts) -> None:
            if progress:
                progress(counts)
            now = time.monotonic()
            if now - last_write[0] >= PROGRESS_EVERY or counts.files_done == counts.files_total:
                last_write[0] = now
                self._record(scan, counts)

        try:
            counts = VolumeScanner(self.db, dataset.id, dataset.name, Path(dataset.path), workers=workers,
                                   progress=follow).run()
            if counts.removed or counts.replaced:  # exact again, from the stored attributes
                dates = attribute_catalogue.date_attributes_of(self.db, dataset.id)
                dates |= {name for name, kind in counts.types if kind == "date"}
                attribute_catalogue.refresh(self.db, dataset.id, dates)
            else:  # only additions: count them in, without reading every stored product again
                attribute_catalogue.merge(self.db, dataset.id, counts.by_attribute(counts.types),
                                          counts.by_attribute(counts.units))
            self._record(scan, counts, state="completed")
        except Exception as exc:
            log.exception("scan of volume %s failed", dataset.name)
            self.db.rollback()
            scan.state, scan.error, scan.finished_at = "failed", f"{type(exc).__name__}: {exc}"[:2000], utcnow()
            self.db.commit()
            raise
        return scan

    def _record(self, scan: ArchiveScan, counts: ScanCounts, state: str | None = None) -> None:
        scan.files_total, scan.files_done = counts.files_total, counts.files_done
        scan.indexed, scan.unchanged = counts.indexed, counts.unchanged
        scan.problems, scan.removed = counts.problems, counts.removed
        if state:
            scan.state, scan.finished_at = state, utcnow()
        self.db.commit()

    # -- mapped tables ----------------------------------------------------------------------------------------

    def define_tables(self, mapping_text: str, actor: Actor | None, *, source: str = "mapping") -> list[ArchiveTable]:
        """Store (or replace) the tables a mapping file defines; checked first, all or nothing."""
        if actor is not None:
            require_admin(actor)
        specs = parse_mapping(mapping_text, source=source)
        dialect = self.db.get_bind().dialect.name
        rows = []
        for spec in specs:
            try:  # every expression must translate, and the table must be readable, before anything is stored
                spec = self._with_types(spec)
                table = mapped_table(spec, dialect, [], set())
                columns = ", ".join(f'{c.sql} AS "{c.name}"' for c in table.columns)
                self.db.execute(text(f"SELECT {columns} FROM {table.source} AS t LIMIT 0"))
            except Exception as exc:  # noqa: BLE001 - whatever the database says, it is the mapping's fault
                self.db.rollback()
                raise InvalidInput(f"{source}: table {spec.name}: {exc}".split("\n[SQL")[0][:1500],
                                   field="mapping") from None
            row = self.db.get(ArchiveTable, spec.name) or ArchiveTable(name=spec.name)
            row.description, row.mapping, row.spec = spec.description, mapping_text, spec.as_dict()
            self.db.add(row)
            rows.append(row)
        self.db.commit()
        return rows

    def _with_types(self, spec: MappedTableSpec) -> MappedTableSpec:
        """Columns without a declared type get the type their values have in the stored labels."""
        dialect = self.db.get_bind().dialect.name
        columns = []
        for column in spec.columns:
            if column.datatype is None and column.kind == "attribute":
                column = replace(column, datatype=self._stored_type(column.source, column.index, dialect),
                                 unit=column.unit or self._stored_unit(column.source))
            elif column.datatype is None and column.kind == "core":
                column = replace(column, datatype="date" if column.source.endswith("_time") else "str")
            elif column.datatype is None:
                column = replace(column, datatype="float" if self._numeric_expression(spec, column) else "str")
            columns.append(column)
        return replace(spec, columns=tuple(columns))

    def _stored_type(self, name: str, index: int | None, dialect: str) -> str:
        kinds = {row[0]: row[1] for row in self.db.execute(
            select(ArchiveAttribute.datatype, func.sum(ArchiveAttribute.count))
            .where(ArchiveAttribute.name == name).group_by(ArchiveAttribute.datatype))}
        if index is None:
            if not kinds:
                return "str"
            return max(kinds, key=kinds.get)
        # an element of a sequence: look at the stored values
        number = attribute_sql.number_sql(dialect, "attributes", name, index)
        value = attribute_sql.text_sql(dialect, "attributes", name, index)
        numbers, values = self.db.execute(text(
            f"SELECT count({number}), count({value}) FROM archive_products")).one()
        return "float" if numbers and numbers * 2 >= values else "str"

    def _stored_unit(self, name: str) -> str:
        return self.db.scalars(select(ArchiveAttribute.unit).where(ArchiveAttribute.name == name,
                                                                   ArchiveAttribute.unit != "")
                               .group_by(ArchiveAttribute.unit)
                               .order_by(func.sum(ArchiveAttribute.count).desc()).limit(1)).first() or ""

    def _numeric_expression(self, spec: MappedTableSpec, column) -> bool:
        dialect = self.db.get_bind().dialect.name
        up_to_it = replace(spec, columns=spec.columns[:spec.columns.index(column) + 1], where="")
        sql = mapped_columns_sql(up_to_it, dialect)[column.name][1]
        try:
            row = self.db.execute(text(f"SELECT typeof({sql}) FROM archive_products LIMIT 1") if dialect == "sqlite"
                                  else text(f"SELECT pg_typeof({sql})::text FROM archive_products LIMIT 1")).first()
        except Exception:  # noqa: BLE001 - reported when the table is checked as a whole
            self.db.rollback()
            return False
        return bool(row) and row[0] in ("integer", "real", "double precision", "numeric", "bigint", "integer")

    def drop_table(self, name: str, actor: Actor | None) -> None:
        if actor is not None:
            require_admin(actor)
        row = self.db.get(ArchiveTable, name)
        if row is None:
            raise NotFound(f"no mapped table named {name!r}", field="table")
        self.db.delete(row)
        self.db.commit()

    # -- indexes on demand ------------------------------------------------------------------------------------

    def create_index(self, attribute: str, actor: Actor | None) -> ArchiveIndex:
        """An expression index on one attribute: queries that filter or sort on it stop scanning the table."""
        if actor is not None:
            require_admin(actor)
        attribute_sql.check_attribute_name(attribute)
        existing = self.db.get(ArchiveIndex, attribute)
        if existing is not None:
            return existing
        kinds = set(self.db.scalars(select(ArchiveAttribute.datatype).where(ArchiveAttribute.name == attribute)))
        if not kinds:
            raise NotFound(f"no label has the attribute {attribute!r} (scan a volume first?)", field="attribute")
        dialect = self.db.get_bind().dialect.name
        numeric = bool(kinds & set(attribute_sql.NUMERIC_TYPES))
        expression = (attribute_sql.number_sql if numeric else attribute_sql.text_sql)(dialect, "attributes",
                                                                                      attribute)
        name = "ix_attr_" + hashlib.sha256(attribute.encode()).hexdigest()[:20]
        self.db.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON archive_products ({expression})"))
        row = ArchiveIndex(attribute=attribute, index_name=name)
        self.db.add(row)
        self.db.commit()
        return row

    def drop_index(self, attribute: str, actor: Actor | None) -> None:
        if actor is not None:
            require_admin(actor)
        row = self.db.get(ArchiveIndex, attribute)
        if row is None:
            raise NotFound(f"no index on attribute {attribute!r}", field="attribute")
        self.db.execute(text(f"DROP INDEX IF EXISTS {row.index_name}"))
        self.db.delete(row)
        self.db.commit()


class BackgroundScans:
    """Scans started from the API or the web page run in a thread each; the scan row shows their progress."""

    def __init__(self, session_factory: sessionmaker) -> None:
        self.session_factory = session_factory
        self._threads: dict[int, threading.Thread] = {}

    def start(self, scan_id: int) -> None:
        thread = threading.Thread(target=self._run, args=(scan_id,), name=f"archive-scan-{scan_id}", daemon=True)
        self._threads[scan_id] = thread
        thread.start()

    def _run(self, scan_id: int) -> None:
        with self.session_factory() as db:
            scan = db.get(ArchiveScan, scan_id)
            try:
                ArchiveService(db).run_scan(scan)
            except Exception:  # noqa: BLE001 - recorded on the scan row by run_scan
                pass
        self._threads.pop(scan_id, None)

    def wait(self, timeout: float | None = None) -> None:
        for thread in list(self._threads.values()):
            thread.join(timeout)


def fail_interrupted_scans(db: Session) -> None:
    """At start-up: a scan left 'running' by a stopped server is marked failed (what it wrote is kept; the
    next scan skips it as unchanged)."""
    for scan in db.scalars(select(ArchiveScan).where(ArchiveScan.state == "running")):
        scan.state, scan.finished_at = "failed", utcnow()
        scan.error = "interrupted: the server stopped during the scan; scan again to finish (done files are skipped)"
    db.commit()
