"""Run a translated ADQL query: read-only, under a time limit, at most MAXREC rows (+1 to know of overflow).

Queries run on their own connection from the engine (never the request's session), through the DBAPI
cursor: the SQL is the translator's, with no bind parameters, so neither SQLAlchemy's ``:name`` nor
psycopg's ``%s`` placeholders may be read into it. SQLite: ``PRAGMA query_only`` plus a progress handler
that interrupts the statement at its deadline (or when the job is aborted). PostgreSQL: a READ ONLY
transaction with a local ``statement_timeout``, rows read through a server-side cursor (an asynchronous job
writes a large result to its file without holding it in memory), a cancel request when a job is aborted.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine, event

from datalabs.errors import DatalabsError

_FLAG = "datalabs_tap_functions"
CHUNK_ROWS = 1000


class QueryError(DatalabsError):
    code = "query_failed"


@dataclass
class QueryResult:
    columns: Sequence  # adql.ResultColumn
    rows: Iterable[tuple]  # a list from run(), an iterator from stream()
    overflow: bool  # more rows than MAXREC (known once ``rows`` has been read to its end)
    seconds: float = 0.0


@dataclass
class Cancel:
    """Set to stop a running query (a UWS job aborted): SQLite's progress handler checks it; on PostgreSQL it
    sends the server a cancel request for the running statement."""

    event: threading.Event = field(default_factory=threading.Event)
    _hooks: list = field(default_factory=list)

    def __call__(self) -> None:
        self.event.set()
        for hook in list(self._hooks):
            try:
                hook()
            except Exception:  # noqa: BLE001 - the statement may have ended meanwhile
                pass

    def attach(self, hook) -> None:
        self._hooks.append(hook)
        if self.requested:
            hook()

    def detach(self, hook) -> None:
        if hook in self._hooks:
            self._hooks.remove(hook)

    @property
    def requested(self) -> bool:
        return self.event.is_set()


def _register(dbapi_connection, record_info: dict) -> None:
    from datalabs.tap import adql  # the translator's SQL functions (geometry, ...)

    adql.register_sqlite_functions(dbapi_connection)
    record_info[_FLAG] = True


def install_sqlite_functions(engine: Engine) -> None:
    """Give every new SQLite connection of ``engine`` the functions the ADQL translator uses (once)."""
    if engine.dialect.name != "sqlite" or getattr(engine, "_datalabs_tap_hook", False):
        return

    def on_connect(dbapi_connection, record) -> None:
        _register(dbapi_connection, record.info)

    event.listen(engine, "connect", on_connect)
    engine._datalabs_tap_hook = True  # type: ignore[attr-defined]


def run(engine: Engine, translation, *, maxrec: int | None, timeout_seconds: float,
        cancel: Cancel | None = None) -> QueryResult:
    """Execute ``translation`` (adql.Translation) and read its rows into memory (see ``stream``)."""
    with stream(engine, translation, maxrec=maxrec, timeout_seconds=timeout_seconds, cancel=cancel) as result:
        result.rows = list(result.rows)
    return result


@contextmanager
def stream(engine: Engine, translation, *, maxrec: int | None, timeout_seconds: float,
           cancel: Cancel | None = None) -> Iterator[QueryResult]:
    """Execute ``translation``; ``rows`` of the result yielded is an iterator read from the database in chunks
    (a PostgreSQL server-side cursor), at most ``maxrec`` of them, and ``overflow`` is true once it is found
    that there were more. QueryError for a refused, aborted or timed-out query, at execution or while reading.
    """
    started = time.monotonic()
    deadline = started + timeout_seconds if timeout_seconds > 0 else None
    guard_class = _SqliteGuard if engine.dialect.name == "sqlite" else _PostgresGuard
    with engine.connect() as connection:
        fairy = connection.connection
        if engine.dialect.name == "sqlite" and not fairy.info.get(_FLAG):  # pooled before the hook was installed
            _register(fairy.dbapi_connection, fairy.info)
        guard = guard_class(fairy.dbapi_connection, deadline, timeout_seconds, cancel or Cancel())
        try:
            with guard.errors():
                cursor = guard.open(translation.sql)
            result = QueryResult(translation.columns, [], False)
            result.rows = _rows(cursor, guard, maxrec, result)
            yield result
            result.seconds = time.monotonic() - started
        finally:
            guard.close()
            if engine.dialect.name != "sqlite":
                connection.rollback()


def _rows(cursor, guard, maxrec: int | None, result: QueryResult) -> Iterator[tuple]:
    count = 0
    while True:
        with guard.errors():
            guard.check_deadline()
            chunk = cursor.fetchmany(CHUNK_ROWS)
        for row in chunk:
            if maxrec is not None and count >= maxrec:
                result.overflow = True
                return
            count += 1
            yield tuple(row)
        if len(chunk) < CHUNK_ROWS:
            return


class _Guard:
    """What keeps one query read-only and within its time, and turns the driver's errors into QueryError."""

    def __init__(self, raw, deadline: float | None, timeout_seconds: float, cancel: Cancel) -> None:
        self.raw, self.deadline, self.timeout_seconds, self.cancel = raw, deadline, timeout_seconds, cancel
        self.timed_out = False
        self.cursor = None

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
            raise self.stopped()
        if self.cancel.requested:
            raise self.stopped()

    def stopped(self) -> QueryError:
        if self.timed_out or not self.cancel.requested:
            return QueryError(f"the query ran longer than its time limit of {self.timeout_seconds:g} s")
        return QueryError("the query was aborted")

    @staticmethod
    def refused(error: Exception) -> QueryError:
        text = str(error).strip()
        message = text.splitlines()[0] if text else type(error).__name__
        return QueryError(f"the database refused the query: {message}")


