"""Launching and following pipeline runs on behalf of a user. The supervisor does the slow work.

Who may do what: a run is its owner's. Admins may list, inspect and cancel anyone's (to run the
platform). Anyone else gets 404, as for a run that does not exist. A run's files (logs,
intermediate outputs, provenance) are reached only through these checks.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from datalabs.accounts.actor import Actor
from datalabs.catalogue.models import EnvironmentStatus
from datalabs.catalogue.service import CatalogueService
from datalabs.db.base import utcnow
from datalabs.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from datalabs.execution.contract import read_log_file, LogChunk
from datalabs.execution.slurm_cli import SlurmOptions
from datalabs.pipelines import driver
from datalabs.pipelines.inputs import resolve_inputs
from datalabs.pipelines.models import PipelineJob, PipelineRun, PipelineRunEvent, PipelineVersion
from datalabs.pipelines.sandbox_job import DATALABS_NS, step_log_path
from datalabs.settings import Settings
from datalabs.states import ACTIVE, TERMINAL, RunState, transition
from datalabs.storage.beneath import Beneath
from datalabs.storage.files import FileService
from datalabs.storage.safepath import parse_parts

RUN_ID_PREFIX = "r_"
ENV_HINTS = ("datalabs:Environment", DATALABS_NS + "Environment")


def new_run_id() -> str:
    return RUN_ID_PREFIX + secrets.token_hex(8)


def is_run_id(text: str) -> bool:
    return (len(text) == len(RUN_ID_PREFIX) + 16 and text.startswith(RUN_ID_PREFIX)
            and all(c in "0123456789abcdef" for c in text[len(RUN_ID_PREFIX):]))


def record_event(db: Session, run: PipelineRun, message: str) -> None:
    db.add(PipelineRunEvent(run_id=run.id, state=run.state, message=message, at=utcnow()))


def move(db: Session, run: PipelineRun, new: RunState, message: str, *, reason: str = "") -> bool:
    """The one place runs change state: the transition, and an event telling the user."""
    if not transition(run, new, reason):
        return False
    record_event(db, run, message)
    return True


def cpu_quota(settings: Settings) -> float:
    return settings.pipeline_cpu_quota or float(os.cpu_count() or 1)


class RunService:
    def __init__(self, db: Session, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.files = FileService(db, settings)
        self.catalogue = CatalogueService(db, settings, None, start_builds=False)

    # -- reading ----------------------------------------------------------------------------

    def get(self, actor: Actor | None, run_id: str) -> PipelineRun:
        run = self.db.get(PipelineRun, run_id) if is_run_id(run_id) else None
        if run is None or actor is None or not (run.user_id == actor.user_id or actor.is_admin):
            raise NotFound(f"no pipeline run {run_id!r}", field="run")
        return run

    def list(self, actor: Actor | None, *, everyone: bool = False, pipeline: str | None = None,
             state: str | None = None, limit: int = 200) -> list[PipelineRun]:
        actor = _logged_in(actor)
        query = select(PipelineRun).order_by(PipelineRun.created_at.desc())
        if not (everyone and actor.is_admin):
            query = query.where(PipelineRun.user_id == actor.user_id)
        if pipeline:
            query = query.where(PipelineRun.pipeline_name == pipeline)
        if state == "active":
            query = query.where(PipelineRun.state.in_([s.value for s in ACTIVE]))
        elif state:
            query = query.where(PipelineRun.state == state)
        return list(self.db.scalars(query.limit(max(1, min(limit, 1000)))))

    def jobs(self, actor: Actor | None, run_id: str) -> list[PipelineJob]:
        run = self.get(actor, run_id)
        return list(self.db.scalars(select(PipelineJob).where(PipelineJob.run_id == run.id).order_by(PipelineJob.id)))

    def events(self, actor: Actor | None, run_id: str, after: int = 0) -> list[PipelineRunEvent]:
        run = self.get(actor, run_id)
        return list(self.db.scalars(select(PipelineRunEvent).where(
            PipelineRunEvent.run_id == run.id, PipelineRunEvent.id > after).order_by(PipelineRunEvent.id)))

    def steps(self, actor: Actor | None, run_id: str) -> list[dict]:
        """Per workflow step: its state and done/total (a scatter's width once it is known)."""
        run = self.get(actor, run_id)
        by_step: dict[str, dict] = {}
        for job in self.jobs(actor, run_id):
            step = by_step.setdefault(job.step, {"step": job.step, "total": None, "done": 0, "failed": 0,
                                                 "running": 0, "jobs": 0})
            step["jobs"] += 1
            if job.state == RunState.COMPLETED.value:
                step["done"] += 1
            elif job.state == RunState.FAILED.value:
                step["failed"] += 1
            elif job.state == RunState.RUNNING.value:
                step["running"] += 1
        for name, total in (run.step_totals or {}).items():
            by_step.setdefault(name, {"step": name, "total": None, "done": 0, "failed": 0, "running": 0, "jobs": 0})
            by_step[name]["total"] = total
        for step in by_step.values():
            if step["total"] is None:
                step["total"] = step["jobs"]
            step["state"] = ("failed" if step["failed"] else "running" if step["running"]
                             else "completed" if step["done"] and step["done"] >= step["total"] else "pending")
        return list(by_step.values())

    def logs(self, actor: Actor | None, run_id: str, job: str | None = None, offset: int = 0,
             limit: int = 1 << 20) -> LogChunk:
        """A job's log (what its tool printed), or with no job the driver's (cwltool's) log."""
        run = self.get(actor, run_id)
        run_dir = self.run_dir(run)
        if job is None:
            return read_log_file(str(run_dir / "driver.log"), offset, limit)
        known = self.db.scalar(select(PipelineJob).where(PipelineJob.run_id == run.id, PipelineJob.name == job))
        if known is None:
            raise NotFound(f"run {run.id} has no job {job!r}", field="job")
        return read_log_file(str(step_log_path(run_dir, known.name)), offset, limit)

    def run_dir(self, run: PipelineRun) -> Path:
        return self.settings.pipeline_runs_dir / run.id

    def provenance_file(self, actor: Actor | None, run_id: str) -> Path:
        run = self.get(actor, run_id)
        crate = self.run_dir(run) / driver.CRATE_FILE
        if not crate.is_file():
            crate = self.run_dir(run) / driver.RESEARCH_OBJECT_FILE
        if not crate.is_file():
            raise NotFound(f"run {run.id} has no provenance (yet)" if run.state not in TERMINAL
                           else f"run {run.id} recorded no provenance", field="run")
        return crate

    def intermediate(self, actor: Actor | None, run_id: str, path: str) -> tuple[int, os.stat_result]:
        """Open one intermediate output (under the run's work folders), never following a link."""
        run = self.get(actor, run_id)
        parts = parse_parts(path)
        if not parts or parts[0] not in ("cache", "output"):
            raise NotFound(f"run {run.id} has no file {path!r}", field="path")
        return Beneath(str(self.run_dir(run)), shown_as=run.id).open_file(parts)

    # -- launching --------------------------------------------------------------------------

    def launch(self, actor: Actor | None, version: PipelineVersion, inputs: dict, *, team: str | None = None,
               cpu: float | None = None, provenance: bool | None = None, tags: dict | None = None) -> PipelineRun:
        """Check everything a run needs now, so a bad launch fails here and not in the middle of the run."""
        actor = _logged_in(actor)
        job = resolve_inputs(version.inputs or [], inputs or {}, lambda path: self._locate(actor, path))
        _refuse_unrunnable_docker(version.packed)
        environments = self._environments(actor, version)
        quota = cpu_quota(self.settings)
        if cpu is not None and not 0 < cpu <= quota:
            raise InvalidInput(f"cpu must be more than 0 and at most {quota:g} (your pipeline CPU quota)", field="cpu")
        workspace = self._output_workspace(actor, team)
        run = PipelineRun(
            id=new_run_id(), user_id=actor.user_id, version_id=version.id, pipeline_name=version.pipeline.name,
            pipeline_version=version.version, state=RunState.PENDING.value, inputs=inputs or {},
            output_workspace=workspace, cpu=cpu or quota, tags=tags or {}, created_at=utcnow(), updated_at=utcnow(),
        )
        run.output_path = f"{workspace}/pipelines/{run.id}"
        self.db.add(run)
        self.db.flush()
        self._write_run_dir(run, actor, version.packed, job, environments,
                            self.settings.pipeline_provenance if provenance is None else provenance)
        record_event(self.db, run, "accepted: waiting for the run to start")
        self.db.commit()
        return run

    def rerun(self, actor: Actor | None, run_id: str) -> PipelineRun:
        old = self.get(actor, run_id)
        if old.user_id != actor.user_id:
            raise NotFound(f"no pipeline run {run_id!r}", field="run")  # admins cancel; they do not act as others
        if old.version is None:
            raise Conflict(f"run {old.id}'s pipeline version is gone; it cannot be run again", code="version_gone")
        team = old.output_workspace.split("/", 1)[1] if old.output_workspace.startswith("team_workspaces/") else None
        return self.launch(actor, old.version, old.inputs, team=team, cpu=old.cpu, tags=old.tags)

    def cancel(self, actor: Actor | None, run_id: str) -> PipelineRun:
        run = self.get(actor, run_id)
        if run.state in (s.value for s in TERMINAL) or run.state == RunState.STOPPING.value:
            return run
        who = "you" if actor.user_id == run.user_id else f"admin {actor.name}"
        if run.state == RunState.PENDING.value:
            move(self.db, run, RunState.STOPPED, f"cancelled by {who} before it started", reason=f"cancelled by {who}")
        else:
            move(self.db, run, RunState.STOPPING, f"cancel asked by {who}: stopping every running step",
                 reason=f"cancelled by {who}")
        self.db.commit()
        return run

    def _locate(self, actor: Actor, path: str) -> tuple[str, str]:
        place = self.files.locate(actor, path)
        if place.root is None:
            raise NotFound(f"no such file or folder: {path}", field="path")
        entry = place.root.beneath().stat(place.parts)  # refuses `..`, links leading outside, hidden roots
        host = os.path.realpath(os.path.join(place.root.host_path, *place.parts))
        root = os.path.realpath(place.root.host_path)
        if place.root.kind != "volume" and not (host == root or host.startswith(root + os.sep)):
            raise NotFound(f"no such file or folder: {path}", field="path")
        return host, entry.type

    def _environments(self, actor: Actor, version: PipelineVersion) -> dict[str, str]:
        found = {}
        for name in version.environments or []:
            try:
                datalab_version = self.catalogue.launchable(actor, name)
            except NotFound:
                raise InvalidInput(f"a step runs in the environment of datalab {name!r}, which does not exist "
                                   "or is not available to you", field="environment") from None
            environment = datalab_version.environment
            if environment is None or environment.status != EnvironmentStatus.READY.value:
                status = environment.status if environment else "not built"
                raise Conflict(f"a step runs in the environment of datalab {name!r}, which is {status}; "
                               "try again when it is ready", code="environment_not_ready")
            found[name] = environment.path
        return found

    def _output_workspace(self, actor: Actor, team: str | None) -> str:
        if not team:
            return "my_workspace"
        root = self.files.team_root(actor, team)  # NotFound unless a member
        return root.shown_as

    def _write_run_dir(self, run: PipelineRun, actor: Actor, packed: dict, job: dict, environments: dict,
                       provenance: bool) -> None:
        run_dir = self.run_dir(run)
        run_dir.mkdir(parents=True, exist_ok=False)
        (run_dir / driver.WORKFLOW_FILE).write_text(json.dumps(packed))
        (run_dir / driver.JOB_FILE).write_text(json.dumps(job))
        (run_dir / driver.CONFIG_FILE).write_text(json.dumps({
            "run_id": run.id, "pipeline": run.pipeline_name, "user": actor.name, "cpu": run.cpu, "environments": environments,
            "max_memory": self.settings.pipeline_step_memory_max, "provenance": provenance,
            "slurm": slurm_step_config(self.settings),
        }))

    def delete_files(self, run: PipelineRun) -> None:
        shutil.rmtree(self.run_dir(run), ignore_errors=True)


def slurm_step_config(settings: Settings) -> dict | None:
    """How the run's driver sends steps to Slurm, when Slurm is the execution backend; None: on this machine."""
    if settings.backend != "slurm":
        return None
    return {**SlurmOptions.from_settings(settings).as_dict(), "jobs_per_run": settings.slurm_jobs_per_run,
            "step_minutes": settings.slurm_step_time_limit_minutes}


def _logged_in(actor: Actor | None) -> Actor:
    if actor is None:
        raise NotAuthenticated("log in to run pipelines")
    return actor


def _refuse_unrunnable_docker(packed: dict) -> None:
    """A tool that *requires* a container image and names no environment cannot run on this backend."""
    for tool in _tools(packed):
        requirements = _as_list(tool.get("requirements"))
        hints = _as_list(tool.get("hints"))
        docker = next((r for r in requirements if r.get("class") == "DockerRequirement"), None)
        has_env = any(h.get("class") in ENV_HINTS for h in hints + requirements)
        if docker is not None and not has_env:
            name = str(tool.get("label") or tool.get("id", "a step")).lstrip("#")
            image = docker.get("dockerPull") or docker.get("dockerImageId") or "?"
            raise InvalidInput(
                f"step {name!r} requires the container image {image!r} (DockerRequirement), and this server runs "
                "no containers; add the hint datalabs:Environment naming a datalab whose environment it can "
                "run in", field="pipeline")


def _tools(document) -> list[dict]:
    found = []
    if isinstance(document, dict):
        if document.get("class") == "CommandLineTool":
            found.append(document)
        for value in document.values():
            found += _tools(value)
    elif isinstance(document, list):
        for item in document:
            found += _tools(item)
    return found


def _as_list(value) -> list[dict]:
    if isinstance(value, dict):  # the map form: {ClassName: {...}}
        return [{"class": key, **(item or {})} for key, item in value.items()]
    return [item for item in value or [] if isinstance(item, dict)]
