"""Discovery benchmark: faceted search through ``GET /api/v1/discover`` of a live ``datalabs serve`` against a
``LIKE '%term%'`` scan of the same SQLite file, side by side in the same run, on N generated assets.

1. A fresh data folder migrated by the project's migrations; N assets (``--assets``, default 100,000) generated
   with a seeded RNG (missions, instruments, targets, domains, thematic areas, asset types skewed to data sets,
   text from a ~5,000-word vocabulary with Zipf frequencies, some assets embargoed or readable by their readers
   only). The first ``--via-indexer`` assets go through ``discovery.indexer.write`` (the real path, timed); the
   rest are written in bulk into the same tables with the same content (``indexer.text_fields``,
   ``AssetDocument.facet_values``), which is checked against the indexer-written rows.
2. ``datalabs serve`` on a loopback port; ``--queries`` queries (a mid-frequency term, or two, and THREE facet
   filters: asset_type, mission, target, taken from an existing asset so that most have results), anonymous.
3. Baseline, in-process (no HTTP, which favours it): the same filters as SQL on a ``sqlite3`` connection to the
   same file: ``LIKE '%term%'`` over title/abstract/description/keywords, the facet filters as
   ``discovery_facet_values`` subqueries, ``open_from <= today``; a page of 20 (by title), the total, and the
   facet counts by GROUP BY with the same multi-select rule as the portal.
4. p50/p95 of each side, ratio baseline p50 / API p50, target p50 < 30 ms; then the hard cases for facet
   counting: text only, facets only, the empty query (browse everything).
5. When the target is missed (or with ``--profile``): the statements ``DiscoverySearch.search`` issues, timed
   in-process per statement, with their EXPLAIN QUERY PLAN.

Usage: bench/discovery/run [--assets 100000] [--queries 200] [--hard 20] [--profile] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench" / "sessions"))

import httpx  # noqa: E402
import sqlalchemy  # noqa: E402
from sqlalchemy import event, select, text  # noqa: E402

from bench_sessions import BenchError, Server  # noqa: E402 - the same `datalabs serve` helper
from datalabs.db import migrate  # noqa: E402
from datalabs.db.engine import make_engine, make_session_factory  # noqa: E402
from datalabs.discovery import indexer  # noqa: E402
from datalabs.discovery.documents import FACETS, AssetDocument  # noqa: E402
from datalabs.discovery.models import ALWAYS, DiscoveryAsset, DiscoveryFacetValue, DiscoveryReader  # noqa: E402
from datalabs.discovery.search import DiscoverySearch, SearchRequest  # noqa: E402
from datalabs.settings import Settings  # noqa: E402

RESULTS = REPO / "bench" / "results"
TARGET_P50_MS = 30.0
PER_PAGE = 20
BATCH = 5000


def log(message: str) -> None:
    print(f"\033[1m[bench/discovery]\033[0m {message}", file=sys.stderr, flush=True)


# -- the generated catalogue ----------------------------------------------------------------------------

SCIENCE_WORDS = """
data observation image spectra surface mission instrument calibration camera orbit comet asteroid planet
moon crater atmosphere dust plasma magnetic field solar wind ion electron particle radiation infrared
ultraviolet visible spectrometer radar altimeter laser thermal temperature pressure density profile mapping
topography geology mineral ice water vapour cloud aerosol ozone emission absorption reflectance albedo
photometry polarimetry occultation flyby approach descent landing rover lander orbiter probe telescope
survey catalogue archive level raw calibrated derived reduced processed product volume dataset sequence
campaign phase extended nominal cruise commissioning pointing attitude ephemeris geometry footprint
resolution pixel frame filter band channel detector sensor noise dark flat bias correction stray light
coma nucleus tail jet outgassing sublimation regolith boulder cliff basin plain ridge fault volcano
lava impact ejecta layer deposit sediment channel valley dune polar cap aurora ionosphere magnetosphere
bow shock current sheet reconnection wave turbulence spectrum power density flux energy mass composition
isotope abundance ratio gas neutral sample analysis model simulation validation quality flag uncertainty
error timing clock housekeeping telemetry command engineering science payload subsystem antenna signal
doppler ranging gravity interior shape rotation libration tidal heating cryovolcanism plume geyser
""".split()

SYLLABLES = ("ka ri to ne sa lo mi tu ve ra po li de mo ta ni ko se la ru go fe bi na zo pe di mu ha "
             "ter lan mor sil ven cor dal tris pol gen mar vos lum quin thal bor ced fin rix zan").split()


def vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    """Science words first (the most frequent), then pronounceable made-up words of 5-11 letters."""
    words, seen = [], set()
    for word in SCIENCE_WORDS:
        if word not in seen:
            seen.add(word)
            words.append(word)
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if 5 <= len(word) <= 11 and word not in seen and not any(word in w or w in word for w in SCIENCE_WORDS):
            seen.add(word)
            words.append(word)
    tail = words[40:]
    rng.shuffle(tail)
    return words[:40] + tail  # a few science words stay at the top, the others spread over the ranks


MISSION_NAMES = ("Rosetta", "Mars Express", "Venus Express", "BepiColombo", "JUICE", "ExoMars TGO", "Gaia",
                 "Herschel", "Planck", "XMM-Newton", "INTEGRAL", "Cluster", "SOHO", "Solar Orbiter", "Ulysses",
                 "Giotto", "Huygens", "Cassini", "SMART-1", "Hubble", "JWST", "Euclid", "CHEOPS", "Hera",
                 "Sentinel-1", "Sentinel-2", "Sentinel-3", "Swarm", "CryoSat-2", "SMOS")
TARGET_NAMES = ("67P/Churyumov-Gerasimenko", "Mars", "Phobos", "Deimos", "Venus", "Mercury", "Jupiter", "Ganymede",
                "Europa", "Callisto", "Io", "Saturn", "Titan", "Enceladus", "Moon", "Sun", "Earth", "Didymos",
                "Dimorphos", "Lutetia", "Steins", "1P/Halley", "26P/Grigg-Skjellerup", "Interplanetary medium",
                "Solar wind", "Magnetosphere", "Milky Way", "Andromeda", "LMC", "SMC", "Orion Nebula", "Crab Nebula",
                "Cygnus X-1", "Sgr A*", "M87", "Virgo cluster", "Coma cluster", "Pleiades", "Hyades", "Vega",
                "Betelgeuse", "Sirius", "Proxima Centauri", "TRAPPIST-1", "HD 209458", "WASP-12", "Kepler field",
                "Deep field", "Cosmic microwave background", "Galactic plane", "Galactic centre", "Antarctica",
                "Greenland", "Arctic ocean", "Amazon", "Sahara", "Himalaya", "Atlantic ocean", "Pacific ocean",
                "Calibration target")
AREA_OF = {"Rosetta": "Planetary Science", "Mars Express": "Planetary Science", "Venus Express": "Planetary Science",
           "BepiColombo": "Planetary Science", "JUICE": "Planetary Science", "ExoMars TGO": "Planetary Science",
           "Gaia": "Astronomy", "Herschel": "Astronomy", "Planck": "Astronomy", "XMM-Newton": "Astronomy",
           "INTEGRAL": "Astronomy", "Cluster": "Heliophysics", "SOHO": "Heliophysics",
           "Solar Orbiter": "Heliophysics", "Ulysses": "Heliophysics", "Giotto": "Solar System",
           "Huygens": "Planetary Science", "Cassini": "Planetary Science", "SMART-1": "Solar System",
           "Hubble": "Astronomy", "JWST": "Astronomy", "Euclid": "Fundamental Physics", "CHEOPS": "Astronomy",
           "Hera": "Solar System", "Sentinel-1": "Land", "Sentinel-2": "Land", "Sentinel-3": "Ocean",
           "Swarm": "Space Weather", "CryoSat-2": "Cryosphere", "SMOS": "Ocean"}
EXTRA_DOMAIN = {"Ulysses": "Space Operations", "SMART-1": "Human and Robotic Exploration", "Swarm": "Navigation",
                "ExoMars TGO": "Human and Robotic Exploration", "Hera": "Space Operations"}
INSTRUMENT_STEMS = ("CAM", "SPEC", "MAG", "RAD", "IR", "UV", "PLS", "ALT", "LID", "PHOT", "POL", "NAC", "WAC",
                    "DUST", "ION", "GRS")
LICENSES = ("CC-BY-4.0", "ESA-PSA", "CC0-1.0", "ESA-CL-Permissive")


class Catalogue:
    """The facet vocabulary: missions (Zipf-weighted), their instruments (~80), their targets (~60)."""

    def __init__(self, rng: random.Random) -> None:
        self.missions = list(MISSION_NAMES)
        self.mission_weights = [1 / (r + 1) ** 0.8 for r in range(len(self.missions))]
        self.instruments: dict[str, list[str]] = {}
        used = set()
        for i, mission in enumerate(self.missions):  # 80 instruments over 30 missions: 2-4 each
            count = 2 + (i % 3 == 0) + (i % 2 == 0)
            names = []
            while len(names) < count:
                name = f"{mission.split()[0].split('-')[0][:4].upper()}-{rng.choice(INSTRUMENT_STEMS)}"
                if name not in used:
                    used.add(name)
                    names.append(name)
            self.instruments[mission] = names
        self.targets: dict[str, list[str]] = {}
        for i, mission in enumerate(self.missions):  # 2-5 targets per mission, the first one most often
            pool = list(TARGET_NAMES)
            rng.shuffle(pool)
            self.targets[mission] = [TARGET_NAMES[(2 * i) % len(TARGET_NAMES)]] + pool[: rng.randint(1, 4)]


class TextMaker:
    """Words drawn with Zipf frequencies (s = 1) from the vocabulary."""

    def __init__(self, words: list[str], rng: random.Random) -> None:
        self.words = words
        weights = [1 / (r + 1) for r in range(len(words))]
        total = sum(weights)
        self.cumulative = []
        running = 0.0
        for w in weights:
            running += w / total
            self.cumulative.append(running)
        self.rng = rng

    def draw(self, n: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cumulative, k=n)

    def sentence_text(self, n: int) -> str:
        words = self.draw(n)
        out, i = [], 0
        while i < len(words):
            length = self.rng.randint(8, 18)
            chunk = words[i:i + length]
            out.append(chunk[0].capitalize() + " " + " ".join(chunk[1:]) + ".")
            i += length
        return " ".join(out)


def generate(count: int, seed: int) -> tuple[list[AssetDocument], Catalogue, list[str]]:
    rng = random.Random(seed)
    words = vocabulary(rng)
    catalogue = Catalogue(rng)
    maker = TextMaker(words, rng)
    start = datetime(2004, 3, 2, tzinfo=UTC)
    today = datetime.now(UTC).date()
    documents = []
    for i in range(count):
        asset_type = rng.choices(("dataset", "volume", "datalab", "pipeline"), weights=(85, 10, 3, 2))[0]
        mission = rng.choices(catalogue.missions, weights=catalogue.mission_weights)[0]
        missions = [mission] + ([rng.choice(catalogue.missions)] if rng.random() < 0.05 else [])
        instruments = rng.sample(catalogue.instruments[mission], k=1 if rng.random() < 0.85 else 2)
        targets_pool = catalogue.targets[mission]
        target = targets_pool[0] if rng.random() < 0.5 else rng.choice(targets_pool)
        targets = [target] + ([rng.choice(targets_pool)] if rng.random() < 0.1 else [])
        area = AREA_OF[mission]
        domains = ["Earth Observation" if area in ("Land", "Ocean", "Cryosphere") else "Space Science"]
        if mission in EXTRA_DOMAIN and rng.random() < 0.3:
            domains.append(EXTRA_DOMAIN[mission])
        title_words = maker.draw(rng.randint(4, 9))
        title = f"{mission} {instruments[0]} " + " ".join(title_words).capitalize() + f" {i:06d}"
        roll = rng.random()
        readers: frozenset[str] = frozenset()
        if roll < 0.03:  # private: its readers only
            open_from, readers = None, frozenset({f"user:{rng.randint(1, 50)}", f"team:{rng.randint(1, 10)}"})
        elif roll < 0.06:  # embargoed until a later date, readable by its team before
            open_from, readers = today + timedelta(days=rng.randint(1, 700)), frozenset({f"team:{rng.randint(1, 10)}"})
        elif roll < 0.5:
            open_from = ALWAYS
        else:
            open_from = today - timedelta(days=rng.randint(1, 6000))
        created = start + timedelta(minutes=rng.randint(0, 11_000_000))
        key = f"{asset_type}:bench:{i:06d}"
        documents.append(AssetDocument(
            key=key, asset_type=asset_type, name=f"BENCH-{mission.upper().replace(' ', '-')}-{i:06d}", title=title,
            url=f"/discover/{key}", alternate_name=" ".join(maker.draw(3)) if rng.random() < 0.3 else "",
            abstract=maker.sentence_text(rng.randint(20, 60)), description=maker.sentence_text(rng.randint(80, 200)),
            keywords=sorted(set(maker.draw(rng.randint(3, 8)))), creator=f"{mission} {rng.choice(('Team', 'Science Team', 'Consortium'))}",
            citation=f"{mission} team ({created.year}), {title}.", license=rng.choice(LICENSES),
            audience=["Researcher"] if rng.random() < 0.8 else ["Researcher", "Student"],
            domain=domains, mission=missions, instrument=instruments, target=targets, thematic_area=[area],
            details={"version": f"{rng.randint(1, 4)}.{rng.randint(0, 9)}", "products": rng.randint(1, 50000)},
            date_created=created, date_modified=created + timedelta(days=rng.randint(0, 900)),
            open_from=open_from, readers=readers))
    return documents, catalogue, words


# -- writing ------------------------------------------------------------------------------------------

def asset_row(asset_id: int, document: AssetDocument, source_key: str, now: datetime) -> dict:
    """What ``indexer._fill`` puts into the asset row, as a dict for Core inserts (same types, same JSON)."""
    return {"id": asset_id, "key": document.key, "source_key": source_key, "asset_type": document.asset_type,
            "name": document.name[:600], "title": document.title[:600], "sort_title": indexer.sort_title(document.title),
            "alternate_name": document.alternate_name[:600], "abstract": document.abstract,
            "description": document.description, "keywords": list(document.keywords),
            "creator": document.creator[:600], "citation": document.citation, "license": document.license[:300],
            "audience": list(document.audience), "facets": document.facet_values(), "details": document.details,
            "url": document.url, "date_created": document.date_created, "date_modified": document.date_modified,
            "open_from": document.open_from, "search_vector": None, "indexed_at": now}


FACET_COLUMNS = {c.name for c in DiscoveryFacetValue.__table__.c}


def facet_rows(asset_id: int, document: AssetDocument) -> list[dict]:
    """What ``indexer.write`` inserts into discovery_facet_values (``folded``: the value in lower case, where the
    model has that column); checked against the indexer's own rows by :func:`check_same_as_indexer`."""
    rows = [{"asset_id": asset_id, "facet": f, "value": v}
            for f, values in document.facet_values().items() for v in values]
    if "folded" in FACET_COLUMNS:
        for row in rows:
            row["folded"] = row["value"].lower()
    return rows


def source_key_of(i: int) -> str:
    return f"bench:{i}"


def populate(settings: Settings, documents: list[AssetDocument], via_indexer: int) -> dict:
    migrate.upgrade(settings)
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    timings = {}
    via_indexer = min(via_indexer, len(documents))
    started = time.perf_counter()
    with factory() as db:
        for i in range(via_indexer):
            indexer.write(db, source_key_of(i), [documents[i]])
        db.commit()
    timings["indexer_assets"] = via_indexer
    timings["indexer_s"] = time.perf_counter() - started
    started = time.perf_counter()
    fts_sql = (f"INSERT INTO discovery_fts (rowid, {', '.join(indexer.FTS_COLUMNS)}) "
               f"VALUES ({', '.join('?' * (len(indexer.FTS_COLUMNS) + 1))})")
    with engine.begin() as connection:
        for first in range(via_indexer, len(documents), BATCH):
            chunk = range(first, min(first + BATCH, len(documents)))
            now = datetime.now(UTC)
            assets, facets, readers, fts = [], [], [], []
            for i in chunk:
                document, asset_id = documents[i], i + 1
                assets.append(asset_row(asset_id, document, source_key_of(i), now))
                facets += facet_rows(asset_id, document)
                readers += [{"asset_id": asset_id, "principal": p} for p in sorted(document.readers)]
                fields = indexer.text_fields(document)
                fts.append((asset_id, *(fields[c] for c in indexer.FTS_COLUMNS)))
            connection.execute(DiscoveryAsset.__table__.insert(), assets)
            connection.execute(DiscoveryFacetValue.__table__.insert(), facets)
            if readers:
                connection.execute(DiscoveryReader.__table__.insert(), readers)
            connection.exec_driver_sql(fts_sql, fts)
    timings["bulk_assets"] = len(documents) - via_indexer
    timings["bulk_s"] = time.perf_counter() - started
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    timings["analyze_s"] = time.perf_counter() - started
    check_same_as_indexer(engine, documents, via_indexer)
    engine.dispose()
    return timings


def check_same_as_indexer(engine, documents: list[AssetDocument], via_indexer: int) -> None:
    """The bulk rows of the indexer-written documents are what the indexer wrote (but ``indexed_at``)."""
    table = DiscoveryAsset.__table__
    columns = [c for c in table.c if c.name != "indexed_at"]
    with engine.connect() as connection:
        for i in range(min(via_indexer, 50)):
            document = documents[i]
            row = connection.execute(select(*columns).where(table.c.key == document.key)).one()._asdict()
            expected = asset_row(row["id"], document, source_key_of(i), datetime.now(UTC))
            expected.pop("indexed_at")
            if row != expected:
                differ = {k: (row[k], expected[k]) for k in row if row[k] != expected[k]}
                raise BenchError(f"bulk asset row differs from the indexer's for {document.key}: {differ}")
            facet_table = DiscoveryFacetValue.__table__
            stored = sorted(sorted(r._asdict().items()) for r in connection.execute(
                select(facet_table).where(facet_table.c.asset_id == row["id"])))
            if stored != sorted(sorted(r.items()) for r in facet_rows(row["id"], document)):
                raise BenchError(f"facet rows differ for {document.key}: {stored}")
            readers = {p for (p,) in connection.execute(text(
                "SELECT principal FROM discovery_readers WHERE asset_id = :id"), {"id": row["id"]})}
            if readers != set(document.readers):
                raise BenchError(f"readers differ for {document.key}")
            fts = connection.execute(text(f"SELECT {', '.join(indexer.FTS_COLUMNS)} FROM discovery_fts "
                                          "WHERE rowid = :id"), {"id": row["id"]}).one()
            fields = indexer.text_fields(document)
            if tuple(fts) != tuple(fields[c] for c in indexer.FTS_COLUMNS):
                raise BenchError(f"text row differs for {document.key}")
        # and the raw stored forms agree between an indexer-written row and a bulk one (JSON spacing, dates)
        raw = connection.exec_driver_sql(
            "SELECT typeof(open_from), length(open_from), substr(keywords, 1, 2), typeof(date_created), "
            "length(date_created) FROM discovery_assets WHERE id IN (1, ?) AND open_from IS NOT NULL",
            (len(documents),)).all()
        if len({tuple(r) for r in raw}) > 1:
            raise BenchError(f"stored forms differ between indexer and bulk rows: {raw}")


# -- the query set ------------------------------------------------------------------------------------

WORD = re.compile(r"[a-z]+")


def query_set(documents: list[AssetDocument], words: list[str], count: int, seed: int) -> list[dict]:
    """A term (or two) of mid frequency (vocabulary ranks 300-2000) from an open data set's text, and that
    data set's mission and target: most queries have results, but not all (stemming, two terms)."""
    rng = random.Random(seed)
    rank = {w: r for r, w in enumerate(words)}
    today = datetime.now(UTC).date()
    candidates = [d for d in documents if d.asset_type == "dataset" and d.open_from is not None
                  and d.open_from <= today]
    queries = []
    while len(queries) < count:
        document = rng.choice(candidates)
        mid = sorted({w for w in WORD.findall((document.title + " " + document.abstract + " "
                                               + document.description).lower()) if 300 <= rank.get(w, -1) < 2000})
        if not mid:
            continue
        terms = rng.sample(mid, 2) if len(mid) > 1 and rng.random() < 0.2 else [rng.choice(mid)]
        queries.append({"terms": terms, "filters": {"asset_type": ["dataset"], "mission": [document.mission[0]],
                                                    "target": [document.target[0]]}})
    return queries


def hard_sets(documents, words, count: int, seed: int) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    with_facets = query_set(documents, words, count, seed + 1)
    text_only = [{"terms": [rng.choice(words[300:2000])], "filters": {}} for _ in range(count)]
    facets_only = [{"terms": [], "filters": q["filters"]} for q in with_facets]
    empty = [{"terms": [], "filters": {}} for _ in range(count)]
    return {"text only (no facets)": text_only, "3 facets only (no text)": facets_only,
            "empty query (browse all)": empty}


