"""The order lifecycle: write-ahead submits, cancels and replaces; uncertain outcomes
resolved by client order id; fills exactly once; reconciliation against the venue.

Every change of an order goes through ``bot.core.orders.apply`` (the table) and is then
persisted with the store's compare-and-set ``transition``, with an audit row. An illegal
transition is logged, counted and refused; nothing is overwritten.

Write-ahead: ``submit`` derives the client order id from the intent, commits the intent and
the order (state ``intent``) *before* the request leaves, then moves it to ``submitting``.
A crash at any point leaves a row: ``load`` turns an ``intent`` that was never sent into an
abandoned attempt (the intent may go again as the next attempt) and a ``submitting`` one
into ``unknown``, which reconciliation resolves through openOrders, allOrders (a window
that widens when needed) and order/{id}. An intent is placed again only when its order is
proven absent after the visibility budget (``ReconcileConfig.visibility_budget_ms``,
a minute by default): "not found" right after a create is normal.

Fills arrive from websocket 423 and from REST users/transactions/trade; the store records
each trade id once, and an order's filled amount is the sum of its own recorded fills, so
two partial fills are never collapsed and a re-delivered one changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.core import orders as core
from bot.core.orders import Change, IllegalTransition, LocalOrder, OrderEvent, OrderState
from bot.core.portfolio import Portfolio
from bot.core.reconcile import ReconcileConfig, ReconcilePlan, VenueSnapshot, reconcile
from bot.core.types import Balance, Fill, OrderMethod, Side, VenueOrder
from bot.errors import (
    BotError,
    ClockUntrusted,
    NotCancellable,
    NotSent,
    OrderNotFound,
    RateLimited,
    Uncertain,
    VenueRejected,
)
from bot.exchange.channels import OrderDelete, OrderInsert, OrderMatch, PrivateEvent
from bot.exchange.rest import OrderRequest, RestClient
from bot.metrics import BotMetrics
from bot.store.repository import Store

__all__ = ["Intent", "Lifecycle", "LifecycleConfig", "ReconcileFailed", "ReconcileReport"]

log = logging.getLogger("bot.lifecycle")

E = OrderEvent
S = OrderState
_DAY_MS = 86_400_000


class ReconcileFailed(BotError):
    """A reconcile pass could not read the venue's open orders: nothing was concluded."""


@dataclass(frozen=True)
class LifecycleConfig:
    visibility_budget_ms: int = 60_000
    lookback_ms: int = _DAY_MS
    max_lookback_ms: int = 7 * _DAY_MS
    import_external: bool = True
    cancel_external: bool = False
    client_prefix: str = "bb"
    pairs: tuple[str, ...] = ("BTCTRY",)
    all_orders_limit: int = 500
    max_pages: int = 20

    def reconcile_config(self, lookback_ms: int) -> ReconcileConfig:
        return ReconcileConfig(
            visibility_budget_ms=self.visibility_budget_ms,
            lookback_ms=lookback_ms,
            import_external=self.import_external,
            cancel_external=self.cancel_external,
        )


@dataclass(frozen=True)
class Intent:
    """What a strategy wants placed; ``intent_id`` is stable for one quote slot and round."""

    intent_id: str
    pair: str
    side: Side
    method: OrderMethod
    quantity: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    strategy: str = ""
    slot: str = ""


@dataclass
class ReconcileReport:
    plan: ReconcilePlan
    applied: int = 0
    refused: int = 0
    imported: int = 0
    fills: int = 0
    resubmitted: int = 0
    complete: bool = True
    notes: list[str] = field(default_factory=list)


def _row(order: LocalOrder) -> dict[str, Any]:
    return dataclasses.asdict(order)


def _local(row: dict[str, Any]) -> LocalOrder:
    values = {f.name: row[f.name] for f in dataclasses.fields(LocalOrder)}
    values["state"] = OrderState(values["state"])
    values["side"] = Side(values["side"])
    values["method"] = OrderMethod(values["method"])
    return LocalOrder(**values)


