"""A local sink for the pages incident-bridge sends while it is benchmarked.

The service pages on-call people when incidents open (Slack, PagerDuty, webhooks, email).
bench/webhook_bench.py points every such destination at this process, on 127.0.0.1, so the
paging work is part of the measurement and nothing leaves the machine. It answers every HTTP
request with 202 and accepts every SMTP message, and counts them:

    python bench/notification_sink.py --http-port 9301 --smtp-port 9302
    curl http://127.0.0.1:9301/-/count     # {"http": 12, "smtp": 3}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)
_ACCEPTED = b'{"status":"success","message":"Event processed","ok":true}'
counts = {"http": 0, "smtp": 0}


def _response(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def serve_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            match = _CONTENT_LENGTH.search(head)
            if match:
                await reader.readexactly(int(match.group(1)))
            if head.startswith(b"GET /-/count "):
                writer.write(_response("200 OK", json.dumps(counts).encode()))
            elif head.startswith(b"GET /readyz "):
                writer.write(_response("200 OK", b'{"ready":true}'))
            else:
                counts["http"] += 1
                writer.write(_response("202 Accepted", _ACCEPTED))
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve_smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Just enough SMTP for smtplib: greet, accept every command, swallow DATA."""
    writer.write(b"220 bench-sink ESMTP\r\n")
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-bench-sink\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                await reader.readuntil(b"\r\n.\r\n")
                counts["smtp"] += 1
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
