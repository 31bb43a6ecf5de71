"""Assets as linked data: schema.org terms with their DCAT / Dublin Core twins, and the DCAT catalogue of
the public assets, paged with Hydra as harvesters (ckanext-dcat, the EU data portals) expect.

Types: a volume or data set is a ``schema:Dataset`` and ``dcat:Dataset``; a datalab a
``schema:SoftwareApplication``, a pipeline a ``schema:SoftwareSourceCode`` (and ``ComputationalWorkflow``, as
Bioschemas and WorkflowHub type CWL workflows); both ``dcat:Resource``. Fields with no value are left out.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from datalabs.discovery.models import DiscoveryAsset

CONTEXT = {
    "@vocab": "https://schema.org/",
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "hydra": "http://www.w3.org/ns/hydra/core#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
TYPES = {
    "volume": ["Dataset", "dcat:Dataset"],
    "dataset": ["Dataset", "dcat:Dataset"],
    "datalab": ["SoftwareApplication", "dcat:Resource"],
    "pipeline": ["SoftwareSourceCode", "ComputationalWorkflow", "dcat:Resource"],
}


def asset_url(base_url: str, asset: DiscoveryAsset) -> str:
    return base_url + asset.url


def asset_id(base_url: str, asset: DiscoveryAsset) -> str:
    """The asset's identifier in linked data: its discovery record's URL (stable, one per asset)."""
    return f"{base_url}/api/v1/discover/assets/{quote(asset.key, safe=':')}"


def describe(asset: DiscoveryAsset, base_url: str, *, context: bool = True) -> dict:
    page = asset_url(base_url, asset)
    doc: dict = {}
    if context:
        doc["@context"] = CONTEXT
    doc.update({"@id": asset_id(base_url, asset), "@type": TYPES.get(asset.asset_type, ["Thing"]),
                "identifier": asset.key, "name": asset.title, "dct:title": asset.title, "url": page,
                "dcat:landingPage": {"@id": page}})
    _put(doc, "alternateName", asset.alternate_name)
    _put(doc, "abstract", asset.abstract)
    if asset.description or asset.abstract:
        doc["description"] = asset.description or asset.abstract
        doc["dct:description"] = asset.description or asset.abstract
    if asset.keywords:
        doc["keywords"] = list(asset.keywords)
        doc["dcat:keyword"] = list(asset.keywords)
    if asset.creator:
        doc["creator"] = {"@type": "Organization" if asset.asset_type in ("volume", "dataset") else "Person",
                          "name": asset.creator}
        doc["dct:creator"] = {"@type": "foaf:Agent", "foaf:name": asset.creator}
    _put(doc, "citation", asset.citation)
    if asset.license:
        doc["license"] = asset.license
        doc["dct:license"] = asset.license
    if asset.audience:
        doc["audience"] = [{"@type": "Audience", "audienceType": a} for a in asset.audience]
    if asset.date_created:
        doc["dateCreated"] = asset.date_created.isoformat()
        doc["dct:issued"] = {"@value": asset.date_created.isoformat(), "@type": "xsd:dateTime"}
    if asset.date_modified:
        doc["dateModified"] = asset.date_modified.isoformat()
        doc["dct:modified"] = {"@value": asset.date_modified.isoformat(), "@type": "xsd:dateTime"}
    facets = asset.facets or {}
    about = [{"@type": "Thing", "name": value, "description": facet}
             for facet in ("mission", "instrument", "target") for value in facets.get(facet, [])]
    if about:
        doc["about"] = about
    themes = facets.get("domain", []) + facets.get("thematic_area", [])
    if themes:
        doc["genre"] = themes
        doc["dcat:theme"] = themes
    details = asset.details or {}
    if asset.asset_type in ("volume", "dataset"):
        if details.get("start_time") or details.get("stop_time"):
            span = f"{details.get('start_time') or '..'}/{details.get('stop_time') or '..'}"
            doc["temporalCoverage"] = span
        if details.get("products") is not None:
            doc["size"] = f"{details['products']} products"
        if asset.asset_type == "dataset" and details.get("volume"):
            doc["isPartOf"] = {"@type": "Dataset", "name": details["volume"],
                               "@id": f"{base_url}/api/v1/discover/assets/volume:{quote(details['volume'])}"}
    elif details.get("version"):
        doc["version"] = details["version"]
        doc["dcat:version"] = details["version"]
    if asset.asset_type == "pipeline":
        doc["programmingLanguage"] = {"@type": "ComputerLanguage", "name": "Common Workflow Language",
                                      "url": "https://w3id.org/cwl/v1.2/"}
    return doc


def catalogue_page(assets: list[DiscoveryAsset], base_url: str, *, page: int, per_page: int, total: int,
                   title: str) -> dict:
    """One page of the DCAT catalogue; data sets under ``dcat:dataset``, software under ``dcat:resource``."""
    here = f"{base_url}/api/v1/discover/catalog"
    last = max(1, -(-total // per_page))

    def page_url(number: int) -> str:
        return f"{here}?{urlencode({'page': number, 'per_page': per_page})}"

    doc = {"@context": CONTEXT, "@id": here, "@type": "dcat:Catalog", "dct:title": title, "name": title,
           "dct:description": "The public assets of this datalabs platform: archive volumes and their data sets, "
                              "datalabs and pipelines.",
           "foaf:homepage": {"@id": f"{base_url}/discover"},
           "dcat:dataset": [], "dcat:resource": []}
    for asset in assets:
        entry = describe(asset, base_url, context=False)
        doc["dcat:dataset" if asset.asset_type in ("volume", "dataset") else "dcat:resource"].append(entry)
    view = {"@id": page_url(page), "@type": ["hydra:PartialCollectionView", "hydra:PagedCollection"],
            "hydra:totalItems": total, "hydra:itemsPerPage": per_page,
            "hydra:first": {"@id": page_url(1)}, "hydra:last": {"@id": page_url(last)},
            "hydra:firstPage": page_url(1), "hydra:lastPage": page_url(last)}
    if page < last:
        view["hydra:next"] = {"@id": page_url(page + 1)}
        view["hydra:nextPage"] = page_url(page + 1)
    if page > 1:
        view["hydra:previous"] = {"@id": page_url(page - 1)}
        view["hydra:previousPage"] = page_url(page - 1)
    doc["hydra:view"] = view
    return doc


def _put(doc: dict, term: str, value) -> None:
    if value:
        doc[term] = value
