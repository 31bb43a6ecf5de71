"""PDS3 label syntax: our hand-written parser against pvl (the oracle), on synthetic cases and real labels.

Where we deliberately differ from pvl (each difference is asserted below, not silently skipped):
- TRUE/FALSE stay the strings "TRUE"/"FALSE" (pvl: bool) - attribute types are int/float/str/date/list.
- NULL stays the string "NULL" (pvl: None); N/A and UNK stay strings in both.
- Dates and times are ISO strings with type "date", written as in the label (day-of-year dates made
  calendar dates); pvl gives datetime objects. We compare the instants.
- Sets {A, B} are lists in label order (pvl: frozenset).
- A bare `KEY =` is an error (pvl's default parser stores a placeholder; its strict ODL parser rejects it).
- The latin-1 degree sign in broken/latin-1-degreesymb.pvl is read (pvl rejects the file).
- An END inside a still-open OBJECT of a detached label is skipped (Viking Orbiter EDR labels inline a
  ^STRUCTURE file with its own END): we read the whole label, pvl silently drops the rest.
"""

from __future__ import annotations

import datetime
import math
from pathlib import Path

import pytest

from datalabs.archive import pds3
from datalabs.archive.labels import LabelError, read_label

TESTDATA = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "pds"
SYNTAX = TESTDATA / "pds3" / "_syntax_cases_pvl"


def data_path(*parts: str) -> Path:
    path = TESTDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"test data not available: {path}")
    return path


def parse(text: str) -> pds3.Pds3Attributes:
    return pds3.parse(text)


# --- the oracle: pvl's reading, flattened as we flatten -----------------------------------------------

def pvl_flat(path: Path, **options) -> tuple[dict, dict]:
    import pvl

    attributes: dict = {}
    units: dict = {}
    repeated: set = set()

    def plain(value, name):
        if isinstance(value, pvl.collections.Quantity):
            units[name] = value.units
            return plain(value.value, name)
        if isinstance(value, (list, tuple)):
            return [plain(v, name) for v in value]
        if isinstance(value, frozenset):
            return sorted((plain(v, name) for v in value), key=repr)
        return value

    def walk(module, prefix):
        for key, value in module.items():
            if isinstance(value, (pvl.collections.PVLObject, pvl.collections.PVLGroup)):
                walk(value, f"{prefix}{key}.")
                continue
            name = prefix + key
            value = plain(value, name)
            if name in repeated:
                attributes[name].append(value)
            elif name in attributes:
                attributes[name] = [attributes[name], value]
                repeated.add(name)
            else:
                attributes[name] = value

    walk(pvl.load(str(path), **options), "")
    return attributes, units


def _instant(text: str, kind: type):
    text = text.replace("Z", "+00:00")
    if len(text) > 2 and text[-2] in "+-" and text[-1].isdigit():  # "+7" -> "+07:00"
        text = f"{text[:-2]}{text[-2]}0{text[-1]}:00"
    try:
        return kind.fromisoformat(text)
    except ValueError:
        return None


def same(ours, theirs) -> bool:
    """Our value equals pvl's, modulo the documented differences."""
    if isinstance(theirs, bool):
        return ours == ("TRUE" if theirs else "FALSE")
    if theirs is None:
        return ours == "NULL"
    if isinstance(theirs, (datetime.datetime, datetime.date, datetime.time)):
        instant = _instant(ours, type(theirs)) if isinstance(ours, str) else None
        if instant is None:
            return False
        if isinstance(theirs, datetime.date) and not isinstance(theirs, datetime.datetime):
            return instant == theirs
        return instant.replace(tzinfo=None) == theirs.replace(tzinfo=None) and (
            instant.utcoffset() in (None, theirs.utcoffset()))
    if isinstance(theirs, list):
        if not isinstance(ours, list) or len(ours) != len(theirs):
            return False
        if all(same(a, b) for a, b in zip(ours, theirs)):
            return True
        return sorted(map(repr, ours)) == sorted(map(repr, theirs))  # sets: pvl's order is not ours
    if isinstance(theirs, float):
        return isinstance(ours, float) and math.isclose(ours, theirs, rel_tol=1e-12)
    return type(ours) is type(theirs) and ours == theirs


def differences(path: Path) -> list[tuple]:
    label = read_label(path)
    theirs, their_units = pvl_flat(path)
    found = []
    for name in sorted(set(theirs) | set(label.attributes)):
        if name not in label.attributes:
            found.append(("missing", name))
        elif name not in theirs:
            found.append(("extra", name))
        elif not same(label.attributes[name], theirs[name]):
            found.append(("differs", name, label.attributes[name], theirs[name]))
    for name in set(their_units) | set(label.units):
        if their_units.get(name) != label.units.get(name):
            found.append(("unit", name, label.units.get(name), their_units.get(name)))
    return found


