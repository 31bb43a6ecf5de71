"""Environment-build benchmark: datalabs' builder (uv) against ``python -m venv`` + ``pip install -r``.

The psa-lab datalab's environment (the standard JupyterLab set plus
``examples/datalabs/psa-lab/requirements.txt``) is built three ways, and timed:

1. **cold**, side by side: ``EnvironmentBuilder.build`` on a fresh data folder with an *empty* uv
   cache, against ``python -m venv X && X/bin/pip install --no-cache-dir -r requirements.txt``
   of the very same requirement lines (the same interpreter). Target: ours at least 3x faster.
2. **warm**: a new environment (a fresh data folder, so a new row and folder) built with the uv
   cache the cold build filled: what a second datalab sharing most packages costs.
3. **unchanged rebuild**: ``ensure`` + ``start`` of the cold build's requirements again. Target:
   under 1 s and no network (it must not start uv or any other process).

Both sides download from PyPI, so the network weighs on the cold figures: run it on a quiet
machine and link. Figures go to standard output and ``bench/results/envbuild.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

from datalabs.catalogue import environments  # noqa: E402
from datalabs.catalogue.environments import EnvironmentBuilder, effective_requirements  # noqa: E402
from datalabs.db import migrate  # noqa: E402
from datalabs.db.engine import make_engine, make_session_factory  # noqa: E402
from datalabs.settings import Settings  # noqa: E402

RESULTS = REPO / "bench" / "results" / "envbuild.json"
PSA_REQUIREMENTS = REPO / "examples" / "datalabs" / "psa-lab" / "requirements.txt"
FALLBACK = "pdr\npds4_tools\nastropy\npandas\nmatplotlib\npyvo\n"
TARGET_COLD_SPEEDUP = 3.0
TARGET_REBUILD_SECONDS = 1.0


class BenchError(Exception):
    """The benchmark could not run (as opposed to: it ran and was slow)."""


def log(message: str) -> None:
    print(f"[bench/envbuild] {message}", file=sys.stderr, flush=True)


def make_builder(data_dir: Path, cache_dir: Path) -> tuple[EnvironmentBuilder, object]:
    data_dir.mkdir(parents=True)
    settings = Settings(data_dir=data_dir, env_cache_dir=cache_dir, secret_key="bench", database_url=None)
    migrate.upgrade(settings)
    engine = make_engine(settings)
    return EnvironmentBuilder(settings, make_session_factory(engine)), engine


def ours(builder: EnvironmentBuilder, requirements: str) -> tuple[float, str]:
    row = builder.ensure(requirements, "jupyterlab")
    started = time.perf_counter()
    done = builder.build(row.id)
    elapsed = time.perf_counter() - started
    if done.status != "ready":
        raise BenchError(f"our build failed: {done.reason} (log {done.log_path})")
    return elapsed, done.path


def pip_baseline(folder: Path, requirements_file: Path, log_file: Path) -> float:
    started = time.perf_counter()
    with log_file.open("w") as out:
        for command in ([sys.executable, "-m", "venv", str(folder)],
                        [str(folder / "bin" / "pip"), "install", "--no-cache-dir", "--disable-pip-version-check",
                         "-r", str(requirements_file)]):
            status = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
            if status != 0:
                raise BenchError(f"{' '.join(command[:3])} failed (status {status}); see {log_file}")
    return time.perf_counter() - started


def installed(python: Path) -> dict[str, str]:
    out = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True)
    if out.returncode != 0:  # uv environments have no pip: ask importlib.metadata
        code = ("import json, importlib.metadata as m; "
                "print(json.dumps([{'name': d.metadata['Name'], 'version': d.version} for d in m.distributions()]))")
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return {item["name"].lower().replace("_", "-"): item["version"] for item in json.loads(out.stdout)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/envbuild/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="cold builds per side (default 1; each downloads "
                        "a few hundred MB)")
    parser.add_argument("--tmp-dir", type=Path, default=None, help="where the temporary folder is made")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (environments, logs)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    def terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)

    own = PSA_REQUIREMENTS.read_text() if PSA_REQUIREMENTS.is_file() else FALLBACK
    source = str(PSA_REQUIREMENTS.relative_to(REPO)) if PSA_REQUIREMENTS.is_file() else "built-in list"
    lines = effective_requirements(own, "jupyterlab")
    parent = args.tmp_dir or Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(parent).free < 6 * 1024**3:
        log(f"not enough room in {parent}: about 6 GiB needed")
        return 2
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="datalabs-bench-envbuild-", dir=parent))
    engines = []
    try:
        requirements_file = tmp / "requirements.txt"
        requirements_file.write_text("\n".join(lines) + "\n")
        log(f"psa-lab environment ({source}) + base lab set: {len(lines)} requirement lines, in {tmp}")
        cold_ours, cold_pip = [], []
        builder = None
        for run in range(args.runs):
            builder, engine = make_builder(tmp / f"data-{run}", tmp / f"uv-cache-{run}")
            engines.append(engine)
            log(f"cold run {run + 1}/{args.runs}: datalabs builder (empty uv cache, new environment)")
            seconds, env_path = ours(builder, own)
            cold_ours.append(seconds)
            log(f"  datalabs: {seconds:.1f} s")
            log(f"cold run {run + 1}/{args.runs}: python -m venv + pip install --no-cache-dir -r")
            pip_dir = tmp / f"pip-venv-{run}"
            seconds = pip_baseline(pip_dir, requirements_file, tmp / f"pip-{run}.log")
            cold_pip.append(seconds)
            log(f"  pip: {seconds:.1f} s")
        ours_pkgs, pip_pkgs = installed(Path(env_path) / "bin" / "python"), installed(pip_dir / "bin" / "python")
        for tool in ("pip", "setuptools", "wheel"):
            pip_pkgs.pop(tool, None)
            ours_pkgs.pop(tool, None)
        differing = sorted(n for n in set(ours_pkgs) | set(pip_pkgs) if ours_pkgs.get(n) != pip_pkgs.get(n))

        log("warm: a new environment (fresh data folder) with the uv cache the first cold build filled")
        warm_builder, engine = make_builder(tmp / "data-warm", tmp / "uv-cache-0")
        engines.append(engine)
        warm, _ = ours(warm_builder, own)
        log(f"  warm: {warm:.2f} s")

        log("unchanged rebuild: ensure + start of the same requirements (must start no process)")
        first, engine = make_builder(tmp / "data-rebuild", tmp / "uv-cache-0")
        engines.append(engine)
        ours(first, own)
        spawned = []
        real_popen, real_run = subprocess.Popen, subprocess.run

        def spy_popen(*a, **k):
            spawned.append(a[0] if a else k.get("args"))
            return real_popen(*a, **k)

        subprocess.Popen = spy_popen  # subprocess.run goes through Popen too
        try:
            started = time.perf_counter()
            row = first.ensure("# unchanged\n" + own, "jupyterlab")
            result = first.start(row.id).result()
            rebuild = time.perf_counter() - started
        finally:
            subprocess.Popen, subprocess.run = real_popen, real_run
            first.shutdown()
        if result.status != "ready":
            raise BenchError(f"the unchanged rebuild is not ready: {result.status} {result.reason}")
        log(f"  unchanged rebuild: {rebuild * 1000:.1f} ms, processes started: {len(spawned)}")

        ours_median, pip_median = statistics.median(cold_ours), statistics.median(cold_pip)
        speedup = pip_median / ours_median
        cold_met = speedup >= TARGET_COLD_SPEEDUP
        rebuild_met = rebuild < TARGET_REBUILD_SECONDS and not spawned
        versions = {
            "uv": environments.uv_version(),
            "pip": subprocess.run([str(pip_dir / "bin" / "pip"), "--version"], capture_output=True,
                                  text=True).stdout.split(" from ")[0],
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        }
        print()
        print(f"{'measurement':<44} {'seconds':>10}")
        print(f"{'cold, datalabs builder (uv, empty cache)':<44} {ours_median:>10.1f}")
        print(f"{'cold, python -m venv + pip --no-cache-dir':<44} {pip_median:>10.1f}")
        print(f"{'ratio pip / datalabs (speed-up)':<44} {speedup:>10.1f}x  target >= {TARGET_COLD_SPEEDUP:g}x: "
              f"{'target met' if cold_met else 'target missed'}")
        print(f"{'warm, new environment, filled uv cache':<44} {warm:>10.2f}")
        print(f"{'unchanged rebuild (no process, no network)':<44} {rebuild:>10.4f}  target < 1 s: "
              f"{'target met' if rebuild_met else 'target missed'}")
        print(f"packages: {len(ours_pkgs)} (datalabs) / {len(pip_pkgs)} (pip); differing versions: "
              f"{', '.join(differing) if differing else 'none'}")
        print(f"versions: {versions['uv']}, {versions['pip']}, Python {versions['python']}; "
              f"load average {load_before:.2f} -> {os.getloadavg()[0]:.2f}")
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({
            "benchmark": "envbuild",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "requirements_source": source,
            "requirements": lines,
            "cold_datalabs_seconds": cold_ours,
            "cold_pip_seconds": cold_pip,
            "cold_speedup_median": speedup,
            "cold_target": TARGET_COLD_SPEEDUP,
            "cold_target_met": cold_met,
            "warm_seconds": warm,
            "unchanged_rebuild_seconds": rebuild,
            "unchanged_rebuild_processes": len(spawned),
            "rebuild_target_met": rebuild_met,
            "packages_datalabs": len(ours_pkgs),
            "packages_pip": len(pip_pkgs),
            "differing_versions": {n: [ours_pkgs.get(n), pip_pkgs.get(n)] for n in differing},
            "versions": versions,
            "load_average": [load_before, os.getloadavg()[0]],
        }, indent=2) + "\n")
        log(f"results written to {RESULTS.relative_to(REPO)}")
        return 0
    except BenchError as exc:
        log(f"could not run: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        for engine in engines:
            engine.dispose()
        if args.keep:
            log(f"kept {tmp}")
        else:
            environments.remove_tree(tmp)


if __name__ == "__main__":
    sys.exit(main())
