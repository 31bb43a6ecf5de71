"""Slurm benchmark: the same platform with the ``slurm`` backend against the ``local`` backend, side by side.

On the single-node Slurm cluster of ``scripts/slurm`` (real slurmctld + slurmd + munge), two
``datalabs serve`` processes on one data folder each (``DATALABS_BACKEND=local`` and ``=slurm``):

- **launch to reachable**: ``POST /api/v1/sessions`` of a small web datalab (Python's http.server), then
  ``GET /datalabs/<id>/`` through the proxy until it answers 200; the session is destroyed between rounds.
  Median of the rounds; ratio slurm / local.
- **N-way scatter** (default 200): the same trivial scatter workflow run through
  ``POST /api/v1/pipelines/scatter/runs`` with ``cpu`` = the node's CPUs on both; ratio slurm / local.
- **Slurm's cost per job**: ``srun true`` (allocation, launch, end) against starting ``true`` directly,
  sequentially, median of 20; and the scatter's extra wall time per job ((slurm - local) / N x CPUs).

Results also go to bench/results/slurm.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench" / "sessions"))
sys.path.insert(0, str(REPO / "bench" / "pipelines"))

import httpx  # noqa: E402

from bench_pipelines import SCATTER  # noqa: E402 - the pipeline benchmark's workflow
from bench_sessions import BenchError, free_port, tail  # noqa: E402
from datalabs.accounts.actor import Actor  # noqa: E402
from datalabs.accounts.service import AccountService  # noqa: E402
from datalabs.catalogue.service import CatalogueService  # noqa: E402
from datalabs.db import migrate  # noqa: E402
from datalabs.db.engine import make_engine, make_session_factory  # noqa: E402
from datalabs.pipelines.service import PipelineService  # noqa: E402
from datalabs.settings import Settings  # noqa: E402

RESULTS = REPO / "bench" / "results"
WEB_LAB = """title: Bench web lab
alternateName: web
abstract: A web server for the benchmark.
distribution.license: MIT
version: "1.0"
runtime:
  kind: web
  command: [python3, -m, http.server, "{port}", --bind, 127.0.0.1]
  environment: none
  cpu: {default: 1, max: 2}
  memory: {default: 256M, max: 1G}
