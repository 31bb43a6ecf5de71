"""How cwltool runs each step of a pipeline: in our bubblewrap sandbox, in its own cgroup.

cwltool stays the engine (scheduling, staging, scatter, output collection, provenance). We plug in
where it expects a container engine: every ``CommandLineTool`` gets our job class, a
``DockerCommandLineJob`` whose "container" is the same sandbox a datalab session runs in
(``execution.sandbox.bwrap_base``): a read-only system, the step's staged inputs read-only at
cwltool's container paths, its output and temporary folders writable, no network, no other file
of the host, CPU and memory limits from the step's ``ResourceRequirement``. The step's
environment is the platform's system tools, or the Python environment of the datalab it names
with our hint ``datalabs:Environment``.

What cwltool's ``--no-container`` mode leaves open is closed here: a step sees no file it was
not given, and its outputs are refused when they point outside its output folder (a symbolic
link, or a glob with ``..``), so the driver, which runs with the server's rights, never reads a
file on the step's behalf that the user could not.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from cwltool.command_line_tool import CommandLineTool
from cwltool.context import LoadingContext, RuntimeContext
from cwltool.docker import DockerCommandLineJob
from cwltool.errors import WorkflowException
from cwltool.job import JobBase
from cwltool.process import shortname
from cwltool import workflow_job
from cwltool.utils import visit_class
from cwltool.workflow import default_make_tool

from datalabs.execution.cgroups import Cgroup, CgroupDriver
from datalabs.execution.sandbox import bwrap_base, prepare_etc_tree
from datalabs.pipelines.slurm_steps import SlurmSteps
from datalabs.sizes import format_size

DATALABS_NS = "https://datalabs.dev/cwl#"
ENVIRONMENT_HINT = DATALABS_NS + "Environment"
PLATFORM_IMAGE = "datalabs:platform"  # the "image" of steps that run with the system's tools

# Joins the step's cgroup, then becomes the sandbox. The step's log takes what the tool does not
# capture itself (stdout/stderr not declared in the CWL).
STEP_LAUNCHER = r"""
if [ -n "$SLURM_JOB_ID" ]; then echo "$SLURM_JOB_ID" > "$1.slurm-job"; fi
for f in $DATALABS_CGROUP_PROCS; do echo $$ > "$f" || exit 125; done
unset DATALABS_CGROUP_PROCS
log=$1; mode=$2; shift 2
case "$mode" in
  both) exec "$@" >>"$log" 2>&1 ;;
  stdout) exec "$@" >>"$log" ;;
  stderr) exec "$@" 2>>"$log" ;;
  *) exec "$@" ;;
esac
"""


@dataclass
class EventLog:
    """The driver's events, one JSON object per line, read by the server's pipeline supervisor."""

    path: Path
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, event: str, **data) -> None:
        line = json.dumps({"t": time.time(), "event": event, **data}, default=str) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)


class CgroupSlots:
    """One cgroup per job slot of a run, reused from job to job: making and removing a cgroup per job
    costs more than a small job itself. A slot's limits change only when a job asks for others; the
    kernel's OOM-kill counter is read before and after, so each job learns whether it went over."""

    def __init__(self, driver: CgroupDriver, run_id: str) -> None:
        self.driver = driver
        self.run_id = run_id
        self._free: list[tuple[Cgroup, tuple[float, int]]] = []
        self._made: list[Cgroup] = []
        self._lock = threading.Lock()

    def acquire(self, cores: float, memory: int) -> Cgroup:
        with self._lock:
            for index, (group, limits) in enumerate(self._free):
                if limits == (cores, memory):
                    del self._free[index]
                    return group
            if self._free:  # other limits: replace an idle slot's cgroup
                group, _ = self._free.pop()
                group.remove()
                self._made.remove(group)
            group = self.driver.create(f"step-{self.run_id}-{len(self._made) + len(self._free)}-{time.monotonic_ns()}",
                                       cpu=cores, memory=memory)
            self._made.append(group)
            return group

    def release(self, group: Cgroup, cores: float, memory: int) -> None:
        group.kill(timeout=5)  # a step's stray background process does not outlive it
        with self._lock:
            self._free.append((group, (cores, memory)))

    def remove_all(self) -> None:
        with self._lock:
            for group in self._made:
                group.kill(timeout=5)
                group.remove()
            self._made.clear()
            self._free.clear()


