"""A local sink for the pages incident-bridge sends while it is benchmarked.

The service pages on-call people when incidents open (Slack, PagerDuty, webhooks, email). The
benchmark points every such destination at this process, on 127.0.0.1, so the paging work is
part of the measurement and nothing leaves the machine. It answers every HTTP request with 202
and accepts every SMTP message, and counts them:

    .venv/bin/python bench/webhook/notification_sink.py --http-port 9301 --smtp-port 9302
    curl http://127.0.0.1:9301/-/count     # {"http": 12, "smtp": 3}

It also notes what each page is (time.time(), the clock the benchmark reads too), for the
page-latency and storm measurements: the incident it is about, its channel, its kind (page,
severity, acknowledge, resolve, communication... read from the webhook's `event`, the subject
line of Slack and email, PagerDuty's event_action), the contact it went to (the request path,
which keeps the original host and path, or the email recipient) and its delivery id:

    curl 'http://127.0.0.1:9301/-/arrivals?since=1790000000.5'
    # {"now": ..., "arrivals": [[1790000000.61, 42, "webhook", "page", "/127.0.0.1/alice", "d1b2..."]]}
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import re
import time
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any
from urllib.parse import parse_qs, urlsplit

try:
    from app.paging.message import SUBJECT_PREFIX
except ImportError:  # the sink still runs when the service's code does not import
    SUBJECT_PREFIX = {"page": ""}

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)
# The signed action links of a page (/a/<base64 JSON claims>.<mac>) name the incident as "i".
_ACTION_LINK = re.compile(r"/a/([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+")
_REFERENCES = re.compile(r"<incident-(\d+)@")
_ACCEPTED = b'{"status":"success","message":"Event processed","ok":true}'
counts = {"http": 0, "smtp": 0}
# (time.time(), incident id, channel, kind, contact, delivery id)
Arrival = tuple[float, int | None, str, str, str, str]
arrivals: list[Arrival] = []


def _response(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _link_incident(text: str) -> int | None:
    match = _ACTION_LINK.search(text)
    if match is None:
        return None
    token = match.group(1)
    try:
        claims = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(claims["i"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None


def kind_of_subject(subject: str) -> str:
    """The notification kind a subject line (email, Slack header) starts with; a page has none."""
    for kind, prefix in SUBJECT_PREFIX.items():
        if prefix and subject.startswith(prefix):
            return kind
    return "page" if subject.startswith("[") else "other"


def page_of(body: bytes) -> tuple[int | None, str, str, str]:
    """The incident an HTTP page is about, its channel, kind and delivery id."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None, "other", "other", ""
    if not isinstance(data, dict):
        return None, "other", "other", ""
    if isinstance(data.get("incident"), dict):  # generic webhook
        return data["incident"].get("id"), "webhook", str(data.get("event")), str(data.get("delivery_id"))
    if "routing_key" in data:  # PagerDuty Events API v2: every waking kind is a trigger
        details = (data.get("payload") or {}).get("custom_details") or {}
        incident = details.get("incident_id") or _link_incident(body.decode(errors="replace"))
        action = data.get("event_action")
        return incident, "pagerduty", "page" if action == "trigger" else str(action), ""
    if "blocks" in data:  # Slack: the incident is only in the action links
        blocks = data.get("blocks") or [{}]
        header = ((blocks[0] or {}).get("text") or {}).get("text", "")
        return _link_incident(body.decode(errors="replace")), "slack", kind_of_subject(header), ""
    return None, "other", "other", ""


def mail_of(data: bytes, recipients: list[str]) -> Arrival:
    """What an email page is: incident from its References, kind from its subject."""
    mail = BytesParser(policy=default_policy).parsebytes(data, headersonly=True)
    match = _REFERENCES.search(str(mail.get("References", "")))
    incident = int(match.group(1)) if match else None
    kind = kind_of_subject(str(mail.get("Subject", "")))
    delivery = str(mail.get("X-Incident-Bridge-Delivery", ""))
    return time.time(), incident, "email", kind, ",".join(recipients), delivery


def _arrivals_since(target: bytes) -> bytes:
    query = parse_qs(urlsplit(target.decode()).query)
    since = float(query.get("since", ["0"])[0])
    return json.dumps({"now": time.time(), "arrivals": [a for a in arrivals if a[0] >= since]}).encode()


async def serve_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            match = _CONTENT_LENGTH.search(head)
            body = await reader.readexactly(int(match.group(1))) if match else b""
            arrived = time.time()
            method, target = head.split(b" ", 2)[:2]
            if method == b"GET" and target == b"/-/count":
                writer.write(_response("200 OK", json.dumps(counts).encode()))
            elif method == b"GET" and target.startswith(b"/-/arrivals"):
                writer.write(_response("200 OK", _arrivals_since(target)))
            elif method == b"GET" and target == b"/readyz":
                writer.write(_response("200 OK", b'{"ready":true}'))
            else:
                counts["http"] += 1
                incident, channel, kind, delivery = page_of(body)
                path = urlsplit(target.decode(errors="replace")).path
                arrivals.append((arrived, incident, channel, kind, path, delivery))
                writer.write(_response("202 Accepted", _ACCEPTED))
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def serve_smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Just enough SMTP for smtplib: greet, accept every command, swallow DATA."""
    writer.write(b"220 bench-sink ESMTP\r\n")
    recipients: list[str] = []
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-bench-sink\r\n250 8BITMIME\r\n")
            elif verb == b"RCPT":
                recipients.append(line[8:].strip().strip(b"<>").decode(errors="replace"))
                writer.write(b"250 ok\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                data = await reader.readuntil(b"\r\n.\r\n")
                counts["smtp"] += 1
                try:
                    arrivals.append(mail_of(data, recipients))
                except (ValueError, TypeError):
                    arrivals.append((time.time(), None, "email", "other", ",".join(recipients), ""))
                recipients = []
                writer.write(b"250 accepted\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(http_port: int, smtp_port: int) -> None:
    http = await asyncio.start_server(serve_http, "127.0.0.1", http_port, limit=1 << 20)
    smtp = await asyncio.start_server(serve_smtp, "127.0.0.1", smtp_port, limit=1 << 22)
    async with http, smtp:
        await asyncio.gather(http.serve_forever(), smtp.serve_forever())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(main(args.http_port, args.smtp_port))
