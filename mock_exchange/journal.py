"""The journal: an append-only record of everything that changed the venue or fired a fault.
Pure.

This is the ground truth the chaos harness judges the bot by. Each entry has a sequence
number (1, 2, ... with no holes), the venue time in ms, a kind, and flat JSON fields with
the venue's ids, the client order id and amounts as strings. Entries come from two places:
the venue's events (``on_event``, subscribed to the venue) and the edge (``record``: faults
fired, connections dropped, orders refused).

Kinds from venue events: ``order_accepted``, ``stop_triggered``, ``cancel_requested``,
``order_filled`` (one per side of a match), ``order_closed`` (with ``reason`` canceled,
filled or expired), ``account_funded``. Public trades are not journalled: each is the pair
of ``order_filled`` entries of its match.

Memory is bounded by ``capacity``: beyond it the oldest entries are dropped, and
``first_seq`` tells a reader what is gone. An optional ``sink`` receives every entry as a
JSON-ready dict when it is made (the edge writes JSONL with it). ``include`` filters events
by account, so that a long-running server need not journal its market agents.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mock_exchange.events import (
    AccountFunded,
    OrderCancelRequested,
    OrderDeleted,
    OrderFilled,
    OrderInserted,
    PublicTrade,
    StopTriggered,
    VenueEvent,
)
from mock_exchange.model import Order

__all__ = ["DEFAULT_CAPACITY", "Entry", "Journal"]

DEFAULT_CAPACITY = 1_000_000

Json = dict[str, Any]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    at: int  # venue ms
    kind: str
    data: Json

    def to_json(self) -> Json:
        return {"seq": self.seq, "at": self.at, "kind": self.kind, **self.data}


def _order_fields(order: Order) -> Json:
    return {
        "order_id": order.id,
        "client_id": order.client_id,
        "account": order.account,
        "pair": order.pair,
        "side": order.side,
        "method": order.method,
    }


class Journal:
    def __init__(
        self,
        *,
        capacity: int = DEFAULT_CAPACITY,
        sink: Callable[[Json], None] | None = None,
        include: Callable[[str], bool] | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError("journal capacity must be at least 1")
        self._entries: deque[Entry] = deque(maxlen=capacity)
        self._next_seq = 1
        self._sink = sink
        self._include = include

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def first_seq(self) -> int:
        """The oldest sequence number still held (``last_seq + 1`` when empty)."""
        return self._entries[0].seq if self._entries else self._next_seq

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    def record(self, kind: str, at: int, **data: Any) -> Entry:
        entry = Entry(self._next_seq, at, kind, data)
        self._next_seq += 1
        self._entries.append(entry)
        if self._sink is not None:
            self._sink(entry.to_json())
        return entry

    def entries(
        self, since: int = 0, kinds: Iterable[str] | None = None, limit: int | None = None
    ) -> list[Entry]:
        """Entries with ``seq > since``, oldest first, optionally of some kinds only."""
        wanted = set(kinds) if kinds is not None else None
        found: list[Entry] = []
        start = max(0, since - self.first_seq + 1)
        for index in range(start, len(self._entries)):
            entry = self._entries[index]
            if wanted is None or entry.kind in wanted:
                found.append(entry)
                if limit is not None and len(found) >= limit:
                    break
        return found

    # -- venue events ------------------------------------------------------------------------

    def _wanted(self, account: str) -> bool:
        return self._include is None or self._include(account)

    def on_event(self, event: VenueEvent) -> None:
        if isinstance(event, OrderFilled):
            fill, order = event.fill, event.order
            if self._wanted(order.account):
                self.record(
                    "order_filled",
                    fill.timestamp,
                    **_order_fields(order),
                    trade_id=fill.trade_id,
                    match_id=fill.match_id,
                    price=_text(fill.price),
                    amount=_text(fill.amount),
                    fee=_text(fill.fee),
                    tax=_text(fill.tax),
                    maker=fill.maker,
                    left=_text(order.left),
                    status=order.status,
                )
        elif isinstance(event, OrderInserted):
            order = event.order
            if self._wanted(order.account):
                self.record(
                    "order_accepted",
                    event.timestamp,
                    **_order_fields(order),
                    price=_text(order.price),
                    stop_price=_text(order.stop_price),
                    quantity=_text(order.quantity),
                )
        elif isinstance(event, OrderDeleted):
            order = event.order
            if self._wanted(order.account):
                self.record(
                    "order_closed",
                    event.timestamp,
                    **_order_fields(order),
                    reason=event.reason,
                    status=order.status,
                    left=_text(order.left),
                )
        elif isinstance(event, OrderCancelRequested):
            order = event.order
            if self._wanted(order.account):
                self.record(
                    "cancel_requested",
                    event.timestamp,
                    **_order_fields(order),
                    due=order.cancel_due,
                )
        elif isinstance(event, StopTriggered):
            if self._wanted(event.order.account):
                self.record("stop_triggered", event.timestamp, **_order_fields(event.order))
        elif isinstance(event, AccountFunded):
            if self._wanted(event.account):
                self.record(
                    "account_funded",
                    event.timestamp,
                    account=event.account,
                    asset=event.asset,
                    amount=_text(event.amount),
                )
        elif isinstance(event, PublicTrade):
            pass  # the two order_filled entries of the match say it all