@dataclass
class StepContext:
    """What every step of one run shares: who runs it, where, with which limits and environments."""

    run_id: str
    user: str
    run_dir: Path
    events: EventLog
    environments: dict[str, str]  # datalab name -> host path of its built Python environment
    python_prefixes: tuple[str, ...] = ()
    cgroups: CgroupSlots | None = None
    max_cpu: float = 1.0
    max_memory: int = 1 << 30  # bytes
    container_capable: bool = False
    slurm: SlurmSteps | None = None  # steps go to Slurm (srun) instead of running on this machine
    pipeline: str = ""  # the name a lone tool's job goes by (its packed id is just "main")
    _sandbox: list[str] | None = None
    _sandbox_lock: threading.Lock = field(default_factory=threading.Lock)
    _cache_uses: dict = field(default_factory=dict)

    def cache_folder(self, base: str, step: str, job_order) -> str:
        """A cache folder per (step, inputs, occurrence). cwltool's cache key leaves out inputs that are not
        on the command line, and two running jobs with one key deadlock its ``--parallel`` executor
        (each waits for a lock the other holds); this way no two jobs of a run share a key, and a resumed
        run, making the same jobs in the same order, finds each one's result again."""
        digest = hashlib.sha256(json.dumps([step, job_order], sort_keys=True, default=str).encode()).hexdigest()[:20]
        with self._sandbox_lock:
            occurrence = self._cache_uses.get(digest, 0)
            self._cache_uses[digest] = occurrence + 1
        folder = os.path.join(base, f"{digest}-{occurrence}")
        os.makedirs(folder, exist_ok=True)
        return folder

    def sandbox(self) -> list[str]:
        """The bubblewrap arguments every step of the run shares (worked out once)."""
        with self._sandbox_lock:
            return list(self._sandbox or self._make_sandbox())

    def _make_sandbox(self) -> list[str]:
        if self._sandbox is None:
            # the /etc copy is shared by the runs of this server (data_dir/pipelines/sandbox-etc)
            tree = prepare_etc_tree(self.run_dir.parent.parent / "sandbox-etc")
            self._sandbox = bwrap_base(self.run_dir / "sandbox", self.user, self.python_prefixes, etc_tree=tree)
        return self._sandbox


class StepFailure(WorkflowException):
    """A step could not run or its result was refused; the message names the step and the cause."""


def step_log_path(run_dir: Path, job_name: str) -> Path:
    return run_dir / "logs" / f"{_safe(job_name)}.log"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:150] or "job"


def _hinted_environment(process) -> str | None:
    hint, _ = process.get_requirement(ENVIRONMENT_HINT)
    if hint is None:
        for candidate in getattr(process, "hints", []) or []:
            if candidate.get("class") in (ENVIRONMENT_HINT, "datalabs:Environment"):
                hint = candidate
    return str(hint["datalab"]) if hint and hint.get("datalab") else None


