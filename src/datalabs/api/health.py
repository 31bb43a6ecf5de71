"""Health check: is the server up and its database reachable."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from datalabs import __version__

router = APIRouter(prefix="/api/v1", tags=["health"])


@router.get("/health", summary="Liveness and database check")
def health(request: Request):
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised: this route must answer
        database = f"error: {type(exc).__name__}"
    status = 200 if database == "ok" else 503
    body = {"status": "ok" if status == 200 else "degraded", "version": __version__,
            "database": database, "database_kind": request.app.state.engine.dialect.name}
    return JSONResponse(body, status_code=status)
