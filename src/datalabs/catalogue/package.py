"""A datalab package on disk: ``datalab-meta.yml`` plus requirements, notebooks, a logo, a README.

``load_package(folder)`` reads and checks one, reporting every problem with file, line and
field. ``extract_zip`` unpacks an uploaded zip safely (no ``..``, absolute paths or links, and
bounded size) so that it can be loaded like a folder.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from datalabs.catalogue.meta import META_FILE, Meta, PackageInvalid, Problem, check_fields, parse_meta
from datalabs.catalogue.runtime import Runtime, parse_runtime

LOGO_NAMES = ("logo.svg", "logo.png", "logo.jpg", "logo.jpeg", "logo.webp")
README_NAMES = ("README.md", "README.rst", "README.txt", "README")
MAX_ZIP_BYTES = 200 * 1024**2
MAX_ZIP_FILES = 5000


@dataclass(frozen=True)
class DatalabPackage:
    root: Path
    meta: Meta
    runtime: Runtime
    requirements: str | None = None  # the environment file's text, when there is one
    notebooks: tuple[str, ...] = ()
    logo: str | None = None
    readme: str | None = None
    has_dockerfile: bool = False
    files: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.meta.text("alternateName") or ""

    @property
    def version(self) -> str:
        return self.meta.text("version") or "0.0.0"


def load_package(root: Path) -> DatalabPackage:
    meta_path = root / META_FILE
    if not meta_path.is_file():
        raise PackageInvalid([Problem(META_FILE, None, None, f"no {META_FILE} at the top of the package")])
    try:
        text = meta_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PackageInvalid([Problem(META_FILE, None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    meta = parse_meta(text)
    problems = check_fields(meta)
    runtime, runtime_problems = parse_runtime(meta)
    problems += runtime_problems
    files = tuple(sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".git" not in p.parts))
    requirements = None
    if runtime.environment is not None:
        env_file = root / runtime.environment
        if env_file.is_file():
            requirements = env_file.read_text(encoding="utf-8", errors="replace")
        elif runtime.environment != "requirements.txt":  # the default may be absent: nothing to add
            problems.append(Problem(META_FILE, meta.section_lines.get("runtime"), "runtime.environment",
                                    f"names {runtime.environment}, which is not in the package"))
    if problems:
        raise PackageInvalid(problems)
    readme = next((root / n for n in README_NAMES if (root / n).is_file()), None)
    return DatalabPackage(
        root=root, meta=meta, runtime=runtime, requirements=requirements,
        notebooks=tuple(f for f in files if f.endswith(".ipynb")),
        logo=next((n for n in LOGO_NAMES if (root / n).is_file()), None),
        readme=readme.read_text(encoding="utf-8", errors="replace") if readme else None,
        has_dockerfile=(root / "Dockerfile").is_file(), files=files,
    )


def extract_zip(archive: Path, target: Path) -> Path:
    """Unpack ``archive`` into ``target``; returns the package folder (the single top folder, if any)."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            _check_members(members)
            target.mkdir(parents=True, exist_ok=True)
            for member in members:
                destination = target.joinpath(*PurePosixPath(member.filename).parts)
                if member.is_dir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(member) as source, destination.open("xb") as sink:
                    while chunk := source.read(1024 * 1024):
                        sink.write(chunk)
    except zipfile.BadZipFile as exc:
        raise PackageInvalid([Problem(archive.name, None, None, f"not a zip file ({exc})")]) from None
    tops = [p for p in target.iterdir()]
    if len(tops) == 1 and tops[0].is_dir() and not (target / META_FILE).exists():
        return tops[0]
    return target


def _check_members(members: list[zipfile.ZipInfo]) -> None:
    problems = []
    total = 0
    if len(members) > MAX_ZIP_FILES:
        raise PackageInvalid([Problem("zip", None, None, f"more than {MAX_ZIP_FILES} files")])
    for member in members:
        path = PurePosixPath(member.filename.replace("\\", "/"))
        mode = member.external_attr >> 16
        if path.is_absolute() or ".." in path.parts or member.filename.startswith("/"):
            problems.append(Problem(member.filename, None, None, "paths in the zip must stay inside it ('..' or '/')"))
        elif stat.S_ISLNK(mode):
            problems.append(Problem(member.filename, None, None, "links are not accepted in a datalab package"))
        total += member.file_size
    if total > MAX_ZIP_BYTES:
        problems.append(Problem("zip", None, None, f"unpacks to more than {MAX_ZIP_BYTES // 1024**2} MiB"))
    if problems:
        raise PackageInvalid(problems)
