"""Demo content for ``datalabs serve --demo``: users, a team, a public and an embargoed volume.

The volumes are copied from the shared PDS test data when it is there (``../shared/testdata/pds``
next to the source checkout, or the ``demo_source`` setting); otherwise a small synthetic
PDS3/PDS4 volume is generated, so the demo works on any machine. Seeding is idempotent.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from datalabs.accounts.service import AccountService
from datalabs.demo_data import write_synthetic_volume
from datalabs.settings import Settings
from datalabs.storage.datasets import DatasetService, today_utc

DEMO_USERS = [
    # name, role, password, teams (name -> team admin)
    ("admin", "admin", "admin-demo-pass", {}),
    ("alice", "developer", "alice-demo-pass", {"rosetta": True}),
    ("bob", "user", "bob-demo-pass", {"rosetta": False}),
    ("carol", "user", "carol-demo-pass", {}),
]
DEMO_TEAM = "rosetta"
EMBARGOED_PART = "pds3/rosetta_osiris_nac"
CHECKOUT_SHARED = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "pds"
EXAMPLE_DATALABS = Path(__file__).resolve().parents[2] / "examples" / "datalabs"
EXAMPLE_PIPELINES = Path(__file__).resolve().parents[2] / "examples" / "pipelines"
EXAMPLE_ARCHIVE = Path(__file__).resolve().parents[2] / "examples" / "archive"


def demo_source(settings: Settings) -> Path | None:
    source = settings.demo_source or CHECKOUT_SHARED
    return source if source.is_dir() else None


def seed_demo(db: Session, settings: Settings) -> str:
    accounts = AccountService(db)
    if accounts.repo.team_by_name(DEMO_TEAM) is None:
        accounts.create_team(DEMO_TEAM, description="Rosetta OSIRIS science team (demo)")
    for name, role, password, teams in DEMO_USERS:
        if accounts.repo.user_by_name(name) is None:
            accounts.create_user(name, role=role, password=password, display_name=name.title())
        for team, admin in teams.items():
            accounts.add_member(team, name, admin=admin)

    public_dir, embargoed_dir, origin = _prepare_volumes(settings)
    datasets = DatasetService(db)
    if datasets.repo.by_name("pds-samples") is None:
        datasets.register("pds-samples", public_dir, title="PDS3 and PDS4 sample products",
                          description=f"Labels and small products from many missions ({origin}).",
                          mission="Various", instrument="Various", domain="Planetary Science")
    if datasets.repo.by_name("rosetta-osiris") is None:
        datasets.register("rosetta-osiris", embargoed_dir, private=True, teams=[DEMO_TEAM],
                          release_date=today_utc() + timedelta(days=365),
                          title="Rosetta OSIRIS NAC level 3 (embargoed demo)",
                          description=f"OSIRIS narrow-angle camera labels, embargoed for one year ({origin}).",
                          mission="Rosetta", instrument="OSIRIS NAC", domain="Planetary Science")

    tables = _index_demo_volumes(db)
    datalabs = _publish_examples(db, settings)
    pipelines = _publish_example_pipelines(db, settings)
    lines = ["[bold]Demo content ready.[/bold] Log in at " + settings.base_url + "/login as:"]
    for name, role, password, teams in DEMO_USERS:
        team_note = ", ".join(f"{t}{' admin' if a else ''}" for t, a in teams.items()) or "no team"
        lines.append(f"  {name:<6} password {password:<16} ({role}; {team_note})")
    lines.append("Volumes: pds-samples (public), rosetta-osiris (embargoed; team rosetta only).")
    lines.append(f"Archive: both volumes' labels indexed; TAP at {settings.base_url}/tap"
                 + (f"; mapped tables: {', '.join(tables)}." if tables else "."))
    if datalabs:
        lines.append(f"Datalabs in the catalogue: {', '.join(datalabs)}.")
    if pipelines:
        lines.append(f"Pipelines in the catalogue: {', '.join(pipelines)}.")
    return "\n".join(lines)


def _index_demo_volumes(db: Session) -> list[str]:
    """Scan the demo volumes' labels (once) and define the shipped mapped tables (the OSIRIS one)."""
    from datalabs.archive.service import ArchiveService

    archive = ArchiveService(db)
    for volume in ("pds-samples", "rosetta-osiris"):
        dataset = archive.datasets.repo.by_name(volume)
        if archive.last_scan(dataset.id) is None:
            archive.run_scan(archive.begin_scan(volume, None))
    tables = []
    for mapping in sorted(EXAMPLE_ARCHIVE.glob("*.yml")):
        tables += [f"mapped.{t.name}" for t in archive.define_tables(mapping.read_text(), None, source=mapping.name)]
    return tables