class Lifecycle:
    def __init__(
        self,
        rest: RestClient,
        store: Store,
        *,
        now_ms: Callable[[], int],
        config: LifecycleConfig | None = None,
        metrics: BotMetrics | None = None,
        portfolio: Portfolio | None = None,
        canaries: frozenset[str] = frozenset(),
    ) -> None:
        self.rest = rest
        self.store = store
        self.now_ms = now_ms
        self.config = config or LifecycleConfig()
        self.metrics = metrics
        self.portfolio = portfolio or Portfolio()
        self.canaries = canaries  # deliberately broken behaviours: the harness's tests only
        self.orders: dict[str, LocalOrder] = {}
        self.fill_ids: set[int] = set()
        self.illegal = 0
        self.lookback_ms = self.config.lookback_ms
        self._lookups: set[int] = set()
        self._filled: dict[str, Decimal] = {}  # client id -> sum of its recorded fills
        self.last_balances: dict[str, Balance] = {}
        self._canary_orders: set[int] = set()  # the venue's, from the last snapshot
        self.fill_listeners: list[Callable[[Fill], object]] = []

    # -- start-up -------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the books back after a start or a crash, and settle what a crash left."""
        self.orders = {row["client_id"]: _local(row) for row in await self.store.orders()}
        fills = await self.store.fills()
        self.fill_ids = {f.trade_id for f in fills}
        for fill in sorted(fills, key=lambda f: (f.timestamp, f.trade_id)):
            self.portfolio.apply_fill(fill)
            owner = self._owner_of(fill)
            if owner is not None:
                self._filled[owner.client_id] = self._filled.get(
                    owner.client_id, Decimal(0)
                ) + self._fill_units(owner, fill)
        for order in list(self.orders.values()):
            if order.state is S.INTENT:
                # Committed but never sent: SEND is persisted before the request leaves.
                await self._change(
                    order.client_id, Change(E.ABANDON, self.now_ms(), reason="never sent (restart)")
                )
            elif order.state is S.SUBMITTING:
                # The process died with the request possibly on the wire.
                await self._change(
                    order.client_id,
                    Change(E.UNCERTAIN, self.now_ms(), reason="in flight at restart"),
                )
        self._count_states()

    # -- writes ---------------------------------------------------------------------------

    async def submit(self, intent: Intent) -> LocalOrder:
        """Write ahead, then send. Never raises for the venue's answer: the order's state
        says what happened (open, rejected, unknown)."""
        attempts = [o for o in self.orders.values() if o.intent_id == intent.intent_id]
        live = [o for o in attempts if not o.state.terminal]
        if live:
            raise core.IllegalTransition(live[0], E.SEND, "the intent already has a live order")
        now = self.now_ms()
        if attempts:
            last = max(attempts, key=lambda o: o.attempt)
            order = core.next_attempt(last, now, self.config.client_prefix)
        else:
            order = core.new_intent(
                intent.intent_id,
                pair=intent.pair,
                side=intent.side,
                method=intent.method,
                quantity=intent.quantity,
                price=intent.price,
                stop_price=intent.stop_price,
                at_ms=now,
                prefix=self.config.client_prefix,
            )
        payload = {
            "intent_id": intent.intent_id,
            "strategy": intent.strategy,
            "slot": intent.slot,
            "created_ms": now,
            "payload": json.dumps(
                {
                    "pair": intent.pair,
                    "side": intent.side.value,
                    "method": intent.method.value,
                    "quantity": str(intent.quantity),
                    "price": str(intent.price),
                    "stop_price": str(intent.stop_price),
                }
            ),
        }
        await self.store.commit_intent(_row(order), payload, now)
        self.orders[order.client_id] = order
        return await self._send(order)

    async def _send(self, order: LocalOrder) -> LocalOrder:
        sent = await self._change(order.client_id, Change(E.SEND, self.now_ms()))
        if sent is None:
            return self.orders[order.client_id]
        request = OrderRequest(
            pair=order.pair,
            side=order.side,
            method=order.method,
            quantity=order.quantity,
            client_id=order.client_id,
            price=order.price,
            stop_price=order.stop_price,
        )
        change: Change
        try:
            ack = await self.rest.submit(request)
        except Uncertain as exc:
            self._metric_uncertain("submit")
            change = Change(E.UNCERTAIN, self.now_ms(), reason=str(exc.cause)[:200])
            if self.canaries & {"retry_submit_blindly", "timeout_is_rejection"}:
                return await self._canary_resend(order, change)
        except (NotSent, RateLimited, ClockUntrusted) as exc:
            # Provably not applied (never left, or refused before the venue acted).
            change = Change(E.NOT_SENT, self.now_ms(), reason=type(exc).__name__)
        except VenueRejected as exc:
            change = Change(E.REJECTED, self.now_ms(), reason=exc.message)
        else:
            change = Change(E.ACCEPTED, self.now_ms(), venue_id=ack.id)
        result = await self._change(order.client_id, change)
        if result is not None and result.state is S.INTENT:
            # NOT_SENT returned it to INTENT: abandon this attempt so the intent can go again.
            result = await self._change(
                order.client_id, Change(E.ABANDON, self.now_ms(), reason=change.reason)
            )
        return self.orders[order.client_id]

    async def _canary_resend(self, order: LocalOrder, change: Change) -> LocalOrder:
        """The audited bot's defects, on purpose: a timeout taken as a rejection, or a submit
        retried blindly; both send the same intent again while the first may be live."""
        if "timeout_is_rejection" in self.canaries:
            await self._change(
                order.client_id,
                Change(E.REJECTED, change.at_ms, reason="timeout taken as a rejection"),
            )
        else:
            await self._change(order.client_id, change)
        again = dataclasses.replace(
            core.new_intent(
                order.intent_id,
                pair=order.pair,
                side=order.side,
                method=order.method,
                quantity=order.quantity,
                price=order.price,
                stop_price=order.stop_price,
                at_ms=self.now_ms(),
                attempt=order.attempt + 1,
                prefix=self.config.client_prefix,
            ),
        )
        intent = {
            "intent_id": order.intent_id,
            "strategy": "",
            "slot": "",
            "created_ms": self.now_ms(),
            "payload": "{}",
        }
        await self.store.commit_intent(_row(again), intent, self.now_ms())
        self.orders[again.client_id] = again
        return await self._send(again)

    async def cancel(self, client_id: str) -> LocalOrder:
        """Ask the venue to cancel. The order stays ``cancel_pending`` until the venue
        confirms (452, or a read): a 200 means requested, not done."""
        order = self.orders[client_id]
        if order.venue_id is None:
            raise core.IllegalTransition(order, E.CANCEL_SENT, "no venue id yet: resolve first")
        if await self._change(client_id, Change(E.CANCEL_SENT, self.now_ms())) is None:
            return self.orders[client_id]
        answer: Change | None = None
        try:
            await self.rest.cancel(order.venue_id, client_id)
        except Uncertain:
            self._metric_uncertain("cancel")
            answer = Change(E.CANCEL_UNCERTAIN, self.now_ms())
        except NotCancellable as exc:
            answer = Change(E.CANCEL_REFUSED, self.now_ms(), reason=exc.message)
        except OrderNotFound as exc:  # "unknown order" is not "cancelled"
            answer = Change(E.CANCEL_NOT_FOUND, self.now_ms(), reason=exc.message)
        except (NotSent, RateLimited, ClockUntrusted, VenueRejected) as exc:
            answer = Change(E.CANCEL_UNCERTAIN, self.now_ms(), reason=type(exc).__name__)
        if answer is not None:
            self._lookups.add(order.venue_id)
            await self._change(client_id, answer)
        return self.orders[client_id]

    def live_for_slot(self, slot_prefix: str) -> list[LocalOrder]:
        return [
            o for o in self.orders.values() if o.intent_id.startswith(slot_prefix) and o.is_live
        ]

    # -- events from the venue ---------------------------------------------------------------

    async def on_private(self, event: PrivateEvent) -> None:
        if isinstance(event, Fill):
            await self.ingest_fill(event, "ws")
        elif isinstance(event, OrderInsert):
            order = self.orders.get(event.client_id or "")
            if order is not None and order.state in (S.SUBMITTING, S.UNKNOWN):
                await self._change(
                    order.client_id, Change(E.ACCEPTED, self.now_ms(), venue_id=event.id)
                )
        elif isinstance(event, OrderDelete):
            order = self._by_venue_id(event.id)
            if order is None:
                return
            # A 452 says the order left the book: cancelled, or filled. Fills decide the
            # second (they may still be on their way), a read settles the first.
            if event.left > 0 and order.state in (S.CANCEL_PENDING, S.OPEN, S.PARTIAL):
                filled = max(order.filled, self._filled.get(order.client_id, Decimal(0)))
                await self._change(
                    order.client_id, Change(E.CANCELED, self.now_ms(), filled=filled)
                )
            self._lookups.add(event.id)
        elif isinstance(event, OrderMatch):
            order = self._by_venue_id(event.order_id)
            if order is not None:
                self._lookups.add(event.order_id)  # its 423 may be lost: verify by a read

    async def ingest_fill(self, fill: Fill, source: str) -> bool:
        """Record a fill once by trade id; True if it was new."""
        if fill.trade_id in self.fill_ids:
            return False
        if "fills_by_order_id" in self.canaries and fill.order_id in self._canary_orders:
            return False  # canary: a second partial fill of one order is taken as a repeat
        self._canary_orders.add(fill.order_id)
        order = self._owner_of(fill)
        new = await self.store.record_fill(
            fill, order.client_id if order is not None else fill.client_id, source
        )
        self.fill_ids.add(fill.trade_id)
        if not new:
            return False
        self.portfolio.apply_fill(fill)
        for listener in self.fill_listeners:
            listener(fill)
        if self.metrics is not None:
            self.metrics.fills.labels(source=source).inc()
        if order is not None:
            total = self._filled.get(order.client_id, Decimal(0)) + self._fill_units(order, fill)
            self._filled[order.client_id] = total
            filled = min(total, order.quantity)
            if filled > order.filled:
                await self._change(order.client_id, Change(E.FILL, self.now_ms(), filled=filled))
        return True

    # -- reconciliation -------------------------------------------------------------------

    async def snapshot(self) -> VenueSnapshot:
        now = self.now_ms()
        complete = True
        try:
            opened = await self.rest.open_orders()
        except BotError as exc:
            raise ReconcileFailed(f"openOrders: {exc}") from exc
        complete &= not opened.quarantined
        pairs = sorted(set(self.config.pairs) | {o.pair for o in self.orders.values() if o.is_live})
        recent: list[VenueOrder] = []
        start_s = max(0, (now - self.lookback_ms) // 1000)
        for pair in pairs:
            for page in range(1, self.config.max_pages + 1):
                try:
                    got = await self.rest.all_orders(
                        pair, start_s=start_s, page=page, limit=self.config.all_orders_limit
                    )
                except BotError as exc:
                    log.warning("allOrders %s page %s: %s", pair, page, exc)
                    complete = False
                    break
                complete &= not got.quarantined
                recent.extend(got.items)
                if len(got.items) + len(got.quarantined) < self.config.all_orders_limit:
                    break
            else:
                complete = False
        wanted = set(self._lookups) | {
            o.venue_id
            for o in self.orders.values()
            if o.venue_id is not None and o.state in (S.UNKNOWN, S.CANCEL_PENDING)
        }
        looked_up: dict[int, VenueOrder | None] = {}
        for venue_id in sorted(wanted):
            try:
                looked_up[venue_id] = await self.rest.order(venue_id)
            except OrderNotFound:
                looked_up[venue_id] = None
            except BotError as exc:
                log.warning("order/%s: %s", venue_id, exc)
                complete = False
        fills: tuple[Fill, ...] = ()
        try:
            got_fills = await self.rest.user_trades(start_ms=now - self.lookback_ms)
            fills = got_fills.items
            complete &= not got_fills.quarantined
        except BotError as exc:
            log.warning("transactions: %s", exc)
            complete = False
        balances = None
        try:
            got_balances = await self.rest.balances()
            balances = got_balances.items
        except BotError as exc:
            log.warning("balances: %s", exc)
        return VenueSnapshot(
            taken_ms=now,
            open_orders=opened.items,
            recent_orders=tuple(recent),
            looked_up=looked_up,
            fills=fills,
            balances=balances,
            complete=complete,
        )

    async def reconcile_once(
        self,
        *,
        allow_submit: bool,
        snapshot: VenueSnapshot | None = None,
    ) -> ReconcileReport:
        """One pass: read the venue, diff, apply. Running it twice changes nothing. The
        venue's balances are kept in ``last_balances`` for the caller's balance check, which
        runs after the fills of this pass are booked."""
        snap = snapshot or await self.snapshot()
        if snap.balances is not None:
            self.last_balances = {b.asset: b for b in snap.balances}
        plan = reconcile(
            snap,
            self.orders,
            self.fill_ids,
            self.config.reconcile_config(self.lookback_ms),
        )
        report = ReconcileReport(plan, complete=snap.complete)
        for fill in plan.new_fills:  # fills first: the order changes below may need them
            report.fills += await self.ingest_fill(fill, "rest")
        for order in plan.imports:
            if order.client_id not in self.orders:
                await self.store.upsert_order(_row(order), self.now_ms(), event="import")
                self.orders[order.client_id] = order
                report.imported += 1
        for client_id, change in plan.changes:
            if client_id not in self.orders:
                continue
            result = await self._change(client_id, change)
            report.applied += result is not None
            report.refused += result is None
        self._lookups = set(plan.needs_lookup)
        if plan.widen_lookback:
            self.lookback_ms = min(self.config.max_lookback_ms, self.lookback_ms * 2)
            report.notes.append(f"lookback widened to {self.lookback_ms} ms")
        for venue_id in plan.cancel:
            try:
                await self.rest.cancel(venue_id)
            except BotError as exc:
                report.notes.append(f"cancel external {venue_id}: {exc}")
        if plan.resubmit:
            if allow_submit:
                for intent_id in plan.resubmit:
                    await self._resubmit(intent_id)
                    report.resubmitted += 1
            else:
                report.notes.append(f"{len(plan.resubmit)} resubmits held: observe mode")
        for note, values in (
            ("unreadable", plan.unreadable),
            ("duplicates", plan.duplicates),
            ("resurrected", plan.resurrected),
            ("mismatched", plan.mismatched),
        ):
            if values:
                report.notes.append(f"{note}: {list(values)}")
                log.error("reconcile %s: %s", note, list(values))
        self._count_states()
        if self.metrics is not None:
            outcome = "clean" if plan.settled else ("applied" if not plan.empty else "pending")
            self.metrics.reconciles.labels(outcome=outcome).inc()
        return report

    async def _resubmit(self, intent_id: str) -> None:
        attempts = [o for o in self.orders.values() if o.intent_id == intent_id]
        last = max(attempts, key=lambda o: o.attempt)
        if last.state is not S.REJECTED:
            return
        intent = Intent(
            intent_id, last.pair, last.side, last.method, last.quantity, last.price, last.stop_price
        )
        await self.submit(intent)

    def unknown_past(self, budget_ms: int) -> tuple[str, ...]:
        now = self.now_ms()
        return tuple(
            o.client_id
            for o in self.orders.values()
            if o.state is S.UNKNOWN
            and o.unknown_since_ms is not None
            and now - o.unknown_since_ms > budget_ms
        )

    # -- plumbing -------------------------------------------------------------------------

    async def _change(self, client_id: str, change: Change) -> LocalOrder | None:
        order = self.orders[client_id]
        try:
            new = core.apply(order, change)
        except IllegalTransition as exc:
            self.illegal += 1
            if self.metrics is not None:
                self.metrics.illegal_transitions.inc()
            log.error("refused: %s", exc)
            return None
        values = {k: v for k, v in _row(new).items() if k != "client_id"}
        moved = await self.store.transition(
            client_id,
            order.state.value,
            values,
            change.event.value,
            change.at_ms,
            detail=change.reason,
        )
        if not moved:  # another process moved it first: take the store's version
            row = await self.store.order_by_client_id(client_id)
            if row is not None:
                self.orders[client_id] = _local(row)
            return None
        self.orders[client_id] = new
        return new

    def _by_venue_id(self, venue_id: int) -> LocalOrder | None:
        for order in self.orders.values():
            if order.venue_id == venue_id:
                return order
        return None

    def _owner_of(self, fill: Fill) -> LocalOrder | None:
        order = self._by_venue_id(fill.order_id)
        if order is None and fill.client_id:
            order = self.orders.get(fill.client_id)
        return order

    @staticmethod
    def _fill_units(order: LocalOrder, fill: Fill) -> Decimal:
        # A market buy is sized in quote (reference §5.5): its fills count in quote.
        if order.method is OrderMethod.MARKET and order.side is Side.BUY:
            return fill.amount * fill.price
        return fill.amount

    def _metric_uncertain(self, what: str) -> None:
        if self.metrics is not None:
            self.metrics.uncertain.labels(what=what).inc()

    def _count_states(self) -> None:
        if self.metrics is None:
            return
        counts: dict[str, int] = {state.value: 0 for state in OrderState}
        for order in self.orders.values():
            counts[order.state.value] += 1
        self.metrics.set_orders(counts)

    def live_orders(self) -> Iterable[LocalOrder]:
        return (o for o in self.orders.values() if o.is_live)
