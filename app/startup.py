"""The schema migration of `incident-bridge serve`, run in a short-lived child process.

Alembic (and Mako, which it loads) take about 16 MB that a serving process would keep to its
end, and that a worker forked from it would hold a second time. Forked before the web process
loads its modules, the child brings the schema up to date while the parent loads them.
"""

from __future__ import annotations

import os
import sys


class Migration:
    """`app.cli.migrate` in a forked child; `succeeded` waits for it. Fork only while this
    process has no thread (at start-up)."""

    def __init__(self, database_url: str) -> None:
        self.pid = os.fork()
        if self.pid == 0:  # the child: migrate, then leave without running the parent's exit hooks
            code = 1
            try:
                from app.cli import migrate

                migrate(database_url)
                code = 0
            except BaseException as exc:  # logged as the parent logs what it does not catch
                sys.excepthook(type(exc), exc, exc.__traceback__)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)

    def succeeded(self) -> bool:
        """Wait for the child: whether the schema is now the newest (a failure is logged)."""
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status) == 0
