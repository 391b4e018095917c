"""The venue's REST bodies read into core types: the golden payloads give exact values, a bad
row is quarantined with the field named and never completed with a guess, a body that is not
the venue's envelope fails whole, and every response status lands on the right error."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.types import (
    Balance,
    BookLevel,
    Fill,
    OrderMethod,
    OrderStatus,
    PairRules,
    PublicTrade,
    Side,
    SubmitAck,
    Ticker,
    VenueOrder,
)
from bot.errors import (
    AuthFailed,
    InsufficientBalance,
    NotCancellable,
    OrderNotFound,
    OrderRefused,
    ProtocolError,
    RateLimited,
    ServerError,
    VenueRejected,
)
from bot.exchange import schemas
from bot.exchange.schemas import Parsed, classify_response
from tests.conftest import ALICE, BOB, FIXTURES, VenueFactory


def body(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def data(name: str) -> Any:
    """A golden payload's ``data``, through the envelope as the REST client reads it."""
    return classify_response(200, body(name), None)


def rows(name: str) -> list[Any]:
    payload = data(name)
    found = payload if isinstance(payload, list) else payload["symbols"]
    assert isinstance(found, list)
    return found


# -- golden payloads -----------------------------------------------------------------------


def test_server_time_is_read_from_the_bare_object() -> None:
    assert schemas.server_time(schemas.decode_json(body("public_server_time"))) == 1613313462021


def test_exchangeinfo_gives_the_pairs_rules_exactly() -> None:
    parsed = schemas.exchange_info(data("public_exchangeinfo"))
    assert parsed.quarantined == ()
    assert parsed.items == (
        PairRules(
            name="BTCTRY",
            base="BTC",
            quote="TRY",
            status="TRADING",
            quantity_scale=8,
            price_scale=2,
            has_fraction=False,
            min_price=Decimal("0.0000000000001"),
            max_price=Decimal("10000000"),
            tick_size=Decimal("10"),
            min_total=Decimal("99.91"),
            min_amount=None,
            max_amount=None,
            min_limit_price=Decimal("58950"),
            max_limit_price=Decimal("5895000"),
            order_methods=frozenset(OrderMethod),
        ),
    )
    assert parsed.items[0].price_decimals == 0


def test_balances_keep_every_digit() -> None:
    assert schemas.balances(data("private_balances")) == Parsed(
        (
            Balance(
                asset="TRY",
                total=Decimal("27223.7283250757643288"),
                locked=Decimal("4874.3628685722294523"),
                free=Decimal("22349.3654565035348765"),
                timestamp=1735866257711,
            ),
        )
    )


def test_open_orders_read_bids_as_buys_and_time_zero_as_no_creation_time() -> None:
    [bid] = schemas.open_orders(data("private_open_orders")).items
    assert bid == VenueOrder(
        id=9932534,
        client_id="f479bdb6-0965-4f03-95b5-daeb7aa5a3a5",
        pair="BTCTRY",
        side=Side.BUY,
        method=OrderMethod.LIMIT,
        price=Decimal("66800.00"),
        stop_price=None,
        quantity=Decimal("0.04971904"),
        left=Decimal("0.0412345"),
        status=OrderStatus.PARTIAL,
        status_text="Partial",
        created=None,
        updated=1618913083543,
    )
    assert bid.filled == Decimal("0.00848454")


def test_all_orders_keep_the_creation_time_and_the_terminal_status() -> None:
    [row] = schemas.all_orders(data("private_all_orders")).items
    assert (row.id, row.client_id, row.pair, row.status) == (
        2606012912,
        "2ed187bd-59a8-4875-a212-1b793963b85c",
        "BTCUSDT",
        OrderStatus.CANCELED,
    )
    assert (row.created, row.updated, row.left, row.filled) == (
        1618913189253,
        1618913189253,
        Decimal("0.0003"),
        Decimal(0),
    )


def test_a_single_stop_market_order_keeps_its_stop_price() -> None:
    got = schemas.order(data("private_order"))
    assert (got.id, got.side, got.method, got.status) == (
        2606012913,
        Side.SELL,
        OrderMethod.STOP_MARKET,
        OrderStatus.UNTOUCHED,
    )
    assert (got.price, got.stop_price, got.quantity, got.client_id) == (
        Decimal(0),
        Decimal(20000),
        Decimal("0.12345678"),
        "test",
    )


def test_submit_ack_gives_the_venue_id_and_the_echoed_client_id() -> None:
    assert schemas.submit_ack(data("private_submit_order")) == SubmitAck(
        id=2606935102,
        client_id="98e5c491-7ed9-462b-9666-93553180fb28",
        pair="BTCUSDT",
        side=Side.BUY,
        method=OrderMethod.LIMIT,
        price=Decimal("56000"),
        stop_price=None,
        quantity=Decimal("0.0002"),
        created=1618916479523,
    )