"""


def log(message: str) -> None:
    print(f"\033[1m[bench/slurm]\033[0m {message}", file=sys.stderr, flush=True)


def prepare(data: Path) -> str:
    settings = Settings(data_dir=data, secret_key="bench")
    migrate.upgrade(settings)
    factory = make_session_factory(make_engine(settings))
    package = data.parent / f"{data.name}-web"
    package.mkdir(parents=True, exist_ok=True)
    (package / "datalab-meta.yml").write_text(WEB_LAB)
    with factory() as db:
        accounts = AccountService(db)
        accounts.create_user("bencher", password=None, role="admin")
        admin = Actor.of(accounts.repo.user_by_name("bencher"))
        catalogue = CatalogueService(db, settings, None)
        catalogue.import_folder(admin, package)
        catalogue.submit(admin, "web", "1.0")
        catalogue.publish(admin, "web", "1.0")
        pipelines = PipelineService(db, settings)
        pipelines.import_text(admin, SCATTER, "scatter.cwl", name="scatter", version="1")
        pipelines.submit(admin, "scatter", "1")
        pipelines.publish(admin, "scatter", "1")
        return accounts.create_token("bencher", scopes=["read", "write", "admin"]).secret


class Platform:
    """``datalabs serve`` with one backend, on its own data folder."""

    def __init__(self, folder: Path, backend: str, slurm_conf: str, jobs_per_run: int) -> None:
        self.backend = backend
        data = folder / backend
        token = prepare(data)
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATALABS_")}
        env.update({"DATALABS_DATA_DIR": str(data), "DATALABS_SECRET_KEY": "bench", "DATALABS_BACKEND": backend,
                    "DATALABS_SLURM_CONF": slurm_conf, "DATALABS_SLURM_JOBS_PER_RUN": str(jobs_per_run),
                    "DATALABS_BUILD_ENVIRONMENTS": "false",
                    "DATALABS_PORT": str(self.port), "DATALABS_LOG_LEVEL": "warning",
                    "DATALABS_SESSIONS_PER_USER": "5", "DATALABS_SESSION_IDLE_MINUTES": "0"})
        self.log_file = folder / f"{backend}.log"
        self.out = self.log_file.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "datalabs", "serve"], env=env, stdout=self.out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60,
                                 headers={"Authorization": f"Bearer {token}"})
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"datalabs serve ({backend}) exited:\n{tail(self.log_file)}")
            try:
                if self.http.get("/api/v1/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"datalabs serve ({backend}) did not answer:\n{tail(self.log_file)}")
            time.sleep(0.1)

    def launch_to_reachable(self) -> float:
        started = time.perf_counter()
        created = self.http.post("/api/v1/sessions", json={"datalab": "web"})
        created.raise_for_status()
        session_id = created.json()["id"]
        while True:
            page = self.http.get(f"/datalabs/{session_id}/")
            if page.status_code == 200:
                elapsed = time.perf_counter() - started
                break
            state = self.http.get(f"/api/v1/sessions/{session_id}").json()
            if state["state"] in ("failed", "stopped") or time.perf_counter() - started > 120:
                raise BenchError(f"{self.backend} session {state['state']}: {state['reason']}")
            time.sleep(0.01)
        self.http.delete(f"/api/v1/sessions/{session_id}")
        while self.http.get(f"/api/v1/sessions/{session_id}").json()["state"] not in ("stopped", "failed"):
            time.sleep(0.05)
        return elapsed

    def scatter(self, width: int, cpus: int) -> float:
        started = time.perf_counter()
        run = self.http.post("/api/v1/pipelines/scatter/runs", json={"inputs": {"items": list(range(width))},
                                                                      "cpu": cpus})
        run.raise_for_status()
        run_id = run.json()["id"]
        while (state := self.http.get(f"/api/v1/runs/{run_id}").json())["state"] not in ("completed", "failed",
                                                                                           "stopped"):
            time.sleep(0.05)
        if state["state"] != "completed":
            raise BenchError(f"the {self.backend} run {state['state']}: {state['reason']}")
        return time.perf_counter() - started

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.out.close()


def per_job_cost(slurm_conf: str, count: int = 20) -> dict:
    env = {**os.environ, "SLURM_CONF": slurm_conf}

    def timed(command: list[str]) -> float:
        started = time.perf_counter()
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started

    srun = [timed(["srun", "--quiet", "--ntasks=1", "--cpus-per-task=1", "--mem=64M", "true"]) for _ in range(count)]
    direct = [timed(["true"]) for _ in range(count)]
    return {"srun_true_ms": round(statistics.median(srun) * 1000, 1),
            "direct_true_ms": round(statistics.median(direct) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="launches per backend (default 5)")
    parser.add_argument("--width", type=int, default=200, help="scatter width (default 200)")
    parser.add_argument("--jobs-per-run", type=int, default=0,
                        help="slurm_jobs_per_run of the slurm side (default: the node's CPUs, so no step waits in "
                             "Slurm's queue; more lets Slurm's scheduler pace the scatter)")
    args = parser.parse_args()
    slurm_conf = subprocess.run(["bash", str(REPO / "scripts" / "slurm"), "start"], check=True, capture_output=True,
                                text=True).stdout.strip().splitlines()[-1]
    cpus = int(subprocess.run(["sinfo", "--noheader", "--format=%c"], capture_output=True, text=True, check=True,
                              env={**os.environ, "SLURM_CONF": slurm_conf}).stdout.split()[0])
    jobs_per_run = args.jobs_per_run or cpus
    results: dict = {"cpus": cpus, "slurm_jobs_per_run": jobs_per_run}
    with tempfile.TemporaryDirectory(prefix="bench-slurm-") as tmp:
        platforms = {name: Platform(Path(tmp), name, slurm_conf, jobs_per_run) for name in ("local", "slurm")}
        try:
            launches: dict[str, list[float]] = {"local": [], "slurm": []}
            for index in range(args.rounds):
                for name, platform in platforms.items():
                    launches[name].append(platform.launch_to_reachable())
                log(f"launch round {index + 1}: local {launches['local'][-1]:.2f} s, slurm {launches['slurm'][-1]:.2f} s")
            scatter = {}
            for name, platform in platforms.items():
                scatter[name] = platform.scatter(args.width, cpus)
                log(f"{args.width}-way scatter on {name}: {scatter[name]:.2f} s")
        finally:
            for platform in platforms.values():
                platform.stop()
    results["launch_local_s"] = round(statistics.median(launches["local"]), 3)
    results["launch_slurm_s"] = round(statistics.median(launches["slurm"]), 3)
    results["launch_ratio"] = round(results["launch_slurm_s"] / results["launch_local_s"], 2)
    results["launches"] = launches
    results["width"] = args.width
    results["scatter_local_s"] = round(scatter["local"], 2)
    results["scatter_slurm_s"] = round(scatter["slurm"], 2)
    results["scatter_ratio"] = round(scatter["slurm"] / scatter["local"], 2)
    results["scatter_extra_per_job_ms"] = round((scatter["slurm"] - scatter["local"]) / args.width * cpus * 1000, 1)
    results.update(per_job_cost(slurm_conf))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    (RESULTS / "slurm.json").write_text(json.dumps({"at": stamp, **results}, indent=2))
    lines = [
        "| measure | local | slurm | ratio slurm/local |", "|---|---|---|---|",
        f"| launch -> reachable (median of {args.rounds}) | {results['launch_local_s']} s | {results['launch_slurm_s']} s "
        f"| **{results['launch_ratio']}** |",
        f"| {args.width}-way scatter ({cpus} CPUs, slurm_jobs_per_run {jobs_per_run}) | {results['scatter_local_s']} s | {results['scatter_slurm_s']} s "
        f"| **{results['scatter_ratio']}** |",
        f"| one job: `true` vs `srun true` (median of 20) | {results['direct_true_ms']} ms | "
        f"{results['srun_true_ms']} ms | |",
        f"| scatter: Slurm's extra time per job (x {cpus} slots) | | {results['scatter_extra_per_job_ms']} ms | |",
    ]
    (RESULTS / "slurm.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        print(f"[bench/slurm] {error}", file=sys.stderr)
        sys.exit(1)
