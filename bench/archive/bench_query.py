"""Query benchmark: ADQL through ``/tap/sync`` of a live ``datalabs serve`` against the same SQL run directly on
the database, side by side in the same run, on N generated products with ~200 label attributes each.

The WHERE clause is on a label attribute (``PHASE_ANGLE``, stored in the products' JSON like every attribute):
once with an index made on demand (``datalabs archive index PHASE_ANGLE``) and once on an attribute without
one (``SPACECRAFT_ALTITUDE``: the database reads every product). For each: p50 and p95 of the wall time of
``--queries`` queries with varied values, through TAP (HTTP, ADQL translation, VOTable) and directly (the
translated SQL on a sqlite3 connection, rows fetched), and the ratio of the p50s (target <= 1.5, p50 < 100 ms).

Products are written straight into the database (the scan is measured by bench_index.py).
Usage: bench/archive/run query [--products 100000] [--large (1,000,000)] [--queries 50]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench" / "sessions"))

import httpx  # noqa: E402

from bench_sessions import Server  # noqa: E402 - the same `datalabs serve` helper
from datalabs.archive import attribute_catalogue  # noqa: E402
from datalabs.archive.service import ArchiveService  # noqa: E402
from datalabs.archive.tap_tables import build_catalogue  # noqa: E402
from datalabs.db import migrate  # noqa: E402
from datalabs.db.engine import make_engine, make_session_factory  # noqa: E402
from datalabs.settings import Settings  # noqa: E402
from datalabs.storage.datasets import DatasetService  # noqa: E402
from datalabs.tap.adql import translate  # noqa: E402

RESULTS = REPO / "bench" / "results"


def log(message: str) -> None:
    print(f"\033[1m[bench/archive]\033[0m {message}", file=sys.stderr, flush=True)


def attributes_for(i: int, rng: random.Random) -> dict:
    """~200 attributes like an OSIRIS label's: numbers, strings, sequences, times."""
    attributes = {f"GROUP_{g}.ROSETTA:VALUE_{k}": rng.random() * 100 for g in range(8) for k in range(15)}
    attributes.update({f"TEXT_{k}": f"value {rng.randint(0, 50)}" for k in range(40)})
    attributes.update({f"SEQUENCE_{k}": [rng.random(), rng.random(), rng.random()] for k in range(20)})
    attributes.update({
        "PRODUCT_ID": f"P{i:08d}.FIT", "INSTRUMENT_ID": "OSINAC", "DATA_SET_ID": f"RO-C-OSINAC-3-BENCH-M{i % 30:02d}",
        "PHASE_ANGLE": rng.uniform(0, 180), "SPACECRAFT_ALTITUDE": rng.uniform(5, 400),
        "IMAGE_POI.ROSETTA:SURF_INT_CART_COORD": [rng.uniform(-2, 2) for _ in range(3)],
    })
    return attributes


