"""The venue's REST bodies, read into core types (reference §3-§7). Pure.

This is the only module that knows the venue's JSON field names. Contract with the caller:
decode the body with ``decode_json`` (``json.loads(body, parse_float=Decimal)`` with the
default ``parse_int``) so that every JSON number arrives exact: decimals as ``Decimal``,
ids beyond 2**53 (user-trade ids) as exact ``int``. A ``float`` reaching a parser is a
caller bug and is refused like any other garbage.

Envelope and errors, ``classify_response`` (keyed on ``message``, not ``code``; §6.2)::

    HTTP 429, any body                            RateLimited(Retry-After, else the body's
                                                  period, else 60 s)
    HTTP 5xx, any body (a CDN's HTML page too)    ServerError
    HTTP 401, or message "Unauthorized ..." or    AuthFailed, even with success:true and
      code 1037                                   even on HTTP 200 (the venue's quirk, §2.4)
    not JSON, or not an envelope                  ProtocolError
    a refusal (HTTP 4xx, or success not true):
      NO_ORDER_MATCHES_YOUR_REQUEST, Order not found       OrderNotFound
      ORDER_COULD_NOT_BE_CANCELED                          NotCancellable
      BALANCE_NOT_ENOUGH[_WITHOUT_OPEN_ORDERS],            InsufficientBalance
        FAILED_ORDER_WITH_OPEN_ORDERS
      TOO_MANY_REQUESTS                                    RateLimited
      SYSTEM_UNDER_MAINTENANCE                             ServerError
      anything else                                        OrderRefused for a submit,
                                                           VenueRejected otherwise
    success without ``data`` (a cancel excepted)  ProtocolError
    success                                       ``data``

Rows: a list endpoint returns ``Parsed`` -- the rows it could read, and the ones it could
not, quarantined with the field that failed. A row is never completed with a guessed
value: a missing or unreadable id, price, amount, quantity, side, method, status or client
id (``null`` is a value, a missing key is not) quarantines the row. Numbers may be JSON
numbers or strings in plain notation; booleans, floats, NaN, a comma decimal ("1,000" is a
thousand or one) and text like "1.2.3x" are refused. Enum strings are case-insensitive. An
order status the bot has never seen reads as ``OrderStatus.UNKNOWN_TO_US`` with the text
kept: the lifecycle must see that order. Unknown extra fields are ignored. Only a wrong
top-level shape fails a whole response (``ProtocolError``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from typing import Any, Generic, Literal, NoReturn, TypeVar

from bot.core.types import (
    Balance,
    BookLevel,
    Fill,
    OrderBook,
    OrderMethod,
    OrderStatus,
    PairRules,
    PublicTrade,
    Side,
    SubmitAck,
    Ticker,
    VenueOrder,
)
from bot.errors import (
    AuthFailed,
    InsufficientBalance,
    NotCancellable,
    OrderNotFound,
    OrderRefused,
    ProtocolError,
    RateLimited,
    ServerError,
    VenueRejected,
)

__all__ = [
    "FALLBACK_RETRY_AFTER_S",
    "Envelope",
    "Parsed",
    "Quarantined",
    "RequestKind",
    "all_orders",
    "balances",
    "classify_response",
    "decode_json",
    "exchange_info",
    "open_orders",
    "order",
    "orderbook",
    "server_time",
    "submit_ack",
    "ticker",
    "trades",
    "unwrap",
    "user_trades",
]

T = TypeVar("T")
RequestKind = Literal["read", "submit", "cancel"]
FALLBACK_RETRY_AFTER_S = 60.0  # the venue's longest REST block (§6.3) when it names none
_ZERO = Decimal(0)


# -- envelope ----------------------------------------------------------------------------


def decode_json(body: bytes) -> Any:
    """A body as JSON with exact numbers; ``ProtocolError`` if it is not JSON."""
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise ProtocolError(f"body is not JSON: {_excerpt(body)}") from None


@dataclass(frozen=True, slots=True)
class Envelope:
    """``{"success", "message", "code", "data"}``; ``code`` is an int, or a string at times."""

    success: bool
    message: str
    code: int | None
    has_data: bool
    data: Any

    @classmethod
    def read(cls, payload: object) -> Envelope | None:
        if not isinstance(payload, dict) or not isinstance(payload.get("success"), bool):
            return None
        message = payload.get("message")
        return cls(
            success=payload["success"],
            message=message.strip() if isinstance(message, str) else "",
            code=_code_of(payload.get("code")),
            has_data=payload.get("data") is not None,
            data=payload.get("data"),
        )


def _code_of(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


_NOT_FOUND = {"NO_ORDER_MATCHES_YOUR_REQUEST", "ORDER NOT FOUND"}
_NOT_CANCELLABLE = {"ORDER_COULD_NOT_BE_CANCELED"}
_NO_BALANCE = {
    "BALANCE_NOT_ENOUGH",
    "BALANCE_NOT_ENOUGH_WITHOUT_OPEN_ORDERS",
    "FAILED_ORDER_WITH_OPEN_ORDERS",
}
_TOO_MANY = {"TOO_MANY_REQUESTS", "TOO MANY REQUESTS"}
_MAINTENANCE = {"SYSTEM_UNDER_MAINTENANCE"}
_AUTH_CODE = 1037
_NOT_JSON = object()  # the payload of a body that did not decode


def classify_response(
    status: int, body: bytes, retry_after: str | None, *, kind: RequestKind = "read"
) -> Any:
    """The ``data`` of a successful response, or the error the caller acts on.

    ``retry_after`` is the raw ``Retry-After`` header. ``kind="cancel"`` accepts a success
    without ``data`` (the venue's cancel sends none) and returns ``None`` for it;
    ``kind="submit"`` turns an unrecognised refusal into ``OrderRefused``.
    """
    try:
        payload = json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError):
        payload = _NOT_JSON
    return unwrap(payload, status, kind=kind, retry_after=retry_after, raw=body)


def unwrap(
    payload: object,
    status: int,
    *,
    kind: RequestKind = "read",
    retry_after: str | None = None,
    raw: bytes = b"",
) -> Any:
    """``classify_response`` for a body already decoded with ``decode_json``; ``raw``, if
    given, is quoted (briefly) in the error for a body that is not the envelope."""
    envelope = Envelope.read(payload)
    message = envelope.message if envelope else ""
    code = envelope.code if envelope else None
    if status == 429:
        raise RateLimited(_retry_after_s(retry_after, payload), _detail(payload))
    if status >= 500:
        raise ServerError(status, message or _excerpt(raw))
    if status == 401 or message.upper().startswith("UNAUTHORIZED") or code == _AUTH_CODE:
        raise AuthFailed(message or "Unauthorized", code, status)
    if envelope is None:
        what = "not JSON" if payload is _NOT_JSON else "not the venue's envelope"
        raise ProtocolError(f"HTTP {status} body is {what}: {_excerpt(raw)}")
    if status >= 400 or not envelope.success:
        raise _refusal(envelope, status, kind, retry_after, payload)
    if not 200 <= status < 300:
        raise ProtocolError(f"HTTP {status} with a success envelope")
    if not envelope.has_data and kind != "cancel":
        raise ProtocolError(f"success without data (message {envelope.message!r})")
    return envelope.data


def _refusal(
    envelope: Envelope, status: int, kind: RequestKind, retry_after: str | None, payload: object
) -> Exception:
    message, code, key = envelope.message, envelope.code, envelope.message.upper()
    if key in _TOO_MANY:
        return RateLimited(_retry_after_s(retry_after, payload), _detail(payload))
    if key in _MAINTENANCE:
        return ServerError(status, message)
    cls: type[VenueRejected]
    if key in _NOT_FOUND:
        cls = OrderNotFound
    elif key in _NOT_CANCELLABLE:
        cls = NotCancellable
    elif key in _NO_BALANCE:
        cls = InsufficientBalance
    else:
        cls = OrderRefused if kind == "submit" else VenueRejected
    return cls(message, code, status)


_PERIOD = re.compile(r"^(\d{1,6})\s*([smh])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600}


def _retry_after_s(header: str | None, payload: object) -> float:
    if header is not None:
        text = header.strip()
        if re.fullmatch(r"\d{1,7}(\.\d+)?", text):
            return float(text)
    period = payload.get("period") if isinstance(payload, dict) else None
    match = _PERIOD.match(period.strip().lower()) if isinstance(period, str) else None
    if match:
        return float(int(match.group(1)) * _SECONDS[match.group(2)])
    return FALLBACK_RETRY_AFTER_S


def _detail(payload: object) -> str:
    if isinstance(payload, dict):
        details = payload.get("details") or payload.get("message")
        if isinstance(details, str):
            return details[:200]
    return ""


def _excerpt(raw: bytes) -> str:
    return repr(raw[:80]) + ("..." if len(raw) > 80 else "")


# -- rows and quarantine -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A row that could not be read: its position, the field and why, and the row as sent."""

    index: int
    reason: str
    raw: object


@dataclass(frozen=True, slots=True)
class Parsed(Generic[T]):
    items: tuple[T, ...]
    quarantined: tuple[Quarantined, ...] = ()


class _Bad(Exception):
    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")


_PLAIN_DECIMAL = re.compile(r"-?\d+(\.\d+)?")
_DIGITS = re.compile(r"\d+")
_SYMBOL = re.compile(r"[A-Z0-9]+")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Row:
    """One JSON object, read field by field; every failure names the field."""

    __slots__ = ("_raw", "_where")

    def __init__(self, raw: object, where: str = "row") -> None:
        if not isinstance(raw, dict):
            raise _Bad(where, f"not an object ({type(raw).__name__})")
        self._raw: Mapping[str, object] = raw
        self._where = "" if where == "row" else f"{where}."

    def fail(self, name: str, why: str) -> NoReturn:
        raise _Bad(self._where + name, why)

    def get(self, name: str) -> object:
        if name not in self._raw:
            self.fail(name, "missing")
        return self._raw[name]

    def nullable(self, name: str) -> object:
        return self._raw.get(name)

    def text(self, name: str) -> str:
        value = self.get(name)
        if not isinstance(value, str) or not value.strip():
            self.fail(name, f"not a non-empty string: {_show(value)}")
        return value.strip()

    def symbol(self, name: str) -> str:
        """A pair or asset code, upper case, ``BTC_TRY`` read as ``BTCTRY``."""
        value = self.text(name).upper().replace("_", "")
        if not _SYMBOL.fullmatch(value):
            self.fail(name, f"not a symbol: {_show(value)}")
        return value

    def client_id(self, name: str) -> str | None:
        value = self.get(name)  # the key must be there: its absence is not "no client id"
        if value is not None and not isinstance(value, str):
            self.fail(name, f"not a string or null: {_show(value)}")
        return value

    def integer(self, name: str, *, lowest: int = 0) -> int:
        value = _to_int(self.get(name))
        if value is None or value < lowest:
            self.fail(name, f"not an integer >= {lowest}: {_show(self._raw[name])}")
        return value

    def boolean(self, name: str) -> bool:
        value = self.get(name)
        if not isinstance(value, bool):
            self.fail(name, f"not a boolean: {_show(value)}")
        return value

    def decimal(
        self, name: str, *, lowest: Decimal | None = _ZERO, strict: bool = False
    ) -> Decimal:
        """A finite decimal; ``>= lowest`` (``> lowest`` if ``strict``); any sign if None."""
        raw = self.get(name)
        value = _to_decimal(raw)
        if value is None:
            self.fail(name, f"not a decimal: {_show(raw)}")
        if lowest is not None and (value < lowest or (strict and value == lowest)):
            self.fail(name, f"must be {'>' if strict else '>='} {lowest}: {_show(raw)}")
        return value

    def optional_decimal(self, name: str) -> Decimal | None:
        """Missing or null is None; anything else must be a decimal >= 0."""
        return None if self.nullable(name) is None else self.decimal(name)

    def choice(self, name: str, table: Mapping[str, T]) -> T:
        value = self.get(name)
        key = _enum_key(value)
        if key not in table:
            self.fail(name, f"unknown value {_show(value)}")
        return table[key]

    def rows(self, name: str) -> list[object]:
        value = self.get(name)
        if not isinstance(value, list):
            self.fail(name, f"not a list: {_show(value)}")
        return value


def _enum_key(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return value.strip().lower().replace("_", "").replace(" ", "").replace("-", "")


def _to_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str) and _PLAIN_DECIMAL.fullmatch(value):
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid text
            return None
    return None


def _to_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    return None


def _parse_rows(
    rows: list[object], read: Callable[[object], T], where: str = "", offset: int = 0
) -> tuple[list[T], list[Quarantined]]:
    items: list[T] = []
    bad: list[Quarantined] = []
    for i, raw in enumerate(rows):
        try:
            items.append(read(raw))
        except _Bad as why:
            place = f"{where}[{i}] " if where else ""
            bad.append(Quarantined(offset + i, f"{place}{why}", raw))
    return items, bad


def _parse_list(data: object, read: Callable[[object], T], endpoint: str) -> Parsed[T]:
    if not isinstance(data, list):
        raise ProtocolError(f"{endpoint}: data is not a list ({type(data).__name__})")
    items, bad = _parse_rows(data, read)
    return Parsed(tuple(items), tuple(bad))


def _one(data: object, read: Callable[[object], T], endpoint: str) -> T:
    try:
        return read(data)
    except _Bad as why:
        raise ProtocolError(f"{endpoint}: {why}") from None


def _object(data: object, endpoint: str) -> _Row:
    try:
        return _Row(data, "data")
    except _Bad:
        raise ProtocolError(f"{endpoint}: data is not an object ({type(data).__name__})") from None


# -- enums -------------------------------------------------------------------------------

_SIDES = {"buy": Side.BUY, "sell": Side.SELL}
_METHODS = {m.value: m for m in OrderMethod}  # "stop_limit", "Stop Limit", ... fold to these
_STATUSES = {s.value.lower(): s for s in OrderStatus if s is not OrderStatus.UNKNOWN_TO_US}
_STOP_METHODS = (OrderMethod.STOP_LIMIT, OrderMethod.STOP_MARKET)
_PRICED_METHODS = (OrderMethod.LIMIT, OrderMethod.STOP_LIMIT)


# -- public endpoints --------------------------------------------------------------------


def server_time(payload: object) -> int:
    """``/api/v2/server/time``: a bare object, no envelope (§4.1)."""
    return _one(payload, lambda raw: _Row(raw, "body").integer("serverTime", lowest=1), "time")


def _pair_rules(raw: object) -> PairRules:
    row = _Row(raw)
    filters = row.rows("filters")
    price = [
        f
        for f in filters
        if isinstance(f, dict) and _enum_key(f.get("filterType")) == "pricefilter"
    ]
    if len(price) != 1:
        row.fail("filters", f"{len(price)} PRICE_FILTER entries, expected 1")
    pf = _Row(price[0], "filters[PRICE_FILTER]")
    min_price = pf.decimal("minPrice")
    max_price = pf.decimal("maxPrice", strict=True)
    if max_price < min_price:
        pf.fail("maxPrice", "below minPrice")
    methods = row.rows("orderMethods")
    if not all(isinstance(m, str) for m in methods):
        row.fail("orderMethods", "not a list of strings")
    return PairRules(
        name=row.symbol("name"),
        base=row.symbol("numerator"),
        quote=row.symbol("denominator"),
        status=row.text("status"),
        quantity_scale=row.integer("numeratorScale"),
        price_scale=row.integer("denominatorScale"),
        has_fraction=row.boolean("hasFraction"),
        min_price=min_price,
        max_price=max_price,
        tick_size=pf.decimal("tickSize", strict=True),
        min_total=pf.decimal("minExchangeValue"),
        min_amount=pf.optional_decimal("minAmount"),
        max_amount=pf.optional_decimal("maxAmount"),
        min_limit_price=row.optional_decimal("minimumLimitOrderPrice"),
        max_limit_price=row.optional_decimal("maximumLimitOrderPrice"),
        # A method the bot does not know is one it never sends: left out, not a failure.
        order_methods=frozenset(_METHODS[k] for m in methods if (k := _enum_key(m)) in _METHODS),
    )


def exchange_info(data: object) -> Parsed[PairRules]:
    """``/api/v2/server/exchangeinfo`` ``data``: one ``PairRules`` per readable symbol."""
    symbols = _object(data, "exchangeinfo").nullable("symbols")
    if not isinstance(symbols, list):
        raise ProtocolError("exchangeinfo: data.symbols is not a list")
    return _parse_list(symbols, _pair_rules, "exchangeinfo")


def _ticker(raw: object) -> Ticker:
    row = _Row(raw)
    return Ticker(
        pair=row.symbol("pair"),
        bid=row.decimal("bid"),
        ask=row.decimal("ask"),
        last=row.decimal("last"),
        timestamp=row.integer("timestamp"),
    )


def ticker(data: object) -> Parsed[Ticker]:
    """``/api/v2/ticker`` ``data``: always a list, values are JSON numbers (§4.3)."""
    return _parse_list(data, _ticker, "ticker")


def _level(raw: object) -> BookLevel:
    if not isinstance(raw, list) or len(raw) != 2:
        raise _Bad("level", f"not a [price, amount] pair: {_show(raw)}")
    price, amount = _to_decimal(raw[0]), _to_decimal(raw[1])
    if price is None or price <= 0:
        raise _Bad("price", f"not a positive decimal: {_show(raw[0])}")
    if amount is None or amount <= 0:
        raise _Bad("amount", f"not a positive decimal: {_show(raw[1])}")
    return BookLevel(price, amount)


def orderbook(data: object, pair: str) -> OrderBook:
    """``/api/v2/orderbook`` ``data``. All or nothing: a book with a level left out would
    show a price that is not there, so one bad level fails the snapshot."""
    row = _object(data, "orderbook")
    sides: dict[str, tuple[BookLevel, ...]] = {}
    try:
        for name in ("bids", "asks"):
            levels, bad = _parse_rows(row.rows(name), _level, name)
            if bad:
                raise ProtocolError(f"orderbook: {bad[0].reason}")
            sides[name] = tuple(levels)
        timestamp = row.integer("timestamp")
    except _Bad as why:
        raise ProtocolError(f"orderbook: {why}") from None
    bids, asks = sides["bids"], sides["asks"]
    if any(a.price < b.price for a, b in pairwise(bids)):
        raise ProtocolError("orderbook: bids are not best (highest) first")
    if any(a.price > b.price for a, b in pairwise(asks)):
        raise ProtocolError("orderbook: asks are not best (lowest) first")
    return OrderBook(pair=pair, bids=bids, asks=asks, timestamp=timestamp)


def _public_trade(raw: object) -> PublicTrade:
    row = _Row(raw)
    tid = row.get("tid")  # a string on the wire, for its size (§4.5)
    if isinstance(tid, int) and not isinstance(tid, bool) and tid > 0:
        tid = str(tid)
    if not isinstance(tid, str) or not _DIGITS.fullmatch(tid):
        row.fail("tid", f"not a trade id: {_show(tid)}")
    side = None if row.nullable("side") is None else row.choice("side", _SIDES)
    return PublicTrade(
        trade_id=tid,
        pair=row.symbol("pair"),
        price=row.decimal("price", strict=True),
        amount=row.decimal("amount", strict=True),
        side=side,  # absent in some captures; None says "not told", not a guess
        timestamp=row.integer("date"),
    )


def trades(data: object) -> Parsed[PublicTrade]:
    """``/api/v2/trades`` ``data``."""
    return _parse_list(data, _public_trade, "trades")


# -- private endpoints -------------------------------------------------------------------


def _balance(raw: object) -> Balance:
    row = _Row(raw)
    stamp = row.nullable("timestamp")  # added to the venue's docs about 2025 (§5.1)
    return Balance(
        asset=row.symbol("asset"),
        total=row.decimal("balance"),
        locked=row.decimal("locked"),
        free=row.decimal("free"),
        timestamp=None if stamp is None else row.integer("timestamp"),
    )


def balances(data: object) -> Parsed[Balance]:
    """``/api/v1/users/balances`` ``data``."""
    return _parse_list(data, _balance, "balances")


def _status(row: _Row) -> tuple[OrderStatus, str]:
    text = row.text("status")
    return _STATUSES.get(text.lower(), OrderStatus.UNKNOWN_TO_US), text


def _venue_order(raw: object) -> VenueOrder:
    row = _Row(raw)
    method = row.choice("method", _METHODS)
    status, status_text = _status(row)
    quantity = row.decimal("quantity", strict=method is not OrderMethod.MARKET)
    left = row.decimal("leftAmount")
    # A market buy is sized in quote while its left amount's unit is unconfirmed (§7).
    if method is not OrderMethod.MARKET and left > quantity:
        row.fail("leftAmount", "exceeds quantity")
    created = row.integer("time")
    return VenueOrder(
        id=row.integer("id", lowest=1),
        client_id=row.client_id("orderClientId"),
        pair=row.symbol("pairSymbol"),
        side=row.choice("type", _SIDES),
        method=method,
        price=row.decimal("price", strict=method in _PRICED_METHODS),
        stop_price=_stop_price(row, method),
        quantity=quantity,
        left=left,
        status=status,
        status_text=status_text,
        created=created or None,  # openOrders sends 0 (§5.2): not a time
        updated=row.integer("updateTime"),
    )


def _stop_price(row: _Row, method: OrderMethod) -> Decimal | None:
    # Non-stop orders show "0", null, or even the limit price (an old submit answer).
    return row.decimal("stopPrice", strict=True) if method in _STOP_METHODS else None


def open_orders(data: object) -> Parsed[VenueOrder]:
    """``/api/v1/openOrders`` ``data``: ``asks`` (sells) then ``bids`` (buys). A quarantined
    row's index counts through asks, then bids; its reason names the list."""
    row = _object(data, "openOrders")
    items: list[VenueOrder] = []
    bad: list[Quarantined] = []
    offset = 0
    for name, side in (("asks", Side.SELL), ("bids", Side.BUY)):
        rows = row.nullable(name)
        if not isinstance(rows, list):
            raise ProtocolError(f"openOrders: data.{name} is not a list")

        def read(raw: object, side: Side = side, name: str = name) -> VenueOrder:
            venue_order = _venue_order(raw)
            if venue_order.side is not side:
                raise _Bad("type", f"{venue_order.side.value} order listed in {name}")
            return venue_order

        good, quarantined = _parse_rows(rows, read, name, offset)
        items += good
        bad += quarantined
        offset += len(rows)
    return Parsed(tuple(items), tuple(bad))


def all_orders(data: object) -> Parsed[VenueOrder]:
    """``/api/v1/allOrders`` ``data``."""
    return _parse_list(data, _venue_order, "allOrders")


def order(data: object) -> VenueOrder:
    """``/api/v1/order/{id}`` ``data``; ``ProtocolError`` if it cannot be read."""
    return _one(data, _venue_order, "order")


def _submit_ack(raw: object) -> SubmitAck:
    row = _Row(raw)
    method = row.choice("method", _METHODS)  # "Limit" in older answers
    price = row.decimal("price", strict=True) if method in _PRICED_METHODS else None
    return SubmitAck(
        id=row.integer("id", lowest=1),
        client_id=row.client_id("newOrderClientId"),
        pair=row.symbol("pairSymbol"),
        side=row.choice("type", _SIDES),  # "Buy" in older answers
        method=method,
        price=price,
        stop_price=_stop_price(row, method),
        quantity=row.decimal("quantity", strict=True),
        created=row.integer("datetime", lowest=1),
    )


def submit_ack(data: object) -> SubmitAck:
    """``POST /api/v1/order`` ``data``; ``ProtocolError`` if it cannot be read."""
    return _one(data, _submit_ack, "submit")


def _fill(raw: object) -> Fill:
    row = _Row(raw)
    side = row.choice("orderType", _SIDES)
    signed = row.decimal("amount", lowest=None)
    # Sells arrive negative, buys positive (§5.7); a sign against the side is a contradiction.
    if signed == 0 or (signed < 0) != (side is Side.SELL):
        row.fail("amount", f"sign disagrees with orderType {side.value}: {_show(signed)}")
    fee, tax = _deduction(row, "fee"), _deduction(row, "tax")
    base, quote = row.symbol("numeratorSymbol"), row.symbol("denominatorSymbol")
    return Fill(
        trade_id=row.integer("id", lowest=1),
        order_id=row.integer("orderId", lowest=1),
        client_id=row.client_id("orderClientId"),
        pair=base + quote,
        base=base,
        quote=quote,
        side=side,
        price=row.decimal("price", strict=True),
        amount=abs(signed),
        fee=fee,
        tax=tax,
        timestamp=row.integer("timestamp"),
    )


def _deduction(row: _Row, name: str) -> Decimal:
    # Sent negative (taken from the account); a positive one would be a credit we do not model.
    value = row.decimal(name, lowest=None)
    if value > 0:
        row.fail(name, f"positive: {_show(value)}")
    return abs(value)


def user_trades(data: object) -> Parsed[Fill]:
    """``/api/v1/users/transactions/trade`` ``data``. Ids exceed 2**53: decode the body with
    ``decode_json`` so they stay exact ints."""
    return _parse_list(data, _fill, "userTrades")
