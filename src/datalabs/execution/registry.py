"""Backends by short name (the ``backend`` setting), found through the ``datalabs.backends``
entry points: built-in backends are registered exactly as third-party ones are."""

from __future__ import annotations

from importlib.metadata import entry_points

from datalabs.errors import InvalidInput
from datalabs.execution.contract import BackendBase

GROUP = "datalabs.backends"


def available() -> dict[str, str]:
    return {point.name: point.value for point in entry_points(group=GROUP)}


def load_backend(name: str, settings=None, **options) -> BackendBase:
    for point in entry_points(group=GROUP):
        if point.name == name:
            return point.load()(settings, **options)
    raise InvalidInput(f"unknown execution backend {name!r}; available: {', '.join(sorted(available()))}",
                       field="backend")
