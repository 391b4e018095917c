"""The fault plan at the HTTP edge: plain ASGI middleware that asks the plan about each
request and makes the venue misbehave as it says (DESIGN.md, the fault vocabulary).

Outcomes replace the venue's answer:

* ``http_429``: the venue's 429 body with ``Retry-After``, naming the endpoint's quota as
  the rate limiter does (120 a minute where the venue's table has none); nothing applied.
* ``http_5xx_before``: nothing applied; a 500 carries the venue's error envelope, any other
  status the short HTML page a CDN gives (502, 503 and 504 come from the CDN in front of
  the venue, not from the API itself: a choice, UNCONFIRMED).
* ``http_5xx_after``: the request is applied, its answer thrown away, and the 5xx sent.
* ``timeout_after_apply``: the request is applied, then the answer is held until the
  firing's ``until_ms`` (or until the client goes away); a 504 page follows if the client
  is still there.
* ``maintenance_503``: the CDN's HTML maintenance page; nothing applied.

Additive faults ride along: ``latency`` waits before the request reaches the venue;
``malformed_row`` corrupts one row of the answer's list; ``visibility_lag`` and
``cancel_lag`` are carried out by the handlers, which find the firings in the request's
scope under ``FIRINGS``. Every firing is journalled as ``fault_fired``.

Decisions use the clock's own time, not the skewed venue time, so that a plan's windows
are wall (or virtual) time since the plan was loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_exchange import errors
from mock_exchange.faults import MAINTENANCE_HTML, Firing, corrupt_rows
from mock_exchange.middleware import too_many_requests_body
from mock_exchange.ratelimit import DEFAULT_RULES, Decision, RateLimiter, RateRule, endpoint_of
from mock_exchange.views import error_body

if TYPE_CHECKING:
    from mock_exchange.app import MockExchange

__all__ = ["FIRINGS", "FaultGate", "firings_of"]

FIRINGS = "mock_exchange.firings"
_ADMIN_PREFIX = "/__admin"

_CDN_PAGE = (
    "<!DOCTYPE html><html><head><title>{status} {reason}</title></head>"
    "<body><center><h1>{status} {reason}</h1></center><hr><center>cloudflare</center>"
    "</body></html>"
)
_REASONS = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}
# The quota a fault's 429 names on an endpoint the venue's rate table leaves out: the
# balances endpoint's 120 a minute per IP (a choice; the venue's is UNCONFIRMED).
_ANY_ENDPOINT = RateRule("GET", "*", 120, 60_000, 60_000, ("ip",))


def firings_of(scope: Scope, kind: str) -> list[Firing]:
    """The firings of ``kind`` for this request (handlers use it for the lag faults)."""
    found: list[Firing] | None = scope.get(FIRINGS)
    if not found:  # the usual case: asked on every order and cancel
        return []
    return [f for f in found if f.kind == kind]


def _messages(status: int, body: bytes, content_type: bytes, extra: list[Any]) -> list[Message]:
    return [
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        },
        {"type": "http.response.body", "body": body},
    ]


def _json(status: int, body: Any, extra: list[Any] | None = None) -> list[Message]:
    return _messages(status, orjson.dumps(body), b"application/json", extra or [])


def _html(status: int, page: str) -> list[Message]:
    return _messages(status, page.encode(), b"text/html; charset=utf-8", [])


def _cdn_page(status: int) -> str:
    return _CDN_PAGE.format(status=status, reason=_REASONS.get(status, "Error"))


def quota_exceeded(firing: Firing, method: str, path: str, limiter: RateLimiter) -> list[Message]:
    """``http_429``: the venue's own 429 body, naming the endpoint's quota as the rate
    limiter would, with the firing's ``Retry-After``."""
    key = (method.upper(), endpoint_of(path.partition("?")[0]))
    rule = next((r for r in DEFAULT_RULES if (r.method, r.endpoint) == key), _ANY_ENDPOINT)
    decision = Decision(False, rule, "ip", firing.retry_after_s, limiter.limit_of(rule))
    body = too_many_requests_body(decision)
    return _json(429, body, [(b"retry-after", str(firing.retry_after_s).encode())])


