"""PostgreSQL connections: a pooled connection is checked before use without a round trip.

SQLAlchemy's `pool_pre_ping` sends `SELECT 1` before every checkout: a round trip in front of
every unit of work, a fifth of the worker's statements per page. Here a checkout first looks
at the connection's socket, a system call: a server that closed the connection (it restarted, an
administrator or a proxy ended it) has left it readable, since an idle connection is sent
nothing else. Only then, or when the connection has sat unused longer than `idle_ping`
seconds (a peer that vanished without a word), is it pinged; a ping that fails makes the pool
discard it, with every connection as old, and hand out a new one.
"""

from __future__ import annotations

import select
import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import InvalidatePoolError

IDLE_PING = 30.0  # seconds unused after which a connection is pinged before its next use
_CHECKED_IN = "checked_in_at"  # in the connection's info: when it last went back to the pool


def readable(dbapi_connection: Any) -> bool:
    """Whether the server has sent something on an idle connection: its goodbye, or it closed."""
    try:
        ready, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except (OSError, ValueError):  # closed on our side already
        return True
    return bool(ready)


def check_before_use(engine: Engine, idle_ping: float | None = IDLE_PING) -> None:
    """Check every connection `engine` hands out: pinged only when its socket has something to
    read, or (unless `idle_ping` is None) after `idle_ping` seconds in the pool."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN)
        if since is None:  # connected just now
            return
        idle = idle_ping is not None and time.monotonic() - since > idle_ping
        if not idle and not readable(dbapi_connection):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool discards it and those as old, and connects anew
            raise InvalidatePoolError("the database connection was closed") from exc
