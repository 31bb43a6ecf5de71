"""Catalogue rules: importing versions, the review lifecycle, who may write what, who sees what.

Lifecycle of a version: ``draft`` (imported) -> ``submitted`` (by its developer) -> ``published``
or ``rejected`` with a reason (by a moderator). A rejected version can be re-imported (back to
draft) or submitted again. Published versions never change; older ones stay launchable.
Withdrawing a datalab hides it from the catalogue without touching its versions (running
sessions keep going). Visibility: a datalab's unpublished versions are seen by its owner, its
team, moderators and admins; published versions by everyone.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from sqlalchemy.orm import Session

from datalabs import __version__
from datalabs.accounts.actor import Actor
from datalabs.accounts.models import Role
from datalabs.accounts.repository import AccountRepository
from datalabs.catalogue import sources
from datalabs.catalogue.fields import DESCRIPTIVE, MODERATOR_FIELDS, PLATFORM_FIELDS, forbidden_meta_fields
from datalabs.catalogue.meta import PackageInvalid
from datalabs.catalogue.models import Datalab, DatalabVersion, VersionState
from datalabs.catalogue.package import DatalabPackage, load_package
from datalabs.catalogue.repository import CatalogueRepository
from datalabs.db.base import utcnow
from datalabs.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied
from datalabs.settings import Settings

_SLUG_JUNK = re.compile(r"[^a-z0-9]+")


def datalab_name(alternate_name: str) -> str:
    """The catalogue name of a package: its ``alternateName`` in lower case, words joined by '-'."""
    slug = _SLUG_JUNK.sub("-", alternate_name.lower()).strip("-")[:64].strip("-")
    if not slug:
        raise InvalidInput(f"alternateName {alternate_name!r} gives no usable name (use letters or digits)",
                           field="alternateName")
    return slug


class CatalogueService:
    def __init__(self, db: Session, settings: Settings, builder=None, *, start_builds: bool = True) -> None:
        self.db = db
        self.settings = settings
        self.builder = builder  # an EnvironmentBuilder, or None (no environments are built)
        self.start_builds = start_builds  # False: leave new environments pending for the server to build
        self.repo = CatalogueRepository(db)
        self.accounts = AccountRepository(db)

    # -- who sees what --------------------------------------------------------------------

    def can_manage(self, actor: Actor | None, datalab: Datalab) -> bool:
        """Owner, a developer of its team, or an admin: may import, edit and submit versions."""
        if actor is None:
            return False
        if actor.is_admin or actor.user_id == datalab.owner_id:
            return True
        return (datalab.team is not None and actor.in_team(datalab.team.name)
                and actor.role.at_least(Role.DEVELOPER))

    def visible_versions(self, actor: Actor | None, datalab: Datalab) -> list[DatalabVersion]:
        if self.can_manage(actor, datalab) or (actor is not None and actor.role.at_least(Role.MODERATOR)):
            return list(datalab.versions)
        if actor is not None and datalab.team is not None and actor.in_team(datalab.team.name):
            return list(datalab.versions)
        return [v for v in datalab.versions if v.state == VersionState.PUBLISHED.value]

    def shown_version(self, actor: Actor | None, datalab: Datalab, version: str | None = None) -> DatalabVersion:
        """The version to show: the one asked for, else the latest published, else the latest visible."""
        if version:
            return self.version(actor, datalab.name, version)
        versions = self.visible_versions(actor, datalab)
        published = [v for v in versions if v.state == VersionState.PUBLISHED.value]
        return (published or versions)[-1]

    def get(self, actor: Actor | None, name: str) -> Datalab:
        datalab = self.repo.datalab(name)
        if datalab is None or not self.visible_versions(actor, datalab):
            raise NotFound(f"no datalab named {name!r}", field="datalab")
        if datalab.withdrawn_at is not None and not self.can_manage(actor, datalab) and not (
                actor is not None and actor.role.at_least(Role.MODERATOR)):
            raise NotFound(f"no datalab named {name!r}", field="datalab")
        return datalab

    def version(self, actor: Actor | None, name: str, version: str) -> DatalabVersion:
        datalab = self.get(actor, name)
        for candidate in self.visible_versions(actor, datalab):
            if candidate.version == version:
                return candidate
        raise NotFound(f"no version {version!r} of datalab {name!r}", field="version")

    def launchable(self, actor: Actor | None, name: str, version: str | None = None) -> DatalabVersion:
        """A version one may launch: published (even of a withdrawn datalab), or one's own draft."""
        datalab = self.repo.datalab(name)
        if datalab is None:
            raise NotFound(f"no datalab named {name!r}", field="datalab")
        versions = self.visible_versions(actor, datalab)
        if version is None:
            published = [v for v in versions if v.state == VersionState.PUBLISHED.value]
            if not published:
                raise NotFound(f"datalab {name!r} has no published version", field="version")
            return published[-1]
        for candidate in versions:
            if candidate.version == version:
                return candidate
        raise NotFound(f"no version {version!r} of datalab {name!r}", field="version")

    def catalogue(self, actor: Actor | None, *, text: str = "", keyword: str = "", mission: str = "",
                  instrument: str = "", kind: str = "") -> list[tuple[Datalab, DatalabVersion]]:
        """Datalabs the caller may see, each with the version to show (latest published, else latest)."""
        wanted = text.lower().strip()
        found = []
        for datalab in self.repo.datalabs():
            versions = self.visible_versions(actor, datalab)
            if not versions:
                continue
            if datalab.withdrawn_at is not None and not self.can_manage(actor, datalab):
                continue
            shown = self.shown_version(actor, datalab)
            haystack = " ".join([datalab.name, shown.title, shown.abstract, shown.description,
                                 " ".join(shown.keywords), shown.mission, shown.instrument]).lower()
            if wanted and wanted not in haystack:
                continue
            if keyword and keyword.lower() not in [k.lower() for k in shown.keywords]:
                continue
            if mission and mission.lower() != shown.mission.lower():
                continue
            if instrument and instrument.lower() != shown.instrument.lower():
                continue
            if kind and kind != shown.kind:
                continue
            found.append((datalab, shown))
        return found

    # -- importing ------------------------------------------------------------------------

    def import_folder(self, actor: Actor, folder: Path, *, team: str | None = None) -> DatalabVersion:
        """A folder on the server: for admins (and the demo), never for remote users."""
        if not actor.is_admin:
            raise PermissionDenied("only admins import folders that are on the server; upload a zip instead")
        return self._import(actor, sources.from_folder(folder), str(folder), "folder", team)

    def import_git(self, actor: Actor, url: str, *, ref: str | None = None, team: str | None = None) -> DatalabVersion:
        _require_developer(actor)
        with tempfile.TemporaryDirectory(prefix="datalabs-import-") as workdir:
            folder = sources.from_git(url, Path(workdir), ref=ref, allow_local=actor.is_admin)
            return self._import(actor, folder, url, "git", team)

    def import_zip(self, actor: Actor, archive: Path, *, filename: str = "", team: str | None = None) -> DatalabVersion:
        _require_developer(actor)
        with tempfile.TemporaryDirectory(prefix="datalabs-import-") as workdir:
            folder = sources.from_zip(archive, Path(workdir))
            return self._import(actor, folder, filename or archive.name, "zip", team)

    def _import(self, actor: Actor, folder: Path, source: str, source_kind: str, team: str | None) -> DatalabVersion:
        _require_developer(actor)
        package = load_package(folder)
        problems = forbidden_meta_fields(package.meta)
        if problems:
            raise PackageInvalid(problems)
        name = datalab_name(package.name)
        datalab = self.repo.datalab(name)
        team_row = None
        if team is not None:
            if not actor.in_team(team) and not actor.is_admin:
                raise NotFound(f"no team named {team!r}", field="team")
            team_row = self.accounts.team_by_name(team)
            if team_row is None:
                raise NotFound(f"no team named {team!r}", field="team")
        if datalab is None:
            datalab = Datalab(name=name, owner_id=actor.user_id, team=team_row)
            self.repo.add(datalab)
        elif not self.can_manage(actor, datalab):
            raise Conflict(f"the name {name!r} belongs to another developer's datalab: choose another alternateName",
                           code="name_taken")
        elif team_row is not None:
            datalab.team = team_row
        version = self.repo.version(datalab, package.version) if datalab.id else None
        if version is not None and version.state in (VersionState.SUBMITTED.value, VersionState.PUBLISHED.value):
            raise Conflict(f"version {package.version} of {name!r} is {version.state} and cannot change: "
                           "raise 'version' in datalab-meta.yml", code="version_frozen")
        if version is None:
            version = DatalabVersion(datalab=datalab, version=package.version)
            self.repo.add(version)
        _fill_version(version, package, source, source_kind)
        version.package_path = str(self._store(package, name))
        version.environment_id = None
        if self.builder is not None and self.settings.build_environments and package.runtime.environment is not None:
            environment = self.builder.ensure(package.requirements or "", package.runtime.kind,
                                              package.runtime.host_packages)
            version.environment_id = environment.id
        self.db.commit()
        if version.environment_id is not None and self.start_builds:
            self.builder.start(version.environment_id)  # in the background; the log can be followed live
        return version

    # -- environments ---------------------------------------------------------------------

    def environment(self, actor: Actor | None, env_id: str):
        """An environment, visible to whoever may see a version that uses it."""
        from datalabs.catalogue.models import Environment

        for datalab in self.repo.datalabs():
            if any(v.environment_id == env_id for v in self.visible_versions(actor, datalab)):
                row = self.db.get(Environment, env_id)
                if row is not None:
                    return row
        raise NotFound(f"no environment {env_id!r}", field="environment")

    def rebuild(self, actor: Actor, name: str, version: str):
        """Build a version's environment again (after a failure, e.g. once a host package is installed)."""
        row = self.version(actor, name, version)
        if not self.can_manage(actor, row.datalab):
            raise PermissionDenied(f"only the developers of {name!r} may rebuild its environment")
        if row.environment_id is None or self.builder is None:
            raise Conflict(f"version {version} of {name!r} has no environment to build", code="no_environment")
        self.builder.start(row.environment_id)
        self.db.expire_all()
        return self.environment(actor, row.environment_id)

    def _store(self, package: DatalabPackage, name: str) -> Path:
        """Copy the package into the catalogue store (a draft re-import replaces its copy)."""
        target = self.settings.data_dir / "catalogue" / name / package.version
        staging = target.with_name(f".{package.version}.incoming")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(package.root, staging, ignore=shutil.ignore_patterns(".git"), symlinks=False)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        return target

    # -- lifecycle ------------------------------------------------------------------------

    def submit(self, actor: Actor, name: str, version: str) -> DatalabVersion:
        row = self.version(actor, name, version)
        if not self.can_manage(actor, row.datalab):
            raise PermissionDenied(f"only the developers of {name!r} may submit it")
        if row.state not in (VersionState.DRAFT.value, VersionState.REJECTED.value):
            raise Conflict(f"version {version} of {name!r} is {row.state}: only drafts and rejected versions "
                           "can be submitted", code="wrong_state")
        row.state = VersionState.SUBMITTED.value
        row.submitted_at = utcnow()
        row.rejection_reason = ""
        self.db.commit()
        return row

    def publish(self, actor: Actor, name: str, version: str) -> DatalabVersion:
        row = self._for_review(actor, name, version)
        row.state = VersionState.PUBLISHED.value
        row.published_at = utcnow()
        row.reviewed_by = actor.name
        self.db.commit()
        return row

    def reject(self, actor: Actor, name: str, version: str, reason: str) -> DatalabVersion:
        if not reason or not reason.strip():
            raise InvalidInput("give the developer a reason for the rejection", field="reason")
        row = self._for_review(actor, name, version)
        row.state = VersionState.REJECTED.value
        row.rejection_reason = reason.strip()[:5000]
        row.reviewed_by = actor.name
        self.db.commit()
        return row

    def withdraw(self, actor: Actor, name: str, *, withdrawn: bool = True) -> Datalab:
        datalab = self.get(actor, name)
        if not (self.can_manage(actor, datalab) or actor.role.at_least(Role.MODERATOR)):
            raise PermissionDenied(f"only moderators or the developers of {name!r} may withdraw it")
        datalab.withdrawn_at = utcnow() if withdrawn else None
        self.db.commit()
        return datalab

    def set_official(self, actor: Actor, name: str, official: bool) -> Datalab:
        datalab = self.get(actor, name)
        _require_moderator(actor, "mark a datalab official")
        datalab.official = official
        self.db.commit()
        return datalab

    def update_fields(self, actor: Actor, name: str, version: str, changes: dict) -> DatalabVersion:
        """Edit descriptive fields of an unpublished version; moderator and platform fields are refused."""
        row = self.version(actor, name, version)
        for key in changes:
            if key in MODERATOR_FIELDS:
                raise PermissionDenied(f"field {key!r} is set by moderators (publish, reject, official)", code="moderator_field")
            if key in PLATFORM_FIELDS or key in ("platform_version", "environment_id", "created_at", "package_path"):
                raise InvalidInput(f"field {key!r} is set by the platform and can never be set by a user",
                                   code="platform_field", field=key)
            if key not in DESCRIPTIVE:
                raise InvalidInput(f"unknown field {key!r}: editable fields are {', '.join(DESCRIPTIVE)}", field=key)
        if not self.can_manage(actor, row.datalab):
            raise PermissionDenied(f"only the developers of {name!r} may edit it")
        if row.state not in (VersionState.DRAFT.value, VersionState.REJECTED.value):
            raise Conflict(f"version {version} is {row.state}: published and submitted versions never change",
                           code="version_frozen")
        for key, value in changes.items():
            if key == "keywords":
                if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
                    raise InvalidInput("keywords must be a list of texts", field="keywords")
            elif not isinstance(value, str):
                raise InvalidInput(f"{key} must be a text", field=key)
            setattr(row, key, value)
        self.db.commit()
        return row

    def _for_review(self, actor: Actor, name: str, version: str) -> DatalabVersion:
        row = self.version(actor, name, version)
        _require_moderator(actor, "publish or reject datalabs")
        if row.state != VersionState.SUBMITTED.value:
            raise Conflict(f"version {version} of {name!r} is {row.state}: only submitted versions are reviewed",
                           code="wrong_state")
        return row


