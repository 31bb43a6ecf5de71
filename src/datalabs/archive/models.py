"""Archive metadata tables: every product found on a volume with all its label attributes, the labels that
could not be read, the attribute catalogue (name, type, unit per volume), scans, indexes made on demand and
the named tables defined by mapping files."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from datalabs.db.base import Base, UTCDateTime, utcnow

# JSONB on PostgreSQL (GIN-indexable, compared natively); JSON text with json_extract() on SQLite
Attributes = JSON().with_variant(JSONB(), "postgresql")


class ArchiveProduct(Base):
    """One PDS3 or PDS4 product: its label's every attribute (flattened names -> typed values), the core
    columns every product has, and where it is inside a datalab."""

    __tablename__ = "archive_products"
    __table_args__ = (UniqueConstraint("dataset_id", "label_path"),
                      Index("ix_archive_products_start_time", "start_time"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    label_path: Mapped[str] = mapped_column(String(4096))  # relative to the volume's root
    label_format: Mapped[str] = mapped_column(String(8))  # PDS3 | PDS4
    identifier: Mapped[str] = mapped_column(String(600), index=True)  # PDS3 PRODUCT_ID or PDS4 LIDVID
    data_set: Mapped[str] = mapped_column(String(600), default="", index=True)  # DATA_SET_ID or collection LID
    mission: Mapped[str] = mapped_column(String(300), default="", index=True)
    instrument: Mapped[str] = mapped_column(String(300), default="", index=True)
    target: Mapped[str] = mapped_column(String(300), default="", index=True)
    start_time: Mapped[str | None] = mapped_column(String(40), nullable=True)  # ISO 8601, UTC as written
    stop_time: Mapped[str | None] = mapped_column(String(40), nullable=True)
    processing_level: Mapped[str] = mapped_column(String(100), default="")
    product_class: Mapped[str] = mapped_column(String(100), default="")  # e.g. Product_Observational, IMAGE
    files: Mapped[list] = mapped_column(JSON, default=list)  # data files, relative to the volume's root
    size: Mapped[int] = mapped_column(BigInteger, default=0)  # label and data files, bytes
    datalabs_path: Mapped[str] = mapped_column(String(4200))  # /media/data/<volume>/<label_path>
    attributes: Mapped[dict] = mapped_column(Attributes, default=dict)
    units: Mapped[dict] = mapped_column(JSON, default=dict)  # attribute -> unit, for those that have one
    label_mtime_ns: Mapped[int] = mapped_column(BigInteger, default=0)  # with label_size: rescans skip it
    label_size: Mapped[int] = mapped_column(BigInteger, default=0)
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ArchiveLabelProblem(Base):
    """A label that could not be read, with the reason and where (line, column) - the scan went on."""

    __tablename__ = "archive_label_problems"
    __table_args__ = (UniqueConstraint("dataset_id", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(4096))
    reason: Mapped[str] = mapped_column(String(2000))
    line: Mapped[int | None] = mapped_column(Integer, nullable=True)
    column: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mtime_ns: Mapped[int] = mapped_column(BigInteger, default=0)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ArchiveAttribute(Base):
    """What a volume's labels hold: each attribute name with its type, unit and how many products have it
    (TAP_SCHEMA's columns and the query builder are made from these)."""

    __tablename__ = "archive_attributes"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(600), primary_key=True)
    datatype: Mapped[str] = mapped_column(String(16))  # int | float | str | date | list
    unit: Mapped[str] = mapped_column(String(100), default="")
    count: Mapped[int] = mapped_column(Integer, default=0)


class ArchiveScan(Base):
    """One scan of a volume: who started it, how far it got, what it found."""

    __tablename__ = "archive_scans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="running")  # running | completed | failed
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    files_total: Mapped[int] = mapped_column(Integer, default=0)  # label candidates found
    files_done: Mapped[int] = mapped_column(Integer, default=0)
    indexed: Mapped[int] = mapped_column(Integer, default=0)  # products written (new or changed)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)  # products whose label is gone
    error: Mapped[str] = mapped_column(String(2000), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ArchiveIndex(Base):
    """A database index made on demand on one attribute (any attribute can be in a WHERE clause; an index
    makes it fast)."""

    __tablename__ = "archive_indexes"

    attribute: Mapped[str] = mapped_column(String(600), primary_key=True)
    index_name: Mapped[str] = mapped_column(String(63), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ArchiveTable(Base):
    """A named wide table defined by a mapping file (column -> label attribute [index]), e.g. the OSIRIS one."""

    __tablename__ = "archive_tables"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(2000), default="")
    mapping: Mapped[str] = mapped_column(Text)  # the YAML, as given
    spec: Mapped[dict] = mapped_column(JSON, default=dict)  # the checked table: columns with types and units
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
