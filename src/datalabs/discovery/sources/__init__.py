"""Where assets come from. Each source names the rows it follows (``watches``), maps a changed row to
its *source key* (``key_of``), and describes a source key as the documents it stands for (``describe``;
none: the asset is gone). One source key may stand for several assets: a volume and its data sets.

Source keys carry database ids (``datalab:3``), so a deleted row still names what to remove.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from datalabs.discovery.documents import AssetDocument
from datalabs.discovery.sources.datalabs import DatalabSource
from datalabs.discovery.sources.pipelines import PipelineSource
from datalabs.discovery.sources.volumes import VolumeSource


class Source(Protocol):
    prefix: str
    watches: tuple[type, ...]

    def key_of(self, row: object) -> str | None: ...

    def describe(self, db: Session, key: str, base_url: str) -> list[AssetDocument]: ...

    def all_keys(self, db: Session) -> list[str]: ...


SOURCES: tuple[Source, ...] = (VolumeSource(), DatalabSource(), PipelineSource())


def source_for(key: str) -> Source:
    prefix = key.split(":", 1)[0]
    for source in SOURCES:
        if source.prefix == prefix:
            return source
    raise KeyError(f"no discovery source for {key!r}")


def keys_of(row: object) -> str | None:
    for source in SOURCES:
        if isinstance(row, source.watches):
            return source.key_of(row)
    return None
