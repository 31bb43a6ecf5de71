"""What the discovery API returns."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from datalabs.discovery.documents import FACET_LABELS
from datalabs.discovery.models import DiscoveryAsset
from datalabs.discovery.search import Hit, SearchResult


class Action(BaseModel):
    """What one click on a result does: open a volume in a datalab, launch a datalab, run a pipeline."""

    kind: str = Field(description="open_in_datalab | launch | run")
    label: str
    href: str = Field(description="the page that does it (for 'open_in_datalab', add ?volume=<volume> to a "
                                  "datalab's launch page: /datalabs/<name>/launch?volume=<volume>)")
    volume: str | None = None


class AssetOut(BaseModel):
    key: str = Field(description="the asset's identifier: <type>:<name> (a data set: dataset:<volume>:<id>)")
    asset_type: str
    name: str
    title: str
    alternate_name: str
    abstract: str
    url: str = Field(description="the asset's page on the platform")
    keywords: list[str]
    creator: str
    citation: str
    license: str
    audience: list[str]
    facets: dict[str, list[str]]
    details: dict
    date_created: datetime | None
    date_modified: datetime | None
    open: bool = Field(description="false: embargoed or unpublished, seen by you as one of its readers")
    actions: list[Action]

    @classmethod
    def of(cls, asset: DiscoveryAsset, today) -> AssetOut:
        return cls(key=asset.key, asset_type=asset.asset_type, name=asset.name, title=asset.title,
                   alternate_name=asset.alternate_name, abstract=asset.abstract, url=asset.url,
                   keywords=asset.keywords or [], creator=asset.creator, citation=asset.citation,
                   license=asset.license, audience=asset.audience or [], facets=asset.facets or {},
                   details=asset.details or {}, date_created=asset.date_created, date_modified=asset.date_modified,
                   open=asset.open_from is not None and asset.open_from <= today, actions=actions_of(asset))


class AssetDetailOut(AssetOut):
    description: str

    @classmethod
    def of(cls, asset: DiscoveryAsset, today) -> AssetDetailOut:
        return cls(**AssetOut.of(asset, today).model_dump(), description=asset.description)


def actions_of(asset: DiscoveryAsset) -> list[Action]:
    if asset.asset_type in ("volume", "dataset"):
        volume = (asset.details or {}).get("volume") or asset.name
        return [Action(kind="open_in_datalab", label="Open in datalab", href="/datalabs", volume=volume)]
    if asset.asset_type == "datalab":
        return [Action(kind="launch", label="Launch", href=f"/datalabs/{asset.name}/launch")]
    if asset.asset_type == "pipeline":
        return [Action(kind="run", label="Run", href=f"/pipelines/{asset.name}/run")]
    return []


class HitOut(AssetOut):
    snippet: str = Field(description="HTML: the text around the words found, escaped, with <mark> around them")
    score: float | None = Field(description="relevance (higher is better); null when not searching text")

    @classmethod
    def of_hit(cls, hit: Hit, today) -> HitOut:
        return cls(**AssetOut.of(hit.asset, today).model_dump(), snippet=hit.snippet, score=hit.score)


class FacetValueOut(BaseModel):
    value: str
    count: int
    selected: bool


class FacetOut(BaseModel):
    name: str
    label: str
    values: list[FacetValueOut]


class SearchOut(BaseModel):
    q: str
    total: int
    page: int
    per_page: int
    pages: int
    sort: str
    results: list[HitOut]
    facets: list[FacetOut]

    @classmethod
    def of(cls, q: str, result: SearchResult, today) -> SearchOut:
        return cls(q=q, total=result.total, page=result.page, per_page=result.per_page,
                   pages=max(1, -(-result.total // result.per_page)), sort=result.sort,
                   results=[HitOut.of_hit(h, today) for h in result.hits],
                   facets=[FacetOut(name=name, label=FACET_LABELS[name],
                                    values=[FacetValueOut(value=c.value, count=c.count, selected=c.selected)
                                            for c in counts])
                           for name, counts in result.facets.items()])


class SuggestionOut(BaseModel):
    text: str
    facet: str | None = Field(None, description="set for a facet value: choosing it filters by it")
    count: int | None = None
    asset: str | None = Field(None, description="set for an asset title: its key")
    asset_type: str | None = None
    url: str | None = None
