"""Deadlines for reading request bodies, kept by one timer for all requests of an event loop.

`asyncio.timeout` arms and cancels a timer of the event loop for every request, which cost more
than the rest of reading a one-alert webhook. Here a request only notes its deadline; a sweep
that runs every `SWEEP_SECONDS` while reads are under way cancels those past theirs. A read is
never cut off early, and at most `SWEEP_SECONDS` late.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

SWEEP_SECONDS = 0.1


class Expired(Exception):
    """The block did not finish before its deadline."""


class Deadlines:
    """The reads under way on one event loop and their deadlines (loop time)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._reads: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._sweep: asyncio.TimerHandle | None = None

    @contextlib.contextmanager
    def within(self, seconds: float) -> Iterator[None]:
        """Raise `Expired` if the block has not finished `seconds` from now."""
        task = asyncio.current_task(self.loop)
        assert task is not None, "deadlines are kept for tasks"
        self._reads[task] = self.loop.time() + seconds
        if self._sweep is None:
            self._sweep = self.loop.call_later(SWEEP_SECONDS, self._cut_off)
        try:
            yield
        except asyncio.CancelledError:
            if task not in self._expired:
                raise
            task.uncancel()
            raise Expired from None
        finally:
            self._reads.pop(task, None)
            self._expired.discard(task)  # whether the cut-off was taken above or came as it ended

    def _cut_off(self) -> None:
        now = self.loop.time()
        for task, deadline in list(self._reads.items()):
            if deadline <= now:
                del self._reads[task]
                self._expired.add(task)
                task.cancel()
        self._sweep = self.loop.call_later(SWEEP_SECONDS, self._cut_off) if self._reads else None


_by_loop: dict[asyncio.AbstractEventLoop, Deadlines] = {}


def deadlines() -> Deadlines:
    """The deadlines of the running event loop."""
    loop = asyncio.get_running_loop()
    found = _by_loop.get(loop)
    if found is None:
        for old in [each for each in _by_loop if each.is_closed()]:
            del _by_loop[old]
        found = _by_loop[loop] = Deadlines(loop)
    return found