def test_an_older_capitalised_submit_ack_reads_the_same() -> None:
    old = {
        "id": 9932534,
        "datetime": 1543996112263,
        "type": "Buy",
        "method": "Limit",
        "price": "20000.00",
        "stopPrice": "20000.00",  # the old answer echoed the price here for a limit order
        "quantity": "0.001",
        "pairSymbol": "BTCTRY",
        "pairSymbolNormalized": "BTC_TRY",
        "newOrderClientId": "test",
    }
    ack = schemas.submit_ack(old)
    assert (ack.side, ack.method, ack.stop_price, ack.price) == (
        Side.BUY,
        OrderMethod.LIMIT,
        None,
        Decimal("20000.00"),
    )


def test_user_trades_turn_a_negative_sell_into_a_positive_amount_and_keep_big_ids() -> None:
    [fill] = schemas.user_trades(data("private_user_trades")).items
    assert fill == Fill(
        trade_id=1181163798924649598,
        order_id=10938696222,
        client_id=None,
        pair="ETHWTRY",
        base="ETHW",
        quote="TRY",
        side=Side.SELL,
        price=Decimal("122.00"),
        amount=Decimal("0.3384"),
        fee=Decimal("0.06297817"),
        tax=Decimal("0.01133607"),
        timestamp=1663848223334,
    )
    assert fill.trade_id > 2**53 and fill.trade_id % 1000 == 598, "not rounded through a float"


def test_ticker_numbers_are_exact_decimals() -> None:
    assert schemas.ticker(data("public_ticker")).items == (
        Ticker(
            pair="BTCTRY",
            bid=Decimal(461928),
            ask=Decimal(462485),
            last=Decimal(462485),
            timestamp=1618826361234,
        ),
    )


def test_the_orderbook_keeps_best_first_and_reads_a_double_timestamp() -> None:
    book = schemas.orderbook(data("public_orderbook"), "BTCTRY")
    assert book.bids == (
        BookLevel(Decimal("33245.00"), Decimal("2.10695265")),
        BookLevel(Decimal("33209.00"), Decimal("0.001")),
    )
    assert book.asks[0] == BookLevel(Decimal("33490.00"), Decimal("0.03681877"))
    assert (book.pair, book.timestamp, book.crossed) == ("BTCTRY", 1543836448605, False)


def test_public_trades_keep_the_string_id() -> None:
    assert schemas.trades(data("public_trades")).items == (
        PublicTrade(
            trade_id="637544252214980918",
            pair="BTCTRY",
            price=Decimal("462585.00"),
            amount=Decimal("0.01618411"),
            side=Side.SELL,
            timestamp=1618828421497,
        ),
    )


# -- one bad row among good ones -----------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """A list endpoint: how to build its ``data`` from rows, and a golden row."""

    name: str
    parse: Callable[[Any], Parsed[Any]]
    wrap: Callable[[list[Any]], Any]
    golden: dict[str, Any]


def _open_orders_bids(r: list[Any]) -> Any:
    return {"asks": [], "bids": r}


STOP_ROW = data("private_order")
ENDPOINTS = {
    "exchangeinfo": Endpoint(
        "exchangeinfo",
        schemas.exchange_info,
        lambda r: {"timeZone": "UTC", "symbols": r},
        rows("public_exchangeinfo")[0],
    ),
    "balances": Endpoint("balances", schemas.balances, list, rows("private_balances")[0]),
    "openOrders": Endpoint(
        "openOrders", schemas.open_orders, _open_orders_bids, data("private_open_orders")["bids"][0]
    ),
    "allOrders": Endpoint("allOrders", schemas.all_orders, list, rows("private_all_orders")[0]),
    "allOrders-stop": Endpoint("allOrders-stop", schemas.all_orders, list, STOP_ROW),
    "userTrades": Endpoint("userTrades", schemas.user_trades, list, rows("private_user_trades")[0]),
    "ticker": Endpoint("ticker", schemas.ticker, list, rows("public_ticker")[0]),
    "trades": Endpoint("trades", schemas.trades, list, rows("public_trades")[0]),
}


def golden_item(endpoint: Endpoint) -> Any:
    [item] = endpoint.parse(endpoint.wrap([endpoint.golden])).items
    return item


def around(endpoint: Endpoint, bad: dict[str, Any]) -> Parsed[Any]:
    return endpoint.parse(endpoint.wrap([endpoint.golden, bad, endpoint.golden]))


