"""prometheus_client's multiprocess values, told the process id instead of asking for it.

In multiprocess mode every counter increment and histogram observation asks the kernel for the
process id (to notice a fork): several system calls per webhook, 6% of a one-alert webhook's
time. Here the id is kept, and renewed in a child at every fork.
"""

from __future__ import annotations

import os

_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def current_pid() -> int:
    return _pid


def keep_pid() -> None:
    """Make the metrics created from now on use the kept process id (multiprocess mode only);
    call before any metric is created."""
    from prometheus_client import values

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        values.ValueClass = values.MultiProcessValue(process_identifier=current_pid)  # type: ignore[no-untyped-call]
