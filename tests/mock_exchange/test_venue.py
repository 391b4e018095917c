"""The venue accepts, refuses, matches, settles and cancels as BTCTurk does (reference §5-7)."""

from __future__ import annotations

import random
from decimal import Decimal as D

import pytest

from mock_exchange.errors import VenueError
from mock_exchange.events import OrderDeleted, OrderFilled, OrderInserted
from mock_exchange.model import OrderStatus
from mock_exchange.rules import DEFAULT_PAIRS
from mock_exchange.validation import OrderRequest
from mock_exchange.venue import FeeSchedule, Venue, VenueConfig


@pytest.fixture
def venue() -> Venue:
    v = Venue(DEFAULT_PAIRS, random.Random(1), VenueConfig(cancel_delay_ms=250))
    for account in ("maker", "taker"):
        v.fund(account, "TRY", D("10000000"), 0)
        v.fund(account, "BTC", D("10"), 0)
        v.fund(account, "USDT", D("100000"), 0)
    return v


def limit(
    side: str, qty: str, price: str, pair: str = "BTCTRY", cid: str | None = None
) -> OrderRequest:
    return OrderRequest(pair, side, "limit", D(qty), D(price), client_id=cid)


def code_of(venue: Venue, request: OrderRequest, account: str = "taker") -> int:
    with pytest.raises(VenueError) as caught:
        venue.submit(account, request, 10)
    return caught.value.code


def balances(venue: Venue, account: str) -> dict[str, tuple[D, D]]:
    return {a: (b.total, b.locked) for a, b in venue.ledger.balances(account).items()}


def test_a_buy_locks_its_notional_plus_the_worst_case_fee() -> None:
    v = Venue(DEFAULT_PAIRS, random.Random(1))
    v.fund("a", "TRY", D("1000000"), 0)
    v.submit("a", limit("buy", "0.1", "4000000"), 1)
    locked = v.ledger.balance("a", "TRY").locked
    assert locked == D("400000") * (1 + D("0.0015") * D("1.18"))


def test_a_cross_settles_both_sides_with_maker_and_taker_fees_and_tax(venue: Venue) -> None:
    venue.submit("maker", limit("sell", "0.5", "4000000"), 1)
    buy = venue.submit("taker", limit("buy", "0.2", "4000100"), 2)
    assert buy.status == OrderStatus.CLOSED
    # Taker: 800,000 TRY notional, fee 0.15% = 1,200, tax 18% of fee = 216.
    assert balances(venue, "taker")["TRY"] == (D("10000000") - D("801416"), 0)
    assert balances(venue, "taker")["BTC"] == (D("10.2"), 0)
    # Maker: fee 0.10% = 800, tax 144; 0.3 BTC still locked in the resting rest of the order.
    assert balances(venue, "maker")["TRY"] == (D("10000000") + D("799056"), 0)
    assert balances(venue, "maker")["BTC"] == (D("9.8"), D("0.3"))
    fills = venue.fills
    assert [(f.account, f.maker, f.fee, f.tax) for f in fills] == [
        ("maker", True, D("800"), D("144")),
        ("taker", False, D("1200"), D("216")),
    ]
    assert fills[0].match_id == fills[1].match_id
    assert fills[0].trade_id != fills[1].trade_id


def test_a_resting_buy_that_fills_as_maker_gets_the_unused_fee_reserve_back(venue: Venue) -> None:
    buy = venue.submit("maker", limit("buy", "0.1", "4000000"), 1)
    venue.submit("taker", limit("sell", "0.1", "3999000"), 2)
    assert buy.status == OrderStatus.CLOSED
    cost = D("400000") + D("400") + D("72")  # maker fee 0.10% and its tax
    assert balances(venue, "maker")["TRY"] == (D("10000000") - cost, 0)


def test_partial_fills_are_kept_apart(venue: Venue) -> None:
    sell = venue.submit("maker", limit("sell", "1", "4000000"), 1)
    for t in (2, 3, 4):
        venue.submit("taker", limit("buy", "0.1", "4000000"), t)
    assert sell.status == OrderStatus.PARTIAL
    assert sell.left == D("0.7")
    maker_fills = [f for f in venue.fills if f.order_id == sell.id]
    assert len(maker_fills) == 3
    assert len({f.trade_id for f in maker_fills}) == 3
    assert sell.fills == [f.trade_id for f in maker_fills]


