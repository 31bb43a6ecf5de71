"""The single-node Slurm cluster the tests use: started by ``scripts/slurm start`` (installed and
configured by the project's own script; quick when it already runs, as ``scripts/test`` starts it
before the suite and stops it after)."""

from __future__ import annotations

import functools
import os
import subprocess
import time
from pathlib import Path

import pytest

from datalabs.execution.slurm_cli import SlurmOptions

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slurm"


@functools.cache
def slurm_conf() -> str:
    done = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"the test Slurm cluster did not start:\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def slurm_options(**overrides) -> SlurmOptions:
    return SlurmOptions(conf=slurm_conf(), **overrides)


def slurm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "SLURM_CONF": slurm_conf()}
    return subprocess.run(list(args), capture_output=True, text=True, env=env, check=check, timeout=60)


def node_name() -> str:
    return slurm("sinfo", "--noheader", "--format=%N").stdout.split()[0]


def cancel_all_jobs() -> None:
    slurm("scancel", "--user", str(os.getuid()), check=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and slurm("squeue", "--noheader").stdout.strip():
        time.sleep(0.1)


def fill_the_cluster() -> str:
    """A job holding every CPU of the node, running once this returns: whatever comes next waits in the queue."""
    cpus = slurm("sinfo", "--noheader", "--format=%c").stdout.split()[0]
    blocker = slurm("sbatch", "--parsable", f"--cpus-per-task={cpus}", "--mem=50M", "--output=/dev/null",
                    "--wrap", "sleep 300").stdout.strip()
    deadline = time.monotonic() + 30
    while "RUNNING" not in slurm("squeue", "--noheader", "--format=%T", "--jobs", blocker).stdout:
        assert time.monotonic() < deadline, "the blocking job did not start"
        time.sleep(0.1)
    return blocker


@pytest.fixture
def slurm_settings(settings):
    """The test settings with the ``slurm`` backend on the test cluster, and no job left before or after."""
    settings.backend = "slurm"
    settings.slurm_conf = Path(slurm_conf())
    cancel_all_jobs()
    yield settings
    cancel_all_jobs()
