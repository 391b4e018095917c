"""What happens on the venue, as values: the websocket feed and the journal consume these."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from mock_exchange.model import Fill, Order

__all__ = [
    "AccountFunded",
    "OrderCancelRequested",
    "OrderDeleted",
    "OrderFilled",
    "OrderInserted",
    "PublicTrade",
    "StopTriggered",
    "VenueEvent",
]


@dataclass(frozen=True, slots=True)
class OrderInserted:
    order: Order
    timestamp: int


@dataclass(frozen=True, slots=True)
class OrderFilled:
    fill: Fill
    order: Order


@dataclass(frozen=True, slots=True)
class OrderDeleted:
    """The order left the venue's open set: cancelled, filled, or the rest of a market order."""

    order: Order
    reason: str  # "canceled", "filled", "expired"
    timestamp: int


@dataclass(frozen=True, slots=True)
class OrderCancelRequested:
    order: Order
    timestamp: int


@dataclass(frozen=True, slots=True)
class StopTriggered:
    order: Order
    timestamp: int


@dataclass(frozen=True, slots=True)
class PublicTrade:
    tid: str
    pair: str
    price: Decimal
    amount: Decimal
    side: str  # the taker's side
    timestamp: int


@dataclass(frozen=True, slots=True)
class AccountFunded:
    account: str
    asset: str
    amount: Decimal
    timestamp: int


VenueEvent = (
    OrderInserted
    | OrderFilled
    | OrderDeleted
    | OrderCancelRequested
    | StopTriggered
    | PublicTrade
    | AccountFunded
)
