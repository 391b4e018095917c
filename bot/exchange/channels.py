"""The websocket wire read into core values, and the order book kept from it (reference §8).
Pure: no I/O, no clock (the caller passes the receive time).

``decode(text, now_ms)`` turns one frame into one typed event, or ``None`` for a type the
bot does not read (the venue tells clients to ignore what they do not know, §8.1) and for
the dummy all-zero 451/452 with ``id`` 0. A frame that is not ``[int, object]`` JSON, or a
known type whose payload is not what the reference shows, comes back as ``Malformed``: the
caller counts it and drops it. Nothing is defaulted: a missing or unreadable field drops the
whole message, because a wrong price or side is worse than a missing one (the book notices
a lost diff by its ``CS``; the lifecycle notices a lost private event by reconciling).

Frames are parsed with ``parse_float=Decimal``, so no float is ever made of a JSON number.

``LocalBook`` keeps one pair's book:

* a 431 replaces the book and its ``CS`` and makes it clean; on a clean book a 431 with a
  ``CS`` *lower* than the current one is ignored (a duplicated or reordered frame would
  otherwise roll the book back); on a dirty book any 431 is taken, so a venue whose ``CS``
  restarted (the 2020 obdiff 431 had a negative ``CS``) is followed after one gap;
* a 432 with ``CS == cs + 1`` is applied (CP 0: new absolute amount, 1: new level, 3:
  delete); ``CS <= cs`` is a duplicate or a late frame and is ignored; anything else is a
  gap and makes the book dirty. A dirty book ignores diffs until a 431, or ``reset_from``
  with a REST book;
* a book that is crossed after an apply is dirty (field lessons 13): it is never offered as
  clean.

``reset_from(rest_book)`` has no ``CS``: the next 432 is taken as the base. Diffs carry
absolute amounts, so one already reflected in the REST book applies again harmlessly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

from bot.core.types import BookLevel, Fill, OrderBook, OrderMethod, PublicTrade, Side, Ticker

__all__ = [
    "PRIVATE_TYPES",
    "BookDiff",
    "BookOutcome",
    "BookSnapshot",
    "Event",
    "LevelChange",
    "LocalBook",
    "LoginResult",
    "Malformed",
    "OrderDelete",
    "OrderEvent",
    "OrderInsert",
    "OrderMatch",
    "OrderUpdate",
    "PrivateEvent",
    "SubscribeResult",
    "TradeList",
    "Version",
    "decode",
    "normalize_pair",
    "parse_frame",
]

Json = Mapping[str, Any]

VERSION, RESULT, LOGIN = 991, 100, 114
TICKER, TRADE_LIST, TRADE = 402, 421, 422
BOOK, BOOK_DIFF = 431, 432
USER_TRADE, ORDER_MATCH = 423, 441
ORDER_INSERT, ORDER_DELETE, ORDER_UPDATE = 451, 452, 453
PRIVATE_TYPES = frozenset({USER_TRADE, ORDER_MATCH, ORDER_INSERT, ORDER_DELETE, ORDER_UPDATE})

CP_UPDATE, CP_NEW, CP_DELETE = 0, 1, 3
_METHODS = {0: OrderMethod.LIMIT, 1: OrderMethod.MARKET, 2: OrderMethod.STOP_LIMIT}
_METHODS[3] = OrderMethod.STOP_MARKET  # UNCONFIRMED integer (reference §10)


def normalize_pair(symbol: str) -> str:
    """``btc_try`` and ``BTCTRY`` name the same pair."""
    return symbol.replace("_", "").replace("-", "").strip().upper()


# -- events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Malformed:
    """A frame that could not be read: ``type`` 0 when it was not even ``[int, object]``."""

    type: int
    reason: str

    @property
    def private(self) -> bool:
        return self.type in PRIVATE_TYPES


@dataclass(frozen=True, slots=True)
class Version:
    current: str
    minimum: str


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    ok: bool
    message: str  # join|obdiff:BTCTRY


@dataclass(frozen=True, slots=True)
class LoginResult:
    ok: bool
    message: str | None


@dataclass(frozen=True, slots=True)
class LevelChange:
    change: int  # CP: 0 new absolute amount, 1 new level, 3 deleted (amount: the last one)
    price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    pair: str
    cs: int
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]


@dataclass(frozen=True, slots=True)
class BookDiff:
    pair: str
    cs: int
    bids: tuple[LevelChange, ...]
    asks: tuple[LevelChange, ...]


@dataclass(frozen=True, slots=True)
class TradeList:
    pair: str
    trades: tuple[PublicTrade, ...]  # as sent: newest first


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """451/452/453. ``left`` is the base left (``numLeft``), ``left_quote`` the quote value
    left (``denomLeft``); ``amount`` is as submitted (quote for a market buy)."""

    id: int
    pair_id: int
    pair: str
    method: int  # 0 limit, 1 market, 2 stop limit, 3 stop market (UNCONFIRMED)
    side: Side
    price: Decimal
    amount: Decimal
    left: Decimal
    left_quote: Decimal
    client_id: str | None

    @property
    def order_method(self) -> OrderMethod | None:
        return _METHODS.get(self.method)


@dataclass(frozen=True, slots=True)
class OrderInsert(OrderEvent):
    pass


@dataclass(frozen=True, slots=True)
class OrderDelete(OrderEvent):
    """The authoritative end of an order: cancelled, or (on the mock) filled."""


@dataclass(frozen=True, slots=True)
class OrderUpdate(OrderEvent):
    pass


@dataclass(frozen=True, slots=True)
class OrderMatch:
    """441: one match of an own order. ``order_id`` is the ORDER id (the wire's ``id``); the
    trade id only comes with 423. No amount left is sent."""

    order_id: int
    pair: str
    side: Side
    price: Decimal
    amount: Decimal
    client_id: str | None
    timestamp: int | None  # UNCONFIRMED field


PrivateEvent = OrderInsert | OrderDelete | OrderUpdate | OrderMatch | Fill
Event = (
    Malformed
    | Version
    | SubscribeResult
    | LoginResult
    | BookSnapshot
    | BookDiff
    | TradeList
    | PublicTrade
    | Ticker
    | PrivateEvent
)


# -- decoding ----------------------------------------------------------------------------


class _Bad(ValueError):
    pass


Reader = Callable[[Json, int, int | None], Event | None]


def parse_frame(text: str | bytes) -> tuple[int, dict[str, Any]] | None:
    """``(type, payload)`` of a ``[int, object]`` JSON frame, else None."""
    try:
        value = json.loads(text, parse_float=Decimal)
    except (ValueError, TypeError, RecursionError):
        return None
    if isinstance(value, list) and len(value) == 2:
        kind, body = value
        if type(kind) is int and isinstance(body, dict):
            return kind, body
    return None


def decode(text: str | bytes, now_ms: int, trade_side_buy: int | None = None) -> Event | None:
    """One frame as an event. ``trade_side_buy`` is the ``S`` of a taker buy on 421/422,
    whose meaning the sources dispute (§8.3): None leaves ``side`` unknown."""
    frame = parse_frame(text)
    if frame is None:
        return Malformed(0, "not a [type, object] JSON frame")
    kind, body = frame
    reader = _READERS.get(kind)
    if reader is None:
        return None
    try:
        return reader(body, now_ms, trade_side_buy)
    except (_Bad, InvalidOperation) as exc:
        return Malformed(kind, str(exc))


def _field(body: Json, key: str) -> Any:
    if key not in body:
        raise _Bad(f"missing {key}")
    return body[key]


def _int(body: Json, key: str) -> int:
    value = _field(body, key)
    if type(value) is int:
        return value
    if isinstance(value, str) and value.isascii() and value.lstrip("-").isdigit():
        return int(value)  # 422 sends D as a string
    raise _Bad(f"{key} is not an integer")


def _bool(body: Json, key: str) -> bool:
    value = _field(body, key)
    if type(value) is not bool:
        raise _Bad(f"{key} is not a boolean")
    return value


def _str(body: Json, key: str) -> str:
    value = _field(body, key)
    if not isinstance(value, str) or not value:
        raise _Bad(f"{key} is not a string")
    return value


def _opt_str(body: Json, key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise _Bad(f"{key} is not a string")
    return value


def _dec(body: Json, key: str) -> Decimal:
    value = _field(body, key)
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, str) or (type(value) is int):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise _Bad(f"{key} is not a number") from None
    else:
        raise _Bad(f"{key} is not a number")
    if not number.is_finite():
        raise _Bad(f"{key} is not finite")
    return number


def _positive(body: Json, key: str) -> Decimal:
    value = _dec(body, key)
    if value <= 0:
        raise _Bad(f"{key} is not positive")
    return value


def _pair(body: Json, *keys: str) -> str:
    for key in keys:  # the first obdiff 431 once came with "PS": null (ISS#203)
        value = body.get(key)
        if isinstance(value, str) and value:
            return normalize_pair(value)
    raise _Bad(f"no pair in {'/'.join(keys)}")


def _rows(body: Json, key: str) -> list[Json]:
    rows = _field(body, key)
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise _Bad(f"{key} is not a list of objects")
    return rows


def _version(body: Json, now_ms: int, buy: int | None) -> Version:
    return Version(_str(body, "current"), _str(body, "min"))


def _result(body: Json, now_ms: int, buy: int | None) -> SubscribeResult:
    return SubscribeResult(_bool(body, "ok"), _opt_str(body, "message") or "")


def _login(body: Json, now_ms: int, buy: int | None) -> LoginResult:
    return LoginResult(_bool(body, "ok"), _opt_str(body, "message"))


def _snapshot(body: Json, now_ms: int, buy: int | None) -> BookSnapshot:
    def levels(key: str) -> tuple[BookLevel, ...]:
        out = []
        for row in _rows(body, key):
            price, amount = _positive(row, "P"), _dec(row, "A")
            if amount < 0:
                raise _Bad(f"negative amount in {key}")
            if amount:  # an empty level is no level
                out.append(BookLevel(price, amount))
        return tuple(out)

    cs = _int(body, "CS")
    return BookSnapshot(_pair(body, "PS", "event"), cs, levels("BO"), levels("AO"))


def _diff(body: Json, now_ms: int, buy: int | None) -> BookDiff:
    def changes(key: str) -> tuple[LevelChange, ...]:
        out = []
        for row in _rows(body, key):
            cp = _int(row, "CP")
            if cp not in (CP_UPDATE, CP_NEW, CP_DELETE):
                raise _Bad(f"unknown CP {cp}")
            amount = _dec(row, "A")
            if amount < 0:
                raise _Bad(f"negative amount in {key}")
            out.append(LevelChange(cp, _positive(row, "P"), amount))
        return tuple(out)

    cs = _int(body, "CS")
    return BookDiff(_pair(body, "PS", "event"), cs, changes("BO"), changes("AO"))


def _trade_side(body: Json, buy: int | None) -> Side | None:
    side = _int(body, "S")
    if side not in (0, 1):
        raise _Bad(f"unknown S {side}")
    if buy is None:
        return None
    return Side.BUY if side == buy else Side.SELL


def _public_trade(row: Json, pair: str, buy: int | None) -> PublicTrade:
    trade_id = _field(row, "I")
    if not isinstance(trade_id, str | int) or isinstance(trade_id, bool) or trade_id == "":
        raise _Bad("I is not a trade id")
    return PublicTrade(
        trade_id=str(trade_id),
        pair=pair,
        price=_positive(row, "P"),
        amount=_positive(row, "A"),
        side=_trade_side(row, buy),
        timestamp=_int(row, "D"),
    )


def _trade(body: Json, now_ms: int, buy: int | None) -> PublicTrade:
    return _public_trade(body, _pair(body, "PS", "event"), buy)


def _trade_list(body: Json, now_ms: int, buy: int | None) -> TradeList:
    pair = _pair(body, "symbol", "event")
    trades = tuple(_public_trade(row, pair, buy) for row in _rows(body, "items"))
    return TradeList(pair, trades)


def _ticker(body: Json, now_ms: int, buy: int | None) -> Ticker:
    # WS tickers carry no time: the receive time stands in.
    pair = _pair(body, "PS", "event")
    return Ticker(pair, _dec(body, "B"), _dec(body, "A"), _dec(body, "LA"), now_ms)


def _order_side(value: int) -> Side:
    if value not in (0, 1):
        raise _Bad(f"unknown orderType {value}")
    return Side.BUY if value == 0 else Side.SELL


_O = TypeVar("_O", OrderInsert, OrderDelete, OrderUpdate)


def _order(kind: type[_O]) -> Callable[[Json, int, int | None], _O | None]:
    def read(body: Json, now_ms: int, buy: int | None) -> _O | None:
        order_id = _int(body, "id")
        if order_id == 0:
            return None  # the venue's unexplained all-zero order (§8.1)
        left, left_quote = _dec(body, "numLeft"), _dec(body, "denomLeft")
        if left < 0 or left_quote < 0:
            raise _Bad("negative amount left")
        return kind(
            id=order_id,
            pair_id=_int(body, "pairId"),
            pair=_pair(body, "symbol"),
            method=_int(body, "method"),
            side=_order_side(_int(body, "orderType")),
            price=_dec(body, "price"),  # 0 for a market order
            amount=_positive(body, "amount"),
            left=left,
            left_quote=left_quote,
            client_id=_opt_str(body, "newOrderClientId"),
        )

    return read


def _match(body: Json, now_ms: int, buy: int | None) -> OrderMatch | None:
    order_id = _int(body, "id")
    if order_id == 0:
        return None
    return OrderMatch(
        order_id=order_id,
        pair=_pair(body, "symbol"),
        side=Side.BUY if _bool(body, "isBid") else Side.SELL,
        price=_positive(body, "price"),
        amount=_positive(body, "amount"),
        client_id=_opt_str(body, "clientId"),
        timestamp=_int(body, "timestamp") if body.get("timestamp") is not None else None,
    )


def _user_trade(body: Json, now_ms: int, buy: int | None) -> Fill:
    """423. ``amount`` is cut to the base scale on the wire (``-0.3384`` for a
    ``preciseAmount`` of ``-0.33840811`` in the REST sample), so ``preciseAmount`` wins
    when it is there. The side is ``orderType``; the sign must agree with it."""
    base, quote = _str(body, "numeratorSymbol"), _str(body, "denominatorSymbol")
    signed = _dec(body, "preciseAmount" if body.get("preciseAmount") is not None else "amount")
    side_text = _str(body, "orderType").lower()
    if side_text not in ("buy", "sell"):
        raise _Bad(f"unknown orderType {side_text!r}")
    side = Side(side_text)
    if signed == 0 or (signed < 0) != (side is Side.SELL):
        raise _Bad("amount sign does not match orderType")
    return Fill(
        trade_id=_int(body, "id"),
        order_id=_int(body, "orderId"),
        client_id=_opt_str(body, "orderClientId"),
        pair=normalize_pair(base + quote),
        base=base.upper(),
        quote=quote.upper(),
        side=side,
        price=_positive(body, "price"),
        amount=abs(signed),
        fee=abs(_dec(body, "fee")),
        tax=abs(_dec(body, "tax")),
        timestamp=_int(body, "timestamp"),
    )


_READERS: dict[int, Reader] = {
    VERSION: _version,
    RESULT: _result,
    LOGIN: _login,
    TICKER: _ticker,
    TRADE_LIST: _trade_list,
    TRADE: _trade,
    BOOK: _snapshot,
    BOOK_DIFF: _diff,
    USER_TRADE: _user_trade,
    ORDER_MATCH: _match,
    ORDER_INSERT: _order(OrderInsert),
    ORDER_DELETE: _order(OrderDelete),
    ORDER_UPDATE: _order(OrderUpdate),
}


# -- the local book ----------------------------------------------------------------------


class BookOutcome(StrEnum):
    RESET = "reset"  # a snapshot replaced the book
    APPLIED = "applied"  # a diff in sequence
    STALE = "stale"  # an old or repeated CS: nothing changed
    IGNORED = "ignored"  # the book is dirty and waits for a snapshot
    GAP = "gap"  # a diff out of sequence: now dirty
    CROSSED = "crossed"  # applied, and best bid >= best ask: now dirty


class LocalBook:
    def __init__(self, pair: str) -> None:
        self.pair = normalize_pair(pair)
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self.cs: int | None = None  # None: the next 431 or 432 sets it
        self.dirty = True
        self.dirty_reason: str | None = "no snapshot yet"
        self.last_update_ms: int | None = None

    def apply(self, message: BookSnapshot | BookDiff, now_ms: int) -> BookOutcome:
        if isinstance(message, BookSnapshot):
            return self.apply_snapshot(message, now_ms)
        return self.apply_diff(message, now_ms)

    def apply_snapshot(self, snapshot: BookSnapshot, now_ms: int) -> BookOutcome:
        if not self.dirty and self.cs is not None and snapshot.cs < self.cs:
            return BookOutcome.STALE
        self._bids = {level.price: level.amount for level in snapshot.bids}
        self._asks = {level.price: level.amount for level in snapshot.asks}
        self.cs = snapshot.cs
        return self._settle(now_ms, BookOutcome.RESET)

    def apply_diff(self, diff: BookDiff, now_ms: int) -> BookOutcome:
        if self.dirty:
            return BookOutcome.IGNORED
        if self.cs is not None and diff.cs <= self.cs:
            return BookOutcome.STALE
        if self.cs is not None and diff.cs != self.cs + 1:
            self.mark_dirty(f"gap: CS {self.cs} then {diff.cs}")
            return BookOutcome.GAP
        for side, changes in ((self._bids, diff.bids), (self._asks, diff.asks)):
            for change in changes:
                if change.change == CP_DELETE or not change.amount:
                    # A delete of a level we lack is known venue noise (ISS#420), harmless.
                    side.pop(change.price, None)
                else:  # CP 0 and 1 both carry the level's absolute amount
                    side[change.price] = change.amount
        self.cs = diff.cs
        return self._settle(now_ms, BookOutcome.APPLIED)

    def reset_from(self, book: OrderBook, now_ms: int | None = None) -> BookOutcome:
        """Resync from a REST book, which has no CS: the next 432 becomes the base."""
        self._bids = {level.price: level.amount for level in book.bids if level.amount}
        self._asks = {level.price: level.amount for level in book.asks if level.amount}
        self.cs = None
        return self._settle(book.timestamp if now_ms is None else now_ms, BookOutcome.RESET)

    def mark_dirty(self, reason: str) -> None:
        self.dirty = True
        self.dirty_reason = reason

    def _settle(self, now_ms: int, outcome: BookOutcome) -> BookOutcome:
        if self._bids and self._asks and max(self._bids) >= min(self._asks):
            self.mark_dirty("crossed")
            return BookOutcome.CROSSED
        self.dirty = False
        self.dirty_reason = None
        self.last_update_ms = now_ms
        return outcome

    def snapshot(self) -> OrderBook:
        """The book as it stands, bids best first; check ``dirty`` before trusting it."""
        bids = tuple(BookLevel(p, self._bids[p]) for p in sorted(self._bids, reverse=True))
        asks = tuple(BookLevel(p, self._asks[p]) for p in sorted(self._asks))
        return OrderBook(self.pair, bids, asks, self.last_update_ms or 0)
