"""Reconciliation resolves what the venue proves, never what it merely fails to show, imports
what the bot did not place, backfills every fill once, and is idempotent."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.orders import (
    Change,
    LocalOrder,
    OrderEvent,
    OrderState,
    apply,
    new_intent,
    next_attempt,
)
from bot.core.reconcile import (
    BalanceDivergence,
    ReconcileConfig,
    ReconcilePlan,
    VenueSnapshot,
    apply_plan,
    external_order,
    reconcile,
)
from bot.core.types import Balance, Fill, OrderMethod, OrderStatus, Side, VenueOrder

S, E, V = OrderState, OrderEvent, OrderStatus
NOW = 1_800_000_000_000
BUDGET = ReconcileConfig().visibility_budget_ms


def local(
    state: OrderState = S.UNKNOWN,
    intent: str = "i1",
    *,
    venue_id: int | None = None,
    filled: str = "0",
    quantity: str = "1",
    since: int = NOW - 10_000,
    pair: str = "BTCTRY",
) -> LocalOrder:
    order = new_intent(
        intent,
        pair=pair,
        side=Side.BUY,
        method=OrderMethod.LIMIT,
        quantity=Decimal(quantity),
        price=Decimal("100"),
        at_ms=since - 1_000,
    )
    return replace(
        order,
        state=state,
        venue_id=venue_id,
        filled=Decimal(filled),
        submitted_ms=since,
        updated_ms=since,
        unknown_since_ms=since if state is S.UNKNOWN else None,
    )


def venue(
    venue_id: int,
    client_id: str | None,
    status: OrderStatus = V.UNTOUCHED,
    *,
    left: str | None = None,
    quantity: str = "1",
    text: str | None = None,
    created: int | None = NOW - 9_000,
    pair: str = "BTCTRY",
) -> VenueOrder:
    if left is None:
        left = quantity if status in (V.UNTOUCHED, V.CANCELED) else "0"
    return VenueOrder(
        id=venue_id,
        client_id=client_id,
        pair=pair,
        side=Side.BUY,
        method=OrderMethod.LIMIT,
        price=Decimal("100"),
        stop_price=Decimal("0"),
        quantity=Decimal(quantity),
        left=Decimal(left),
        status=status,
        status_text=text or status.value,
        created=created,
        updated=NOW - 8_000,
    )


def fill(trade_id: int, order_id: int, client_id: str | None, ts: int = NOW - 5_000) -> Fill:
    return Fill(
        trade_id=trade_id,
        order_id=order_id,
        client_id=client_id,
        pair="BTCTRY",
        base="BTC",
        quote="TRY",
        side=Side.BUY,
        price=Decimal("100"),
        amount=Decimal("0.1"),
        fee=Decimal("0.01"),
        tax=Decimal("0.0018"),
        timestamp=ts,
    )


def snap(**fields: object) -> VenueSnapshot:
    return VenueSnapshot(**({"taken_ms": NOW, "complete": True} | fields))  # type: ignore[arg-type]


def by_id(*orders: LocalOrder) -> dict[str, LocalOrder]:
    return {o.client_id: o for o in orders}


def settle(
    orders: dict[str, LocalOrder], snapshot: VenueSnapshot, config: ReconcileConfig | None = None
) -> tuple[ReconcilePlan, dict[str, LocalOrder]]:
    """Reconcile and apply the plan, which must be legal throughout."""
    plan = reconcile(snapshot, orders, set(), config)
    after, refused = apply_plan(orders, plan)
    assert refused == []
    return plan, after


# An uncertain submit, resolved by what the venue shows.


FOUND = [
    (venue(5, None, V.UNTOUCHED), S.OPEN, "0"),
    (venue(5, None, V.PARTIAL, left="0.3"), S.PARTIAL, "0.7"),
    (venue(5, None, V.CLOSED), S.FILLED, "1"),
    (venue(5, None, V.CANCELED, left="0.4"), S.CANCELLED, "0.6"),
]


@pytest.mark.parametrize(
    ("shown", "state", "filled", "view"),
    [
        (*case, view)
        for case in FOUND
        for view in ("open_orders", "recent_orders", "looked_up")
        if view != "open_orders" or case[0].status.is_open  # openOrders lists open ones only
    ],
    ids=lambda v: v.value if isinstance(v, OrderState) else v if isinstance(v, str) else "",
)
def test_an_uncertain_submit_resolves_to_what_the_venue_shows(
    shown: VenueOrder, state: OrderState, filled: str, view: str
) -> None:
    unknown = local(S.UNKNOWN)
    shown = replace(shown, client_id=unknown.client_id)
    views = {view: {5: shown} if view == "looked_up" else (shown,)}
    plan, after = settle(by_id(unknown), snap(**views))
    assert [cid for cid, _ in plan.changes] == [unknown.client_id]
    resolved = after[unknown.client_id]
    assert (resolved.state, resolved.venue_id, resolved.filled) == (state, 5, Decimal(filled))
    assert plan.resubmit == () and plan.imports == ()


def test_not_found_within_the_budget_stays_unknown() -> None:
    unknown = local(S.UNKNOWN, since=NOW - BUDGET + 1)
    plan = reconcile(snap(), by_id(unknown), set())
    assert (plan.changes, plan.resubmit, plan.unresolved) == ((), (), (unknown.client_id,))


def test_not_found_past_the_budget_on_a_complete_snapshot_is_proven_absent() -> None:
    unknown = local(S.UNKNOWN, since=NOW - BUDGET)
    plan, after = settle(by_id(unknown), snap())
    assert [c.event for _, c in plan.changes] == [E.PROVEN_ABSENT]
    assert plan.resubmit == ("i1",)
    gone = after[unknown.client_id]
    assert gone.state is S.REJECTED
    retry = next_attempt(gone, NOW)
    assert (retry.attempt, retry.intent_id) == (2, "i1") and retry.client_id != gone.client_id


def test_an_incomplete_snapshot_never_proves_absence() -> None:
    unknown = local(S.UNKNOWN, since=NOW - 100 * BUDGET)
    plan = reconcile(snap(complete=False), by_id(unknown), set())
    assert (plan.changes, plan.resubmit, plan.unresolved) == ((), (), (unknown.client_id,))


def test_absence_beyond_the_allorders_window_asks_for_a_wider_window() -> None:
    unknown = local(S.UNKNOWN, since=NOW - 7_200_000)
    plan = reconcile(snap(), by_id(unknown), set(), ReconcileConfig(lookback_ms=3_600_000))
    assert (plan.changes, plan.widen_lookback, plan.unresolved) == ((), True, (unknown.client_id,))


def test_a_fill_naming_the_client_id_blocks_absence_and_asks_for_its_order() -> None:
    unknown = local(S.UNKNOWN, since=NOW - 10 * BUDGET)
    plan = reconcile(snap(fills=(fill(1, 77, unknown.client_id),)), by_id(unknown), set())
    assert (plan.changes, plan.resubmit, plan.needs_lookup) == ((), (), (77,))
    assert plan.new_fills == (fill(1, 77, unknown.client_id),)


def test_a_submit_unanswered_past_its_timeout_becomes_unknown_and_the_budget_starts() -> None:
    stuck = local(S.SUBMITTING, since=NOW - 60_000)
    plan, after = settle(by_id(stuck), snap())
    assert [c.event for _, c in plan.changes] == [E.UNCERTAIN]
    assert after[stuck.client_id].unknown_since_ms == NOW
    fresh = local(S.SUBMITTING, since=NOW - 59_999)
    assert reconcile(snap(), by_id(fresh), set()).changes == ()


# Orders the bot did not place.


def test_an_external_order_is_imported_with_ids_from_the_venue_and_left_alone() -> None:
    web = venue(900, "advanced", V.PARTIAL, left="0.25")
    plan = reconcile(snap(open_orders=(web,)), {}, set())
    (imported,) = plan.imports
    assert (imported.intent_id, imported.client_id) == ("external:900", "external-900")
    assert (imported.state, imported.filled, imported.external) == (
        S.PARTIAL,
        Decimal("0.75"),
        True,
    )
    assert (imported.attempt, imported.stop_price) == (0, None)
    assert plan.cancel == ()


def test_external_orders_are_cancelled_only_when_configured_and_import_is_honoured() -> None:
    web = venue(900, "advanced")
    both = reconcile(snap(open_orders=(web,)), {}, set(), ReconcileConfig(cancel_external=True))
    assert (len(both.imports), both.cancel) == (1, (900,))
    config = ReconcileConfig(import_external=False, cancel_external=True)
    bare = reconcile(snap(open_orders=(web,)), {}, set(), config)
    assert (bare.imports, bare.cancel) == ((), (900,))
    quiet = reconcile(snap(open_orders=(web,)), {}, set(), ReconcileConfig(import_external=False))
    assert (quiet.imports, quiet.cancel) == ((), ())
    mine = local(S.OPEN, venue_id=5)
    ours = snap(open_orders=(venue(5, mine.client_id),))
    assert reconcile(ours, by_id(mine), set(), ReconcileConfig(cancel_external=True)).cancel == ()


def test_an_imported_external_order_is_cancelled_until_its_cancel_is_sent() -> None:
    config = ReconcileConfig(cancel_external=True)
    shown = snap(open_orders=(venue(900, "advanced"),))
    _, after = settle({}, shown, config)
    again = reconcile(shown, after, set(), config)
    assert (again.imports, again.cancel) == ((), (900,))
    pending = {k: apply(o, Change(E.CANCEL_SENT, NOW)) for k, o in after.items()}
    assert reconcile(shown, pending, set(), config).cancel == ()


def test_synthetic_ids_are_the_same_on_every_run() -> None:
    web, old = venue(900, "advanced", created=None), venue(901, None, V.CLOSED)
    first = reconcile(
        snap(open_orders=(web,), recent_orders=(old, replace(web, created=NOW - 50))), {}, set()
    )
    second = reconcile(
        snap(recent_orders=(replace(web, created=NOW - 50), old), open_orders=(web,)), {}, set()
    )
    assert first.imports == second.imports
    assert [o.client_id for o in first.imports] == ["external-900", "external-901"]
    assert first.imports[0].created_ms == NOW - 50  # openOrders shows time 0: allOrders has it


# Orders that moved while the bot was away.


@pytest.mark.parametrize(
    ("final", "state", "filled"),
    [
        (venue(5, None, V.CLOSED), S.FILLED, "1"),
        (venue(5, None, V.CANCELED, left="0.9"), S.CANCELLED, "0.1"),
    ],
    ids=["closed", "canceled"],
)
@pytest.mark.parametrize("was", [S.OPEN, S.CANCEL_PENDING])
def test_an_order_the_venue_closed_while_we_were_away_takes_its_final_status(
    final: VenueOrder, state: OrderState, filled: str, was: OrderState
) -> None:
    mine = local(was, venue_id=5)
    _, after = settle(by_id(mine), snap(recent_orders=(replace(final, client_id=mine.client_id),)))
    assert (after[mine.client_id].state, after[mine.client_id].filled) == (state, Decimal(filled))


def test_an_order_missing_from_every_view_is_looked_up_never_assumed() -> None:
    mine = local(S.OPEN, venue_id=5)
    plan = reconcile(snap(looked_up={5: None}), by_id(mine), set())
    assert (plan.changes, plan.needs_lookup, plan.unresolved) == ((), (5,), (mine.client_id,))
    blind = reconcile(snap(complete=False), by_id(mine), set())
    assert (blind.changes, blind.needs_lookup) == ((), ())


def test_views_disagreeing_are_settled_by_the_most_advanced_status() -> None:
    mine = local(S.OPEN, venue_id=5)
    stale = venue(5, mine.client_id, V.UNTOUCHED)
    _, after = settle(
        by_id(mine), snap(open_orders=(stale,), recent_orders=(venue(5, mine.client_id, V.CLOSED),))
    )
    assert after[mine.client_id].state is S.FILLED
    only_recent = reconcile(snap(recent_orders=(stale,)), by_id(mine), set())
    assert (only_recent.changes, only_recent.needs_lookup) == ((), (5,))


def test_a_cancel_that_raced_a_fill_ends_filled_when_the_venue_says_closed() -> None:
    cancelled = local(S.CANCELLED, venue_id=5, filled="0.2")
    _, after = settle(
        by_id(cancelled), snap(recent_orders=(venue(5, cancelled.client_id, V.CLOSED),))
    )
    assert after[cancelled.client_id].state is S.FILLED


def test_a_venue_cancel_of_an_order_the_bot_saw_filled_is_refused_and_keeps_being_reported() -> (
    None
):
    filled = local(S.FILLED, venue_id=5, filled="1")
    shown = snap(recent_orders=(venue(5, filled.client_id, V.CANCELED, left="0"),))
    plan = reconcile(shown, by_id(filled), set())
    after, refused = apply_plan(by_id(filled), plan)
    assert [r.event for r in refused] == [E.FOUND_CANCELED]
    assert after == by_id(filled)
    assert reconcile(shown, after, set()).changes == plan.changes


def test_an_order_proven_absent_that_surfaces_is_followed_and_reported() -> None:
    gone = apply(local(S.UNKNOWN), Change(E.PROVEN_ABSENT, NOW - 1))
    plan, after = settle(by_id(gone), snap(open_orders=(venue(5, gone.client_id),)))
    assert plan.resurrected == (gone.client_id,)
    assert after[gone.client_id].state is S.OPEN


def test_a_second_venue_order_for_one_client_id_is_a_reported_duplicate() -> None:
    unknown = local(S.UNKNOWN)
    twins = (venue(6, unknown.client_id), venue(5, unknown.client_id))
    plan, after = settle(by_id(unknown), snap(open_orders=twins))
    assert (after[unknown.client_id].venue_id, plan.duplicates) == (5, (6,))
    assert [o.venue_id for o in plan.imports] == [6]
    assert reconcile(snap(open_orders=twins), after, set()).empty


def test_a_venue_quantity_that_disagrees_is_reported_and_fills_stay_within_ours() -> None:
    mine = local(S.OPEN, venue_id=5, quantity="1")
    plan, after = settle(
        by_id(mine),
        snap(open_orders=(venue(5, mine.client_id, V.PARTIAL, quantity="3", left="1"),)),
    )
    assert plan.mismatched == (mine.client_id,)
    assert after[mine.client_id].filled == Decimal("1")


def test_a_venue_order_naming_another_client_id_is_reported_and_blocks_absence() -> None:
    bound = local(S.OPEN, "b", venue_id=5)
    unknown = local(S.UNKNOWN, "u", since=NOW - 10 * BUDGET)
    crossed = snap(open_orders=(venue(5, unknown.client_id),))
    plan = reconcile(crossed, by_id(bound, unknown), set())
    assert plan.mismatched == (bound.client_id,)
    assert (plan.changes, plan.resubmit, plan.unresolved) == ((), (), (unknown.client_id,))
    imported = external_order(venue(6, "advanced"))
    assert reconcile(snap(open_orders=(venue(6, "advanced"),)), by_id(imported), set()).settled


def test_orders_of_pairs_the_snapshot_did_not_read_are_left_alone() -> None:
    eth = local(S.UNKNOWN, pair="ETHTRY", since=NOW - 10 * BUDGET)
    plan = reconcile(snap(pairs=frozenset({"BTCTRY"})), by_id(eth), set())
    assert plan.settled


# Fills.


def test_partial_fills_are_backfilled_once_each_and_two_in_one_second_stay_two() -> None:
    mine = local(S.OPEN, venue_id=5)
    fills = (
        fill(11, 5, mine.client_id, NOW - 500),
        fill(10, 5, mine.client_id, NOW - 500),
        fill(11, 5, None, NOW - 500),
    )
    shown = snap(open_orders=(venue(5, mine.client_id, V.PARTIAL, left="0.8"),), fills=fills)
    plan = reconcile(shown, by_id(mine), {9})
    assert [f.trade_id for f in plan.new_fills] == [10, 11]
    assert [(c.event, c.filled) for _, c in plan.changes] == [(E.FILL, Decimal("0.2"))]
    after, _ = apply_plan(by_id(mine), plan)
    again = reconcile(shown, after, {9, 10, 11})
    assert (again.new_fills, again.changes) == ((), ())


# What it cannot read, it reports and leaves alone.


def test_an_unknown_status_string_is_reported_and_the_order_left_as_is() -> None:
    mine = local(S.OPEN, venue_id=5)
    odd = (
        venue(5, mine.client_id, V.UNKNOWN_TO_US, text="Expired"),
        venue(8, "advanced", V.UNKNOWN_TO_US),
    )
    plan = reconcile(snap(recent_orders=odd), by_id(mine), set())
    assert (plan.changes, plan.imports) == ((), ())
    assert (plan.unresolved, plan.unreadable) == ((mine.client_id,), (5, 8))


def test_balances_beyond_the_tolerance_are_divergences() -> None:
    balances = (
        Balance("TRY", Decimal("100"), Decimal(0), Decimal("100")),
        Balance("BTC", Decimal("1.5"), Decimal(0), Decimal("1.5")),
    )
    expected = {"TRY": Decimal("100.004"), "BTC": Decimal("1"), "ETH": Decimal("2")}
    config = ReconcileConfig(balance_tolerance=Decimal("0.01"))
    plan = reconcile(snap(balances=balances), {}, set(), config, expected)
    assert plan.balance_divergences == (
        BalanceDivergence("BTC", Decimal("1"), Decimal("1.5")),
        BalanceDivergence("ETH", Decimal("2"), Decimal("0")),
    )
    assert plan.balance_divergences[0].difference == Decimal("0.5")
    assert reconcile(snap(), {}, set(), config, expected).balance_divergences == ()


# Idempotence: run twice, the second plan is empty.


def test_a_busy_snapshot_reconciled_twice_gives_an_empty_second_plan() -> None:
    a, b, c = (
        local(S.UNKNOWN, "a"),
        local(S.OPEN, "b", venue_id=2),
        local(S.UNKNOWN, "c", since=NOW - BUDGET),
    )
    shown = snap(
        open_orders=(venue(1, a.client_id, V.PARTIAL, left="0.5"), venue(3, "advanced")),
        recent_orders=(venue(2, b.client_id, V.CLOSED), venue(4, None, V.CANCELED)),
        fills=(fill(1, 1, a.client_id), fill(2, 2, b.client_id), fill(3, 2, b.client_id)),
    )
    first = reconcile(shown, by_id(a, b, c), set())
    assert len(first.changes) == 3 and len(first.imports) == 2 and len(first.new_fills) == 3
    after, refused = apply_plan(by_id(a, b, c), first)
    second = reconcile(shown, after, {f.trade_id for f in first.new_fills})
    assert refused == [] and second.empty and second.resubmit == ()


CLIENTS = ["c0", "c1", "c2", "c3", "advanced", None]
AMOUNTS = ["0", "0.5", "1", "2"]


@st.composite
def worlds(
    draw: st.DrawFn,
) -> tuple[VenueSnapshot, dict[str, LocalOrder], set[int], ReconcileConfig]:
    venue_ids = draw(st.permutations(list(range(10, 18))))
    orders: dict[str, LocalOrder] = {}
    for n in range(draw(st.integers(0, 4))):
        quantity = draw(st.sampled_from(["1", "2"]))
        filled = min(Decimal(draw(st.sampled_from(AMOUNTS))), Decimal(quantity))
        order = local(
            draw(st.sampled_from(list(S))),
            f"i{n}",
            quantity=quantity,
            since=NOW - draw(st.integers(0, 3 * BUDGET)),
        )
        vid = venue_ids[n] if draw(st.booleans()) else None
        orders[f"c{n}"] = replace(
            order,
            client_id=f"c{n}",
            filled=filled,
            venue_id=vid,
            external=draw(st.booleans()) and vid is not None,
        )

    def shown(statuses: list[OrderStatus]) -> st.SearchStrategy[VenueOrder]:
        return st.builds(
            lambda i, cid, status, q, left: venue(
                i, cid, status, quantity=q, left=str(min(Decimal(left), Decimal(q)))
            ),
            st.sampled_from(venue_ids),
            st.sampled_from(CLIENTS),
            st.sampled_from(statuses),
            st.sampled_from(["1", "2"]),
            st.sampled_from(AMOUNTS),
        )

    open_orders = draw(
        st.lists(shown([V.UNTOUCHED, V.PARTIAL]), max_size=4, unique_by=lambda v: v.id)
    )
    recent = draw(st.lists(shown(list(V)), max_size=4, unique_by=lambda v: v.id))
    looked = draw(
        st.dictionaries(st.sampled_from(venue_ids), st.none() | shown(list(V)), max_size=3)
    )
    looked = {k: None if v is None else replace(v, id=k) for k, v in looked.items()}
    fills = draw(
        st.lists(
            st.builds(
                fill, st.integers(1, 6), st.sampled_from(venue_ids), st.sampled_from(CLIENTS)
            ),
            max_size=5,
        )
    )
    snapshot = VenueSnapshot(
        NOW, tuple(open_orders), tuple(recent), looked, tuple(fills), None, draw(st.booleans())
    )
    config = ReconcileConfig(
        visibility_budget_ms=draw(st.integers(1, 2 * BUDGET)), cancel_external=draw(st.booleans())
    )
    return snapshot, orders, draw(st.sets(st.integers(1, 6))), config


@settings(max_examples=400)
@given(worlds())
def test_reconciling_twice_on_the_same_snapshot_changes_nothing_the_second_time(
    world: tuple[VenueSnapshot, dict[str, LocalOrder], set[int], ReconcileConfig],
) -> None:
    snapshot, orders, fill_ids, config = world
    first = reconcile(snapshot, orders, fill_ids, config)
    assert reconcile(snapshot, orders, fill_ids, config) == first  # deterministic
    after, refused = apply_plan(orders, first)
    second = reconcile(snapshot, after, fill_ids | {f.trade_id for f in first.new_fills}, config)
    assert second.imports == () and second.new_fills == () and second.resubmit == ()
    # A refused change is a lasting divergence: it is reported again, and nothing else is.
    assert [(cid, c.event) for cid, c in second.changes] == [
        (r.client_id, r.event) for r in refused
    ]
    # Absence is concluded only on a complete snapshot where nothing names the order.
    views = [*snapshot.open_orders, *snapshot.recent_orders, *snapshot.looked_up.values()]
    named = {v.client_id for v in views if v is not None} | {f.client_id for f in snapshot.fills}
    for client_id, change in first.changes:
        if change.event is E.PROVEN_ABSENT:
            assert snapshot.complete and client_id not in named
            assert NOW - (orders[client_id].unknown_since_ms or 0) >= config.visibility_budget_ms
