"""Fresh databases for each server under test: a SQLite file in the run's temporary directory, or
a new `bench_<random>` PostgreSQL database dropped (WITH (FORCE)) when it is no longer needed."""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

from .common import BIN, ROOT

_serial = itertools.count(1)


def postgres_url(admin_url: str, name: str) -> str:
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _admin(admin_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(statement.encode())


def _quoted(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unexpected database name {name!r}")
    return f'"{name}"'


@contextlib.contextmanager
def fresh(db: str, tmp: Path, admin_url: str, template: str | None = None) -> Iterator[str]:
    """The URL of a new, empty database (or a copy of `template`: a SQLite file's path or a
    PostgreSQL database's name), removed on exit."""
    if db == "sqlite":
        folder = tmp / f"sqlite-{next(_serial)}"
        folder.mkdir()
        path = folder / "bench.db"
        if template is not None:
            shutil.copyfile(template, path)
        try:
            yield f"sqlite:///{path}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    name = f"bench_{secrets.token_hex(4)}"
    if template is None:
        _admin(admin_url, f"CREATE DATABASE {_quoted(name)}")
    else:  # a file copy: far faster than the WAL-logged default for a large template
        _admin(admin_url, f"CREATE DATABASE {_quoted(name)} TEMPLATE {_quoted(template)} STRATEGY FILE_COPY")
    try:
        yield postgres_url(admin_url, name)
    finally:
        _admin(admin_url, f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)")


def name_of(db: str, url: str) -> str:
    """What `fresh(template=...)` takes to copy this database."""
    database = make_url(url).database or ""
    return database if db == "postgresql" else str(Path(database))


def migrate(url: str) -> None:
    """`incident-bridge migrate`: the schema of the service's newest migration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env["BRIDGE_DATABASE_URL"] = url
    done = subprocess.run(
        [str(BIN / "incident-bridge"), "migrate"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"incident-bridge migrate failed:\n{done.stdout}\n{done.stderr}")


def size_bytes(db: str, url: str) -> int:
    """On-disk size of the database (SQLite: the file and its WAL)."""
    if db == "sqlite":
        path = Path(make_url(url).database or "")
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0
