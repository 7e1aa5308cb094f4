"""Shared fixtures: real databases (SQLite file, and PostgreSQL when
BRIDGE_TEST_DATABASE_URL points at a server) and the app with its lifespan. Plain helpers, such
as the captured webhook payloads, are in tests/support.py."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.cli import migrate
from app.config import Settings
from app.db import Database, normalize_url
from app.main import create_app
from tests.support import PG_SERVER_URL, ROOT, OutboundGuard, PgServer, require_postgres, tripwire

TABLES = (
    "notification",
    "escalation",
    "incident_event",
    "incident_link",
    "alert",
    "incident",
    "readiness_probe",
    "communication",
    "obligation",
    "incident_moment",
    "review",
    "review_action",
    "action_digest",
    "heartbeat",
)


@pytest.fixture(autouse=True)
def no_outbound_traffic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any test that tried to reach a host outside this machine: from this process (its
    connections and name lookups are refused), or from a server process it started (whose
    proxy is the session's tripwire)."""
    guard = OutboundGuard()
    guard.install(monkeypatch)
    wire = tripwire()
    before = len(wire.requests)
    yield
    escaped = guard.blocked + wire.requests[before:]
    if escaped:
        pytest.fail(f"the test tried to reach outside this machine: {escaped}", pytrace=False)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer | None]:
    """The PostgreSQL server of BRIDGE_TEST_DATABASE_URL, or None; drops what is left at the end."""
    if not PG_SERVER_URL:
        yield None
        return
    server = PgServer(PG_SERVER_URL)
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def pg_database(pg_server: PgServer | None) -> str | None:
    """One migrated PostgreSQL database for the session; tests truncate it between uses."""
    if pg_server is None:
        return None
    url = pg_server.create()
    migrate(url)
    return url


def _truncate(url: str) -> None:
    engine = create_engine(normalize_url(url))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, pg_database: str | None) -> str:
    """A migrated, empty database: SQLite in a temp dir, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bridge.db'}"
        migrate(url)
        return url
    require_postgres(PG_SERVER_URL)
    assert pg_database is not None
    _truncate(pg_database)
    return pg_database


@pytest.fixture
def pg(database_url: str) -> str:
    """`database_url`, for a test of PostgreSQL alone: skipped on SQLite."""
    if not is_postgres(database_url):
        pytest.skip("PostgreSQL only")
    return database_url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The service's database object on `database_url`, disposed of afterwards."""
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped classification rules, so a test may edit it.

    The shipped on-call file is left out: its example contacts would be paged for real.
    Paging tests write an on-call file of their own (see tests/paging). The shipped
    communication protocol names its people, so it goes too (tests/communications add theirs).
    """
    target = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", target)
    (target / "oncall.yaml").unlink()
    (target / "communications.yaml").unlink()
    return target


@pytest.fixture
def runbooks_dir() -> Path:
    return ROOT / "runbooks"


@pytest.fixture
def settings(database_url: str, rules_dir: Path, runbooks_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        rules_dir=rules_dir,
        runbooks_dir=runbooks_dir,
        public_url="http://bridge.test",
        run_jobs=False,  # tests drive escalations and sweeps themselves
        # A slow machine must not add warnings to tests about something else; the tests of these
        # lines set their own thresholds.
        intake_slow_batch_seconds=60.0,
        event_loop_slow_seconds=60.0,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"
