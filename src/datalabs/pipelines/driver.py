"""The run driver: one detached process per run, ``python -m datalabs.pipelines.driver RUN_DIR``.

It runs cwltool (its Python API, ``cwltool.main.main``) on the run's packed workflow and job order,
with our sandboxed job class (``sandbox_job``), a bounded number of cores at once, a cache that
makes a restarted driver skip the jobs already done, and CWL provenance. What happens is written
to ``RUN_DIR/events.jsonl``; the server's pipeline supervisor reads it into the database. The
driver is a process of its own session, so a server that stops or crashes does not stop the run.

``RUN_DIR/run.json`` (written by the server) says what to run:
``{"run_id", "user", "workflow", "job", "cpu", "max_memory", "environments": {datalab: env path},
"provenance": bool, "cgroups": bool, "slurm": {Slurm options, "jobs_per_run", "step_minutes"} (steps as
Slurm jobs; absent: on this machine)}``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

WORKFLOW_FILE = "workflow.cwl.json"
JOB_FILE = "job.json"
CONFIG_FILE = "run.json"
EVENTS_FILE = "events.jsonl"
OUTPUT_DIR = "output"
CRATE_FILE = "provenance.crate.zip"
RESEARCH_OBJECT_FILE = "provenance.cwlprov.zip"  # when the RO-Crate conversion fails: cwltool's own bundle
NODE_WRAPPER = """#!/bin/sh
# cwltool evaluates CWL JavaScript expressions with node: run it in the sandbox, never with our rights.
exec {bwrap} "$@"
"""


def _cwltool_args(run_dir: Path, config: dict) -> list[str]:
    args = [
        "--outdir", str(run_dir / OUTPUT_DIR),
        "--tmpdir-prefix", str(run_dir / "tmp") + "/",
        
        "--default-container", "datalabs:platform",
        "--leave-tmpdir",
        "--disable-color",
        "--skip-schemas",
    ]
    if config.get("parallel", True):
        # on this machine the run's CPUs bound its jobs at once; on Slurm, the cluster's queue does (and a cap)
        at_once = config["slurm"].get("jobs_per_run", 64) if config.get("slurm") else config.get("cpu", 1)
        args += ["--parallel", "--parallel-max", str(max(1, int(at_once)))]
    args += [
    ]
    if config.get("cache", True):
        args += ["--cachedir", str(run_dir / "cache" / "jobs")]  # its scratch folders go next to it, in cache/
    if config.get("provenance"):
        args += ["--provenance", str(run_dir / "provenance")]
    return [*args, str(run_dir / WORKFLOW_FILE), str(run_dir / JOB_FILE)]


def _sandboxed_node(run_dir: Path, user: str, prefixes: tuple[str, ...]) -> Path:
    """A ``node`` first on cwltool's PATH that runs the real one in a sandbox with no files of anyone."""
    from datalabs.execution.sandbox import bwrap_base

    real = shutil.which("node") or shutil.which("nodejs")
    folder = run_dir / "bin"
    folder.mkdir(parents=True, exist_ok=True)
    if real:
        args = bwrap_base(run_dir / "sandbox", user, prefixes) + ["--clearenv", "--setenv", "PATH", "/usr/bin:/bin",
                                                                  "--", real]
        quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in args)
        for name in ("node", "nodejs"):
            wrapper = folder / name
            wrapper.write_text(NODE_WRAPPER.format(bwrap=quoted))
            wrapper.chmod(0o755)
    return folder


def run(run_dir: Path) -> int:
    from cwltool.context import LoadingContext
    from cwltool.main import main as cwltool_main

    from datalabs.execution.cgroups import CgroupDriver
    from datalabs.pipelines.sandbox_job import CgroupSlots, EventLog, StepContext, tool_factory
    from datalabs.pipelines.slurm_steps import SlurmSteps
    from datalabs.execution.sandbox import python_prefixes

    config = json.loads((run_dir / CONFIG_FILE).read_text())
    events = EventLog(run_dir / EVENTS_FILE)
    slurm = SlurmSteps.from_config(config["slurm"], config["run_id"]) if config.get("slurm") else None
    context = StepContext(
        run_id=config["run_id"], user=config["user"], run_dir=run_dir, events=events,
        environments=config.get("environments", {}), python_prefixes=python_prefixes(),
        cgroups=CgroupSlots(driver, config["run_id"])
        if slurm is None and config.get("cgroups", True) and (driver := CgroupDriver.detect()) else None,
        slurm=slurm,
        max_cpu=float(config.get("cpu", 1)), max_memory=int(config.get("max_memory", 1 << 30)),
        pipeline=config.get("pipeline", ""),
    )
    os.environ["PATH"] = f"{_sandboxed_node(run_dir, context.user, context.python_prefixes)}:/usr/bin:/bin"
    shutil.rmtree(run_dir / OUTPUT_DIR, ignore_errors=True)  # a resumed run starts its delivery afresh
    shutil.rmtree(run_dir / "provenance", ignore_errors=True)
    (run_dir / "tmp").mkdir(exist_ok=True)
    events.emit("driver_started", pid=os.getpid())
    loading = LoadingContext()
    loading.construct_tool_object = tool_factory(context)
    loading.relax_path_checks = True
    stdout = tempfile.TemporaryFile("w+", encoding="utf-8")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    try:
        status = cwltool_main(_cwltool_args(run_dir, config), stdout=stdout, logger_handler=handler,
                              loadingContext=loading)
    finally:
        if context.cgroups is not None:
            context.cgroups.remove_all()
    stdout.seek(0)
    try:
        outputs = json.loads(stdout.read() or "{}")
    except ValueError:
        outputs = {}
    crate = _provenance_crate(run_dir) if config.get("provenance") else None
    events.emit("finished", status="success" if status == 0 else "permanentFail", exit_code=status,
                outputs=outputs, crate=crate)
    return status


def _provenance_crate(run_dir: Path) -> str | None:
    """cwltool's CWLProv research object, as a Workflow Run RO-Crate (zip) with runcrate."""
    research_object = run_dir / "provenance"
    if not (research_object / "metadata").is_dir():
        return None
    try:
        from runcrate.convert import ProvCrateBuilder

        _cwl_utils_type_alias()
        crate = ProvCrateBuilder(research_object).build()
        crate.write_zip(run_dir / CRATE_FILE)
    except Exception as error:  # noqa: BLE001 - a run's result does not depend on its provenance export
        logging.getLogger("datalabs.pipelines").warning(
            "no RO-Crate for this run (%s); offering cwltool's CWLProv research object instead", error)
        shutil.make_archive(str(run_dir / RESEARCH_OBJECT_FILE).removesuffix(".zip"), "zip", research_object)
        return RESEARCH_OBJECT_FILE
    return CRATE_FILE


def _cwl_utils_type_alias() -> None:
    """runcrate 0.2.0 reads ``.type`` of cwl-utils objects, which cwl-utils >= 0.33 calls ``type_``:
    give the classes a read-only alias (in this driver process only) until runcrate catches up."""
    import importlib

    for module_name in ("cwl_utils.parser.cwl_v1_0", "cwl_utils.parser.cwl_v1_1", "cwl_utils.parser.cwl_v1_2"):
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if isinstance(value, type) and "type" in getattr(value, "attrs", ()) and not hasattr(value, "type"):
                value.type = property(lambda self: self.type_)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m datalabs.pipelines.driver RUN_DIR", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cancel: cwltool's finally blocks end the steps
    return run(Path(argv[0]).resolve())


if __name__ == "__main__":
    sys.exit(main())
