"""Email over SMTP: a text and an HTML part, headers that let mail clients thread a page."""

from __future__ import annotations

import smtplib
import ssl
import threading
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from app.config import SmtpSettings
from app.oncall.schemas import EmailContact
from app.paging.message import Message
from app.paging.notifiers.base import DeliveryError
from app.templating import environment
from app.vocabulary import WAKING_KINDS

TEMPLATES = environment(Path(__file__).parent.parent / "templates")


def build(message: Message, to: str, sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = " ".join(message.subject.split())  # a header is one line
    mail["From"] = sender
    mail["To"] = to
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(idstring=message.delivery_id, domain="incident-bridge")
    # Every message about one incident lands in one thread.
    mail["References"] = f"<incident-{message.incident_id}@incident-bridge>"
    mail["X-Incident-Bridge-Delivery"] = message.delivery_id
    if message.urgency == "high" and message.kind in WAKING_KINDS:
        mail["X-Priority"] = "1"
        mail["Importance"] = "high"
    mail.set_content(message.text())
    mail.add_alternative(TEMPLATES.get_template("email.html").render(m=message), subtype="html")
    return mail


# A connection that sat unused for longer is closed, not reused: relays drop idle sessions
# (RFC 5321 allows five minutes) and need not be held open between bursts of pages.
REUSE_IDLE_SECONDS = 30.0


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


class EmailNotifier:
    """Sends each message as one mail through the configured SMTP server.

    Each sending thread keeps its connection for the next mail (no new TCP, TLS and login for
    every page of a burst). A kept connection is checked with NOOP before it carries a mail, so
    a mail is only ever sent once, over a session known to be alive; a mail whose exchange
    fails closes its connection."""

    channel = "email"

    def __init__(self, smtp: SmtpSettings) -> None:
        self.smtp = smtp
        self._kept = threading.local()  # .held: (connection, when last used) of this thread

    def _connect(self) -> smtplib.SMTP:
        smtp = self.smtp
        assert smtp.host is not None
        factory = smtplib.SMTP_SSL if smtp.use_ssl else smtplib.SMTP
        client = factory(smtp.host, smtp.port, timeout=smtp.timeout)
        try:
            if smtp.starttls and not smtp.use_ssl:
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                password = smtp.password.get_secret_value() if smtp.password else ""
                client.login(smtp.username, password)
        except BaseException:
            client.close()
            raise
        return client

    def _connection(self) -> smtplib.SMTP:
        held: tuple[smtplib.SMTP, float] | None = getattr(self._kept, "held", None)
        self._kept.held = None
        if held is not None:
            client, used = held
            if time.monotonic() - used < REUSE_IDLE_SECONDS:
                try:
                    if client.noop()[0] == 250:
                        return client
                except (smtplib.SMTPException, OSError):
                    pass
            _close(client)
        return self._connect()

    def send(self, contact: EmailContact, message: Message) -> None:
        smtp = self.smtp
        if not smtp.host:
            raise DeliveryError("email is not configured: set BRIDGE_SMTP_HOST", retryable=False)
        mail = build(message, contact.address, smtp.sender)
        target = f"email to {message.recipient}"
        try:
            client = self._connection()
            try:
                client.send_message(mail)
            except BaseException:
                client.close()
                raise
            self._kept.held = (client, time.monotonic())
        except smtplib.SMTPRecipientsRefused as exc:
            # 4xx replies (mailbox busy, greylisting) are temporary, 5xx permanent (RFC 5321).
            temporary = all(code < 500 for code, _ in exc.recipients.values())
            raise DeliveryError(
                f"{target}: recipient refused: {exc.recipients}", retryable=temporary
            ) from exc
        except smtplib.SMTPResponseException as exc:
            # 5xx replies are permanent, 4xx temporary (RFC 5321).
            raise DeliveryError(
                f"{target}: SMTP {exc.smtp_code}: {exc.smtp_error!r}", retryable=exc.smtp_code < 500
            ) from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{target}: SMTP: {type(exc).__name__}: {exc}", retryable=True) from exc
