"""User-supplied paths: parsed into clean name segments, or refused with the reason.

Refused anywhere in a path: absolute paths, ``..`` and ``.`` segments, empty segments,
backslashes, NUL and other control characters, names over 255 bytes, paths over 4096 bytes,
and separators or dot-segments hidden behind URL encoding (``%2F``, ``%252F``, ``%2E%2E``...).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from datalabs.errors import InvalidInput

MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENCODED = re.compile(r"%[0-9a-fA-F]{2}")


def parse_parts(path: str) -> list[str]:
    """``"a/b/c.txt"`` -> ``["a", "b", "c.txt"]``; ``""`` -> ``[]`` (the top). One trailing ``/`` is allowed."""
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise _refuse(path, f"the path is longer than {MAX_PATH_BYTES} bytes")
    if path.startswith("/"):
        raise _refuse(path, "absolute paths are not accepted; give a path such as my_workspace/notes.txt")
    if path.endswith("/"):
        path = path[:-1]
    if path == "":
        return []
    parts = path.split("/")
    for part in parts:
        check_name(part, path)
    return parts


def check_name(name: str, path: str | None = None) -> str:
    shown = path if path is not None else name
    if name == "":
        raise _refuse(shown, "empty path segment ('//')")
    if name in (".", ".."):
        raise _refuse(shown, f"'{name}' segments are not accepted")
    if "\\" in name:
        raise _refuse(shown, "backslashes are not accepted in names")
    if _CONTROL.search(name):
        raise _refuse(shown, "control characters (such as NUL or newline) are not accepted in names")
    if "/" in name:
        raise _refuse(shown, "a name cannot contain '/'")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise _refuse(shown, f"a name is longer than {MAX_NAME_BYTES} bytes")
    decoded = name
    for _ in range(3):  # %2F, %252F, %25252F
        if not _ENCODED.search(decoded):
            break
        decoded = unquote(decoded)
        if "/" in decoded or "\\" in decoded or "\x00" in decoded or decoded in (".", ".."):
            raise _refuse(shown, "URL-encoded separators or dot-segments are not accepted in names")
    return name


def _refuse(path: str, reason: str) -> InvalidInput:
    return InvalidInput(f"invalid path {path[:300]!r}: {reason}", code="invalid_path", field="path")
