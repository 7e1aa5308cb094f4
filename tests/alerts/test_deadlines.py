"""Body-read deadlines: one sweep per event loop cuts off the reads past their deadline."""

from __future__ import annotations

import asyncio

import pytest

from app.api import deadlines as module
from app.api.deadlines import Deadlines, Expired, deadlines


def test_a_block_that_ends_in_time_is_left_alone_and_the_sweep_stops() -> None:
    async def main() -> Deadlines:
        with deadlines().within(0.05):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # past the deadline: nothing cancels the task any more
        return deadlines()

    kept = asyncio.run(main())
    assert kept._reads == {} and kept._sweep is None


def test_a_block_past_its_deadline_is_cut_off_never_early() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(Expired), deadlines().within(0.2):
            await asyncio.Event().wait()  # a body that never comes
        elapsed = loop.time() - started
        await asyncio.sleep(0)  # the task is not left cancelled
        return elapsed

    elapsed = asyncio.run(main())
    assert (
        0.2 <= elapsed < 0.2 + module.SWEEP_SECONDS + 1.0
    )  # never early; late by a sweep (and a busy machine)


def test_only_the_late_reads_are_cut_off() -> None:
    async def read(seconds: float, takes: float) -> str:
        try:
            with deadlines().within(seconds):
                await asyncio.sleep(takes)
        except Expired:
            return "cut off"
        return "read"

    async def main() -> list[str]:
        return list(await asyncio.gather(read(1.0, 0.01), read(0.15, 5), read(2.0, 0.3), read(0.05, 5)))

    assert asyncio.run(main()) == ["read", "cut off", "read", "cut off"]


def test_a_cancellation_from_elsewhere_is_not_taken_for_a_deadline() -> None:
    async def main() -> None:
        async def reading() -> None:
            with deadlines().within(10):
                await asyncio.Event().wait()

        task = asyncio.create_task(reading())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
