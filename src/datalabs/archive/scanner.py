"""Scan an archive volume: find every PDS3/PDS4 label, read it in parallel processes, store what changed.

- The tree is walked without following symbolic links (a link could lead out of the volume).
- A file whose size and modification time are those recorded by the last scan is not read again (the
  product, or the problem found in it, stays as it is); products whose label is gone are removed.
- Reading is spread over worker processes (one per core by default), in batches; the parent process writes
  each batch as it arrives, so reading and writing overlap.
- A label that cannot be read is recorded with the reason and its position (line, column); the scan goes
  on. Files that are not labels (plain data) are never recorded.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from sqlalchemy import JSON as JSON_TYPE
from sqlalchemy import Text, bindparam, cast, delete, insert, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from datalabs.archive.labels import Label, LabelError, label_kind, read_label
from datalabs.archive.models import ArchiveLabelProblem, ArchiveProduct
from datalabs.db.base import utcnow

BATCH = 128  # labels per task sent to a worker: large enough to amortise pickling, small for smooth progress
MEDIA_DATA = "/media/data"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass
class ScanCounts:
    files_total: int = 0  # label candidates considered (changed or new)
    files_done: int = 0
    indexed: int = 0
    unchanged: int = 0
    problems: int = 0
    removed: int = 0
    replaced: int = 0  # products written again because their label changed
    types: Counter = field(default_factory=Counter)  # (attribute, type) -> products, of the labels read now
    units: Counter = field(default_factory=Counter)  # (attribute, unit) -> products

    def by_attribute(self, pairs: Counter) -> dict[str, Counter]:
        result: dict[str, Counter] = {}
        for (name, value), count in pairs.items():
            result.setdefault(name, Counter())[value] += count
        return result


@dataclass(frozen=True)
class FoundFile:
    path: str  # relative to the volume root, "/"-separated
    mtime_ns: int
    size: int


def walk(root: Path) -> Iterator[FoundFile]:
    """Every regular file under root (no symbolic links followed, hidden folders skipped)."""
    stack = [("", str(root))]
    while stack:
        rel_dir, abs_dir = stack.pop()
        try:
            entries = sorted(os.scandir(abs_dir), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            rel = f"{rel_dir}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                if not entry.name.startswith("."):
                    stack.append((rel + "/", entry.path))
            elif entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                yield FoundFile(rel, st.st_mtime_ns, st.st_size)


@dataclass
class Batch:
    """What a worker sends back for a batch of files: product rows ready to insert (JSON already written),
    problems, and per-attribute counts of types and units for the attribute catalogue."""

    products: list[dict] = field(default_factory=list)
    problems: list[tuple[FoundFile, str, int | None, int | None]] = field(default_factory=list)
    others: int = 0  # files that are not labels
    types: Counter = field(default_factory=Counter)  # (attribute, type) -> products
    units: Counter = field(default_factory=Counter)  # (attribute, unit) -> products

    @property
    def files(self) -> int:
        return len(self.products) + len(self.problems) + self.others


def _read_batch(root: str, files: list[FoundFile], dataset_id: int, volume: str) -> Batch:
    """Worker: read a batch of files; the labels' data files are resolved here too."""
    batch = Batch()
    listings: dict[str, dict[str, str]] = {}  # folder -> {lower-case name: name}, for this batch
    for found in files:
        path = Path(root, found.path)
        try:
            kind = label_kind(path)
        except OSError as exc:
            batch.problems.append((found, f"cannot read the file: {exc.strerror or exc}", None, None))
            continue
        if kind is None:
            batch.others += 1
            continue
        try:
            label = read_label(path)
        except LabelError as exc:
            batch.problems.append((found, exc.reason, exc.line, exc.column))
            continue
        except Exception as exc:  # noqa: BLE001 - one strange label must not stop the scan of thousands
            batch.problems.append((found, f"unexpected error while reading: {type(exc).__name__}: {exc}", None,
                                   None))
            continue
        label.files, data_size = _data_files(Path(root), found.path, label, listings)
        batch.products.append(_product_row(dataset_id, volume, found, label, data_size))
        batch.types.update(label.types.items())
        batch.units.update(label.units.items())
    return batch


def _data_files(root: Path, label_rel: str, label: Label,
                listing: dict[str, dict[str, str]]) -> tuple[list[str], int]:
    """The label's data files relative to the volume (matched case-insensitively, as PDS3 pointers often
    differ in case from the file names), and their total size."""
    folder = os.path.dirname(label_rel)
    found, size = [], 0
    for name in label.files:
        rel = os.path.normpath(os.path.join(folder, name)).replace(os.sep, "/")
        if rel.startswith("../") or rel == "..":
            continue
        directory, base = os.path.split(rel)
        if directory not in listing:
            try:
                listing[directory] = {n.lower(): n for n in os.listdir(root / directory)}
            except OSError:
                listing[directory] = {}
        actual = listing[directory].get(base.lower())
        if actual is None:
            found.append(rel)  # named by the label but absent: still listed, size unknown
            continue
        rel = f"{directory}/{actual}" if directory else actual
        if rel == label_rel:
            continue
        found.append(rel)
        try:
            size += (root / rel).stat().st_size
        except OSError:
            pass
    return found, size