SYNTAX_CASES = sorted(p.name for p in SYNTAX.glob("*.lbl")) if SYNTAX.exists() else ["(no test data)"]
BROKEN_CASES = sorted(p.name for p in (SYNTAX / "broken").glob("*.lbl")) if SYNTAX.exists() else ["(none)"]


@pytest.mark.parametrize("name", SYNTAX_CASES)
def test_syntax_cases_read_as_pvl_reads_them(name: str) -> None:
    assert differences(data_path("pds3", "_syntax_cases_pvl", name)) == []


@pytest.mark.parametrize("name", BROKEN_CASES)
def test_broken_syntax_cases_are_rejected_by_us_and_by_pvl(name: str) -> None:
    import pvl

    path = data_path("pds3", "_syntax_cases_pvl", "broken", name)
    with pytest.raises(LabelError) as error:
        read_label(path)
    assert error.value.reason and error.value.line is not None and error.value.column is not None
    strict = pvl.parser.ODLParser(grammar=pvl.grammar.ODLGrammar(), decoder=pvl.decoder.ODLDecoder())
    with pytest.raises(Exception):
        pvl.load(str(path), parser=strict)


def test_broken_case_positions_match_pvl() -> None:
    # pvl's strict parser points at the same places (line, column)
    where = {"broken1.lbl": (3, 7), "broken3.lbl": (2, 6), "broken9.lbl": (3, 1), "broken10.lbl": (3, 1),
             "broken12.lbl": (3, 11), "broken16.lbl": (3, 18), "broken7.lbl": (5, 1)}
    for name, position in where.items():
        with pytest.raises(LabelError) as error:
            read_label(data_path("pds3", "_syntax_cases_pvl", "broken", name))
        assert (error.value.line, error.value.column) == position, name


def test_latin1_degree_sign_is_read_though_pvl_rejects_it() -> None:
    label = read_label(data_path("pds3", "_syntax_cases_pvl", "broken", "latin-1-degreesymb.pvl"))
    assert label.attributes["NOTE"].endswith("angles in degree[\N{DEGREE SIGN}]")