class SandboxJob(DockerCommandLineJob):
    """One step (or one scatter element) of a run, in the sandbox. ``context`` is bound per run."""

    context: StepContext
    step_name: str = ""

    # -- the "image": which environment the step runs in -------------------------------------

    def get_from_requirements(self, r, pull_image, force_pull, tmp_outdir_prefix, image_base_path=None):
        if r.get("dockerPull") == PLATFORM_IMAGE:
            return PLATFORM_IMAGE
        fallback = _hinted_environment(self)
        if self.context.container_capable:  # pragma: no cover - no container-capable backend yet
            return str(r.get("dockerPull") or r.get("dockerImageId"))
        _, required = self.get_requirement("DockerRequirement")
        image = r.get("dockerPull") or r.get("dockerImageId") or "?"
        if fallback or not required:
            return PLATFORM_IMAGE
        raise StepFailure(
            f"step {self.step_name!r} requires the container image {image!r} (DockerRequirement), and this "
            "server's execution backend runs no containers; name a datalab environment to run it in instead "
            "with the hint datalabs:Environment")

    # -- the sandbox --------------------------------------------------------------------------

    @staticmethod
    def append_volume(runtime: list[str], source: str, target: str, writable: bool = False,
                      skip_mkdirs: bool = False) -> None:
        if not os.path.exists(source) and not skip_mkdirs:
            os.makedirs(source)
        runtime += ["--bind" if writable else "--ro-bind", source, target]

    def _environment(self) -> tuple[str | None, str]:
        name = _hinted_environment(self)
        if name is None:
            return None, ""
        path = self.context.environments.get(name)
        if not path:
            raise StepFailure(f"step {self.step_name!r} runs in the environment of datalab {name!r}, "
                              "which is not built or not available to you")
        return name, path

    def _limits(self) -> tuple[float, int]:
        cores = float(self.builder.resources.get("cores", 1) or 1)
        memory = int(float(self.builder.resources.get("ram", 256) or 256) * 1024 * 1024)
        if cores > self.context.max_cpu:
            raise StepFailure(f"step {self.step_name!r} asks for {cores:g} CPUs (ResourceRequirement); "
                              f"the most a step may use here is {self.context.max_cpu:g}")
        if memory > self.context.max_memory:
            raise StepFailure(f"step {self.step_name!r} asks for {format_size(memory)} of memory "
                              f"(ResourceRequirement); the most a step may have here is "
                              f"{format_size(self.context.max_memory)}")
        return cores, memory

    def create_runtime(self, env: MutableMapping[str, str], runtime_context: RuntimeContext):
        ctx = self.context
        env_name, env_path = self._environment()
        cores, memory = self._limits()
        self.cgroup = None
        self.limits = (cores, memory)
        if ctx.cgroups is not None:
            self.cgroup = ctx.cgroups.acquire(cores, memory)
            self.oom_before = self.cgroup.oom_kills()
        self.memory_limit = memory
        log = step_log_path(ctx.run_dir, self.name)
        log.parent.mkdir(parents=True, exist_ok=True)
        mode = {(True, True): "both", (True, False): "stdout", (False, True): "stderr"}.get(
            (self.stdout is None, self.stderr is None), "none")
        env.clear()
        # bwrap finds the command with this PATH (its own), so the environment's bin comes first here too
        env.update({"PATH": ":".join(([f"{env_path}/bin"] if env_path else []) + ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]),
                    "DATALABS_CGROUP_PROCS": " ".join(self.cgroup.join_files()) if self.cgroup else ""})
        runtime = ["/bin/sh", "-c", STEP_LAUNCHER, "datalabs-step", str(log), mode, *ctx.sandbox()]
        if ctx.slurm is not None:  # the same command, on a node Slurm chose, with the step's CPUs and memory
            env.update(ctx.slurm.environment())
            Path(str(log) + ".slurm-job").unlink(missing_ok=True)
            runtime = [*ctx.slurm.srun_prefix(cores, memory), *runtime]
        self.append_volume(runtime, os.path.realpath(self.outdir), self.builder.outdir, writable=True)
        self.append_volume(runtime, os.path.realpath(self.tmpdir), self.CONTAINER_TMPDIR, writable=True)
        self.add_volumes(self.pathmapper, runtime, any_path_okay=True, secret_store=runtime_context.secret_store,
                         tmpdir_prefix=runtime_context.tmpdir_prefix)
        if self.generatemapper is not None:
            self.add_volumes(self.generatemapper, runtime, any_path_okay=True,
                             secret_store=runtime_context.secret_store, tmpdir_prefix=runtime_context.tmpdir_prefix)
        if env_path:  # after /tmp is bound: an environment under /tmp (tests) stays visible
            runtime += ["--ro-bind", env_path, env_path]
        # cwltool's job environment (HOME, TMPDIR, EnvVarRequirement) holds the driver's own PATH: ours wins
        inside = {"LANG": "C.UTF-8", **self.environment, "USER": ctx.user, "LOGNAME": ctx.user,
                  "PATH": ":".join(([f"{env_path}/bin"] if env_path else []) + ["/usr/local/bin", "/usr/bin", "/bin"])}
        if env_path:
            inside["VIRTUAL_ENV"] = env_path
        runtime += ["--chdir", self.builder.outdir, "--clearenv"]
        for key, value in sorted(inside.items()):
            runtime += ["--setenv", key, str(value)]
        # cwltool appends the image name next: it becomes this variable's value, then the command follows.
        runtime += ["--setenv", "DATALABS_STEP_ENVIRONMENT"]
        self.environment_name = env_name or "platform"
        return runtime, None

    # -- around cwltool's own run -------------------------------------------------------------

    def run(self, runtimeContext: RuntimeContext, tmpdir_lock=None) -> None:
        ctx = self.context
        self.cgroup: Cgroup | None = None
        log = step_log_path(ctx.run_dir, self.name)
        ctx.events.emit("job_started", job=self.name, step=self.step_name, log=str(log))
        seen: dict = {}
        collect = self.collect_outputs
        callback = self.output_callback

        def checked_collect(outdir: str, rcode: int):
            seen["exit_code"] = rcode
            try:
                _refuse_links_outside(outdir, self.step_name)
                outputs = collect(outdir, rcode)
                _refuse_paths_outside(outputs, outdir, self.step_name)
            except Exception as error:  # cwltool logs it and fails the job; the user must read why
                seen["collect_error"] = error
                raise
            return outputs

        def recorded_callback(outputs, status):
            seen["status"], seen["outputs"] = status, outputs
            callback(outputs, status)

        self.collect_outputs = checked_collect
        self.output_callback = recorded_callback
        try:
            super().run(runtimeContext, tmpdir_lock)
        except Exception as error:  # noqa: BLE001 - reported, then cwltool handles it as a failed step
            ctx.events.emit("job_ended", job=self.name, step=self.step_name, status="permanentFail",
                            reason=_message(error))
            raise
        finally:
            over_memory = self._release_cgroup()
        status = seen.get("status", "permanentFail")
        code = seen.get("exit_code")
        reason = ""
        if status != "success" and ctx.slurm is not None:
            over_memory, reason = ctx.slurm.verdict(log, self.step_name, getattr(self, "memory_limit", 0))
        if status != "success" and not reason:
            reason = _failure_reason(self.step_name, code, over_memory, getattr(self, "memory_limit", 0), log,
                                     seen.get("collect_error"))
        ctx.events.emit("job_ended", job=self.name, step=self.step_name, status=status, exit_code=code,
                        reason=reason, outputs=_output_paths(seen.get("outputs") or {}))

    def _release_cgroup(self) -> bool:
        group = getattr(self, "cgroup", None)
        if group is None:
            return False
        over = group.oom_kills() > self.oom_before
        self.context.cgroups.release(group, *self.limits)
        return over