def test_a_market_buy_is_sized_in_quote_currency(venue: Venue) -> None:
    venue.submit("maker", limit("sell", "1", "4000000"), 1)
    order = venue.submit("taker", OrderRequest("BTCTRY", "buy", "market", D("400000")), 2)
    assert order.filled_base == D("0.1")
    assert order.status == OrderStatus.CLOSED


def test_a_market_order_stops_at_the_five_percent_slippage_guard(venue: Venue) -> None:
    venue.submit("maker", limit("sell", "0.1", "4000000"), 1)
    venue.submit("maker", limit("sell", "1", "4300000"), 2)  # 7.5% away: beyond the guard
    order = venue.submit("taker", OrderRequest("BTCTRY", "buy", "market", D("1000000")), 3)
    assert order.filled_base == D("0.1")
    assert order.status == OrderStatus.CANCELED
    assert venue.ledger.balance("taker", "TRY").locked == 0


def test_a_market_order_without_liquidity_is_refused(venue: Venue) -> None:
    assert code_of(venue, OrderRequest("BTCTRY", "sell", "market", D("0.1"))) == 1118


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (limit("buy", "0.00001", "4000000"), 1123),  # 40 TRY < 99.91 minimum total
        (limit("buy", "0.1", "4000000.5"), 1126),  # BTCTRY prices are whole numbers
        (limit("buy", "0.123456789", "4000000"), 1127),  # BTC has 8 decimals
        (OrderRequest("BTCTRY", "buy", "stoplimit", D("0.1"), D("4100000"), D("4100000.5")), 1128),
        (limit("buy", "0.01", "40000001"), 1226),  # above maximumLimitOrderPrice
        (limit("buy", "1", "399999"), 1227),  # below minimumLimitOrderPrice
        (limit("buy", "100", "4000000"), 1055),  # more than the whole balance
        (limit("buy", "0.1", "4000000", pair="DOGETRY"), 1120),  # no such pair
    ],
)
def test_each_filter_is_enforced_with_the_venues_code(
    venue: Venue, request_: OrderRequest, code: int
) -> None:
    before = balances(venue, "taker")
    assert code_of(venue, request_) == code
    assert balances(venue, "taker") == before
    assert venue.orders == {}


def test_free_balance_short_because_of_open_orders_is_1122(venue: Venue) -> None:
    venue.submit("taker", limit("buy", "2", "4000000"), 1)
    assert code_of(venue, limit("buy", "0.5", "4000000")) == 1122


def test_a_method_the_pair_does_not_allow_is_1134() -> None:
    from dataclasses import replace

    pairs = [replace(DEFAULT_PAIRS[0], order_methods=("LIMIT",)), *DEFAULT_PAIRS[1:]]
    v = Venue(pairs, random.Random(1))
    v.fund("a", "TRY", D("1000000"), 0)
    with pytest.raises(VenueError) as caught:
        v.submit("a", OrderRequest("BTCTRY", "buy", "market", D("1000")), 1)
    assert caught.value.code == 1134


def test_a_cancel_is_accepted_at_once_and_takes_effect_after_the_delay(venue: Venue) -> None:
    order = venue.submit("taker", limit("buy", "0.1", "3900000"), 1000)
    venue.cancel("taker", order.id, 1000)
    assert order.status == OrderStatus.UNTOUCHED, "the cancel is asynchronous"
    assert venue.books["BTCTRY"].best_bid() == D("3900000")
    venue.advance(1249)
    assert order.is_open
    venue.advance(1250)
    assert order.status == OrderStatus.CANCELED
    assert venue.books["BTCTRY"].best_bid() is None
    assert venue.ledger.balance("taker", "TRY").locked == 0


def test_an_order_can_fill_while_its_cancel_is_in_flight(venue: Venue) -> None:
    order = venue.submit("maker", limit("sell", "0.1", "4000000"), 1000)
    venue.cancel("maker", order.id, 1000)
    venue.submit("taker", limit("buy", "0.1", "4000000"), 1100)
    venue.advance(2000)
    assert order.status == OrderStatus.CLOSED, "the fill won the race; the cancel did nothing"
    with pytest.raises(VenueError) as caught:
        venue.cancel("maker", order.id, 2001)
    assert caught.value.message == "ORDER_COULD_NOT_BE_CANCELED"


