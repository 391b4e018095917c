"""The spread maker quotes only what the venue would accept, on the pair's grid and inside its
bands, never blind, never crossing the book, and replaces a slot rather than doubling it."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.strategy import (
    Decision,
    Holdings,
    LiveQuote,
    MarketView,
    Quote,
    SpreadMaker,
    SpreadMakerConfig,
    Strategy,
    price_band,
    price_step,
    slot_name,
)
from bot.core.types import BookLevel, OrderBook, OrderMethod, PairRules, Side

D = Decimal
NOW = 1_700_000_000_000
RICH = Holdings(base_free=D(1000), quote_free=D(10) ** 12, position=D(0))

BTCTRY = PairRules(
    name="BTCTRY",
    base="BTC",
    quote="TRY",
    status="TRADING",
    quantity_scale=8,
    price_scale=2,
    has_fraction=False,
    min_price=D("0.0000000000001"),
    max_price=D(10_000_000),
    tick_size=D(10),
    min_total=D("99.91"),
    min_amount=None,
    max_amount=None,
    min_limit_price=D(58_950),
    max_limit_price=D(5_895_000),
    order_methods=frozenset(OrderMethod),
)


def book(bid: str, ask: str, pair: str = "BTCTRY") -> OrderBook:
    return OrderBook(pair, (BookLevel(D(bid), D(1)),), (BookLevel(D(ask), D(1)),), NOW - 100)


def view(
    b: OrderBook | None = None, rules: PairRules | None = BTCTRY, fresh: bool = True
) -> MarketView:
    return MarketView("BTCTRY", b or book("1000000", "1000100"), fresh, None, rules, NOW)


def maker(**kw: object) -> SpreadMaker:
    settings: dict[str, object] = {
        "pairs": frozenset({"BTCTRY"}),
        "spread_bps": D(20),
        "quantity": D("0.01"),
    }
    settings.update(kw)
    return SpreadMaker(SpreadMakerConfig(**settings))  # type: ignore[arg-type]


def live(quote: Quote, placed_ms: int = NOW - 1_000) -> dict[str, LiveQuote]:
    return {quote.slot: LiveQuote(quote.slot, quote.price, quote.quantity, placed_ms)}


def test_the_spread_maker_is_a_strategy() -> None:
    strategy: Strategy = maker()
    assert strategy.name == "spread_maker"


def test_quotes_sit_half_the_spread_from_the_mid_bid_rounded_down_ask_up_to_the_tick() -> None:
    decision = maker().decide(view(), RICH, {})
    # mid 1,000,050; 10 bps either side: 999,049.95 -> 999,040 and 1,001,050.05 -> 1,001,060
    assert decision.place == (
        Quote("BTCTRY:bid:0", "BTCTRY", Side.BUY, D(999_040), D("0.01")),
        Quote("BTCTRY:ask:0", "BTCTRY", Side.SELL, D(1_001_060), D("0.01")),
    )
    assert (decision.cancel, decision.replace) == ((), ())


def test_a_pair_without_fractions_gets_integer_prices_whatever_its_scale_says() -> None:
    rules = replace(BTCTRY, tick_size=D("0.01"))
    decision = maker().decide(view(book("1000000.37", "1000100.11"), rules), RICH, {})
    assert [q.price for q in decision.place] == [D(999_050), D(1_001_051)]  # mid 1,000,050.24
    assert all(q.price.as_tuple().exponent == 0 for q in decision.place)


def test_the_price_grid_honours_both_the_decimals_and_the_tick() -> None:
    assert price_step(BTCTRY) == D(10)
    assert price_step(replace(BTCTRY, tick_size=D("0.01"))) == D(1)
    fractional = replace(BTCTRY, has_fraction=True, price_scale=1)
    assert price_step(replace(fractional, tick_size=D("0.25"))) == D("0.5")
    assert price_step(replace(fractional, tick_size=D("0.05"))) == D("0.1")
    assert price_step(replace(fractional, tick_size=D(0))) == D("0.1")


def test_a_notional_size_is_rounded_down_to_the_quantity_scale() -> None:
    decision = maker(quantity=None, notional=D(1000)).decide(view(), RICH, {})
    bid, ask = decision.place
    assert bid.quantity == D("0.00100096")  # 1000 / 999,040 = 0.0010009609...
    assert ask.quantity == D("0.00099894")  # 1000 / 1,001,060 = 0.0009989411...


def test_a_quote_under_the_minimum_total_is_skipped_not_enlarged() -> None:
    decision = maker(quantity=D("0.00009")).decide(view(), RICH, {})  # about 90 TRY
    assert decision.place == ()
    assert any("under the minimum 99.91" in note for note in decision.notes)


def test_a_quote_outside_the_price_bands_is_skipped() -> None:
    near_top = book("5890000", "5894000")
    decision = maker(spread_bps=D(40)).decide(view(near_top), RICH, {})
    assert [q.side for q in decision.place] == [Side.BUY]
    assert any("BTCTRY:ask:0" in note and "bands" in note for note in decision.notes)
    assert price_band(BTCTRY) == (D(58_950), D(5_895_000))


@pytest.mark.parametrize(
    ("the_view", "why"),
    [
        (view(fresh=False), "stale or dirty"),
        (view(rules=None), "no exchange rules"),
        (view(book("1000100", "1000000")), "crossed"),
        (view(OrderBook("BTCTRY", (), (BookLevel(D(1), D(1)),), NOW)), "one-sided"),
        (view(rules=replace(BTCTRY, status="HALTED")), "HALTED"),
        (view(rules=replace(BTCTRY, order_methods=frozenset({OrderMethod.MARKET}))), "limit"),
        (view(book("1000000", "1000100", pair="ETHTRY")), "another pair"),
    ],
    ids=["stale", "no-rules", "crossed", "one-sided", "halted", "no-limit", "wrong-book"],
)
def test_it_never_quotes_blind_and_pulls_its_quotes_instead(the_view: MarketView, why: str) -> None:
    resting = maker().decide(view(), RICH, {}).place[0]
    decision = maker().decide(the_view, RICH, live(resting))
    assert (decision.place, decision.replace) == ((), ())
    assert decision.cancel == ("BTCTRY:bid:0",)
    assert why in decision.notes[0]


def test_pulling_quotes_when_blind_can_be_turned_off() -> None:
    resting = maker().decide(view(), RICH, {}).place[0]
    decision = maker(pull_when_blind=False).decide(view(fresh=False), RICH, live(resting))
    assert decision.place == decision.replace == ()
    assert decision.cancel == ()


def test_a_pair_it_does_not_trade_gets_no_decision_at_all() -> None:
    other = MarketView("ETHTRY", book("1", "2", "ETHTRY"), True, None, BTCTRY, NOW)
    assert maker().decide(other, RICH, {}) == Decision()


def test_levels_step_outwards_each_in_its_own_slot() -> None:
    decision = maker(levels=3, level_step_bps=D(10)).decide(view(), RICH, {})
    slots = [q.slot for q in decision.place]
    assert slots == [slot_name("BTCTRY", s, n) for s in (Side.BUY, Side.SELL) for n in range(3)]
    bids = [q.price for q in decision.place if q.side is Side.BUY]
    asks = [q.price for q in decision.place if q.side is Side.SELL]
    assert bids == sorted(bids, reverse=True) and len(set(bids)) == 3
    assert asks == sorted(asks) and len(set(asks)) == 3


def test_a_young_quote_close_to_its_target_is_left_alone() -> None:
    bid = maker().decide(view(), RICH, {}).place[0]
    moved = view(book("1000100", "1000200"))  # 1 bps: inside the 10 bps drift allowance
    decision = maker().decide(moved, RICH, live(bid))
    assert bid.slot not in {q.slot for q in decision.place + decision.replace}
    assert bid.slot not in decision.cancel


def test_a_quote_is_replaced_once_the_mid_drifts_past_the_allowance() -> None:
    bid = maker().decide(view(), RICH, {}).place[0]
    moved = view(book("1002000", "1002100"))  # 20 bps
    decision = maker().decide(moved, RICH, live(bid))
    assert [q.slot for q in decision.replace] == [bid.slot]
    assert decision.replace[0].price > bid.price


def test_a_quote_is_refreshed_once_it_outlives_its_ttl() -> None:
    bid = maker().decide(view(), RICH, {}).place[0]
    fresh = maker(ttl_ms=5_000).decide(view(), RICH, live(bid, NOW - 4_999))
    old = maker(ttl_ms=5_000).decide(view(), RICH, live(bid, NOW - 5_000))
    assert fresh.replace == ()
    assert [q.slot for q in old.replace] == [bid.slot]


def test_a_slot_is_never_both_placed_and_live() -> None:
    bid = maker().decide(view(), RICH, {}).place[0]
    decision = maker().decide(view(), RICH, live(bid, NOW - 10**9))
    placed = {q.slot for q in decision.place}
    assert bid.slot not in placed
    assert {q.slot for q in decision.replace} == {bid.slot}


def test_slots_no_longer_wanted_are_cancelled_and_other_pairs_slots_left_alone() -> None:
    three = maker(levels=3, level_step_bps=D(10)).decide(view(), RICH, {}).place
    resting = {q.slot: LiveQuote(q.slot, q.price, q.quantity, NOW) for q in three}
    resting["ETHTRY:bid:0"] = LiveQuote("ETHTRY:bid:0", D(1), D(1), NOW)
    decision = maker(levels=1).decide(view(), RICH, resting)
    assert decision.cancel == ("BTCTRY:ask:1", "BTCTRY:ask:2", "BTCTRY:bid:1", "BTCTRY:bid:2")


def test_a_bid_must_fit_the_free_quote_with_the_fee_reserve() -> None:
    notional = D(999_040) * D("0.01")  # 9,990.40
    exact = Holdings(D(1), notional * D("1.003"), D(0))
    short = Holdings(D(1), notional * D("1.003") - D("0.01"), D(0))
    assert [q.side for q in maker().decide(view(), exact, {}).place] == [Side.BUY, Side.SELL]
    decision = maker().decide(view(), short, {})
    assert [q.side for q in decision.place] == [Side.SELL]
    assert any("not enough free balance" in note for note in decision.notes)


def test_an_ask_must_fit_the_free_base_counting_what_its_live_ask_holds() -> None:
    poor = Holdings(base_free=D("0.005"), quote_free=D(10) ** 9, position=D(0))
    assert [q.side for q in maker().decide(view(), poor, {}).place] == [Side.BUY]
    ask = maker().decide(view(), RICH, {}).place[1]
    drifted = view(book("1003000", "1003100"))
    decision = maker().decide(drifted, poor, live(ask))  # 0.005 free + 0.01 locked in it
    assert [q.slot for q in decision.replace] == [ask.slot]


def test_a_long_position_skews_both_quotes_down_within_the_cap() -> None:
    flat = maker(skew_bps_per_base=D(10)).decide(view(), RICH, {}).place
    long = replace(RICH, position=D(5))  # 50 bps, capped at 30
    skewed = maker(skew_bps_per_base=D(10), max_skew_bps=D(30)).decide(view(), long, {}).place
    assert all(s.price < f.price for s, f in zip(skewed, flat, strict=True))
    assert skewed[0].price == D(996_050)  # 1,000,050 * 0.997 * 0.999 = 996,052.80


def test_a_heavy_skew_never_crosses_the_book() -> None:
    skewing = maker(skew_bps_per_base=D(10), max_skew_bps=D(500))
    long = skewing.decide(view(), replace(RICH, position=D(1000)), {}).place
    short = skewing.decide(view(), replace(RICH, position=D(-1000)), {}).place
    ask = next(q for q in long if q.side is Side.SELL)
    bid = next(q for q in short if q.side is Side.BUY)
    assert ask.price == D(1_000_010)  # one tick above the best bid, not into it
    assert bid.price == D(1_000_090)  # one tick below the best ask


def test_equal_inputs_give_equal_decisions() -> None:
    one = maker(levels=2, level_step_bps=D(5)).decide(view(), RICH, {})
    two = maker(levels=2, level_step_bps=D(5)).decide(view(), RICH, {})
    assert one == two


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"pairs": "BTCTRY"}, "not one string"),
        ({"quantity": None}, "exactly one"),
        ({"notional": D(10)}, "exactly one"),
        ({"quantity": D(0)}, "positive"),
        ({"spread_bps": D(0)}, "spread_bps"),
        ({"levels": 0}, "levels"),
        ({"spread_bps": D(19_000), "levels": 2, "level_step_bps": D(600)}, "10000"),
        ({"ttl_ms": 0}, "ttl_ms"),
        ({"max_skew_bps": D(10_000)}, "max_skew_bps"),
    ],
)
def test_a_config_that_could_emit_nonsense_is_refused(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        maker(**settings)


def decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


@st.composite
def markets(draw: st.DrawFn) -> tuple[PairRules, OrderBook]:
    price_scale = draw(st.integers(0, 4))
    has_fraction = draw(st.booleans())
    tick = D(draw(st.sampled_from([1, 5, 25]))).scaleb(draw(st.integers(-price_scale - 1, 2)))
    bid = D(draw(st.integers(1, 10**8))).scaleb(-2)
    ask = bid + D(draw(st.integers(1, 10**6))).scaleb(-2)
    bands = draw(st.booleans())
    rules = replace(
        BTCTRY,
        quantity_scale=draw(st.integers(0, 8)),
        price_scale=price_scale,
        has_fraction=has_fraction,
        tick_size=tick,
        min_total=D(draw(st.integers(0, 20_000))).scaleb(-2),
        min_limit_price=bid / 2 if bands else None,
        max_limit_price=ask * 2 if bands else None,
    )
    return rules, OrderBook("BTCTRY", (BookLevel(bid, D(1)),), (BookLevel(ask, D(1)),), NOW)


configs = st.builds(
    SpreadMakerConfig,
    pairs=st.just(frozenset({"BTCTRY"})),
    spread_bps=st.integers(1, 2_000).map(D),
    levels=st.integers(1, 3),
    level_step_bps=st.integers(0, 200).map(D),
    notional=st.integers(1, 10**6).map(D),
    skew_bps_per_base=st.integers(0, 50).map(D),
)


@given(market=markets(), config=configs, position=st.integers(-100, 100), fresh=st.booleans())
def test_every_quote_satisfies_the_pairs_rules(
    market: tuple[PairRules, OrderBook], config: SpreadMakerConfig, position: int, fresh: bool
) -> None:
    rules, the_book = market
    the_view = MarketView("BTCTRY", the_book, fresh, None, rules, NOW)
    decision = SpreadMaker(config).decide(the_view, replace(RICH, position=D(position)), {})
    if not fresh:
        assert decision.place == decision.replace == ()
    low, high = price_band(rules)
    best_bid, best_ask = the_book.bids[0].price, the_book.asks[0].price
    for q in decision.place:
        assert decimals(q.price) <= rules.price_decimals
        assert q.price % rules.tick_size == 0
        assert decimals(q.quantity) <= rules.quantity_scale
        assert q.quantity > 0 and q.price * q.quantity >= rules.min_total
        assert low <= q.price <= high
        assert q.price < best_ask if q.side is Side.BUY else q.price > best_bid
    bids = [q.price for q in decision.place if q.side is Side.BUY]
    asks = [q.price for q in decision.place if q.side is Side.SELL]
    if bids and asks:
        assert max(bids) < min(asks)
    assert len({q.slot for q in decision.place}) == len(decision.place)