def _fill_version(version: DatalabVersion, package: DatalabPackage, source: str, source_kind: str) -> None:
    meta = package.meta
    version.state = VersionState.DRAFT.value
    version.title = meta.text("title") or ""
    version.abstract = meta.text("abstract") or ""
    version.description = meta.text("description") or ""
    version.license = meta.text("distribution.license") or ""
    version.mission = meta.text("mission") or ""
    version.instrument = meta.text("instrument") or ""
    version.kind = package.runtime.kind
    version.keywords = meta.texts("keywords")
    version.meta = dict(meta.values)
    version.runtime = {
        "kind": package.runtime.kind, "command": list(package.runtime.command),
        "health_path": package.runtime.health_path, "cpu": {"default": package.runtime.cpu_default,
                                                             "max": package.runtime.cpu_max},
        "memory": {"default": package.runtime.memory_default, "max": package.runtime.memory_max},
        "environment": package.runtime.environment, "host_packages": list(package.runtime.host_packages),
        "image": package.runtime.image, "extra": package.runtime.extra,
    }
    version.source, version.source_kind = source[:2000], source_kind
    version.rejection_reason = ""
    version.submitted_at = version.published_at = None
    version.platform_version = __version__


def _require_developer(actor: Actor | None) -> Actor:
    if actor is None:
        raise NotAuthenticated("log in first")
    if not actor.role.at_least(Role.DEVELOPER):
        raise PermissionDenied("only developers may import datalabs (ask an admin for the developer role)")
    return actor


def _require_moderator(actor: Actor, what: str) -> None:
    if not actor.role.at_least(Role.MODERATOR):
        raise PermissionDenied(f"only moderators may {what}")
