"""Archive volumes and the data sets (PDS3) and collections (PDS4) found in them by the archive scanner.

A volume is one asset; each distinct ``data_set`` of its products is another, described by its catalogue
label when the volume has one (a PDS3 ``DATA_SET`` object: name, abstract, citation; a PDS4
``Product_Collection``: title, description) and summarised from its products otherwise (missions,
instruments, targets, time span, how many products). Both follow the volume's embargo: open from its
release date, seen before then by its allowed teams (admins see all).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datalabs.archive.models import ArchiveProduct, ArchiveScan
from datalabs.discovery.documents import AssetDocument, clean_values, domain_and_area
from datalabs.discovery.models import ALWAYS
from datalabs.storage.models import Dataset, DatasetTeam

CATALOGUE_CLASSES = ("DATA_SET", "Product_Collection")
PDS3_INFO = "DATA_SET.DATA_SET_INFORMATION."
PDS4_TITLE = "pds:Identification_Area.pds:title"
PDS4_CITATION = "pds:Citation_Information."


class VolumeSource:
    prefix = "volume"
    watches = (Dataset, DatasetTeam, ArchiveScan)

    def key_of(self, row) -> str | None:
        if isinstance(row, ArchiveScan) and row.state == "running":
            return None  # the data sets change when the scan is over
        volume_id = row.id if isinstance(row, Dataset) else row.dataset_id
        return f"volume:{volume_id}" if volume_id is not None else None

    def all_keys(self, db: Session) -> list[str]:
        return [f"volume:{i}" for i in db.scalars(select(Dataset.id))]

    def describe(self, db: Session, key: str, base_url: str) -> list[AssetDocument]:
        volume = db.get(Dataset, int(key.split(":", 1)[1]))
        if volume is None:
            return []
        if not volume.is_private:
            open_from = ALWAYS
        else:
            open_from = volume.release_date  # None: until an admin opens it
        readers = frozenset(f"team:{team_id}" for team_id in volume.team_ids)
        domains, areas = domain_and_area(volume.domain)
        data_sets = _data_sets(db, volume)
        missions = clean_values([m for d in data_sets.values() for m in d["mission"]] + _split(volume.mission))
        instruments = clean_values([i for d in data_sets.values() for i in d["instrument"]]
                                   + _split(volume.instrument))
        targets = clean_values([t for d in data_sets.values() for t in d["target"]])
        documents = [AssetDocument(
            key=f"volume:{volume.name}", asset_type="volume", name=volume.name, title=volume.title or volume.name,
            url=f"/volumes#{volume.name}", alternate_name=volume.name,
            abstract=_first_sentence(volume.description), description=volume.description,
            domain=domains, thematic_area=areas, mission=missions, instrument=instruments, target=targets,
            details={"volume": volume.name, "datalabs_path": f"/media/data/{volume.name}",
                     "data_sets": len(data_sets), "products": sum(d["products"] for d in data_sets.values()),
                     "release_date": volume.release_date.isoformat() if volume.release_date else None},
            date_created=volume.created_at, date_modified=volume.updated_at,
            open_from=open_from, readers=readers)]
        for name, found in data_sets.items():
            title = found["title"] or name
            summary = _summary(found)
            documents.append(AssetDocument(
                key=f"dataset:{volume.name}:{name}", asset_type="dataset", name=name, title=title,
                url=f"/archive?q={_products_query(volume.name, name)}", alternate_name=name,
                abstract=found["abstract"] or summary, description=found["description"] or summary,
                keywords=clean_values([found["label_format"], *found["classes"]]), creator=found["creator"],
                citation=found["citation"], domain=domains, thematic_area=areas,
                mission=clean_values(found["mission"]), instrument=clean_values(found["instrument"]),
                target=clean_values(found["target"]),
                details={"volume": volume.name, "datalabs_path": f"/media/data/{volume.name}",
                         "products": found["products"], "size": found["size"], "start_time": found["start"],
                         "stop_time": found["stop"], "label_format": found["label_format"],
                         "processing_level": found["processing_level"]},
                date_created=volume.created_at, date_modified=found["scanned_at"],
                open_from=open_from, readers=readers))
        return documents


def _data_sets(db: Session, volume: Dataset) -> dict[str, dict]:
    """Each data set of a volume's products: counts, span, values, and its catalogue label's description."""
    p = ArchiveProduct
    mine = (p.dataset_id == volume.id) & (p.data_set != "")
    found: dict[str, dict] = {}
    for name, count, start, stop, size, label_format, level, scanned in db.execute(
            select(p.data_set, func.count(), func.min(p.start_time), func.max(p.stop_time), func.sum(p.size),
                   func.min(p.label_format), func.max(p.processing_level), func.max(p.scanned_at))
            .where(mine).group_by(p.data_set)):
        found[name] = {"products": count, "start": start, "stop": stop, "size": int(size or 0),
                       "label_format": label_format, "processing_level": level or "", "scanned_at": scanned,
                       "mission": [], "instrument": [], "target": [], "classes": [], "title": "", "abstract": "",
                       "description": "", "citation": "", "creator": ""}
    for name, mission, instrument, target in db.execute(
            select(p.data_set, p.mission, p.instrument, p.target).where(mine).distinct()):
        entry = found[name]
        entry["mission"] += _split(mission)
        entry["instrument"] += _split(instrument)
        entry["target"] += _split(target)
    for name, product_class in db.execute(select(p.data_set, p.product_class).where(mine).distinct()):
        if product_class and product_class not in CATALOGUE_CLASSES:
            found[name]["classes"].append(product_class)
    for name, attributes in db.execute(select(p.data_set, p.attributes).where(
            mine, p.product_class.in_(CATALOGUE_CLASSES))):
        found[name].update({k: v for k, v in _catalogue_description(attributes or {}).items() if v})
    for entry in found.values():
        for facet in ("mission", "instrument", "target"):
            entry[facet] = clean_values(entry[facet])
        entry["classes"] = clean_values(entry["classes"])[:10]
    return found


def _catalogue_description(attributes: dict) -> dict[str, str]:
    if any(key.startswith(PDS3_INFO) for key in attributes):
        return {"title": _text(attributes.get(PDS3_INFO + "DATA_SET_NAME")),
                "abstract": _text(attributes.get(PDS3_INFO + "ABSTRACT_DESC")
                                  or attributes.get(PDS3_INFO + "DATA_SET_TERSE_DESC")),
                "description": _text(attributes.get(PDS3_INFO + "DATA_SET_DESC")),
                "citation": _text(attributes.get(PDS3_INFO + "CITATION_DESC")),
                "creator": _text(attributes.get(PDS3_INFO + "PRODUCER_FULL_NAME"))}
    description = _text(attributes.get(PDS4_CITATION + "pds:description"))
    return {"title": _text(attributes.get(PDS4_TITLE)), "abstract": _first_sentence(description),
            "description": description,
            "citation": _text(attributes.get(PDS4_CITATION + "pds:doi")),
            "creator": _text(attributes.get(PDS4_CITATION + "pds:author_list")
                             or attributes.get(PDS4_CITATION + "pds:editor_list"))}


def _summary(found: dict) -> str:
    parts = [f"{found['products']} {found['label_format']} product{'s' if found['products'] != 1 else ''}"]
    if found["instrument"]:
        parts.append(f"of {', '.join(found['instrument'][:5])}")
    if found["mission"]:
        parts.append(f"on {', '.join(found['mission'][:3])}")
    if found["target"]:
        parts.append(f"observing {', '.join(found['target'][:8])}")
    if found["start"]:
        parts.append(f"from {found['start']}" + (f" to {found['stop']}" if found["stop"] else ""))
    return " ".join(parts) + "."


def _products_query(volume: str, data_set: str) -> str:
    from urllib.parse import quote

    def literal(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return quote(f"(volume eq {literal(volume)}) and (data_set eq {literal(data_set)})", safe="")


def _first_sentence(text: str) -> str:
    text = " ".join((text or "").split())
    end = text.find(". ")
    return text[: end + 1] if 0 < end < 400 else text[:400]


def _text(value) -> str:
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return " ".join(str(value).split()) if value is not None else ""


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