def assert_only_the_middle_row_quarantined(
    parsed: Parsed[Any], endpoint: Endpoint, *fields: str
) -> None:
    assert parsed.items == (golden_item(endpoint),) * 2
    [bad] = parsed.quarantined
    assert bad.index == 1
    assert any(field in bad.reason for field in fields), bad.reason


@pytest.mark.parametrize(
    ("endpoint", "field", "value"),
    [
        ("exchangeinfo", "numeratorScale", None),
        ("exchangeinfo", "hasFraction", "false"),
        ("exchangeinfo", "name", 7),
        ("balances", "free", "1.2.3x"),
        ("balances", "asset", None),
        ("openOrders", "price", "66,800"),
        ("openOrders", "leftAmount", True),
        ("openOrders", "id", "abc"),
        ("allOrders", "quantity", "NaN"),
        ("allOrders", "method", "iceberg"),
        ("allOrders-stop", "stopPrice", "0"),
        ("userTrades", "id", -1),
        ("userTrades", "price", 122.0),  # a float: the body was not decoded with Decimal
        ("userTrades", "orderType", "short"),
        ("ticker", "bid", "cheap"),
        ("trades", "tid", "12ab"),
        ("trades", "side", "up"),
    ],
)
def test_a_corrupt_field_quarantines_that_row_only(endpoint: str, field: str, value: Any) -> None:
    spec = ENDPOINTS[endpoint]
    bad = {**spec.golden, field: value}
    assert_only_the_middle_row_quarantined(around(spec, bad), spec, field)


@pytest.mark.parametrize(
    ("endpoint", "field"),
    [
        ("exchangeinfo", "filters"),
        ("exchangeinfo", "denominatorScale"),
        ("balances", "balance"),
        ("openOrders", "orderClientId"),  # absent is not "no client id"
        ("openOrders", "time"),
        ("allOrders", "status"),
        ("allOrders", "updateTime"),
        ("allOrders-stop", "stopPrice"),
        ("userTrades", "fee"),
        ("userTrades", "orderClientId"),
        ("ticker", "timestamp"),
        ("trades", "amount"),
    ],
)
def test_a_missing_field_quarantines_that_row_only(endpoint: str, field: str) -> None:
    spec = ENDPOINTS[endpoint]
    bad = {k: v for k, v in spec.golden.items() if k != field}
    assert_only_the_middle_row_quarantined(around(spec, bad), spec, field)
    assert "missing" in around(spec, bad).quarantined[0].reason


def test_a_row_that_is_not_an_object_is_quarantined() -> None:
    parsed = schemas.balances([rows("private_balances")[0], "TRY", None])
    assert [q.index for q in parsed.quarantined] == [1, 2]
    assert parsed.quarantined[0].raw == "TRY" and len(parsed.items) == 1


def test_a_price_filter_missing_a_rule_quarantines_the_pair() -> None:
    golden = rows("public_exchangeinfo")[0]
    for rule in ("minPrice", "maxPrice", "tickSize", "minExchangeValue"):
        bad = copy.deepcopy(golden)
        del bad["filters"][0][rule]
        parsed = schemas.exchange_info({"symbols": [bad]})
        assert parsed.items == ()
        assert parsed.quarantined[0].reason == f"filters[PRICE_FILTER].{rule}: missing"


def test_exchangeinfo_reads_optional_limits_and_ignores_unknown_methods() -> None:
    row = copy.deepcopy(rows("public_exchangeinfo")[0])
    row["filters"][0].update(minAmount="0.0001", maxAmount="100")
    row["orderMethods"] = ["limit", "Stop_Limit", "ICEBERG"]
    del row["maximumLimitOrderPrice"]
    [rules] = schemas.exchange_info({"symbols": [row]}).items
    assert (rules.min_amount, rules.max_amount, rules.max_limit_price) == (
        Decimal("0.0001"),
        Decimal(100),
        None,
    )
    assert rules.order_methods == {OrderMethod.LIMIT, OrderMethod.STOP_LIMIT}


def test_an_unknown_status_is_kept_for_the_lifecycle_not_quarantined() -> None:
    golden = rows("private_all_orders")[0]
    parsed = schemas.all_orders([{**golden, "status": "Expired"}, {**golden, "status": "closed"}])
    assert parsed.quarantined == ()
    unknown, closed = parsed.items
    assert (unknown.status, unknown.status_text) == (OrderStatus.UNKNOWN_TO_US, "Expired")
    assert (closed.status, closed.status_text) == (OrderStatus.CLOSED, "closed")


