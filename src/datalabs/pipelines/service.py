"""The pipeline catalogue: importing CWL steps and workflows, their review, who sees and runs what.

The rules are the datalab catalogue's (``catalogue/service.py``): a pipeline is one name with
versions; an import creates or replaces a *draft* (a rejected version too); submitted and
published versions never change (a new version string makes a new version). Developers submit,
moderators publish or reject with a reason. Withdrawing hides a pipeline from the catalogue
while its published versions stay runnable. Unpublished versions are seen by their developers,
team members, moderators and admins; everyone else gets 404. ``official`` marks a system
pipeline, maintained by the admins.

A workflow may use catalogue steps (``run: catalogue:NAME[@VERSION]``): they resolve to a
version the importing user may run, and the packed document holds a copy, so a published
pipeline never changes when a step gets a new version.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from datalabs.accounts.actor import Actor
from datalabs.accounts.models import Role
from datalabs.accounts.repository import AccountRepository
from datalabs.catalogue import sources
from datalabs.catalogue.models import VersionState
from datalabs.catalogue.service import datalab_name
from datalabs.db.base import utcnow
from datalabs.errors import AlreadyExists, Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied
from datalabs.names import check_text
from datalabs.pipelines import cwl
from datalabs.pipelines.models import Pipeline, PipelineVersion
from datalabs.settings import Settings

PIPELINE_META = "datalabs-pipeline.yml"
MAIN_NAMES = ("main.cwl", "workflow.cwl")
DEFAULT_VERSION = "1.0"
MAX_TAGS, MAX_TAG_LENGTH = 30, 64
MAX_TEXT = 1_000_000  # characters of CWL typed in the editor
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
SORTS = ("modified", "name")
KINDS = ("step", "pipeline")


class PipelineService:
    def __init__(self, db: Session, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.accounts = AccountRepository(db)

    # -- who sees what --------------------------------------------------------------------

    def can_manage(self, actor: Actor | None, pipeline: Pipeline) -> bool:
        """Owner, a developer of its team, or an admin: may import, submit and withdraw versions."""
        if actor is None:
            return False
        if actor.is_admin or actor.user_id == pipeline.owner_id:
            return True
        return (pipeline.team is not None and actor.in_team(pipeline.team.name)
                and actor.role.at_least(Role.DEVELOPER))

    def visible_versions(self, actor: Actor | None, pipeline: Pipeline) -> list[PipelineVersion]:
        if self.can_manage(actor, pipeline) or _is_moderator(actor):
            return list(pipeline.versions)
        if actor is not None and pipeline.team is not None and actor.in_team(pipeline.team.name):
            return list(pipeline.versions)
        return [v for v in pipeline.versions if v.state == VersionState.PUBLISHED.value]

    def shown_version(self, actor: Actor | None, pipeline: Pipeline) -> PipelineVersion:
        """The latest published version, else the latest one the caller may see."""
        versions = self.visible_versions(actor, pipeline)
        published = [v for v in versions if v.state == VersionState.PUBLISHED.value]
        return (published or versions)[-1]

    def get(self, actor: Actor | None, name: str) -> Pipeline:
        pipeline = self._row(name)
        if pipeline is None or not self.visible_versions(actor, pipeline):
            raise NotFound(f"no pipeline named {name!r}", field="pipeline")
        if pipeline.withdrawn_at is not None and not (self.can_manage(actor, pipeline) or _is_moderator(actor)):
            raise NotFound(f"no pipeline named {name!r}", field="pipeline")
        return pipeline

    def version(self, actor: Actor | None, name: str, version: str) -> PipelineVersion:
        pipeline = self.get(actor, name)
        for candidate in self.visible_versions(actor, pipeline):
            if candidate.version == version:
                return candidate
        raise NotFound(f"no version {version!r} of pipeline {name!r}", field="version")

    def runnable(self, actor: Actor | None, name: str, version: str | None = None) -> PipelineVersion:
        """A version one may run: published (even of a withdrawn pipeline), or one's own unpublished one."""
        pipeline = self._row(name)
        if pipeline is None:
            raise NotFound(f"no pipeline named {name!r}", field="pipeline")
        own = self.can_manage(actor, pipeline)
        versions = [v for v in pipeline.versions if own or v.state == VersionState.PUBLISHED.value]
        if version is None:
            published = [v for v in versions if v.state == VersionState.PUBLISHED.value]
            if not published:
                raise NotFound(f"pipeline {name!r} has no published version", field="version")
            return published[-1]
        for candidate in versions:
            if candidate.version == version:
                return candidate
        raise NotFound(f"no version {version!r} of pipeline {name!r} that you may run", field="version")

    def catalogue(self, actor: Actor | None, *, text: str = "", tag: str = "", kind: str = "",
                  sort: str = "modified") -> list[tuple[Pipeline, PipelineVersion]]:
        """Pipelines the caller may see, each with the version to show; the last modified first by default."""
        if sort not in SORTS:
            raise InvalidInput(f"sort by {' or '.join(SORTS)}", field="sort")
        if kind and kind not in KINDS:
            raise InvalidInput(f"kind is {' or '.join(KINDS)}", field="kind")
        wanted = text.lower().strip()
        found = []
        for pipeline in self.db.scalars(select(Pipeline).order_by(Pipeline.name)):
            versions = self.visible_versions(actor, pipeline)
            if not versions or (pipeline.withdrawn_at is not None and not self.can_manage(actor, pipeline)):
                continue
            shown = self.shown_version(actor, pipeline)
            haystack = " ".join([pipeline.name, shown.title, shown.doc, " ".join(shown.tags)]).lower()
            if wanted and wanted not in haystack:
                continue
            if tag and tag.lower() not in [t.lower() for t in shown.tags]:
                continue
            if kind and kind != pipeline.kind:
                continue
            found.append((pipeline, shown))
        if sort == "modified":
            found.sort(key=lambda pair: pair[0].updated_at, reverse=True)
        return found

    def graph_svg(self, actor: Actor | None, name: str, version: str) -> str:
        """The picture of a version (drawn on each request: it is cheap, and nothing is cached)."""
        from datalabs.pipelines.graph import graph_svg

        row = self.version(actor, name, version)
        return graph_svg(row.graph, row.title or name)

    # -- importing ------------------------------------------------------------------------

    def import_file(self, actor: Actor, path: Path, *, name: str | None = None, version: str | None = None,
                    team: str | None = None, tags: Iterable[str] = (), official: bool = False,
                    source: str | None = None, source_kind: str = "file") -> PipelineVersion:
        """One CWL file (files it names must be beside it)."""
        _require_developer(actor)
        return self._import(actor, Path(path), title=None, name=name, version=version, team=team, tags=tags,
                            official=official, source=source or Path(path).name, source_kind=source_kind)

    def import_folder(self, actor: Actor, folder: Path, main: str | None = None, *, name: str | None = None,
                      version: str | None = None, team: str | None = None, tags: Iterable[str] = (),
                      official: bool = False) -> PipelineVersion:
        """A folder on the server: for admins (and the demo), never for remote users."""
        if not actor.is_admin:
            raise PermissionDenied("only admins import folders that are on the server; upload a zip instead")
        with tempfile.TemporaryDirectory(prefix="datalabs-pipeline-") as workdir:
            copy = Path(workdir) / "folder"  # loading writes beside the document: never in the admin's folder
            shutil.copytree(sources.from_folder(Path(folder)), copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))
            return self._import_tree(actor, copy, main, name=name, version=version, team=team, tags=tags,
                                     official=official, source=str(folder), source_kind="folder")

    def import_zip(self, actor: Actor, archive: Path, *, filename: str = "", main: str | None = None,
                   name: str | None = None, version: str | None = None, team: str | None = None,
                   tags: Iterable[str] = (), official: bool = False) -> PipelineVersion:
        """An uploaded zip of a folder (unpacked safely: no '..', absolute paths or links)."""
        _require_developer(actor)
        with tempfile.TemporaryDirectory(prefix="datalabs-pipeline-") as workdir:
            folder = sources.from_zip(archive, Path(workdir))
            return self._import_tree(actor, folder, main, name=name, version=version, team=team, tags=tags,
                                     official=official, source=filename or archive.name, source_kind="folder")

    def import_git(self, actor: Actor, url: str, ref: str | None = None, *, main: str | None = None,
                   name: str | None = None, version: str | None = None, team: str | None = None,
                   tags: Iterable[str] = (), official: bool = False) -> PipelineVersion:
        """A git repository: https only, except for admins (a path or file:// URL on the server)."""
        _require_developer(actor)
        with tempfile.TemporaryDirectory(prefix="datalabs-pipeline-") as workdir:
            folder = sources.from_git(url, Path(workdir), ref=ref, allow_local=actor.is_admin)
            return self._import_tree(actor, folder, main, name=name, version=version, team=team, tags=tags,
                                     official=official, source=url, source_kind="git")

    def import_text(self, actor: Actor, text: str, filename: str = "pipeline.cwl", *, name: str | None = None,
                    version: str | None = None, team: str | None = None, tags: Iterable[str] = (),
                    official: bool = False) -> PipelineVersion:
        """A document typed in the web editor; problems are reported against ``filename``."""
        _require_developer(actor)
        check_text("CWL text", text, MAX_TEXT)
        filename = Path(filename or "pipeline.cwl").name or "pipeline.cwl"
        with tempfile.TemporaryDirectory(prefix="datalabs-pipeline-") as workdir:
            path = Path(workdir) / filename
            path.write_text(text, encoding="utf-8")
            return self._import(actor, path, title=None, name=name, version=version, team=team, tags=tags,
                                official=official, source=filename, source_kind="editor")

    def _import_tree(self, actor: Actor, folder: Path, main: str | None, *, source: str, source_kind: str,
                     **options) -> PipelineVersion:
        meta = _folder_meta(folder)
        main_path = _main_file(folder, main or meta.get("main"))
        tags = list(options.pop("tags") or ()) or meta.get("tags") or []
        options["name"] = options.get("name") or meta.get("name")
        options["version"] = options.get("version") or meta.get("version")
        return self._import(actor, main_path, title=meta.get("title"), tags=tags, source=source,
                            source_kind=source_kind, **options)

    def _import(self, actor: Actor, path: Path, *, title: str | None, name: str | None, version: str | None,
                team: str | None, tags: Iterable[str], official: bool, source: str,
                source_kind: str) -> PipelineVersion:
        if official and not actor.is_admin:
            raise PermissionDenied("only admins may import official (system) pipelines")
        tags = _check_tags(tags)
        with tempfile.TemporaryDirectory(prefix="datalabs-steps-") as steps_dir:
            document = cwl.load_file(path, resolve_catalogue=self.resolver(actor, Path(steps_dir)))
        name = _pipeline_name(name, document, path)
        version = _check_version(version or DEFAULT_VERSION)
        pipeline = self._pipeline_for(actor, name, team, document)
        row = next((v for v in pipeline.versions if v.version == version), None)
        if row is not None and row.state in (VersionState.SUBMITTED.value, VersionState.PUBLISHED.value):
            raise AlreadyExists(f"version {version} of {name!r} is {row.state} and never changes: import it "
                                "under a new version", code="version_frozen", field="version")
        if row is None:
            row = PipelineVersion(pipeline=pipeline, version=version)
            self.db.add(row)
        _fill_version(row, document, path, title=title or document.label or name, tags=tags or document.keywords,
                      source=source, source_kind=source_kind)
        if official:
            pipeline.official = True
        pipeline.kind = _kind(document)
        pipeline.updated_at = utcnow()
        self.db.commit()
        return row

    def _pipeline_for(self, actor: Actor, name: str, team: str | None, document: cwl.CwlDocument) -> Pipeline:
        team_row = None
        if team is not None:
            team_row = self.accounts.team_by_name(team)
            if team_row is None or not (actor.in_team(team) or actor.is_admin):
                raise NotFound(f"no team named {team!r}", field="team")
        pipeline = self._row(name)
        if pipeline is None:
            pipeline = Pipeline(name=name, kind=_kind(document), owner_id=actor.user_id, team=team_row)
            self.db.add(pipeline)
        elif not self.can_manage(actor, pipeline):
            raise Conflict(f"the name {name!r} belongs to another developer's pipeline: choose another name",
                           code="name_taken", field="name")
        elif team_row is not None:
            pipeline.team = team_row
        return pipeline

    def resolver(self, actor: Actor, folder: Path):
        """``catalogue:NAME[@VERSION]`` -> the packed CWL of a version ``actor`` may run, written to ``folder``."""

        def resolve(name: str, version: str | None) -> tuple[Path, str]:
            row = self.runnable(actor, name, version)
            target = folder / f"{name}-{row.version}.json"
            target.write_text(json.dumps(row.packed), encoding="utf-8")
            return target, row.version

        return resolve

    # -- lifecycle ------------------------------------------------------------------------

    def submit(self, actor: Actor, name: str, version: str) -> PipelineVersion:
        row = self.version(actor, name, version)
        if not self.can_manage(actor, row.pipeline):
            raise PermissionDenied(f"only the developers of {name!r} may submit it")
        if row.state not in (VersionState.DRAFT.value, VersionState.REJECTED.value):
            raise Conflict(f"version {version} of {name!r} is {row.state}: only drafts and rejected versions "
                           "can be submitted", code="wrong_state")
        row.state, row.submitted_at, row.rejection_reason = VersionState.SUBMITTED.value, utcnow(), ""
        return self._changed(row)

    def publish(self, actor: Actor, name: str, version: str) -> PipelineVersion:
        row = self._for_review(actor, name, version)
        row.state, row.published_at, row.reviewed_by = VersionState.PUBLISHED.value, utcnow(), actor.name
        return self._changed(row)

    def reject(self, actor: Actor, name: str, version: str, reason: str) -> PipelineVersion:
        if not reason or not reason.strip():
            raise InvalidInput("give the developer a reason for the rejection", field="reason")
        row = self._for_review(actor, name, version)
        row.state, row.reviewed_by = VersionState.REJECTED.value, actor.name
        row.rejection_reason = check_text("reason", reason.strip()[:5000])
        return self._changed(row)

    def withdraw(self, actor: Actor, name: str, *, withdrawn: bool = True) -> Pipeline:
        pipeline = self.get(actor, name)
        if not (self.can_manage(actor, pipeline) or _is_moderator(actor)):
            raise PermissionDenied(f"only moderators or the developers of {name!r} may withdraw it")
        pipeline.withdrawn_at = utcnow() if withdrawn else None
        pipeline.updated_at = utcnow()
        self.db.commit()
        return pipeline

    def set_official(self, actor: Actor, name: str, official: bool) -> Pipeline:
        pipeline = self.get(actor, name)
        if not actor.is_admin:
            raise PermissionDenied("only admins may mark a pipeline official (a system pipeline)")
        pipeline.official = official
        pipeline.updated_at = utcnow()
        self.db.commit()
        return pipeline

    def _for_review(self, actor: Actor, name: str, version: str) -> PipelineVersion:
        row = self.version(actor, name, version)
        if not _is_moderator(actor):
            raise PermissionDenied("only moderators may publish or reject pipelines")
        if row.state != VersionState.SUBMITTED.value:
            raise Conflict(f"version {version} of {name!r} is {row.state}: only submitted versions are reviewed",
                           code="wrong_state")
        return row

    def _changed(self, row: PipelineVersion) -> PipelineVersion:
        row.pipeline.updated_at = utcnow()
        self.db.commit()
        return row

    def entry(self, name: str) -> Pipeline | None:
        """The catalogue row, whoever may see it (for server-side code such as the demo)."""
        return self._row(name)

    def _row(self, name: str) -> Pipeline | None:
        if "\x00" in name:
            return None
        return self.db.scalar(select(Pipeline).where(Pipeline.name == name))


