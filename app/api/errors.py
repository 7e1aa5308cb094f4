"""Error answers: every error is JSON `{"error", "detail", "errors"?}` with its HTTP status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from sqlalchemy.exc import DataError, OperationalError

from app.errors import DomainError

log = logging.getLogger(__name__)
UNHANDLED = Counter(
    "bridge_http_unhandled_errors", "Requests answered 500 because of a bug (each one is logged)"
)


def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    body: dict[str, object] = {"error": exc.code, "detail": exc.detail}
    if hasattr(exc, "errors"):
        body["errors"] = exc.errors
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return JSONResponse(
        {"error": "invalid_request", "detail": "the request is not valid", "errors": errors},
        status_code=422,
    )


def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: the database could not take the request: %s", request.method, request.url.path, exc)
    body = {"error": "unavailable", "detail": "the database is not available; retry later"}
    return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})


def _data_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: the database refused a value: %s", request.method, request.url.path, exc)
    body = {"error": "invalid_request", "detail": "a value of the request cannot be stored"}
    return JSONResponse(body, status_code=422)


def _bug(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    UNHANDLED.inc()
    body = {"error": "internal_error", "detail": "the request failed; the error is logged"}
    return JSONResponse(body, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(Exception, _bug)
