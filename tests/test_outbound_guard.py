"""The guards that keep every test on this machine can themselves fail a test."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.support import OutboundGuard, is_loopback, tripwire

OUTSIDE = "192.0.2.1"  # TEST-NET-1: never routed, so a leak would hang rather than page


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost", b"127.0.0.1"])
def test_loopback_hosts(host: str | bytes) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", [OUTSIDE, "hooks.slack.com", "events.pagerduty.com", "10.0.0.1", None])
def test_other_hosts(host: str | None) -> None:
    assert not is_loopback(host)


def test_the_in_process_guard_refuses_and_remembers(monkeypatch: pytest.MonkeyPatch) -> None:
    guard = OutboundGuard()
    guard.install(monkeypatch)  # on top of the autouse guard, which therefore sees nothing

    with pytest.raises(OSError, match="outside this machine"):
        socket.create_connection((OUTSIDE, 80), timeout=1)
    with pytest.raises(OSError, match="outside this machine"):
        socket.getaddrinfo("events.pagerduty.com", 443)
    with socket.socket() as sock, pytest.raises(OSError, match="outside this machine"):
        sock.connect_ex((OUTSIDE, 80))

    assert guard.blocked == [
        f"name lookup of {OUTSIDE!r}",  # create_connection resolves before it connects
        "name lookup of 'events.pagerduty.com'",
        f"connection to {(OUTSIDE, 80)!r}",
    ]
    with socket.socket() as server:  # loopback still works
        server.bind(("127.0.0.1", 0))
        server.listen()
        socket.create_connection(server.getsockname(), timeout=1).close()


def test_a_server_process_reaches_the_tripwire_not_the_internet() -> None:
    wire = tripwire()
    before = len(wire.requests)
    script = (
        "import httpx\n"
        "for url in ('https://hooks.slack.com/services/T0/B0/X', 'http://events.pagerduty.com/v2'):\n"
        "    try:\n"
        "        httpx.post(url, json={}, timeout=5)\n"
        "    except httpx.HTTPError:\n"
        "        pass\n"
    )
    env = {"PATH": "/usr/bin:/bin", **wire.environment()}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)

    caught = wire.requests[before:]
    del wire.requests[before:]  # expected here: the autouse check must not fail this test
    assert caught == ["CONNECT hooks.slack.com:443", "POST http://events.pagerduty.com/v2"]
