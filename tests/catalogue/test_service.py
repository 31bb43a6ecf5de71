"""Catalogue rules: import, versions, review lifecycle, field-level access, visibility."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from datalabs.accounts.actor import Actor
from datalabs.accounts.service import AccountService
from datalabs.catalogue.meta import PackageInvalid
from datalabs.catalogue.service import CatalogueService, datalab_name
from datalabs.errors import Conflict, InvalidInput, NotFound, PermissionDenied

META = """title: Spectral cube lab
alternateName: CubeLab
abstract: Look at spectral cubes.
distribution.license: MIT
mission: Mars Express
instrument: OMEGA
keywords: [cubes, spectra]
version: {version}
"""


@pytest.fixture
def people(new_user):
    new_user("dev", role="developer", teams={"astro": False})
    new_user("mate", role="developer", teams={"astro": False})
    new_user("member", teams={"astro": False})
    new_user("other", role="developer")
    new_user("plain")
    new_user("mod", role="moderator")
    new_user("root", role="admin")


@pytest.fixture
def actor(db, people):
    def of(name: str) -> Actor:
        return Actor.of(AccountService(db).user(name))

    return of


@pytest.fixture
def service(db, settings):
    return CatalogueService(db, settings)


def write_package(folder: Path, version: str = "1.0", extra: str = "", **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "datalab-meta.yml").write_text(META.format(version=version) + extra)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def zipped(folder: Path) -> Path:
    archive = folder.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in folder.rglob("*"):
            bundle.write(path, path.relative_to(folder))
    return archive


def versions_in(db) -> int:
    from sqlalchemy import func, select

    from datalabs.catalogue.models import DatalabVersion

    return db.scalar(select(func.count()).select_from(DatalabVersion))


def test_names_come_from_alternate_name():
    assert datalab_name("CubeLab") == "cubelab"
    assert datalab_name("PSA Lab (v2)") == "psa-lab-v2"
    with pytest.raises(InvalidInput):
        datalab_name("!!!")


def test_zip_import_makes_a_draft_stored_in_the_catalogue(service, actor, tmp_path, settings):
    archive = zipped(write_package(tmp_path / "pkg", requirements_txt="numpy\n"))
    version = service.import_zip(actor("dev"), archive, team="astro")
    assert (version.datalab.name, version.version, version.state) == ("cubelab", "1.0", "draft")
    assert version.keywords == ["cubes", "spectra"] and version.kind == "jupyterlab"
    assert version.platform_version and version.meta["instrument"] == "OMEGA"
    stored = Path(version.package_path)
    assert stored.is_relative_to(settings.data_dir / "catalogue") and (stored / "datalab-meta.yml").is_file()


def test_git_import_from_a_local_repository_is_for_admins(service, actor, tmp_path):
    repo = write_package(tmp_path / "repo")
    for command in (["git", "init", "-q"], ["git", "add", "."],
                    ["git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "x"]):
        subprocess.run(command, cwd=repo, check=True)
    with pytest.raises(PackageInvalid, match="only https://"):
        service.import_git(actor("dev"), f"file://{repo}")
    version = service.import_git(actor("root"), f"file://{repo}")
    assert version.source_kind == "git" and not (Path(version.package_path) / ".git").exists()
    with pytest.raises(PackageInvalid, match="git clone failed"):
        service.import_git(actor("root"), f"file://{tmp_path}/nothing-here")


def test_only_developers_import_and_only_admins_import_server_folders(service, actor, tmp_path, db):
    folder = write_package(tmp_path / "pkg")
    with pytest.raises(PermissionDenied, match="only developers"):
        service.import_zip(actor("plain"), zipped(folder))
    with pytest.raises(PermissionDenied, match="only admins import folders"):
        service.import_folder(actor("dev"), folder)
    assert versions_in(db) == 0


def test_lifecycle_draft_submitted_published_and_rejected(service, actor, tmp_path):
    service.import_zip(actor("dev"), zipped(write_package(tmp_path / "a")))
    with pytest.raises(NotFound):  # someone else's private draft does not exist for them
        service.submit(actor("other"), "cubelab", "1.0")
    with pytest.raises(PermissionDenied, match="only the developers"):  # moderators see it, but do not submit
        service.submit(actor("mod"), "cubelab", "1.0")
    with pytest.raises(Conflict, match="only submitted versions are reviewed"):
        service.publish(actor("mod"), "cubelab", "1.0")
    service.submit(actor("dev"), "cubelab", "1.0")
    with pytest.raises(PermissionDenied, match="only moderators"):
        service.publish(actor("dev"), "cubelab", "1.0")
    with pytest.raises(InvalidInput, match="reason"):
        service.reject(actor("mod"), "cubelab", "1.0", " ")
    rejected = service.reject(actor("mod"), "cubelab", "1.0", "the abstract is empty of meaning")
    assert (rejected.state, rejected.rejection_reason, rejected.reviewed_by) == (
        "rejected", "the abstract is empty of meaning", "mod")
    service.submit(actor("dev"), "cubelab", "1.0")
    published = service.publish(actor("mod"), "cubelab", "1.0")
    assert published.state == "published" and published.published_at is not None


def test_published_versions_never_change_and_new_versions_are_added(service, actor, tmp_path, db):
    service.import_zip(actor("dev"), zipped(write_package(tmp_path / "a")))
    service.submit(actor("dev"), "cubelab", "1.0")
    service.publish(actor("mod"), "cubelab", "1.0")
    with pytest.raises(Conflict, match="raise 'version'"):
        service.import_zip(actor("dev"), zipped(write_package(tmp_path / "b", extra="description: changed\n")))
    with pytest.raises(Conflict, match="never change"):
        service.update_fields(actor("dev"), "cubelab", "1.0", {"title": "New"})
    assert versions_in(db) == 1
    service.import_zip(actor("dev"), zipped(write_package(tmp_path / "c", version="1.1")))
    assert [v.version for v in service.get(actor("dev"), "cubelab").versions] == ["1.0", "1.1"]
    assert service.launchable(None, "cubelab").version == "1.0"  # the draft 1.1 is not public


def test_a_draft_reimport_replaces_the_draft(service, actor, tmp_path, db):
    service.import_zip(actor("dev"), zipped(write_package(tmp_path / "a")))
    again = service.import_zip(actor("dev"), zipped(write_package(tmp_path / "b", extra="description: better\n")))
    assert again.description == "better" and versions_in(db) == 1


def test_someone_elses_name_is_refused(service, actor, tmp_path, db):
    service.import_zip(actor("dev"), zipped(write_package(tmp_path / "a")))
    with pytest.raises(Conflict, match="belongs to another developer"):
        service.import_zip(actor("other"), zipped(write_package(tmp_path / "b", version="2.0")))
    assert versions_in(db) == 1
    # a developer of the datalab's team may import new versions
    service.import_zip(actor("dev"), zipped(write_package(tmp_path / "t")), team="astro")
    assert service.import_zip(actor("mate"), zipped(write_package(tmp_path / "m", version="2.0"))).version == "2.0"


@pytest.mark.parametrize("extra, message", [
    ("official: true\n", "datalab-meta.yml:9: official: is set by moderators"),
    ("platformVersion: 9.9\n", "datalab-meta.yml:9: platformVersion: is set by the platform"),
    ("dateCreated: 2020-01-01\n", "datalab-meta.yml:9: dateCreated: is set by the platform"),
])
def test_packages_cannot_set_moderator_or_platform_fields(service, actor, tmp_path, db, extra, message):
    with pytest.raises(PackageInvalid) as excinfo:
        service.import_zip(actor("dev"), zipped(write_package(tmp_path / "a", extra=extra)))
    assert str(excinfo.value.problems[0]).startswith(message)
    assert versions_in(db) == 0


def test_field_level_write_access_on_a_draft(service, actor, tmp_path):
    service.import_zip(actor("dev"), zipped(write_package(tmp_path / "a")))
    edited = service.update_fields(actor("dev"), "cubelab", "1.0", {"title": "Cubes", "keywords": ["a"]})
    assert (edited.title, edited.keywords) == ("Cubes", ["a"])
    with pytest.raises(PermissionDenied, match="set by moderators"):
        service.update_fields(actor("dev"), "cubelab", "1.0", {"official": True})
    with pytest.raises(InvalidInput, match="set by the platform"):
        service.update_fields(actor("dev"), "cubelab", "1.0", {"platform_version": "0"})
    with pytest.raises(PermissionDenied, match="only the developers"):
        service.update_fields(actor("mod"), "cubelab", "1.0", {"title": "Mine"})
    with pytest.raises(PermissionDenied, match="only moderators"):
        service.set_official(actor("dev"), "cubelab", True)
    assert service.set_official(actor("mod"), "cubelab", True).official is True


def test_visibility_private_until_published(service, actor, tmp_path):
    service.import_zip(actor("dev"), zipped(write_package(tmp_path / "a")), team="astro")
    assert [d.name for d, _ in service.catalogue(actor("member"))] == ["cubelab"]  # the team sees drafts
    for outsider in (None, actor("other"), actor("plain")):
        assert service.catalogue(outsider) == []
        with pytest.raises(NotFound, match="no datalab named 'cubelab'"):
            service.get(outsider, "cubelab")
    assert service.get(actor("mod"), "cubelab").name == "cubelab"  # moderators review drafts' datalabs
    service.submit(actor("dev"), "cubelab", "1.0")
    service.publish(actor("mod"), "cubelab", "1.0")
    assert [d.name for d, _ in service.catalogue(None)] == ["cubelab"]


def test_withdrawn_datalabs_leave_the_catalogue_but_stay_launchable(service, actor, tmp_path):
    service.import_zip(actor("dev"), zipped(write_package(tmp_path / "a")))
    service.submit(actor("dev"), "cubelab", "1.0")
    service.publish(actor("mod"), "cubelab", "1.0")
    with pytest.raises(PermissionDenied):
        service.withdraw(actor("plain"), "cubelab")
    service.withdraw(actor("mod"), "cubelab")
    assert service.catalogue(actor("plain")) == []
    with pytest.raises(NotFound):
        service.get(actor("plain"), "cubelab")
    assert service.launchable(actor("plain"), "cubelab", "1.0").state == "published"
    assert [d.name for d, _ in service.catalogue(actor("dev"))] == ["cubelab"]  # its developers still see it


def test_catalogue_filters(service, actor, tmp_path):
    service.import_folder(actor("root"), write_package(tmp_path / "a"))
    me = actor("root")
    assert len(service.catalogue(me, text="spectral")) == 1
    assert service.catalogue(me, text="radar") == []
    assert len(service.catalogue(me, keyword="Cubes", mission="mars express", instrument="OMEGA")) == 1
    assert service.catalogue(me, kind="desktop") == []
