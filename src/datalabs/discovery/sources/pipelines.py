"""Pipelines and steps as discovery assets, with the catalogue's visibility rule (as datalabs). The CWL
document may describe itself with schema.org terms (``s:keywords``, ``s:author``, ``s:license``...)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from datalabs.catalogue.models import VersionState
from datalabs.discovery.documents import AssetDocument, clean_values, domain_and_area
from datalabs.discovery.models import ALWAYS
from datalabs.discovery.sources.datalabs import readers_of
from datalabs.pipelines.models import Pipeline, PipelineVersion

SCHEMA_ORG = ("https://schema.org/", "http://schema.org/")


class PipelineSource:
    prefix = "pipeline"
    watches = (Pipeline, PipelineVersion)

    def key_of(self, row) -> str | None:
        pipeline_id = row.id if isinstance(row, Pipeline) else row.pipeline_id
        return f"pipeline:{pipeline_id}" if pipeline_id is not None else None

    def all_keys(self, db: Session) -> list[str]:
        return [f"pipeline:{i}" for i in db.scalars(select(Pipeline.id))]

    def describe(self, db: Session, key: str, base_url: str) -> list[AssetDocument]:
        pipeline = db.get(Pipeline, int(key.split(":", 1)[1]))
        if pipeline is None or not pipeline.versions:
            return []
        published = [v for v in pipeline.versions if v.state == VersionState.PUBLISHED.value]
        shown: PipelineVersion = (published or pipeline.versions)[-1]
        terms = schema_org_terms(shown.packed)
        withdrawn = pipeline.withdrawn_at is not None
        domains, areas = domain_and_area(terms.get("domain"), terms.get("about"))
        title = shown.title or pipeline.name
        doc = shown.doc or ""
        return [AssetDocument(
            key=f"pipeline:{pipeline.name}", asset_type="pipeline", name=pipeline.name, title=title,
            url=f"/pipelines/{pipeline.name}", alternate_name=pipeline.name,
            abstract=doc.strip().split("\n\n", 1)[0][:1000], description=doc,
            keywords=clean_values([*shown.tags, *_list(terms.get("keywords"))]),
            creator=_names(terms.get("author") or terms.get("creator")) or pipeline.owner.name,
            citation=_names(terms.get("citation")), license=_names(terms.get("license")),
            domain=domains, thematic_area=areas,
            details={"version": shown.version, "kind": pipeline.kind, "cwl_class": shown.cwl_class,
                     "official": pipeline.official, "state": shown.state,
                     "steps": len((shown.graph or {}).get("steps", []))},
            date_created=pipeline.created_at,
            date_modified=max(v.published_at or v.created_at for v in pipeline.versions),
            open_from=ALWAYS if published and not withdrawn else None,
            readers=readers_of(pipeline.owner_id, pipeline.team_id, withdrawn=withdrawn))]


def schema_org_terms(packed: dict | None) -> dict:
    """The schema.org terms a CWL document gives itself (``s:keywords`` with ``$namespaces: {s: ...}``)."""
    if not isinstance(packed, dict):
        return {}
    main = packed
    if isinstance(packed.get("$graph"), list):
        main = next((item for item in packed["$graph"] if isinstance(item, dict) and item.get("id") == "#main"),
                    packed)
    terms = {}
    for source in (packed, main):
        for key, value in source.items():
            for prefix in (*SCHEMA_ORG, "s:"):
                if isinstance(key, str) and key.startswith(prefix):
                    terms[key[len(prefix):]] = value
    return terms


def _list(value) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")]
    return value if isinstance(value, list) else [value]


def _names(value) -> str:
    names = []
    for item in _list(value):
        if isinstance(item, dict):
            item = item.get("s:name") or item.get("name") or item.get("https://schema.org/name") or ""
        if item:
            names.append(str(item))
    return ", ".join(names)