def error_messages(firing: Firing) -> list[Message]:
    """The answer an outcome fault other than ``http_429`` gives instead of the venue's."""
    if firing.kind == "maintenance_503":
        return _html(503, MAINTENANCE_HTML)
    if firing.kind == "timeout_after_apply":
        return _html(504, _cdn_page(504))
    if firing.status == 500:
        return _json(500, error_body(errors.INTERNAL_ERROR()))
    return _html(firing.status, _cdn_page(firing.status))


class _Captured:
    """The downstream answer, kept instead of sent."""

    def __init__(self) -> None:
        self.start: Message | None = None
        self.body = bytearray()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


def _rows_of(payload: Any) -> tuple[Any, str | None] | None:
    """Where the first non-empty list of objects in a venue answer is: (holder, key)."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        return payload, "data"
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
                return data, key
    return None


def malformed(body: bytes, firing: Firing) -> bytes:
    """``body`` with one row of its list corrupted; unchanged when it has no such list."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    where = _rows_of(payload)
    if where is None:
        return body
    holder, key = where
    holder[key], _ = corrupt_rows(holder[key], firing.row_key, firing.corruption)
    return orjson.dumps(payload)


class FaultGate:
    def __init__(self, app: ASGIApp, mock: MockExchange, clock_now: Callable[[], int]) -> None:
        self.app = app
        self.mock = mock
        self.clock_now = clock_now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults = self.mock.faults
        if (
            scope["type"] != "http"
            or not faults.plan.rules
            or scope["path"].startswith(_ADMIN_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        now = self.clock_now()
        account = self._account(scope)
        fired = faults.on_request(scope["method"], scope["path"], now, account)
        if not fired:
            await self.app(scope, receive, send)
            return
        for firing in fired:
            self.mock.journal.record(
                "fault_fired",
                self.mock.now(),
                rule=firing.rule,
                fault=firing.kind,
                counter=firing.counter,
                method=scope["method"],
                path=scope["path"],
                account=account,
            )
        scope = dict(scope)
        scope[FIRINGS] = fired
        for firing in fired:
            if firing.kind == "latency" and firing.delay_ms > 0:
                await self.mock.clock.sleep_ms(firing.delay_ms)
        outcome = next((f for f in fired if f.outcome), None)
        if outcome is None:
            await self._forward(scope, receive, send, fired)
        elif outcome.kind in ("http_5xx_after", "timeout_after_apply"):
            await self.app(scope, receive, _Captured().send)
            held = outcome.until_ms - self.clock_now()
            if outcome.kind == "timeout_after_apply" and not await self._hold(receive, held):
                return  # the client gave up: nobody to answer
            for message in error_messages(outcome):
                await send(message)
        elif outcome.kind == "http_429":
            limiter = self.mock.limiter
            for message in quota_exceeded(outcome, scope["method"], scope["path"], limiter):
                await send(message)
        else:
            for message in error_messages(outcome):
                await send(message)

    async def _forward(
        self, scope: Scope, receive: Receive, send: Send, fired: list[Firing]
    ) -> None:
        rows = next((f for f in fired if f.kind == "malformed_row"), None)
        if rows is None:
            await self.app(scope, receive, send)
            return
        captured = _Captured()
        await self.app(scope, receive, captured.send)
        if captured.start is None:
            return
        body = malformed(bytes(captured.body), rows)
        headers = [
            (name, value)
            for name, value in captured.start.get("headers", [])
            if name.lower() != b"content-length"
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**captured.start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _hold(self, receive: Receive, ms: int) -> bool:
        """Wait ``ms``; False as soon as the client disconnects."""
        held = asyncio.ensure_future(self.mock.clock.sleep_ms(ms))
        gone = asyncio.ensure_future(self._disconnected(receive))
        try:
            done, _ = await asyncio.wait({held, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (held, gone):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        return held in done and gone not in done

    @staticmethod
    async def _disconnected(receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    def _account(self, scope: Scope) -> str | None:
        for name, value in scope["headers"]:
            if name == b"x-pck":
                key = value.decode("latin-1").strip()
                return key if self.mock.is_account(key) else None
        return None
