"""The order lifecycle as data: states, events, the transition table and the one ``apply``.
Pure (STYLE.md, rule 3).

Owns ``LocalOrder`` (the bot's record of one attempt at one intent), the table of
(state, event) to next state, ``apply`` (checks everything, then returns a new order or raises
``IllegalTransition`` with nothing changed), and the deterministic client order id.

Where events come from::

    bot, write-ahead     SEND (committed before the POST leaves), CANCEL_SENT, ABANDON
    answer to a write    ACCEPTED, REJECTED, NOT_SENT, UNCERTAIN,
                         CANCEL_UNCERTAIN, CANCEL_REFUSED (NotCancellable),
                         CANCEL_NOT_FOUND (1052 on DELETE)
    venue stream         FILL (423/441, carries the new cumulative filled), CANCELED (452)
    venue read           FOUND_OPEN / FOUND_PARTIAL / FOUND_FILLED / FOUND_CANCELED
                         (Untouched / Partial / Closed / Canceled), PROVEN_ABSENT

One rule runs through the table: positive evidence from the venue (a fill, a 452, a read
showing the order) always wins over what the bot believed, because the venue is the truth;
absence of evidence never moves an order, except PROVEN_ABSENT after the visibility budget.
A read showing an order *open* never reopens one the bot closed on positive evidence (the
venue's views lag its stream), and nothing turns a FILLED order into a cancelled one.

``FILL`` is looked up as ``FILL_COMPLETE`` when its cumulative ``filled`` reaches the
quantity, so the table, not code, says where a completing fill leads. ``filled`` is in the
unit of ``quantity`` (quote for a market buy, as the venue's ``leftAmount``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from bot.core.types import OrderMethod, Side
from bot.errors import Bug

__all__ = [
    "MAX_CLIENT_ID",
    "TRANSITIONS",
    "Change",
    "IllegalTransition",
    "LocalOrder",
    "OrderEvent",
    "OrderState",
    "apply",
    "client_order_id",
    "new_intent",
    "next_attempt",
    "table_event",
]


class OrderState(StrEnum):
    INTENT = "intent"  # committed to the store, nothing sent
    SUBMITTING = "submitting"  # the POST may be on the wire
    OPEN = "open"
    PARTIAL = "partial"  # partly filled, still resting
    CANCEL_PENDING = "cancel_pending"  # cancel asked; the venue has not confirmed
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"  # refused by the venue, abandoned, or proven absent
    UNKNOWN = "unknown"  # the submit's outcome is unknown: resolved by a venue read

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_live(self) -> bool:
        """May rest on the venue."""
        return self in _LIVE


_TERMINAL = frozenset({OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED})
_LIVE = frozenset(set(OrderState) - _TERMINAL - {OrderState.INTENT})  # may rest on the venue


class OrderEvent(StrEnum):
    SEND = "send"
    ABANDON = "abandon"  # the bot drops an intent it never sent
    ACCEPTED = "accepted"  # REST ack or WS 451, with the venue id
    REJECTED = "rejected"  # the venue answered the submit with a refusal
    NOT_SENT = "not_sent"  # NotSent: the request provably never left
    UNCERTAIN = "uncertain"  # timeout, disconnect, 5xx on the submit
    CANCEL_SENT = "cancel_sent"
    CANCEL_UNCERTAIN = "cancel_uncertain"
    CANCEL_REFUSED = "cancel_refused"  # NotCancellable / blocked: resolve by a read
    CANCEL_NOT_FOUND = "cancel_not_found"  # 1052: "unknown order" is not "cancelled"
    FILL = "fill"
    FILL_COMPLETE = "fill_complete"  # a FILL whose cumulative filled reaches the quantity
    CANCELED = "canceled"  # WS 452
    FOUND_OPEN = "found_open"
    FOUND_PARTIAL = "found_partial"
    FOUND_FILLED = "found_filled"
    FOUND_CANCELED = "found_canceled"
    PROVEN_ABSENT = "proven_absent"  # nowhere on a complete read, past the budget


S, E = OrderState, OrderEvent

# Venue evidence that an order exists, and where it leads from a state that did not know it.
_FOUND = {
    E.ACCEPTED: S.OPEN,
    E.FOUND_OPEN: S.OPEN,
    E.FOUND_PARTIAL: S.PARTIAL,
    E.FOUND_FILLED: S.FILLED,
    E.FOUND_CANCELED: S.CANCELLED,
    E.CANCELED: S.CANCELLED,
    E.FILL: S.PARTIAL,
    E.FILL_COMPLETE: S.FILLED,
}
_NO_ACK = {e: s for e, s in _FOUND.items() if e is not E.ACCEPTED}
_CANCEL_ANSWERS = (E.CANCEL_UNCERTAIN, E.CANCEL_REFUSED, E.CANCEL_NOT_FOUND)

TRANSITIONS: Mapping[tuple[OrderState, OrderEvent], OrderState] = {
    (S.INTENT, E.SEND): S.SUBMITTING,
    (S.INTENT, E.ABANDON): S.REJECTED,
    # The venue has it, so it was sent after all: a request classified NotSent that landed,
    # or a SEND lost in a crash. The venue is the truth.
    **{(S.INTENT, e): s for e, s in _NO_ACK.items()},
    (S.SUBMITTING, E.REJECTED): S.REJECTED,
    (S.SUBMITTING, E.UNCERTAIN): S.UNKNOWN,
    (S.SUBMITTING, E.NOT_SENT): S.INTENT,  # nothing reached the venue: the same id may go again
    # Fills (WS 423) and a 452 can overtake the POST's own answer; a crashed SUBMITTING is
    # resolved by a read like an UNKNOWN.
    **{(S.SUBMITTING, e): s for e, s in _FOUND.items()},
    **{(S.UNKNOWN, e): s for e, s in _FOUND.items()},  # a late ack or 451 resolves it too
    # The submit's own answer arriving after a reconcile declared it UNKNOWN: a refusal is
    # proof, and NotSent proves it never left. A timeout never proves anything.
    (S.UNKNOWN, E.REJECTED): S.REJECTED,
    (S.UNKNOWN, E.NOT_SENT): S.INTENT,
    (S.UNKNOWN, E.UNCERTAIN): S.UNKNOWN,
    (S.UNKNOWN, E.PROVEN_ABSENT): S.REJECTED,
    (S.OPEN, E.ACCEPTED): S.OPEN,  # WS 451 after the REST ack
    (S.OPEN, E.FOUND_OPEN): S.OPEN,
    (S.OPEN, E.FOUND_PARTIAL): S.PARTIAL,  # a fill whose 423 never came
    (S.OPEN, E.FOUND_FILLED): S.FILLED,  # closed while we were away
    (S.OPEN, E.FOUND_CANCELED): S.CANCELLED,  # cancelled elsewhere (web UI, venue)
    (S.OPEN, E.CANCELED): S.CANCELLED,
    (S.OPEN, E.FILL): S.PARTIAL,
    (S.OPEN, E.FILL_COMPLETE): S.FILLED,
    (S.OPEN, E.CANCEL_SENT): S.CANCEL_PENDING,
    (S.PARTIAL, E.ACCEPTED): S.PARTIAL,  # the ack after the first fills
    (S.PARTIAL, E.FOUND_OPEN): S.PARTIAL,  # a view lagging our fills: fills never shrink
    (S.PARTIAL, E.FOUND_PARTIAL): S.PARTIAL,
    (S.PARTIAL, E.FOUND_FILLED): S.FILLED,
    (S.PARTIAL, E.FOUND_CANCELED): S.CANCELLED,
    (S.PARTIAL, E.CANCELED): S.CANCELLED,
    (S.PARTIAL, E.FILL): S.PARTIAL,
    (S.PARTIAL, E.FILL_COMPLETE): S.FILLED,
    (S.PARTIAL, E.CANCEL_SENT): S.CANCEL_PENDING,
    # Cancel is asynchronous (200 at once, 452 later): until the venue confirms, the order
    # rests and may fill. A re-sent cancel is harmless (re-cancelling succeeds, ISS#595).
    (S.CANCEL_PENDING, E.CANCEL_SENT): S.CANCEL_PENDING,
    **{(S.CANCEL_PENDING, e): S.CANCEL_PENDING for e in _CANCEL_ANSWERS},
    (S.CANCEL_PENDING, E.FILL): S.CANCEL_PENDING,  # the cancel may still take the rest
    (S.CANCEL_PENDING, E.FILL_COMPLETE): S.FILLED,  # the fill won the race
    (S.CANCEL_PENDING, E.FOUND_OPEN): S.CANCEL_PENDING,
    (S.CANCEL_PENDING, E.FOUND_PARTIAL): S.CANCEL_PENDING,
    (S.CANCEL_PENDING, E.FOUND_FILLED): S.FILLED,
    (S.CANCEL_PENDING, E.FOUND_CANCELED): S.CANCELLED,
    (S.CANCEL_PENDING, E.CANCELED): S.CANCELLED,
    # A FILLED order only learns more fills (a Closed market order may stop short of its
    # quantity; re-delivered fills are deduplicated upstream by trade id). A lagging view
    # showing it open, a late ack, or the answer to a cancel that lost the race change nothing.
    (S.FILLED, E.FILL): S.FILLED,
    (S.FILLED, E.FILL_COMPLETE): S.FILLED,
    (S.FILLED, E.FOUND_FILLED): S.FILLED,
    (S.FILLED, E.FOUND_OPEN): S.FILLED,
    (S.FILLED, E.FOUND_PARTIAL): S.FILLED,
    (S.FILLED, E.ACCEPTED): S.FILLED,
    **{(S.FILLED, e): S.FILLED for e in _CANCEL_ANSWERS},
    # Cancel racing a fill: fills that happened before the cancel landed arrive late and are
    # counted; a fill completing the quantity, or a read showing Closed, means the venue's
    # final status is Closed, and that decides.
    (S.CANCELLED, E.FILL): S.CANCELLED,
    (S.CANCELLED, E.FILL_COMPLETE): S.FILLED,
    (S.CANCELLED, E.FOUND_FILLED): S.FILLED,
    (S.CANCELLED, E.FOUND_CANCELED): S.CANCELLED,
    (S.CANCELLED, E.CANCELED): S.CANCELLED,  # a repeated 452 or read
    (S.CANCELLED, E.FOUND_OPEN): S.CANCELLED,  # a view lagging the 452
    (S.CANCELLED, E.FOUND_PARTIAL): S.CANCELLED,
    (S.CANCELLED, E.ACCEPTED): S.CANCELLED,  # a 452 can overtake the ack
    **{(S.CANCELLED, e): S.CANCELLED for e in _CANCEL_ANSWERS},
    # Proven absent, then seen: a visibility lag longer than the budget. The venue is the
    # truth; reconcile reports it, since a resubmit may have doubled the intent.
    **{(S.REJECTED, e): s for e, s in _NO_ACK.items()},
}

_NEEDS_VENUE_ID = frozenset(
    {E.ACCEPTED, E.CANCELED, E.FOUND_OPEN, E.FOUND_PARTIAL, E.FOUND_FILLED, E.FOUND_CANCELED}
)
_CARRIES_FILLED = frozenset(_NO_ACK)  # fills, 452 and reads say how much has filled


class IllegalTransition(Bug):
    """An event the table does not allow, or one whose data contradicts the order. Nothing
    was changed; the caller logs it, counts it and refuses it."""

    def __init__(self, order: LocalOrder, event: OrderEvent, detail: str) -> None:
        super().__init__(f"illegal {event} for {order.client_id} in {order.state}: {detail}")
        self.state = order.state
        self.event = event
        self.client_id = order.client_id
        self.detail = detail


@dataclass(frozen=True, slots=True)
class LocalOrder:
    intent_id: str
    client_id: str
    attempt: int  # 1, 2, ... for the bot's own; 0 for an order imported from the venue
    pair: str
    side: Side
    method: OrderMethod
    price: Decimal | None
    stop_price: Decimal | None
    quantity: Decimal  # quote for a market buy
    state: OrderState
    venue_id: int | None
    filled: Decimal  # cumulative, in the unit of quantity
    created_ms: int
    updated_ms: int
    submitted_ms: int | None
    unknown_since_ms: int | None  # set while UNKNOWN
    cancel_requested_ms: int | None  # the last CANCEL_SENT
    external: bool  # imported from the venue, not placed by the bot
    reason: str | None

    def __post_init__(self) -> None:
        if self.quantity <= 0 or not 0 <= self.filled <= self.quantity:
            raise ValueError(f"{self.client_id}: filled {self.filled} of {self.quantity}")

    @property
    def left(self) -> Decimal:
        return self.quantity - self.filled

    @property
    def is_live(self) -> bool:
        return self.state.is_live


@dataclass(frozen=True, slots=True)
class Change:
    event: OrderEvent
    at_ms: int
    venue_id: int | None = None
    filled: Decimal | None = None  # the new cumulative filled, never a delta
    reason: str | None = None


def table_event(order: LocalOrder, change: Change) -> OrderEvent:
    """The table's key for ``change``: a fill reaching the quantity is FILL_COMPLETE."""
    if change.event in (E.FILL, E.FILL_COMPLETE) and change.filled is not None:
        return E.FILL_COMPLETE if change.filled >= order.quantity else E.FILL
    return change.event


