"""Domain errors. Services raise these; they know nothing of HTTP.

``HTTP_STATUS`` is the one table that maps them to status codes (see ``datalabs.api_errors``).
Each error has a stable machine-readable ``code`` and a message written for the user.
"""

from __future__ import annotations


class DatalabsError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field


class NotFound(DatalabsError):
    """Absent, or present but not visible to the caller: the two are indistinguishable on purpose."""

    code = "not_found"


class AlreadyExists(DatalabsError):
    code = "already_exists"


class InvalidInput(DatalabsError):
    code = "invalid_input"


class NotAuthenticated(DatalabsError):
    code = "not_authenticated"


class PermissionDenied(DatalabsError):
    """The caller may see the thing but not do this to it."""

    code = "permission_denied"


class QuotaExceeded(DatalabsError):
    code = "quota_exceeded"


class Conflict(DatalabsError):
    code = "conflict"


class RangeNotSatisfiable(DatalabsError):
    code = "range_not_satisfiable"


class TooManyRequests(DatalabsError):
    code = "too_many_requests"


HTTP_STATUS: dict[type[DatalabsError], int] = {
    TooManyRequests: 429,
    NotFound: 404,
    AlreadyExists: 409,
    Conflict: 409,
    InvalidInput: 422,
    NotAuthenticated: 401,
    PermissionDenied: 403,
    QuotaExceeded: 413,
    RangeNotSatisfiable: 416,
    DatalabsError: 400,
}


def status_for(error: DatalabsError) -> int:
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 400  # pragma: no cover - DatalabsError is in the table
