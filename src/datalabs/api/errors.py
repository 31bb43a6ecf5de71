"""Error responses: JSON ``{"error": {"code", "message", "field"}}`` for the API, pages for the web.

The status code of each domain error comes from ``datalabs.errors.HTTP_STATUS``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from datalabs.errors import DatalabsError, status_for

HTTP_CODES = {400: "bad_request", 401: "not_authenticated", 403: "permission_denied", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid_input"}


def error_body(code: str, message: str, field: str | None = None, **extra) -> dict:
    error = {"code": code, "message": message}
    if field:
        error["field"] = field
    error.update(extra)
    return {"error": error}


def _wants_page(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/ga4gh/", "/tap/")) and request.method == "GET"


def install_error_handlers(app: FastAPI, render_error_page) -> None:
    async def domain_error(request: Request, exc: DatalabsError):
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if _wants_page(request):
            return render_error_page(request, status, exc.message, exc.code)
        extra = {}
        problems = getattr(exc, "problems", None)
        if problems:  # e.g. an invalid datalab package: every problem, with its file, line and field
            extra["problems"] = [{"file": p.file, "line": p.line, "field": p.field, "message": p.message}
                                 for p in problems]
        return JSONResponse(error_body(exc.code, exc.message, exc.field, **extra), status_code=status,
                            headers=headers)

    async def validation_error(request: Request, exc: RequestValidationError):
        problems = []
        for item in exc.errors():
            where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
            problems.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
        message = "invalid request: " + "; ".join(problems[:5])
        first_field = ".".join(str(p) for p in exc.errors()[0].get("loc", ())[1:]) if exc.errors() else None
        return JSONResponse(error_body("invalid_input", message, first_field or None), status_code=422)

    async def http_error(request: Request, exc: StarletteHTTPException):
        code = HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = f"nothing at {request.url.path}"
        if _wants_page(request):
            return render_error_page(request, exc.status_code, message, code)
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)

    app.add_exception_handler(DatalabsError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
