"""``create_app(settings)``: the whole ASGI application. Nothing is created at import time."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from datalabs import __version__
from datalabs.accounts.router import router as accounts_router
from datalabs.accounts.throttle import LoginThrottle
from datalabs.api.errors import install_error_handlers
from datalabs.api.health import router as health_router
from datalabs.catalogue.environments import EnvironmentBuilder
from datalabs.catalogue.router import router as catalogue_router
from datalabs.db import migrate
from datalabs.db.engine import make_engine, make_session_factory
from datalabs.errors import DatalabsError
from datalabs.settings import Settings
from datalabs.storage.files import FileService
from datalabs.storage.router import router as storage_router
from datalabs.web import pages
from datalabs.web.router import router as web_router

API_DESCRIPTION = """
The datalabs REST API. Authenticate with a personal API token (`Authorization: Bearer <token>`,
create one on the Account page or with `datalabs token create`) or, from the web UI, with the
login cookie plus the `X-CSRF-Token` header. Errors are JSON: `{"error": {"code", "message", "field"}}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
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
        app.state.env_builder.recover()  # builds cut off by a crash are marked failed, never stuck
        if settings.build_environments:
            app.state.env_builder.start_pending()  # e.g. the shipped datalabs of `serve --demo`
        yield
        app.state.env_builder.shutdown(wait=False)
        engine.dispose()

    app = FastAPI(
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
    app.state.login_throttle = LoginThrottle(settings.login_max_failures, settings.login_lockout_minutes * 60)

    install_error_handlers(app, pages.render_error_page)
    app.include_router(health_router)
    app.include_router(accounts_router)
    app.include_router(storage_router)
    app.include_router(catalogue_router)
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    return app