def apply(order: LocalOrder, change: Change) -> LocalOrder:
    """The order after ``change``, or ``IllegalTransition`` with nothing changed."""
    event = table_event(order, change)
    target = TRANSITIONS.get((order.state, event))
    if target is None:
        raise IllegalTransition(order, change.event, "not in the transition table")
    venue_id = _venue_id_after(order, change, event)
    filled = _filled_after(order, change, event)
    at = change.at_ms
    return replace(
        order,
        state=target,
        venue_id=venue_id,
        filled=filled,
        updated_ms=max(order.updated_ms, at),
        submitted_ms=(
            at if event is E.SEND else None if target is S.INTENT else order.submitted_ms
        ),
        unknown_since_ms=(
            (order.unknown_since_ms if order.unknown_since_ms is not None else at)
            if target is S.UNKNOWN
            else None
        ),
        cancel_requested_ms=at if event is E.CANCEL_SENT else order.cancel_requested_ms,
        reason=change.reason if change.reason is not None else order.reason,
    )


def _venue_id_after(order: LocalOrder, change: Change, event: OrderEvent) -> int | None:
    if change.venue_id is not None and order.venue_id not in (None, change.venue_id):
        raise IllegalTransition(
            order, change.event, f"venue id {change.venue_id} but the order is {order.venue_id}"
        )
    venue_id = order.venue_id if order.venue_id is not None else change.venue_id
    if venue_id is None and (event in _NEEDS_VENUE_ID or event is E.CANCEL_SENT):
        raise IllegalTransition(order, change.event, "no venue id")
    return venue_id


