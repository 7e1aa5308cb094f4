"""Email keeps its SMTP connection between pages, over a real in-process SMTP server: one
connection for a burst, a fresh one when the kept one died, sat idle too long or failed an
exchange, and every mail delivered exactly once."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from app.oncall.schemas import EmailContact
from app.paging.notifiers import DeliveryError
from app.paging.notifiers import email as email_channel
from tests.paging.test_notifiers import make_message, smtp_settings
from tests.support import free_port


class Server:
    """Keeps each accepted mail with the client address (host, port) of its connection."""

    def __init__(self) -> None:
        self.mails: list[tuple[tuple[str, int], str]] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.mails.append((session.peer, envelope.rcpt_tos[0]))
        return "250 Message accepted for delivery"

    def connections(self) -> int:
        return len({peer for peer, _ in self.mails})


def started(server: Server, port: int) -> Controller:
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def server(port: int) -> Iterator[Server]:
    server = Server()
    controller = started(server, port)
    yield server
    controller.stop()


def send(notifier: email_channel.EmailNotifier, address: str) -> None:
    notifier.send(EmailContact(type="email", address=address), make_message())


def test_a_burst_of_pages_goes_over_one_connection(server: Server, port: int) -> None:
    notifier = email_channel.EmailNotifier(smtp_settings(port))
    for i in range(5):
        send(notifier, f"person{i}@example.com")
    assert [to for _, to in server.mails] == [f"person{i}@example.com" for i in range(5)]
    assert server.connections() == 1


def test_each_sending_thread_has_its_own_connection(server: Server, port: int) -> None:
    notifier = email_channel.EmailNotifier(smtp_settings(port))

    def two() -> None:
        send(notifier, "a@example.com")
        send(notifier, "b@example.com")

    threads = [threading.Thread(target=two) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(server.mails) == 4
    assert server.connections() == 2


def test_a_connection_the_server_dropped_is_replaced_and_the_mail_sent_once(port: int) -> None:
    notifier = email_channel.EmailNotifier(smtp_settings(port))
    first = Server()
    controller = started(first, port)
    send(notifier, "before@example.com")
    controller.stop()  # the kept connection dies with it
    second = Server()
    controller = started(second, port)
    try:
        send(notifier, "after@example.com")
        send(notifier, "again@example.com")
    finally:
        controller.stop()
    assert [to for _, to in first.mails] == ["before@example.com"]
    assert [to for _, to in second.mails] == ["after@example.com", "again@example.com"]
    assert second.connections() == 1


def test_a_connection_idle_too_long_is_not_reused(
    server: Server, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier = email_channel.EmailNotifier(smtp_settings(port))
    monkeypatch.setattr(email_channel, "REUSE_IDLE_SECONDS", 0.0)
    send(notifier, "a@example.com")
    send(notifier, "b@example.com")
    assert len(server.mails) == 2
    assert server.connections() == 2


def test_a_failed_exchange_closes_its_connection(server: Server, port: int) -> None:
    notifier = email_channel.EmailNotifier(smtp_settings(port))
    send(notifier, "a@example.com")
    with pytest.raises(DeliveryError) as excinfo:
        send(notifier, "nobody@example.com")
    assert excinfo.value.retryable is False
    send(notifier, "b@example.com")
    assert [to for _, to in server.mails] == ["a@example.com", "b@example.com"]
    assert server.connections() == 2
