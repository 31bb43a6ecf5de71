"""Where a package comes from: a folder on the server, a git repository, or an uploaded zip.

Each is turned into a folder under a temporary directory that the caller removes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

from datalabs.catalogue.meta import PackageInvalid, Problem
from datalabs.catalogue.package import extract_zip

GIT_TIMEOUT_SECONDS = 120
ALLOWED_GIT_SCHEMES = ("https", "http")


def from_git(url: str, workdir: Path, *, ref: str | None = None, allow_local: bool = False) -> Path:
    """Clone ``url`` (shallow) into ``workdir``; local and file:// repositories only when ``allow_local``."""
    scheme = urlparse(url).scheme
    if scheme not in ALLOWED_GIT_SCHEMES and not (allow_local and (scheme == "file" or url.startswith("/"))):
        raise PackageInvalid([Problem(url, None, "url", "only https:// (or http://) git URLs can be imported")])
    target = workdir / "repo"
    command = ["git", "clone", "--depth", "1", "--quiet"]
    if ref:
        command += ["--branch", ref]
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false"}
    try:
        result = subprocess.run([*command, "--", url, str(target)], capture_output=True, text=True,
                                timeout=GIT_TIMEOUT_SECONDS, env=env)
    except subprocess.TimeoutExpired:
        raise PackageInvalid([Problem(url, None, "url", f"git clone took longer than {GIT_TIMEOUT_SECONDS} s")]) from None
    except FileNotFoundError:
        raise PackageInvalid([Problem(url, None, "url", "git is not installed on the server")]) from None
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["git clone failed"])[-1]
        raise PackageInvalid([Problem(url, None, "url", f"git clone failed: {reason}")])
    shutil.rmtree(target / ".git", ignore_errors=True)
    return target


def from_zip(archive: Path, workdir: Path) -> Path:
    return extract_zip(archive, workdir / "unzipped")


def from_folder(folder: Path) -> Path:
    if not folder.is_dir():
        raise PackageInvalid([Problem(str(folder), None, "path", "is not a folder on the server")])
    return folder
