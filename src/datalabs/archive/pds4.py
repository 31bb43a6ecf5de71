"""PDS4 (XML) labels: recognising one from its first bytes, and flattening one the way the PDS registry
does: every leaf element becomes `prefix:Class.prefix:attribute`, Class being its parent element.

Decisions (the tests hold them):
- Prefixes are the conventional ones of the PDS4 dictionaries, taken from the label's own xmlns
  declarations; `pds` for the common namespace (also when it is the default namespace); a namespace
  declared only as a default gets the last path segment before its version (`.../pds4/geom/v1` ->
  `geom`). Elements in no namespace at all (instrument-team labels such as CaSSIS raw framelets, whose
  root is a bare `Product_Observational`) are read as `pds:` elements: they are PDS4 classes written
  without their namespace.
- Numbers are converted only when written as plain numbers ("0001" and LIDs stay text), and never for
  identifiers, versions, checksums, references and names ("1.10" is a version, not 1.1).
- Empty leaf elements are left out, unless xsi:nil: then the value is the nilReason ("" if none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

PDS_NAMESPACE = "http://pds.nasa.gov/pds4/pds/v1"
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_MORE_HEAD = 64 * 1024  # how far to look for the root tag when the first KiB holds only the preamble


class Pds4Error(ValueError):
    """The XML is not well formed, or not a PDS4 product label (reason, line and column as known)."""

    def __init__(self, reason: str, line: int | None = None, column: int | None = None):
        super().__init__(reason)
        self.reason, self.line, self.column = reason, line, column


@dataclass
class Pds4Attributes:
    attributes: dict[str, object] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    root: etree._Element | None = None  # kept for the core fields (identification, files, ...)
    product_class: str = ""  # the root element's name, e.g. Product_Observational


# --- recognising --------------------------------------------------------------------------------------

_PROLOG = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)", re.S)
_ROOT = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)(\s[^>]*)?/?>", re.S)


def is_pds4(head: bytes, path: Path | None = None) -> bool:
    """The root element of this XML is a PDS4 product (`Product_*` in the PDS namespace, or in none)."""
    root = _root_tag(head)
    if root is None and path is not None and len(head) >= 1024:
        try:
            with open(path, "rb") as stream:
                root = _root_tag(stream.read(_MORE_HEAD))
        except OSError:
            return False
    if root is None:
        return False
    prefix, name, attributes = root
    if not name.startswith(b"Product_"):
        return False
    declaration = (rb"xmlns:" + re.escape(prefix)) if prefix else rb"xmlns"
    declared = re.search(declaration + rb"\s*=\s*[\"']([^\"']*)[\"']", attributes or b"")
    if declared is None:
        return not prefix  # no namespace at all: a PDS4 product written without it
    return declared.group(1).rstrip(b"/").replace(b"https:", b"http:") == PDS_NAMESPACE.encode()


def _root_tag(data: bytes) -> tuple[bytes | None, bytes, bytes | None] | None:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    position = 0
    while True:
        prolog = _PROLOG.match(data, position)
        if not prolog or prolog.end() == position:
            break
        position = prolog.end()
    while position < len(data) and data[position:position + 1].isspace():
        position += 1
    root = _ROOT.match(data, position)
    return (root.group(1), root.group(2), root.group(3)) if root else None


# --- reading ------------------------------------------------------------------------------------------

_INT = re.compile(r"[+-]?(?:0|[1-9]\d*)\Z")
_REAL = re.compile(r"[+-]?(?:(?:0|[1-9]\d*)\.\d*|\.\d+)(?:[eE][+-]?\d+)?\Z|[+-]?(?:0|[1-9]\d*)[eE][+-]?\d+\Z")
_DATE = re.compile(r"\d{4}-(?:\d{2}-\d{2}|\d{3})"
                   r"(?:T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?\Z")
_TEXT_NAMES = ("_id", "identifier", "checksum", "_reference", "version", "_name", "title", "description")


def _typed(text: str, local: str) -> tuple[object, str]:
    text = text.strip()
    if "\n" in text or "  " in text or "\t" in text or "\r" in text:
        return " ".join(text.split()), "str"
    if local.endswith(_TEXT_NAMES) or local == "name":
        return text, "date" if _DATE.match(text) else "str"
    if _INT.match(text):
        return int(text), "int"
    if _REAL.match(text):
        return float(text), "float"
    if _DATE.match(text):
        return text, "date"
    return text, "str"


def _parser() -> etree.XMLParser:
    # one per call: XMLParser objects must not be shared between threads, and making one costs microseconds
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                           remove_comments=True, remove_pis=True)


def parse(data: bytes) -> Pds4Attributes:
    """Flattens a PDS4 label. Raises Pds4Error for XML that is not well formed or not a PDS4 product."""
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as error:
        line, column = error.position if error.position else (error.lineno, None)
        message = re.sub(r", line \d+, column \d+$", "", error.msg or "syntax error")  # said once, by us
        raise Pds4Error(f"not well-formed XML: {message}", line, column) from None
    if root is None:
        raise Pds4Error("empty XML document")
    local = etree.QName(root).localname
    if not local.startswith("Product_"):
        raise Pds4Error(f"not a PDS4 product label: the root element is {local}", root.sourceline)
    identification = root.find("{*}Identification_Area")
    if identification is None:
        raise Pds4Error(f"PDS4 label has no Identification_Area under {local}", root.sourceline)
    lid = identification.find("{*}logical_identifier")
    if lid is None or not (lid.text or "").strip():
        raise Pds4Error("PDS4 label has no Identification_Area/logical_identifier", identification.sourceline)

    out = Pds4Attributes(root=root, product_class=local)
    attributes, units, types = out.attributes, out.units, out.types
    multi: set[str] = set()
    names: dict[object, str] = {}  # tag -> prefix:local
    for element in root.iter():
        tag = element.tag
        if not isinstance(tag, str) or len(element):
            continue  # entity references and the like; elements with child elements are classes
        if element.get(_XSI_NIL) in ("true", "1"):
            value, kind = element.get("nilReason") or "", "str"
        else:
            text = element.text
            if text is None or not text.strip():
                continue
            value, kind = _typed(text, tag.rpartition("}")[2])
        parent = element.getparent()
        own = names.get(tag) or _qualified(element, names)
        name = own if parent is None else f"{names.get(parent.tag) or _qualified(parent, names)}.{own}"
        unit = element.get("unit")
        if unit is not None and name not in units:
            units[name] = unit
        if name in attributes:
            if name in multi:
                attributes[name].append(value)
            else:
                attributes[name] = [attributes[name], value]
                multi.add(name)
                types[name] = "list"
        else:
            attributes[name] = value
            types[name] = kind
    return out


def _qualified(element: etree._Element, names: dict[object, str]) -> str:
    """`prefix:local` for an element's tag, remembered per label."""
    tag = element.tag
    namespace, _, local = tag[1:].partition("}") if tag[0] == "{" else ("", "", tag)
    if not namespace or namespace == PDS_NAMESPACE:
        prefix = "pds"
    else:
        declared = [p for p, uri in element.nsmap.items() if uri == namespace and p]
        prefix = declared[0] if declared else _conventional_prefix(namespace)
    names[tag] = f"{prefix}:{local}"
    return names[tag]


def _conventional_prefix(namespace: str) -> str:
    """`http://pds.nasa.gov/pds4/geom/v1` -> `geom`, `http://psa.esa.int/psa/v1` -> `psa`."""
    parts = [p for p in namespace.rstrip("/").split("/") if p]
    while parts and re.fullmatch(r"v\d+", parts[-1]):
        parts.pop()
    return parts[-1] if parts else namespace
