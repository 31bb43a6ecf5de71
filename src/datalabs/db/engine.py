"""Engine and session factory. SQLite runs in WAL mode with foreign keys on; PostgreSQL gets a connection
pool sized by the ``database_pool_*`` settings, or no pool of its own behind PgBouncer (docs/postgresql.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from datalabs.settings import Settings


def make_engine(settings: Settings) -> Engine:
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        settings.ensure_data_dir()
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, **server_engine_options(settings))


def server_engine_options(settings: Settings) -> dict[str, Any]:
    """``create_engine`` keywords for a database server (PostgreSQL) from the settings.

    - Own pool (default): ``pool_size`` connections kept open, up to ``max_overflow`` more under load, a
      request waits ``pool_timeout`` seconds for one, and a connection older than ``pool_recycle`` seconds is
      replaced (before a firewall or PgBouncer's ``server_lifetime`` drops it); ``pool_pre_ping`` checks each
      one as it is taken out of the pool, so a restarted server costs no failed request.
    - ``database_pgbouncer``: PgBouncer pools (transaction mode), so SQLAlchemy keeps none (``NullPool``) and
      psycopg prepares no statement on the server (``prepare_threshold=None``): a prepared statement lives in
      one server connection, which the next transaction may not get.
    - ``database_statement_timeout``: the server cancels any statement running longer (startup option
      ``-c statement_timeout=...``, added to any ``options`` already in the URL).
    """
    connect_args: dict[str, Any] = {}
    if settings.database_statement_timeout:
        existing = make_url(settings.sqlalchemy_url).query.get("options") or ""
        if isinstance(existing, tuple):  # options given twice in the URL
            existing = " ".join(existing)
        timeout = f"-c statement_timeout={int(settings.database_statement_timeout * 1000)}"
        connect_args["options"] = f"{existing} {timeout}".strip()
    if settings.database_pgbouncer:
        connect_args["prepare_threshold"] = None
        return {"poolclass": NullPool, "connect_args": connect_args}
    return {
        "pool_pre_ping": True,
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_max_overflow,
        "pool_timeout": settings.database_pool_timeout,
        "pool_recycle": settings.database_pool_recycle,
        "connect_args": connect_args,
    }


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions of the application. Every one of them keeps the discovery index true: a change to a datalab,
    a pipeline or a volume re-describes that asset in the same transaction (``discovery.indexer.follow``)."""
    from datalabs.discovery.indexer import follow

    factory = sessionmaker(engine, expire_on_commit=False)
    follow(factory)
    return factory


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed at the end of the block, or rolled back on error."""
    with factory() as session, session.begin():
        yield session