def test_enum_strings_are_case_insensitive() -> None:
    golden = rows("private_all_orders")[0]
    changed = {**golden, "type": "BUY", "method": "Stop Limit", "stopPrice": "54000"}
    [row] = schemas.all_orders([changed, {**changed, "method": "STOP_LIMIT"}]).items[:1]
    assert (row.side, row.method, row.stop_price) == (
        Side.BUY,
        OrderMethod.STOP_LIMIT,
        Decimal(54000),
    )


def test_numbers_arrive_as_strings_or_json_numbers() -> None:
    golden = rows("private_balances")[0]
    as_numbers = {**golden, "balance": Decimal("10.5"), "locked": 0, "free": "10.50"}
    [balance] = schemas.balances([as_numbers]).items
    assert (balance.total, balance.locked, balance.free) == (
        Decimal("10.5"),
        Decimal(0),
        Decimal("10.5"),
    )


def test_a_balance_without_the_newer_timestamp_has_none() -> None:
    golden = rows("private_balances")[0]
    [balance] = schemas.balances([{k: v for k, v in golden.items() if k != "timestamp"}]).items
    assert balance.timestamp is None


def test_an_order_listed_on_the_wrong_side_of_open_orders_is_quarantined() -> None:
    bid = data("private_open_orders")["bids"][0]
    parsed = schemas.open_orders({"asks": [bid], "bids": [bid, {**bid, "price": None}]})
    assert len(parsed.items) == 1 and parsed.items[0].side is Side.BUY
    assert [(q.index, q.reason.split(" ")[0]) for q in parsed.quarantined] == [
        (0, "asks[0]"),
        (2, "bids[1]"),
    ]
    assert "type" in parsed.quarantined[0].reason and "price" in parsed.quarantined[1].reason


def test_a_left_amount_beyond_the_quantity_is_quarantined() -> None:
    golden = rows("private_all_orders")[0]
    parsed = schemas.all_orders([{**golden, "leftAmount": "0.0004"}])
    assert parsed.items == () and "leftAmount" in parsed.quarantined[0].reason


def test_a_fill_whose_sign_contradicts_its_side_is_quarantined() -> None:
    sell = rows("private_user_trades")[0]
    buy = {**sell, "orderType": "buy", "amount": "0.5", "fee": "-0.1", "tax": "0"}
    parsed = schemas.user_trades([buy, {**sell, "orderType": "buy"}, {**sell, "fee": "0.1"}])
    [fill] = parsed.items
    assert (fill.side, fill.amount, fill.fee, fill.tax) == (
        Side.BUY,
        Decimal("0.5"),
        Decimal("0.1"),
        Decimal(0),
    )
    assert [q.reason.split(":")[0] for q in parsed.quarantined] == ["amount", "fee"]


def test_a_public_trade_without_a_side_says_so_rather_than_guessing() -> None:
    golden = rows("public_trades")[0]
    no_side = {k: v for k, v in golden.items() if k != "side"}
    [trade] = schemas.trades([{**no_side, "tid": 637544252214980918}]).items
    assert trade.side is None and trade.trade_id == "637544252214980918"


# -- single objects and top-level shapes ---------------------------------------------------


def test_a_malformed_single_order_or_ack_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="leftAmount: missing"):
        schemas.order({k: v for k, v in data("private_order").items() if k != "leftAmount"})
    with pytest.raises(ProtocolError, match="id: not an integer"):
        schemas.submit_ack({**data("private_submit_order"), "id": "x"})
    with pytest.raises(ProtocolError, match="serverTime: missing"):
        schemas.server_time({"serverTime2": "2021-02-14T14:37:42"})


LIST_PARSERS = [
    schemas.balances,
    schemas.all_orders,
    schemas.user_trades,
    schemas.ticker,
    schemas.trades,
]


@pytest.mark.parametrize("parse", LIST_PARSERS, ids=lambda p: p.__name__)
@pytest.mark.parametrize("garbage", ["<html>", None, 5, {"asks": []}, True])
def test_a_list_endpoint_whose_data_is_not_a_list_fails_whole(
    parse: Callable[[Any], Any], garbage: Any
) -> None:
    with pytest.raises(ProtocolError, match="not a list"):
        parse(garbage)


@pytest.mark.parametrize(
    ("parse", "garbage"),
    [
        (schemas.exchange_info, []),
        (schemas.exchange_info, {"symbols": None}),
        (schemas.exchange_info, "<html>"),
        (schemas.open_orders, []),
        (schemas.open_orders, {"asks": []}),
        (schemas.open_orders, {"asks": [], "bids": "none"}),
        (schemas.order, [data("private_order")]),
        (schemas.submit_ack, None),
        (schemas.server_time, "1613313462021"),
        (lambda d: schemas.orderbook(d, "BTCTRY"), []),
    ],
)
def test_an_object_endpoint_with_the_wrong_shape_fails_whole(
    parse: Callable[[Any], Any], garbage: Any
) -> None:
    with pytest.raises(ProtocolError):
        parse(garbage)


