"""Pipeline benchmark: an N-way scatter of a trivial step, through datalabs and with cwltool directly.

Both run the same workflow file (``scatter.cwl``) on the same machine in the same run:

- **datalabs**: ``POST /api/v1/pipelines/<name>/runs`` to a ``datalabs serve`` on loopback, then poll
  ``GET /api/v1/runs/<id>`` until the run is completed. Every job runs in its own bubblewrap sandbox
  and cgroup; cwltool (the driver) runs with ``--parallel`` bounded by the CPU quota, a job cache
  (for resuming) and provenance, as users get it.
- **baseline**: ``cwltool --no-container --outdir <tmp> scatter.cwl job.json`` (its default
  executor, as a user would type it), wall time of the process.

Printed: both wall times (median of the rounds), per-step overhead ((datalabs - baseline) / N),
the ratio datalabs / baseline (target <= 1.2), and the time from launch to the first job running.
Results also go to bench/results/pipelines.json and .md.
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

import httpx  # noqa: E402

from bench_sessions import Server, free_port, tail  # noqa: E402,F401 - the same `datalabs serve` helper
from datalabs.accounts.actor import Actor  # noqa: E402
from datalabs.accounts.service import AccountService  # noqa: E402
from datalabs.db import migrate  # noqa: E402
from datalabs.db.engine import make_engine, make_session_factory  # noqa: E402
from datalabs.pipelines.service import PipelineService  # noqa: E402
from datalabs.settings import Settings  # noqa: E402

RESULTS = REPO / "bench" / "results"
SCATTER = """cwlVersion: v1.2
class: Workflow
label: Trivial scatter
requirements: {ScatterFeatureRequirement: {}}
inputs:
  items: int[]
outputs:
  outs:
    type: File[]
    outputSource: touch/out
steps:
  touch:
    run:
      class: CommandLineTool
      baseCommand: [sh, -c, 'echo "$0" > out.txt']
      arguments: [$(inputs.n)]
      inputs: {n: int}
      outputs: {out: {type: File, outputBinding: {glob: out.txt}}}
    scatter: n
    in: {n: items}
    out: [out]
"""


def log(message: str) -> None:
    print(f"\033[1m[bench/pipelines]\033[0m {message}", file=sys.stderr, flush=True)


def baseline(workflow: Path, job: Path) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cwltool", "--quiet", "--no-container", "--outdir", out,
                        str(workflow), str(job)], check=True, stdout=subprocess.DEVNULL, cwd=out)
        return time.perf_counter() - started


def through_datalabs(http: httpx.Client, width: int) -> tuple[float, float]:
    started = time.perf_counter()
    run = http.post("/api/v1/pipelines/scatter/runs", json={"inputs": {"items": list(range(width))}})
    run.raise_for_status()
    run_id = run.json()["id"]
    first_job = None
    while True:
        state = http.get(f"/api/v1/runs/{run_id}").json()
        if first_job is None and (state["jobs_done"] or any(s["running"] or s["done"] for s in state["steps"])):
            first_job = time.perf_counter() - started
        if state["state"] in ("completed", "failed", "stopped"):
            elapsed = time.perf_counter() - started
            if state["state"] != "completed":
                raise SystemExit(f"the datalabs run {run_id} {state['state']}: {state['reason']}")
            return elapsed, first_job or elapsed
        time.sleep(0.02)


def setup(data: Path) -> str:
    settings = Settings(data_dir=data, secret_key="bench")
    migrate.upgrade(settings)
    factory = make_session_factory(make_engine(settings))
    with factory() as db:
        accounts = AccountService(db)
        accounts.create_user("bencher", password=None, role="admin")
        admin = Actor.of(accounts.repo.user_by_name("bencher"))
        service = PipelineService(db, settings)
        service.import_text(admin, SCATTER, "scatter.cwl", name="scatter", version="1")
        service.submit(admin, "scatter", "1")
        service.publish(admin, "scatter", "1")
        return accounts.create_token("bencher", scopes=["read", "write", "admin"]).secret


def measure(width: int, rounds: int, http: httpx.Client, folder: Path) -> dict:
    workflow = folder / "scatter.cwl"
    workflow.write_text(SCATTER)
    job = folder / f"job-{width}.json"
    job.write_text(json.dumps({"items": list(range(width))}))
    ours, base, first = [], [], []
    for index in range(rounds):
        b = baseline(workflow, job)
        d, f = through_datalabs(http, width)
        base.append(b)
        ours.append(d)
        first.append(f)
        log(f"{width}-way, round {index + 1}: datalabs {d:.2f} s (first job at {f:.2f} s), cwltool {b:.2f} s")
    d, b = statistics.median(ours), statistics.median(base)
    return {"width": width, "datalabs_s": round(d, 3), "cwltool_s": round(b, 3), "ratio": round(d / b, 3),
            "per_step_overhead_ms": round((d - b) / width * 1000, 2),
            "launch_to_first_job_s": round(statistics.median(first), 3), "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=100, help="scatter width (default 100)")
    parser.add_argument("--large", action="store_true", help="also run a 1000-way scatter")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    widths = [args.width] + ([1000] if args.large else [])
    with tempfile.TemporaryDirectory(prefix="bench-pipelines-") as tmp:
        folder = Path(tmp)
        token = setup(folder / "data")
        os.environ.pop("DATALABS_PIPELINE_CPU_QUOTA", None)
        server = Server(folder / "data", folder / "server.log", per_user=1)
        try:
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
                results = [measure(width, args.rounds if width < 1000 else 1, http, folder) for width in widths]
        finally:
            server.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    (RESULTS / "pipelines.json").write_text(json.dumps({"at": stamp, "cpus": os.cpu_count(), "results": results},
                                                       indent=2))
    lines = ["| scatter | datalabs s | cwltool --no-container s | ratio (target <= 1.2) | overhead per step | "
             "launch -> first job |", "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['width']}-way | {r['datalabs_s']} | {r['cwltool_s']} | **{r['ratio']}** | "
                     f"{r['per_step_overhead_ms']} ms | {r['launch_to_first_job_s']} s |")
    (RESULTS / "pipelines.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
