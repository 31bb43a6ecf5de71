"""``create_app(settings)``: the whole ASGI application. Nothing is created at import time."""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from datalabs import __version__
from datalabs.accounts.router import router as accounts_router
from datalabs.accounts.throttle import LoginThrottle
from datalabs.api.errors import install_error_handlers
from datalabs.archive.router import router as archive_router
from datalabs.archive.service import BackgroundScans, fail_interrupted_scans
from datalabs.api.health import router as health_router
from datalabs.catalogue.environments import EnvironmentBuilder
from datalabs.catalogue.router import router as catalogue_router
from datalabs.db import migrate
from datalabs.db.engine import make_engine, make_session_factory
from datalabs.discovery.indexer import index_if_empty
from datalabs.discovery.router import router as discovery_router
from datalabs.errors import DatalabsError
from datalabs.execution.registry import load_backend
from datalabs.pipelines.router import router as pipelines_router
from datalabs.pipelines.run_router import router as runs_router
from datalabs.pipelines.supervisor import PipelineSupervisor
from datalabs.pipelines.wes import router as wes_router
from datalabs.sessions.proxy import SESSION_PATHS, ProxyCache, SessionProxy
from datalabs.sessions.router import router as sessions_router
from datalabs.sessions.supervisor import SessionSupervisor
from datalabs.settings import Settings
from datalabs.storage.files import FileService
from datalabs.storage.router import router as storage_router
from datalabs.tap.router import setup_tap
from datalabs.web import pages
from datalabs.web.router import router as web_router

API_DESCRIPTION = """
The datalabs REST API. Authenticate with a personal API token (`Authorization: Bearer <token>`,
create one on the Account page or with `datalabs token create`) or, from the web UI, with the
login cookie plus the `X-CSRF-Token` header. Errors are JSON: `{"error": {"code", "message", "field"}}`.
"""


class DatalabsApp(FastAPI):
    """FastAPI, with session paths (``/datalabs/s_...``) sent to the proxy before anything else runs:
    a proxied request costs no middleware, routing or dependency resolution."""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "lifespan" and scope["path"].startswith(SESSION_PATHS):
            return await self.state.session_proxy(scope, receive, send)
        return await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, backend=None) -> FastAPI:
    """The application. ``backend`` overrides the ``backend`` setting with an instance (tests)."""
    settings = settings or Settings()
    engine = make_engine(settings)
    if not migrate.is_current(engine):
        raise DatalabsError(
            "the database is not at the current schema: run `datalabs db upgrade` first", code="schema_outdated"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        with app.state.session_factory() as db:
            FileService(db, settings).remove_stale_uploads()
            fail_interrupted_scans(db)  # a scan cut off by a stop says so; its finished files are kept
            index_if_empty(db)  # a database from before the discovery index (or restored without it)
        app.state.env_builder.recover()  # builds cut off by a crash are marked failed, never stuck
        if settings.build_environments:
            app.state.env_builder.start_pending()  # e.g. the shipped datalabs of `serve --demo`
        app.state.supervisor.start()  # adopts the sessions a previous server left running
        app.state.pipeline_supervisor.start()  # follows the runs whose drivers kept going
        app.state.tap_runner.start()  # TAP jobs left queued or executing run again
        yield
        app.state.pipeline_supervisor.shutdown()  # runs go on; the next server follows them again
        app.state.tap_runner.shutdown()
        app.state.supervisor.shutdown(stop_sessions=settings.stop_sessions_on_shutdown)
        app.state.env_builder.shutdown(wait=False)
        engine.dispose()

    app = DatalabsApp(
        title="datalabs",
        version=__version__,
        description=API_DESCRIPTION,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url="/api/redoc",
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.templates = pages.make_templates(settings)
    app.state.env_builder = EnvironmentBuilder(settings, app.state.session_factory)
    app.state.backend = backend or load_backend(settings.backend, settings)
    app.state.proxy_cache = ProxyCache()
    app.state.supervisor = SessionSupervisor(settings, app.state.session_factory, app.state.backend,
                                             builder=app.state.env_builder)
    app.state.supervisor.on_change = app.state.proxy_cache.forget
    app.state.pipeline_supervisor = PipelineSupervisor(settings, app.state.session_factory)
    app.state.archive_scans = BackgroundScans(app.state.session_factory)
    app.state.login_throttle = LoginThrottle(settings.login_max_failures, settings.login_lockout_minutes * 60)

    install_error_handlers(app, pages.render_error_page)
    app.include_router(health_router)
    app.include_router(accounts_router)
    app.include_router(storage_router)
    app.include_router(catalogue_router)
    app.include_router(pipelines_router)
    app.include_router(archive_router)
    app.include_router(discovery_router)
    app.include_router(runs_router)
    app.include_router(wes_router)
    setup_tap(app)  # /tap: TAP 1.1 (sync, UWS async, VOSI) and its job runner
    app.include_router(sessions_router)
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    app.state.session_proxy = SessionProxy(partial(FastAPI.__call__, app), state_holder=app)
    return app