@pytest.mark.parametrize(
    "change",
    [
        {"bids": [["33245.00", "2.1"], ["33209.00"]]},
        {"bids": [["33245.00", "2.1"], ["33209.00", "-1"]]},
        {"asks": [["33490.00", "1"], ["x", "1"]]},
        {"bids": [["33209.00", "1"], ["33245.00", "1"]]},  # worst first
        {"asks": [["33499.00", "1"], ["33490.00", "1"]]},
        {"timestamp": "yesterday"},
        {"timestamp": Decimal("1543836448605.5")},
    ],
)
def test_one_bad_level_fails_the_whole_book(change: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError, match="orderbook"):
        schemas.orderbook({**data("public_orderbook"), **change}, "BTCTRY")


def test_decode_json_keeps_big_ids_and_decimals_exact() -> None:
    decoded = schemas.decode_json(b'{"id": 1181163798924649598, "p": -0.3384081100000000}')
    assert decoded == {"id": 1181163798924649598, "p": Decimal("-0.3384081100000000")}
    with pytest.raises(ProtocolError, match="not JSON"):
        schemas.decode_json(b"<html>maintenance</html>")


# -- classify_response ---------------------------------------------------------------------


def envelope(message: str | None, code: Any, success: bool = False, **extra: Any) -> bytes:
    return json.dumps({"success": success, "message": message, "code": code, **extra}).encode()


def test_success_returns_data() -> None:
    assert classify_response(200, body("private_balances"), None)[0]["asset"] == "TRY"


def test_an_accepted_cancel_has_no_data_and_is_still_a_success() -> None:
    assert classify_response(200, body("private_cancel_order"), None, kind="cancel") is None
    with pytest.raises(ProtocolError, match="without data"):
        classify_response(200, body("private_cancel_order"), None)


@pytest.mark.parametrize("status", [200, 401])
def test_an_auth_failure_is_auth_failed_even_with_success_true(status: int) -> None:
    with pytest.raises(AuthFailed) as caught:
        classify_response(status, body("error_auth"), None)
    assert (caught.value.code, caught.value.status) == (1037, status)
    assert caught.value.message == "Unauthorized - Invalid Nonce"


@pytest.mark.parametrize(
    "raw",
    [
        b"<html>401</html>",
        envelope("Invalid", 1037),
        envelope("Unauthorized - Invalid Signature", 0),
        envelope("Unauthorized - Headers are missing", "1037", success=True, data=[]),
    ],
)
def test_every_face_of_an_auth_failure_is_auth_failed(raw: bytes) -> None:
    with pytest.raises(AuthFailed):
        classify_response(401 if raw.startswith(b"<") else 400, raw, None)


@pytest.mark.parametrize(
    ("message", "code", "error"),
    [
        ("NO_ORDER_MATCHES_YOUR_REQUEST", 1052, OrderNotFound),
        ("Order not found", 1152, OrderNotFound),
        ("ORDER_COULD_NOT_BE_CANCELED", 1050, NotCancellable),
        ("BALANCE_NOT_ENOUGH", 1055, InsufficientBalance),
        ("FAILED_ORDER_WITH_OPEN_ORDERS", 1122, InsufficientBalance),
        ("FAILED_MIN_TOTAL_AMOUNT", 1123, OrderRefused),
        ("PRICE_MUST_BE_LESS_THAN_MAXPRICE", 1226, OrderRefused),
    ],
)
def test_a_business_refusal_is_classified_by_its_message(
    message: str, code: int, error: type[VenueRejected]
) -> None:
    with pytest.raises(error) as caught:
        classify_response(400, envelope(message, code), None, kind="submit")
    assert (caught.value.message, caught.value.code, caught.value.status) == (message, code, 400)


def test_the_message_decides_not_the_code() -> None:
    with pytest.raises(OrderNotFound) as caught:
        classify_response(400, envelope("NO_ORDER_MATCHES_YOUR_REQUEST", "1051"), None)
    assert caught.value.code == 1051
    with pytest.raises(InsufficientBalance):
        classify_response(400, envelope("BALANCE_NOT_ENOUGH", 1052), None)


def test_an_unknown_refusal_is_order_refused_only_for_a_submit() -> None:
    with pytest.raises(VenueRejected) as caught:
        classify_response(400, envelope("startTime cannot be bigger", 1038), None)
    assert type(caught.value) is VenueRejected
    with pytest.raises(OrderRefused):
        classify_response(400, envelope("FAILED_LIMIT_ORDER", 1120), None, kind="submit")


