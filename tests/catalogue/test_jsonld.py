"""JSON-LD export: schema.org SoftwareApplication from datalab-meta.yml, no nulls, nothing dropped."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from datalabs.catalogue.jsonld import software_application
from datalabs.catalogue.meta import parse_meta
from datalabs.catalogue.package import load_package

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "datalabs"
CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def export(meta, **overrides) -> dict:
    options = dict(name="psa-lab", version="1.0.0", url="https://datalabs.example.org/catalogue/psa-lab",
                   kind="jupyterlab", date_created=CREATED, date_published=None, official=True)
    return software_application(meta, **{**options, **overrides})


def no_nulls(value: object) -> bool:
    if isinstance(value, dict):
        return all(v is not None and no_nulls(v) for v in value.values())
    if isinstance(value, list):
        return all(v is not None and no_nulls(v) for v in value)
    return True


def test_an_example_exports_as_a_software_application() -> None:
    doc = export(load_package(EXAMPLES / "psa-lab").meta)
    assert doc["@context"] == "https://schema.org"
    assert doc["@type"] == "SoftwareApplication"
    assert doc["@id"] == doc["url"] == "https://datalabs.example.org/catalogue/psa-lab"
    assert doc["name"] == "Planetary archive lab"
    assert doc["alternateName"] == "psa-lab"
    assert doc["abstract"].startswith("JupyterLab with the Python tools")
    assert doc["softwareVersion"] == "1.0.0"
    assert doc["license"] == "BSD-3-Clause"
    assert doc["creator"] == {"@type": "Person", "name": "datalabs maintainers"}
    assert doc["contactPoint"] == {"@type": "ContactPoint", "email": "datalabs@example.org",
                                   "name": "datalabs project"}
    assert "PDS4" in doc["keywords"] and isinstance(doc["keywords"], list)
    assert doc["inLanguage"] == "English"
    assert {"@type": "Audience", "audienceType": "Researcher"} in doc["audience"]
    assert doc["applicationCategory"] == "Interactive datalab: JupyterLab"
    assert doc["dateCreated"] == "2026-01-02T03:04:05+00:00"
    assert "datePublished" not in doc
    assert {"@type": "PropertyValue", "propertyID": "officialDatalab", "value": True} in doc["additionalProperty"]
    assert no_nulls(doc)


def test_desktop_example_category_and_about() -> None:
    meta = load_package(EXAMPLES / "topcat").meta
    doc = export(meta, name="topcat", kind="desktop", official=False)
    assert doc["applicationCategory"] == "Interactive datalab: desktop"
    assert "about" not in doc  # mission and instrument are 'None'
    assert "thumbnailUrl" not in doc
    assert doc["citation"].startswith("https://")
    assert export(meta, kind="web")["applicationCategory"] == "Interactive datalab: web"


def test_none_values_are_left_out_and_unknown_keys_kept() -> None:
    meta = parse_meta("""title: Catalogue lab
alternateName: CatLab
abstract: Explore a catalogue
distribution:
  license: Apache 2.0
instrument: None
mission: Gaia, Hipparcos
citation: None
thumbnailUrl: N/A
funder: ESA
doi.notation: 10.5281/zenodo.1234
requiredDataset:
- Gaia DR3
domain: Astronomy
x-vendor-field:
  nested: kept
x-tags: [a, b]
x-empty: None
""")
    doc = export(meta, name="catlab")
    assert "citation" not in doc and "thumbnailUrl" not in doc and "description" not in doc
    assert doc["about"] == [{"@type": "Thing", "name": "Gaia", "description": "mission"},
                            {"@type": "Thing", "name": "Hipparcos", "description": "mission"}]
    assert doc["identifier"] == {"@type": "PropertyValue", "propertyID": "doi", "value": "10.5281/zenodo.1234"}
    assert doc["funder"] == {"@type": "Organization", "name": "ESA"}
    assert doc["isBasedOn"] == [{"@type": "Dataset", "name": "Gaia DR3"}]
    extra = {p["propertyID"]: p["value"] for p in doc["additionalProperty"]}
    assert extra["x-vendor-field.nested"] == "kept"
    assert extra["x-tags"] == ["a", "b"]
    assert extra["domain"] == "Astronomy"
    assert "x-empty" not in extra
    assert no_nulls(doc)


def test_every_example_serialises() -> None:
    for folder in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        package = load_package(folder)
        doc = export(package.meta, name=package.name, version=package.version, kind=package.runtime.kind,
                     date_published=CREATED)
        assert json.loads(json.dumps(doc)) == doc
        assert no_nulls(doc)


def test_mandatory_fields_only_give_a_minimal_document() -> None:
    meta = parse_meta("title: T\nalternateName: t\nabstract: A\ndistribution.license: MIT\n")
    doc = export(meta, name="t", version="0.0.0", url="https://x.example/t", date_created=None, official=False)
    assert set(doc) == {"@context", "@type", "@id", "url", "name", "alternateName", "abstract", "license",
                        "softwareVersion", "applicationCategory", "additionalProperty"}
    assert doc["additionalProperty"] == [{"@type": "PropertyValue", "propertyID": "officialDatalab", "value": False}]
    assert json.loads(json.dumps(doc)) == doc