def test_cancelling_a_cancelled_order_succeeds_and_an_unknown_id_is_1052(venue: Venue) -> None:
    order = venue.submit("taker", limit("buy", "0.1", "3900000"), 1)
    venue.cancel("taker", order.id, 1)
    venue.advance(1000)
    venue.cancel("taker", order.id, 1001)  # the venue's 2024 quirk: success again
    with pytest.raises(VenueError) as caught:
        venue.cancel("taker", 123, 1001)
    assert caught.value.code == 1052


def test_another_accounts_order_is_unknown_to_you(venue: Venue) -> None:
    order = venue.submit("maker", limit("buy", "0.1", "3900000"), 1)
    with pytest.raises(VenueError) as caught:
        venue.cancel("taker", order.id, 2)
    assert caught.value.code == 1052


def test_a_stop_buy_must_sit_above_the_market_and_triggers_on_a_trade(venue: Venue) -> None:
    venue.submit("maker", limit("sell", "1", "4000000"), 1)
    venue.submit("maker", limit("sell", "1", "4050000"), 1)
    with pytest.raises(VenueError) as caught:
        venue.submit(
            "taker",
            OrderRequest("BTCTRY", "buy", "stoplimit", D("0.1"), D("4100000"), D("3990000")),
            2,
        )
    assert caught.value.code == 1124
    stop = venue.submit(
        "taker", OrderRequest("BTCTRY", "buy", "stoplimit", D("0.1"), D("4060000"), D("4010000")), 3
    )
    assert not stop.triggered and stop.is_open
    assert venue.books["BTCTRY"].best_bid() is None, "an untriggered stop rests off the book"
    venue.submit("taker", limit("buy", "1", "4000000"), 4)  # fills at 4,000,000: no trigger
    assert not stop.triggered
    venue.submit("taker", limit("buy", "0.1", "4050000"), 5)  # last 4,050,000 >= 4,010,000
    assert stop.triggered
    assert stop.filled_base == D("0.1")


def test_events_announce_insert_fill_and_delete(venue: Venue) -> None:
    seen: list[object] = []
    venue.subscribe(seen.append)
    sell = venue.submit("maker", limit("sell", "0.1", "4000000"), 1)
    venue.submit("taker", limit("buy", "0.1", "4000000"), 2)
    kinds = [type(e).__name__ for e in seen]
    assert kinds[:2] == ["OrderInserted", "OrderInserted"]
    assert kinds.count("OrderFilled") == 2
    deleted = [e for e in seen if isinstance(e, OrderDeleted)]
    assert {e.order.id for e in deleted} == {sell.id, sell.id + 1}
    assert all(e.reason == "filled" for e in deleted)
    assert isinstance(seen[0], OrderInserted)
    assert any(isinstance(e, OrderFilled) and e.fill.maker for e in seen)


def test_server_made_client_ids_are_guids_reproducible_by_seed() -> None:
    ids = []
    for _ in range(2):
        v = Venue(DEFAULT_PAIRS, random.Random(42))
        v.fund("a", "TRY", D("1000000"), 0)
        ids.append(v.submit("a", limit("buy", "0.01", "3900000"), 1).client_id)
    assert ids[0] == ids[1]
    assert len(ids[0]) == 36 and ids[0].count("-") == 4


def test_fee_schedule_rounds_down_to_eight_decimals() -> None:
    fee, tax = FeeSchedule().charge(D("0.123456789"), maker=False)
    assert fee == D("0.00018518")
    assert tax == D("0.00003333")


def test_closed_history_of_named_accounts_can_be_forgotten(venue: Venue) -> None:
    sell = venue.submit("maker", limit("sell", "0.1", "4000000"), 1000)
    venue.submit("taker", limit("buy", "0.1", "4000000"), 1000)
    resting = venue.submit("maker", limit("sell", "0.1", "4100000"), 1000)
    assert venue.forget_closed({"maker"}, before=2000) == 1
    assert sell.id not in venue.orders and resting.id in venue.orders, "open orders stay"
    assert [f.account for f in venue.fills] == ["taker"], "other accounts keep their fills"
    assert venue.account_fills("maker") == []
