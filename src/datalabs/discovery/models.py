"""The discovery index: one row per asset described with the discovery vocabulary, its facet values (one row
each, so a facet may have several values), and who may see it when it is not open to everyone.

The text index is not a model: on SQLite an FTS5 table ``discovery_fts`` (rowid = asset id) made by
migration 0006; on PostgreSQL the ``search_vector`` column (weighted tsvector, GIN index).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from datalabs.db.base import Base, UTCDateTime, utcnow

SearchVector = Text().with_variant(TSVECTOR(), "postgresql")  # unused (NULL) on SQLite, which has discovery_fts

# An asset open to everyone from the start of time; NULL means "only its readers", a later date an embargo.
ALWAYS = date(1, 1, 1)


class DiscoveryAsset(Base):
    """One thing a user can find: its description (schema.org / DCAT terms) and when it is open to all."""

    __tablename__ = "discovery_assets"
    __table_args__ = (Index("ix_discovery_assets_open_from", "open_from"),
                      Index("ix_discovery_assets_sort_title", "sort_title", "id"),
                      Index("ix_discovery_assets_search_vector", "search_vector", postgresql_using="gin"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(700), unique=True)  # e.g. "datalab:psa-lab", "dataset:pds3:MRO-M-CTX-2-EDR-L0-V1.0"
    source_key: Mapped[str] = mapped_column(String(64), index=True)  # what describes it: "volume:3", "datalab:7"
    asset_type: Mapped[str] = mapped_column(String(16), index=True)  # volume | dataset | datalab | pipeline
    name: Mapped[str] = mapped_column(String(600))  # the handle: catalogue name, volume name, data set id
    title: Mapped[str] = mapped_column(String(600))
    sort_title: Mapped[str] = mapped_column(String(200))  # title in lower case: the index behind sort=title
    alternate_name: Mapped[str] = mapped_column(String(600), default="")
    abstract: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[list] = mapped_column(JSON, default=list)
    creator: Mapped[str] = mapped_column(String(600), default="")
    citation: Mapped[str] = mapped_column(Text, default="")
    license: Mapped[str] = mapped_column(String(300), default="")
    audience: Mapped[list] = mapped_column(JSON, default=list)
    facets: Mapped[dict] = mapped_column(JSON, default=dict)  # facet -> [values], as in discovery_facet_values
    details: Mapped[dict] = mapped_column(JSON, default=dict)  # per type: volume, version, products, time range
    url: Mapped[str] = mapped_column(String(1000))  # the asset's page, relative to the platform
    date_created: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    date_modified: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    open_from: Mapped[date | None] = mapped_column(Date, nullable=True)  # ALWAYS, a release date, or NULL
    search_vector: Mapped[str | None] = mapped_column(SearchVector, nullable=True)
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DiscoveryFacetValue(Base):
    """One value of one facet of one asset (mission, instrument, target... may have several)."""

    __tablename__ = "discovery_facet_values"
    __table_args__ = (Index("ix_discovery_facet_values_lookup", "facet", "value", "asset_id"),
                      Index("ix_discovery_facet_values_folded", "folded", "facet"))

    asset_id: Mapped[int] = mapped_column(ForeignKey("discovery_assets.id", ondelete="CASCADE"), primary_key=True)
    facet: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(300), primary_key=True)
    folded: Mapped[str] = mapped_column(String(300))  # lower case: suggestions match what is typed in any case


class DiscoveryReader(Base):
    """Who may see an asset that is not open to everyone: ``user:<id>``, ``team:<id>``, ``team-developer:<id>``
    or ``role:moderator`` (admins see everything)."""

    __tablename__ = "discovery_readers"
    __table_args__ = (Index("ix_discovery_readers_principal", "principal", "asset_id"),)

    asset_id: Mapped[int] = mapped_column(ForeignKey("discovery_assets.id", ondelete="CASCADE"), primary_key=True)
    principal: Mapped[str] = mapped_column(String(64), primary_key=True)


class DiscoveryState(Base):
    """A token that changes with every write to the index: searches cache what is slow to count (browsing
    everything) under it, so a cached answer is never one from before a change."""

    __tablename__ = "discovery_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
