"""The venue's REST surface: public (``/api/v2``), private HMAC (``/api/v1``) and the graph
endpoints (``/v1/ohlcs``, ``/v1/klines/history``) served on the same host.

Handlers are thin: read parameters, call the venue, render with ``views``. A refusal is a
``VenueError`` that the app turns into the venue's envelope with the right status.
Query parameter names bind case-insensitively, as on the venue.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mock_exchange import errors, views
from mock_exchange.candles import DAY_MS, MINUTE_MS
from mock_exchange.errors import VenueError
from mock_exchange.fault_gate import firings_of
from mock_exchange.model import BUY, SELL
from mock_exchange.parsing import parse_int, parse_order_body, parse_order_id
from mock_exchange.responses import JSON, read_body
from mock_exchange.rules import PairRules

if TYPE_CHECKING:
    from mock_exchange.app import MockExchange

__all__ = ["exact_endpoints", "routes"]

THIRTY_DAYS_MS = 30 * DAY_MS


class Query:
    """Query parameters with case-insensitive names; repeated keys keep every value."""

    def __init__(self, request: Request) -> None:
        self._values: dict[str, list[str]] = {}
        query = request.scope["query_string"].decode("latin-1")
        if "%" in query or "+" in query or ";" in query:
            pairs = parse_qsl(query, keep_blank_values=True)
        else:  # nothing to unquote: what parse_qsl would return, without its machinery
            pairs = [tuple(p.split("=", 1)) if "=" in p else (p, "") for p in query.split("&") if p]
        for key, value in pairs:
            self._values.setdefault(key.lower(), []).append(value)

    def get(self, name: str) -> str | None:
        values = self._values.get(name.lower())
        return values[0] if values else None

    @staticmethod
    def first(request: Request, name: str) -> str | None:
        """``Query(request).get(name)`` without building the table, for a handler that
        reads one parameter."""
        query: str = request.scope["query_string"].decode("latin-1")
        if "%" in query or "+" in query or ";" in query:
            return Query(request).get(name)
        wanted = name.lower()
        for part in query.split("&"):
            key, _, value = part.partition("=")
            if part and key.lower() == wanted:
                return value
        return None

    def all(self, name: str) -> list[str]:
        return self._values.get(name.lower(), [])

    def names(self) -> set[str]:
        return set(self._values)


def ok(data: Any, message: str | None = None) -> JSON:
    return JSON(views.envelope(data, message))


def mock_of(request: Request) -> MockExchange:
    return advanced(request)[0]


def advanced(request: Request) -> tuple[MockExchange, int]:
    """The venue behind the app, with its due work carried out, and the time of that."""
    app = request.scope["app"]
    # ``app.VenueApp`` carries the venue as an attribute: cheaper than its ``state``.
    mock: MockExchange | None = getattr(app, "mock", None)
    if mock is None:
        mock = app.state.mock
        assert mock is not None
    return mock, mock.advance()


def _pair(mock: MockExchange, symbol: str | None, name: str = "pairSymbol") -> PairRules:
    if symbol is None or not symbol.strip():
        raise errors.INVALID_REQUEST(f"{name} is required")
    rules = mock.venue.pair(symbol)
    if rules is None:
        raise errors.UNKNOWN_PAIR(f"unknown pair {symbol}")
    return rules


# -- public ---------------------------------------------------------------------------------


async def server_time(request: Request) -> Response:
    return JSON(views.server_time(mock_of(request).now()))


async def exchange_info(request: Request) -> Response:
    mock = mock_of(request)
    return ok(views.exchange_info(mock.venue.rules.values(), mock.now()))


async def ticker(request: Request) -> Response:
    mock = mock_of(request)
    symbol = Query(request).get("pairSymbol")
    pairs = [_pair(mock, symbol)] if symbol else list(mock.venue.rules.values())
    return ok([mock.ticker(p) for p in pairs])


async def ticker_currency(request: Request) -> Response:
    mock = mock_of(request)
    symbol = Query(request).get("symbol")
    if not symbol or not symbol.strip():
        raise errors.INVALID_REQUEST("symbol is required")
    asset = symbol.strip().upper()
    pairs = [p for p in mock.venue.rules.values() if asset in (p.base, p.quote)]
    return ok([mock.ticker(p) for p in pairs])


async def orderbook(request: Request) -> Response:
    mock = mock_of(request)
    query = Query(request)
    rules = _pair(mock, query.get("pairSymbol"))
    limit = parse_int(query.get("limit"), "limit", default=100, minimum=1, maximum=1000)
    assert limit is not None
    book = mock.venue.books[rules.name]
    return ok(views.orderbook(rules, book, limit, mock.now()))


async def trades(request: Request) -> Response:
    mock = mock_of(request)
    query = Query(request)
    rules = _pair(mock, query.get("pairSymbol"))
    # The venue's maximum for ``last`` is UNCONFIRMED (50 or 1000); 1000 is allowed here.
    last = parse_int(query.get("last"), "last", default=50, minimum=1, maximum=1000)
    assert last is not None
    recent = list(mock.venue.public_trades[rules.name])[-last:]
    return ok([views.public_trade(rules, t) for t in reversed(recent)])


def _graph_error(message: str) -> JSON:
    return JSON({"s": "error", "errmsg": message}, status_code=400)


def _seconds(query: Query, name: str, default: int) -> int:
    value = parse_int(query.get(name), name, default=default)
    assert value is not None
    return max(0, value)


async def ohlcs(request: Request) -> Response:
    mock = mock_of(request)
    query = Query(request)
    rules = mock.venue.pair(query.get("pair") or "")
    if rules is None:
        return _graph_error("pair is required and must name a listed pair")
    now_s = mock.now() // 1000
    start = _seconds(query, "from", now_s - 30 * 86_400)
    end = _seconds(query, "to", now_s)
    candles = mock.candles.candles(rules.name, start * 1000, end * 1000, DAY_MS)
    return JSON([views.ohlc_row(rules, c) for c in candles])


_RESOLUTIONS = {
    "1": 1,
    "5": 5,
    "15": 15,
    "30": 30,
    "60": 60,
    "240": 240,
    "1d": 1440,
    "d": 1440,
    "1 d": 1440,
    "1440": 1440,
    "1w": 10080,
    "w": 10080,
    "1 w": 10080,
}


async def klines(request: Request) -> Response:
    mock = mock_of(request)
    query = Query(request)
    rules = mock.venue.pair(query.get("symbol") or "")
    if rules is None:
        return _graph_error("symbol is required and must name a listed pair")
    minutes = _RESOLUTIONS.get((query.get("resolution") or "").strip().lower())
    if minutes is None:
        return _graph_error(f"resolution must be one of {sorted(_RESOLUTIONS)}")
    now_s = mock.now() // 1000
    start = _seconds(query, "from", now_s - 100 * minutes * 60)
    end = _seconds(query, "to", now_s)
    candles = mock.candles.candles(rules.name, start * 1000, end * 1000, minutes * MINUTE_MS)
    return JSON(views.klines(candles))


# -- private --------------------------------------------------------------------------------


async def balances(request: Request) -> Response:
    mock, now = advanced(request)
    account = mock.authenticate_raw(request.scope["headers"], now)
    now = mock.now()
    held = mock.venue.ledger.balances(account)
    assets = list(dict.fromkeys([*mock.assets(), *held]))
    return ok([views.balance_row(a, mock.venue.ledger.balance(account, a), now) for a in assets])


async def open_orders(request: Request) -> Response:
    mock, now = advanced(request)
    account = mock.authenticate_raw(request.scope["headers"], now)
    symbol = Query(request).get("pairSymbol")
    pair = _pair(mock, symbol).name if symbol else None
    asks: list[dict[str, Any]] = []
    bids: list[dict[str, Any]] = []
    for order in sorted(mock.visible_open_orders(account, pair), key=lambda o: -o.id):
        row = views.order_row(mock.venue.rules[order.pair], order, open_view=True)
        (bids if order.side == BUY else asks).append(row)
    return ok({"asks": asks, "bids": bids})


async def all_orders(request: Request) -> Response:
    mock, now = advanced(request)
    account = mock.authenticate_raw(request.scope["headers"], now)
    query = Query(request)
    rules = _pair(mock, query.get("pairSymbol"))
    order_id = parse_int(query.get("orderId"), "orderId", default=0, minimum=0)
    start = parse_int(query.get("startTime"), "startTime", default=0, minimum=0)
    end = parse_int(query.get("endTime"), "endTime", default=0, minimum=0)
    # Page numbers start at 1; page 0 is read as page 1 (the base is UNCONFIRMED, §5.3).
    page = parse_int(query.get("page"), "page", default=1, minimum=0)
    limit = parse_int(query.get("limit"), "limit", default=100, minimum=1, maximum=1000)
    assert order_id is not None and start is not None and end is not None
    assert page is not None and limit is not None
    now_s = mock.now() // 1000
    # Times are Unix seconds; a millisecond stamp lands far in the future (§5.3).
    if start > now_s:
        raise errors.START_TIME_IN_FUTURE()
    orders = [
        o
        for o in mock.visible_account_orders(account, rules.name)
        if o.id >= order_id
        and (not start or o.created // 1000 >= start)
        and (not end or o.created // 1000 <= end)
    ]
    orders.sort(key=lambda o: -o.id)
    first = (max(page, 1) - 1) * limit
    return ok([views.order_row(rules, o) for o in orders[first : first + limit]])


async def single_order(request: Request) -> Response:
    mock, now = advanced(request)
    account = mock.authenticate_raw(request.scope["headers"], now)
    order_id = parse_order_id(request.path_params["order_id"])
    if order_id is None:
        raise errors.ORDER_NOT_FOUND("orderId must be an integer")
    order = mock.visible_order(account, order_id)
    if order is None:
        raise errors.ORDER_NOT_FOUND()
    return ok(views.order_row(mock.venue.rules[order.pair], order))


async def submit_order(request: Request) -> Response:
    mock, now = advanced(request)
    account = mock.authenticate_raw(request.scope["headers"], now)
    body = await read_body(request, mock.settings.max_body_bytes)
    if body is None:
        raise errors.INVALID_REQUEST("request body too large")
    order_request = parse_order_body(_decode_order(body))
    try:
        order = mock.venue.submit(account, order_request, mock.now())
    except VenueError as exc:
        mock.journal.record(
            "order_rejected",
            mock.now(),
            account=account,
            client_id=order_request.client_id,
            pair=order_request.pair,
            side=order_request.side,
            method=order_request.method,
            code=exc.code,
            message=exc.message,
        )
        raise
    for lag in firings_of(request.scope, "visibility_lag"):
        mock.hide(order.id, lag.until_ms, lag.views)
    return ok(views.submit_result(mock.venue.rules[order.pair], order), "OK")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


# Built once: ``json.loads`` with hooks builds a new decoder on every call. Numbers become
# Decimal exactly; NaN and Infinity are refused.
_ORDER_JSON = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)
_FLAT = frozenset({str, int, bool, type(None)})


def _decode_order(body: bytes) -> Any:
    """An order body as ``_ORDER_JSON`` reads it, or the venue's 400 for one that is no JSON.

    orjson reads a typical body several times faster. Its answer is used only when it is an
    object whose values are all strings, integers, booleans or null: there both decoders
    agree to the value. Anything else (a number with a fraction or an exponent, which
    orjson makes a float, an integer beyond 64 bits, nested values, a document orjson
    refuses) is read again by ``_ORDER_JSON``, which decides.
    """
    try:
        payload = orjson.loads(body)
    except ValueError:
        pass
    else:
        if type(payload) is dict and _FLAT.issuperset(map(type, payload.values())):
            return payload
    try:
        return _ORDER_JSON.decode(body.decode("utf-8"))
    except (ValueError, RecursionError):
        raise errors.FAILED_ORDER_PARAMETER("body must be valid JSON") from None


_CANCEL_ACCEPTED = {"success": True, "message": "SUCCESS", "code": 0}


async def cancel_order(request: Request) -> Response:
    mock, now = advanced(request)
    account = mock.authenticate_raw(request.scope["headers"], now)
    # Only the query carries the id; a body-only id gets 1052, as on the venue (§5.6).
    order_id = parse_order_id(Query.first(request, "id"))
    if order_id is None:
        raise errors.NO_ORDER_MATCHES_YOUR_REQUEST()
    delay = None
    for lag in firings_of(request.scope, "cancel_lag"):
        delay = lag.until_ms - mock.clock.now_ms()
    mock.venue.cancel(account, order_id, now, delay_ms=delay)
    return JSON(_CANCEL_ACCEPTED)


async def user_trades(request: Request) -> Response:
    mock, now = advanced(request)
    account = mock.authenticate_raw(request.scope["headers"], now)
    query = Query(request)
    now = mock.now()
    fills = mock.visible_fills(account)
    order_id = parse_int(query.get("orderId"), "orderId", minimum=0)
    if order_id is not None:
        if query.names() - {"orderid"}:
            raise errors.INVALID_REQUEST("orderId cannot be combined with others")
        selected = [f for f in fills if f.order_id == order_id]
    else:
        sides = {t.strip().lower() for t in query.all("type")} or {BUY, SELL}
        if not sides <= {BUY, SELL}:
            raise errors.INVALID_REQUEST("type must be buy or sell")
        assets = {s.strip().upper() for s in query.all("symbol")}
        symbol = query.get("pairSymbol")
        pair = _pair(mock, symbol).name if symbol else None
        start = parse_int(query.get("startDate"), "startDate", default=now - THIRTY_DAYS_MS)
        end = parse_int(query.get("endDate"), "endDate", default=now)
        assert start is not None and end is not None
        if start > end:
            raise errors.INVALID_REQUEST("startDate cannot be greater than endDate")
        selected = []
        for fill in fills:
            rules = mock.venue.rules[fill.pair]
            if fill.side not in sides or (pair is not None and fill.pair != pair):
                continue
            if assets and not assets & {rules.base, rules.quote}:
                continue
            if start <= fill.timestamp <= end:
                selected.append(fill)
    selected.sort(key=lambda f: -f.trade_id)
    rows = [views.user_trade(mock.venue.rules[f.pair], f) for f in selected]
    return ok(rows, "SUCCESS")


async def no_transfers(request: Request) -> Response:
    """Crypto and fiat transfers: the mock has no deposits or withdrawals to report."""
    mock, now = advanced(request)
    mock.authenticate_raw(request.scope["headers"], now)
    return ok([], "SUCCESS")


routes = [
    Route("/api/v2/server/time", server_time, methods=["GET"]),
    Route("/api/v2/server/exchangeinfo", exchange_info, methods=["GET"]),
    Route("/api/v2/ticker", ticker, methods=["GET"]),
    Route("/api/v2/ticker/currency", ticker_currency, methods=["GET"]),
    Route("/api/v2/orderbook", orderbook, methods=["GET"]),
    Route("/api/v2/trades", trades, methods=["GET"]),
    Route("/api/v1/trades", trades, methods=["GET"]),
    Route("/v1/ohlcs", ohlcs, methods=["GET"]),
    Route("/v1/klines/history", klines, methods=["GET"]),
    Route("/api/v1/users/balances", balances, methods=["GET"]),
    Route("/api/v1/openorders", open_orders, methods=["GET"]),
    Route("/api/v1/allorders", all_orders, methods=["GET"]),
    Route("/api/v1/order/{order_id}", single_order, methods=["GET"]),
    Route("/api/v1/order", submit_order, methods=["POST"]),
    Route("/api/v1/order", cancel_order, methods=["DELETE"]),
    Route("/api/v1/users/transactions/trade", user_trades, methods=["GET"]),
    Route("/api/v1/users/transactions/crypto", no_transfers, methods=["GET"]),
    Route("/api/v1/users/transactions/fiat", no_transfers, methods=["GET"]),
]


def exact_endpoints() -> dict[tuple[str, str], Any]:
    """(method, path) to handler for the routes without path parameters, for direct dispatch.

    HEAD is left to the router, which answers it for every GET route.
    """
    table: dict[tuple[str, str], Any] = {}
    for route in routes:
        if "{" in route.path:
            continue
        for method in route.methods or ():
            if method != "HEAD":
                table[(method, route.path)] = route.endpoint
    return table
