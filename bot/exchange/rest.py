"""The bot's one REST client for BTCTurk, over an injected ``httpx2.AsyncClient``.

Every call goes the same way:

1. wait for the shared ``RateBudget`` (the venue's table with a margin);
2. for a signed call, resync the clock offset when it is due, then stamp: reads with
   ``StampSource.stamp``, writes with ``write_stamp``, which halts them (``ClockUntrusted``)
   while the offset is beyond tolerance;
3. send, translating httpx2's exceptions here and nowhere else: a connection that never
   opened is ``NotSent``, anything after the request may have left is ``TransportError``;
4. classify the answer (``schemas.classify_response``), feeding a 429's ``Retry-After`` back
   into the budget;
5. decide with ``retry.classify``: reads retry with seeded full-jitter backoff within the
   ``RetryPolicy``; writes (submit, cancel) never retry after anything that may have reached
   the venue: they raise ``Uncertain`` with the client order id, for the lifecycle to
   resolve. A write refused with 429, or never sent, is retried like a read.

An ``Unauthorized - Invalid Nonce`` on a read resyncs the clock once and tries again.
``cancel`` returns when the venue has *accepted* the request (its 200 means "requested",
reference §5.6); the order leaves the book later, as websocket 452 or a status read shows.

Time is injected: ``now_ms`` for stamps and budgets, ``sleep`` for waits, and ``deadline``
for the per-request timeout, so the simulation harness runs all three on a virtual clock.
Nothing logged here carries a header, a stamp's signature or the secret.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import httpx2

from bot.core.clock import OffsetEstimator, Sample, StampSource
from bot.core.ratelimit import RateBudget, endpoint_of
from bot.core.retry import Action, Backoff, RetryPolicy, classify
from bot.core.types import (
    Balance,
    Fill,
    OrderBook,
    OrderMethod,
    PairRules,
    PublicTrade,
    Side,
    SubmitAck,
    Ticker,
    VenueOrder,
)
from bot.errors import (
    AuthFailed,
    BotError,
    ConfigError,
    NotSent,
    ProtocolError,
    RateLimited,
    TransportError,
    Uncertain,
)
from bot.exchange import schemas
from bot.exchange.schemas import Parsed, RequestKind
from bot.exchange.signing import Credentials, auth_headers

__all__ = ["OrderRequest", "RestClient", "RestMetrics", "wait_for_deadline"]

log = logging.getLogger("bot.exchange.rest")

T = TypeVar("T")
Deadline = Callable[[float, Awaitable[httpx2.Response]], Awaitable[httpx2.Response]]


async def wait_for_deadline(seconds: float, request: Awaitable[httpx2.Response]) -> httpx2.Response:
    """The live per-request timeout, on the event loop's clock."""
    return await asyncio.wait_for(request, seconds)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What the lifecycle asks to place. ``client_id`` is written ahead, before sending."""

    pair: str
    side: Side
    method: OrderMethod
    quantity: Decimal  # base; quote for a market buy (reference §5.5)
    client_id: str
    price: Decimal | None = None
    stop_price: Decimal | None = None

    def body(self) -> dict[str, str]:
        body = {
            "pairSymbol": self.pair,
            "orderType": self.side.value,
            "orderMethod": self.method.value,
            "quantity": format(self.quantity, "f"),
            "newOrderClientId": self.client_id,
        }
        if self.price is not None:
            body["price"] = format(self.price, "f")
        if self.stop_price is not None:
            body["stopPrice"] = format(self.stop_price, "f")
        return body


@dataclass
class RestMetrics:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    uncertain: int = 0
    clock_syncs: int = 0
    clock_alerts: int = 0
    budget_waits: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)


class RestClient:
    def __init__(
        self,
        http: httpx2.AsyncClient,
        *,
        credentials: Credentials | None,
        budget: RateBudget,
        stamps: StampSource,
        now_ms: Callable[[], int],
        sleep: Callable[[float], Awaitable[None]],
        backoff: Backoff,
        policy: RetryPolicy | None = None,
        timeout_s: float = 10.0,
        deadline: Deadline = wait_for_deadline,
        clock_samples: int = 3,
    ) -> None:
        self.http = http
        self.credentials = credentials
        self.budget = budget
        self.stamps = stamps
        self.now_ms = now_ms
        self.sleep = sleep
        self.backoff = backoff
        self.policy = policy or RetryPolicy()
        self.timeout_s = timeout_s
        self.deadline = deadline
        self.clock_samples = clock_samples
        self.metrics = RestMetrics()
        # Told of every request: (endpoint, seconds, HTTP status or None); the app's metrics.
        self.observer: Callable[[str, float, int | None], None] | None = None

    @property
    def estimator(self) -> OffsetEstimator:
        return self.stamps.estimator

    # -- public ------------------------------------------------------------------------------

    async def server_time(self) -> int:
        payload = await self._call("GET", "/api/v2/server/time", raw=True)
        return schemas.server_time(payload)

    async def sync_clock(self) -> int | None:
        """Sample ``server/time`` a few times and update the offset; alert when untrusted."""
        for _ in range(self.clock_samples):
            sent = self.now_ms()
            server = await self.server_time()
            self.estimator.add(Sample(sent, server, self.now_ms()))
        self.metrics.clock_syncs += 1
        offset = self.estimator.offset_ms
        if not self.stamps.trusted:
            self.metrics.clock_alerts += 1
            log.error(
                "ALERT clock offset to the venue %s ms is beyond %s ms: writes halted",
                offset,
                self.stamps.tolerance_ms,
            )
        return offset

    async def exchange_info(self) -> Parsed[PairRules]:
        data = await self._call("GET", "/api/v2/server/exchangeinfo")
        return self._counted("exchangeinfo", schemas.exchange_info(data))

    async def ticker(self, pair: str | None = None) -> Parsed[Ticker]:
        params = {"pairSymbol": pair} if pair else None
        data = await self._call("GET", "/api/v2/ticker", params=params)
        return self._counted("ticker", schemas.ticker(data))

    async def orderbook(self, pair: str, limit: int = 100) -> OrderBook:
        params = {"pairSymbol": pair, "limit": str(limit)}
        data = await self._call("GET", "/api/v2/orderbook", params=params)
        return schemas.orderbook(data, pair)

    async def trades(self, pair: str, last: int = 50) -> Parsed[PublicTrade]:
        params = {"pairSymbol": pair, "last": str(last)}
        data = await self._call("GET", "/api/v2/trades", params=params)
        return self._counted("trades", schemas.trades(data))

    # -- private reads -----------------------------------------------------------------------

    async def balances(self) -> Parsed[Balance]:
        data = await self._call("GET", "/api/v1/users/balances", signed=True)
        return self._counted("balances", schemas.balances(data))

    async def open_orders(self, pair: str | None = None) -> Parsed[VenueOrder]:
        params = {"pairSymbol": pair} if pair else None
        data = await self._call("GET", "/api/v1/openOrders", params=params, signed=True)
        return self._counted("openOrders", schemas.open_orders(data))

    async def all_orders(
        self,
        pair: str,
        *,
        start_s: int | None = None,
        end_s: int | None = None,
        order_id: int | None = None,
        page: int = 1,
        limit: int = 100,
    ) -> Parsed[VenueOrder]:
        """``start_s``/``end_s`` are Unix *seconds*, as the venue wants (reference §5.3)."""
        params = {"pairSymbol": pair, "page": str(page), "limit": str(limit)}
        if start_s is not None:
            params["startTime"] = str(start_s)
        if end_s is not None:
            params["endTime"] = str(end_s)
        if order_id is not None:
            params["orderId"] = str(order_id)
        data = await self._call("GET", "/api/v1/allOrders", params=params, signed=True)
        return self._counted("allOrders", schemas.all_orders(data))

    async def order(self, order_id: int) -> VenueOrder:
        """One order; ``OrderNotFound`` when the venue does not show it (yet: visibility
        lags, so "not found" right after a submit is not proof of absence)."""
        data = await self._call("GET", f"/api/v1/order/{int(order_id)}", signed=True)
        return schemas.order(data)

    async def user_trades(
        self,
        *,
        order_id: int | None = None,
        pair: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> Parsed[Fill]:
        """Own fills. ``order_id`` cannot be combined with the others (reference §5.7)."""
        params: dict[str, str] = {}
        if order_id is not None:
            if pair is not None or start_ms is not None or end_ms is not None:
                raise ConfigError("user_trades: orderId cannot be combined with other filters")
            params["orderId"] = str(order_id)
        else:
            if pair is not None:
                params["pairSymbol"] = pair
            if start_ms is not None:
                params["startDate"] = str(start_ms)
            if end_ms is not None:
                params["endDate"] = str(end_ms)
        path = "/api/v1/users/transactions/trade"
        data = await self._call("GET", path, params=params or None, signed=True)
        return self._counted("transactions", schemas.user_trades(data))

    # -- writes ------------------------------------------------------------------------------

    async def submit(self, request: OrderRequest) -> SubmitAck:
        """Place an order. ``Uncertain`` (with the client id) when it may or may not exist."""
        data = await self._call(
            "POST",
            "/api/v1/order",
            body=request.body(),
            signed=True,
            kind="submit",
            client_id=request.client_id,
        )
        try:
            return schemas.submit_ack(data)
        except ProtocolError as exc:  # accepted, but the answer is unreadable: it may exist
            self.metrics.uncertain += 1
            raise Uncertain("submit", request.client_id, exc) from exc

    async def cancel(self, order_id: int, client_id: str | None = None) -> None:
        """Ask the venue to cancel: returning means *requested*, not done."""
        await self._call(
            "DELETE",
            "/api/v1/order",
            params={"id": str(int(order_id))},
            signed=True,
            kind="cancel",
            client_id=client_id,
        )

    # -- the one way a request goes ------------------------------------------------------------

    def _counted(self, endpoint: str, parsed: Parsed[T]) -> Parsed[T]:
        if parsed.quarantined:
            self.metrics.quarantined[endpoint] += len(parsed.quarantined)
            for bad in parsed.quarantined:
                log.warning("quarantined %s row %s: %s", endpoint, bad.index, bad.reason)
        return parsed

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, str] | None = None,
        signed: bool = False,
        kind: RequestKind = "read",
        client_id: str | None = None,
        raw: bool = False,
    ) -> Any:
        write = kind != "read"
        started = self.now_ms()
        attempt = 0
        resynced = False
        while True:
            attempt += 1
            try:
                return await self._once(method, path, params, body, signed, kind, raw)
            except BotError as exc:
                if isinstance(exc, RateLimited):
                    self.metrics.rate_limited += 1
                    self.budget.block(method, path, exc.retry_after_s, self.now_ms())
                if (
                    isinstance(exc, AuthFailed)
                    and not write
                    and not resynced
                    and "nonce" in exc.message.lower()
                ):
                    resynced = True
                    self.estimator.discard()
                    await self.sync_clock()
                    continue
                decision = classify(exc, write=write)
                if decision.action is Action.UNCERTAIN:
                    self.metrics.uncertain += 1
                    log.warning("%s %s outcome unknown (client id %s)", method, path, client_id)
                    raise Uncertain(kind, client_id, exc) from exc
                elapsed_s = (self.now_ms() - started) / 1000
                if not self.policy.should_retry(attempt, elapsed_s, decision):
                    raise
                self.metrics.retries += 1
                wait = self.backoff.wait_s(decision, attempt)
                log.info("%s %s: %s; retry %s in %.2f s", method, path, exc, attempt, wait)
                await self.sleep(wait)

    async def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Mapping[str, str] | None,
        signed: bool,
        kind: RequestKind,
        raw: bool,
    ) -> Any:
        await self._wait_for_budget(method, path)
        headers: dict[str, str] = {}
        if signed:
            if self.credentials is None:
                raise ConfigError("a private endpoint needs API credentials")
            if self.estimator.needs_resync(self.now_ms()):
                await self.sync_clock()
            now = self.now_ms()
            stamp = self.stamps.stamp(now) if kind == "read" else self.stamps.write_stamp(now)
            headers.update(auth_headers(self.credentials, stamp))
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body, separators=(",", ":")).encode()
        self.metrics.requests += 1
        response = await self._send(method, path, params, headers, content)
        if raw:
            if response.status_code != 200:
                schemas.classify_response(
                    response.status_code, response.content, response.headers.get("retry-after")
                )
            return schemas.decode_json(response.content)
        return schemas.classify_response(
            response.status_code,
            response.content,
            response.headers.get("retry-after"),
            kind=kind,
        )

    async def _wait_for_budget(self, method: str, path: str) -> None:
        while True:
            wait_ms = self.budget.reserve(method, path, self.now_ms())
            if wait_ms <= 0:
                return
            self.metrics.budget_waits += 1
            await self.sleep(wait_ms / 1000)

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        headers: dict[str, str],
        content: bytes | None,
    ) -> httpx2.Response:
        """httpx2's exceptions become the bot's, here and only here."""
        request = self.http.request(
            method, path, params=params, headers=headers, content=content, timeout=self.timeout_s
        )
        started = time.perf_counter()
        status: int | None = None
        try:
            response = await self.deadline(self.timeout_s, request)
            status = response.status_code
            return response
        except (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout) as exc:
            raise NotSent(f"{method} {path}: could not connect ({type(exc).__name__})") from None
        except (TimeoutError, httpx2.TimeoutException) as exc:
            raise TransportError(f"{method} {path}: timed out ({type(exc).__name__})") from None
        except httpx2.TransportError as exc:
            raise TransportError(f"{method} {path}: {type(exc).__name__}") from None
        except httpx2.HTTPError as exc:  # anything else httpx2 raises about the exchange
            raise ProtocolError(f"{method} {path}: {type(exc).__name__}") from None
        finally:
            if self.observer is not None:
                self.observer(
                    f"{method} {endpoint_of(path)}", time.perf_counter() - started, status
                )
