"""A datalab's catalogue entry as schema.org ``SoftwareApplication`` JSON-LD (for discovery and harvesters).

The ESA keys of ``datalab-meta.yml`` are schema.org-style already, so most map one to one. Fields
absent or written as 'None' are left out (never null); keys we do not know are exported as
``additionalProperty`` entries, so nothing a package says is lost.
"""

from __future__ import annotations

from datetime import datetime

from datalabs.catalogue.meta import MANDATORY, OPTIONAL, RECOMMENDED, Meta

CONTEXT = "https://schema.org"
CATEGORIES = {
    "jupyterlab": "Interactive datalab: JupyterLab",
    "web": "Interactive datalab: web",
    "desktop": "Interactive datalab: desktop",
}
# Keys mapped to schema.org terms below; every other key (and 'domain', which has no schema.org
# term and is a URL in some packages, a subject in others) becomes an additionalProperty.
MAPPED = (set(MANDATORY) | set(RECOMMENDED) | set(OPTIONAL)) - {"domain"}
TEXT_TERMS = (("alternateName", "alternateName"), ("abstract", "abstract"), ("description", "description"),
              ("distribution.license", "license"), ("citation", "citation"), ("thumbnailUrl", "thumbnailUrl"))


def software_application(package_meta: Meta, *, name: str, version: str, url: str, kind: str,
                         date_created: datetime | None = None, date_published: datetime | None = None,
                         official: bool = False) -> dict:
    """The JSON-LD document (a plain dict, ready for ``json.dumps``) of one datalab version.

    ``name`` is the catalogue name (the URL slug), ``url`` the page of the datalab; ``official``
    marks datalabs published by the platform's operators rather than by users.
    """
    meta = package_meta
    doc: dict = {"@context": CONTEXT, "@type": "SoftwareApplication", "@id": url, "url": url,
                 "name": meta.text("title") or name}
    for key, term in TEXT_TERMS:
        _put(doc, term, meta.text(key))
    doc["softwareVersion"] = version
    doc["applicationCategory"] = CATEGORIES.get(kind, f"Interactive datalab: {kind}")
    if creator := meta.text("creator.name"):
        doc["creator"] = {"@type": "Person", "name": creator}
    contact = {"@type": "ContactPoint"}
    _put(contact, "email", meta.text("contactPoint.email"))
    if organisation := meta.text("contactPoint.organisation-name"):
        contact["name"] = organisation
    if len(contact) > 1:
        doc["contactPoint"] = contact
    if keywords := meta.texts("keywords"):
        doc["keywords"] = keywords
    if funder := meta.text("funder"):
        doc["funder"] = {"@type": "Organization", "name": funder}
    if doi := meta.text("doi.notation"):
        doc["identifier"] = _property("doi", doi)
    _put(doc, "inLanguage", meta.text("language"))
    if audiences := meta.texts("audienceType"):
        doc["audience"] = [{"@type": "Audience", "audienceType": a} for a in audiences]
    about = [{"@type": "Thing", "name": m, "description": "mission"} for m in _names(meta, "mission")]
    about += [{"@type": "Thing", "name": i, "description": "instrument"} for i in _names(meta, "instrument")]
    if about:
        doc["about"] = about
    if datasets := meta.texts("requiredDataset"):
        doc["isBasedOn"] = [{"@type": "Dataset", "name": d} for d in datasets]
    if file_types := meta.texts("associatedFileType"):
        doc["fileFormat"] = file_types
    _put(doc, "dateCreated", date_created.isoformat() if date_created else None)
    _put(doc, "datePublished", date_published.isoformat() if date_published else None)
    extra = [_property(key, value) for key, value in _unknown(meta)]
    extra.append(_property("officialDatalab", official))  # published by the platform's operators
    doc["additionalProperty"] = extra
    return doc


def _put(doc: dict, term: str, value: object) -> None:
    if value is not None:
        doc[term] = value


def _names(meta: Meta, key: str) -> list[str]:
    """'Various' says nothing a harvester could use; a comma list names several."""
    return [n for n in meta.texts(key) if n.lower() != "various"]


def _unknown(meta: Meta):
    for key, value in meta.values.items():
        if key in MAPPED:
            continue
        if isinstance(value, list):
            if items := meta.texts(key):
                yield key, items
        elif meta.text(key) is not None:
            yield key, meta.text(key)


def _property(property_id: str, value: object) -> dict:
    return {"@type": "PropertyValue", "propertyID": property_id, "value": value}
