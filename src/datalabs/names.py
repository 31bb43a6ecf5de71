"""Names of users, teams and archive volumes: they become folder names and URL segments."""

from __future__ import annotations

import re

from datalabs.errors import InvalidInput

_ACCOUNT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_VOLUME_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def check_account_name(kind: str, name: str) -> str:
    """A user or team name: like a Unix user name (it is ``$USER`` inside a datalab)."""
    if not _ACCOUNT_NAME.match(name or ""):
        raise InvalidInput(
            f"invalid {kind} name {name!r}: use 1-32 lower-case letters, digits, '-' or '_', "
            "starting with a letter",
            field="name",
        )
    return name


def check_volume_name(name: str) -> str:
    if not _VOLUME_NAME.match(name or "") or ".." in name:
        raise InvalidInput(
            f"invalid volume name {name!r}: use 1-64 lower-case letters, digits, '.', '-' or '_', "
            "starting with a letter or digit",
            field="name",
        )
    return name
