"""A size limit on request bodies outside the webhook (which has its own, configurable one)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_MAX_BODY_BYTES = 1024 * 1024
UNLIMITED_PREFIXES = ("/webhooks/",)  # bounded by BRIDGE_MAX_BODY_BYTES in the webhook itself


class BodyLimit:
    """Refuse (413) a body larger than `limit`, by its Content-Length or while it streams."""

    def __init__(self, app: ASGIApp, limit: int = API_MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNLIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _too_large(send, self.limit)
                return
        seen, answered = 0, False

        async def counted() -> Message:
            nonlocal seen, answered
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit and not answered:
                    # Answer 413 ourselves and tell the app the client left: whatever it answers
                    # to that is dropped below.
                    answered = True
                    await _too_large(send, self.limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not answered:
                await send(message)

        await self.app(scope, counted, guarded_send)


async def _too_large(send: Send, limit: int) -> None:
    body = b'{"error":"payload_too_large","detail":"the body exceeds the limit of %d bytes"}' % limit
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
