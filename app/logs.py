"""Log lines: `text` for people, `json` (one object a line) for log shippers.

Every line carries the ids it is about: the request id of the HTTP request being handled (from
`X-Request-ID`, or generated), and the incident and notification ids given as `extra` or bound
with `bound`. Lifecycle lines are written once their transaction commits (`when_committed`), so
a rolled-back or retried change never logs an event that did not happen.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import IO, Any, Literal

from asgi_correlation_id import CorrelationIdMiddleware
from asgi_correlation_id.context import correlation_id
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.orjson import OrjsonFormatter
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction
from starlette.types import Message, Receive, Scope, Send

from app.vocabulary import WAKING_KINDS

LogFormat = Literal["text", "json"]
REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is kept only when it cannot break a log line or flood it: bounded, and made of
# characters ids are made of (uuids, nginx's $request_id, base64, trace ids).
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers that are noise at INFO: a line per scheduler tick, per migration step and plugin.
QUIET = ("apscheduler", "alembic")

_bound: ContextVar[dict[str, Any] | None] = ContextVar("log_ids", default=None)
_PENDING = "logs_when_committed"  # Session.info key: lines waiting for the commit
_HANDLER = "incident_bridge"  # name of the handler `configure` installs (replaced, not added twice)

# The timeline kinds that are lifecycle events, and the word their log line says.
INCIDENT_EVENTS = {
    "opened": "opened",
    "severity_raised": "raised",
    "acknowledged": "acknowledged",
    "resolved": "resolved",
    "reopened": "reopened",
    "closed": "closed",
}

log = logging.getLogger("incident_bridge")
incidents_log = logging.getLogger("incident_bridge.incidents")
paging_log = logging.getLogger("incident_bridge.paging")


def valid_request_id(value: str) -> bool:
    """Whether a client-sent request id is kept (otherwise a new one is generated)."""
    return REQUEST_ID.fullmatch(value) is not None


def new_request_id() -> str:
    """32 random hex digits, like uuid4().hex at a fifth of its cost (it runs on every request)."""
    return os.urandom(16).hex()


@dataclass
class RequestIds(CorrelationIdMiddleware):
    """Pure ASGI: takes a valid `X-Request-ID` or makes one, echoes it in the response and puts
    it on every log line written while the request is handled."""

    header_name: str = REQUEST_ID_HEADER
    update_request_header: bool = False  # nothing reads it from the request: no header copy
    generator: Callable[[], str] = field(default=new_request_id)
    validator: Callable[[str], bool] | None = field(default=valid_request_id)
    transformer: Callable[[str], str] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._name = self.header_name.encode("latin-1")
        self._wanted = self._name.lower()  # as ASGI servers give names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The library's behaviour, without building a headers object on the way in and out
        (a tenth of a one-alert webhook's time went there)."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        wanted = self._wanted
        sent = next((v.decode("latin-1") for k, v in scope["headers"] if k == wanted), "")
        kept = sent and (self.validator is None or self.validator(sent))
        id_value = sent if kept else self.generator()
        correlation_id.set(id_value)
        echoed = (self._name, id_value.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        await self.app(scope, receive, send_with_id)


@contextlib.contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """Put these ids (incident_id=..., notification_id=...) on every line logged in the block."""
    token = _bound.set({**(_bound.get() or {}), **ids})
    try:
        yield
    finally:
        _bound.reset(token)


def when_committed(
    session: Session, logger: logging.Logger, level: int, template: str, **fields: Any
) -> None:
    """Log `template` (formatted with `fields`) once the session's transaction commits; never if
    it rolls back. The fields go on the line too (JSON): they must hold no secret."""
    session.info.setdefault(_PENDING, []).append((logger, level, template, fields))


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for logger, level, template, fields in session.info.pop(_PENDING, ()):
        if logger.isEnabledFor(level):
            logger.log(level, template.format(**fields), extra=fields)


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # rolled back or closed: what it did never happened
        session.info.pop(_PENDING, None)


def incident_event(
    session: Session,
    kind: str,
    incident_id: int,
    severity: str,
    type_: str,
    key: str,
    data: dict[str, Any] | None = None,
) -> None:
    """The line of a timeline event that is a lifecycle event (INCIDENT_EVENTS), once committed;
    nothing for the others (an alert firing again, a note...)."""
    said = INCIDENT_EVENTS.get(kind)
    if said is None:
        return
    if kind == "severity_raised" and data:
        severity = data["to"]  # recorded before the incident takes it
    template = "incident {incident_id} {event} {severity} {type} key={incident_key}"
    fields = {"incident_id": incident_id, "severity": severity, "type": type_, "incident_key": key}
    when_committed(session, incidents_log, logging.INFO, template, event=said, **fields)


def page_delivered(session: Session, incident_id: int, notification_id: int, kind: str, channel: str) -> None:
    """The line of a delivered notification, once recorded: `paged` (it wakes someone) or
    `notified` (a notice, a reminder)."""
    said = "paged" if kind in WAKING_KINDS else "notified"
    template = (
        "incident {incident_id} {event}: notification {notification_id} ({kind}) delivered by {channel}"
    )
    fields = {
        "incident_id": incident_id,
        "notification_id": notification_id,
        "kind": kind,
        "channel": channel,
    }
    when_committed(session, paging_log, logging.INFO, template, event=said, **fields)


def page_given_up(
    session: Session,
    incident_id: int,
    notification_id: int,
    kind: str,
    channel: str,
    attempts: int,
    error: str | None,
) -> None:
    """The line of a notification given up, once recorded: a warning, it reached nobody.
    `error` is the delivery error, which names channel, recipient and status, never a secret."""
    template = (
        "incident {incident_id} gave up: notification {notification_id} ({kind}) by {channel} "
        "after {attempts} attempt(s): {error}"
    )
    fields = {
        "incident_id": incident_id,
        "notification_id": notification_id,
        "kind": kind,
        "channel": channel,
    }
    when_committed(
        session,
        paging_log,
        logging.WARNING,
        template,
        event="gave_up",
        attempts=attempts,
        error=error,
        **fields,
    )


class ContextFilter(logging.Filter):
    """Adds the request id and the bound ids to each record (ids given as `extra` win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = correlation_id.get()
        if rid is not None and not hasattr(record, "request_id"):
            record.request_id = rid
        for name, value in (_bound.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class TextFormatter(logging.Formatter):
    """The classic line, with the request id at the end; line breaks in a message are escaped,
    so no value can forge a line of its own (tracebacks still span lines)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = record.message.replace("\r", "\\r").replace("\n", "\\n")
        line = super().formatMessage(record)
        rid = getattr(record, "request_id", None)
        return f"{line} request_id={rid}" if rid else line


class JsonFormatter(OrjsonFormatter):
    """One object a line: timestamp (ISO 8601, UTC), level, logger, message, the ids the line is
    about, and `exception` with the traceback."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"},
            # color_message: uvicorn's copy of a message with terminal colours in it.
            reserved_attrs=[*RESERVED_ATTRS, "color_message", "taskName"],
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message: dict[str, Any]
    ) -> None:
        moment = datetime.fromtimestamp(record.created, UTC)
        log_data["timestamp"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        super().add_fields(log_data, record, message)


def handler(fmt: LogFormat, stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing `fmt` lines to `stream` (stderr), with the request and bound ids."""
    out = logging.StreamHandler(stream if stream is not None else sys.stderr)
    out.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    out.addFilter(ContextFilter())
    return out


def configure(level: str, fmt: LogFormat) -> None:
    """Send every log line of this process (uvicorn's included) to stderr in `fmt`."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.name == _HANDLER]:
        root.removeHandler(old)
    out = handler(fmt)
    out.name = _HANDLER
    root.addHandler(out)
    root.setLevel(level.upper())
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    # The middleware warns of every id it replaced: anyone could flood the log with them.
    logging.getLogger("asgi_correlation_id").setLevel(logging.ERROR)
    logging.captureWarnings(True)  # Python's warnings become lines of the same format
    sys.excepthook = _uncaught
    threading.excepthook = _uncaught_in_thread


def _uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    log.critical("uncaught exception", exc_info=(kind, exc, tb))


def _uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread is not None else "unknown"
    log.error("thread %s failed", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
