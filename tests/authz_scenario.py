"""The scenario shared by the authorization matrices (``test_authz_matrix`` for the API,
``test_authz_pages`` for the web pages), and the checks they have in common.

Personas: ``anonymous``; ``other`` (oscar, a plain user in no team); ``member`` (mike, in team
astro); ``team_admin`` (tara, admin of astro); ``owner`` (alice, who owns the workspace file, the
extra API token and the user record the rows act on); ``moderator`` (mod); ``admin`` (root).
The scenario also holds a public volume ``pubvol`` and a volume ``embvol`` embargoed for astro.

Use the ``world`` fixture by importing it into the test module
(``from tests.authz_scenario import world  # noqa: F401``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from datalabs.accounts.service import AccountService
from datalabs.db.models import Base
from datalabs.storage.datasets import DatasetService

PERSONAS = ("anonymous", "other", "member", "team_admin", "owner", "moderator", "admin")
USERS = {"other": "oscar", "member": "mike", "team_admin": "tara", "owner": "alice", "moderator": "mod",
         "admin": "root"}
ALICE_SECRET = "alice-private-notes-a8f1"
ASTRO_SECRET = "astro-team-plan-77c2"
EMBARGO_SECRET = "embargoed-measurements-e3d9"
EMBARGO_TITLE = "Kappa comet spectra 5f2a"  # the embargoed volume's title
EMBARGO_READERS = frozenset({"member", "team_admin", "admin"})
FUTURE = date.today() + timedelta(days=400)
DRAFT_SECRET = "unpublished-draft-abstract-4b7e"
DRAFT_LOG_SECRET = "draft-build-log-9c1d"  # the build log of the draft's environment
SESSION_ID = "s_00000000000000a1"  # alice's running session of publab (fake backend)
SESSION_LOG_SECRET = "alice-session-output-31d7"
RUN_ID = "r_00000000000000a1"  # alice's completed run of pubpipe
RUN_LOG_SECRET = "alice-run-output-5c2e"
EMBARGO_PRODUCT = "EMBARGOED_PRODUCT_6d0b"  # the identifier of the embargoed volume's product
TAP_JOB_DONE, TAP_JOB_PENDING = "j0000000000000000000000a1", "j0000000000000000000000a2"  # alice's TAP jobs
TAP_RESULT_SECRET = "alice-tap-result-8e4f"
PUBLIC_ENV, DRAFT_ENV = "a" * 64, "b" * 64  # the abstract of alice's private draft datalab
LAB_META = "title: {name}\nalternateName: {name}\nabstract: {abstract}\ndistribution.license: MIT\nversion: 1.0\n"


def lab_zip(name: str, abstract: str = "A datalab.") -> bytes:
    """A zipped datalab package (for the import routes of the matrix)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("datalab-meta.yml", LAB_META.format(name=name, abstract=abstract))
    return buffer.getvalue()


def _seed_catalogue(settings, session_factory, tmp_path: Path) -> None:
    """alice (a developer) owns a private draft, a submitted and a published datalab."""
    from datalabs.accounts.actor import Actor
    from datalabs.catalogue.models import Environment
    from datalabs.catalogue.service import CatalogueService

    with session_factory() as session:
        accounts = AccountService(session)
        alice, mod = Actor.of(accounts.user("alice")), Actor.of(accounts.user("mod"))
        catalogue = CatalogueService(session, settings)
        for name, abstract in (("draftlab", DRAFT_SECRET), ("sublab", "Awaiting review."), ("publab", "Public.")):
            archive = tmp_path / f"{name}.zip"
            archive.write_bytes(lab_zip(name, abstract))
            catalogue.import_zip(alice, archive)
        catalogue.submit(alice, "sublab", "1.0")
        catalogue.submit(alice, "publab", "1.0")
        catalogue.publish(mod, "publab", "1.0")
        for lab, env_id, log in (("publab", PUBLIC_ENV, "public build log"), ("draftlab", DRAFT_ENV, DRAFT_LOG_SECRET)):
            folder = settings.environments_dir / env_id
            folder.mkdir(parents=True)
            (settings.environments_dir / f"{env_id}.log").write_text(log + "\n")
            session.add(Environment(id=env_id, status="ready", requirements="six==1.16.0\n", python_version="3.11",
                                    path=str(folder), log_path=str(settings.environments_dir / f"{env_id}.log")))
            session.flush()
            catalogue.repo.version(catalogue.repo.datalab(lab), "1.0").environment_id = env_id
        session.commit()