def _message(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[-1] if len(text) > 2000 else text


def _failure_reason(step: str, code: int | None, over_memory: bool, memory: int, log: Path,
                    collect_error: Exception | None = None) -> str:
    if over_memory:
        return (f"step {step!r} went over its memory limit of {format_size(memory)}; "
                "ask for more with ResourceRequirement ramMin, or use less")
    if code is None:
        return f"step {step!r} failed before it ran (see its log)"
    if collect_error is not None and code in (0, None):
        if isinstance(collect_error, StepFailure):
            return str(collect_error)
        return f"step {step!r} ran, but its outputs could not be collected: {_message(collect_error)}"
    if code == 125:
        return f"step {step!r} could not be placed in its sandbox (limits could not be set)"
    if code > 128 or code < 0:
        signal_number = code - 128 if code > 128 else -code
        return f"step {step!r} was killed by signal {signal_number}"
    tail = _log_tail(log)
    return f"step {step!r} exited with code {code}" + (f": {tail}" if tail else "")


def _log_tail(log: Path) -> str:
    try:
        with open(log, "rb") as handle:
            handle.seek(max(0, os.path.getsize(log) - 400))
            lines = handle.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def _inside(path: str, folder: str) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(folder)
    return real == base or real.startswith(base + os.sep)


def _refuse_links_outside(outdir: str, step: str) -> None:
    for top, dirs, files in os.walk(outdir):
        for name in dirs + files:
            path = os.path.join(top, name)
            if os.path.islink(path) and not _inside(path, outdir):
                relative = os.path.relpath(path, outdir)
                raise StepFailure(f"step {step!r} made a symbolic link that leads outside its output folder: "
                                  f"{relative} -> {os.readlink(path)}")


def _refuse_paths_outside(outputs, outdir: str, step: str) -> None:
    def check(item) -> None:
        path = item.get("path") or item.get("location", "").removeprefix("file://")
        if path and not path.startswith("_:") and not _inside(path, outdir):
            raise StepFailure(f"step {step!r} names an output outside its output folder: {item.get('basename', path)}")

    visit_class(outputs, ("File", "Directory"), check)


def _output_paths(outputs: dict) -> dict:
    """Each output's host path(s), for the list of intermediate outputs."""
    found: dict[str, list[dict]] = {}
    for key, value in outputs.items():
        items: list[dict] = []
        visit_class(value, ("File", "Directory"), lambda item: items.append(
            {"class": item["class"], "path": item.get("path") or item.get("location", "").removeprefix("file://"),
             "size": item.get("size")}))
        if items:
            found[shortname(key)] = items
    return found


# -- cwltool's tool factory -------------------------------------------------------------------


class SandboxedTool(CommandLineTool):
    job_class: type[SandboxJob]

    def make_job_runner(self, runtimeContext: RuntimeContext) -> type[JobBase]:
        super().make_job_runner(runtimeContext)  # adds the platform "image" where no DockerRequirement is
        return self.job_class

    def job(self, job_order, output_callbacks, runtimeContext):
        part_of = runtimeContext.part_of or ""
        step = part_of[5:] if part_of.startswith("step ") else shortname(self.tool.get("id", "main"))
        if step == "main" and self.job_class.context.pipeline:
            step = self.job_class.context.pipeline
        if runtimeContext.cachedir:
            runtimeContext = runtimeContext.copy()
            runtimeContext.cachedir = self.job_class.context.cache_folder(runtimeContext.cachedir, step, job_order)
        for item in super().job(job_order, output_callbacks, runtimeContext):
            if isinstance(item, SandboxJob):
                item.step_name = step
            yield item


def count_scatters(events: EventLog) -> None:
    """Tell the events how many jobs each scattered step will have, so its progress reads done/total.

    cwltool decides a scatter's width inside ``workflow_job.try_make_job`` and offers no hook there;
    we wrap its three scatter functions (in this driver process only) to note the width first.
    """
    for name in ("dotproduct_scatter", "nested_crossproduct_scatter", "flat_crossproduct_scatter"):
        original = getattr(workflow_job, name)
        if getattr(original, "counted", False):
            continue

        def counted(process, joborder, scatter_keys, output_callback, runtime_context, _original=original,
                    _name=name):
            total = (len(joborder[scatter_keys[0]]) if _name == "dotproduct_scatter"
                     else workflow_job.crossproduct_size(joborder, scatter_keys))
            events.emit("scatter", step=shortname(process.id), total=total)
            return _original(process, joborder, scatter_keys, output_callback, runtime_context)

        counted.counted = True
        setattr(workflow_job, name, counted)


def tool_factory(context: StepContext) -> Callable:
    """A ``construct_tool_object`` for cwltool's LoadingContext that makes our tools and steps."""
    job_class = type("BoundSandboxJob", (SandboxJob,), {"context": context})
    tool_class = type("BoundSandboxedTool", (SandboxedTool,), {"job_class": job_class})
    count_scatters(context.events)

    def make_tool(toolpath_object, loading_context: LoadingContext):
        match toolpath_object:
            case {"class": "CommandLineTool"}:
                return tool_class(toolpath_object, loading_context)
        return default_make_tool(toolpath_object, loading_context)

    return make_tool
