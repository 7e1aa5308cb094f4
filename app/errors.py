"""Domain errors carry their HTTP status; one handler in main.py renders them all."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class MalformedBody(DomainError):
    status_code = 400
    code = "malformed_json"


class InvalidRequest(DomainError):
    """A request that can never succeed as sent; `errors` names the field."""

    status_code = 422
    code = "invalid_request"

    def __init__(self, detail: str, field: str | None = None, where: str = "body") -> None:
        super().__init__(detail)
        self.errors = [{"loc": [where, field] if field else [], "msg": detail, "type": "value_error"}]


class Unavailable(DomainError):
    status_code = 503
    code = "unavailable"


class InternalError(DomainError):
    """A bug: logged with its traceback where it happened; the answer leaks no detail."""

    status_code = 500
    code = "internal_error"