def _filled_after(order: LocalOrder, change: Change, event: OrderEvent) -> Decimal:
    got = change.filled
    if got is None:
        if event in (E.FILL, E.FILL_COMPLETE):
            raise IllegalTransition(order, change.event, "a fill without a cumulative filled")
        return order.quantity if event is E.FOUND_FILLED else order.filled
    if event not in _CARRIES_FILLED:
        raise IllegalTransition(order, change.event, f"carries filled {got}")
    if not 0 <= got <= order.quantity:
        raise IllegalTransition(order, change.event, f"filled {got} of {order.quantity}")
    if event in (E.FILL, E.FILL_COMPLETE):
        if got <= 0 or got < order.filled:
            raise IllegalTransition(
                order, change.event, f"fills never shrink: {order.filled} -> {got}"
            )
        return got
    return max(order.filled, got)  # a view may lag the fills the stream already gave


_PREFIX = re.compile(r"[A-Za-z0-9]{1,8}")
MAX_CLIENT_ID = 36


def client_order_id(intent_id: str, attempt: int, prefix: str = "bb") -> str:
    """The client order id of one attempt at one intent: derived, never random, so a
    restart recomputes it; ``[A-Za-z0-9-]``, at most 36 characters, distinct per attempt."""
    if attempt < 1:
        raise ValueError(f"attempt {attempt} < 1")
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"client id prefix {prefix!r} is not 1-8 letters or digits")
    head = f"{prefix}-{attempt}-"
    room = MAX_CLIENT_ID - len(head)
    if room < 16:
        raise ValueError(f"attempt {attempt} leaves too little room for the digest")
    digest = hashlib.sha256(f"{intent_id}\x00{attempt}".encode()).hexdigest()
    return head + digest[:room]


