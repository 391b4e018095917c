"""Every submit is checked first: positions stay inside their limit even if every resting order
fills, a reducing order always passes, and a day's loss stops everything that adds risk."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.risk import ProposedOrder, RiskLimits, RiskState, RiskVerdict
from bot.core.types import Side

D = Decimal
BUY, SELL = Side.BUY, Side.SELL

LIMITS = RiskLimits(
    max_position={"BTCTRY": D(2)},
    max_order_notional={"BTCTRY": D(1_000_000)},
    max_open_orders_per_pair=4,
    max_open_orders=6,
    max_daily_loss=D(5_000),
)


def order(side: Side, quantity: str, price: str = "100000", pair: str = "BTCTRY") -> ProposedOrder:
    return ProposedOrder(pair, side, D(price), D(quantity))


def at(position: str = "0", **kw: object) -> RiskState:
    return RiskState(positions={"BTCTRY": D(position)}, **kw)  # type: ignore[arg-type]


def test_an_order_inside_every_limit_passes() -> None:
    assert LIMITS.check(order(BUY, "1"), at()) == RiskVerdict(True, ())


def test_a_buy_that_would_push_the_position_over_the_max_is_refused() -> None:
    verdict = LIMITS.check(order(BUY, "0.6"), at("1.5"))
    assert not verdict.ok
    assert verdict.reasons == (
        "BTCTRY buy 0.6 could take the position from 1.5 to 2.1 (counting open buys), "
        "past the limit of ±2",
    )


def test_a_buy_that_ends_exactly_at_the_max_passes() -> None:
    assert LIMITS.check(order(BUY, "0.5"), at("1.5")).ok


def test_resting_buys_count_as_if_they_had_filled() -> None:
    state = at("1", open_buy={"BTCTRY": D("0.8")}, open_orders={"BTCTRY": 1})
    assert not LIMITS.check(order(BUY, "0.3"), state).ok
    assert LIMITS.check(order(BUY, "0.2"), state).ok


def test_resting_sells_do_not_make_room_for_a_buy() -> None:
    state = at("2", open_sell={"BTCTRY": D(1)}, open_orders={"BTCTRY": 1})
    assert not LIMITS.check(order(BUY, "0.1"), state).ok


def test_a_sell_that_reduces_an_over_limit_position_is_allowed() -> None:
    assert LIMITS.check(order(SELL, "1"), at("5")).ok


def test_a_sell_that_would_go_short_past_the_max_is_refused() -> None:
    state = at("0", open_sell={"BTCTRY": D(1)}, open_orders={"BTCTRY": 1})
    verdict = LIMITS.check(order(SELL, "1.5"), state)
    assert not verdict.ok
    assert "to -2.5 (counting open sells)" in verdict.reasons[0]


def test_a_buy_that_covers_an_over_limit_short_is_allowed() -> None:
    assert LIMITS.check(order(BUY, "1"), at("-4")).ok


def test_a_pair_without_configured_limits_is_refused() -> None:
    verdict = LIMITS.check(order(BUY, "0.1", pair="ETHTRY"), RiskState())
    assert verdict.reasons == (
        "no position limit configured for ETHTRY",
        "no order notional limit configured for ETHTRY",
    )


def test_an_order_over_the_notional_cap_is_refused_even_when_it_reduces() -> None:
    verdict = LIMITS.check(order(SELL, "1", price="1000001"), at("1"))
    assert verdict.reasons == ("BTCTRY order notional 1000001 over the cap of 1000000",)


def test_the_open_order_count_is_capped_per_pair_and_in_all() -> None:
    full_pair = at(open_orders={"BTCTRY": 4})
    assert LIMITS.check(order(BUY, "0.1"), full_pair).reasons == (
        "BTCTRY already has 4 open orders (limit 4)",
    )
    full_total = at(open_orders={"BTCTRY": 3, "ETHTRY": 3})
    assert LIMITS.check(order(BUY, "0.1"), full_total).reasons == (
        "6 open orders in all (limit 6)",
    )
    assert LIMITS.check(order(BUY, "0.1"), at(open_orders={"BTCTRY": 3, "ETHTRY": 2})).ok


def test_once_the_daily_loss_is_reached_only_reducing_orders_pass() -> None:
    lost = at("1", realised_pnl_today=D(-3_000), unrealised_pnl=D(-2_000))
    refused = LIMITS.check(order(BUY, "0.1"), lost)
    assert refused.reasons == (
        "daily loss limit reached (PnL today -5000, limit -5000): only risk-reducing orders",
    )
    assert LIMITS.check(order(SELL, "1"), lost).ok
    assert not LIMITS.check(order(SELL, "1.1"), lost).ok  # would open a short


def test_the_daily_loss_counts_resting_orders_when_judging_a_reduction() -> None:
    lost = at("1", realised_pnl_today=D(-6_000), open_sell={"BTCTRY": D("0.8")})
    assert LIMITS.check(order(SELL, "0.2"), lost).ok
    assert not LIMITS.check(order(SELL, "0.3"), lost).ok


def test_a_loss_short_of_the_limit_stops_nothing() -> None:
    assert LIMITS.check(order(BUY, "0.1"), at(realised_pnl_today=D("-4999.99"))).ok


def test_every_breach_is_reported_at_once() -> None:
    state = at("2", open_orders={"BTCTRY": 4, "ETHTRY": 2}, realised_pnl_today=D(-10_000))
    assert len(LIMITS.check(order(BUY, "20"), state).reasons) == 5


@pytest.mark.parametrize(("quantity", "price"), [("0", "1"), ("-1", "1"), ("1", "0")])
def test_a_malformed_order_is_refused(quantity: str, price: str) -> None:
    verdict = LIMITS.check(order(BUY, quantity, price), at())
    assert not verdict.ok and "must be positive" in verdict.reasons[0]


@pytest.mark.parametrize(
    "kw",
    [
        {"max_position": {"BTCTRY": D(-1)}},
        {"max_daily_loss": D(0)},
        {"max_open_orders": -1},
    ],
)
def test_limits_that_make_no_sense_are_refused(kw: dict[str, object]) -> None:
    settings: dict[str, object] = {
        "max_position": {},
        "max_order_notional": {},
        "max_open_orders_per_pair": 1,
        "max_open_orders": 1,
        "max_daily_loss": D(1),
    }
    with pytest.raises(ValueError):
        RiskLimits(**{**settings, **kw})  # type: ignore[arg-type]


steps = st.lists(
    st.tuples(
        st.sampled_from(["propose", "fill", "cancel"]),
        st.sampled_from([BUY, SELL]),
        st.integers(1, 300).map(lambda n: D(n) / 100),
        st.integers(0, 10),
        st.integers(1, 100),
    ),
    max_size=60,
)


@given(steps=steps)
def test_no_mix_of_fills_of_accepted_orders_takes_the_position_past_the_max(
    steps: list[tuple[str, Side, Decimal, int, int]],
) -> None:
    limits = RiskLimits({"BTCTRY": D(2)}, {"BTCTRY": D(10**9)}, 10, 10, D(10**9))
    position = D(0)
    resting: list[tuple[Side, Decimal]] = []
    for action, side, qty, pick, percent in steps:
        if action == "propose":
            state = RiskState(
                positions={"BTCTRY": position},
                open_orders={"BTCTRY": len(resting)},
                open_buy={"BTCTRY": sum((q for s, q in resting if s is BUY), D(0))},
                open_sell={"BTCTRY": sum((q for s, q in resting if s is SELL), D(0))},
            )
            if limits.check(ProposedOrder("BTCTRY", side, D(100), qty), state).ok:
                resting.append((side, qty))
        elif resting:
            i = pick % len(resting)
            rest_side, left = resting.pop(i)
            if action == "fill":
                done = min(left, (left * percent / 100).quantize(D("0.01")) or left)
                position += done if rest_side is BUY else -done
                if left - done > 0:
                    resting.insert(i, (rest_side, left - done))
        assert abs(position) <= 2
