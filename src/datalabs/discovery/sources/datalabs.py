"""Datalabs as discovery assets: the version the catalogue shows everyone (the latest published), else the
latest one, seen only by those who may see its drafts (the rule of ``CatalogueService.visible_versions``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from datalabs.catalogue.models import Datalab, DatalabVersion, VersionState
from datalabs.discovery.documents import AssetDocument, clean_values, domain_and_area
from datalabs.discovery.models import ALWAYS


def readers_of(owner_id: int, team_id: int | None, *, withdrawn: bool) -> frozenset[str]:
    """Who sees a catalogue entry that is not published: its owner, moderators, its team (only the team's
    developers once it is withdrawn). Shared by datalabs and pipelines, whose rules are the same."""
    readers = {f"user:{owner_id}", "role:moderator"}
    if team_id is not None:
        readers.add(f"team-developer:{team_id}" if withdrawn else f"team:{team_id}")
    return frozenset(readers)


class DatalabSource:
    prefix = "datalab"
    watches = (Datalab, DatalabVersion)

    def key_of(self, row) -> str | None:
        datalab_id = row.id if isinstance(row, Datalab) else row.datalab_id
        return f"datalab:{datalab_id}" if datalab_id is not None else None

    def all_keys(self, db: Session) -> list[str]:
        return [f"datalab:{i}" for i in db.scalars(select(Datalab.id))]

    def describe(self, db: Session, key: str, base_url: str) -> list[AssetDocument]:
        datalab = db.get(Datalab, int(key.split(":", 1)[1]))
        if datalab is None or not datalab.versions:
            return []
        published = [v for v in datalab.versions if v.state == VersionState.PUBLISHED.value]
        shown: DatalabVersion = (published or datalab.versions)[-1]
        meta = shown.meta or {}
        withdrawn = datalab.withdrawn_at is not None
        domains, areas = domain_and_area(meta.get("domain"), meta.get("thematicArea"))
        return [AssetDocument(
            key=f"datalab:{datalab.name}", asset_type="datalab", name=datalab.name, title=shown.title or datalab.name,
            url=f"/datalabs/{datalab.name}", alternate_name=datalab.name, abstract=shown.abstract or "",
            description=shown.description or "", keywords=clean_values(shown.keywords),
            creator=_text(meta.get("creator.name")) or datalab.owner.name, citation=_text(meta.get("citation")),
            license=shown.license or "", audience=clean_values(meta.get("audienceType")),
            domain=domains, thematic_area=areas, mission=clean_values(_split(shown.mission)),
            instrument=clean_values(_split(shown.instrument)), target=clean_values(meta.get("target")),
            details={"version": shown.version, "kind": shown.kind, "official": datalab.official,
                     "state": shown.state},
            date_created=datalab.created_at, date_modified=max(v.published_at or v.created_at for v in datalab.versions),
            open_from=ALWAYS if published and not withdrawn else None,
            readers=readers_of(datalab.owner_id, datalab.team_id, withdrawn=withdrawn))]


def _text(value) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",")]
