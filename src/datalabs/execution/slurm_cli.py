"""Talking to a Slurm cluster through its own commands (``sbatch``, ``scontrol``, ``squeue``, ``scancel``).

The commands are Slurm's stable interface (Open OnDemand and batchspawner use them too): no Slurm
library to build against the cluster's exact version, and whatever the site configured for its
users (``SLURM_CONF``, munge) applies to us as well. What Slurm says is turned into words for the
user here: why a job waits ("queued: position 3, waiting for free CPUs or memory") and why it ended
("Slurm stopped it: it reached its time limit of 01:00:00").
"""

from __future__ import annotations

import math
import os
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field

from datalabs.execution.contract import BackendError
from datalabs.sizes import format_size

# Job states (squeue/scontrol) by what they mean for us.
WAITING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED",
           "STOPPED", "SIGNALING", "STAGE_OUT"}
ACTIVE = {"RUNNING", "COMPLETING"}
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
         "DEADLINE", "REVOKED", "SPECIAL_EXIT"}

# Why a job waits, in words (Slurm's own reason code is kept next to it).
QUEUE_REASONS = {
    "None": "waiting for the scheduler's next pass",
    "Resources": "waiting for free CPUs or memory",
    "Priority": "jobs of higher priority are ahead",
    "ReqNodeNotAvail": "the nodes it needs are not available",
    "PartitionDown": "the partition is down",
    "PartitionNodeLimit": "it asks for more nodes than the partition allows",
    "PartitionTimeLimit": "its time limit is over the partition's",
    "QOSMaxJobsPerUserLimit": "you have as many jobs running as your QOS allows",
    "AssocMaxJobsLimit": "your account has as many jobs running as it may",
    "BeginTime": "its start time has not come",
    "Dependency": "it waits for another job",
    "JobHeldAdmin": "an administrator holds it",
    "JobHeldUser": "it is held",
    "NodeDown": "a node it needs is down",
}


@dataclass(frozen=True)
class SlurmOptions:
    """How datalabs uses the cluster: its configuration, where jobs go, and extra ``sbatch`` arguments."""

    conf: str | None = None  # SLURM_CONF for the commands; None: the site's default
    partition: str | None = None
    account: str | None = None
    extra_args: tuple[str, ...] = ()
    allowed_sources: str = "127.0.0.1/32"  # who may connect to a session's port on its node (socat range=)
    python: str = ""  # the Python (with datalabs installed) that nodes run; "" = the server's own

    @classmethod
    def from_settings(cls, settings) -> SlurmOptions:
        if settings is None:
            return cls(conf=os.environ.get("SLURM_CONF"))
        return cls(conf=str(settings.slurm_conf) if settings.slurm_conf else os.environ.get("SLURM_CONF"),
                   partition=settings.slurm_partition or None, account=settings.slurm_account or None,
                   extra_args=tuple(shlex.split(settings.slurm_sbatch_args or "")),
                   allowed_sources=settings.slurm_allowed_sources, python=settings.slurm_python or "")

    def as_dict(self) -> dict:
        return {"conf": self.conf, "partition": self.partition, "account": self.account,
                "extra_args": list(self.extra_args), "allowed_sources": self.allowed_sources, "python": self.python}

    @classmethod
    def from_dict(cls, data: dict) -> SlurmOptions:
        return cls(conf=data.get("conf"), partition=data.get("partition"), account=data.get("account"),
                   extra_args=tuple(data.get("extra_args") or ()),
                   allowed_sources=data.get("allowed_sources") or "127.0.0.1/32", python=data.get("python") or "")

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
        if self.conf:
            env["SLURM_CONF"] = self.conf
        return env

    def placement_args(self) -> list[str]:
        args = []
        if self.partition:
            args.append(f"--partition={self.partition}")
        if self.account:
            args.append(f"--account={self.account}")
        return args + list(self.extra_args)


def resource_args(cpu: float, memory: int, minutes: int | None = None) -> list[str]:
    """Slurm allocates whole CPUs and memory in MiB: a request is rounded up, never down."""
    args = [f"--cpus-per-task={max(1, math.ceil(cpu))}", f"--mem={max(1, math.ceil(memory / 1024**2))}M"]
    if minutes:
        args.append(f"--time={minutes}")
    return args


