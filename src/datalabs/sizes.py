"""Byte sizes written for people: ``10G``, ``500M``, ``1.5T``, or a plain number of bytes."""

from __future__ import annotations

import re

_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
MAX_SIZE = 2**63 - 1  # what a database BIGINT holds
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(value: int | str) -> int:
    if isinstance(value, bool):  # an int to Python, never a size (`user_quota = true` in TOML)
        raise ValueError(f"not a size: {value!r} (write e.g. 500M, 10G or a number of bytes)")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        size = value
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ValueError(f"not a size: {value!r} (write e.g. 500M, 10G or a number of bytes)")
        number, unit = match.groups()
        size = int(float(number) * _UNITS[unit.upper()])
    if size > MAX_SIZE:
        raise ValueError(f"the size {value!r} is too large (at most {MAX_SIZE} bytes, about 8 EiB)")
    return size


def format_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover
