"""UWS 1.1 asynchronous TAP jobs: the job service (create, read, change, delete, with owner checks), the
runner (a small thread pool that executes jobs, re-queues what a previous server left, deletes expired
jobs) and the UWS XML documents.

Jobs are rows (``tap_jobs``); a result is a file ``<data_dir>/tap/jobs/<id>/result.<ext>``. Phases:
PENDING -> QUEUED -> EXECUTING -> COMPLETED | ERROR | ABORTED (ABORT from any of the first three; a
destroyed job is deleted, so ARCHIVED never occurs). Jobs QUEUED or EXECUTING when the server stopped are
queued again at start-up and run from the beginning (a query has no side effects).

Who sees a job: a logged-in caller's jobs are theirs alone (anyone else gets 404, never a hint that the
job exists); an anonymous job has no owner, is listed to nobody and is reached by its id alone (an
unguessable 96-bit random id). Parameters are checked when the job runs: a bad query ends the job in
ERROR with the message in its error summary.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from datalabs.accounts.actor import Actor
from datalabs.accounts.models import User
from datalabs.db.base import utcnow
from datalabs.errors import Conflict, DatalabsError, InvalidInput, NotFound
from datalabs.settings import Settings
from datalabs.tap import query as tap_query
from datalabs.tap import votable
from datalabs.tap.models import TapJob

log = logging.getLogger(__name__)

PENDING, QUEUED, EXECUTING = "PENDING", "QUEUED", "EXECUTING"
COMPLETED, ERROR, ABORTED = "COMPLETED", "ERROR", "ABORTED"
PHASES = (PENDING, QUEUED, EXECUTING, COMPLETED, ERROR, ABORTED, "UNKNOWN", "HELD", "SUSPENDED", "ARCHIVED")
ACTIVE = (PENDING, QUEUED, EXECUTING)
UWS_NS = "http://www.ivoa.net/xml/UWS/v1.0"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
LANGS = ("ADQL", "ADQL-2.0", "ADQL-2.1")

CatalogueBuilder = Callable[[Session, Actor | None], object]  # -> TapCatalogue (with TAP_SCHEMA)


# -- the parameters of a query (sync and async alike) ----------------------------------------

@dataclass(frozen=True)
class QueryRequest:
    query: str
    fmt: votable.OutputFormat
    maxrec: int


def normalise(params: Iterable[tuple[str, str]]) -> dict[str, str]:
    """TAP parameter names are case-insensitive: upper-cased; the first value of a repeated name wins."""
    result: dict[str, str] = {}
    for name, value in params:
        result.setdefault(name.upper(), value)
    return result


def query_request(params: dict[str, str], settings: Settings) -> QueryRequest:
    """The checked query parameters (names upper-cased), or InvalidInput naming the parameter."""
    request = params.get("REQUEST")
    if request is not None and request.strip().lower() != "doquery":
        raise InvalidInput(f"unsupported REQUEST {request!r}: only doQuery is supported", field="REQUEST")
    if params.get("UPLOAD"):
        raise InvalidInput("UPLOAD is not supported", field="UPLOAD")
    lang = params.get("LANG", "ADQL").strip()
    if lang.upper() not in LANGS:
        raise InvalidInput(f"unsupported LANG {lang!r}: use ADQL (ADQL-2.0 or ADQL-2.1)", field="LANG")
    query = params.get("QUERY", "")
    if not query.strip():
        raise InvalidInput("the QUERY parameter is missing", field="QUERY")
    fmt = votable.output_format(params.get("RESPONSEFORMAT") or params.get("FORMAT"))
    return QueryRequest(query, fmt, maxrec_of(params.get("MAXREC"), settings))


def maxrec_of(value: str | None, settings: Settings) -> int:
    if value is None or not value.strip():
        return min(settings.tap_default_maxrec, settings.tap_max_maxrec)
    try:
        maxrec = int(value.strip())
    except ValueError:
        raise InvalidInput(f"MAXREC must be a whole number, not {value!r}", field="MAXREC") from None
    if maxrec < 0:
        raise InvalidInput("MAXREC must not be negative", field="MAXREC")
    return min(maxrec, settings.tap_max_maxrec)


def execute(engine: Engine, catalogue, request: QueryRequest, *, timeout_seconds: float,
            cancel: tap_query.Cancel | None = None) -> tap_query.QueryResult:
    """Translate and run one query (AdqlError and QueryError pass through)."""
    from datalabs.tap import adql

    translation = adql.translate(request.query, catalogue, maxrec=request.maxrec)
    return tap_query.run(engine, translation, maxrec=request.maxrec, timeout_seconds=timeout_seconds,
                         cancel=cancel)


def failure_message(error: Exception) -> str:
    from datalabs.tap import adql

    if isinstance(error, adql.AdqlError):
        return votable.adql_error_message(error)
    if isinstance(error, DatalabsError):
        return error.message
    return str(error)


def actor_for(db: Session, user_id: int | None) -> Actor | None:
    user = db.get(User, user_id) if user_id is not None else None
    return Actor.of(user) if user is not None else None


# -- the job service ------------------------------------------------------------------------

def result_dir(settings: Settings, job_id: str) -> Path:
    return settings.data_dir / "tap" / "jobs" / job_id


def result_path(settings: Settings, job: TapJob) -> Path:
    return result_dir(settings, job.id) / f"result.{votable.output_format(job.result_format).extension}"


def parse_time(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{field} must be an ISO 8601 time, not {value!r}", field=field) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class JobService:
    """What a caller may do with jobs. Raises NotFound for jobs that are not the caller's."""

    def __init__(self, db: Session, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def create(self, actor: Actor | None, params: dict[str, str]) -> TapJob:
        job = TapJob(id=secrets.token_hex(12), owner_id=actor.user_id if actor else None, phase=PENDING,
                     execution_duration=self.settings.tap_execution_duration_seconds,
                     destruction=utcnow() + timedelta(days=self.settings.tap_job_lifetime_days))
        self._apply(job, params)
        self.db.add(job)
        self.db.commit()
        return job

    def get(self, job_id: str, actor: Actor | None) -> TapJob:
        job = self.db.get(TapJob, job_id)
        if job is None or (job.owner_id is not None and (actor is None or actor.user_id != job.owner_id)):
            raise NotFound(f"no job {job_id!r}")
        return job

    def list(self, actor: Actor | None, *, phases: list[str] = (), after: str | None = None,
             last: str | None = None) -> list[TapJob]:
        if actor is None:
            return []
        statement = select(TapJob).where(TapJob.owner_id == actor.user_id)
        wanted = [phase.upper() for phase in phases]
        for phase in wanted:
            if phase not in PHASES:
                raise InvalidInput(f"unknown PHASE {phase!r}", field="PHASE")
        if wanted:
            statement = statement.where(TapJob.phase.in_(wanted))
        if after:
            statement = statement.where(TapJob.created_at > parse_time(after, "AFTER"))
        if last is not None:
            try:
                count = int(last)
            except ValueError:
                raise InvalidInput(f"LAST must be a whole number, not {last!r}", field="LAST") from None
            if count < 0:
                raise InvalidInput("LAST must not be negative", field="LAST")
            return list(self.db.scalars(statement.order_by(TapJob.created_at.desc()).limit(count)))
        return list(self.db.scalars(statement.order_by(TapJob.created_at)))

    def update(self, job: TapJob, params: dict[str, str]) -> TapJob:
        """New parameter values (UWS: POST to the job or its parameters), while the job is PENDING."""
        if job.phase != PENDING:
            raise Conflict(f"the job is {job.phase}; parameters can only change while it is PENDING")
        self._apply(job, params)
        self.db.commit()
        return job

    def _apply(self, job: TapJob, params: dict[str, str]) -> None:
        control = {"PHASE", "ACTION", "RUNID", "EXECUTIONDURATION", "DESTRUCTION"}
        if "RUNID" in params:
            job.run_id = params["RUNID"][:200]
        if "EXECUTIONDURATION" in params:
            self.set_execution_duration(job, params["EXECUTIONDURATION"], commit=False)
        if "DESTRUCTION" in params:
            self.set_destruction(job, params["DESTRUCTION"], commit=False)
        merged = dict(job.parameters or {})
        merged.update({name: value for name, value in params.items() if name not in control})
        job.parameters = merged
        job.query = merged.get("QUERY", "")

    def set_execution_duration(self, job: TapJob, value: str, *, commit: bool = True) -> TapJob:
        try:
            seconds = int(float(value))
        except (ValueError, OverflowError):
            raise InvalidInput(f"EXECUTIONDURATION must be a number of seconds, not {value!r}",
                               field="EXECUTIONDURATION") from None
        limit = self.settings.tap_max_execution_duration_seconds
        job.execution_duration = limit if seconds <= 0 else min(seconds, limit)  # 0 (unlimited) gets the limit
        if commit:
            self._commit_if_pending(job)
        return job

    def set_destruction(self, job: TapJob, value: str, *, commit: bool = True) -> TapJob:
        wanted = parse_time(value, "DESTRUCTION")
        latest = utcnow() + timedelta(days=self.settings.tap_job_lifetime_days)
        job.destruction = min(wanted, latest)
        if commit:
            self.db.commit()
        return job

    def _commit_if_pending(self, job: TapJob) -> None:
        if job.phase != PENDING:
            self.db.rollback()
            raise Conflict(f"the job is {job.phase}; its execution duration can only change while it is PENDING")
        self.db.commit()

    def run(self, job: TapJob) -> bool:
        """PHASE=RUN: a PENDING job becomes QUEUED (True); on any other phase RUN changes nothing (False)."""
        return self._move(job, (PENDING,), phase=QUEUED)  # UWS: RUN on a job past PENDING changes nothing

    def abort(self, job: TapJob) -> None:
        self._move(job, ACTIVE, phase=ABORTED, ended_at=utcnow())

    def _move(self, job: TapJob, sources: tuple[str, ...], **values) -> bool:
        """A phase change made only if the job is still in one of ``sources`` (the runner changes it too)."""
        moved = self.db.execute(update(TapJob).where(TapJob.id == job.id, TapJob.phase.in_(sources))
                                .values(**values)).rowcount
        self.db.commit()
        self.db.refresh(job)
        return bool(moved)

    def delete(self, job: TapJob) -> None:
        self.db.delete(job)
        self.db.commit()
        shutil.rmtree(result_dir(self.settings, job.id), ignore_errors=True)


class _Counted:
    """Rows passed through, counted."""

    def __init__(self, rows: Iterable) -> None:
        self.rows, self.count = rows, 0

    def __iter__(self):
        for row in self.rows:
            self.count += 1
            yield row


# -- the runner -----------------------------------------------------------------------------

class JobRunner:
    """Executes queued jobs in a thread pool; at start-up re-queues what a previous server left; every
    minute deletes jobs past their destruction time with their results."""

    SWEEP_SECONDS = 60.0

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session], engine: Engine,
                 catalogue_builder: CatalogueBuilder) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.engine = engine
        self.catalogue_builder = catalogue_builder
        self._pool: ThreadPoolExecutor | None = None
        self._cancels: dict[str, tap_query.Cancel] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    def start(self) -> None:
        if self._pool is not None:
            return
        self._stop.clear()
        self._pool = ThreadPoolExecutor(max(1, self.settings.tap_job_workers), thread_name_prefix="tap-job")
        with self.session_factory() as db:
            left = list(db.scalars(select(TapJob.id).where(TapJob.phase.in_((QUEUED, EXECUTING)))
                                   .order_by(TapJob.created_at)))
            if left:
                db.execute(update(TapJob).where(TapJob.id.in_(left)).values(phase=QUEUED, started_at=None))
                db.commit()
        for job_id in left:
            self.submit(job_id)
        self._sweeper = threading.Thread(target=self._sweep_loop, name="tap-sweeper", daemon=True)
        self._sweeper.start()

    def shutdown(self, wait: bool = False) -> None:
        self._stop.set()
        with self._lock:
            for cancel in self._cancels.values():
                cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None

    def submit(self, job_id: str) -> None:
        if self._pool is None:  # not started (e.g. an app used without its lifespan): start() will pick it up
            return
        try:
            self._pool.submit(self._execute, job_id)
        except RuntimeError:  # shutting down: the next server re-queues it
            pass

    def abort(self, job_id: str) -> None:
        with self._lock:
            cancel = self._cancels.get(job_id)
        if cancel is not None:
            cancel()

    def _execute(self, job_id: str) -> None:
        if self._stop.is_set():
            return
        cancel = tap_query.Cancel()
        with self._lock:
            self._cancels[job_id] = cancel
        try:
            self._run_job(job_id, cancel)
        except Exception:  # noqa: BLE001 - one job's bug must not end the worker
            log.exception("TAP job %s failed", job_id)
            self._finish(job_id, ERROR, error="internal error while running the query")
        finally:
            with self._lock:
                self._cancels.pop(job_id, None)

    def _run_job(self, job_id: str, cancel: tap_query.Cancel) -> None:
        with self.session_factory() as db:
            moved = db.execute(update(TapJob).where(TapJob.id == job_id, TapJob.phase == QUEUED)
                               .values(phase=EXECUTING, started_at=utcnow())).rowcount
            db.commit()
            if not moved:
                return
            job = db.get(TapJob, job_id)
            params, timeout = dict(job.parameters or {}), job.execution_duration
            try:
                request = query_request(params, self.settings)
                catalogue = self.catalogue_builder(db, actor_for(db, job.owner_id))
                db.rollback()  # end the read transaction before the (maybe long) query
            except Exception as error:  # noqa: BLE001 - reported in the job's error summary
                self._finish(job_id, ERROR, error=failure_message(error))
                return
        from datalabs.tap import adql

        folder = result_dir(self.settings, job_id)
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".result.{request.fmt.extension}.part"
        try:
            translation = adql.translate(request.query, catalogue, maxrec=request.maxrec)
            with tap_query.stream(self.engine, translation, maxrec=request.maxrec, timeout_seconds=timeout,
                                  cancel=cancel) as result, partial.open("wb") as handle:
                counted = _Counted(result.rows)
                for chunk in votable.iter_document(request.fmt, result.columns, counted,
                                                   overflow=lambda: result.overflow, query=request.query):
                    handle.write(chunk)
        except (adql.AdqlError, DatalabsError) as error:
            shutil.rmtree(folder, ignore_errors=True)
            if not self._stop.is_set():  # cut off by a shutdown: left EXECUTING, the next start runs it again
                self._finish(job_id, ERROR, error=failure_message(error))
            return
        partial.rename(folder / f"result.{request.fmt.extension}")
        if not self._finish(job_id, COMPLETED, rows=counted.count, overflow=result.overflow,
                            result_format=request.fmt.mime):
            shutil.rmtree(folder, ignore_errors=True)  # aborted or deleted meanwhile

    def _finish(self, job_id: str, phase: str, *, error: str = "", rows: int | None = None, overflow: bool = False,
                result_format: str = "") -> bool:
        with self.session_factory() as db:
            values = {"phase": phase, "ended_at": utcnow(), "error": error[:10000], "result_rows": rows,
                      "overflow": overflow}
            if result_format:
                values["result_format"] = result_format
            moved = db.execute(update(TapJob).where(TapJob.id == job_id, TapJob.phase == EXECUTING)
                               .values(**values)).rowcount
            db.commit()
            return bool(moved)

    def _sweep_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - try again at the next sweep
                log.exception("sweeping expired TAP jobs failed")
            self._stop.wait(self.SWEEP_SECONDS)

    def sweep(self, now: datetime | None = None) -> int:
        """Delete the jobs whose destruction time has passed, with their results."""
        with self.session_factory() as db:
            expired = list(db.scalars(select(TapJob).where(TapJob.destruction < (now or utcnow()))))
            for job in expired:
                self.abort(job.id)
                db.delete(job)
            db.commit()
        for job in expired:
            shutil.rmtree(result_dir(self.settings, job.id), ignore_errors=True)
        return len(expired)