# -- helpers ---------------------------------------------------------------------------------

def _fill_version(row: PipelineVersion, document: cwl.CwlDocument, path: Path, *, title: str, tags: list[str],
                  source: str, source_kind: str) -> None:
    row.state = VersionState.DRAFT.value
    row.title = check_text("title", title[:300]) or ""
    row.doc = document.doc
    row.tags = tags
    row.cwl_class, row.cwl_version = document.cwl_class, document.cwl_version[:16]
    row.main_file = path.name[:300]
    row.source_text = path.read_text(encoding="utf-8")
    row.packed = document.packed
    row.inputs, row.outputs = document.inputs, document.outputs
    # the Docker images of its tools travel with the graph: the run service needs them without reloading
    row.graph = {**document.graph, "docker": document.docker}
    row.uses, row.environments = document.uses, document.environments
    row.source, row.source_kind = source[:2000], source_kind
    row.rejection_reason, row.reviewed_by = "", ""
    row.submitted_at = row.published_at = None


def _kind(document: cwl.CwlDocument) -> str:
    return "pipeline" if document.cwl_class == "Workflow" else "step"


RESERVED_NAMES = frozenset({"import", "git", "text", "runs"})  # paths of the API and pages next to /{name}


def _pipeline_name(given: str | None, document: cwl.CwlDocument, path: Path) -> str:
    if given:
        if not _NAME.fullmatch(given):
            raise InvalidInput(f"invalid pipeline name {given!r}: use 1-64 lower-case letters, digits and '-', "
                               "starting and ending with a letter or digit", field="name")
        name = given
    else:
        name = datalab_name(document.id or path.stem)
    if name in RESERVED_NAMES:
        raise InvalidInput(f"the pipeline name {name!r} is reserved (a page of the platform has that path): "
                           "choose another with --name", field="name")
    return name