def populate(settings: Settings, count: int) -> None:
    migrate.upgrade(settings)
    factory = make_session_factory(make_engine(settings))
    volume = settings.data_dir / "volume"
    volume.mkdir(exist_ok=True)
    with factory() as db:
        dataset = DatasetService(db).register("bench", volume)
        dataset_id = dataset.id
    connection = sqlite3.connect(settings.data_dir / "datalabs.sqlite3")
    rng = random.Random(5)
    start = datetime(2014, 8, 1)
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    batch = []
    for i in range(count):
        when = (start + timedelta(seconds=137 * i)).isoformat(timespec="milliseconds")
        batch.append((dataset_id, f"DATA/P{i:08d}.LBL", "PDS3", f"P{i:08d}.FIT", f"RO-C-OSINAC-3-BENCH-M{i % 30:02d}",
                      "ROSETTA", "OSINAC", "67P", when, when, "3", "IMAGE", "[]", 23040,
                      f"/media/data/bench/DATA/P{i:08d}.LBL", json.dumps(attributes_for(i, rng)),
                      '{"PHASE_ANGLE": "deg"}', 0, 23040, now))
        if len(batch) == 5000 or i == count - 1:
            connection.executemany(
                "INSERT INTO archive_products (dataset_id, label_path, label_format, identifier, data_set, mission, "
                "instrument, target, start_time, stop_time, processing_level, product_class, files, size, "
                "datalabs_path, attributes, units, label_mtime_ns, label_size, scanned_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
            connection.commit()
            batch = []
    connection.close()
    with factory() as db:
        attribute_catalogue.refresh(db, dataset_id, set())
        ArchiveService(db).create_index("PHASE_ANGLE", None)
        db.execute(__import__("sqlalchemy").text("ANALYZE"))
        db.commit()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(settings: Settings, server_url: str, attribute: str, low: float, high: float, queries: int,
            width: float) -> dict:
    rng = random.Random(9)
    factory = make_session_factory(make_engine(settings))
    with factory() as db:
        catalogue = build_catalogue(db, None)
    direct = sqlite3.connect(settings.data_dir / "datalabs.sqlite3")
    http = httpx.Client(base_url=server_url, timeout=600)
    tap_times, sql_times, rows_seen = [], [], []
    for _ in range(queries):
        value = rng.uniform(low, high - width)
        adql = (f'SELECT identifier, start_time, "{attribute}", datalabs_path FROM volume.bench '
                f'WHERE "{attribute}" BETWEEN {value:.4f} AND {value + width:.4f}')
        sql = translate(adql, catalogue, maxrec=100000).sql
        started = time.perf_counter()
        rows = direct.execute(sql).fetchall()
        sql_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        response = http.post("/tap/sync", data={"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": adql})
        tap_times.append(time.perf_counter() - started)
        response.raise_for_status()
        assert response.text.count("<TR>") == len(rows), "TAP and SQL disagree"
        rows_seen.append(len(rows))
    return {"attribute": attribute, "rows_median": statistics.median(rows_seen),
            "tap_p50_ms": round(percentile(tap_times, 0.5) * 1000, 2),
            "tap_p95_ms": round(percentile(tap_times, 0.95) * 1000, 2),
            "sql_p50_ms": round(percentile(sql_times, 0.5) * 1000, 2),
            "sql_p95_ms": round(percentile(sql_times, 0.95) * 1000, 2),
            "ratio_p50": round(percentile(tap_times, 0.5) / percentile(sql_times, 0.5), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--large", action="store_true", help="1,000,000 products")
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    count = 1_000_000 if args.large else args.products
    work = Path(tempfile.mkdtemp(prefix="bench-archive-query-"))
    server = None
    try:
        settings = Settings(data_dir=work / "data", secret_key="bench")
        settings.ensure_data_dir()
        log(f"writing {count} products with ~200 attributes each")
        started = time.perf_counter()
        populate(settings, count)
        log(f"written in {time.perf_counter() - started:.0f} s; starting datalabs serve")
        server = Server(work / "data", work / "server.log", per_user=1)
        width = 180 * 50 / count  # about 50 rows per query, whatever the size
        results = [measure(settings, server.url, "PHASE_ANGLE", 0, 180, args.queries, width),
                   measure(settings, server.url, "SPACECRAFT_ALTITUDE", 5, 400, max(5, args.queries // 5),
                           395 * 50 / count)]
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    lines = ["| products | WHERE on | rows | TAP p50 / p95 ms | SQL p50 / p95 ms | ratio p50 (target <= 1.5) |",
             "|---|---|---|---|---|---|"]
    for r, label in zip(results, ("PHASE_ANGLE (indexed on demand)", "SPACECRAFT_ALTITUDE (no index)"), strict=True):
        lines.append(f"| {count} | {label} | {r['rows_median']:.0f} | {r['tap_p50_ms']} / {r['tap_p95_ms']} | "
                     f"{r['sql_p50_ms']} / {r['sql_p95_ms']} | **{r['ratio_p50']}** |")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "archive_query.json").write_text(json.dumps({"when": datetime.now(UTC).isoformat(timespec="seconds"),
                                                            "products": count, "results": results}, indent=2) + "\n")
    (RESULTS / "archive_query.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
