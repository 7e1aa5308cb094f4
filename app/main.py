"""create_app(): wiring only."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import disable_created_metrics
from sqlalchemy.orm import Session

from app import __version__
from app.alerts import metrics as alert_metrics
from app.alerts.router import router as webhook_router
from app.alerts.service import IngestOutcome, ingest
from app.alerts.writer import IntakeWriter
from app.config import Settings, get_settings
from app.db import Database, utcnow
from app.errors import DomainError
from app.incidents import metrics as incident_metrics
from app.incidents import repository as incidents_repo
from app.incidents.router import router as incidents_router
from app.metrics.db_gauge import Rows
from app.oncall.router import router as oncall_router
from app.paging import metrics as paging_metrics
from app.paging import repository as paging_repo
from app.paging.delivery import Dispatcher
from app.paging.jobs import start_scheduler
from app.rules.loader import ConfigError
from app.rules.service import RulesHolder
from app.web import ops
from app.web.deps import require_api_token
from app.web.links import router as link_router

log = logging.getLogger("incident_bridge")
disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series clutter dashboards


def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    body: dict[str, object] = {"error": exc.code, "detail": exc.detail}
    if hasattr(exc, "errors"):
        body["errors"] = exc.errors
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def _publish(outcome: IngestOutcome) -> None:
    """Count what a committed batch did."""
    for (source, status), n in outcome.received.items():
        alert_metrics.ALERTS_RECEIVED.labels(source, status).inc(n)
    for reason, n in outcome.deduplicated.items():
        alert_metrics.ALERTS_DEDUPLICATED.labels(reason).inc(n)
    for (type_, severity), n in outcome.opened.items():
        incident_metrics.INCIDENTS_OPENED.labels(type_, severity).inc(n)
    for (type_, severity), n in outcome.reopened.items():
        incident_metrics.INCIDENTS_REOPENED.labels(type_, severity).inc(n)
    for (type_, severity), n in outcome.resolved.items():
        incident_metrics.INCIDENTS_RESOLVED.labels(type_, severity, "alerts").inc(n)
    for (type_, severity), n in outcome.unowned.items():
        incident_metrics.UNOWNED_OPENED.labels(type_, severity).inc(n)


def install_sighup(holder: RulesHolder) -> None:
    """SIGHUP re-reads the rules, like Prometheus and Alertmanager (main thread only)."""

    def reload() -> None:
        with contextlib.suppress(ConfigError):  # logged by the holder; last good rules stay
            holder.reload()

    def on_sighup(_signum: int, _frame: object) -> None:
        threading.Thread(target=reload, name="rules-reload", daemon=True).start()

    signal.signal(signal.SIGHUP, on_sighup)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Fail before serving: broken rules refuse to start (ConfigError propagates).
    rules = RulesHolder(settings.rules_dir, settings.runbooks_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.api_token is None:
            log.warning(
                "BRIDGE_API_TOKEN is not set: the /api/ endpoints are open to anyone who can "
                "reach this service. Set it before exposing incident-bridge."
            )
        db = Database(settings.database_url)
        client = httpx.Client(
            timeout=settings.outbound_timeout_seconds,
            headers={"User-Agent": f"incident-bridge/{__version__}"},
        )
        dispatcher = Dispatcher(db, lambda: rules.current, settings, client)

        def on_commit(outcome: IngestOutcome) -> None:
            _publish(outcome)
            dispatcher.submit(outcome.notifications)

        writer = IntakeWriter(
            db,
            lambda session, requests: ingest(session, rules.current, requests, utcnow(), settings.public_url),
            batch_max=settings.intake_batch_max,
            after_commit=on_commit,
        )
        app.state.db, app.state.writer, app.state.dispatcher = db, writer, dispatcher
        _wire_gauges(db)
        writer.start()
        scheduler = None
        if settings.run_jobs:
            scheduler = start_scheduler(
                db,
                lambda: rules.current,
                dispatcher,
                settings.escalation_interval_seconds,
                settings.sweep_interval_seconds,
            )
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=True)
            writer.stop()
            dispatcher.shutdown()
            client.close()
            db.dispose()

    app = FastAPI(
        title="incident-bridge",
        version=__version__,
        description="Turns alerts about machine-learning models into well-run incidents.",
        lifespan=lifespan,
    )
    app.state.settings, app.state.rules = settings, rules
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(webhook_router)
    app.include_router(incidents_router, dependencies=[Depends(require_api_token)])
    app.include_router(oncall_router, dependencies=[Depends(require_api_token)])
    app.include_router(link_router)
    app.include_router(ops.router)
    return app


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


def _wire_gauges(db: Database) -> None:
    def rows(query: Callable[[Session], Rows]) -> Callable[[], Rows]:
        def run() -> Rows:
            with db.session() as session:
                return query(session)

        return run

    incident_metrics.OPEN_INCIDENTS.source = rows(incidents_repo.count_open)
    incident_metrics.UNOWNED_OPEN.source = rows(incidents_repo.count_unowned_open)
    paging_metrics.PENDING.source = rows(paging_repo.count_pending)
