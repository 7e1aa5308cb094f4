"""The app, with the Alertmanager webhook served ahead of the middleware stack.

A one-alert webhook's answer went through a dozen layers (error and telemetry middleware, body
limits, security headers, the router, the route's exception wrapper), each wrapping the calls in
and the messages out: together, more time than storing the alert. `BridgeApp` hands
`POST /webhooks/alertmanager` straight to the endpoint, with what those layers do for it kept:
the request id (`RequestIds`), and errors answered by the app's own exception handlers, a bug
logged and then raised to the server as the error middleware does. Every other request takes the
whole stack. The webhook sets no security headers (a machine reads it) and has its own body limit.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.logs import RequestIds

Endpoint = Callable[[Request], Awaitable[Response]]


class BridgeApp(FastAPI):
    """FastAPI, with one path (`serve_first`) answered without the middleware stack."""

    _first: tuple[str, Callable[[Scope, Receive, Send], Awaitable[None]]] | None = None

    def serve_first(self, path: str, endpoint: Endpoint) -> None:
        """Serve `POST path` with `endpoint`, ahead of the middleware stack."""

        async def answer(scope: Scope, receive: Receive, send: Send) -> None:
            request = Request(scope, receive, send)
            try:
                response = await endpoint(request)
            except Exception as exc:
                handler = self._handler(exc)
                if handler is None:
                    raise  # a bug: answered below, outside the request id's layer, as Starlette does
                response = await _called(handler, request, exc)
            await response(scope, receive, send)

        with_ids = RequestIds(answer)

        async def first(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await with_ids(scope, receive, send)
            except Exception as exc:
                bug = self.exception_handlers.get(Exception)
                if bug is not None:
                    response = await _called(bug, Request(scope, receive, send), exc)
                    with contextlib.suppress(RuntimeError):  # the answer had started: it stays cut off
                        await response(scope, receive, send)
                raise  # as the error middleware does: the server logs it and ends the connection

        self._first = (path, first)

    def _handler(self, exc: Exception) -> Callable[[Request, Exception], object] | None:
        """The app's handler for this exception, unless that is the one for every bug."""
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None
            handler = self.exception_handlers.get(cls)
            if handler is not None:
                return handler
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        first = self._first
        if (
            first is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == first[0]
        ):
            if self.root_path:
                scope["root_path"] = self.root_path
            scope["app"] = self
            await first[1](scope, receive, send)
            return
        await super().__call__(scope, receive, send)


async def _called(handler: Callable[..., object], request: Request, exc: Exception) -> Response:
    response = handler(request, exc)
    if inspect.isawaitable(response):
        response = await response
    assert isinstance(response, Response)
    return response
