"""Order bodies bind as ASP.NET binds them: any key case, any enum case, dot decimals."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from mock_exchange.errors import VenueError
from mock_exchange.parsing import parse_order_body

BODY = {
    "quantity": "0.1",
    "price": "4000000",
    "orderMethod": "limit",
    "orderType": "buy",
    "pairSymbol": "BTC_TRY",
    "newOrderClientId": "mine",
}


def test_keys_and_enums_bind_in_any_case() -> None:
    shouted = {
        "Quantity": "0.1",
        "PRICE": 4000000,
        "OrderMethod": "LIMIT",
        "ordertype": "Buy",
        "PairSymbol": "btctry",
        "NewOrderClientId": "mine",
    }
    request = parse_order_body(shouted)
    assert (request.pair, request.side, request.method) == ("BTCTRY", "buy", "limit")
    assert (request.quantity, request.price, request.client_id) == (D("0.1"), D(4000000), "mine")


@pytest.mark.parametrize("method", ["stopLimit", "stoplimit", "STOP_LIMIT", 2])
def test_stop_limit_spellings(method: object) -> None:
    body = {**BODY, "orderMethod": method, "stopPrice": "4100000"}
    assert parse_order_body(body).method == "stoplimit"


def test_the_alias_new_client_order_id_is_ignored_as_on_the_venue() -> None:
    body = {k: v for k, v in BODY.items() if k != "newOrderClientId"}
    assert parse_order_body({**body, "newClientOrderId": "x"}).client_id is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"quantity": "0,1"}, "FAILED_LIMIT_ORDER"),
        ({"quantity": "1e400"}, "FAILED_LIMIT_ORDER"),
        ({"quantity": "NaN"}, "FAILED_LIMIT_ORDER"),
        ({"quantity": True}, "FAILED_LIMIT_ORDER"),
        ({"orderType": "hold"}, "FAILED_ORDER_PARAMETER"),
        ({"orderMethod": None}, "FAILED_ORDER_PARAMETER"),
        ({"pairSymbol": 5}, "FAILED_ORDER_PARAMETER"),
        ({"newOrderClientId": "x" * 65}, "FAILED_ORDER_PARAMETER"),
    ],
)
def test_bad_fields_get_a_venue_error(change: dict[str, object], message: str) -> None:
    with pytest.raises(VenueError) as caught:
        parse_order_body({**BODY, **change})
    assert caught.value.status == 400 and caught.value.message == message


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(VenueError):
        parse_order_body([BODY])


@pytest.mark.parametrize("text", ["²", "١٢", "9" * 5000, "-1", "1.0", "", " ", "9" * 20])
def test_an_order_id_is_ascii_digits_within_64_bits(text: str) -> None:
    from mock_exchange.parsing import parse_order_id

    assert parse_order_id(text) is None


def test_a_good_order_id_parses() -> None:
    from mock_exchange.parsing import parse_order_id

    assert parse_order_id(" 25000000001 ") == 25000000001
