"""The venue's front door, as plain ASGI middleware: path normalisation, per-endpoint rate
limits with the venue's 429, a direct dispatch of the exact-path endpoints, and a guard that
turns any unexpected failure into the venue's 500 envelope instead of a bare traceback.

The direct dispatch is a dictionary lookup on (method, path) for the routes without path
parameters; everything else (``order/{id}``, the admin surface, a wrong method or path)
falls through to Starlette's router. Starlette's router tries every route in turn, which
was the largest single cost of a request in the REST benchmark.

Paths are matched case-insensitively and without a trailing slash, as the venue's ASP.NET
routing does (reference §1); the admin surface keeps its case.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_exchange import errors
from mock_exchange.ratelimit import Decision, RateLimiter
from mock_exchange.views import error_body

__all__ = ["VenueFrontDoor"]

log = logging.getLogger("mock_exchange.http")
ADMIN_PREFIX = "/__admin"

Endpoint = Callable[[Request], Awaitable[Response]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


def _json_response(status: int, body: Any, headers: list[tuple[bytes, bytes]]) -> list[Message]:
    payload = json.dumps(body, separators=(",", ":")).encode()
    return [
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        },
        {"type": "http.response.body", "body": payload},
    ]


def _normalised(scope: Scope) -> Scope:
    """The scope with its path as the venue matches it: lower case, no trailing slash."""
    path: str = scope["path"]
    normal = path.lower().rstrip("/") or "/"
    if normal == path:
        return scope
    return dict(scope, path=normal, raw_path=normal.encode())


def too_many_requests_body(decision: Decision) -> dict[str, Any]:
    assert decision.rule is not None
    period = decision.rule.period_text
    details = f"Quota exceeded. Maximum allowed: {decision.limit} per {period}."
    if decision.policy == "account":
        # The account variant's text is truncated in the reference; this ending is a guess.
        details += f" Please try again in {decision.retry_after_s} second(s)."
    return {
        "message": errors.TOO_MANY_REQUESTS.message,
        "success": False,
        "code": 429,
        "details": details,
        "limit": str(decision.limit),
        "period": period,
        "policy": decision.policy,
    }


class VenueFrontDoor:
    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        now: Callable[[], int],
        known_key: Callable[[str], bool],
        endpoints: Mapping[tuple[str, str], Endpoint] | None = None,
        error_handlers: Mapping[type[Exception], ErrorHandler] | None = None,
    ) -> None:
        """``endpoints`` maps (method, lower-case path) to a handler served directly;
        ``error_handlers`` turns the exceptions they raise into responses, as the app's
        exception handlers do for routed requests."""
        self.app = app
        self.limiter = limiter
        self.now = now
        self.known_key = known_key
        self.endpoints = dict(endpoints or {})
        self.error_handlers = tuple((error_handlers or {}).items())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = self.direct(scope)
        if found is not None:
            await self.serve_direct(found[0], found[1], receive, send)
            return
        if not scope["path"].startswith(ADMIN_PREFIX):
            scope = _normalised(scope)
            denied = self._rate_limit(scope) if self.limiter.enabled else None
            if denied is not None:
                for message in denied:
                    await send(message)
                return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:
                raise
            for message in _json_response(500, error_body(errors.INTERNAL_ERROR()), []):
                await send(message)

    def direct(self, scope: Scope) -> tuple[Endpoint, Scope] | None:
        """The endpoint this door serves itself for an HTTP request, with the request's
        normalised scope; ``None`` for what goes on to the router. Changes nothing."""
        path: str = scope["path"]
        if path.startswith(ADMIN_PREFIX):
            return None
        normal = path.lower().rstrip("/") or "/"
        endpoint = self.endpoints.get((scope["method"], normal))
        if endpoint is None:
            return None
        if normal != path:
            scope = dict(scope, path=normal, raw_path=normal.encode())
        return endpoint, scope

    async def serve_direct(
        self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Serve a request ``direct`` found: rate limit, endpoint, error handlers, answer.

        ``app.VenueApp`` enters here from the outside of the app's middleware, so this also
        stands in for the outermost layer, Starlette's ``ServerErrorMiddleware``: a failure
        before any answer was begun gets its plain-text 500, then rises. Beneath that
        layer (``__call__``) the same happens: the layer sees an answer already begun and
        lets the failure rise without a second one. Past the rate limit every failure is
        answered here, or is the connection's.
        """
        try:
            denied = self._rate_limit(scope) if self.limiter.enabled else None
        except Exception:
            await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
            raise
        if denied is not None:
            for message in denied:
                await send(message)
            return
        request = Request(scope, receive)
        try:
            try:
                response = await endpoint(request)
            except Exception as exc:
                handler = self._handler_for(exc)
                if handler is None:
                    raise
                response = await handler(request, exc)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            for message in _json_response(500, error_body(errors.INTERNAL_ERROR()), []):
                await send(message)
            return
        # Failures while sending are the connection's, not the request's: let them rise.
        if type(response).__call__ is not Response.__call__:
            await response(scope, receive, send)
            return
        # What ``Response.__call__`` sends for an HTTP request, without its frame.
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        )
        await send({"type": "http.response.body", "body": response.body})
        if response.background is not None:
            await response.background()

    def _handler_for(self, exc: Exception) -> ErrorHandler | None:
        for kind, handler in self.error_handlers:
            if isinstance(exc, kind):
                return handler
        return None

    def _rate_limit(self, scope: Scope) -> list[Message] | None:
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        account = None
        for name, value in scope["headers"]:
            if name == b"x-pck":
                key = value.decode("latin-1").strip()
                account = key if self.known_key(key) else None
                break
        decision = self.limiter.check(scope["method"], scope["path"], ip, account, self.now())
        if decision.allowed:
            return None
        headers = [(b"retry-after", str(decision.retry_after_s).encode())]
        return _json_response(429, too_many_requests_body(decision), headers)