def _prepare_volumes(settings: Settings) -> tuple[Path, Path, str]:
    base = settings.data_dir / "demo-volumes"
    public_dir, embargoed_dir = base / "pds-samples", base / "rosetta-osiris"
    source = demo_source(settings)
    if public_dir.is_dir() and embargoed_dir.is_dir():
        return public_dir, embargoed_dir, "copied earlier" if source else "synthetic"
    base.mkdir(parents=True, exist_ok=True)
    if source is not None:
        shutil.copytree(source, public_dir, ignore=_skip_embargoed(source), dirs_exist_ok=True)
        embargoed_source = source / EMBARGOED_PART
        if embargoed_source.is_dir():
            shutil.copytree(embargoed_source, embargoed_dir, dirs_exist_ok=True)
        else:
            write_synthetic_volume(embargoed_dir, osiris_only=True)
        return public_dir, embargoed_dir, f"copied from {source}"
    write_synthetic_volume(public_dir)
    write_synthetic_volume(embargoed_dir, osiris_only=True)
    return public_dir, embargoed_dir, "synthetic: the shared test data was not found"


def _skip_embargoed(source: Path):
    embargoed = (source / EMBARGOED_PART).resolve()

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if (Path(folder) / n).resolve() == embargoed]

    return ignore


def _publish_examples(db: Session, settings: Settings) -> list[str]:
    """Import and publish the shipped example datalabs (once; later starts leave them as they are)."""
    from datalabs.accounts.actor import Actor
    from datalabs.catalogue.service import CatalogueService, datalab_name
    from datalabs.catalogue.package import load_package

    if not EXAMPLE_DATALABS.is_dir():
        return []
    admin = Actor.of(AccountService(db).user("admin"))
    builder = None
    if settings.build_environments:  # recorded as pending; the server builds them when it starts
        from sqlalchemy.orm import sessionmaker

        from datalabs.catalogue.environments import EnvironmentBuilder

        builder = EnvironmentBuilder(settings, sessionmaker(bind=db.get_bind(), expire_on_commit=False))
    catalogue = CatalogueService(db, settings, builder, start_builds=False)
    names = []
    for folder in sorted(p for p in EXAMPLE_DATALABS.iterdir() if p.is_dir()):
        package = load_package(folder)
        name = datalab_name(package.name)
        existing = catalogue.repo.datalab(name)
        if existing is None or catalogue.repo.version(existing, package.version) is None:
            catalogue.import_folder(admin, folder)
            catalogue.submit(admin, name, package.version)
            catalogue.publish(admin, name, package.version)
        names.append(name)
    return names


def _publish_example_pipelines(db: Session, settings: Settings) -> list[str]:
    """Import and publish the shipped example pipelines as system pipelines (once)."""
    from datalabs.accounts.actor import Actor
    from datalabs.pipelines.service import PipelineService

    if not EXAMPLE_PIPELINES.is_dir():
        return []
    admin = Actor.of(AccountService(db).user("admin"))
    service = PipelineService(db, settings)
    names = []
    for folder in sorted(p for p in EXAMPLE_PIPELINES.iterdir() if (p / "datalabs-pipeline.yml").is_file()):
        name = folder.name
        existing = service.entry(name)
        if existing is None or not existing.versions:
            imported = service.import_folder(admin, folder, official=True)
            service.submit(admin, imported.pipeline.name, imported.version)
            service.publish(admin, imported.pipeline.name, imported.version)
        names.append(name)
    return names
