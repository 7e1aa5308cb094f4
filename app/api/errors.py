"""Error answers: every error is JSON `{"error", "detail", "errors"?}` with its HTTP status."""

from __future__ import annotations

import logging
from typing import Any

from asgi_correlation_id.context import correlation_id
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.exc import DataError, DBAPIError

from app.db import is_unavailable
from app.errors import DomainError
from app.logs import REQUEST_ID_HEADER

log = logging.getLogger(__name__)
UNHANDLED = Counter(
    "bridge_http_unhandled_errors", "Requests answered 500 because of a bug (each one is logged)"
)


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error answer: a stable code, a sentence for people; `errors` names each invalid
    field (present on 422 only)."""

    error: str = Field(examples=["not_found"])
    detail: str = Field(examples=["incident 42 not found"])
    errors: list[FieldError] | SkipJsonSchema[None] = None


def described(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with the error body."""
    return {code: {"model": ErrorBody, "description": STATUS_TEXT[code]} for code in codes}


STATUS_TEXT = {
    400: "The request is malformed",
    401: "A bearer token is required and was missing or wrong",
    403: "Not allowed",
    404: "No such thing",
    408: "The request body did not arrive in time",
    409: "The change conflicts with the incident's state",
    413: "The request body is too large",
    415: "The request body is not JSON",
    422: "The request is not valid; `errors` lists each problem",
    500: "A bug; it is logged and counted",
    503: "The database cannot take the request right now; retry later",
}
# What any API route may answer besides its own success.
API_ERRORS = described(401, 413, 422, 500, 503)


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


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    where = f"{request.method} {request.url.path}"
    if is_unavailable(exc):
        log.warning("%s: the database could not take the request: %s", where, exc)
        body = {"error": "unavailable", "detail": "the database is not available; retry later"}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
    if isinstance(exc, DataError):
        log.warning("%s: the database refused a value: %s", where, exc)
        body = {"error": "invalid_request", "detail": "a value of the request cannot be stored"}
        return JSONResponse(body, status_code=422)
    return _bug(request, exc)


def _bug(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    UNHANDLED.inc()
    body = {"error": "internal_error", "detail": "the request failed; the error is logged"}
    # Starlette answers a bug outside every middleware: echo the request id here, so the
    # caller can quote the id the traceback was logged with.
    request_id = correlation_id.get()
    headers = {REQUEST_ID_HEADER: request_id} if request_id else None
    return JSONResponse(body, status_code=500, headers=headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _bug)