def _seed_session(settings, session_factory) -> None:
    """alice runs publab: a session row as the fake backend leaves it, with a log."""
    from datalabs.accounts.service import AccountService
    from datalabs.sessions.models import LabSession

    run_dir = settings.sessions_dir / SESSION_ID
    run_dir.mkdir(parents=True)
    (run_dir / "session.log").write_text(SESSION_LOG_SECRET + "\n")
    with session_factory() as session:
        alice = AccountService(session).user("alice")
        session.add(LabSession(
            id=SESSION_ID, user_id=alice.id, datalab_name="publab", version="1.0", kind="jupyterlab", state="running",
            reason="", cpu=1.0, memory=2 * 1024**3, volumes=[], team_workspaces=[], backend="fake",
            backend_state={"id": SESSION_ID, "run_dir": str(run_dir), "socket": str(run_dir / "http.sock")},
            address={}, reported={}))
        session.commit()


# pipelines

PIPE_DRAFT_SECRET = "unpublished-pipeline-doc-6e0b"  # the doc of alice's private draft pipeline


def pipeline_cwl(name: str, doc: str = "A pipeline step.") -> str:
    """A small CWL tool (for the pipeline rows of the matrix)."""
    return (f"cwlVersion: v1.2\nclass: CommandLineTool\nid: {name}\ndoc: {doc}\nbaseCommand: echo\n"
            "inputs:\n  message: {type: string, inputBinding: {position: 1}}\noutputs: []\n")


_LOADED_CWL: dict = {}


def _load_once(load_file):
    """cwltool's loader, remembered by document text: every scenario imports the same three tools."""
    import copy

    def load(path, **kwargs):
        key = (Path(path).name, Path(path).read_text())
        if key not in _LOADED_CWL:
            _LOADED_CWL[key] = load_file(path, **kwargs)
        return copy.deepcopy(_LOADED_CWL[key])

    return load


def _seed_pipelines(settings, session_factory) -> None:
    """alice (a developer) owns a private draft, a submitted and a published pipeline."""
    from unittest import mock

    from datalabs.accounts.actor import Actor
    from datalabs.pipelines import cwl
    from datalabs.pipelines.service import PipelineService

    with session_factory() as session:
        accounts = AccountService(session)
        alice, mod = Actor.of(accounts.user("alice")), Actor.of(accounts.user("mod"))
        pipelines = PipelineService(session, settings)
        with mock.patch.object(cwl, "load_file", _load_once(cwl.load_file)):
            for name, doc in (("draftpipe", PIPE_DRAFT_SECRET), ("subpipe", "Awaiting review."),
                              ("pubpipe", "Public.")):
                pipelines.import_text(alice, pipeline_cwl(name, doc), f"{name}.cwl")
        pipelines.submit(alice, "subpipe", "1.0")
        pipelines.submit(alice, "pubpipe", "1.0")
        published = pipelines.publish(mod, "pubpipe", "1.0")
        _seed_run(settings, session, accounts.user("alice").id, published)


def _seed_run(settings, session, alice_id: int, version) -> None:
    """alice's completed run of pubpipe: a row, a job, its log, an intermediate output and provenance."""
    from datalabs.pipelines.models import PipelineJob, PipelineRun

    run_dir = settings.pipeline_runs_dir / RUN_ID
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "driver.log").write_text(RUN_LOG_SECRET + " (engine)\n")
    (run_dir / "logs" / "pubpipe.log").write_text(RUN_LOG_SECRET + "\n")
    (run_dir / "cache" / "jobs" / "abc").mkdir(parents=True)
    (run_dir / "cache" / "jobs" / "abc" / "out.txt").write_text(RUN_LOG_SECRET + " (output)\n")
    (run_dir / "provenance.crate.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    session.add(PipelineRun(id=RUN_ID, user_id=alice_id, version_id=version.id, pipeline_name="pubpipe",
                            pipeline_version="1.0", state="completed", inputs={"message": "hi"},
                            output_path=f"my_workspace/pipelines/{RUN_ID}", jobs_done=1))
    session.flush()
    session.add(PipelineJob(run_id=RUN_ID, name="pubpipe", step="pubpipe", state="completed", exit_code=0,
                            log_path=str(run_dir / "logs" / "pubpipe.log"),
                            outputs={"out": [{"class": "File", "path": str(run_dir / "cache/jobs/abc/out.txt"),
                                              "size": 30}]}))
    session.commit()


