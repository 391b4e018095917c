"""The websocket wire read into core values, and the local order book (reference §8)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal as D
from typing import Any

import pytest

from bot.core.types import BookLevel, Fill, OrderBook, OrderMethod, PublicTrade, Side, Ticker
from bot.exchange.channels import (
    BookDiff,
    BookOutcome,
    BookSnapshot,
    LevelChange,
    LocalBook,
    LoginResult,
    Malformed,
    OrderDelete,
    OrderInsert,
    OrderMatch,
    SubscribeResult,
    TradeList,
    Version,
    decode,
    parse_frame,
)

NOW = 1_763_700_000_000

# -- the reference's captured payloads (§8.1, §8.3, §8.4, §8.5), verbatim ---------------------

VERSION = '[991, {"type":991,"current":"5.1.0","min":"2.3.0"}]'
DUMMY_INSERT = (
    '[451,{"type":451,"pairId":0,"symbol":"BTCTRY","id":0,"method":0,"userId":0,"orderType":0,'
    '"price":"0","amount":"0","numLeft":"0.00","denomLeft":"0","newOrderClientId":null}]'
)
USER_TRADE = """[423,{"id":1149163839863900657,"orderId":25327923517,"timestamp":1729396570700,
      "numeratorSymbol":"APE","denominatorSymbol":"USDT","amount":"-205.24",
      "fee":"-0.10467240","tax":"-0.02093448","price":"1.020","orderType":"sell",
      "orderClientId":"xxxxxx","preciseAmount":-205.24}]"""
ORDER_MATCH = """[441,{"type":441,"id":7968322274,"user":343234,"isBid":false,"method":0,"pair":62,
      "symbol":"DOTUSDT","amount":"0.6393864025","price":"20.9700000000",
      "clientId":"e3670027-694c-4318-abb8-74112b3bfe7c"}]"""
ORDER_INSERT = """[451,{"type":451,"pairId":62,"symbol":"DOTUSDT","id":7968322274,"method":0,
      "userId":343234,"orderType":1,"price":"20.97","amount":"1","numLeft":"1",
      "denomLeft":"20.9679029999999992","newOrderClientId":"e3670027-694c"}]"""
ORDER_DELETE = (
    '[452,{"type":452,"pairId":1,"symbol":"BTCTRY","id":155726367,"method":0,"userId":1156034,'
    '"orderType":0,"price":"515000.0000000000000000","amount":"5.0000000000000000",'
    '"numLeft":"5.0000000000000000","denomLeft":"2575257.4989700000000000",'
    '"newOrderClientId":"advanced"}]'
)
DIFF = (
    '[432,{"CS":2166305,"PS":"FILTRY","AO":[],"BO":[{"CP":3,"P":"583.35","A":"41.843"},'
    '{"CP":1,"P":"525.96","A":"9.4969"}],"channel":"obdiff","event":"FILTRY","type":432}]'
)
TRADE_LIST = (
    '[421,{"symbol":"BTCTRY","items":[{"D":"1651204111661","I":"100163785789620803",'
    '"A":"0.0072834700","P":"586484.0000000000","S":0}],"channel":"trade","event":"BTCTRY",'
    '"type":421}]'
)
LOGIN_FAILED = '[114,{"type":114,"ok":false,"id":0,"message":"Unauthorized - Invalid Public key"}]'


def frame(kind: int, payload: dict[str, Any]) -> str:
    return json.dumps([kind, payload])


def payload_of(text: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(text)[1]
    return body


def snapshot(cs: int, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> BookSnapshot:
    def levels(rows: list[tuple[str, str]]) -> tuple[BookLevel, ...]:
        return tuple(BookLevel(D(p), D(a)) for p, a in rows)

    return BookSnapshot("BTCTRY", cs, levels(bids), levels(asks))


Changes = Sequence[tuple[int, str, str]]


def diff(cs: int, bids: Changes = (), asks: Changes = ()) -> BookDiff:
    def changes(rows: Changes) -> tuple[LevelChange, ...]:
        return tuple(LevelChange(cp, D(p), D(a)) for cp, p, a in rows)

    return BookDiff("BTCTRY", cs, changes(bids), changes(asks))


def clean_book() -> LocalBook:
    book = LocalBook("BTCTRY")
    outcome = book.apply(snapshot(10, [("100", "1"), ("99", "2")], [("101", "3"), ("102", "4")]), 1)
    assert outcome is BookOutcome.RESET
    return book


def levels(book: LocalBook) -> tuple[list[tuple[D, D]], list[tuple[D, D]]]:
    view = book.snapshot()
    return [(lv.price, lv.amount) for lv in view.bids], [(lv.price, lv.amount) for lv in view.asks]


# -- frames ----------------------------------------------------------------------------------


def test_a_frame_is_a_type_and_an_object_and_numbers_never_become_floats() -> None:
    kind, body = parse_frame('[423, {"preciseAmount": -205.24}]') or (0, {})
    assert kind == 423 and body["preciseAmount"] == D("-205.24")
    assert isinstance(body["preciseAmount"], D)
    for garbage in ("", "not json", "[1, 2]", '{"type": 1}', '["451", {}]', "[451, {}, 1]"):
        assert parse_frame(garbage) is None


def test_garbage_is_malformed_and_unknown_types_are_ignored() -> None:
    assert decode("{{{", NOW) == Malformed(0, "not a [type, object] JSON frame")
    assert decode('[801, {"type": 801, "message": "hello"}]', NOW) is None
    assert decode(VERSION, NOW) == Version("5.1.0", "2.3.0")


def test_acknowledgements_and_login_results() -> None:
    ack = '[100, {"type":100, "ok":true, "message":"join|obdiff:BTCTRY"}]'
    assert decode(ack, NOW) == SubscribeResult(True, "join|obdiff:BTCTRY")
    assert decode(LOGIN_FAILED, NOW) == LoginResult(False, "Unauthorized - Invalid Public key")
    assert decode('[114,{"type":114,"ok":true,"id":0,"message":null}]', NOW) == LoginResult(
        True, None
    )
    assert isinstance(decode('[114,{"type":114,"ok":"yes"}]', NOW), Malformed)


# -- private models --------------------------------------------------------------------------


def test_user_trade_423_becomes_a_fill_with_positive_amounts() -> None:
    fill = decode(USER_TRADE, NOW)
    assert fill == Fill(
        trade_id=1149163839863900657,
        order_id=25327923517,
        client_id="xxxxxx",
        pair="APEUSDT",
        base="APE",
        quote="USDT",
        side=Side.SELL,
        price=D("1.020"),
        amount=D("205.24"),
        fee=D("0.10467240"),
        tax=D("0.02093448"),
        timestamp=1729396570700,
    )


def test_user_trade_prefers_precise_amount_over_the_cut_amount() -> None:
    body = payload_of(USER_TRADE)
    body.update(amount="-0.3384", preciseAmount=-0.33840811)
    fill = decode(frame(423, body), NOW)
    assert isinstance(fill, Fill) and fill.amount == D("0.33840811")
    del body["preciseAmount"]
    fill = decode(frame(423, body), NOW)
    assert isinstance(fill, Fill) and fill.amount == D("0.3384")


def test_order_match_441_carries_the_order_id() -> None:
    match = decode(ORDER_MATCH, NOW)
    assert match == OrderMatch(
        order_id=7968322274,
        pair="DOTUSDT",
        side=Side.SELL,
        price=D("20.97"),
        amount=D("0.6393864025"),
        client_id="e3670027-694c-4318-abb8-74112b3bfe7c",
        timestamp=None,
    )


def test_order_insert_and_delete_451_452() -> None:
    insert = decode(ORDER_INSERT, NOW)
    assert isinstance(insert, OrderInsert)
    assert (insert.id, insert.pair_id, insert.pair, insert.side) == (
        7968322274,
        62,
        "DOTUSDT",
        Side.SELL,
    )
    assert (insert.price, insert.amount, insert.left) == (D("20.97"), D("1"), D("1"))
    assert insert.left_quote == D("20.9679029999999992")
    assert insert.client_id == "e3670027-694c" and insert.order_method is OrderMethod.LIMIT
    delete = decode(ORDER_DELETE, NOW)
    assert isinstance(delete, OrderDelete) and not isinstance(delete, OrderInsert)
    assert (delete.id, delete.side, delete.client_id) == (155726367, Side.BUY, "advanced")
    assert delete.left_quote == D("2575257.49897")


def test_the_dummy_all_zero_order_is_ignored() -> None:
    assert decode(DUMMY_INSERT, NOW) is None


@pytest.mark.parametrize(
    ("sample", "change"),
    [
        (USER_TRADE, {"price": "1.2.3x"}),
        (USER_TRADE, {"orderType": "sell", "amount": "205.24", "preciseAmount": None}),
        (USER_TRADE, {"orderType": "hold"}),
        (USER_TRADE, {"id": None}),
        (USER_TRADE, {"fee": "NaN"}),
        (ORDER_MATCH, {"isBid": "false"}),
        (ORDER_MATCH, {"amount": None}),
        (ORDER_MATCH, {"price": "0"}),
        (ORDER_INSERT, {"orderType": 2}),
        (ORDER_INSERT, {"numLeft": "-1"}),
        (ORDER_INSERT, {"symbol": None}),
        (ORDER_DELETE, {"id": "x"}),
        (ORDER_DELETE, {"amount": True}),
    ],
)
def test_a_broken_private_payload_is_dropped_as_malformed(
    sample: str, change: dict[str, Any]
) -> None:
    kind = json.loads(sample)[0]
    result = decode(frame(kind, payload_of(sample) | change), NOW)
    assert isinstance(result, Malformed) and result.type == kind and result.private


@pytest.mark.parametrize("missing", ["id", "orderId", "timestamp", "price", "numeratorSymbol"])
def test_a_missing_field_is_never_defaulted(missing: str) -> None:
    body = payload_of(USER_TRADE)
    del body[missing]
    result = decode(frame(423, body), NOW)
    assert isinstance(result, Malformed) and missing in result.reason


# -- public models ---------------------------------------------------------------------------


def test_trades_421_and_422_with_a_configurable_side() -> None:
    listed = decode(TRADE_LIST, NOW)
    assert listed == TradeList(
        "BTCTRY",
        (
            PublicTrade(
                "100163785789620803", "BTCTRY", D("586484"), D("0.00728347"), None, 1651204111661
            ),
        ),
    )
    single = frame(
        422,
        {"D": "1", "I": "7", "A": "0.5", "P": "10", "PS": "BTCTRY", "S": 1, "type": 422},
    )
    assert decode(single, NOW) == PublicTrade("7", "BTCTRY", D("10"), D("0.5"), None, 1)
    assert decode(single, NOW, trade_side_buy=0) == PublicTrade(
        "7", "BTCTRY", D("10"), D("0.5"), Side.SELL, 1
    )
    assert isinstance(decode(single.replace('"S": 1', '"S": 5'), NOW), Malformed)


def test_ticker_402_uses_the_receive_time() -> None:
    ticker = frame(402, {"B": "99", "A": "101", "LA": "100", "PS": "BTCTRY", "type": 402})
    assert decode(ticker, NOW) == Ticker("BTCTRY", D("99"), D("101"), D("100"), NOW)
    assert isinstance(decode(ticker.replace('"99"', '"x"'), NOW), Malformed)


def test_book_frames_decode_with_cp_and_a_pair_from_event_when_ps_is_null() -> None:
    assert decode(DIFF, NOW) == BookDiff(
        "FILTRY",
        2166305,
        (LevelChange(3, D("583.35"), D("41.843")), LevelChange(1, D("525.96"), D("9.4969"))),
        (),
    )
    first = frame(
        431,
        {"CS": -1748790363, "PS": None, "AO": [{"A": "2", "P": "436.25"}], "BO": []}
        | {"channel": "obdiff", "event": "DOTTRY", "type": 431},
    )
    assert decode(first, NOW) == BookSnapshot(
        "DOTTRY", -1748790363, (), (BookLevel(D("436.25"), D("2")),)
    )
    for broken in ('"CP":3', '"CP":1'):
        assert isinstance(decode(DIFF.replace(broken, '"CP":2'), NOW), Malformed)
    assert isinstance(decode(DIFF.replace('"CS":2166305,', ""), NOW), Malformed)
    assert isinstance(decode(DIFF.replace('"583.35"', '"-1"'), NOW), Malformed)


# -- the local book --------------------------------------------------------------------------


def test_a_book_is_dirty_until_its_first_snapshot_and_then_sorted() -> None:
    book = LocalBook("btc_try")
    assert book.dirty and book.cs is None
    assert book.apply(diff(1, bids=[(1, "100", "1")]), 1) is BookOutcome.IGNORED
    book.apply(snapshot(5, [("99", "2"), ("100", "1")], [("102", "4"), ("101", "3")]), 7)
    assert not book.dirty and book.cs == 5 and book.last_update_ms == 7
    assert book.snapshot() == OrderBook(
        "BTCTRY",
        (BookLevel(D("100"), D("1")), BookLevel(D("99"), D("2"))),
        (BookLevel(D("101"), D("3")), BookLevel(D("102"), D("4"))),
        7,
    )


def test_diffs_in_sequence_update_add_and_delete_levels() -> None:
    book = clean_book()
    outcome = book.apply(
        diff(11, bids=[(0, "100", "5"), (1, "98", "1"), (3, "99", "2")], asks=[(3, "101", "3")]),
        2,
    )
    assert outcome is BookOutcome.APPLIED and book.cs == 11 and book.last_update_ms == 2
    assert levels(book) == ([(D(100), D(5)), (D(98), D(1))], [(D(102), D(4))])


def test_a_gap_in_cs_makes_the_book_dirty_and_it_ignores_diffs_until_a_snapshot() -> None:
    book = clean_book()
    assert book.apply(diff(12, bids=[(0, "100", "9")]), 2) is BookOutcome.GAP
    assert book.dirty and book.dirty_reason == "gap: CS 10 then 12"
    assert book.apply(diff(13, bids=[(0, "100", "9")]), 3) is BookOutcome.IGNORED
    assert levels(book)[0][0] == (D(100), D(1))  # nothing applied while dirty
    assert book.apply(snapshot(13, [("100", "7")], [("101", "1")]), 4) is BookOutcome.RESET
    assert not book.dirty and book.cs == 13 and levels(book) == ([(D(100), D(7))], [(D(101), D(1))])
    assert book.apply(diff(14, asks=[(1, "103", "1")]), 5) is BookOutcome.APPLIED


def test_repeated_and_late_diffs_change_nothing() -> None:
    book = clean_book()
    book.apply(diff(11, bids=[(0, "100", "5")]), 2)
    assert book.apply(diff(11, bids=[(0, "100", "5")]), 3) is BookOutcome.STALE
    assert book.apply(diff(9, bids=[(3, "100", "5")]), 3) is BookOutcome.STALE
    assert not book.dirty and levels(book)[0][0] == (D(100), D(5))


def test_an_older_snapshot_is_ignored_on_a_clean_book_but_taken_on_a_dirty_one() -> None:
    book = clean_book()
    older = snapshot(3, [("50", "1")], [("60", "1")])
    assert book.apply(older, 2) is BookOutcome.STALE and book.cs == 10
    assert book.apply(snapshot(10, [("100", "2")], [("101", "2")]), 2) is BookOutcome.RESET
    book.mark_dirty("reconnect")
    assert book.apply(older, 3) is BookOutcome.RESET  # the venue's CS may have restarted
    assert book.cs == 3 and not book.dirty


def test_a_crossed_book_is_dirty() -> None:
    book = clean_book()
    assert book.apply(diff(11, bids=[(1, "101.5", "1")]), 2) is BookOutcome.CROSSED
    assert book.dirty and book.dirty_reason == "crossed"
    crossed = snapshot(20, [("105", "1")], [("104", "1")])
    assert book.apply(crossed, 3) is BookOutcome.CROSSED and book.dirty


def test_reset_from_a_rest_book_takes_the_next_diff_as_the_base() -> None:
    book = clean_book()
    book.apply(diff(15), 2)
    assert book.dirty
    rest = OrderBook("BTCTRY", (BookLevel(D("100"), D("4")),), (BookLevel(D("103"), D("1")),), 9)
    assert book.reset_from(rest) is BookOutcome.RESET
    assert not book.dirty and book.cs is None and book.last_update_ms == 9
    assert book.apply(diff(40, asks=[(1, "102", "2")]), 10) is BookOutcome.APPLIED
    assert book.cs == 40 and levels(book)[1] == [(D(102), D(2)), (D(103), D(1))]
    assert book.apply(diff(42), 11) is BookOutcome.GAP
