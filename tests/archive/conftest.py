"""Archive fixtures: volumes made of the shared real PDS labels, scanned.

- ``SHARED_PDS``: ../shared/testdata/pds (tests needing it skip when it is absent).
- ``scan_volume(name, path, private=False, teams=(), mapping=None, workers=2)``: register PATH as an archive
  volume (unless registered) and scan it as the CLI does; returns the finished ArchiveScan.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from datalabs.archive.service import ArchiveService
from datalabs.storage.datasets import DatasetService

SHARED_PDS = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "pds"
OSIRIS = SHARED_PDS / "pds3" / "rosetta_osiris_nac"
OSIRIS_MAPPING = Path(__file__).resolve().parents[2] / "examples" / "archive" / "osiris.yml"


def needs_shared():
    if not SHARED_PDS.is_dir():
        pytest.skip("../shared/testdata is not here (it exists in development and CI only)")


@pytest.fixture
def scan_volume(session_factory):
    def scan(name: str, path: Path, *, private: bool = False, teams=(), mapping: str | None = None,
             workers: int = 2):
        with session_factory() as db:
            datasets = DatasetService(db)
            if datasets.repo.by_name(name) is None:
                datasets.register(name, path, private=private, teams=list(teams))
            service = ArchiveService(db)
            scan = service.run_scan(service.begin_scan(name, None), workers=workers)
            if mapping:
                service.define_tables(mapping, None)
            db.expunge(scan)
            return scan

    return scan
