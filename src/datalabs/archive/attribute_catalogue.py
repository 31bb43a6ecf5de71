"""The attribute catalogue of a volume: each attribute name found in its labels with its type, its most
common unit and how many products carry it. Recomputed by the database from the stored JSON after each scan
(so it is right after incremental rescans too); "date" comes from the label readers, as JSON has no dates."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from datalabs.archive.models import ArchiveAttribute

_SQLITE_TYPES = """
SELECT j.key, j.type, count(*) FROM archive_products p, json_each(p.attributes) j
WHERE p.dataset_id = :dataset GROUP BY j.key, j.type
"""
_SQLITE_UNITS = """
SELECT j.key, j.value, count(*) FROM archive_products p, json_each(p.units) j
WHERE p.dataset_id = :dataset GROUP BY j.key, j.value
"""
_PG_TYPES = """
SELECT j.key, CASE WHEN jsonb_typeof(j.value) = 'number'
                   THEN CASE WHEN j.value::text ~ '^-?[0-9]+$' THEN 'integer' ELSE 'real' END
                   ELSE jsonb_typeof(j.value) END, count(*)
FROM archive_products p, jsonb_each(p.attributes) j WHERE p.dataset_id = :dataset GROUP BY 1, 2
"""
_PG_UNITS = """
SELECT j.key, j.value, count(*) FROM archive_products p, json_each_text(p.units) j
WHERE p.dataset_id = :dataset GROUP BY 1, 2
"""
_JSON_TO_OURS = {"integer": "int", "real": "float", "text": "str", "string": "str", "array": "list",
                 "object": "list", "true": "str", "false": "str", "boolean": "str", "null": "str"}


def refresh(db: Session, dataset_id: int, date_attributes: set[str]) -> int:
    """Rewrite the catalogue of one volume; returns the number of attributes."""
    postgres = db.get_bind().dialect.name == "postgresql"
    type_counts: dict[str, Counter] = {}
    for key, json_type, count in db.execute(text(_PG_TYPES if postgres else _SQLITE_TYPES),
                                            {"dataset": dataset_id}):
        type_counts.setdefault(key, Counter())[_JSON_TO_OURS.get(json_type, "str")] += count
    units: dict[str, Counter] = {}
    for key, unit, count in db.execute(text(_PG_UNITS if postgres else _SQLITE_UNITS), {"dataset": dataset_id}):
        units.setdefault(key, Counter())[str(unit)] += count
    rows = []
    for key, kinds in type_counts.items():
        rows.append({"dataset_id": dataset_id, "name": key, "datatype": _one_type(key, kinds, date_attributes),
                     "unit": units[key].most_common(1)[0][0][:100] if key in units else "",
                     "count": sum(kinds.values())})
    db.execute(delete(ArchiveAttribute).where(ArchiveAttribute.dataset_id == dataset_id))
    if rows:
        db.execute(insert(ArchiveAttribute), rows)
    db.commit()
    return len(rows)


def merge(db: Session, dataset_id: int, types: dict[str, Counter], units: dict[str, Counter]) -> int:
    """Add the attributes of newly indexed products (a scan that only added products): the catalogue's counts
    grow, types and units are re-decided with the new values; no pass over the stored JSON."""
    existing = {row.name: row for row in db.scalars(select(ArchiveAttribute)
                                                     .where(ArchiveAttribute.dataset_id == dataset_id))}
    for name, kinds in types.items():
        row = existing.get(name)
        merged = Counter(kinds)
        if row is not None:
            merged[row.datatype if row.datatype != "date" else "str"] += row.count
        dates = {name} if (kinds.get("date") or (row is not None and row.datatype == "date")) else set()
        if "date" in merged:
            merged["str"] += merged.pop("date")
        unit = units[name].most_common(1)[0][0][:100] if name in units else ""
        if row is None:
            db.add(ArchiveAttribute(dataset_id=dataset_id, name=name, datatype=_one_type(name, merged, dates),
                                    unit=unit, count=sum(kinds.values())))
        else:
            row.datatype, row.count = _one_type(name, merged, dates), row.count + sum(kinds.values())
            row.unit = row.unit or unit
    db.commit()
    return len(existing) + len(set(types) - set(existing))


def _one_type(key: str, kinds: Counter, date_attributes: set[str]) -> str:
    """A column has one type: a list if it is ever a list; numbers if at least half the values are numbers
    (the rest, such as "N/A", then read as NULL through the typed column, and stay in the JSON); else text."""
    if "list" in kinds:
        return "list"
    if kinds["float"] + kinds["int"] >= kinds["str"] and (kinds["float"] or kinds["int"]):
        return "float" if kinds["float"] else "int"
    if key in date_attributes:
        return "date"
    return "str"


def date_attributes_of(db: Session, dataset_id: int) -> set[str]:
    return set(db.scalars(select(ArchiveAttribute.name).where(ArchiveAttribute.dataset_id == dataset_id,
                                                              ArchiveAttribute.datatype == "date")))
