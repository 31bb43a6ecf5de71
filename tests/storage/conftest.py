"""Storage test helpers.

- ``new_user(name, role="user", teams={})``: ``make_user`` without a password (no slow hashing).
- ``workspace(name)`` / ``team_workspace(team)``: the folder on disk of a user's / team's workspace
  (``<data_dir>/workspaces/users/<name>``), created if needed.
- ``uploads_dir``: the hidden folder where uploads stream before they are put in place.
- ``tree(path)``: every file under a folder as ``{relative path: bytes}`` (symlinks as ``-> target``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def workspace(settings):
    def folder(name: str) -> Path:
        path = settings.workspaces_dir / "users" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    return folder


@pytest.fixture
def team_workspace(settings):
    def folder(team: str) -> Path:
        path = settings.workspaces_dir / "teams" / team
        path.mkdir(parents=True, exist_ok=True)
        return path

    return folder


@pytest.fixture
def uploads_dir(settings) -> Path:
    return settings.workspaces_dir / ".uploads"


def tree(root: Path) -> dict[str, bytes | str]:
    """Snapshot of a folder: files with their bytes, symlinks with their target, folders as '/'."""
    found: dict[str, bytes | str] = {}
    if not root.exists():
        return found
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            relative = str(path.relative_to(root))
            if path.is_symlink():
                found[relative] = "-> " + os.readlink(path)
            elif path.is_dir():
                found[relative + "/"] = "/"
            else:
                found[relative] = path.read_bytes()
    return found


def leftovers(uploads: Path) -> list[str]:
    return sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []
