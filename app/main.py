"""create_app(): wiring only."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import signal
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_client import disable_created_metrics
from sqlalchemy.exc import SQLAlchemyError

from app import __version__, web
from app.alerts.writer import IntakeWriter
from app.api import errors
from app.api.communications import router as communications_router
from app.api.deps import Runtime, require_api_token
from app.api.fast_path import BridgeApp
from app.api.heartbeats import api_router as heartbeats_api_router
from app.api.heartbeats import router as heartbeats_router
from app.api.incidents import router as incidents_router
from app.api.limits import BodyLimit
from app.api.oncall import router as oncall_router
from app.api.ops import router as ops_router
from app.api.reviews import router as reviews_router
from app.api.reviews import tracker_router
from app.api.runbooks import router as runbooks_api_router
from app.api.stats import router as stats_router
from app.api.webhooks import WEBHOOK_PATH, alertmanager_webhook
from app.api.webhooks import router as webhook_router
from app.api.workspace import router as workspace_router
from app.catalog.holder import CatalogHolder
from app.catalog.loader import ConfigError
from app.communications import metrics as communication_metrics
from app.config import Settings, get_settings
from app.db import Database, normalize_url, utcnow
from app.flows.intake import IngestOutcome, ingest, publish
from app.flows.jobs import flow_jobs
from app.heartbeats import metrics as heartbeat_metrics
from app.incidents import metrics as incident_metrics
from app.instance import service as instance
from app.instance.keys import Keys
from app.logs import RequestIds
from app.metrics import loop_lag
from app.paging import metrics as paging_metrics
from app.paging.delivery import Dispatcher
from app.paging.jobs import start_scheduler
from app.paging.notifiers import build_notifiers
from app.paging.wake import Waker
from app.reviews import metrics as review_metrics
from app.stats import metrics as stats_metrics
from app.web.auth import router as sign_in_router
from app.web.incident_report import router as report_router
from app.web.links import router as link_router
from app.web.pages import router as pages_router
from app.web.review_pages import router as review_pages_router
from app.web.runbooks import router as runbook_router
from app.web.security import SecurityHeaders

log = logging.getLogger("incident_bridge")
disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series clutter dashboards


def install_sighup(holder: CatalogHolder) -> None:
    """SIGHUP re-reads the rules, like Prometheus and Alertmanager (main thread only)."""

    def reload() -> None:
        with contextlib.suppress(ConfigError):  # logged by the holder; last good rules stay
            holder.reload()

    def on_sighup(_signum: int, _frame: object) -> None:
        threading.Thread(target=reload, name="rules-reload", daemon=True).start()

    signal.signal(signal.SIGHUP, on_sighup)


def master_keys(settings: Settings, db: Database) -> Keys:
    """The per-purpose keys of BRIDGE_SECRET_KEY, or of the key generated for this installation."""
    secret = settings.secret_key.get_secret_value() if settings.secret_key is not None else None
    return instance.master_keys(secret, db)


# FastAPI 0.165 and later look up OpenTelemetry providers on every request. incident-bridge
# reports through its own /metrics and logs; it turns that off, on versions that have it.
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Fail before serving: broken rules refuse to start (ConfigError propagates).
    catalog = CatalogHolder(settings.rules_dir, settings.runbooks_dir)
    rt = Runtime(settings=settings, catalog=catalog)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("incident-bridge %s starting (environment %s)", __version__, settings.environment)
        if settings.api_token is None:
            log.warning(
                "BRIDGE_API_TOKEN is not set: the /api/ endpoints are open to anyone who can "
                "reach this service. Set it before exposing incident-bridge."
            )
        if settings.webhook_token is None:
            log.warning(
                "BRIDGE_WEBHOOK_TOKEN is not set: anyone who can reach this service can post alerts "
                "and open incidents. Set it, and the same value in Alertmanager's http_config."
            )
        inline = settings.delivery == "inline"
        # Inline, or handed by id to the one worker of a SQLite file, pages are born claimed;
        # on PostgreSQL any number of workers claim them from the outbox.
        handed = normalize_url(settings.database_url).get_backend_name() == "sqlite"
        db = Database(settings.database_url, pages_born_claimed=inline or handed, checkpoints=True)
        rt.key_source = lambda: master_keys(settings, db)
        try:
            rt.keys  # noqa: B018  # resolve now; should the database be down, on first use instead
        except SQLAlchemyError as exc:
            log.warning("the database is not reachable yet, keys will be read on first use: %s", exc)
        # Made when first needed: with a worker sending, this process may never send (a client's
        # TLS setup holds some 3 MB).
        client = functools.cache(
            lambda: httpx.Client(
                timeout=settings.outbound_timeout_seconds,
                headers={"User-Agent": f"incident-bridge/{__version__}"},
            )
        )
        # Inline, this process sends its pages; otherwise it wakes the workers that do.
        sender: Dispatcher | Waker = (
            Dispatcher(db, lambda: catalog.current, settings, client(), lambda: rt.keys)
            if inline
            else Waker(db)
        )

        def committed(outcome: IngestOutcome) -> None:
            publish(outcome)
            sender.submit(outcome.notifications)
            sender.submit(outcome.quiet_notifications, quiet=True)

        writer = IntakeWriter(
            db,
            lambda session, requests: ingest(
                session, catalog.current, requests, utcnow(), settings.public_url
            ),
            batch_max=settings.intake_batch_max,
            chunk_alerts=settings.intake_chunk_alerts,
            slow_seconds=settings.intake_slow_batch_seconds,
            after_commit=committed,
        )
        rt.db, rt.writer, rt.dispatcher = db, writer, sender
        own = functools.cache(lambda: build_notifiers(settings, client(), rt.keys))
        rt.channels = sender.notifiers if isinstance(sender, Dispatcher) else own
        incident_metrics.watch(db)
        paging_metrics.watch(db)
        communication_metrics.watch(db, lambda: catalog.current.communications)
        review_metrics.watch(db)
        stats_metrics.watch(db)
        heartbeat_metrics.watch(db, lambda: catalog.current.heartbeats)
        writer.start()
        lag = asyncio.create_task(loop_lag.watch(settings.event_loop_slow_seconds), name="loop-lag")
        scheduler = None
        if settings.run_jobs and isinstance(sender, Dispatcher):
            dispatcher = sender
            scheduler = start_scheduler(
                db,
                lambda: catalog.current,
                dispatcher,
                settings.escalation_interval_seconds,
                settings.sweep_interval_seconds,
                more=flow_jobs(db, lambda: catalog.current, settings.public_url, dispatcher),
            )
        try:
            yield
        finally:
            lag.cancel()
            if scheduler is not None:
                scheduler.shutdown(wait=True)
            writer.stop()
            if isinstance(sender, Dispatcher):
                sender.shutdown()
            else:
                sender.close()
            if client.cache_info().currsize:
                client().close()
            db.dispose()

    app = BridgeApp(
        **_NO_TELEMETRY,
        title="incident-bridge",
        version=__version__,
        description="Turns alerts about machine-learning models into well-run incidents.",
        lifespan=lifespan,
    )
    app.state.runtime = rt
    # No trailing-slash redirects: their Location would be built from the client's Host header.
    app.router.redirect_slashes = False
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestIds)  # outermost: every line of a request, and its 413, carry the id
    app.mount("/static", StaticFiles(directory=Path(web.__file__).parent / "static"), name="static")
    errors.install(app)
    app.include_router(webhook_router)  # documents the webhook; serve_first below serves it
    app.include_router(heartbeats_router)
    api = {"dependencies": [Depends(require_api_token)], "responses": errors.API_ERRORS}
    app.include_router(incidents_router, **api)  # type: ignore[arg-type]
    app.include_router(workspace_router, **api)  # type: ignore[arg-type]
    app.include_router(communications_router, **api)  # type: ignore[arg-type]
    app.include_router(reviews_router, **api)  # type: ignore[arg-type]
    app.include_router(stats_router, **api)  # type: ignore[arg-type]
    app.include_router(tracker_router)
    app.include_router(oncall_router, **api)  # type: ignore[arg-type]
    app.include_router(heartbeats_api_router, **api)  # type: ignore[arg-type]
    app.include_router(runbooks_api_router, **api)  # type: ignore[arg-type]
    app.include_router(link_router)
    app.include_router(runbook_router)
    app.include_router(sign_in_router)
    app.include_router(review_pages_router)  # before the pages' catch-all /incidents/{id}/{action}
    app.include_router(pages_router)
    app.include_router(report_router)
    app.include_router(ops_router)
    app.serve_first(WEBHOOK_PATH, alertmanager_webhook)  # the hot path: ahead of the middleware
    return app
