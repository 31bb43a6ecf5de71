"""The pipeline supervisor: one background thread that starts runs and follows them to their end.

Each run has a driver process (``pipelines.driver``) in a session of its own, so it outlives the
server. The supervisor starts drivers for queued runs (at most ``pipeline_runs_per_user`` of one
user at a time), reads each driver's event file into the database (jobs, scatter widths, the
end), delivers the outputs of a finished run into the chosen workspace, and turns a driver that
vanished into a resumed run (the cache skips jobs already done) or, after
``pipeline_resume_attempts``, a failed one with the reason. Cancelling ends the driver's process
group and every step's cgroup. After a restart it simply goes on: offsets into the event files
are kept on the run rows, so no event is applied twice and none is lost.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import select

from datalabs.accounts.actor import Actor
from datalabs.db.base import utcnow
from datalabs.errors import NotFound
from datalabs.execution.cgroups import CgroupDriver
from datalabs.execution.slurm_cli import SlurmOptions
from datalabs.pipelines.slurm_steps import cancel_run_jobs
from datalabs.execution.local import process_start_time
from datalabs.pipelines import driver
from datalabs.pipelines.launcher import WarmLauncher
from datalabs.pipelines.models import PipelineJob, PipelineRun
from datalabs.pipelines.runs import move, record_event
from datalabs.settings import Settings
from datalabs.sizes import format_size
from datalabs.states import ACTIVE, RunState, transition
from datalabs.storage.files import FileService

log = logging.getLogger("datalabs.pipelines")

TICK = 0.1
STOP_GRACE = 5.0
MAX_EVENT_BYTES = 4 << 20  # read per tick and run; the rest waits for the next tick


class PipelineSupervisor:
    def __init__(self, settings: Settings, session_factory) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.launcher = (WarmLauncher(settings.data_dir / "pipelines" / "launcher.sock")
                         if settings.pipeline_warm_launcher else None)
        self._children: dict[int, subprocess.Popen] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        # the steps' /etc copy is made afresh by the first run after each start (host /etc may have changed)
        shutil.rmtree(self.settings.data_dir / "pipelines" / "sandbox-etc", ignore_errors=True)
        if self.launcher is not None:
            self.launcher.start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="pipeline-supervisor", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Stop following runs; their drivers go on and are followed again by the next server."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self.launcher is not None:
            self.launcher.stop()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - keep supervising; the next tick retries
                log.exception("pipeline supervisor tick failed")
            self._wake.wait(TICK)
            self._wake.clear()

    # -- one pass ---------------------------------------------------------------------------

    def tick(self) -> None:
        with self.session_factory() as db:
            runs = list(db.scalars(select(PipelineRun).where(PipelineRun.state.in_([s.value for s in ACTIVE]))
                                  .order_by(PipelineRun.created_at)))
            busy: dict[int, int] = {}
            for run in runs:
                if run.state != RunState.PENDING.value:
                    busy[run.user_id] = busy.get(run.user_id, 0) + 1
            for run in runs:
                if run.state == RunState.PENDING.value:
                    if busy.get(run.user_id, 0) < max(1, self.settings.pipeline_runs_per_user):
                        busy[run.user_id] = busy.get(run.user_id, 0) + 1
                        self._start_driver(db, run)
                    elif not run.detail:
                        run.detail = "queued: waiting for your other runs to finish"
                else:
                    self._follow(db, run)
                db.commit()

    def run_dir(self, run: PipelineRun) -> Path:
        return self.settings.pipeline_runs_dir / run.id

    def _start_driver(self, db, run: PipelineRun, *, resuming: bool = False) -> None:
        run_dir = self.run_dir(run)
        pid = self.launcher.launch(run_dir) if self.launcher is not None and self.launcher.ready(2.0) else None
        if pid is None:  # no warm process (yet): a fresh one, a second slower
            with open(run_dir / "driver.log", "ab") as log_file:
                process = subprocess.Popen(
                    [sys.executable, "-m", "datalabs.pipelines.driver", str(run_dir)],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_file, start_new_session=True,
                    cwd=run_dir, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            self._children[process.pid] = process
            pid = process.pid
        run.backend_state = {"pid": pid, "pid_started": process_start_time(pid)}
        run.attempts += 1
        run.detail = "starting the workflow engine"
        if not resuming:
            move(db, run, RunState.STARTING, "starting: the workflow engine loads the pipeline")
            run.started_at = utcnow()

    # -- following ----------------------------------------------------------------------------

    def _alive(self, run: PipelineRun) -> bool:
        pid = run.backend_state.get("pid")
        child = self._children.get(pid) if pid else None
        if child is not None and child.poll() is not None:
            self._children.pop(pid, None)
        return bool(pid) and process_start_time(pid) == run.backend_state.get("pid_started")

    def _follow(self, db, run: PipelineRun) -> None:
        alive = self._alive(run)  # before reading: an event written just before the end is not missed
        finished = self._read_events(db, run)
        if finished is not None or run.state not in (s.value for s in ACTIVE):
            return
        if run.state == RunState.STOPPING.value:
            if alive:
                self._terminate(run)
            else:
                self._end_jobs(db, run, RunState.STOPPED, "cancelled")
                move(db, run, RunState.STOPPED, "cancelled: every step stopped", reason=run.reason or "cancelled")
            return
        if alive:
            return
        tail = _tail(self.run_dir(run) / "driver.log")
        self._end_jobs(db, run, RunState.FAILED, "the workflow engine ended")
        if run.attempts <= self.settings.pipeline_resume_attempts:
            record_event(db, run, "the workflow engine ended unexpectedly; resuming the run (jobs already "
                                  "done are reused)")
            self._start_driver(db, run, resuming=True)
            return
        move(db, run, RunState.FAILED, "failed: the workflow engine ended unexpectedly",
             reason=f"the workflow engine ended unexpectedly {run.attempts} times" + (f": {tail}" if tail else ""))

    def _terminate(self, run: PipelineRun) -> None:
        pid = run.backend_state.get("pid")
        asked = run.backend_state.get("term_sent")
        try:
            if not asked:
                os.killpg(pid, signal.SIGTERM)
                run.backend_state = {**run.backend_state, "term_sent": time.time()}
            elif time.time() - asked > STOP_GRACE:
                os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._kill_steps(run.id)

    def _end_jobs(self, db, run: PipelineRun, state: RunState, reason: str) -> None:
        for job in db.scalars(select(PipelineJob).where(PipelineJob.run_id == run.id,
                                                        PipelineJob.state == RunState.RUNNING.value)):
            transition(job, state, reason)
        self._kill_steps(run.id)

    def _kill_steps(self, run_id: str) -> None:
        """Every step of the run stops: its cgroups here, its jobs on Slurm."""
        _kill_step_cgroups(run_id)
        if self.settings.backend == "slurm":
            cancel_run_jobs(SlurmOptions.from_settings(self.settings), run_id)

    def _read_events(self, db, run: PipelineRun) -> dict | None:
        path = self.run_dir(run) / driver.EVENTS_FILE
        try:
            with open(path, "rb") as handle:
                handle.seek(run.events_offset)
                data = handle.read(MAX_EVENT_BYTES)
        except FileNotFoundError:
            return None
        end = data.rfind(b"\n")
        if end < 0:
            return None
        run.events_offset += end + 1
        finished = None
        for line in data[: end + 1].splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "finished":
                finished = event
            self._apply(db, run, event)
        return finished

    def _apply(self, db, run: PipelineRun, event: dict) -> None:
        kind = event.get("event")
        if kind == "driver_started" and run.state == RunState.STARTING.value:
            move(db, run, RunState.RUNNING, "running: the workflow engine runs the steps")
        elif kind == "scatter":
            run.step_totals = {**(run.step_totals or {}), event["step"]: event.get("total")}
        elif kind == "job_started":
            self._job_started(db, run, event)
        elif kind == "job_ended":
            self._job_ended(db, run, event)
        elif kind == "finished":
            self._finish(db, run, event)

    def _job(self, db, run: PipelineRun, name: str) -> PipelineJob | None:
        return db.scalar(select(PipelineJob).where(PipelineJob.run_id == run.id, PipelineJob.name == name))

    def _job_started(self, db, run: PipelineRun, event: dict) -> None:
        if run.state == RunState.STARTING.value:
            move(db, run, RunState.RUNNING, "running: the workflow engine runs the steps")
        job = self._job(db, run, event["job"])
        if job is None:
            job = PipelineJob(run_id=run.id, name=event["job"], step=event.get("step") or event["job"])
            db.add(job)
        job.state, job.reason, job.exit_code, job.ended_at = RunState.RUNNING.value, "", None, None
        job.log_path = event.get("log", "")
        job.started_at = job.updated_at = utcnow()
        run.detail = f"running {job.step}"
        db.flush()

    def _job_ended(self, db, run: PipelineRun, event: dict) -> None:
        job = self._job(db, run, event["job"])
        if job is None:
            return
        ok = event.get("status") == "success"
        job.state = (RunState.COMPLETED if ok else RunState.FAILED).value
        job.exit_code = event.get("exit_code")
        job.reason = event.get("reason") or ("" if ok else f"step {job.step!r} failed")
        job.outputs = event.get("outputs") or {}
        job.ended_at = job.updated_at = utcnow()
        if ok:
            run.jobs_done += 1
        else:
            run.jobs_failed += 1
        total = run.step_totals.get(job.step) if run.step_totals else None
        run.detail = f"{job.step}: {run.jobs_done} jobs done" + (f" of this step's {total}" if total else "")

    def _finish(self, db, run: PipelineRun, event: dict) -> None:
        if run.state == RunState.STOPPING.value:
            self._end_jobs(db, run, RunState.STOPPED, "cancelled")
            move(db, run, RunState.STOPPED, "cancelled: every step stopped", reason=run.reason or "cancelled")
            return
        if run.state == RunState.STARTING.value:
            move(db, run, RunState.RUNNING, "running")
        if event.get("status") != "success":
            self._end_jobs(db, run, RunState.FAILED, "the run failed")
            move(db, run, RunState.FAILED, "failed", reason=self._failure_reason(db, run))
            return
        try:
            run.outputs = self._deliver(db, run, event.get("outputs") or {})
        except OSError as error:
            move(db, run, RunState.FAILED, "failed: outputs could not be delivered",
                 reason=f"the outputs could not be written to {run.output_path}: {error.strerror or error}")
            return
        except NotFound as error:
            move(db, run, RunState.FAILED, "failed: outputs could not be delivered",
                 reason=f"the outputs could not be written to {run.output_workspace}: {error.message}")
            return
        except _NoRoom as error:
            move(db, run, RunState.FAILED, "failed: outputs do not fit", reason=str(error))
            return
        run.detail = ""
        move(db, run, RunState.COMPLETED, f"completed: outputs in {run.output_path}")

    def _failure_reason(self, db, run: PipelineRun) -> str:
        failed = db.scalar(select(PipelineJob).where(PipelineJob.run_id == run.id,
                                                     PipelineJob.state == RunState.FAILED.value)
                           .order_by(PipelineJob.ended_at))
        if failed is not None and failed.reason:
            return failed.reason
        tail = _error_lines(self.run_dir(run) / "driver.log")
        return "the workflow failed" + (f": {tail}" if tail else "")

    def _deliver(self, db, run: PipelineRun, outputs: dict) -> dict:
        """Move the outputs into the workspace at once (a rename): a half-written result is never shown."""
        source = self.run_dir(run) / driver.OUTPUT_DIR
        files = FileService(db, self.settings)
        root = files.locate(Actor.of(run.user), run.output_workspace).root  # a team left since: NotFound
        if root is None:
            raise OSError(f"workspace {run.output_workspace} is not available")
        size = _tree_size(source)
        if root.quota is not None:
            room = root.quota - files.usage(root)
            if size > room:
                raise _NoRoom(f"the outputs ({format_size(size)}) do not fit in {run.output_workspace} "
                              f"({format_size(max(room, 0))} free); free some space and run it again")
        target = Path(root.host_path) / "pipelines" / run.id
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            staging = target.parent / f".{run.id}.incomplete"
            shutil.rmtree(staging, ignore_errors=True)
            try:
                os.rename(source, staging)
            except OSError:
                shutil.copytree(source, staging, symlinks=True)
            os.rename(staging, target)
        else:
            target.mkdir()
        return _platform_paths(outputs, str(source), run.output_path)


class _NoRoom(Exception):
    pass


def _kill_step_cgroups(run_id: str) -> None:
    cgroups = CgroupDriver.detect()
    if cgroups is None:
        return
    for group in cgroups.find(f"step-{run_id}-"):
        group.kill(timeout=5)
        group.remove()


def _tree_size(folder: Path) -> int:
    total = 0
    for top, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(top, name)).st_size
            except OSError:
                pass
    return total


def _platform_paths(value, host_prefix: str, shown_prefix: str):
    """CWL output objects with host paths -> the same objects with workspace paths."""
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if key in ("path", "location") and isinstance(item, str):
                path = item.removeprefix("file://")
                if path.startswith(host_prefix):
                    item = shown_prefix + path[len(host_prefix):]
                if key == "location":
                    continue
            elif key in ("dirname",):
                continue
            result[key] = _platform_paths(item, host_prefix, shown_prefix)
        return result
    if isinstance(value, list):
        return [_platform_paths(item, host_prefix, shown_prefix) for item in value]
    return value


def _tail(path: Path, size: int = 2000) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - size))
            lines = handle.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:500] if lines else ""


def _error_lines(path: Path) -> str:
    """cwltool's own error message (invalid input for a step, an expression that failed, ...)."""
    try:
        text = path.read_text(errors="replace")[-20000:]
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines()]
    for index in range(len(lines) - 1, -1, -1):
        if " ERROR " in f" {lines[index]} " or lines[index].startswith("ERROR"):
            message = " ".join(part for part in lines[index:index + 4] if part and " INFO " not in part)
            return message.replace("ERROR ", "", 1)[:600]
    return ""