@dataclass
class SlurmCommands:
    """Runs Slurm's commands for one cluster; the queue listing is shared by all callers for a moment,
    so polling many sessions costs the controller one ``squeue`` a second, not one per session."""

    options: SlurmOptions
    queue_ttl: float = 1.0
    _queue: tuple[float, list[str]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, *args: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        try:
            done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=self.options.env(),
                                  stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise BackendError(f"the Slurm command {args[0]} is not installed on this server "
                               "(Debian package slurm-client)") from None
        except subprocess.TimeoutExpired:
            raise BackendError(f"Slurm did not answer {args[0]} within {timeout:g} s",
                               BackendError.RETRIABLE) from None
        if check and done.returncode != 0:
            raise BackendError(slurm_error(args[0], done.stderr), error_kind(done.stderr))
        return done

    def submit(self, args: list[str]) -> str:
        done = self.run("sbatch", "--parsable", *args)
        job_id = done.stdout.strip().split(";")[0]
        if not job_id.isdigit():
            raise BackendError(f"sbatch answered something that is not a job id: {done.stdout.strip()[:200]!r}")
        return job_id

    def job(self, job_id: str) -> dict[str, str] | None:
        """``scontrol show job`` as a dict; None when Slurm no longer knows the job (purged after MinJobAge)."""
        done = self.run("scontrol", "show", "job", "--oneliner", str(job_id), check=False)
        if done.returncode != 0:
            if "Invalid job id" in done.stderr:
                return None
            raise BackendError(slurm_error("scontrol", done.stderr), error_kind(done.stderr))
        return parse_oneliner(done.stdout)

    def queue_position(self, job_id: str, partition: str | None) -> int | None:
        """1 for the next pending job to start in its partition, by Slurm's priority order."""
        with self._lock:
            now = time.monotonic()
            if self._queue is None or now - self._queue[0] > self.queue_ttl:
                done = self.run("squeue", "--noheader", "--states=PENDING", "--sort=-p,i", "--format=%i %P",
                                check=False)
                lines = done.stdout.split() if done.returncode == 0 else []
                self._queue = (now, [f"{a} {b}" for a, b in zip(lines[::2], lines[1::2], strict=False)])
            queue = self._queue[1]
        ids = [line.split()[0] for line in queue if partition is None or line.split()[1] == partition]
        return ids.index(str(job_id)) + 1 if str(job_id) in ids else None

    def forget_queue(self) -> None:
        with self._lock:
            self._queue = None

    def cancel(self, *selectors: str) -> None:
        self.run("scancel", *selectors, check=False)


def parse_oneliner(text: str) -> dict[str, str]:
    """``Key=Value Key=Value ...``: values may hold spaces only in the last keys (Command=, WorkDir=, ...),
    so a token without ``=`` belongs to the value before it."""
    fields: dict[str, str] = {}
    last = None
    for token in text.strip().split(" "):
        key, sep, value = token.partition("=")
        if sep and key[:1].isalpha():
            fields[key] = value
            last = key
        elif last is not None:
            fields[last] += " " + token
    return fields


def slurm_error(command: str, stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    text = lines[-1] if lines else "no message"
    for prefix in (f"{command}: error: ", "error: "):
        text = text.removeprefix(prefix)
    return f"Slurm refused the job: {text}" if command == "sbatch" else f"{command} failed: {text}"


def error_kind(stderr: str) -> str:
    text = stderr.lower()
    if any(part in text for part in ("unable to contact", "timed out", "connection refused", "try again",
                                     "temporarily unavailable", "slurm_receive_msg")):
        return BackendError.RETRIABLE
    if any(part in text for part in ("node configuration is not available", "memory specification",
                                     "more processors", "time limit", "qos", "invalid account", "partition",
                                     "job violates accounting")):
        return BackendError.USER_ACTION
    return BackendError.PERMANENT


def queue_detail(job: dict[str, str], position: int | None) -> str:
    reason = job.get("Reason", "None")
    words = QUEUE_REASONS.get(reason, reason)
    where = f"position {position}, " if position else ""
    return f"queued: {where}{words} (Slurm job {job.get('JobId', '?')}, reason {reason})"


def exit_code_of(job: dict[str, str]) -> int | None:
    """Slurm's ``ExitCode=code:signal`` as a shell would say it (128 + signal when killed)."""
    code, _, signal_number = job.get("ExitCode", "").partition(":")
    try:
        code_value, signal_value = int(code), int(signal_number or 0)
    except ValueError:
        return None
    return 128 + signal_value if signal_value and not code_value else code_value


def ended_reason(job: dict[str, str], what: str, memory: int | None = None) -> str:
    """Why Slurm ended the job, in words, with Slurm's own state name."""
    state = job.get("JobState", "")
    job_id = job.get("JobId", "?")
    node = job.get("BatchHost") or job.get("NodeList") or "its node"
    limit = job.get("TimeLimit", "")
    memory_text = format_size(memory) if memory else job.get("MinMemoryNode") or "its limit"
    reasons = {
        "TIMEOUT": f"Slurm stopped {what}: it reached its time limit of {limit} (TIMEOUT, job {job_id})",
        "OUT_OF_MEMORY": f"Slurm stopped {what}: it went over its memory limit of {memory_text} "
                         f"(OUT_OF_MEMORY, job {job_id}); ask for more memory or use less",
        "NODE_FAIL": f"Slurm stopped {what}: its node {node} failed (NODE_FAIL, job {job_id})",
        "PREEMPTED": f"Slurm preempted {what} for a job of higher priority (PREEMPTED, job {job_id})",
        "BOOT_FAIL": f"Slurm could not boot the node for {what} (BOOT_FAIL, job {job_id})",
        "DEADLINE": f"Slurm stopped {what}: it reached its deadline (DEADLINE, job {job_id})",
        "CANCELLED": f"the Slurm job of {what} was cancelled (CANCELLED, job {job_id})",
    }
    if state in reasons:
        return reasons[state]
    if state == "FAILED":
        code = exit_code_of(job)
        return f"{what} failed on Slurm (FAILED, exit code {code}, reason {job.get('Reason', 'None')}, job {job_id})"
    return ""
