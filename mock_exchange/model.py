"""The venue's records: orders and fills, as the matching engine and the ledger see them.

Plain mutable records with slots; the venue owns them and changes them in one place.
Amounts are ``Decimal``. ``left`` is in base currency, except for a market buy, which the
venue sizes in quote currency (reference §5.5), so its ``left`` is quote still to spend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["BUY", "SELL", "Fill", "Order", "OrderStatus"]

BUY = "buy"
SELL = "sell"


class OrderStatus:
    UNTOUCHED = "Untouched"
    PARTIAL = "Partial"
    CANCELED = "Canceled"
    CLOSED = "Closed"
    OPEN = frozenset({UNTOUCHED, PARTIAL})


@dataclass(slots=True, eq=False)
class Order:
    id: int
    account: str
    pair: str
    side: str  # BUY or SELL
    method: str  # limit, market, stoplimit, stopmarket
    price: Decimal | None  # limit price; None for market
    quantity: Decimal  # as submitted: base, or quote for a market buy
    left: Decimal
    client_id: str
    created: int  # ms
    updated: int  # ms
    stop_price: Decimal | None = None
    status: str = OrderStatus.UNTOUCHED
    triggered: bool = True  # stop orders start False and rest off-book until triggered
    locked: Decimal = Decimal(0)  # funds still held for this order, in ``lock_asset``
    lock_asset: str = ""
    filled_base: Decimal = Decimal(0)
    filled_quote: Decimal = Decimal(0)
    cancel_due: int | None = None  # ms at which a requested cancel takes effect
    first_fill_price: Decimal | None = None
    fills: list[int] = field(default_factory=list)  # trade ids, in order

    @property
    def is_open(self) -> bool:
        return self.status in OrderStatus.OPEN

    @property
    def sized_in_quote(self) -> bool:
        return self.side == BUY and self.method in ("market", "stopmarket")


@dataclass(slots=True)
class Fill:
    """One side of one match. Every match makes two fills, maker and taker, sharing ``match_id``.

    Never changed once made; not declared frozen only because a frozen dataclass takes
    twice as long to build, and the venue builds two per match.
    """

    trade_id: int
    match_id: int
    order_id: int
    account: str
    pair: str
    side: str
    price: Decimal
    amount: Decimal  # base, always positive here; the wire shows sells negative
    fee: Decimal  # positive here; the wire shows it negative
    tax: Decimal
    timestamp: int
    maker: bool
    client_id: str
