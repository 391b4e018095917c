"""Fills are booked exactly once by trade id, in one canonical order whatever order they come
in; positions, average cost, realised PnL net of fee and tax, and the balances they imply."""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bot.core.portfolio import DAY_MS, Divergence, FillResult, Portfolio, compare
from bot.core.types import Balance, Fill, Side

D = Decimal
BUY, SELL = Side.BUY, Side.SELL
T0 = 1_700_000_000_000


def fill(
    trade_id: int,
    side: Side,
    amount: str,
    price: str,
    fee: str = "0",
    tax: str = "0",
    at: int | None = None,
    pair: str = "BTCTRY",
) -> Fill:
    base, quote = pair[:3], pair[3:]
    stamp = T0 + trade_id if at is None else at
    return Fill(
        trade_id, 100 + trade_id, None, pair, base, quote, side, D(price), D(amount), D(fee),
        D(tax), stamp,
    )  # fmt: skip


def book(*fills: Fill) -> Portfolio:
    portfolio = Portfolio()
    for f in fills:
        portfolio.apply_fill(f)
    return portfolio


def test_two_buys_average_their_cost_and_fees_count_as_realised_loss() -> None:
    p = book(fill(1, BUY, "1", "100", fee="0.1", tax="0.018"), fill(2, BUY, "3", "200"))
    assert p.position("BTCTRY") == 4
    assert p.average_cost("BTCTRY") == 175
    assert p.realised_pnl("BTCTRY") == D("-0.118")


def test_a_sell_realises_the_gain_over_the_average_cost_net_of_fee_and_tax() -> None:
    p = book(
        fill(1, BUY, "2", "100", fee="0.2", tax="0.036"),
        fill(2, SELL, "1", "130", fee="0.13", tax="0.0234"),
    )
    assert p.realised_pnl("BTCTRY") == D(30) - D("0.236") - D("0.1534")
    assert (p.position("BTCTRY"), p.average_cost("BTCTRY")) == (D(1), D(100))


def test_selling_through_zero_opens_a_short_at_the_fill_price_and_covering_it_realises() -> None:
    p = book(fill(1, BUY, "1", "100"), fill(2, SELL, "3", "120"))
    assert p.position("BTCTRY") == -2
    assert p.average_cost("BTCTRY") == 120
    assert p.realised_pnl("BTCTRY") == 20
    p.apply_fill(fill(3, BUY, "2", "90"))
    assert p.position("BTCTRY") == 0
    assert p.average_cost("BTCTRY") is None
    assert p.realised_pnl("BTCTRY") == 80


def test_a_pair_never_traded_is_flat() -> None:
    p = Portfolio()
    assert p.position("ETHTRY") == p.realised_pnl("ETHTRY") == 0
    assert p.average_cost("ETHTRY") is None


def test_the_same_trade_id_twice_is_booked_once() -> None:
    first = fill(1, BUY, "1", "100", fee="0.1")
    p = Portfolio()
    assert p.apply_fill(first) is FillResult.APPLIED
    assert p.apply_fill(first) is FillResult.DUPLICATE
    assert p.position("BTCTRY") == 1
    assert p.expected_balances({}) == {"BTC": D(1), "TRY": D("-100.1")}
    assert 1 in p and 2 not in p


def test_a_trade_id_seen_with_other_contents_is_a_conflict_kept_aside() -> None:
    p = book(fill(1, BUY, "1", "100"))
    other = fill(1, BUY, "2", "100")
    assert p.apply_fill(other) is FillResult.CONFLICT
    assert p.position("BTCTRY") == 1
    assert p.conflicts == (other,)


def test_a_late_fill_is_booked_where_it_belongs() -> None:
    early, middle, late = (
        fill(1, BUY, "1", "100"),
        fill(2, SELL, "1", "110"),
        fill(3, BUY, "1", "120"),
    )
    in_order = book(early, middle, late)
    backfilled = book(early, late, middle)  # the sell was missed and arrives over REST
    assert in_order.realised_pnl("BTCTRY") == backfilled.realised_pnl("BTCTRY") == 10
    assert backfilled.average_cost("BTCTRY") == 120
    assert [f.trade_id for f in backfilled.fills] == [1, 2, 3]


def test_expected_balances_are_the_start_plus_fills_net_of_fee_and_tax() -> None:
    p = book(
        fill(1, BUY, "0.5", "1000", fee="0.5", tax="0.09"),
        fill(2, SELL, "0.2", "1100", fee="0.22", tax="0.0396"),
        fill(3, BUY, "10", "50", pair="ETHTRY"),
    )
    start = {"BTC": D(1), "TRY": D(10_000), "USDT": D(7)}
    assert p.expected_balances(start) == {
        "BTC": D("1.3"),
        "TRY": D(10_000) - D("500.59") + D("219.7404") - D(500),
        "USDT": D(7),
        "ETH": D(10),
    }
    assert start == {"BTC": D(1), "TRY": D(10_000), "USDT": D(7)}  # not mutated


