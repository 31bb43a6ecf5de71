"""Indexing benchmark: a volume of OSIRIS-like labels (the real Rosetta OSIRIS NAC labels replicated with
varied values), indexed by our scanner, against a loop over ``pdr.read`` (label only) and a loop over
``pvl.load`` (what the original osiris_zoo tooling uses), side by side in the same run.

- On a sample (``--sample``, default 300 labels): labels/s of each, and our ratio to each.
- The whole volume (``--labels``, default 35,000): our scan's wall time (target < 30 s) and labels/s.
  Our figure includes the database writes (SQLite by default); the loops only parse.

Results go to bench/results/archive_index.json and .md.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

from datalabs.archive.service import ArchiveService  # noqa: E402
from datalabs.db import migrate  # noqa: E402
from datalabs.db.engine import make_engine, make_session_factory  # noqa: E402
from datalabs.settings import Settings  # noqa: E402
from datalabs.storage.datasets import DatasetService  # noqa: E402

RESULTS = REPO / "bench" / "results"
SHARED_OSIRIS = REPO.parent / "shared" / "testdata" / "pds" / "pds3" / "rosetta_osiris_nac"


def log(message: str) -> None:
    print(f"\033[1m[bench/archive]\033[0m {message}", file=sys.stderr, flush=True)


def templates() -> list[str]:
    if SHARED_OSIRIS.is_dir():
        return [p.read_text(errors="replace") for p in sorted(SHARED_OSIRIS.glob("*.LBL"))]
    from datalabs.demo_data import write_synthetic_volume  # synthetic OSIRIS-like labels when ../shared is absent

    folder = Path(tempfile.mkdtemp(prefix="bench-templates-"))
    write_synthetic_volume(folder, osiris_only=True)
    return [p.read_text() for p in sorted(folder.rglob("*.LBL"))]


def generate(folder: Path, count: int, seed: int = 7) -> list[Path]:
    """count labels, each a real label with its identifiers, times and geometry changed."""
    rng = random.Random(seed)
    bodies = templates()
    start = datetime(2014, 8, 1, tzinfo=UTC)
    paths = []
    for i in range(count):
        text = bodies[i % len(bodies)]
        when = start + timedelta(seconds=i * 137 + rng.randint(0, 60))
        stamp = when.strftime("%Y%m%dT%H%M%S") + f"{rng.randint(0, 999):03d}"
        product = f"N{stamp}ID30F{rng.randint(10, 99)}"
        lines = []
        for line in text.splitlines():
            key = line.split("=", 1)[0].strip()
            if key == "PRODUCT_ID":
                line = f'PRODUCT_ID                       = "{product}.FIT"'
            elif key in ("START_TIME", "STOP_TIME"):
                line = f"{key:<33}= {when.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}"
            elif key == "PHASE_ANGLE":
                line = f"PHASE_ANGLE                      = {rng.uniform(0, 180):.5f} <deg>"
            elif key == "SPACECRAFT_ALTITUDE":
                line = f"SPACECRAFT_ALTITUDE              = {rng.uniform(5, 400):.5f} <km>"
            elif key == "ROSETTA:SURFACE_INTERCEPT_DISTANCE" and "N/A" not in line:
                line = f"ROSETTA:SURFACE_INTERCEPT_DISTANCE = {rng.uniform(5, 400):.3f} <km>"
            lines.append(line)
        sub = folder / f"DATA{i // 1000:03d}"
        sub.mkdir(exist_ok=True)
        path = sub / f"{product}.LBL"
        path.write_text("\r\n".join(lines) + "\r\n")
        paths.append(path)
    return paths


def scan(data: Path, volume: Path) -> tuple[float, int]:
    settings = Settings(data_dir=data, secret_key="bench")
    migrate.upgrade(settings)
    factory = make_session_factory(make_engine(settings))
    with factory() as db:
        if DatasetService(db).repo.by_name("osiris") is None:
            DatasetService(db).register("osiris", volume)
        service = ArchiveService(db)
        started = time.perf_counter()
        record = service.run_scan(service.begin_scan("osiris", None))
        return time.perf_counter() - started, record.indexed


def loop(paths: list[Path], read) -> float:
    started = time.perf_counter()
    for path in paths:
        read(path)
    return time.perf_counter() - started


def pdr_label(path: Path):
    import pdr

    return pdr.read(str(path)).metadata  # pdr reads the label when opened; no data object is loaded


def pvl_label(path: Path):
    import pvl

    return pvl.load(str(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=int, default=35_000)
    parser.add_argument("--sample", type=int, default=300)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    work = Path(tempfile.mkdtemp(prefix="bench-archive-"))
    try:
        sample_dir, whole_dir = work / "sample", work / "whole"
        sample_dir.mkdir()
        whole_dir.mkdir()
        log(f"generating {args.sample} + {args.labels} OSIRIS-like labels in {work}")
        sample = generate(sample_dir, args.sample)
        ours_s, indexed = scan(work / "data-sample", sample_dir)
        assert indexed == len(sample), f"indexed {indexed} of {len(sample)}"
        pdr_s = loop(sample, pdr_label)
        pvl_s = loop(sample, pvl_label)
        ours_rate, pdr_rate, pvl_rate = (len(sample) / t for t in (ours_s, pdr_s, pvl_s))
        log(f"sample: datalabs {ours_rate:.0f} labels/s, pdr {pdr_rate:.1f}/s, pvl {pvl_rate:.1f}/s")
        generate(whole_dir, args.labels, seed=11)
        whole_s, whole_indexed = scan(work / "data-whole", whole_dir)
        assert whole_indexed == args.labels, f"indexed {whole_indexed} of {args.labels}"
        log(f"whole: {args.labels} labels in {whole_s:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "sample": args.sample,
        "labels_per_s": {"datalabs": round(ours_rate, 1), "pdr.read loop": round(pdr_rate, 1),
                         "pvl.load loop": round(pvl_rate, 1)},
        "ratio_to_pdr": round(ours_rate / pdr_rate, 1), "ratio_to_pvl": round(ours_rate / pvl_rate, 1),
        "whole_labels": args.labels, "whole_seconds": round(whole_s, 2),
        "whole_labels_per_s": round(args.labels / whole_s, 1),
    }
    table = ("| labels | datalabs labels/s | pdr.read loop labels/s | pvl.load loop labels/s | vs pdr (target >= 20x) "
             "| vs pvl | whole volume |\n|---|---|---|---|---|---|---|\n"
             f"| {args.sample} (sample) | {ours_rate:.0f} | {pdr_rate:.1f} | {pvl_rate:.1f} | "
             f"**{result['ratio_to_pdr']}x** | {result['ratio_to_pvl']}x | {args.labels} labels in "
             f"**{whole_s:.1f} s** (target < 30 s), {result['whole_labels_per_s']:.0f}/s |")
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "archive_index.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "archive_index.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
