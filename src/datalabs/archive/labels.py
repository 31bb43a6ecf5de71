"""Finding and reading PDS labels: which files are labels (`label_kind`) and what one says (`read_label`).

The volume scanner calls these from worker processes for every file of a volume, so `label_kind` decides
from the name and the first bytes only, and never takes a plain data file for a label; `read_label` raises
`LabelError` (and nothing else) for a file it cannot read, so one bad label never stops a scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from datalabs.archive import core_fields, pds3, pds4


@dataclass
class Label:
    """One label, flattened: every attribute with its typed value, plus the core fields every product
    has (see `core_fields` for where each comes from)."""

    format: str  # "PDS3" | "PDS4"
    attributes: dict[str, object]  # flattened name -> int | float | str | list of those (JSON-ready)
    units: dict[str, str]  # attribute name -> unit, only for attributes that carry one
    types: dict[str, str]  # attribute name -> "int" | "float" | "str" | "date" | "list"
    identifier: str  # PDS3 PRODUCT_ID (or the label file's stem); PDS4 "LID::VID"
    data_set: str = ""
    mission: str = ""
    instrument: str = ""
    target: str = ""
    start_time: str | None = None  # ISO 8601, UTC "Z" added when the label gives no zone
    stop_time: str | None = None
    processing_level: str = ""
    product_class: str = ""
    files: list[str] = field(default_factory=list)  # data files named by the label, relative to its folder


class LabelError(Exception):
    """The file looks like a label but cannot be read; `line`/`column` say where, when known."""

    def __init__(self, reason: str, line: int | None = None, column: int | None = None):
        self.reason, self.line, self.column = reason, line, column
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.line is None:
            return self.reason
        if self.column is None:
            return f"{self.reason} (line {self.line})"
        return f"{self.reason} (line {self.line}, column {self.column})"


# --- classification -----------------------------------------------------------------------------------

_HEAD_BYTES = 1024
_DETACHED_PDS3 = {".lbl", ".cat"}
_PDS4 = {".xml", ".lblx"}
# text documents carry attached PDS3 labels too, but they are documentation, not products
_NEVER = {".txt", ".asc", ".htm", ".html", ".pdf", ".fmt", ".csv", ".xsd", ".sch", ".jpg", ".png", ".gif"}
_PDS3_START = re.compile(rb"\s*(?:PDS_VERSION_ID|ODL_VERSION_ID)\s*=|\s*CCSD3ZF\w*PDS", re.IGNORECASE)
# what a detached label may start with: a statement (KEY =), a comment, or an OBJECT (catalogue files)
_STATEMENT_START = re.compile(rb"\s*(?:/\*|\^?[A-Za-z][A-Za-z0-9_:]*\s*=|END\s*\Z)", re.IGNORECASE)
_VICAR = re.compile(rb"\s*LBLSIZE\s*=")
_APPLE_SINGLE = b"\x00\x05\x16\x00"


def label_kind(path: Path, head: bytes | None = None) -> str | None:
    """"pds3" (detached PDS3 label), "pds3-attached" (a data file that starts with a PDS3 label), "pds4",
    or None (anything else). Reads at most the first KiB unless `head` (the file's first bytes) is given;
    a PDS4 label whose root tag lies further in (long xml-model preambles) is read a little further."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _NEVER:
        return None
    if head is None:
        try:
            with open(path, "rb") as stream:
                head = stream.read(_HEAD_BYTES)
        except OSError:
            return None
    if suffix in _PDS4:
        return "pds4" if pds4.is_pds4(head, path) else None
    head = _unwrap_apple_single(head)
    if suffix in _DETACHED_PDS3:
        if b"\x00" in head or _VICAR.match(head):
            return None
        if head.lstrip()[:1] == b"<":
            return "pds4" if pds4.is_pds4(head, path) else None
        if _PDS3_START.match(head) or _STATEMENT_START.match(head):
            return "pds3"
        return None
    if _PDS3_START.match(head):
        return "pds3-attached"
    return None


def _unwrap_apple_single(data: bytes) -> bytes:
    """The data fork of an AppleSingle file (a Macintosh file packed with its metadata, as found on old
    volumes, e.g. MESSENGER catalogue files), or `data` unchanged."""
    if not data.startswith(_APPLE_SINGLE) or len(data) < 26:
        return data
    entries = int.from_bytes(data[24:26], "big")
    for entry in range(entries):
        at = 26 + 12 * entry
        if at + 12 > len(data):
            break
        kind = int.from_bytes(data[at:at + 4], "big")
        if kind == 1:  # the data fork
            start = int.from_bytes(data[at + 4:at + 8], "big")
            size = int.from_bytes(data[at + 8:at + 12], "big")
            return data[start:start + size]
    return data


# --- reading ------------------------------------------------------------------------------------------

_CHUNK = 64 * 1024
_MAX_ATTACHED_LABEL = 16 * 1024 * 1024
# END alone on its line; in attached labels binary data may follow right after the word
_END_LINE = re.compile(rb"(?:^|[\r\n])[ \t]*END[ \t]*(?:[\r\n]|[^\x20-\x7e]|\Z)", re.IGNORECASE)


def read_label(path: Path) -> Label:
    """Reads a PDS3 or PDS4 label (detached or attached). Raises LabelError for anything unreadable."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:  # opened once: classification and reading share the first bytes
            first = stream.read(_CHUNK)
            kind = label_kind(path, first[:_HEAD_BYTES])
            if kind is None:
                raise LabelError(f"{path.name} is not a PDS3 or PDS4 label")
            if kind == "pds3-attached":
                data = _attached_label_bytes(stream, first)
            else:
                data = first + stream.read() if len(first) == _CHUNK else first
        if kind == "pds4":
            parsed4 = pds4.parse(data)
            return Label(format="PDS4", attributes=parsed4.attributes, units=parsed4.units,
                         types=parsed4.types, **core_fields.pds4_core(parsed4))
        attached = kind == "pds3-attached"
        data = _unwrap_apple_single(data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")  # never fails; PDS3 is ASCII and stray bytes sit in text only
        parsed = pds3.parse(text, detached=not attached)
        return Label(format="PDS3", attributes=parsed.attributes, units=parsed.units, types=parsed.types,
                     **core_fields.pds3_core(parsed, path, attached))
    except LabelError:
        raise
    except OSError as error:
        raise LabelError(f"cannot read {path.name}: {error.strerror or error}") from None
    except (pds3.Pds3SyntaxError, pds4.Pds4Error) as error:
        raise LabelError(error.reason, error.line, error.column) from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError, MemoryError) as error:
        # a bug or an input nobody foresaw: still one unreadable label, never a crashed scan
        raise LabelError(f"unreadable label ({type(error).__name__}: {error})") from None


def _attached_label_bytes(stream, data: bytes) -> bytes:
    """The label at the top of a data file: read in chunks up to the line that is just END."""
    searched_from = 0
    while True:
        end = _END_LINE.search(data, searched_from)
        if end:
            return data[:end.end()]
        if len(data) >= _MAX_ATTACHED_LABEL:
            raise LabelError(f"no END statement in the first {_MAX_ATTACHED_LABEL // (1024 * 1024)} MiB")
        chunk = stream.read(_CHUNK)
        if not chunk:
            return data  # a label to the end of the file (the parser says whether it is complete)
        searched_from = max(0, len(data) - 8)
        data += chunk
