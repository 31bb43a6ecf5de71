"""The ``slurm`` backend: each session is a Slurm batch job, as Open OnDemand and batchspawner do it.

``start`` writes the launch (without its secrets) into the session's folder, which nodes see on the
shared file system, and submits ``python -m datalabs.execution.slurm_job RUN_DIR`` with the session's
CPUs and memory. On whichever node Slurm chooses, that program starts the datalab in the same
bubblewrap sandbox as the local backend (``slurm_job.py``) and writes the node's host and a port into
``address.json``; the proxy connects there. The port only admits connections from the platform's
addresses (``slurm_allowed_sources``). Slurm's job id is the backend state: a restarted server finds
its sessions again with ``scontrol``. A waiting job is reported as queued with its position and
Slurm's reason; a job Slurm ends (time limit, memory, node failure) is reported with Slurm's reason.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

from datalabs.execution.contract import (
    Address,
    BackendBase,
    BackendError,
    BackendInfo,
    LaunchSpec,
    LogChunk,
    Mount,
    Observation,
    Phase,
    read_log_file,
)
from datalabs.execution.local import LOG_NAME, read_reported
from datalabs.execution.slurm_cli import (
    ACTIVE,
    ENDED,
    WAITING,
    SlurmCommands,
    SlurmOptions,
    ended_reason,
    exit_code_of,
    queue_detail,
    resource_args,
)

LAUNCH_FILE = "launch.json"
SECRETS_FILE = "secrets.json"
ADDRESS_FILE = "address.json"
EXIT_FILE = "exit_code"
JOB_SCRIPT = "job.sh"
# what the job's own processes (the Python program, socat bridges) need besides the datalab
MEMORY_HEADROOM = 96 * 1024**2
ENDING_WAIT = 30.0  # seconds a job may take to end after its datalab did, before we stop waiting for Slurm


def session_job_name(session_id: str) -> str:
    return f"datalab-{session_id}"


class SlurmBackend(BackendBase):
    name = "slurm"

    def __init__(self, settings=None, *, options: SlurmOptions | None = None) -> None:
        self.settings = settings
        self.options = options or SlurmOptions.from_settings(settings)
        self.commands = SlurmCommands(self.options)

    # -- start ------------------------------------------------------------------------------

    def start(self, spec: LaunchSpec) -> dict:
        run_dir = Path(spec.run_dir)
        control = run_dir / "control"
        control.mkdir(parents=True, exist_ok=True)
        for stale in (ADDRESS_FILE, EXIT_FILE, SECRETS_FILE, LOG_NAME):
            (run_dir / stale).unlink(missing_ok=True)
        (control / "status.json").unlink(missing_ok=True)
        secrets = {key: spec.env[key] for key in spec.secret_env if key in spec.env}
        public = {**asdict(spec), "env": {k: v for k, v in spec.env.items() if k not in secrets},
                  "secret_env": sorted(spec.secret_env)}
        write_private(run_dir / LAUNCH_FILE, json.dumps({"spec": public, "allowed_sources": self.options.allowed_sources}))
        if secrets:  # read and removed by the job as it starts; only the server's user can read it meanwhile
            write_private(run_dir / SECRETS_FILE, json.dumps(secrets))
        python = self.options.python or sys.executable
        script = run_dir / JOB_SCRIPT
        script.write_text(f"#!/bin/sh\nexec {shlex.quote(python)} -m datalabs.execution.slurm_job "
                          f"{shlex.quote(str(run_dir))}\n")
        script.chmod(0o700)
        args = [f"--job-name={session_job_name(spec.session_id)}", f"--output={run_dir / LOG_NAME}",
                f"--chdir={run_dir}", "--no-requeue", "--ntasks=1", "--nodes=1", "--export=NONE",
                *resource_args(spec.cpu, spec.memory + MEMORY_HEADROOM, self._minutes()),
                *self.options.placement_args(), str(script)]
        job_id = self.commands.submit(args)
        self.commands.forget_queue()
        return {"job_id": job_id, "run_dir": str(run_dir), "memory": spec.memory}

    def _minutes(self) -> int | None:
        """The job's time limit: the setting, else the session lifetime plus ten minutes (the platform stops
        sessions itself; Slurm's limit is the backstop), else the partition's default."""
        settings = self.settings
        if settings is None:
            return None
        if settings.slurm_time_limit_minutes > 0:
            return int(settings.slurm_time_limit_minutes)
        if settings.session_lifetime_hours > 0:
            return int(settings.session_lifetime_hours * 60) + 10
        return None

    # -- observe ----------------------------------------------------------------------------

    def poll(self, state: dict) -> Observation:
        run_dir = Path(state["run_dir"])
        reported = read_reported(run_dir / "control")
        job = self.commands.job(state["job_id"])
        if job is None:  # Slurm forgot it (MinJobAge passed): what the job wrote is all there is
            code = _read_int(run_dir / EXIT_FILE)
            if code is None:
                return Observation(Phase.GONE, reason=f"Slurm no longer knows job {state['job_id']}")
            return Observation(Phase.EXITED, exit_code=code, reported=reported,
                               reason="" if code == 0 else f"the datalab exited with code {code}")
        job_state = job.get("JobState", "")
        if job_state in WAITING:
            position = self.commands.queue_position(state["job_id"], job.get("Partition"))
            return Observation(Phase.QUEUED, detail=queue_detail(job, position))
        if job_state in ACTIVE:
            code = _read_int(run_dir / EXIT_FILE)
            if code is not None:
                # the datalab ended and the job is ending: Slurm's verdict (OUT_OF_MEMORY, ...) comes with its end
                if _age(run_dir / EXIT_FILE) < ENDING_WAIT:
                    return Observation(Phase.QUEUED, detail=f"ending (Slurm job {state['job_id']})", reported=reported)
                return _exited(job, code, reported, state)
            address = _read_address(run_dir / ADDRESS_FILE)
            if address is None:
                node = job.get("BatchHost") or job.get("NodeList") or "?"
                return Observation(Phase.QUEUED, detail=f"starting on node {node} (Slurm job {state['job_id']})")
            return Observation(Phase.STARTED, address=address, reported=reported)
        if job_state in ENDED:
            code = _read_int(run_dir / EXIT_FILE)
            return _exited(job, code if code is not None else exit_code_of(job), reported, state)
        return Observation(Phase.QUEUED, detail=f"Slurm job {state['job_id']} is {job_state.lower() or 'unknown'}")

    def logs(self, state: dict, offset: int = 0, limit: int = 1 << 20) -> LogChunk:
        return read_log_file(str(Path(state["run_dir"]) / LOG_NAME), offset, limit)

    # -- stop -------------------------------------------------------------------------------

    def stop(self, state: dict, *, grace: float = 5.0) -> None:
        """scancel sends SIGTERM (the job program stops the sandbox), then Slurm kills what is left."""
        self.commands.cancel(str(state["job_id"]))
        deadline = time.monotonic() + max(grace, 0.5) + 10  # Slurm's KillWait: until the job has really ended
        while time.monotonic() < deadline:
            job = self.commands.job(state["job_id"])
            if job is None or job.get("JobState") in ENDED:
                break
            time.sleep(0.1)
        (Path(state["run_dir"]) / ADDRESS_FILE).unlink(missing_ok=True)

    def describe(self) -> BackendInfo:
        details = {"slurm_conf": self.options.conf or "the site default", "partition": self.options.partition or
                   "the cluster's default"}
        try:
            done = self.commands.run("sinfo", "--noheader", "--format=%P %D %c %m %T", timeout=5, check=False)
            details["sinfo"] = done.stdout.strip() or done.stderr.strip()
        except BackendError as error:
            details["sinfo"] = error.message
        return BackendInfo(
            name=self.name, enforces_limits=True,
            isolation="a Slurm batch job with the session's CPUs and memory; inside it the same bubblewrap sandbox "
                      "as the local backend; its port admits only the platform",
            details=details,
        )


def _exited(job: dict, code: int | None, reported: dict, state: dict) -> Observation:
    reason = ended_reason(job, "the session", state.get("memory"))
    if not reason and code not in (None, 0):
        reason = (f"the datalab was killed by signal {code - 128}" if code >= 128
                  else f"the datalab exited with code {code}")
    return Observation(Phase.EXITED, exit_code=code, reason=reason, reported=reported,
                       memory_exceeded=job.get("JobState") == "OUT_OF_MEMORY")


def write_private(path: Path, text: str) -> None:
    """Write a file readable by the server's user only, atomically (readers never see half of it)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    temporary.replace(path)


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _read_address(path: Path) -> Address | None:
    try:
        data = json.loads(path.read_text())
        return Address(host=str(data["host"]), port=int(data["port"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def launch_spec_from(data: dict) -> LaunchSpec:
    """The LaunchSpec written by ``start`` (JSON), for the job program on the node."""
    platform = data.get("platform")
    return LaunchSpec(
        session_id=data["session_id"], user=data["user"], command=tuple(data["command"]), env=dict(data["env"]),
        cpu=float(data["cpu"]), memory=int(data["memory"]), mounts=tuple(Mount(**m) for m in data["mounts"]),
        workdir=data["workdir"], run_dir=data["run_dir"], port=int(data["port"]),
        python_prefixes=tuple(data.get("python_prefixes") or ()),
        platform=Address(**platform) if platform else None, secret_env=frozenset(data.get("secret_env") or ()),
    )