# -- UWS 1.1 documents ------------------------------------------------------------------------

def iso_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # microseconds: AFTER= must be exact


def _element(name: str, value: str | None, *, nil: bool = True) -> str:
    if value is None:
        return f'  <uws:{name} xsi:nil="true"/>\n' if nil else ""
    return f"  <uws:{name}>{escape(value)}</uws:{name}>\n"


def _root_attrs() -> str:
    return f'xmlns:uws="{UWS_NS}" xmlns:xlink="{XLINK_NS}" xmlns:xsi="{XSI_NS}" version="1.1"'


def job_xml(job: TapJob, job_url: str, owner: str | None) -> str:
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<uws:job {_root_attrs()}>\n',
             _element("jobId", job.id),
             _element("runId", job.run_id or None, nil=False),
             _element("ownerId", owner),
             _element("phase", job.phase),
             _element("quote", None),
             _element("creationTime", iso_time(job.created_at), nil=False),
             _element("startTime", iso_time(job.started_at)),
             _element("endTime", iso_time(job.ended_at)),
             _element("executionDuration", str(job.execution_duration)),
             _element("destruction", iso_time(job.destruction)),
             parameters_xml(job), results_xml(job, job_url)]
    if job.phase == ERROR:
        parts.append('  <uws:errorSummary type="fatal" hasDetail="true">\n'
                     f"    <uws:message>{escape(job.error)}</uws:message>\n  </uws:errorSummary>\n")
    parts.append("</uws:job>\n")
    return "".join(parts)


