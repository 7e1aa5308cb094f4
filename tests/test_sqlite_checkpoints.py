"""SQLite: the intake's process leaves copying the write-ahead log back into the database file
to a thread of its own (`sqlite.Checkpointer`); its commits never do it themselves."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from app.db import Database
from app.sqlite import Checkpointer
from tests.support import wait_until

ROW = "x" * 4000  # about one page each
ROWS = 300  # about 1.2 MB: well under SQLite's own threshold of 1,000 pages


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "bridge.db"


@pytest.fixture
def databases() -> Iterator[list[Database]]:
    opened: list[Database] = []
    yield opened
    for db in opened:
        db.dispose()


def _open(databases: list[Database], path: Path, checkpoints: bool) -> Database:
    db = Database(_url(path), checkpoints=checkpoints)
    databases.append(db)
    with db.session(write=True) as session:
        session.execute(text("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, body TEXT)"))
    return db


def _fill(db: Database) -> None:
    for start in range(0, ROWS, 30):  # commits of 30 rows, as intake batches come
        with db.session(write=True) as session:
            for n in range(start, start + 30):
                session.execute(text("INSERT INTO filler (body) VALUES (:body)"), {"body": f"{n}{ROW}"})


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    wait_until(condition, timeout=10.0, interval=0.02, what=what)


def _autocheckpoint(db: Database) -> int:
    with db.session(write=True) as session:
        return int(session.execute(text("PRAGMA wal_autocheckpoint")).scalar_one())


def test_the_writer_connections_leave_checkpoints_to_the_thread(
    databases: list[Database], path: Path
) -> None:
    own = _open(databases, path, checkpoints=True)
    assert _autocheckpoint(own) == 0
    assert own.checkpointer is not None and own.checkpointer.running


def test_without_it_commits_checkpoint_as_sqlite_does(databases: list[Database], tmp_path: Path) -> None:
    db = _open(databases, tmp_path / "plain.db", checkpoints=False)
    assert _autocheckpoint(db) == 1000
    assert db.checkpointer is None


def test_committed_pages_reach_the_database_file_soon_after(databases: list[Database], path: Path) -> None:
    db = _open(databases, path, checkpoints=True)
    before = path.stat().st_size
    _fill(db)
    # The rows are in the log; the thread copies them into the file (the writer's commits never do).
    _wait_for(lambda: path.stat().st_size > before + ROWS * 3000, "the rows copied into the database file")
    with sqlite3.connect(path) as check:  # every committed row is there, read through the log or not
        assert check.execute("SELECT count(*) FROM filler").fetchone() == (ROWS,)


def test_the_same_commits_without_the_thread_stay_in_the_log(databases: list[Database], path: Path) -> None:
    """The contrast that shows the thread does the copying: with SQLite left to itself, the same
    commits stay in the log (below its 1,000-page threshold), and with the thread's connection
    setting but no thread, nothing copies them either."""
    db = _open(databases, path, checkpoints=True)
    assert db.checkpointer is not None
    db.checkpointer.stop()
    before = path.stat().st_size
    _fill(db)
    time.sleep(0.5)
    assert path.stat().st_size == before
    assert Path(f"{path}-wal").stat().st_size > ROWS * 3000


def test_dispose_runs_a_last_checkpoint_and_ends_the_thread(databases: list[Database], path: Path) -> None:
    db = _open(databases, path, checkpoints=True)
    checkpointer = db.checkpointer
    assert checkpointer is not None
    checkpointer.interval = 60.0  # none between the commits: only the one at the end
    _fill(db)
    db.dispose()
    databases.remove(db)
    assert not checkpointer.running
    assert path.stat().st_size > ROWS * 3000


def test_an_in_memory_database_has_no_thread(databases: list[Database]) -> None:
    db = Database("sqlite://", checkpoints=True)
    databases.append(db)
    assert db.checkpointer is None


def test_a_failing_checkpoint_is_logged_and_the_next_one_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "later"
    checkpointer = Checkpointer(str(folder / "bridge.db"), interval=0.01)
    checkpointer.start()
    try:
        checkpointer.wake()  # its folder does not exist yet: the file cannot be opened
        _wait_for(lambda: "checkpoint of the SQLite write-ahead log failed" in caplog.text, "the warning")
        assert checkpointer.running and checkpointer.checkpoints == 0
        folder.mkdir()
        checkpointer.wake()
        _wait_for(lambda: checkpointer.checkpoints == 1, "one checkpoint once the folder exists")
    finally:
        checkpointer.stop()
    assert not checkpointer.running
