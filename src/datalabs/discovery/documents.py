"""What the index holds about one asset (:class:`AssetDocument`), the facets, and who a caller is to it.

The vocabulary is schema.org / DCAT's: title (``name``/``dct:title``), alternateName, abstract, description,
keywords, creator, citation, license, audience, dateCreated/dateModified, plus the facets the portal counts.
Domains are the ESA Data Discovery Portal's; a metadata ``domain`` that is a thematic area (Planetary
Science, Astronomy, ...) is filed under its domain, so both facets stay useful.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from datalabs.accounts.actor import Actor
from datalabs.accounts.models import Role

ASSET_TYPES = ("dataset", "volume", "datalab", "pipeline")
FACETS = ("asset_type", "domain", "mission", "instrument", "target", "thematic_area")
FACET_LABELS = {"asset_type": "Asset type", "domain": "Domain", "mission": "Mission", "instrument": "Instrument",
                "target": "Target", "thematic_area": "Thematic area"}
DOMAINS = ("Space Science", "Earth Observation", "Navigation", "Space Operations",
           "Human and Robotic Exploration")
THEMATIC_AREAS = {  # thematic area -> its domain
    "Planetary Science": "Space Science", "Astronomy": "Space Science", "Heliophysics": "Space Science",
    "Solar System": "Space Science", "Fundamental Physics": "Space Science", "Space Weather": "Space Science",
    "Atmosphere": "Earth Observation", "Land": "Earth Observation", "Ocean": "Earth Observation",
    "Cryosphere": "Earth Observation", "Climate": "Earth Observation",
}
# values a metadata file writes for "none": never a facet value
EMPTY_VALUES = {"", "none", "n/a", "unk", "unknown", "null", "tbd", "various"}


def clean_values(values) -> list[str]:
    """Facet values: stripped, empty and 'None'-style values dropped, duplicates (any case) once."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    seen: dict[str, str] = {}
    for value in values:
        text = " ".join(str(value).split())[:300]
        if text.lower() not in EMPTY_VALUES and text.lower() not in seen:
            seen[text.lower()] = text
    return list(seen.values())


def domain_and_area(domain_values, area_values=()) -> tuple[list[str], list[str]]:
    """Split what metadata calls 'domain' into the portal's domain and thematic area facets."""
    domains, areas = [], clean_values(area_values)
    for value in clean_values(domain_values):
        known_domain = next((d for d in DOMAINS if d.lower() == value.lower()), None)
        known_area = next((a for a in THEMATIC_AREAS if a.lower() == value.lower()), None)
        if known_domain:
            domains.append(known_domain)
        elif known_area:
            areas.append(known_area)
        else:
            areas.append(value)
    for area in areas:
        if area in THEMATIC_AREAS and THEMATIC_AREAS[area] not in domains:
            domains.append(THEMATIC_AREAS[area])
    return clean_values(domains), clean_values(areas)


@dataclass
class AssetDocument:
    """One asset as the index stores it. ``open_from``: ``ALWAYS`` (open), a release date, or None (readers
    only); ``readers``: principals (see :func:`principals_of`) who see it before then."""

    key: str
    asset_type: str
    name: str
    title: str
    url: str
    alternate_name: str = ""
    abstract: str = ""
    description: str = ""
    keywords: list[str] = field(default_factory=list)
    creator: str = ""
    citation: str = ""
    license: str = ""
    audience: list[str] = field(default_factory=list)
    domain: list[str] = field(default_factory=list)
    mission: list[str] = field(default_factory=list)
    instrument: list[str] = field(default_factory=list)
    target: list[str] = field(default_factory=list)
    thematic_area: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    date_created: datetime | None = None
    date_modified: datetime | None = None
    open_from: date | None = None
    readers: frozenset[str] = frozenset()

    def facet_values(self) -> dict[str, list[str]]:
        values = {"asset_type": [self.asset_type]}
        for facet in FACETS[1:]:
            if cleaned := clean_values(getattr(self, facet)):
                values[facet] = cleaned
        return values

    def context_text(self) -> str:
        """Facet values as searchable text: 'osiris comet' finds what has them only as facets."""
        return " ".join(v for facet in ("mission", "instrument", "target", "thematic_area", "domain")
                        for v in getattr(self, facet))


def principals_of(actor: Actor | None) -> frozenset[str] | None:
    """Who the caller is to the index; None for admins, who see everything (as in every catalogue)."""
    if actor is None:
        return frozenset()
    if actor.is_admin:
        return None
    found = {f"user:{actor.user_id}"}
    found.update(f"team:{team_id}" for team_id in actor.team_ids)
    if actor.role.at_least(Role.DEVELOPER):
        found.update(f"team-developer:{team_id}" for team_id in actor.team_ids)
    if actor.role.at_least(Role.MODERATOR):
        found.add("role:moderator")
    return frozenset(found)
