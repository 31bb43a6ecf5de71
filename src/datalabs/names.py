"""Names of users, teams and archive volumes: they become folder names and URL segments."""

from __future__ import annotations

import re

from datalabs.errors import InvalidInput

# fullmatch, not match with "$": "$" also matches before a trailing newline ("alice\n").
_ACCOUNT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_VOLUME_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def check_account_name(kind: str, name: str) -> str:
    """A user or team name: like a Unix user name (it is ``$USER`` inside a datalab)."""
    if not isinstance(name, str) or not _ACCOUNT_NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid {kind} name {name!r}: use 1-32 lower-case letters, digits, '-' or '_', "
            "starting with a letter",
            field="name",
        )
    return name


def check_text(field: str, value: str | None, max_length: int | None = None) -> str | None:
    """Free text (labels, titles, descriptions): anything but NUL, which PostgreSQL cannot store,
    and no longer than its column (PostgreSQL refuses what SQLite would keep)."""
    if value is not None and "\x00" in value:
        raise InvalidInput(f"the {field} cannot contain NUL characters", field=field)
    if value is not None and max_length is not None and len(value) > max_length:
        raise InvalidInput(f"the {field} is longer than {max_length} characters", field=field)
    return value


def storable(name: str) -> bool:
    """False for a looked-up name no row can have (NUL would make PostgreSQL fail the query)."""
    return "\x00" not in name


def check_volume_name(name: str) -> str:
    if not isinstance(name, str) or not _VOLUME_NAME.fullmatch(name) or ".." in name:
        raise InvalidInput(
            f"invalid volume name {name!r}: use 1-64 lower-case letters, digits, '.', '-' or '_', "
            "starting with a letter or digit",
            field="name",
        )
    return name