def _seed_archive(session_factory) -> dict[str, str]:
    """One indexed product on each volume (the embargoed one's identifier is a secret), a finished scan of
    each, an attribute catalogue, a mapped table and an index; returns the scans' ids for the rows."""
    from datalabs.archive.models import (ArchiveAttribute, ArchiveIndex, ArchiveLabelProblem, ArchiveProduct,
                                         ArchiveScan, ArchiveTable)
    from datalabs.storage.models import Dataset

    ids = {}
    with session_factory() as session:
        for volume, identifier in (("pubvol", "PUBLIC_PRODUCT_0001"), ("embvol", EMBARGO_PRODUCT)):
            dataset = session.query(Dataset).filter_by(name=volume).one()
            session.add(ArchiveProduct(dataset_id=dataset.id, label_path=f"{identifier}.LBL", label_format="PDS3",
                                       identifier=identifier, data_set=f"{identifier}-DATA-SET", datalabs_path=f"/media/data/{volume}/{identifier}.LBL",
                                       attributes={"PRODUCT_ID": identifier, "TARGET_NAME": "MARS"}))
            session.add(ArchiveAttribute(dataset_id=dataset.id, name="TARGET_NAME", datatype="str", count=1))
            session.add(ArchiveLabelProblem(dataset_id=dataset.id, path=f"{identifier}_BROKEN.LBL", reason="no END"))
            scan = ArchiveScan(dataset_id=dataset.id, state="completed", indexed=1)
            session.add(scan)
            session.flush()
            ids[f"{volume}_scan"] = str(scan.id)
        session.add(ArchiveTable(name="seeded", mapping="tables: []", spec={
            "name": "seeded", "description": "", "match": {}, "where": "",
            "columns": [{"name": "target", "kind": "attribute", "source": "TARGET_NAME", "index": None,
                         "datatype": "str", "unit": "", "description": "", "ucd": ""}]}))
        session.add(ArchiveIndex(attribute="PRODUCT_ID", index_name="ix_attr_seeded_for_the_matrix"))
        session.commit()
    return ids


def _seed_tap_jobs(settings, session_factory) -> dict[str, str]:
    """alice's completed TAP job (its result holds a secret) and her pending one."""
    from datalabs.accounts.service import AccountService
    from datalabs.tap import uws
    from datalabs.tap.models import TapJob

    with session_factory() as session:
        alice = AccountService(session).user("alice")
        query = "SELECT TOP 1 identifier FROM archive.products"
        done = TapJob(id=TAP_JOB_DONE, owner_id=alice.id, phase="COMPLETED", query=query, result_rows=1,
                      parameters={"LANG": "ADQL", "QUERY": query}, result_format="text/csv")
        pending = TapJob(id=TAP_JOB_PENDING, owner_id=alice.id, phase="PENDING", query=query,
                         parameters={"LANG": "ADQL", "QUERY": query})
        session.add_all([done, pending])
        session.commit()
        result = uws.result_path(settings, done)
        result.parent.mkdir(parents=True, exist_ok=True)
        result.write_text(f"identifier\n{TAP_RESULT_SECRET}\n")
    return {"tapjob": TAP_JOB_DONE, "tappending": TAP_JOB_PENDING}


def expect(default: int, **overrides: int) -> dict[str, int]:
    """The status each persona must get: ``default``, except the personas named."""
    unknown = set(overrides) - set(PERSONAS)
    assert not unknown, unknown
    return {persona: overrides.get(persona, default) for persona in PERSONAS}


@dataclass
class World:
    settings: object
    session_factory: object
    tokens: dict[str, str]
    values: dict[str, str]
    volumes: dict[str, Path]
    markers: dict[str, set[str]] = field(default_factory=dict)  # text -> personas allowed to see it

    def headers(self, persona: str) -> dict[str, str]:
        if persona == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[persona]}"}

    def roots(self) -> dict[str, Path]:
        base = self.settings.workspaces_dir
        found = {f"users/{name}": base / "users" / name for name in USERS.values()}
        found["teams/astro"] = base / "teams" / "astro"
        found[".uploads"] = base / ".uploads"
        found.update({f"volume/{name}": path for name, path in self.volumes.items()})
        return found


def _tree(root: Path) -> dict[str, bytes | str]:
    found: dict[str, bytes | str] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            key = str(path.relative_to(root))
            found[key] = "/" if path.is_dir() and not path.is_symlink() else path.read_bytes()
    return found


def disk_snapshot(world: World) -> dict[str, dict]:
    return {name: _tree(path) for name, path in world.roots().items()}


def db_snapshot(world: World) -> dict[str, list]:
    dump = {}
    with world.session_factory() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c.name for c in table.columns if c.name != "last_used_at"]
            quoted = ", ".join(f'"{name}"' for name in columns)  # "column", "line": reserved words on PostgreSQL
            rows = session.execute(text(f"SELECT {quoted} FROM {table.name}")).all()
            dump[table.name] = sorted(repr(tuple(row)) for row in rows)
    return dump


