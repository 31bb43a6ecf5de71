"""Scanning volumes of real PDS3/PDS4 labels: every attribute kept, typed, with units; rescans incremental;
broken labels recorded with the reason and position; plain data files never taken for labels."""

from __future__ import annotations

import re
import shutil

from sqlalchemy import select

from datalabs.archive.models import ArchiveAttribute, ArchiveLabelProblem, ArchiveProduct
from tests.archive.conftest import OSIRIS, SHARED_PDS, needs_shared

LABEL_SUFFIXES = (".lbl", ".xml", ".lblx", ".cat")
PDS3_HEAD = re.compile(rb"^\s*(PDS_VERSION_ID|ODL_VERSION_ID|CCSD3ZF)", re.I)


def _products(db, volume_id=None):
    query = select(ArchiveProduct)
    if volume_id is not None:
        query = query.where(ArchiveProduct.dataset_id == volume_id)
    return {p.label_path: p for p in db.scalars(query)}


def test_osiris_labels_are_indexed_with_every_attribute_typed_and_with_units(scan_volume, db):
    needs_shared()
    scan = scan_volume("osiris", OSIRIS)
    assert scan.state == "completed" and scan.problems == 0
    products = _products(db)
    labels = sorted(p.name for p in OSIRIS.glob("*.LBL"))
    assert sorted(products) == labels  # the CSV next to them is not a label
    product = products["N20140916T011808794ID30F16.LBL"]
    assert product.identifier == "N20140916T011808794ID30F16.FIT"
    assert product.data_set == "RO-C-OSINAC-3-PRL-67PCHURYUMOV-M07-V3.0"
    assert product.instrument == "OSINAC" and product.label_format == "PDS3"
    assert product.start_time.startswith("2014-09-16T01:19:18.308")
    assert product.datalabs_path == "/media/data/osiris/N20140916T011808794ID30F16.LBL"
    attributes = product.attributes
    assert attributes["IMAGE_POI.ROSETTA:SURF_INT_CART_COORD"] == [-1.516, 0.23, -0.179]
    assert product.units["IMAGE_POI.ROSETTA:SURF_INT_CART_COORD"].lower() == "km"
    assert attributes["PHASE_ANGLE"] == 77.1654 and product.units["PHASE_ANGLE"].lower() == "deg"
    assert attributes["SC_COORDINATE_SYSTEM.COORDINATE_SYSTEM_NAME"] == "S/C-COORDS"
    assert len(attributes) > 150  # every attribute, not a chosen few
    catalogue = {a.name: a for a in db.scalars(select(ArchiveAttribute))}
    assert catalogue["PHASE_ANGLE"].datatype == "float" and catalogue["PHASE_ANGLE"].unit.lower() == "deg"
    assert catalogue["START_TIME"].datatype == "date"
    assert catalogue["IMAGE_POI.ROSETTA:SURF_INT_CART_COORD"].datatype == "list"
    assert catalogue["PRODUCT_ID"].count == len(labels)


def test_rescans_skip_unchanged_files_and_follow_changes(scan_volume, db, tmp_path):
    needs_shared()
    volume = tmp_path / "osiris-copy"
    shutil.copytree(OSIRIS, volume)
    for path in volume.iterdir():
        path.chmod(0o644)
    first = scan_volume("copy", volume)
    assert first.indexed == 35
    again = scan_volume("copy", volume)
    assert (again.indexed, again.unchanged, again.removed, again.problems) == (0, 35, 0, 0)

    changed = volume / "N20140916T011808794ID30F16.LBL"
    changed.write_text(changed.read_text().replace("77.16540 <deg>", "12.5 <deg>"))
    (volume / "N20141106T121935770ID30F22.LBL").unlink()
    (volume / "BROKEN.LBL").write_text('PDS_VERSION_ID = PDS3\nOBJECT = IMAGE\n  LINES = 12\nEND\n')
    third = scan_volume("copy", volume)
    assert (third.indexed, third.removed, third.problems) == (1, 1, 1)
    db.expire_all()
    products = _products(db)
    assert products["N20140916T011808794ID30F16.LBL"].attributes["PHASE_ANGLE"] == 12.5
    assert "N20141106T121935770ID30F22.LBL" not in products
    problem = db.scalars(select(ArchiveLabelProblem)).one()
    assert problem.path == "BROKEN.LBL" and problem.reason and problem.line is not None
    assert "BROKEN.LBL" not in products


def test_every_shared_label_is_indexed_or_recorded_and_no_data_file_is_taken_for_a_label(scan_volume, db):
    needs_shared()
    scan = scan_volume("pds", SHARED_PDS, workers=2)
    assert scan.state == "completed"
    products = _products(db)
    problems = {p.path: p for p in db.scalars(select(ArchiveLabelProblem))}
    assert len(products) > 100
    for path, product in products.items():
        if path.lower().endswith(LABEL_SUFFIXES):
            continue
        head = (SHARED_PDS / path).read_bytes()[:64]
        assert PDS3_HEAD.match(head), f"{path} was indexed as a label but is a data file"
    for path, problem in problems.items():
        assert problem.reason, path
    # every detached label of the test data is either a product or a recorded problem
    for label in SHARED_PDS.rglob("*"):
        if label.is_file() and label.suffix.lower() in (".lbl", ".lblx"):
            relative = label.relative_to(SHARED_PDS).as_posix()
            assert relative in products or relative in problems, relative
