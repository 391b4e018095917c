"""The bot's view of the venue, as values: frozen dataclasses with ``Decimal`` money. Pure.

These are the core shapes (STYLE.md rule 8): the adapter (``bot.exchange``) turns the wire
into them and nothing above it sees a JSON field name. Times are Unix milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

__all__ = [
    "Balance",
    "BookLevel",
    "Fill",
    "OrderBook",
    "OrderMethod",
    "OrderStatus",
    "PairRules",
    "PublicTrade",
    "Side",
    "SubmitAck",
    "Ticker",
    "VenueOrder",
]


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderMethod(StrEnum):
    LIMIT = "limit"
    MARKET = "market"
    STOP_LIMIT = "stoplimit"
    STOP_MARKET = "stopmarket"


class OrderStatus(StrEnum):
    """The venue's REST statuses (reference §7). ``UNKNOWN_TO_US`` is never sent: it is what
    a status string the bot has never seen parses to, so that it is counted and handled,
    never mistaken for one of the others."""

    UNTOUCHED = "Untouched"
    PARTIAL = "Partial"
    CANCELED = "Canceled"
    CLOSED = "Closed"
    UNKNOWN_TO_US = "?"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.UNTOUCHED, OrderStatus.PARTIAL)


@dataclass(frozen=True, slots=True)
class PairRules:
    """One tradable pair from exchangeinfo. No field is ever invented: a missing rule is a
    missing pair."""

    name: str  # BTCTRY
    base: str  # numerator
    quote: str  # denominator
    status: str  # TRADING
    quantity_scale: int  # numeratorScale
    price_scale: int  # denominatorScale (0 decimals when has_fraction is false)
    has_fraction: bool
    min_price: Decimal
    max_price: Decimal
    tick_size: Decimal
    min_total: Decimal  # minExchangeValue, in quote
    min_amount: Decimal | None
    max_amount: Decimal | None
    min_limit_price: Decimal | None  # minimumLimitOrderPrice band
    max_limit_price: Decimal | None  # maximumLimitOrderPrice band
    order_methods: frozenset[OrderMethod]

    @property
    def price_decimals(self) -> int:
        return self.price_scale if self.has_fraction else 0


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    total: Decimal
    locked: Decimal
    free: Decimal
    timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """An order as a REST view shows it (openOrders, allOrders, order/{id})."""

    id: int
    client_id: str | None
    pair: str
    side: Side
    method: OrderMethod
    price: Decimal
    stop_price: Decimal | None
    quantity: Decimal  # as submitted (quote for a market buy)
    left: Decimal
    status: OrderStatus
    status_text: str  # as sent, for an unknown status
    created: int | None  # openOrders shows 0: None here
    updated: int

    @property
    def filled(self) -> Decimal:
        return self.quantity - self.left


@dataclass(frozen=True, slots=True)
class SubmitAck:
    """The answer to an accepted ``POST order``."""

    id: int
    client_id: str | None
    pair: str
    side: Side
    method: OrderMethod
    price: Decimal | None
    stop_price: Decimal | None
    quantity: Decimal
    created: int


@dataclass(frozen=True, slots=True)
class Fill:
    """One own fill, from REST users/transactions/trade or websocket 423; keyed by
    ``trade_id``. ``amount``, ``fee`` and ``tax`` are positive here; ``side`` says which
    way the base moved."""

    trade_id: int
    order_id: int
    client_id: str | None
    pair: str  # base + quote
    base: str
    quote: str
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal
    tax: Decimal
    timestamp: int


@dataclass(frozen=True, slots=True)
class Ticker:
    pair: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    timestamp: int


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class OrderBook:
    """Bids best (highest) first, asks best (lowest) first."""

    pair: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    timestamp: int

    @property
    def crossed(self) -> bool:
        return bool(self.bids and self.asks and self.bids[0].price >= self.asks[0].price)


@dataclass(frozen=True, slots=True)
class PublicTrade:
    trade_id: str
    pair: str
    price: Decimal
    amount: Decimal
    side: Side | None
    timestamp: int
