"""The core fields every product has (identifier, data set, mission, instrument, target, times, level,
class, files), taken from a parsed PDS3 or PDS4 label, so that the two formats can be searched alike.

Where each comes from:

| field            | PDS3                                                    | PDS4                                   |
|------------------|---------------------------------------------------------|----------------------------------------|
| identifier       | PRODUCT_ID, else the label file's stem                  | logical_identifier::version_id         |
| data_set         | DATA_SET_ID                                             | the LID minus its last field (the      |
|                  |                                                         | collection); a collection: its own LID |
| mission          | MISSION_NAME, MISSION_ID, INSTRUMENT_HOST_NAME,         | Investigation_Area/name                |
|                  | SPACECRAFT_NAME (first present)                         |                                        |
| instrument       | INSTRUMENT_ID, INSTRUMENT_NAME                          | Observing_System_Component of type     |
|                  |                                                         | Instrument: name                       |
| target           | TARGET_NAME                                             | Target_Identification/name             |
| start/stop_time  | START_TIME / STOP_TIME                                  | Time_Coordinates/start|stop_date_time  |
| processing_level | PROCESSING_LEVEL_ID, else the CODMAC level written in   | Primary_Result_Summary/                |
|                  | DATA_SET_ID (MRO-M-CTX-2-EDR-... -> "2")                 | processing_level (or _id)              |
| product_class    | PRODUCT_TYPE, else the first top-level OBJECT           | the root element                       |
| files            | file names of the ^POINTERs (not the file itself for an | File_Area_*/File/file_name, and        |
|                  | attached label)                                         | Document_File/file_name                |

PDS3 keywords are looked up at the top level first (any case), then anywhere (catalogue files keep
them inside DATA_SET objects). Several values (a set of targets) are joined with ", ". Times are ISO 8601
with the precision written, day-of-year dates made calendar dates, and "Z" added when no zone is given
(PDS times are UTC); N/A, UNK and the like give None.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

from datalabs.archive.pds3 import Pds3Attributes
from datalabs.archive.pds4 import Pds4Attributes

_UNKNOWN = {"", "N/A", "UNK", "NULL", "UNKNOWN", "NONE", "TBD"}
_TIME = re.compile(r"(\d{4})-(?:(\d{2})-(\d{2})|(\d{3}))"  # calendar or day-of-year date
                   r"(?:T(\d{2}(?::\d{2}(?::\d{2}(?:\.\d*)?)?)?)(Z|[+-]\d{1,2}(?::?\d{2})?)?)?\Z")
_CODMAC = re.compile(r"[^-]+-[^-]+-[^-]+-(\d(?:/\d)?)-")


def iso_time(value: object) -> str | None:
    """A label time as ISO 8601: `2014-259T01:19:18.308` -> `2014-09-16T01:19:18.308Z`."""
    if not isinstance(value, str):
        return None
    match = _TIME.match(value.strip())
    if not match:
        return None
    year, month, day, day_of_year, clock, zone = match.groups()
    if day_of_year is not None:
        if not 1 <= int(day_of_year) <= 366:
            return None
        calendar = date(int(year), 1, 1) + timedelta(days=int(day_of_year) - 1)
        day_part = calendar.isoformat()
    else:
        day_part = f"{year}-{month}-{day}"
    if clock is None:
        return day_part
    return f"{day_part}T{clock}{zone or 'Z'}"


def _text(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(t for t in (_text(v) for v in value) if t)
    if value is None:
        return ""
    text = str(value).strip()
    return "" if text.upper() in _UNKNOWN else text


# --- PDS3 ---------------------------------------------------------------------------------------------

def pds3_core(parsed: Pds3Attributes, path: Path, attached: bool) -> dict[str, object]:
    attributes = parsed.attributes
    upper: dict[str, str] = {}

    def first(*keys: str) -> object:
        for key in keys:
            if key in attributes:
                return attributes[key]
        if not upper:  # labels written in mixed case (pDS_VERSION_ID, Product_Id), or nested keys
            for name in attributes:
                short = name.rpartition(".")[2].upper()
                if "." not in name:
                    upper[short] = name
                else:
                    upper.setdefault("." + short, name)
        for key in keys:
            if key in upper:
                return attributes[upper[key]]
        for key in keys:
            if "." + key in upper:
                return attributes[upper["." + key]]
        return None

    def text(*keys: str) -> str:
        for key in keys:  # the first key that has a real value, not the first one present
            found = _text(first(key))
            if found:
                return found
        return ""

    data_set = text("DATA_SET_ID")
    level = text("PROCESSING_LEVEL_ID")
    if not level and data_set:
        codmac = _CODMAC.match(data_set.split(",")[0])
        level = codmac.group(1) if codmac else ""
    start, stop = first("START_TIME"), first("STOP_TIME")
    return {
        "identifier": text("PRODUCT_ID") or path.stem,
        "data_set": data_set,
        "mission": text("MISSION_NAME", "MISSION_ID", "INSTRUMENT_HOST_NAME", "SPACECRAFT_NAME"),
        "instrument": text("INSTRUMENT_ID", "INSTRUMENT_NAME"),
        "target": text("TARGET_NAME"),
        "start_time": iso_time(start[0] if isinstance(start, list) and start else start),
        "stop_time": iso_time(stop[-1] if isinstance(stop, list) and stop else stop),
        "processing_level": level,
        "product_class": text("PRODUCT_TYPE") or (parsed.objects[0] if parsed.objects else ""),
        "files": _pointer_files(parsed, path if attached else None),
    }


def _pointer_files(parsed: Pds3Attributes, own_file: Path | None) -> list[str]:
    """The file names the ^POINTERs give, in label order, once each; the attached label's own file is
    left out (its pointers give record or byte offsets into itself, or sometimes its own name)."""
    own = own_file.name.lower() if own_file is not None else None
    files: list[str] = []

    def collect(value: object) -> None:
        if isinstance(value, str):
            name = value.strip()
            if name and name.upper() not in _UNKNOWN and name.lower() != own and name not in files:
                files.append(name)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    for name in parsed.pointers:
        collect(parsed.attributes[name])
    return files


# --- PDS4 ---------------------------------------------------------------------------------------------

def pds4_core(parsed: Pds4Attributes) -> dict[str, object]:
    root = parsed.root
    identification = root.find("{*}Identification_Area")
    lid = " ".join(identification.findtext("{*}logical_identifier", "").split())
    vid = " ".join(identification.findtext("{*}version_id", "").split())
    fields = lid.split(":")
    if parsed.product_class == "Product_Bundle":
        data_set = ""
    elif parsed.product_class == "Product_Collection":
        data_set = lid
    else:
        data_set = ":".join(fields[:-1]) if len(fields) >= 6 else ""

    def texts(path: str) -> str:
        return ", ".join(dict.fromkeys(t for t in (_text(" ".join((e.text or "").split()))
                                                    for e in root.iterfind(path)) if t))

    instruments = []
    for component in root.iterfind(".//{*}Observing_System_Component"):
        if (component.findtext("{*}type") or "").strip().lower() == "instrument":
            name = " ".join(component.findtext("{*}name", "").split())
            if name and name not in instruments:
                instruments.append(name)
    files: list[str] = []
    for element in root.iter("{*}file_name"):
        parent = element.getparent()
        holder = parent.tag.rpartition("}")[2] if parent is not None else ""
        name = (element.text or "").strip()
        if holder in ("File", "Document_File") and name and name not in files:
            files.append(name)
    return {
        "identifier": f"{lid}::{vid}" if vid else lid,
        "data_set": data_set,
        "mission": texts(".//{*}Investigation_Area/{*}name"),
        "instrument": ", ".join(instruments),
        "target": texts(".//{*}Target_Identification/{*}name"),
        "start_time": iso_time(root.findtext(".//{*}Time_Coordinates/{*}start_date_time")),
        "stop_time": iso_time(root.findtext(".//{*}Time_Coordinates/{*}stop_date_time")),
        "processing_level": texts(".//{*}Primary_Result_Summary/{*}processing_level")
        or texts(".//{*}Primary_Result_Summary/{*}processing_level_id"),
        "product_class": parsed.product_class,
        "files": files,
    }
