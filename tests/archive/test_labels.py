"""Finding and reading labels on a volume: classification of every test file, reading every label without
anything but LabelError, the OSIRIS oracle values, and data files that must never pass for labels."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from datalabs.archive.labels import Label, LabelError, label_kind, read_label

TESTDATA = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "pds"
OSIRIS = TESTDATA / "pds3" / "rosetta_osiris_nac"

# SOURCES.md says what each file is; that is our oracle for classification
EXPECTED_KIND = {"PDS3 label": "pds3", "PDS3 catalog": "pds3", "PDS3 attached label+data": "pds3-attached",
                 "PDS4 label": "pds4", "data file": None}


def sources() -> dict[Path, str]:
    if not TESTDATA.exists():
        pytest.skip("test data not available")
    table = {}
    for line in (TESTDATA / "SOURCES.md").read_text().splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.split("|")]
            table[TESTDATA / cells[1].strip("`")] = cells[2]
    return table


def test_every_test_file_is_classified_as_sources_md_says() -> None:
    table = sources()
    files = [p for p in TESTDATA.rglob("*") if p.is_file() and p.name != "SOURCES.md"]
    assert set(files) == set(table)
    wrong = {}
    for path, kind in table.items():
        if kind == "syntax-case":
            # synthetic ODL cases: .lbl files are detached labels; the one .pvl starts with PDS_VERSION_ID
            expected = "pds3" if path.suffix == ".lbl" else "pds3-attached"
        else:
            expected = EXPECTED_KIND[kind]
        if label_kind(path) != expected:
            wrong[str(path.relative_to(TESTDATA))] = (label_kind(path), expected)
    assert wrong == {}
    assert label_kind(TESTDATA / "SOURCES.md") is None


def test_classification_from_the_given_head_matches_reading_the_file() -> None:
    for path in sources():
        with open(path, "rb") as stream:
            head = stream.read(1024)
        assert label_kind(path, head) == label_kind(path), path


def test_every_label_is_read_or_refused_with_a_reason() -> None:
    read, refused = 0, {}
    for path in sources():
        if label_kind(path) is None:
            continue
        try:
            label = read_label(path)
        except LabelError as error:
            assert error.reason
            refused[path.name] = str(error)
            continue
        read += 1
        assert isinstance(label, Label) and label.format in ("PDS3", "PDS4") and label.identifier
        json.dumps(label.attributes)  # the scanner stores them in a JSON column
        assert set(label.types) == set(label.attributes)
        assert set(label.units) <= set(label.attributes)
        assert set(label.types.values()) <= {"int", "float", "str", "date", "list"}
    # the only refusals are the intentionally broken syntax cases
    assert set(refused) == {f"broken{n}.lbl" for n in range(1, 17)}, refused
    assert read > 150


def test_data_files_are_never_labels() -> None:
    for path, kind in sources().items():
        if kind == "data file":
            assert label_kind(path) is None, path
            with pytest.raises(LabelError):
                read_label(path)


@pytest.mark.parametrize("name, content", [
    ("plain.IMG", bytes(range(256)) * 8),
    ("image.FIT", b"SIMPLE  =                    T / conforms to FITS standard" + b" " * 2000),
    ("image.fits", b"SIMPLE  =                    T" + b" " * 2000),
    ("table.csv", b"PDS_VERSION_ID,value\n1,2\n"),
    ("table.TAB", b"  1 2009-06-30T08:34:35.653371 2009 180.35\r\n"),
    ("schema.xsd", b'<?xml version="1.0"?><xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>'),
    ("rules.sch", b'<?xml version="1.0"?><sch:schema xmlns:sch="http://purl.oclc.org/dsdl/schematron"/>'),
    ("browse.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 100),
    ("browse.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100),
    ("._N2014.LBL", b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 100),  # AppleDouble
    ("vicar.lbl", b"LBLSIZE=3144            FORMAT='BYTE'  TYPE='IMAGE'"),
    ("vicar.img", b"LBLSIZE=3144            FORMAT='BYTE'  TYPE='IMAGE'"),
    ("isis.cub", b"Object = IsisCube\n  Object = Core\n"),
    ("AAREADME.TXT", b"PDS_VERSION_ID = PDS3\r\nOBJECT = TEXT\r\nEND_OBJECT = TEXT\r\nEND\r\n"),
    ("notes.ASC", b"PDS_VERSION_ID = PDS3\r\nEND\r\n"),
    ("empty.dat", b""),
    ("binary.lbl", b"\x00\x01\x02PDS_VERSION_ID = PDS3"),
])
def test_plain_files_are_not_labels(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert label_kind(path) is None
    with pytest.raises(LabelError, match="not a PDS3 or PDS4 label"):
        read_label(path)


@pytest.mark.parametrize("head", [
    b"PDS_VERSION_ID = PDS3\r\n", b"  \r\n pds_version_id=PDS3", b"ODL_VERSION_ID = ODL3\n",
    b"CCSD3ZF0000100000001NJPL3IF0PDS200000001 = SFDU_LABEL\r\n",
])
def test_attached_labels_are_found_by_their_first_bytes(tmp_path: Path, head: bytes) -> None:
    path = tmp_path / "DATA.QUB"
    path.write_bytes(head)
    assert label_kind(path) == "pds3-attached"
    assert label_kind(tmp_path / "other.dat", head) == "pds3-attached"


def test_attached_label_does_not_list_its_own_file(tmp_path: Path) -> None:
    path = tmp_path / "FRAME.IMG"
    label = (b"PDS_VERSION_ID = PDS3\r\nRECORD_BYTES = 64\r\n^IMAGE_HEADER = (\"FRAME.IMG\", 2)\r\n"
             b"^IMAGE = 3\r\n^TABLE = \"EXTRA.TAB\"\r\nOBJECT = IMAGE\r\n  LINES = 2\r\nEND_OBJECT = IMAGE\r\n"
             b"End")
    path.write_bytes(label + b"\x00\xff\xfe" * 30000 + b"\r\nEND\r\n")  # a false END far in the data
    read = read_label(path)
    assert read.files == ["EXTRA.TAB"]
    assert read.attributes["^IMAGE"] == 3 and read.attributes["^IMAGE_HEADER"] == ["FRAME.IMG", 2]
    assert read.identifier == "FRAME" and read.product_class == "IMAGE"


def test_real_attached_labels_end_at_their_end_statement() -> None:
    marci = TESTDATA / "pds3" / "mro_marci" / "MOI_000009_0294_MU_00N044W_cropped.IMG"
    if not marci.exists():
        pytest.skip("test data not available")
    label = read_label(marci)  # ISIS-written: `End` followed directly by binary data
    assert label.format == "PDS3" and label.attributes["IMAGE.LINES"] == 100
    assert label.attributes["^IMAGE"] == 1368 and label.units["^IMAGE"] == "BYTES"
    assert label.files == []


def test_apple_single_catalogue_file_is_read() -> None:
    path = TESTDATA / "pds3" / "messenger_mdis" / "MDIS_CDR_DS.CAT"
    if not path.exists():
        pytest.skip("test data not available")
    label = read_label(path)
    assert label.attributes["DATA_SET.DATA_SET_ID"] == "MESS-E/V/H-MDIS-4-CDR-CALDATA-V1.0"
    assert label.data_set == "MESS-E/V/H-MDIS-4-CDR-CALDATA-V1.0" and label.product_class == "DATA_SET"


# --- OSIRIS: the osiris_zoo notebook's values are the oracle ------------------------------------------

def osiris_expected() -> list[dict[str, str]]:
    path = OSIRIS / "expected_values_osiris_zoo.csv"
    if not path.exists():
        pytest.skip("test data not available")
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def test_osiris_values_match_the_osiris_zoo_notebook() -> None:
    rows = osiris_expected()
    assert len(rows) == 12
    for row in rows:
        label = read_label(OSIRIS / row["filename"])
        a = label.attributes
        assert label.identifier == a["PRODUCT_ID"] == row["prod_id"]
        assert label.data_set == a["DATA_SET_ID"] == row["dataset"]
        assert a["MISSION_ID"] == row["mission_id"]
        assert label.instrument == a["INSTRUMENT_ID"] == row["instr_id"]
        assert label.start_time == row["start_time"].replace(" ", "T") + "Z"
        assert label.stop_time == row["stop_time"].replace(" ", "T") + "Z"
        assert a["START_TIME"] == row["start_time"].replace(" ", "T") and label.types["START_TIME"] == "date"
        surface = a["IMAGE_POI.ROSETTA:SURF_INT_CART_COORD"]
        assert isinstance(surface, list) and len(surface) == 3 and all(isinstance(v, float) for v in surface)
        assert surface == pytest.approx([float(row[f"surf_int_{axis}"]) for axis in "xyz"])
        assert label.units["IMAGE_POI.ROSETTA:SURF_INT_CART_COORD"] == "km"
        assert a["IMAGE_POI.ROSETTA:SURFACE_INTERCEPT_DISTANCE"] == pytest.approx(float(row["distance"]))
        assert a["SPACECRAFT_ALTITUDE"] == pytest.approx(float(row["sc_altitude"]))
        assert a["PHASE_ANGLE"] == pytest.approx(float(row["phase_angle"]))
        assert a["SC_TARGET_POSITION_VECTOR"] == pytest.approx(
            [float(row[f"sc_position_{axis}"]) for axis in "xyz"])
        assert a["SUB_SPACECRAFT_LATITUDE"] == pytest.approx(float(row["sub_sc_lat"]))
        assert a["SUB_SPACECRAFT_LONGITUDE"] == pytest.approx(float(row["sub_sc_lon"]))
        assert label.mission == "INTERNATIONAL ROSETTA MISSION"
        assert label.processing_level == "3" and label.product_class == "RDR"
        assert label.files == [row["prod_id"]]  # ^HEADER and ^IMAGE both point into the FIT file


def test_osiris_labels_without_surface_intercept_keep_na() -> None:
    osiris_expected()
    found = 0
    for path in sorted(OSIRIS.glob("*.LBL")):
        value = read_label(path).attributes.get("IMAGE_POI.ROSETTA:SURF_INT_CART_COORD")
        if value == "N/A":
            found += 1
    assert found > 0


def test_label_error_text_gives_the_position() -> None:
    assert str(LabelError("bad value", 3, 7)) == "bad value (line 3, column 7)"
    assert str(LabelError("no END", 4)) == "no END (line 4)"
    assert str(LabelError("unreadable")) == "unreadable"