def real_pds3_labels() -> list[Path]:
    if not TESTDATA.exists():
        return []
    from datalabs.archive.labels import label_kind

    labels = [p for p in sorted((TESTDATA / "pds3").glob("*/*"))
              if p.parent.name != "_syntax_cases_pvl" and label_kind(p) in ("pds3", "pds3-attached")]
    # pvl needs about a second per OSIRIS label and the 35 share one template: three of them suffice
    osiris = [p for p in labels if p.parent.name == "rosetta_osiris_nac"]
    return [p for p in labels if p not in osiris] + osiris[:: max(1, len(osiris) // 2)][:3]


# pvl cannot read these at all (AppleSingle-wrapped catalogue file); we read them
PVL_CANNOT_READ = {"MDIS_CDR_DS.CAT"}
# where our reading is richer than pvl's, by design (see the module docstring)
READ_FURTHER_THAN_PVL = {"f004a47_pds3.lbl"}


@pytest.mark.parametrize("path", real_pds3_labels() or [None], ids=lambda p: p.name if p else "no-data")
def test_real_labels_read_as_pvl_reads_them(path: Path | None) -> None:
    if path is None:
        pytest.skip("test data not available")
    if path.name in PVL_CANNOT_READ:
        assert read_label(path).attributes
        return
    found = differences(path)
    if path.name in READ_FURTHER_THAN_PVL:
        assert found and all(kind == "extra" and name.startswith(("ENGINEERING_TABLE", "LINE_HEADER_TABLE",
                                                                   "IMAGE"))
                             for kind, name, *_ in found)
        return
    assert found == []


def test_viking_label_with_an_inlined_structure_file_is_read_to_its_end() -> None:
    label = read_label(data_path("pds3", "viking_orbiter", "f004a47_pds3.lbl"))
    names = label.attributes["ENGINEERING_TABLE.ENGINEERING_TABLE_STRUCTURE.COLUMN.NAME"]
    assert isinstance(names, list) and len(names) > 10


# --- values -------------------------------------------------------------------------------------------

def test_values_are_typed() -> None:
    parsed = parse('PDS_VERSION_ID = PDS3\r\nA = 12\r\nB = -1.5E-3\r\nC = 16#FF#\r\nD = "N/A"\r\nE = N/A\r\n'
                   "F = UNK\r\nG = NULL\r\nH = 'SYM BOL'\r\nI = 2014-259T01:19:18.308Z\r\n"
                   "J = 1990-07-04\r\nK = 12.5 <KM>\r\nL = (1 <km>, 2 <km>)\r\nM = ((1, 2), (3, 4))\r\n"
                   "N = {A, B}\r\nO = 2#1010#\r\nP = 31459e1\r\nEND\r\n")
    a, t, u = parsed.attributes, parsed.types, parsed.units
    assert (a["A"], t["A"]) == (12, "int")
    assert (a["B"], t["B"]) == (-0.0015, "float")
    assert (a["C"], t["C"]) == (255, "int")
    assert a["D"] == a["E"] == "N/A" and t["E"] == "str"
    assert (a["F"], a["G"], a["H"]) == ("UNK", "NULL", "SYM BOL")
    assert (a["I"], t["I"]) == ("2014-09-16T01:19:18.308Z", "date")
    assert (a["J"], t["J"]) == ("1990-07-04", "date")
    assert (a["K"], u["K"]) == (12.5, "KM")
    assert (a["L"], u["L"], t["L"]) == ([1, 2], "km", "list")
    assert a["M"] == [[1, 2], [3, 4]]
    assert a["N"] == ["A", "B"]
    assert a["O"] == 10 and a["P"] == 314590.0


def test_structure_paths_repeats_pointers_and_comments() -> None:
    text = """PDS_VERSION_ID = PDS3 /* a comment */
/* a comment
   over two lines */
^TABLE = ("DATA.TAB", 5 <BYTES>)
Object = TABLE
  ROWS = 3
  OBJECT = COLUMN
    NAME = "A"
  END_OBJECT = COLUMN
  OBJECT = COLUMN
    NAME = "B"
    ROSETTA:UNIT_NAME = "km"
  End_Object
  GROUP = G
    X = 1
  END_GROUP = G
END_OBJECT = TABLE
DESCRIPTION = "A long text that goes
    over several    lines, with a hyphen-
    ated word."
end
binary garbage after END is never read \x00\xff
"""
    parsed = parse(text)
    a = parsed.attributes
    assert a["^TABLE"] == ["DATA.TAB", 5] and parsed.units["^TABLE"] == "BYTES"
    assert parsed.pointers == ["^TABLE"] and parsed.objects == ["TABLE"]
    assert a["TABLE.ROWS"] == 3
    assert a["TABLE.COLUMN.NAME"] == ["A", "B"] and parsed.types["TABLE.COLUMN.NAME"] == "list"
    assert a["TABLE.COLUMN.ROSETTA:UNIT_NAME"] == "km"
    assert a["TABLE.G.X"] == 1
    assert a["DESCRIPTION"] == "A long text that goes over several lines, with a hyphenated word."
    assert parsed.ended


@pytest.mark.parametrize("text, reason, line, column", [
    ("A = 1\nOBJECT = IMAGE\n  B = 2\nEND\n", "OBJECT = IMAGE is never closed", 2, 1),
    ("A = 1\nOBJECT = IMAGE\n  B = 2\n", "OBJECT = IMAGE is never closed", 2, 1),
    ("A = 1\nEND_OBJECT = IMAGE\nEND\n", "END_OBJECT without an open OBJECT", 2, 1),
    ("OBJECT = IMAGE\nEND_GROUP = IMAGE\nEND\n", "END_GROUP closes OBJECT = IMAGE", 2, 1),
    ("OBJECT = IMAGE\nEND_OBJECT = TABLE\nEND\n", "END_OBJECT = TABLE closes OBJECT = IMAGE", 2, 14),
    ('A = 1\nB = "never closed\nC = 2\nEND\n', "quoted string of 'B' is never closed", 2, 5),
    ("A = 1\nB = (1, 2\nEND\n", "never closed", 2, 5),
    ("A = 1\nB = \nEND\n", "'B' has no value (found END)", 3, 1),
    ("A = 1\n  B = 1 2\nEND\n", "unexpected '2'", 2, 9),
    ("A = 1\nB = (1,, 2)\nEND\n", "comma", 2, 5),
    ("A = 1\n/* never closed\nEND\n", "comment that is never closed", 2, 1),
    ("A = 1\nB C\nEND\n", "'=' expected after 'B'", 2, 2),
])
def test_errors_say_what_and_where(text: str, reason: str, line: int, column: int) -> None:
    with pytest.raises(pds3.Pds3SyntaxError) as error:
        pds3.parse(text)
    assert reason in error.value.reason
    assert (error.value.line, error.value.column) == (line, column)


def test_attached_label_stops_at_end_even_inside_an_open_object(tmp_path: Path) -> None:
    image = tmp_path / "X.IMG"
    image.write_bytes(b"PDS_VERSION_ID = PDS3\r\nOBJECT = IMAGE\r\nEND\x00\x01binary")
    with pytest.raises(LabelError) as error:
        read_label(image)
    assert "OBJECT = IMAGE is never closed" in str(error.value)
    assert str(error.value).endswith("(line 2, column 1)")


def test_caches_never_share_lists_between_labels() -> None:
    first = pds3.parse("A = (1, 2, 3)\nEND\n").attributes["A"]
    first.append(4)
    assert pds3.parse("A = (1, 2, 3)\nEND\n").attributes["A"] == [1, 2, 3]
