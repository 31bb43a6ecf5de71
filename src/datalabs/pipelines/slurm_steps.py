"""Pipeline steps as Slurm jobs: each CWL job cwltool makes runs through ``srun`` on a node Slurm chooses.

Why per-step ``srun`` and not Toil's Slurm batch system: cwltool stays the one engine of every run
(the same validation, scheduling, scatter, caching, resume and provenance as on one machine, and our
sandboxed job class), and only *where* a job runs changes: ``srun`` allocates the step's CPUs and
memory, runs the sandboxed command on the node and hands back its exit code and its standard streams
exactly as a local process would. Toil would be a second CWL engine with its own job store, its own
file staging and its own idea of a container, so none of that would be ours to keep true; a scatter
already fans out across the cluster with cwltool's ``--parallel`` (one waiting ``srun`` per job).

Every job of a run is named ``datalabs-run-<run id>``: cancel is one ``scancel --name``. Slurm confines
a job to its CPUs and memory, so steps get no cgroup of ours; Slurm's verdict on a failed step
(OUT_OF_MEMORY, TIMEOUT, NODE_FAIL) is read back with ``scontrol`` and becomes the step's reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from datalabs.execution.contract import BackendError
from datalabs.execution.slurm_cli import ENDED, SlurmCommands, SlurmOptions, ended_reason, resource_args

JOB_ID_SUFFIX = ".slurm-job"  # next to the step's log: the job id, written by the step launcher on the node


def run_job_name(run_id: str) -> str:
    return f"datalabs-run-{run_id}"


@dataclass(frozen=True)
class SlurmSteps:
    """What the driver needs to send steps to Slurm (from ``run.json``, written by the server)."""

    options: SlurmOptions
    run_id: str
    step_minutes: int = 0

    @classmethod
    def from_config(cls, config: dict, run_id: str) -> SlurmSteps:
        return cls(SlurmOptions.from_dict(config), run_id, int(config.get("step_minutes") or 0))

    def srun_prefix(self, cores: float, memory: int) -> list[str]:
        return ["srun", "--quiet", "--ntasks=1", "--nodes=1", f"--job-name={run_job_name(self.run_id)}",
                "--export=ALL", *resource_args(cores, memory, self.step_minutes or None),
                *self.options.placement_args()]

    def environment(self) -> dict[str, str]:
        return {"SLURM_CONF": self.options.conf} if self.options.conf else {}

    def verdict(self, log: Path, step: str, memory: int, wait: float = 15.0) -> tuple[bool, str]:
        """(over memory, Slurm's reason) for a step that failed; ("", False) when Slurm has nothing to add."""
        try:
            job_id = Path(str(log) + JOB_ID_SUFFIX).read_text().strip()
        except FileNotFoundError:
            return False, ""
        commands = SlurmCommands(self.options)
        deadline = time.monotonic() + wait
        try:
            while (job := commands.job(job_id)) is not None and job.get("JobState") not in ENDED:
                if time.monotonic() > deadline:
                    return False, ""
                time.sleep(0.1)
        except BackendError:
            return False, ""
        if job is None:
            return False, ""
        return job.get("JobState") == "OUT_OF_MEMORY", ended_reason(job, f"step {step!r}", memory)


def cancel_run_jobs(options: SlurmOptions, run_id: str) -> None:
    """Cancel every Slurm job of a run (running or waiting)."""
    try:
        SlurmCommands(options).cancel(f"--name={run_job_name(run_id)}")
    except BackendError:
        pass  # no Slurm here any more: nothing of the run can be running on it