def api_params(query: dict) -> list[tuple[str, str]]:
    params = [("q", " ".join(query["terms"])), ("per_page", str(PER_PAGE))]
    params += [("facet", f"{name}:{value}") for name, values in query["filters"].items() for value in values]
    return params


# -- the baseline -------------------------------------------------------------------------------------

class Baseline:
    """The same search as a plain SQL scan: LIKE '%term%' on a sqlite3 connection to the same file."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA busy_timeout=30000")

    def search(self, query: dict) -> dict:
        today = datetime.now(UTC).date().isoformat()
        base, params = ["a.open_from <= ?"], [today]
        for term in query["terms"]:
            base.append("(a.title LIKE ? OR a.abstract LIKE ? OR a.description LIKE ? OR a.keywords LIKE ?)")
            params += [f"%{term}%"] * 4
        filters = {}
        for name, values in query["filters"].items():
            filters[name] = (f"a.id IN (SELECT asset_id FROM discovery_facet_values WHERE facet = ? AND value IN "
                             f"({', '.join('?' * len(values))}))", [name, *values])

        def where(names):
            clauses, args = list(base), list(params)
            for name in names:
                clauses.append(filters[name][0])
                args += filters[name][1]
            return " AND ".join(clauses), args

        sql, args = where(filters)
        total = self.db.execute(f"SELECT count(*) FROM discovery_assets a WHERE {sql}", args).fetchone()[0]
        page = self.db.execute(f"SELECT a.* FROM discovery_assets a WHERE {sql} ORDER BY lower(a.title), a.id "
                               f"LIMIT {PER_PAGE}", args).fetchall()
        counts = {}
        groups = [([f for f in FACETS if f not in filters], list(filters))]
        groups += [([name], [other for other in filters if other != name]) for name in filters]
        for names, conditions in groups:
            if not names:
                continue
            sql, args = where(conditions)
            for facet, value, n in self.db.execute(
                    f"SELECT facet, value, count(*) FROM discovery_facet_values WHERE facet IN "
                    f"({', '.join('?' * len(names))}) AND asset_id IN (SELECT a.id FROM discovery_assets a "
                    f"WHERE {sql}) GROUP BY facet, value", [*names, *args]):
                counts.setdefault(facet, {})[value] = n
        return {"total": total, "rows": len(page), "facets": counts}


# -- measuring ----------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(http: httpx.Client, baseline: Baseline, queries: list[dict], warmup: int) -> dict:
    for query in queries[:warmup]:  # untimed: the page cache, the server's first requests, prepared statements
        http.get("/api/v1/discover", params=api_params(query)).raise_for_status()
        baseline.search(query)
    api_times, sql_times, api_totals, sql_totals = [], [], [], []
    for n, query in enumerate(queries):
        order = ("api", "sql") if n % 2 == 0 else ("sql", "api")  # alternate who goes first
        for side in order:
            if side == "api":
                started = time.perf_counter()
                response = http.get("/api/v1/discover", params=api_params(query))
                api_times.append(time.perf_counter() - started)
                response.raise_for_status()
                api_totals.append(response.json()["total"])
            else:
                started = time.perf_counter()
                found = baseline.search(query)
                sql_times.append(time.perf_counter() - started)
                sql_totals.append(found["total"])
        if (n + 1) % 25 == 0 or n + 1 == len(queries):
            log(f"  {n + 1}/{len(queries)}: API p50 so far {statistics.median(api_times) * 1000:.1f} ms, "
                f"baseline {statistics.median(sql_times) * 1000:.1f} ms")
    return {"queries": len(queries),
            "api_p50_ms": round(percentile(api_times, 0.5) * 1000, 2),
            "api_p95_ms": round(percentile(api_times, 0.95) * 1000, 2),
            "sql_p50_ms": round(percentile(sql_times, 0.5) * 1000, 2),
            "sql_p95_ms": round(percentile(sql_times, 0.95) * 1000, 2),
            "ratio_p50": round(percentile(sql_times, 0.5) / percentile(api_times, 0.5), 2),
            "api_total_median": statistics.median(api_totals), "sql_total_median": statistics.median(sql_totals),
            "api_empty_results": sum(1 for t in api_totals if t == 0),
            "api_ms": [round(t * 1000, 3) for t in api_times], "sql_ms": [round(t * 1000, 3) for t in sql_times],
            "api_totals": api_totals, "sql_totals": sql_totals}


# -- profiling ----------------------------------------------------------------------------------------

def statement_kind(statement: str) -> str:
    s = " ".join(statement.split())
    if s.startswith("SELECT count(*)"):
        return "total: SELECT count(*) FROM discovery_assets WHERE ..."
    if "snippet(discovery_fts" in s:
        return "snippets: SELECT snippet(discovery_fts ...)"
    if s.startswith("SELECT discovery_facet_values.facet"):
        facet_in = re.search(r"facet IN \(([^)]*)\)", s)
        n = len(facet_in.group(1).split(",")) if facet_in else 0
        return f"facet counts: GROUP BY facet, value ({n} facet{'s' if n != 1 else ''})"
    if s.startswith("SELECT discovery_assets.id, discovery_assets."):
        return "page: SELECT discovery_assets.* ... ORDER BY ... LIMIT"
    return s[:80]


def profile(settings: Settings, cases: dict[str, list[dict]], runs: int) -> dict:
    """Each statement DiscoverySearch.search issues, timed at the cursor, per case; EXPLAIN QUERY PLAN of each."""
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    timings: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    samples: dict[tuple[str, str], tuple[str, object]] = {}
    state = {"case": None}

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("started", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany):
        elapsed = time.perf_counter() - conn.info["started"].pop()
        if state["case"] is None:
            return
        kind = statement_kind(statement)
        timings[state["case"]][kind].append(elapsed)
        samples.setdefault((state["case"], kind), (statement, parameters))

    # fetching is timed too: the cursor's rows are fetched after after_cursor_execute, so time whole calls
    totals: dict[str, list[float]] = defaultdict(list)
    for case, queries in cases.items():
        with factory() as db:
            search = DiscoverySearch(db)
            for query in queries[:3]:  # warm
                search.search(None, SearchRequest(q=" ".join(query["terms"]), filters=query["filters"],
                                                  per_page=PER_PAGE))
            state["case"] = case
            for query in queries[:runs]:
                started = time.perf_counter()
                search.search(None, SearchRequest(q=" ".join(query["terms"]), filters=query["filters"],
                                                  per_page=PER_PAGE))
                totals[case].append(time.perf_counter() - started)
            state["case"] = None
    report = {}
    raw = engine.raw_connection()
    try:
        for case, kinds in timings.items():
            entries = []
            for kind, values in sorted(kinds.items(), key=lambda item: -statistics.median(item[1])):
                statement, parameters = samples[(case, kind)]
                plan = [row[3] for row in raw.cursor().execute("EXPLAIN QUERY PLAN " + statement, parameters)]
                started = time.perf_counter()
                cursor = raw.cursor()
                cursor.execute(statement, parameters)
                cursor.fetchall()
                fetched = time.perf_counter() - started
                entries.append({"statement": kind, "calls_per_search": round(len(values) / len(totals[case]), 2),
                                "p50_ms": round(statistics.median(values) * 1000, 2),
                                "execute_and_fetch_once_ms": round(fetched * 1000, 2),
                                "sql": " ".join(statement.split()), "parameters": [str(p) for p in parameters],
                                "plan": plan})
            report[case] = {"search_p50_ms": round(statistics.median(totals[case]) * 1000, 2), "statements": entries}
    finally:
        raw.close()
        engine.dispose()
    return report


# -- main ---------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--hard", type=int, default=20, help="queries per hard case (text only, facets only, empty)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--via-indexer", type=int, default=500, help="assets written through indexer.write")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="profile the statements even when the target is met")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (database, server log)")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="bench-discovery-"))
    server = None
    try:
        settings = Settings(data_dir=work / "data", secret_key="bench")
        settings.ensure_data_dir()
        log(f"generating {args.assets} assets (seed {args.seed})")
        started = time.perf_counter()
        documents, _catalogue, words = generate(args.assets, args.seed)
        log(f"generated in {time.perf_counter() - started:.1f} s; writing them")
        started = time.perf_counter()
        timings = populate(settings, documents, args.via_indexer)
        populate_s = time.perf_counter() - started
        db_path = settings.data_dir / "datalabs.sqlite3"
        size_mb = db_path.stat().st_size / 1e6
        per_asset_ms = timings["indexer_s"] / max(1, timings["indexer_assets"]) * 1000
        log(f"populated in {populate_s:.1f} s: {timings['indexer_assets']} through indexer.write in "
            f"{timings['indexer_s']:.1f} s ({per_asset_ms:.1f} ms/asset, {per_asset_ms * args.assets / 1000:.0f} s "
            f"for all at that rate), {timings['bulk_assets']} in bulk in {timings['bulk_s']:.1f} s, ANALYZE "
            f"{timings['analyze_s']:.1f} s; database {size_mb:.0f} MB; bulk rows checked against the indexer's")
        queries = query_set(documents, words, args.queries, args.seed + 100)
        hard = hard_sets(documents, words, args.hard, args.seed + 200)
        del documents
        log("starting datalabs serve")
        server = Server(work / "data", work / "server.log", per_user=1)
        http = httpx.Client(base_url=server.url, timeout=600)
        baseline = Baseline(db_path)
        log(f"{len(queries)} queries with a term (or two) and 3 facets, API and baseline alternating")
        main_result = measure(http, baseline, queries, args.warmup)
        log(f"API p50 {main_result['api_p50_ms']} ms, baseline p50 {main_result['sql_p50_ms']} ms")
        hard_results = {}
        for name, cases in hard.items():
            hard_results[name] = measure(http, baseline, cases, 3)
            log(f"{name}: API p50 {hard_results[name]['api_p50_ms']} ms, "
                f"baseline p50 {hard_results[name]['sql_p50_ms']} ms")
        server.stop()
        server = None
        profiled = None
        missed = main_result["api_p50_ms"] >= TARGET_P50_MS
        if missed or args.profile:
            log("profiling the statements of DiscoverySearch.search in-process")
            profiled = profile(settings, {"term + 3 facets": queries, **hard}, runs=min(20, args.hard))
    except BenchError as exc:
        log(f"could not run: {exc}")
        return 1
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    load_end = os.getloadavg()[0]
    r = main_result
    met = "target met" if r["api_p50_ms"] < TARGET_P50_MS else "target missed"
    lines = [
        f"discovery: GET /api/v1/discover (datalabs serve, httpx, anonymous) vs LIKE '%term%' scan (sqlite3 "
        f"in-process, no HTTP: favours the baseline), same SQLite file; page of {PER_PAGE}, total and facet counts",
        f"  assets {args.assets}, database {size_mb:.0f} MB, populated in {populate_s:.1f} s "
        f"({timings['indexer_assets']} via indexer.write at {per_asset_ms:.1f} ms/asset, the rest in bulk)",
        "",
        "| case | queries | API p50 / p95 ms | baseline p50 / p95 ms | ratio baseline/API p50 | median total API / baseline | target |",
        "|---|---|---|---|---|---|---|",
        f"| term + 3 facets | {r['queries']} | {r['api_p50_ms']} / {r['api_p95_ms']} | {r['sql_p50_ms']} / "
        f"{r['sql_p95_ms']} | **{r['ratio_p50']}** | {r['api_total_median']:g} / {r['sql_total_median']:g} | "
        f"p50 < {TARGET_P50_MS:g} ms: **{met}** |",
    ]
    for name, h in hard_results.items():
        lines.append(f"| {name} | {h['queries']} | {h['api_p50_ms']} / {h['api_p95_ms']} | {h['sql_p50_ms']} / "
                     f"{h['sql_p95_ms']} | {h['ratio_p50']} | {h['api_total_median']:g} / {h['sql_total_median']:g}"
                     f" | (information) |")
    lines += ["",
              f"  term + 3 facets: {r['api_empty_results']} of {r['queries']} queries found nothing (API); totals "
              "differ by design (FTS5 words with porter stemming vs substrings)",
              f"  {os.cpu_count()} CPUs; Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
              f"SQLAlchemy {sqlalchemy.__version__}; load average {load_start:.2f} at start, {load_end:.2f} at end",
              "  written to bench/results/discovery.json and discovery.md"]
    if profiled:
        lines += ["", "Statements of DiscoverySearch.search, in-process (p50 per statement, slowest first):"]
        for case, p in profiled.items():
            lines.append(f"  {case}: whole search p50 {p['search_p50_ms']} ms")
            for s in p["statements"]:
                lines.append(f"    {s['p50_ms']:9.2f} ms  x{s['calls_per_search']:<4g} {s['statement']}")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "discovery.json").write_text(json.dumps({
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "assets": args.assets, "seed": args.seed,
        "population": {**timings, "total_s": populate_s, "database_mb": size_mb},
        "target_p50_ms": TARGET_P50_MS, "target_met": r["api_p50_ms"] < TARGET_P50_MS,
        "term_and_3_facets": r, "hard_cases": hard_results, "profile": profiled,
        "versions": {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
                     "sqlalchemy": sqlalchemy.__version__}, "cpus": os.cpu_count(),
        "load_average": [load_start, load_end]}, indent=2, default=str) + "\n")
    md = table
    if profiled:
        md += "\n\n## EXPLAIN QUERY PLAN\n"
        for case, p in profiled.items():
            for s in p["statements"]:
                md += f"\n### {case}: {s['statement']} ({s['p50_ms']} ms)\n\n```sql\n{s['sql']}\n```\n\n" + \
                      "\n".join(f"    {line}" for line in s["plan"]) + "\n"
    (RESULTS / "discovery.md").write_text(md + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