def _check_version(version: str) -> str:
    version = str(version).strip()
    if not _VERSION.fullmatch(version):
        raise InvalidInput(f"invalid version {version!r}: use up to 64 letters, digits, '.', '-', '_' or '+'",
                           field="version")
    return version


def _check_tags(tags: Iterable[str]) -> list[str]:
    cleaned = []
    for tag in tags:
        if not isinstance(tag, str):
            raise InvalidInput("tags are texts", field="tags")
        tag = check_text("tag", tag.strip(), MAX_TAG_LENGTH)
        if tag and tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags", field="tags")
    return cleaned


def _folder_meta(folder: Path) -> dict:
    """``datalabs-pipeline.yml`` (main, name, version, title, tags), when the folder has one."""
    path = folder / PIPELINE_META
    if not path.is_file() or path.is_symlink():
        return {}
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{PIPELINE_META}: not valid YAML ({exc})", field=PIPELINE_META) from None
    if not isinstance(values, dict):
        raise InvalidInput(f"{PIPELINE_META}: write keys main, name, version, title, tags", field=PIPELINE_META)
    meta = {key: str(values[key]) for key in ("main", "name", "version", "title") if values.get(key) is not None}
    tags = values.get("tags") or []
    meta["tags"] = [str(t) for t in tags] if isinstance(tags, list) else [t.strip() for t in str(tags).split(",")]
    return meta