def _product_row(dataset_id: int, volume: str, found: FoundFile, label: Label, data_size: int) -> dict:
    files = label.files
    return {
        "dataset_id": dataset_id, "label_path": found.path, "label_format": label.format,
        "identifier": (label.identifier or Path(found.path).stem)[:600], "data_set": label.data_set[:600],
        "mission": label.mission[:300], "instrument": label.instrument[:300], "target": label.target[:300],
        "start_time": _time(label.start_time), "stop_time": _time(label.stop_time),
        "processing_level": str(label.processing_level)[:100], "product_class": label.product_class[:100],
        "files": json.dumps(files), "size": found.size + data_size,
        "datalabs_path": f"{MEDIA_DATA}/{volume}/{found.path}",
        "attributes": json.dumps(label.attributes, ensure_ascii=False),
        "units": json.dumps(label.units, ensure_ascii=False),
        "label_mtime_ns": found.mtime_ns, "label_size": found.size, "scanned_at": utcnow(),
    }


def _time(value: str | None) -> str | None:
    if not value or not _ISO_DATE.match(value):
        return None
    return value[:40]


class VolumeScanner:
    """Scans one volume into the archive tables. ``progress(counts)`` is called as batches are written."""

    def __init__(self, db: Session, dataset_id: int, volume: str, root: Path, *, workers: int | None = None,
                 progress: Callable[[ScanCounts], None] | None = None) -> None:
        self.db = db
        self.dataset_id = dataset_id
        self.volume = volume
        self.root = root
        self.workers = workers or os.cpu_count() or 1
        self.progress = progress or (lambda counts: None)

    def run(self) -> ScanCounts:
        counts = ScanCounts()
        known = self._known()
        todo: list[FoundFile] = []
        seen: set[str] = set()
        for found in walk(self.root):
            seen.add(found.path)
            if known.get(found.path) == (found.mtime_ns, found.size):
                counts.unchanged += 1
            else:
                todo.append(found)
        counts.files_total = len(todo)
        self.progress(counts)
        counts.removed = self._remove_gone(set(known) - seen)
        self.known_paths = set(known)
        self._insert = None
        for batch in self._read(todo):
            self._write(batch, counts)
            counts.files_done += batch.files
            self.progress(counts)
        return counts

    def _known(self) -> dict[str, tuple[int, int]]:
        products = self.db.execute(select(ArchiveProduct.label_path, ArchiveProduct.label_mtime_ns,
                                          ArchiveProduct.label_size)
                                   .where(ArchiveProduct.dataset_id == self.dataset_id))
        problems = self.db.execute(select(ArchiveLabelProblem.path, ArchiveLabelProblem.mtime_ns,
                                          ArchiveLabelProblem.size)
                                   .where(ArchiveLabelProblem.dataset_id == self.dataset_id))
        known = {path: (mtime, size) for path, mtime, size in products}
        known.update({path: (mtime, size) for path, mtime, size in problems})
        return known

    def _remove_gone(self, gone: set[str]) -> int:
        removed = 0
        paths = sorted(gone)
        for start in range(0, len(paths), 500):
            chunk = paths[start:start + 500]
            removed += self.db.execute(delete(ArchiveProduct).where(ArchiveProduct.dataset_id == self.dataset_id,
                                                                    ArchiveProduct.label_path.in_(chunk))).rowcount
            self.db.execute(delete(ArchiveLabelProblem).where(ArchiveLabelProblem.dataset_id == self.dataset_id,
                                                              ArchiveLabelProblem.path.in_(chunk)))
        self.db.commit()
        return removed

    def _read(self, todo: list[FoundFile]) -> Iterator[Batch]:
        batches = [todo[i:i + BATCH] for i in range(0, len(todo), BATCH)]
        args = (str(self.root),)
        if self.workers <= 1 or len(batches) <= 1:
            for batch in batches:
                yield _read_batch(*args, batch, self.dataset_id, self.volume)
            return
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=get_context("fork")) as pool:
            futures = [pool.submit(_read_batch, *args, batch, self.dataset_id, self.volume) for batch in batches]
            for future in futures:
                yield future.result()

    def _insert_products(self):
        """INSERT with the JSON columns bound as the text the workers wrote (cast to JSONB on PostgreSQL)."""
        table = ArchiveProduct.__table__
        postgres = self.db.get_bind().dialect.name == "postgresql"
        values = {}
        for column in table.columns:
            if column.name == "id":
                continue
            if column.name in ("attributes", "units", "files"):
                text_value = bindparam(column.name, type_=Text)
                values[column.name] = cast(text_value, JSONB) if postgres and column.name == "attributes" else (
                    cast(text_value, JSON_TYPE) if postgres else text_value)
            else:
                values[column.name] = bindparam(column.name, type_=column.type)
        return table.insert().values(values)

    def _write(self, batch: Batch, counts: ScanCounts) -> None:
        problems = [{"dataset_id": self.dataset_id, "path": found.path, "reason": str(reason)[:2000], "line": line,
                     "column": column, "mtime_ns": found.mtime_ns, "size": found.size, "scanned_at": utcnow()}
                    for found, reason, line, column in batch.problems]
        paths = [row["label_path"] for row in batch.products] + [row["path"] for row in problems]
        if paths and self.known_paths.intersection(paths):  # a changed file replaces what was recorded for it
            counts.replaced += self.db.execute(delete(ArchiveProduct).where(
                ArchiveProduct.dataset_id == self.dataset_id, ArchiveProduct.label_path.in_(paths))).rowcount
            self.db.execute(delete(ArchiveLabelProblem).where(ArchiveLabelProblem.dataset_id == self.dataset_id,
                                                              ArchiveLabelProblem.path.in_(paths)))
        if batch.products:
            if self._insert is None:
                self._insert = self._insert_products()
            self.db.execute(self._insert, batch.products)
        if problems:
            self.db.execute(insert(ArchiveLabelProblem), problems)
        self.db.commit()
        counts.indexed += len(batch.products)
        counts.problems += len(problems)
        counts.types.update(batch.types)
        counts.units.update(batch.units)
