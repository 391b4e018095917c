"""Reconciliation: a pure diff of the bot's orders, fills and balances against a snapshot of
the venue, emitting changes for ``orders.apply`` (STYLE.md, rule 4). Pure.

The shell reads the venue (openOrders, allOrders and fills over the lookback, order/{id} for
``needs_lookup``), calls ``reconcile`` and applies the plan with ``apply_plan``. Applied, a
plan leaves nothing to do on the same snapshot; made-up ids derive from venue ids, so a
replay dedupes.

The rules, all from the field (reference §5.2-5.7, field lessons 2-9):

- Views lag, each on its own: an order missing from a read is not gone. Only an UNKNOWN
  order (a submit whose outcome is unknown, so no venue id) can be concluded absent, and only
  on a complete snapshot, after ``visibility_budget_ms`` in UNKNOWN, when allOrders' window
  covers its submit time and no fill names it. Then it is PROVEN_ABSENT and its intent may be
  placed again (``resubmit``).
- A status is never guessed: a known order the venue no longer lists as open is closed only
  on a read showing Closed or Canceled; until then reconcile asks for ``order/{id}``. A
  status string the bot does not know leaves the order alone and is reported.
- Terminal statuses are irreversible on the venue, so when views disagree the most advanced
  wins (Closed/Canceled over Partial over Untouched; less left over more).
- Venue orders are matched to local ones by venue id where the bot has one, else by client
  id; an order carrying the client id of a local order bound to another venue order is a
  duplicate: reported, and tracked as external.
- Fills are keyed by trade id: every venue fill the bot has not recorded is backfilled once;
  two fills of one order in one second are two fills.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal

from bot.core.orders import Change, IllegalTransition, LocalOrder, OrderEvent, OrderState, apply
from bot.core.types import Balance, Fill, OrderMethod, OrderStatus, VenueOrder

__all__ = [
    "BalanceDivergence",
    "ReconcileConfig",
    "ReconcilePlan",
    "VenueSnapshot",
    "apply_plan",
    "external_order",
    "reconcile",
]

S, E, V = OrderState, OrderEvent, OrderStatus

# allOrders' startTime is in seconds: an order in the window's first second may be cut off.
_WINDOW_MARGIN_MS = 1_000


@dataclass(frozen=True, slots=True)
class VenueSnapshot:
    taken_ms: int  # the venue-clock time the reads were taken; "now" for every budget
    open_orders: tuple[VenueOrder, ...] = ()
    recent_orders: tuple[VenueOrder, ...] = ()  # allOrders over the lookback, any status
    looked_up: Mapping[int, VenueOrder | None] = field(default_factory=dict)  # None: not found
    fills: tuple[Fill, ...] = ()  # users/transactions/trade over the lookback
    balances: tuple[Balance, ...] | None = None
    complete: bool = False  # every read above succeeded, all pages: only then is absence news
    pairs: frozenset[str] | None = None  # the pairs the order reads covered; None: all


@dataclass(frozen=True, slots=True)
class ReconcileConfig:
    visibility_budget_ms: int = 60_000  # measured lags reach tens of seconds (lessons 5, 6)
    lookback_ms: int = 86_400_000  # the window allOrders and fills were read over
    import_external: bool = True
    cancel_external: bool = False
    balance_tolerance: Decimal = Decimal("0")
    submit_timeout_ms: int = 60_000  # a SUBMITTING order older than this lost its request

    def __post_init__(self) -> None:
        if min(self.visibility_budget_ms, self.lookback_ms, self.submit_timeout_ms) <= 0:
            raise ValueError("reconcile budgets must be positive")
        if self.balance_tolerance < 0:
            raise ValueError("balance tolerance must not be negative")


@dataclass(frozen=True, slots=True)
class BalanceDivergence:
    asset: str
    expected: Decimal
    venue: Decimal

    @property
    def difference(self) -> Decimal:
        return self.venue - self.expected


@dataclass(frozen=True, slots=True)
class ReconcilePlan:
    changes: tuple[tuple[str, Change], ...] = ()  # (client id, change), for orders.apply
    imports: tuple[LocalOrder, ...] = ()  # venue orders no local order owns, as external
    new_fills: tuple[Fill, ...] = ()  # venue fills not recorded locally, by trade id
    cancel: tuple[int, ...] = ()  # open external orders, only with cancel_external
    resubmit: tuple[str, ...] = ()  # intent ids proven absent: place again, attempt + 1
    balance_divergences: tuple[BalanceDivergence, ...] = ()
    unresolved: tuple[str, ...] = ()  # client ids whose venue state this pass cannot settle
    needs_lookup: tuple[int, ...] = ()  # venue ids to read with order/{id} next pass
    widen_lookback: bool = False  # an UNKNOWN order is older than the allOrders window
    unreadable: tuple[int, ...] = ()  # venue ids shown with a status the bot does not know
    duplicates: tuple[int, ...] = ()  # venue ids carrying a client id already bound
    resurrected: tuple[str, ...] = ()  # REJECTED locally (e.g. proven absent), yet on the venue
    mismatched: tuple[str, ...] = ()  # client ids whose venue order disagrees on fixed fields

    @property
    def empty(self) -> bool:
        """Nothing to apply: no changes, imports or fills."""
        return not (self.changes or self.imports or self.new_fills)

    @property
    def settled(self) -> bool:
        """Nothing to apply, nothing to do and nothing in doubt."""
        return not any(getattr(self, f.name) for f in fields(self))


_FOUND = {
    V.UNTOUCHED: E.FOUND_OPEN,
    V.PARTIAL: E.FOUND_PARTIAL,
    V.CLOSED: E.FOUND_FILLED,
    V.CANCELED: E.FOUND_CANCELED,
}
_IMPORTED = {V.UNTOUCHED: S.OPEN, V.PARTIAL: S.PARTIAL, V.CLOSED: S.FILLED, V.CANCELED: S.CANCELLED}
_RANK = {V.UNKNOWN_TO_US: 0, V.UNTOUCHED: 1, V.PARTIAL: 2, V.CANCELED: 3, V.CLOSED: 3}
_UNRESOLVED_ON_VENUE = (S.INTENT, S.SUBMITTING, S.UNKNOWN, S.REJECTED)
_RESTING = (S.OPEN, S.PARTIAL, S.CANCEL_PENDING)


def external_order(vo: VenueOrder) -> LocalOrder:
    """A venue order the bot did not place, as a local order. Its ids derive from the venue
    id alone (the venue's client id may be a shared label such as ``advanced``)."""
    return LocalOrder(
        intent_id=f"external:{vo.id}",
        client_id=f"external-{vo.id}",
        attempt=0,
        pair=vo.pair,
        side=vo.side,
        method=vo.method,
        price=vo.price if vo.method in (OrderMethod.LIMIT, OrderMethod.STOP_LIMIT) else None,
        stop_price=vo.stop_price or None,  # non-stop orders show "0"
        quantity=vo.quantity,
        state=_IMPORTED[vo.status],
        venue_id=vo.id,
        filled=_clamp(vo.filled, vo.quantity),
        created_ms=vo.created if vo.created is not None else vo.updated,
        updated_ms=vo.updated,
        submitted_ms=None,
        unknown_since_ms=None,
        cancel_requested_ms=None,
        external=True,
        reason=f"imported from the venue (client id {vo.client_id!r})",
    )


def apply_plan(
    orders: Mapping[str, LocalOrder], plan: ReconcilePlan
) -> tuple[dict[str, LocalOrder], list[IllegalTransition]]:
    """The orders after the plan's imports and changes, and the changes refused as illegal
    (the orders they name are left as they were). A change for a client id not in ``orders``
    is a bug of the caller: ``KeyError``."""
    out = dict(orders)
    for order in plan.imports:
        out.setdefault(order.client_id, order)
    refused: list[IllegalTransition] = []
    for client_id, change in plan.changes:
        try:
            out[client_id] = apply(out[client_id], change)
        except IllegalTransition as exc:
            refused.append(exc)
    return out, refused


@dataclass(frozen=True, slots=True)
class _Context:
    snapshot: VenueSnapshot
    config: ReconcileConfig
    shown_open: frozenset[int]
    client_ids_on_venue: frozenset[str]
    fill_orders: Mapping[str, tuple[int, ...]]  # client id -> order ids its fills name


@dataclass(frozen=True, slots=True)
class _Verdict:
    change: Change | None = None
    unresolved: bool = False
    lookups: tuple[int, ...] = ()
    widen: bool = False
    resubmit: bool = False
    resurrected: bool = False
    mismatched: bool = False


def reconcile(
    snapshot: VenueSnapshot,
    orders: Mapping[str, LocalOrder],
    fill_ids: Set[int],
    config: ReconcileConfig | None = None,
    expected_balances: Mapping[str, Decimal] | None = None,
) -> ReconcilePlan:
    """The plan that brings ``orders`` (by client id), the recorded fills (``fill_ids``, by
    trade id) and ``expected_balances`` (asset to total) in line with ``snapshot``."""
    config = config or ReconcileConfig()
    raw = _views(snapshot)
    matched, unmatched, duplicates = _match(_merge(raw), orders)
    ctx = _context(snapshot, config, raw)
    judged = [
        (cid, order, vo, _judge(order, vo, ctx))
        for cid, order, vo in ((c, orders[c], matched.get(c)) for c in sorted(orders))
        if vo is not None or snapshot.pairs is None or order.pair in snapshot.pairs
    ]
    importable = [vo for vo in unmatched if _readable(vo)]
    cancel = [vo.id for _, order, vo, _ in judged if vo is not None and _cancellable(order, vo)]
    cancel += [vo.id for vo in importable if vo.status.is_open]
    return ReconcilePlan(
        changes=tuple((cid, v.change) for cid, _, _, v in judged if v.change is not None),
        imports=tuple(map(external_order, importable)) if config.import_external else (),
        new_fills=_new_fills(snapshot.fills, fill_ids),
        cancel=tuple(sorted(cancel)) if config.cancel_external else (),
        resubmit=tuple(order.intent_id for _, order, _, v in judged if v.resubmit),
        balance_divergences=_balances(snapshot.balances, expected_balances, config),
        unresolved=tuple(cid for cid, _, _, v in judged if v.unresolved),
        needs_lookup=tuple(sorted({i for *_, v in judged for i in v.lookups})),
        widen_lookback=any(v.widen for *_, v in judged),
        unreadable=tuple(sorted({vo.id for vo in raw if not _readable(vo)})),
        duplicates=tuple(duplicates),
        resurrected=tuple(cid for cid, _, _, v in judged if v.resurrected),
        mismatched=tuple(cid for cid, _, _, v in judged if v.mismatched),
    )


def _cancellable(order: LocalOrder, vo: VenueOrder) -> bool:
    """An imported external order still resting, whose cancel the bot has not sent."""
    return order.external and vo.status.is_open and order.state in (S.OPEN, S.PARTIAL)


def _readable(vo: VenueOrder) -> bool:
    """A status the bot knows and a quantity a local order can hold."""
    return vo.status is not V.UNKNOWN_TO_US and vo.quantity > 0


def _views(snapshot: VenueSnapshot) -> list[VenueOrder]:
    looked = (vo for _, vo in sorted(snapshot.looked_up.items()) if vo is not None)
    return [*snapshot.open_orders, *snapshot.recent_orders, *looked]


def _merge(views: list[VenueOrder]) -> dict[int, VenueOrder]:
    """One view per venue id: the most advanced, with a creation time if any view has one
    (openOrders shows ``time`` 0)."""
    best: dict[int, VenueOrder] = {}
    created: dict[int, int] = {}
    for vo in views:
        if vo.created is not None:
            created[vo.id] = min(vo.created, created.get(vo.id, vo.created))
        current = best.get(vo.id)
        if current is None or _advance(vo) > _advance(current):
            best[vo.id] = vo
    return {
        venue_id: vo if venue_id not in created else replace(vo, created=created[venue_id])
        for venue_id, vo in best.items()
    }


def _advance(vo: VenueOrder) -> tuple[int, Decimal, int]:
    return (_RANK[vo.status], -vo.left, vo.updated)


def _match(
    seen: Mapping[int, VenueOrder], orders: Mapping[str, LocalOrder]
) -> tuple[dict[str, VenueOrder], list[VenueOrder], list[int]]:
    """Venue orders to local ones: by venue id where the bot has one, else by client id;
    of several venue orders with one unbound client id the earliest (lowest id) is it."""
    by_venue: dict[int, str] = {}
    for client_id in sorted(orders):
        venue_id = orders[client_id].venue_id
        if venue_id is not None:
            by_venue.setdefault(venue_id, client_id)
    matched: dict[str, VenueOrder] = {}
    unmatched: list[VenueOrder] = []
    duplicates: list[int] = []
    for venue_id in sorted(seen):
        vo = seen[venue_id]
        owner = by_venue.get(venue_id)
        if owner is None and vo.client_id is not None and vo.client_id in orders:
            if orders[vo.client_id].venue_id is None and vo.client_id not in matched:
                owner = vo.client_id
            else:
                duplicates.append(venue_id)
        if owner is None:
            unmatched.append(vo)
        else:
            matched[owner] = vo
    return matched, unmatched, duplicates


def _context(snapshot: VenueSnapshot, config: ReconcileConfig, views: list[VenueOrder]) -> _Context:
    fill_orders: dict[str, set[int]] = {}
    for fill in snapshot.fills:
        if fill.client_id is not None:
            fill_orders.setdefault(fill.client_id, set()).add(fill.order_id)
    on_venue = {vo.client_id for vo in views if vo.client_id is not None}
    return _Context(
        snapshot=snapshot,
        config=config,
        shown_open=frozenset(vo.id for vo in snapshot.open_orders),
        client_ids_on_venue=frozenset(on_venue | fill_orders.keys()),
        fill_orders={cid: tuple(sorted(ids)) for cid, ids in fill_orders.items()},
    )


def _judge(order: LocalOrder, vo: VenueOrder | None, ctx: _Context) -> _Verdict:
    return _judge_seen(order, vo, ctx) if vo is not None else _judge_unseen(order, ctx)


def _judge_seen(order: LocalOrder, vo: VenueOrder, ctx: _Context) -> _Verdict:
    mismatched = (
        vo.quantity != order.quantity
        or vo.pair != order.pair
        or vo.side is not order.side
        or (not order.external and vo.client_id != order.client_id)
    )
    if vo.status is V.UNKNOWN_TO_US:
        return _Verdict(unresolved=True, mismatched=mismatched)
    filled = _clamp(vo.filled, order.quantity)
    state, status = order.state, vo.status
    event: OrderEvent | None = None
    lookups: tuple[int, ...] = ()
    if state in _UNRESOLVED_ON_VENUE:
        event = _FOUND[status]
    elif state in _RESTING:
        if not status.is_open:
            event = _FOUND[status]
        elif filled > order.filled:
            event = E.FILL
        if status.is_open and ctx.snapshot.complete and vo.id not in ctx.shown_open:
            lookups = (vo.id,)  # allOrders says open, openOrders does not: ask the order
    elif state is S.FILLED:
        if status is V.CANCELED:
            event = E.FOUND_CANCELED  # illegal: apply refuses it and the caller counts it
        elif status is V.CLOSED and filled > order.filled:
            event = E.FOUND_FILLED
    elif state is S.CANCELLED:
        if status is V.CLOSED:
            event = E.FOUND_FILLED  # the cancel lost the race to a fill
        elif status is V.CANCELED and filled > order.filled:
            event = E.FOUND_CANCELED
    change = None
    if event is not None:
        reason = f"reconcile: venue shows {vo.status_text or status.value}"
        change = Change(event, ctx.snapshot.taken_ms, vo.id, filled, reason)
    return _Verdict(
        change=change,
        lookups=lookups,
        resurrected=event is not None and state is S.REJECTED,
        mismatched=mismatched,
    )


def _judge_unseen(order: LocalOrder, ctx: _Context) -> _Verdict:
    snapshot, config = ctx.snapshot, ctx.config
    now = snapshot.taken_ms
    evidence = ctx.fill_orders.get(order.client_id, ())
    if order.state in _RESTING:
        own = (order.venue_id,) if order.venue_id is not None and snapshot.complete else ()
        return _Verdict(unresolved=True, lookups=own + evidence)
    if order.state is S.SUBMITTING:
        if evidence:
            return _Verdict(unresolved=True, lookups=evidence)
        sent = order.submitted_ms if order.submitted_ms is not None else order.updated_ms
        if now - sent < config.submit_timeout_ms:
            return _Verdict()
        why = "reconcile: submit unanswered past the timeout, not on the venue yet"
        return _Verdict(change=Change(E.UNCERTAIN, now, reason=why), unresolved=True)
    if order.state is not S.UNKNOWN:
        return _Verdict()
    if evidence or order.client_id in ctx.client_ids_on_venue:
        return _Verdict(unresolved=True, lookups=evidence)
    since = order.unknown_since_ms if order.unknown_since_ms is not None else order.updated_ms
    if not snapshot.complete or now - since < config.visibility_budget_ms:
        return _Verdict(unresolved=True)  # "not found" right after a submit is normal
    sent = order.submitted_ms if order.submitted_ms is not None else order.created_ms
    if sent - _WINDOW_MARGIN_MS < now - config.lookback_ms:
        return _Verdict(unresolved=True, widen=True)  # allOrders could not have shown it
    why = f"reconcile: absent from every venue view for {now - since} ms"
    return _Verdict(change=Change(E.PROVEN_ABSENT, now, reason=why), resubmit=not order.external)


def _new_fills(fills: tuple[Fill, ...], known: Set[int]) -> tuple[Fill, ...]:
    fresh: dict[int, Fill] = {}
    for fill in fills:
        if fill.trade_id not in known:
            fresh.setdefault(fill.trade_id, fill)
    return tuple(sorted(fresh.values(), key=lambda f: (f.timestamp, f.trade_id)))


def _balances(
    venue: tuple[Balance, ...] | None,
    expected: Mapping[str, Decimal] | None,
    config: ReconcileConfig,
) -> tuple[BalanceDivergence, ...]:
    if venue is None or expected is None:
        return ()
    totals = {b.asset: b.total for b in venue}
    out = []
    for asset in sorted(totals.keys() | expected.keys()):
        want, got = expected.get(asset, Decimal(0)), totals.get(asset, Decimal(0))
        if abs(got - want) > config.balance_tolerance:
            out.append(BalanceDivergence(asset, want, got))
    return tuple(out)


def _clamp(filled: Decimal, quantity: Decimal) -> Decimal:
    return min(max(filled, Decimal(0)), quantity)