def _main_file(folder: Path, main: str | None) -> Path:
    """The CWL document to import: the one named, else the only .cwl file, else main.cwl or workflow.cwl."""
    root = folder.resolve()
    if main:
        path = (root / main).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise InvalidInput(f"main file {main!r} is not in the folder", field="main")
        return path
    candidates = sorted(p for p in root.glob("*.cwl") if p.is_file() and not p.is_symlink())
    if len(candidates) == 1:
        return candidates[0]
    for name in MAIN_NAMES:
        if (root / name).is_file() and not (root / name).is_symlink():
            return root / name
    if not candidates:
        raise InvalidInput("no .cwl file at the top of the folder", field="main")
    raise InvalidInput(f"several .cwl files ({', '.join(p.name for p in candidates[:5])}): name the main one "
                       f"(main: in {PIPELINE_META}, or call it main.cwl)", field="main")


def _is_moderator(actor: Actor | None) -> bool:
    return actor is not None and actor.role.at_least(Role.MODERATOR)


def _require_developer(actor: Actor | None) -> Actor:
    if actor is None:
        raise NotAuthenticated("log in first")
    if not actor.role.at_least(Role.DEVELOPER):
        raise PermissionDenied("only developers may import pipelines (ask an admin for the developer role)")
    return actor