def test_a_failure_envelope_on_http_200_is_still_a_refusal() -> None:
    with pytest.raises(OrderNotFound):
        classify_response(200, envelope("Order not found", 1152), None)


@pytest.mark.parametrize(
    ("retry_after", "raw", "seconds"),
    [
        ("55", body("error_rate_limit"), 55.0),
        (None, body("error_rate_limit"), 60.0),  # the body's period, "1m"
        ("soon", envelope("TOO_MANY_REQUESTS", 429, period="1s"), 1.0),
        (None, envelope("Too many requests", 429), schemas.FALLBACK_RETRY_AFTER_S),
        ("-3", b"<html>slow down</html>", schemas.FALLBACK_RETRY_AFTER_S),
    ],
)
def test_429_is_rate_limited_with_the_venues_retry_after(
    retry_after: str | None, raw: bytes, seconds: float
) -> None:
    with pytest.raises(RateLimited) as caught:
        classify_response(429, raw, retry_after)
    assert caught.value.retry_after_s == seconds


def test_a_rate_limit_message_without_429_is_still_rate_limited() -> None:
    with pytest.raises(RateLimited):
        classify_response(200, envelope("TOO_MANY_REQUESTS", 429), "2")


@pytest.mark.parametrize(
    ("status", "raw"),
    [
        (503, b"<!DOCTYPE html><html><title>Maintenance | Cloudflare</title></html>"),
        (500, envelope("INTERNAL_ERROR", 500)),
        (502, b""),
        (400, envelope("SYSTEM_UNDER_MAINTENANCE", "SYSTEM_UNDER_MAINTENANCE")),
    ],
)
def test_5xx_and_maintenance_are_server_errors(status: int, raw: bytes) -> None:
    with pytest.raises(ServerError) as caught:
        classify_response(status, raw, None)
    assert caught.value.status == status