@pytest.fixture
def world(settings, session_factory, tmp_path) -> World:
    volumes = {"pubvol": tmp_path / "volumes" / "pubvol", "embvol": tmp_path / "volumes" / "embvol"}
    for path in volumes.values():
        path.mkdir(parents=True)
    (volumes["pubvol"] / "README.txt").write_text("public readme")
    (volumes["embvol"] / "secret.txt").write_text(EMBARGO_SECRET)
    with session_factory() as session:  # one session: this runs for each of the many cases
        accounts = AccountService(session)
        accounts.create_team("astro")
        tokens = {}
        for persona, name in USERS.items():
            accounts.create_user(name, role={"moderator": "moderator", "admin": "admin",
                                             "owner": "developer"}.get(persona, "user"))
            if persona in ("member", "team_admin"):
                accounts.add_member("astro", name, admin=persona == "team_admin")
            full = ["read", "write", "admin"] if persona == "admin" else ["read", "write"]
            tokens[persona] = accounts.create_token(name, scopes=full).secret
        extra = accounts.create_token("alice", name="alice-laptop", scopes=["read"])
        alice_token, alice_prefix = extra.token.id, extra.token.prefix
        datasets = DatasetService(session)
        datasets.register("pubvol", volumes["pubvol"])
        datasets.register("embvol", volumes["embvol"], private=True, teams=["astro"], release_date=FUTURE,
                          title=EMBARGO_TITLE)
    _seed_catalogue(settings, session_factory, tmp_path)
    _seed_session(settings, session_factory)
    _seed_pipelines(settings, session_factory)
    scans = _seed_archive(session_factory) | _seed_tap_jobs(settings, session_factory)
    base = settings.workspaces_dir
    for name in USERS.values():
        (base / "users" / name).mkdir(parents=True, exist_ok=True)
    (base / "teams" / "astro").mkdir(parents=True)
    (base / ".uploads").mkdir(parents=True)
    (base / "users" / "alice" / "notes.txt").write_text(ALICE_SECRET)
    (base / "teams" / "astro" / "plan.txt").write_text(ASTRO_SECRET)
    new_volume = tmp_path / "new-volume"
    new_volume.mkdir()
    readers = set(EMBARGO_READERS)
    world = World(settings, session_factory, tokens,
                  {"alice_token": str(alice_token), "new_volume_path": str(new_volume), "session": SESSION_ID, "run": RUN_ID, **scans}, volumes)
    world.markers = {
        ALICE_SECRET: {"owner"},
        ASTRO_SECRET: {"member", "team_admin"},
        EMBARGO_SECRET: readers,
        EMBARGO_TITLE: readers,
        EMBARGO_PRODUCT: readers,
        TAP_RESULT_SECRET: {"owner"},
        "embvol": readers,
        "astro": readers,
        alice_prefix: {"owner"},
        DRAFT_SECRET: {"owner", "moderator", "admin"},
        DRAFT_LOG_SECRET: {"owner", "moderator", "admin"},
        SESSION_LOG_SECRET: {"owner", "admin"},
        RUN_LOG_SECRET: {"owner", "admin"},
        PIPE_DRAFT_SECRET: {"owner", "moderator", "admin"},
        str(tmp_path / "volumes"): {"admin"},
    }
    return world


def fill(template: str, world: World) -> str:
    for key, value in world.values.items():
        template = template.replace("{" + key + "}", value)
    return template


def may_change(persona: str) -> set[str]:
    """The workspaces a persona may change (their own, their team's)."""
    user = USERS.get(persona)
    allowed = {f"users/{user}"} if user else set()
    if persona in ("member", "team_admin"):
        allowed.add("teams/astro")
    return allowed


def leaked(world: World, persona: str, asked: str, seen: str, extra: dict[str, set[str]] | None = None,
           whole_words: frozenset[str] = frozenset()) -> list[str]:
    """The secret markers in ``seen`` that ``persona`` may not see (those the request itself named excepted).

    Markers in ``whole_words`` count only as a whole word (the team ``astro`` is not in "astroquery").
    """
    markers = world.markers | (extra or {})
    found = []
    for marker, readers in markers.items():
        if persona in readers or marker in asked:
            continue
        if marker in whole_words:
            if re.search(rf"(?<!\w){re.escape(marker)}(?!\w)", seen):
                found.append(marker)
        elif marker in seen:
            found.append(marker)
    return found


def app_endpoints(app, prefix: str) -> set[tuple[str, str]]:
    """(method, path) of every route of the app under ``prefix``, included routers too."""
    try:
        from fastapi.routing import iter_route_contexts

        routes = list(iter_route_contexts(app.routes))
    except ImportError:  # older FastAPI: included routes are flattened into app.routes
        routes = app.routes
    found = set()
    for route in routes:
        path = getattr(route, "path", None) or ""
        if path.startswith(prefix):
            found.update((method, path) for method in (getattr(route, "methods", None) or ()))
    return found