def new_intent(
    intent_id: str,
    *,
    pair: str,
    side: Side,
    method: OrderMethod,
    quantity: Decimal,
    at_ms: int,
    price: Decimal | None = None,
    stop_price: Decimal | None = None,
    attempt: int = 1,
    prefix: str = "bb",
) -> LocalOrder:
    """A new order in INTENT, its client id derived from the intent and the attempt."""
    return LocalOrder(
        intent_id=intent_id,
        client_id=client_order_id(intent_id, attempt, prefix),
        attempt=attempt,
        pair=pair,
        side=side,
        method=method,
        price=price,
        stop_price=stop_price,
        quantity=quantity,
        state=S.INTENT,
        venue_id=None,
        filled=Decimal(0),
        created_ms=at_ms,
        updated_ms=at_ms,
        submitted_ms=None,
        unknown_since_ms=None,
        cancel_requested_ms=None,
        external=False,
        reason=None,
    )


def next_attempt(order: LocalOrder, at_ms: int, prefix: str = "bb") -> LocalOrder:
    """The same intent again, as attempt + 1 with a new client id. Only once the old attempt
    is REJECTED (refused, abandoned or proven absent): anything else could double it."""
    if order.state is not S.REJECTED or order.external:
        raise ValueError(f"{order.client_id} is {order.state}: not safe to place again")
    return new_intent(
        order.intent_id,
        pair=order.pair,
        side=order.side,
        method=order.method,
        quantity=order.quantity,
        at_ms=at_ms,
        price=order.price,
        stop_price=order.stop_price,
        attempt=order.attempt + 1,
        prefix=prefix,
    )