@pytest.mark.parametrize(
    ("status", "raw"),
    [
        (200, b"<html>hello</html>"),
        (200, b"[1, 2]"),
        (200, b'{"data": []}'),  # no success flag: not the envelope
        (200, envelope("OK", 0, success=True)),  # success without data
        (200, envelope(None, 0, success=True, data=None)),
        (404, b"<html>Not Found</html>"),
        (302, envelope(None, 0, success=True, data=[])),
    ],
)
def test_a_body_that_is_not_the_envelope_is_a_protocol_error(status: int, raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        classify_response(status, raw, None)


# -- property: no corrupt row escapes ------------------------------------------------------

NUMBER_GARBAGE: list[Any] = [
    True,
    "1.2.3x",
    "NaN",
    "1,5",
    "",
    " 1",
    "1e3",
    1.5,
    Decimal("NaN"),
    Decimal("Infinity"),
    [],
    {},
]
INT_GARBAGE: list[Any] = [None, True, "1.2.3x", -5, 1.5, Decimal("1.5"), "", "12a", [], {}]
TEXT_GARBAGE: list[Any] = [None, True, 5, "", "1.2.3x", "BTC/TRY", [], {}]
ANY_TEXT_GARBAGE: list[Any] = [None, True, 5, "", "  ", [], {}]
ENUM_GARBAGE: list[Any] = [None, True, 0, "", "1.2.3x", "bye", []]
BOOL_GARBAGE: list[Any] = [None, "false", 0, 1, []]
CLIENT_ID_GARBAGE: list[Any] = [True, 5, [], {}]  # null is a value here, a missing key is not
NUMBER = [None, *NUMBER_GARBAGE]

Path = tuple[str | int, ...]

# path -> values that must quarantine the row; deleting a required path must too.
REQUIRED: dict[str, dict[Path, list[Any]]] = {
    "exchangeinfo": {
        ("name",): TEXT_GARBAGE,
        ("numerator",): TEXT_GARBAGE,
        ("denominator",): TEXT_GARBAGE,
        ("status",): ANY_TEXT_GARBAGE,
        ("numeratorScale",): INT_GARBAGE,
        ("denominatorScale",): INT_GARBAGE,
        ("hasFraction",): BOOL_GARBAGE,
        ("filters",): [None, "x", [], {}, [{"filterType": "LOT_SIZE"}]],
        ("orderMethods",): [None, "LIMIT", {}, [5]],
        ("filters", 0, "filterType"): [None, "LOT_SIZE", 5],
        ("filters", 0, "minPrice"): NUMBER,
        ("filters", 0, "maxPrice"): NUMBER,
        ("filters", 0, "tickSize"): NUMBER,
        ("filters", 0, "minExchangeValue"): NUMBER,
    },
    "balances": {
        ("asset",): TEXT_GARBAGE,
        ("balance",): NUMBER,
        ("locked",): NUMBER,
        ("free",): NUMBER,
    },
    "orders": {
        ("id",): [*INT_GARBAGE, 0],
        ("price",): NUMBER,
        ("quantity",): NUMBER,
        ("leftAmount",): NUMBER,
        ("pairSymbol",): TEXT_GARBAGE,
        ("type",): ENUM_GARBAGE,
        ("method",): ENUM_GARBAGE,
        ("orderClientId",): CLIENT_ID_GARBAGE,
        ("time",): INT_GARBAGE,
        ("updateTime",): INT_GARBAGE,
        ("status",): ANY_TEXT_GARBAGE,
    },
    "userTrades": {
        ("id",): [*INT_GARBAGE, 0],
        ("orderId",): [*INT_GARBAGE, 0],
        ("timestamp",): INT_GARBAGE,
        ("amount",): NUMBER,
        ("fee",): NUMBER,
        ("tax",): NUMBER,
        ("price",): NUMBER,
        ("numeratorSymbol",): TEXT_GARBAGE,
        ("denominatorSymbol",): TEXT_GARBAGE,
        ("orderType",): ENUM_GARBAGE,
        ("orderClientId",): CLIENT_ID_GARBAGE,
    },
    "ticker": {
        ("pair",): TEXT_GARBAGE,
        ("bid",): NUMBER,
        ("ask",): NUMBER,
        ("last",): NUMBER,
        ("timestamp",): INT_GARBAGE,
    },
    "trades": {
        ("tid",): [None, True, "", "abc", "12.5", -5, 1.5, []],
        ("pair",): TEXT_GARBAGE,
        ("price",): NUMBER,
        ("amount",): NUMBER,
        ("date",): INT_GARBAGE,
    },
}
REQUIRED["openOrders"] = REQUIRED["allOrders"] = REQUIRED["orders"]
REQUIRED["allOrders-stop"] = {**REQUIRED["orders"], ("stopPrice",): NUMBER}

# path -> the core field that reads None when the path is absent or null; garbage quarantines.
OPTIONAL: dict[str, dict[Path, str]] = {
    "exchangeinfo": {
        ("filters", 0, "minAmount"): "min_amount",
        ("filters", 0, "maxAmount"): "max_amount",
        ("minimumLimitOrderPrice",): "min_limit_price",
        ("maximumLimitOrderPrice",): "max_limit_price",
    },
    "balances": {("timestamp",): "timestamp"},
    "trades": {("side",): "side"},
}

# Fields the bot does not read: anything may happen to them.
IGNORED: dict[str, list[Path]] = {
    "exchangeinfo": [("id",), ("nameNormalized",), ("displayFormat",), ("order",), ("isNew",)],
    "balances": [("assetname",), ("orderFund",), ("requestFund",), ("precision",)],
    "orders": [("amount",), ("pairSymbolNormalized",)],
    "userTrades": [("preciseAmount",)],
    "ticker": [("high",), ("low",), ("volume",), ("dailyPercent",), ("order",)],
    "trades": [("pairNormalized",), ("numerator",), ("denominator",)],
}
IGNORED["openOrders"] = IGNORED["allOrders"] = [*IGNORED["orders"], ("stopPrice",)]
IGNORED["allOrders-stop"] = IGNORED["orders"]

DELETE = object()


def mutate(row: dict[str, Any], path: Path, value: Any) -> bool:
    """Set or delete ``path`` in ``row``; False if its parent is gone by now."""
    parent: Any = row
    for step in path[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return False
        if not isinstance(parent, dict | list):
            return False
    last = path[-1]
    if not isinstance(parent, dict) or not isinstance(last, str):
        return False
    if value is DELETE:
        parent.pop(last, None)
    else:
        parent[last] = value
    return True


@st.composite
def corruptions(draw: st.DrawFn, endpoint: str) -> list[tuple[Path, Any]]:
    required, optional = REQUIRED[endpoint], OPTIONAL.get(endpoint, {})
    paths = [*required, *optional, *IGNORED[endpoint]]
    ops: list[tuple[Path, Any]] = []
    for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3)):
        if path in required:
            choices = [DELETE, *required[path]]
        elif path in optional:
            choices = [DELETE, None, *(g for g in NUMBER_GARBAGE if g is not None)]
            if path == ("side",):
                choices = [DELETE, None, *ENUM_GARBAGE[1:]]
        else:
            choices = [DELETE, None, "1.2.3x", True, []]
        ops.append((path, draw(st.sampled_from(choices))))
    return ops


