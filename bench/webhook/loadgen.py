"""The asyncio load generators on raw keep-alive HTTP/1.1 streams: a closed loop (the fallback
when wrk is missing) and a paced open loop (always), with the result type both generators give."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .common import HOST, WEBHOOK_PATH, clock, percentile

T = TypeVar("T")


@dataclass
class LoadResult:
    requests: int  # answers received in the measured window
    seconds: float
    non2xx: int
    errors: int  # connect/read/write errors and timeouts
    p50_ms: float
    p99_ms: float
    next_offset: int
    first_error: str = ""
    send_lag_p99_ms: float | None = None  # paced runs: how late the generator sent
    peak_connections: int = 0  # paced runs: connections open at most

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)
IDLE_REUSE_SECONDS = 2.0
NETWORK_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def http_request(body: bytes, port: int, path: str = WEBHOOK_PATH) -> bytes:
    """A POST of `body` as Alertmanager sends it, ready to write to a keep-alive connection."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: Alertmanager/0.25.0\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def http_requests(bodies: Sequence[bytes], port: int) -> list[bytes]:
    return [http_request(body, port) for body in bodies]


async def connect(port: int) -> Connection:
    # Answers can be large (an incident with every alert): no line-length limit gets in the way.
    return await asyncio.open_connection(HOST, port, limit=1 << 24)


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """Send one request and read its answer (status, body)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    match = _CONTENT_LENGTH.search(head)
    if match is None:
        raise ValueError("answer without Content-Length")
    return status, await reader.readexactly(int(match.group(1)))


class Tally:
    """What one generator run saw; latencies in milliseconds."""

    def __init__(self, offset: int) -> None:
        self.latencies: list[float] = []
        self.lags: list[float] = []
        self.non2xx = self.errors = 0
        self.next = offset
        self.first_error = ""
        self.connections = self.peak_connections = 0

    def error(self, exc: BaseException) -> None:
        self.errors += 1
        self.first_error = self.first_error or f"{type(exc).__name__}: {exc}"

    def answer(self, status: int, body: bytes, latency: float) -> None:
        self.latencies.append(latency * 1e3)
        if not 200 <= status <= 299:
            self.non2xx += 1
            self.first_error = self.first_error or f"{status} {body[:200].decode(errors='replace')}"

    def result(self, seconds: float, paced: bool) -> LoadResult:
        self.latencies.sort()
        self.lags.sort()
        return LoadResult(
            requests=len(self.latencies),
            seconds=seconds,
            non2xx=self.non2xx,
            errors=self.errors,
            p50_ms=percentile(self.latencies, 50),
            p99_ms=percentile(self.latencies, 99),
            next_offset=self.next,
            first_error=self.first_error,
            send_lag_p99_ms=percentile(self.lags, 99) if paced else None,
            peak_connections=self.peak_connections,
        )


async def _closed_loop(
    port: int, requests: Sequence[bytes], tally: Tally, connections: int, seconds: float
) -> None:
    """Each connection sends its next request as soon as it has the answer to the last one."""
    stop = clock() + seconds
    counter = itertools.count(tally.next)

    async def worker() -> None:
        conn: Connection | None = None
        try:
            while clock() < stop:
                index = next(counter)
                tally.next = max(tally.next, index + 1)
                sent = clock()
                try:
                    if conn is None:
                        conn = await connect(port)
                    status, body = await exchange(*conn, requests[index % len(requests)])
                except NETWORK_ERRORS as exc:
                    tally.error(exc)
                    if conn is not None:
                        conn[1].close()
                    conn = None
                    continue
                tally.answer(status, body, clock() - sent)
        finally:
            if conn is not None:
                conn[1].close()

    await asyncio.gather(*(worker() for _ in range(connections)))


async def _open_loop(
    port: int, requests: Sequence[bytes], tally: Tally, rate: float, seconds: float, max_connections: int
) -> None:
    """Requests leave on a fixed schedule whatever the answers do, on idle keep-alive connections
    or new ones (up to max_connections). Latency counts from the scheduled send time, so a server
    that falls behind is charged for the queueing it causes; the send lag shows how late the
    generator itself was."""
    idle: list[tuple[Connection, float]] = []  # with the time each was last used
    slots = asyncio.Semaphore(max_connections)

    def reuse() -> Connection | None:
        # Like any HTTP client: never reuse a connection the server may have closed as idle
        # (uvicorn's keep-alive timeout is 5 s) or has closed already.
        while idle:
            conn, used = idle.pop()
            if clock() - used < IDLE_REUSE_SECONDS and not conn[0].at_eof():
                return conn
            conn[1].close()
            tally.connections -= 1
        return None

    async def one(index: int, due: float) -> None:
        async with slots:
            try:
                conn = reuse()
                if conn is None:
                    conn = await connect(port)
                    tally.connections += 1
                    tally.peak_connections = max(tally.peak_connections, tally.connections)
            except OSError as exc:
                tally.error(exc)
                return
            tally.lags.append((clock() - due) * 1e3)
            try:
                status, body = await exchange(*conn, requests[index % len(requests)])
            except NETWORK_ERRORS as exc:
                tally.error(exc)
                conn[1].close()
                tally.connections -= 1
                return
            tally.answer(status, body, clock() - due)
            idle.append((conn, clock()))

    for _ in range(min(16, max_connections)):  # a few warm connections, as a client would have
        with contextlib.suppress(OSError):
            idle.append((await connect(port), clock()))
            tally.connections += 1
    tally.peak_connections = tally.connections
    tasks: set[asyncio.Task[None]] = set()
    start = clock() + 0.01
    for n in itertools.count():
        due = start + n / rate
        if due >= start + seconds:
            break
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(tally.next, due))
        tally.next += 1
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    for (_, writer), _ in idle:
        writer.close()


async def _python_load(
    port: int, requests: Sequence[bytes], offset: int, connections: int, seconds: float, rate: float | None
) -> LoadResult:
    tally = Tally(offset)
    if rate is None:
        await _closed_loop(port, requests, tally, connections, seconds)
    else:
        await _open_loop(port, requests, tally, rate, seconds, connections)
    return tally.result(seconds, paced=rate is not None)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop when it is installed (as the servers do), else on asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def run_python(
    port: int,
    requests: Sequence[bytes],
    offset: int,
    connections: int,
    seconds: float,
    rate: float | None = None,
) -> LoadResult:
    """A closed-loop run on `connections` connections, or with `rate` an open loop at that many
    requests per second on up to `connections` connections."""
    return run_async(_python_load(port, requests, offset, connections, seconds, rate))