def test_fees_are_totalled_with_their_tax_by_currency() -> None:
    p = book(
        fill(1, BUY, "1", "100", fee="0.1", tax="0.018"),
        fill(2, BUY, "1", "100", fee="0.2", tax="0.036", pair="ETHUSDT"),
        fill(3, SELL, "1", "100", fee="0.1", tax="0.018"),
    )
    assert p.fees == {"TRY": D("0.236"), "USDT": D("0.236")}
    assert (p.positions["BTCTRY"].fees, p.positions["BTCTRY"].taxes) == (D("0.2"), D("0.036"))


def test_daily_realised_pnl_counts_the_utc_day_of_now_only() -> None:
    midnight = (T0 // DAY_MS + 1) * DAY_MS
    p = book(
        fill(1, BUY, "2", "100", at=midnight - 10),
        fill(2, SELL, "1", "110", at=midnight - 1),
        fill(3, SELL, "1", "130", fee="1", at=midnight),
        fill(4, BUY, "1", "10", at=midnight + 5, pair="ETHTRY"),
    )
    assert p.daily_realised_pnl(midnight - 1) == {"BTCTRY": D(10)}
    assert p.daily_realised_pnl(midnight + DAY_MS - 1) == {"BTCTRY": D(29), "ETHTRY": D(0)}
    assert p.daily_realised_pnl(midnight + DAY_MS) == {}


def test_balances_within_tolerance_do_not_diverge() -> None:
    venue = [
        Balance("BTC", D("1.00000001"), D(0), D("1.00000001")),
        Balance("TRY", D(5), D(1), D(4)),
    ]
    expected = {"BTC": D(1), "TRY": D(5)}
    assert compare(venue, expected, D("0.00000001")) == ()
    assert compare(venue, expected) == (Divergence("BTC", D(1), D("1.00000001")),)


def test_a_divergence_compares_the_venue_total_and_knows_its_difference() -> None:
    venue = [Balance("TRY", total=D(90), locked=D(40), free=D(50))]
    (found,) = compare(venue, {"TRY": D(100)})
    assert found == Divergence("TRY", expected=D(100), actual=D(90))
    assert found.difference == -10


def test_an_asset_missing_on_either_side_counts_as_zero_there() -> None:
    venue = [Balance("ETH", D(3), D(0), D(3)), Balance("USDT", D(0), D(0), D(0))]
    found = compare(venue, {"BTC": D(1)}, {"BTC": D(2)})
    assert found == (Divergence("ETH", D(0), D(3)),)


fills = st.lists(
    st.builds(
        lambda tid, side, amount, price, fee, at, pair: fill(
            tid, side, str(amount), str(price), fee=str(fee), at=T0 + at, pair=pair
        ),
        tid=st.integers(1, 40),
        side=st.sampled_from([BUY, SELL]),
        amount=st.integers(1, 500).map(lambda n: D(n) / 100),
        price=st.integers(1, 10_000),
        fee=st.integers(0, 100).map(lambda n: D(n) / 1000),
        at=st.integers(0, 3 * DAY_MS),
        pair=st.sampled_from(["BTCTRY", "ETHTRY"]),
    ),
    max_size=30,
    unique_by=lambda f: f.trade_id,
)


@given(fills=fills, seed=st.integers(0, 2**32), repeats=st.integers(1, 3))
def test_duplicated_and_reordered_fills_give_the_same_books(
    fills: list[Fill], seed: int, repeats: int
) -> None:
    once = book(*sorted(fills, key=lambda f: (f.timestamp, f.trade_id)))
    storm = fills * repeats + fills[: len(fills) // 2]
    random.Random(seed).shuffle(storm)
    noisy = Portfolio()
    results = [noisy.apply_fill(f) for f in storm]
    assert results.count(FillResult.APPLIED) == len(fills)
    assert FillResult.CONFLICT not in results
    assert noisy.positions == once.positions
    assert noisy.expected_balances({}) == once.expected_balances({})
    assert noisy.daily_realised_pnl(T0 + DAY_MS) == once.daily_realised_pnl(T0 + DAY_MS)


@given(fills=fills)
def test_every_position_is_the_base_the_fills_moved(fills: list[Fill]) -> None:
    p = book(*fills)
    moved = p.expected_balances({})
    assert {pair: pos.quantity for pair, pos in p.positions.items()} == {
        pair: moved[pair[:3]] for pair in {f.pair for f in fills}
    }
    realised = sum((pos.realised_pnl for pos in p.positions.values()), D(0))
    by_day = [p.daily_realised_pnl(T0 + day * DAY_MS) for day in range(4)]  # fills span 4 days
    assert realised == sum((pnl for day in by_day for pnl in day.values()), D(0))