@given(data=st.data())
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_no_corrupt_row_raises_or_parses_with_an_invented_value(
    endpoint: str, data: st.DataObject
) -> None:
    spec = ENDPOINTS[endpoint]
    ops = data.draw(corruptions(endpoint))
    bad = copy.deepcopy(spec.golden)
    final: dict[Path, Any] = {}
    for path, value in ops:
        if mutate(bad, path, value):
            final[path] = value
    required, optional = REQUIRED[endpoint], OPTIONAL.get(endpoint, {})
    breaking = [
        p for p, v in final.items() if p in required or (p in optional and v not in (DELETE, None))
    ]

    parsed = around(spec, bad)  # must not raise

    assert len(parsed.items) + len(parsed.quarantined) == 3
    if breaking:
        assert_only_the_middle_row_quarantined(
            parsed, spec, *(str(step) for p in breaking for step in p)
        )
    else:
        assert parsed.quarantined == (), parsed.quarantined
        nulled = {optional[p]: None for p in final if p in optional}
        assert parsed.items[1] == replace(golden_item(spec), **nulled)


# -- the mock venue's own answers ----------------------------------------------------------


@pytest.mark.anyio
async def test_every_answer_of_the_mock_venue_parses_with_nothing_quarantined(
    make_venue: VenueFactory,
) -> None:
    venue = make_venue()

    async def read(path: str, account: Any = None, kind: Any = "read") -> Any:
        answer = await venue.get(path, account)
        return classify_response(
            answer.status_code, answer.content, answer.headers.get("retry-after"), kind=kind
        )

    async def submit(order: dict[str, str], account: Any) -> Any:
        answer = await venue.post_order(order, account)
        return classify_response(answer.status_code, answer.content, None, kind="submit")

    limit = {"orderMethod": "limit", "pairSymbol": "BTCTRY", "price": "4000000"}
    sell = schemas.submit_ack(await submit({**limit, "orderType": "sell", "quantity": "0.5"}, BOB))
    venue.clock.advance(1000)
    buy = schemas.submit_ack(
        await submit(
            {**limit, "orderType": "buy", "quantity": "0.2", "newOrderClientId": "alice-1"}, ALICE
        )
    )
    assert (buy.client_id, buy.side, buy.price) == ("alice-1", Side.BUY, Decimal(4000000))

    def clean(parsed: Parsed[Any]) -> tuple[Any, ...]:
        assert parsed.quarantined == ()
        return parsed.items

    assert schemas.server_time(
        schemas.decode_json((await venue.get("/api/v2/server/time")).content)
    )
    pairs = clean(schemas.exchange_info(await read("/api/v2/server/exchangeinfo")))
    assert "BTCTRY" in {p.name for p in pairs}
    assert clean(schemas.ticker(await read("/api/v2/ticker")))
    book = schemas.orderbook(await read("/api/v2/orderbook?pairSymbol=BTCTRY"), "BTCTRY")
    assert book.asks[0] == BookLevel(Decimal(4000000), Decimal("0.3"))
    [trade] = clean(schemas.trades(await read("/api/v2/trades?pairSymbol=BTCTRY")))
    assert trade.amount == Decimal("0.2")
    assert clean(schemas.balances(await read("/api/v1/users/balances", BOB)))
    [resting] = clean(schemas.open_orders(await read("/api/v1/openOrders", BOB)))
    assert (resting.id, resting.status, resting.left, resting.created) == (
        sell.id,
        OrderStatus.PARTIAL,
        Decimal("0.3"),
        None,
    )
    [done] = clean(schemas.all_orders(await read("/api/v1/allOrders?pairSymbol=BTCTRY", ALICE)))
    assert (done.id, done.status, done.client_id) == (buy.id, OrderStatus.CLOSED, "alice-1")
    assert schemas.order(await read(f"/api/v1/order/{sell.id}", BOB)).filled == Decimal("0.2")
    [fill] = clean(schemas.user_trades(await read("/api/v1/users/transactions/trade", ALICE)))
    assert (fill.side, fill.amount, fill.order_id, fill.client_id) == (
        Side.BUY,
        Decimal("0.2"),
        buy.id,
        "alice-1",
    )
    cancel = await venue.cancel(sell.id, BOB)
    assert classify_response(cancel.status_code, cancel.content, None, kind="cancel") is None
    unknown = await venue.cancel(1, BOB)
    with pytest.raises(OrderNotFound):
        classify_response(unknown.status_code, unknown.content, None, kind="cancel")
    stale = {**venue.headers(), "X-Stamp": str(venue.clock.now_ms() - 60_000)}
    refused = await venue.client.get("/api/v1/users/balances", headers=stale)
    with pytest.raises(AuthFailed):
        classify_response(refused.status_code, refused.content, None)
