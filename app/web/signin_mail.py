"""Deliver a sign-in link to a person's own contacts: email, webhook or Slack.

Runs after the answer was sent (a background task), so the login page answers alike whether
the id exists or not, and no delivery happens inside a transaction.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any

from app.db import utcnow
from app.oncall.schemas import EmailContact, LogContact, PersonSpec, SlackContact, WebhookContact
from app.paging.message import Message
from app.paging.notifiers.base import DeliveryError

if TYPE_CHECKING:
    from app.api.deps import Runtime

log = logging.getLogger("incident_bridge.web")
SUBJECT = "Your sign-in link for incident-bridge"


def _text(url: str) -> str:
    return (
        "Someone (hopefully you) asked to sign in to incident-bridge.\n\n"
        f"Sign in: {url}\n\n"
        "The link works once, for 15 minutes. If you did not ask for it, ignore this message.\n"
    )


def _email(rt: Runtime, address: str, url: str) -> None:
    smtp = rt.settings.smtp
    if not smtp.host:
        raise DeliveryError("email is not configured: set BRIDGE_SMTP_HOST", retryable=False)
    mail = EmailMessage()
    mail["Subject"] = SUBJECT
    mail["From"] = smtp.sender
    mail["To"] = address
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain="incident-bridge")
    mail.set_content(_text(url))
    factory = smtplib.SMTP_SSL if smtp.use_ssl else smtplib.SMTP
    with factory(smtp.host, smtp.port, timeout=smtp.timeout) as client:
        if smtp.starttls and not smtp.use_ssl:
            client.starttls(context=ssl.create_default_context())
        if smtp.username:
            client.login(smtp.username, smtp.password.get_secret_value() if smtp.password else "")
        client.send_message(mail)


def _message(person: str, url: str) -> Message:
    now = utcnow()
    return Message(
        delivery_id=f"sign-in-{now.timestamp():.0f}",
        kind="sign_in",
        recipient=person,
        incident_id=0,
        incident_key="sign-in",
        title=SUBJECT,
        status="sign-in",
        severity="",
        type="sign_in",
        model=None,
        owner=None,
        opened_at=now,
        urgency="low",
        links={"view": url},
        note=_text(url),
    )


CHAT = (WebhookContact, SlackContact, LogContact)  # contacts a sign-in link goes to as a message


def send_sign_in_link(rt: Runtime, person: PersonSpec, url: str) -> None:
    """Send `url` to every email, webhook, Slack and log contact of `person`; failures are logged."""
    notifiers: dict[str, Any] = rt.channels() if rt.channels is not None else {}
    for contact in person.contact:
        try:
            if isinstance(contact, EmailContact):
                _email(rt, contact.address, url)
            elif isinstance(contact, CHAT) and contact.type in notifiers:
                notifiers[contact.type].send(contact, _message(person.id, url))
        except (DeliveryError, OSError, smtplib.SMTPException) as exc:
            # The reason only: a contact's address or webhook URL is a secret of its own.
            log.warning(
                "sign-in link to %s by %s not delivered: %s", person.id, contact.type, type(exc).__name__
            )
