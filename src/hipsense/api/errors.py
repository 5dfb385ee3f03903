"""One error shape for the whole API: ``{"error": "..."}`` with a proper status code."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hipsense.errors import (
    CalibrationError,
    ConfigurationError,
    ConflictError,
    HipsenseError,
    InputFormatError,
    NotFoundError,
)

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered with ``status`` and ``message`` (raise it from routes)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _location(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "request body"


def validation_message(exc: RequestValidationError) -> str:
    """All validation problems of a request as one readable line."""
    problems = []
    for err in exc.errors()[:5]:
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            problems.append("the body is not valid JSON")
            continue
        problems.append(f"{_location(tuple(err.get('loc', ())))}: {msg}")
    return "invalid request: " + "; ".join(problems)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error, expected or not, with the JSON error shape."""

    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = "no such endpoint; the API is described at /docs"
        elif exc.status_code == 405:
            message = "method not allowed here; the API is described at /docs"
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"error": validation_message(exc)}, status_code=422)

    async def hipsense_error(_: Request, exc: Exception) -> JSONResponse:
        status = 409 if isinstance(exc, CalibrationError | ConflictError) else 400
        if isinstance(exc, NotFoundError):
            status = 404
        elif isinstance(exc, ConfigurationError | InputFormatError):
            status = 400
        return JSONResponse({"error": str(exc)}, status_code=status)

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse(
            {"error": f"internal error ({type(exc).__name__}); see the server log"},
            status_code=500,
        )

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HipsenseError, hipsense_error)
    app.add_exception_handler(Exception, unexpected)
