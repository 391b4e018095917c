"""The order lifecycle is a table: every legal edge does what the table says, everything else
raises and changes nothing, and the surprising edges of a real venue behave as argued."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.orders import (
    TRANSITIONS,
    Change,
    IllegalTransition,
    LocalOrder,
    OrderEvent,
    OrderState,
    apply,
    client_order_id,
    new_intent,
    next_attempt,
    table_event,
)
from bot.core.types import OrderMethod, Side
from bot.errors import Bug

S, E = OrderState, OrderEvent
T0 = 1_800_000_000_000
VENUE_ID = 7
# States in which the order has its venue id, and the filled amount each is built with.
WITH_VENUE_ID = {S.OPEN, S.PARTIAL, S.CANCEL_PENDING, S.FILLED, S.CANCELLED}
FILLED_IN = {S.PARTIAL: "0.25", S.CANCEL_PENDING: "0.25", S.CANCELLED: "0.25", S.FILLED: "0.5"}


def order_in(state: OrderState, **changes: object) -> LocalOrder:
    base = new_intent(
        "intent-1",
        pair="BTCTRY",
        side=Side.BUY,
        method=OrderMethod.LIMIT,
        quantity=Decimal("1"),
        price=Decimal("100"),
        at_ms=T0,
    )
    fields: dict[str, object] = {
        "state": state,
        "venue_id": VENUE_ID if state in WITH_VENUE_ID else None,
        "filled": Decimal(FILLED_IN.get(state, "0")),
        "unknown_since_ms": T0 if state is S.UNKNOWN else None,
    }
    return replace(base, **(fields | changes))  # type: ignore[arg-type]


def change_for(event: OrderEvent, at: int = T0 + 1_000) -> Change:
    """A well-formed change for ``event``: the table decides whether it is legal."""
    if event is E.FILL:
        return Change(E.FILL, at, filled=Decimal("0.75"))
    if event is E.FILL_COMPLETE:
        return Change(E.FILL, at, filled=Decimal("1"))  # a FILL reaching the quantity
    if event in (E.ACCEPTED, E.CANCELED, E.FOUND_OPEN, E.FOUND_PARTIAL, E.FOUND_CANCELED):
        return Change(event, at, venue_id=VENUE_ID)
    if event is E.FOUND_FILLED:
        return Change(event, at, venue_id=VENUE_ID, filled=Decimal("1"))
    return Change(event, at)


LEGAL = sorted(TRANSITIONS.items())
ILLEGAL = sorted((s, e) for s in S for e in E if (s, e) not in TRANSITIONS)


@pytest.mark.parametrize(("edge", "target"), LEGAL, ids=lambda v: str(v))
def test_every_legal_edge_leads_where_the_table_says(
    edge: tuple[OrderState, OrderEvent], target: OrderState
) -> None:
    state, event = edge
    before = order_in(state)
    after = apply(before, change_for(event))
    assert after.state is target
    assert after.updated_ms == T0 + 1_000
    assert (after.intent_id, after.client_id, after.quantity) == (
        before.intent_id,
        before.client_id,
        before.quantity,
    )


@pytest.mark.parametrize("edge", ILLEGAL, ids=lambda v: str(v))
def test_every_edge_outside_the_table_raises_and_changes_nothing(
    edge: tuple[OrderState, OrderEvent],
) -> None:
    state, event = edge
    before = order_in(state)
    snapshot = replace(before)
    with pytest.raises(IllegalTransition) as caught:
        apply(before, change_for(event))
    assert before == snapshot
    assert (caught.value.state, caught.value.client_id) == (state, before.client_id)
    assert isinstance(caught.value, Bug)


# The surprising edges, argued one by one (not read back from the table).


def test_a_fill_while_cancel_pending_is_counted_and_the_cancel_stays_pending() -> None:
    after = apply(order_in(S.CANCEL_PENDING), Change(E.FILL, T0, filled=Decimal("0.5")))
    assert (after.state, after.filled) == (S.CANCEL_PENDING, Decimal("0.5"))


def test_a_fill_completing_the_order_while_cancel_pending_wins_the_race() -> None:
    after = apply(order_in(S.CANCEL_PENDING), Change(E.FILL, T0, filled=Decimal("1")))
    assert (after.state, after.left) == (S.FILLED, Decimal(0))


def test_a_fill_while_unknown_proves_the_uncertain_submit_landed() -> None:
    after = apply(order_in(S.UNKNOWN), Change(E.FILL, T0, venue_id=42, filled=Decimal("0.1")))
    assert (after.state, after.venue_id, after.unknown_since_ms) == (S.PARTIAL, 42, None)


@pytest.mark.parametrize("event", [E.CANCELED, E.FOUND_CANCELED, E.CANCEL_SENT])
def test_cancelling_an_order_the_bot_saw_filled_is_illegal(event: OrderEvent) -> None:
    with pytest.raises(IllegalTransition, match="filled"):
        apply(order_in(S.FILLED), Change(event, T0, venue_id=VENUE_ID))


def test_a_fill_beyond_the_quantity_is_illegal() -> None:
    with pytest.raises(IllegalTransition, match=r"filled 1\.5 of 1"):
        apply(order_in(S.OPEN), Change(E.FILL, T0, filled=Decimal("1.5")))


def test_fills_never_shrink_and_a_fill_carries_its_cumulative_total() -> None:
    with pytest.raises(IllegalTransition, match="never shrink"):
        apply(order_in(S.PARTIAL), Change(E.FILL, T0, filled=Decimal("0.1")))
    with pytest.raises(IllegalTransition, match="without a cumulative"):
        apply(order_in(S.OPEN), Change(E.FILL, T0))


def test_a_late_fill_after_cancelled_is_counted_and_a_completing_one_means_closed() -> None:
    late = apply(order_in(S.CANCELLED), Change(E.FILL, T0, filled=Decimal("0.5")))
    assert (late.state, late.filled) == (S.CANCELLED, Decimal("0.5"))
    won = apply(order_in(S.CANCELLED), Change(E.FILL, T0, filled=Decimal("1")))
    assert won.state is S.FILLED
    read = apply(order_in(S.CANCELLED), Change(E.FOUND_FILLED, T0, filled=Decimal("1")))
    assert read.state is S.FILLED


def test_a_timeout_never_turns_unknown_into_rejected_only_proof_does() -> None:
    unknown = order_in(S.UNKNOWN)
    again = apply(unknown, Change(E.UNCERTAIN, T0 + 5_000))
    assert (again.state, again.unknown_since_ms) == (S.UNKNOWN, T0)
    assert apply(unknown, Change(E.PROVEN_ABSENT, T0 + 60_000)).state is S.REJECTED
    assert apply(unknown, Change(E.REJECTED, T0 + 1)).state is S.REJECTED  # the venue's "no"


def test_a_lagging_view_never_reopens_a_closed_order_nor_shrinks_a_fill() -> None:
    view = Change(E.FOUND_PARTIAL, T0, venue_id=VENUE_ID, filled=Decimal("0.1"))
    assert apply(order_in(S.FILLED), view).state is S.FILLED
    assert apply(order_in(S.CANCELLED), view).state is S.CANCELLED
    stale = apply(order_in(S.PARTIAL), Change(E.FOUND_OPEN, T0, venue_id=VENUE_ID))
    assert (stale.state, stale.filled) == (S.PARTIAL, Decimal("0.25"))


def test_an_order_proven_absent_that_surfaces_follows_the_venue() -> None:
    gone = apply(order_in(S.UNKNOWN), Change(E.PROVEN_ABSENT, T0))
    back = apply(gone, Change(E.FOUND_OPEN, T0 + 90_000, venue_id=9))
    assert (back.state, back.venue_id) == (S.OPEN, 9)


def test_the_answer_to_a_cancel_that_lost_the_race_changes_nothing() -> None:
    for event in (E.CANCEL_REFUSED, E.CANCEL_UNCERTAIN, E.CANCEL_NOT_FOUND):
        assert apply(order_in(S.FILLED), Change(event, T0)).state is S.FILLED
        assert apply(order_in(S.CANCEL_PENDING), Change(event, T0)).state is S.CANCEL_PENDING


def test_a_request_that_never_left_goes_back_to_intent_with_the_same_client_id() -> None:
    sent = apply(order_in(S.INTENT), Change(E.SEND, T0 + 10))
    assert sent.submitted_ms == T0 + 10
    back = apply(sent, Change(E.NOT_SENT, T0 + 20))
    assert (back.state, back.submitted_ms, back.client_id) == (S.INTENT, None, sent.client_id)


def test_stamps_follow_the_events() -> None:
    unknown = apply(apply(order_in(S.INTENT), Change(E.SEND, T0)), Change(E.UNCERTAIN, T0 + 5))
    assert unknown.unknown_since_ms == T0 + 5
    found = apply(unknown, Change(E.FOUND_OPEN, T0 + 9, venue_id=3))
    assert (found.unknown_since_ms, found.updated_ms) == (None, T0 + 9)
    pending = apply(found, Change(E.CANCEL_SENT, T0 + 12, reason="quote moved"))
    assert (pending.cancel_requested_ms, pending.reason) == (T0 + 12, "quote moved")
    earlier = apply(pending, Change(E.CANCEL_UNCERTAIN, T0 + 1))
    assert earlier.updated_ms == T0 + 12  # an event stamped out of order never moves time back


def test_the_data_of_a_change_is_checked_before_anything_changes() -> None:
    with pytest.raises(IllegalTransition, match="venue id 8 but the order is 7"):
        apply(order_in(S.OPEN), Change(E.FILL, T0, venue_id=8, filled=Decimal("0.5")))
    with pytest.raises(IllegalTransition, match="no venue id"):
        apply(order_in(S.SUBMITTING), Change(E.ACCEPTED, T0))
    with pytest.raises(IllegalTransition, match="no venue id"):
        apply(order_in(S.OPEN, venue_id=None), Change(E.CANCEL_SENT, T0))
    with pytest.raises(IllegalTransition, match="carries filled"):
        apply(order_in(S.SUBMITTING), Change(E.ACCEPTED, T0, venue_id=1, filled=Decimal(0)))


def test_a_fill_complete_event_is_looked_up_by_its_total() -> None:
    order = order_in(S.OPEN)
    assert table_event(order, Change(E.FILL_COMPLETE, T0, filled=Decimal("0.5"))) is E.FILL
    assert table_event(order, Change(E.FILL, T0, filled=Decimal("1"))) is E.FILL_COMPLETE


def test_terminal_and_live_states() -> None:
    assert {s for s in S if s.terminal} == {S.FILLED, S.CANCELLED, S.REJECTED}
    live = {S.SUBMITTING, S.OPEN, S.PARTIAL, S.CANCEL_PENDING, S.UNKNOWN}
    assert {s for s in S if order_in(s).is_live} == live


def test_every_state_is_reachable_and_every_live_state_can_end() -> None:
    edges: dict[OrderState, set[OrderState]] = {}
    for (state, _), target in TRANSITIONS.items():
        edges.setdefault(state, set()).add(target)

    def reach(start: OrderState) -> set[OrderState]:
        seen, todo = {start}, [start]
        while todo:
            for nxt in edges.get(todo.pop(), set()) - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    assert reach(S.INTENT) == set(S)
    assert all(reach(s) & {S.FILLED, S.CANCELLED, S.REJECTED} for s in S)


def test_a_local_order_refuses_impossible_amounts() -> None:
    with pytest.raises(ValueError, match="filled"):
        order_in(S.OPEN, filled=Decimal("2"))
    with pytest.raises(ValueError, match="filled"):
        order_in(S.OPEN, quantity=Decimal("0"))


# Client order ids.


def test_client_order_id_is_derived_short_and_plain() -> None:
    cid = client_order_id("intent-1", 1)
    assert cid == client_order_id("intent-1", 1)
    assert cid == "bb-1-6b934a8360b5eea0831234233205f3c"  # pinned: a restart must agree
    assert re.fullmatch(r"[A-Za-z0-9-]{1,36}", cid)
    assert len(client_order_id("x" * 500, 99_999, prefix="abcdefgh")) <= 36
    ids = {client_order_id(i, a) for i in ("a", "b", "c") for a in (1, 2, 3)}
    assert len(ids) == 9


def test_client_order_id_refuses_what_would_break_it() -> None:
    for bad_prefix in ("", "b_b", "toolongprefix"):
        with pytest.raises(ValueError, match="prefix"):
            client_order_id("i", 1, prefix=bad_prefix)
    with pytest.raises(ValueError, match="attempt"):
        client_order_id("i", 0)
    with pytest.raises(ValueError, match="room"):
        client_order_id("i", 10**12, prefix="abcdefgh")


@given(
    st.text(max_size=80), st.integers(1, 10**6), st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True)
)
def test_client_order_ids_always_fit_the_venue(intent: str, attempt: int, prefix: str) -> None:
    cid = client_order_id(intent, attempt, prefix)
    assert re.fullmatch(r"[A-Za-z0-9-]{1,36}", cid)
    assert cid != client_order_id(intent, attempt + 1, prefix)


def test_a_new_intent_and_its_next_attempt() -> None:
    first = order_in(S.INTENT)
    assert (first.state, first.attempt, first.filled) == (S.INTENT, 1, Decimal(0))
    assert not first.external
    assert first.client_id == client_order_id("intent-1", 1)
    with pytest.raises(ValueError, match="not safe"):
        next_attempt(order_in(S.UNKNOWN), T0)
    second = next_attempt(apply(order_in(S.UNKNOWN), Change(E.PROVEN_ABSENT, T0)), T0 + 1)
    assert (second.intent_id, second.attempt, second.state) == ("intent-1", 2, S.INTENT)
    assert second.client_id == client_order_id("intent-1", 2) != first.client_id


# Random event sequences never leave the table.

FILL_LIKE = {E.FILL, E.FILL_COMPLETE, E.FOUND_OPEN, E.FOUND_PARTIAL, E.FOUND_FILLED}
FILL_LIKE |= {E.FOUND_CANCELED, E.CANCELED}


@st.composite
def changes(draw: st.DrawFn) -> Change:
    """Mostly well-formed changes (so sequences travel far), sometimes malformed ones."""
    event = draw(st.sampled_from(list(E)))
    amounts = ["0.3", "0.6", "1"] if event in FILL_LIKE else [None] * 6
    filled = draw(st.sampled_from([*amounts, None, "0", "1.2"]))
    return Change(
        event,
        draw(st.integers(T0, T0 + 10**6)),
        venue_id=draw(st.sampled_from([None, 7, 7, 7, 8])),
        filled=None if filled is None else Decimal(filled),
    )


@settings(max_examples=500)  # enough to walk nearly every edge
@given(st.sampled_from(list(S)), st.lists(changes(), max_size=40))
def test_random_event_sequences_only_ever_follow_the_table(
    start: OrderState, sequence: list[Change]
) -> None:
    order = order_in(start)
    for change in sequence:
        key = (order.state, table_event(order, change))
        try:
            after = apply(order, change)
        except IllegalTransition:
            continue  # ``order`` is untouched: frozen, and apply returned nothing
        assert key in TRANSITIONS
        assert after.state is TRANSITIONS[key]
        assert order.filled <= after.filled <= after.quantity
        assert order.venue_id in (None, after.venue_id)
        assert (after.unknown_since_ms is not None) == (after.state is S.UNKNOWN)
        assert after.updated_ms >= order.updated_ms
        order = after
