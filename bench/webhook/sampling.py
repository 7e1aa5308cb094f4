"""CPU and memory of the processes under test, read from /proc.

A server is its process and every process below it (`incident-bridge serve` may start worker
processes): CPU and resident memory are summed over that tree, and shown per process where it
matters.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass, field

TICK = os.sysconf("SC_CLK_TCK")


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _stat_fields(path: str) -> list[str]:
    data = _read(path)
    return data[data.rindex(")") + 2 :].split()


def _cpu(path: str) -> float:
    fields = _stat_fields(path)
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def descendants(pid: int) -> list[int]:
    """The processes below `pid` (children, their children...), found through /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            parent = int(_stat_fields(f"/proc/{entry}/stat")[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return sorted(found)


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of each PostgreSQL process, by pid."""
    cpu = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if _read(f"/proc/{entry}/comm").strip() != "postgres":
                continue
            cpu[int(entry)] = _cpu(f"/proc/{entry}/stat")
        except (OSError, ValueError, IndexError):
            continue
    return cpu


def host_busy() -> float:
    values = [int(x) for x in _read("/proc/stat").splitlines()[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / TICK  # everything but idle and iowait


def settle(quiet_share: float = 0.25, window: float = 0.5, limit: float = 15.0) -> float:
    """Wait until the machine is quiet: less than `quiet_share` of one core busy over `window`
    seconds, or `limit` seconds have passed. Returns the seconds waited."""
    started = time.monotonic()
    while True:
        before, at = host_busy(), time.monotonic()
        time.sleep(window)
        busy = (host_busy() - before) / (time.monotonic() - at)
        waited = time.monotonic() - started
        if busy < quiet_share or waited >= limit:
            return waited


@dataclass
class CpuSample:
    wall: float
    server: float  # the server process, all its threads
    server_main: float  # its main thread: the event loop
    children: dict[int, float]  # processes below the server, by pid
    postgres: dict[int, float]
    host: float
    generator: float  # this process and the generators it started (wrk), reaped ones included

    @classmethod
    def take(cls, pid: int, with_postgres: bool) -> CpuSample:
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        me = resource.getrusage(resource.RUSAGE_SELF)
        children = {}
        for child in descendants(pid):
            try:
                children[child] = _cpu(f"/proc/{child}/stat")
            except (OSError, ValueError, IndexError):
                continue
        return cls(
            wall=time.monotonic(),
            server=_cpu(f"/proc/{pid}/stat"),
            server_main=_cpu(f"/proc/{pid}/task/{pid}/stat"),
            children=children,
            postgres=postgres_cpu() if with_postgres else {},
            host=host_busy(),
            generator=reaped.ru_utime + reaped.ru_stime + me.ru_utime + me.ru_stime,
        )


def cpu_percent(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """CPU % of each part between two samples (100 = one core busy). Processes that exited in
    between are lost; those that started count from zero."""
    wall = after.wall - before.wall

    def pct(a: float, b: float) -> float:
        return 100 * (a - b) / wall if wall > 0 else 0.0

    def since(now: dict[int, float], then: dict[int, float]) -> float:
        return sum(v - then.get(pid, 0.0) for pid, v in now.items())

    return {
        "loop": pct(after.server_main, before.server_main),
        "other": pct(after.server - after.server_main, before.server - before.server_main),
        "children": pct(since(after.children, before.children), 0.0),
        "pg": pct(since(after.postgres, before.postgres), 0.0),
        "gen": pct(after.generator, before.generator),
        "host": pct(after.host, before.host),
    }


@dataclass(frozen=True)
class ProcessMemory:
    pid: int
    name: str
    rss_kb: int  # VmRSS now
    hwm_kb: int  # VmHWM: the most it was ever resident
    # Pss: resident pages, each shared page divided among the processes sharing it (a worker
    # forked from serve shares its imported modules until they are written to).
    pss_kb: int = 0


def _name(pid: int) -> str:
    try:
        args = _read(f"/proc/{pid}/cmdline").split("\0")
    except OSError:
        return "?"
    words = [os.path.basename(a) if a.startswith("/") else a for a in args if a]
    if "multiprocessing" in " ".join(words):
        words = [*words[:1], "(multiprocessing child)"]
    elif len(words) > 1 and words[0].startswith("python"):
        words = words[1:]  # `python .venv/bin/incident-bridge serve` reads as the command it runs
    text = " ".join(words)
    return text if len(text) <= 60 else text[:57] + "..."


def _status_kb(text: str, key: str) -> int:
    for line in text.splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return 0


def tree_memory(pid: int) -> list[ProcessMemory]:
    """Resident memory of `pid` and every process below it."""
    found = []
    for each in [pid, *descendants(pid)]:
        try:
            status = _read(f"/proc/{each}/status")
        except OSError:
            continue
        name = _name(each) if each == pid else f"child: {_name(each)}"  # a forked child keeps the command
        try:
            pss = _status_kb(_read(f"/proc/{each}/smaps_rollup"), "Pss:")
        except OSError:
            pss = 0
        found.append(
            ProcessMemory(each, name, _status_kb(status, "VmRSS:"), _status_kb(status, "VmHWM:"), pss)
        )
    return found


def total_mb(processes: list[ProcessMemory]) -> float:
    return sum(p.rss_kb for p in processes) / 1024


def total_pss_mb(processes: list[ProcessMemory]) -> float:
    """The processes' proportional set sizes summed: shared pages counted once in all."""
    return sum(p.pss_kb for p in processes) / 1024


def describe(processes: list[ProcessMemory]) -> str:
    return "; ".join(f"pid {p.pid} {p.name}: {p.rss_kb / 1024:.1f} MB" for p in processes)


@dataclass
class RssSampler:
    """Samples the summed RSS of a process tree every `interval` seconds in a thread of its own."""

    pid: int
    interval: float = 0.1
    peak_mb: float = 0.0
    at_peak: list[ProcessMemory] = field(default_factory=list)
    last: list[ProcessMemory] = field(default_factory=list)
    samples: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while True:
            processes = tree_memory(self.pid)
            self.samples += 1
            self.last = processes
            if processes and total_mb(processes) > self.peak_mb:
                self.peak_mb, self.at_peak = total_mb(processes), processes
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def hwm_mb(self) -> float:
        """The sum of each process's own high-water mark: an upper bound of the true peak."""
        return sum(p.hwm_kb for p in self.last) / 1024