def _namespaces() -> str:
    return f'xmlns:uws="{UWS_NS}" xmlns:xlink="{XLINK_NS}"'


def parameters_xml(job: TapJob, *, standalone: bool = False) -> str:
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<uws:parameters {_namespaces()}>\n' if standalone \
        else "  <uws:parameters>\n"
    items = "".join(f"    <uws:parameter id={quoteattr(name.lower())}>{escape(str(value))}</uws:parameter>\n"
                    for name, value in (job.parameters or {}).items())
    return head + items + "  </uws:parameters>\n"


def results_xml(job: TapJob, job_url: str, *, standalone: bool = False) -> str:
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<uws:results {_namespaces()}>\n' if standalone \
        else "  <uws:results>\n"
    item = ""
    if job.phase == COMPLETED:
        item = (f'    <uws:result id="result" xlink:type="simple" xlink:href={quoteattr(job_url + "/results/result")}'
                f" mime-type={quoteattr(job.result_format)}/>\n")
    return head + item + "  </uws:results>\n"


def jobs_xml(jobs: list[TapJob], base_url: str, owners: dict[int, str]) -> str:
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<uws:jobs {_root_attrs()}>\n']
    for job in jobs:
        parts.append(f'  <uws:jobref id={quoteattr(job.id)} xlink:type="simple" '
                     f'xlink:href={quoteattr(base_url + "/" + job.id)}>\n'
                     f"    <uws:phase>{job.phase}</uws:phase>\n")
        if job.run_id:
            parts.append(f"    <uws:runId>{escape(job.run_id)}</uws:runId>\n")
        owner = owners.get(job.owner_id) if job.owner_id is not None else None
        parts.append(f"    <uws:ownerId>{escape(owner)}</uws:ownerId>\n" if owner else
                     '    <uws:ownerId xsi:nil="true"/>\n')
        parts.append(f"    <uws:creationTime>{iso_time(job.created_at)}</uws:creationTime>\n  </uws:jobref>\n")
    parts.append("</uws:jobs>\n")
    return "".join(parts)