class _SqliteGuard(_Guard):
    def open(self, sql: str):
        self.raw.set_progress_handler(self._progress, 2000)
        self.cursor = self.raw.cursor()
        self.cursor.execute("PRAGMA query_only = 1")
        self.cursor.execute(sql)
        return self.cursor

    def _progress(self) -> int:
        if self.cancel.requested:
            return 1
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
            return 1
        return 0

    @contextmanager
    def errors(self) -> Iterator[None]:
        import sqlite3

        try:
            yield
        except sqlite3.OperationalError as error:
            if "interrupted" in str(error):
                raise self.stopped() from None
            raise self.refused(error) from None
        except sqlite3.Error as error:
            raise self.refused(error) from None

    def close(self) -> None:
        if self.cursor is not None:
            self.cursor.close()
        self.raw.set_progress_handler(None, 0)
        reset = self.raw.cursor()
        reset.execute("PRAGMA query_only = 0")
        reset.close()


class _PostgresGuard(_Guard):
    def open(self, sql: str):
        with self.raw.cursor() as setup:
            setup.execute("SET TRANSACTION READ ONLY")
            if self.timeout_seconds > 0:  # per statement: the FETCHes that follow are checked against the deadline
                setup.execute(f"SET LOCAL statement_timeout = {int(self.timeout_seconds * 1000)}")
        self.interrupt = getattr(self.raw, "cancel_safe", self.raw.cancel)
        self.cancel.attach(self.interrupt)
        self.cursor = self.raw.cursor(name="datalabs_tap_" + secrets.token_hex(4))
        self.cursor.execute(sql)
        return self.cursor

    @contextmanager
    def errors(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.errors.QueryCanceled:
            if not self.cancel.requested:
                self.timed_out = True
            raise self.stopped() from None
        except psycopg.Error as error:
            raise self.refused(error) from None

    def close(self) -> None:
        if getattr(self, "interrupt", None) is not None:
            self.cancel.detach(self.interrupt)
        if self.cursor is not None:
            try:
                self.cursor.close()
            except Exception:  # noqa: BLE001 - the transaction is rolled back next anyway
                pass
