"""The REST surface over ASGI: every endpoint answers with the venue's envelope, field names,
types and quirks, checked against the golden payloads in tests/fixtures/btcturk/."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import ALICE, BOB, FIXTURES, Venue, VenueFactory

pytestmark = pytest.mark.anyio


def golden(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def shape(value: Any) -> Any:
    """The JSON types of a payload, so that two payloads can be compared field by field."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def same_shape(ours: Any, theirs: Any, *, nullable: set[str] = frozenset()) -> None:
    """Every field of the golden payload is present with the same JSON type."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), ours
        missing = set(theirs) - set(ours)
        assert not missing, f"missing fields {missing}"
        for key, value in theirs.items():
            if key in nullable and (ours[key] is None or value is None):
                continue
            same_shape(ours[key], value, nullable=nullable)
    elif isinstance(theirs, list):
        assert isinstance(ours, list)
        if theirs and ours:
            same_shape(ours[0], theirs[0], nullable=nullable)
    else:
        assert shape(ours) == shape(theirs), (ours, theirs)


async def trading_venue(make_venue: VenueFactory) -> tuple[Venue, int]:
    """A venue where BOB rests a sell and ALICE takes part of it: books, trades, fills."""
    venue = make_venue()
    sell = await venue.post_order(
        {
            "orderType": "sell",
            "orderMethod": "limit",
            "pairSymbol": "BTCTRY",
            "quantity": "0.5",
            "price": "4000000",
        },
        BOB,
    )
    assert sell.status_code == 200, sell.text
    venue.clock.advance(1000)
    buy = await venue.post_order(
        {
            "orderType": "buy",
            "orderMethod": "limit",
            "pairSymbol": "BTCTRY",
            "quantity": "0.2",
            "price": "4000000",
            "newOrderClientId": "alice-1",
        }
    )
    assert buy.status_code == 200, buy.text
    return venue, sell.json()["data"]["id"]


async def test_server_time_is_bare(make_venue: VenueFactory) -> None:
    venue = make_venue()
    body = (await venue.get("/api/v2/server/time")).json()
    same_shape(body, golden("public_server_time"))
    assert body["serverTime"] == venue.clock.now_ms()


async def test_exchangeinfo_lists_the_default_market(make_venue: VenueFactory) -> None:
    body = (await make_venue().get("/api/v2/server/exchangeinfo")).json()
    same_shape(body, golden("public_exchangeinfo"))
    names = {s["name"] for s in body["data"]["symbols"]}
    assert {"BTCTRY", "ETHTRY", "USDTTRY", "BTCUSDT"} <= names
    btctry = next(s for s in body["data"]["symbols"] if s["name"] == "BTCTRY")
    assert btctry["hasFraction"] is False and btctry["numeratorScale"] == 8


async def test_ticker_book_and_trades_after_a_trade(make_venue: VenueFactory) -> None:
    venue, _ = await trading_venue(make_venue)
    ticker = (await venue.get("/api/v2/ticker?pairSymbol=BTC_TRY")).json()
    same_shape(ticker, golden("public_ticker"))
    assert ticker["data"][0]["last"] == 4000000 and ticker["data"][0]["ask"] == 4000000
    every = (await venue.get("/api/v2/ticker")).json()["data"]
    assert len(every) == 4
    usdt = (await venue.get("/api/v2/ticker/currency?symbol=usdt")).json()["data"]
    assert {t["pair"] for t in usdt} == {"USDTTRY", "BTCUSDT"}
    book = (await venue.get("/api/v2/orderBook?pairSymbol=btctry&limit=5")).json()
    same_shape(book, golden("public_orderbook"))
    assert book["data"]["asks"] == [["4000000.00", "0.30000000"]]
    for path in ("/api/v2/trades?pairSymbol=BTCTRY", "/api/v1/trades?pairSymbol=BTC_TRY&last=10"):
        trades = (await venue.get(path)).json()
        same_shape(trades, golden("public_trades"))
        assert trades["data"][0]["amount"] == "0.20000000" and trades["data"][0]["side"] == "buy"


async def test_candles_are_bare_on_the_graph_paths(make_venue: VenueFactory) -> None:
    venue, _ = await trading_venue(make_venue)
    now_s = venue.clock.now_ms() // 1000
    ohlcs = (await venue.get(f"/v1/ohlcs?pair=BTCTRY&from={now_s - 86400}&to={now_s}")).json()
    same_shape(ohlcs, golden("graph_ohlcs"))
    assert ohlcs[0]["close"] == 4000000
    klines = (
        await venue.get(f"/v1/klines/history?symbol=BTCTRY&resolution=60&from=-5&to={now_s}")
    ).json()
    same_shape(klines, golden("graph_klines"))
    assert klines["s"] == "ok" and klines["c"] == [4000000.0]


async def test_balances_show_total_locked_and_free(make_venue: VenueFactory) -> None:
    venue, _ = await trading_venue(make_venue)
    body = (await venue.get("/api/v1/users/balances", BOB)).json()
    same_shape(body, golden("private_balances"))
    btc = next(b for b in body["data"] if b["asset"] == "BTC")
    assert Decimal(btc["balance"]) == Decimal("4.8") and Decimal(btc["locked"]) == Decimal("0.3")
    assert Decimal(btc["free"]) == Decimal("4.5")


async def test_open_all_and_single_order_views(make_venue: VenueFactory) -> None:
    venue, sell_id = await trading_venue(make_venue)
    opened = (await venue.get("/api/v1/openOrders?pairSymbol=BTCTRY", BOB)).json()
    same_shape(opened, golden("private_open_orders"), nullable={"bids"})
    [row] = opened["data"]["asks"]
    assert opened["data"]["bids"] == []
    assert (row["id"], row["status"], row["time"]) == (sell_id, "Partial", 0)
    assert row["leftAmount"] == "0.3000000000000000" and row["updateTime"] > 0
    every = (await venue.get("/api/v1/allOrders?pairSymbol=BTCTRY", ALICE)).json()
    same_shape(every, golden("private_all_orders"))
    assert [(o["status"], o["orderClientId"]) for o in every["data"]] == [("Closed", "alice-1")]
    assert every["data"][0]["time"] > 0
    single = (await venue.get(f"/api/v1/order/{sell_id}", BOB)).json()
    same_shape(single, golden("private_order"))
    missing = await venue.get(f"/api/v1/order/{sell_id}", ALICE)
    assert missing.status_code == 400 and missing.json()["code"] == 1152


async def test_all_orders_takes_seconds_and_refuses_milliseconds(make_venue: VenueFactory) -> None:
    venue, _ = await trading_venue(make_venue)
    now_ms = venue.clock.now_ms()
    refused = await venue.get(f"/api/v1/allOrders?pairSymbol=BTCTRY&startTime={now_ms}", ALICE)
    assert refused.status_code == 400 and refused.json()["code"] == 1038
    found = await venue.get(
        f"/api/v1/allOrders?pairSymbol=BTCTRY&startTime={now_ms // 1000 - 5}", ALICE
    )
    assert len(found.json()["data"]) == 1


async def test_submit_answers_ok_and_trades_show_signed_amounts(make_venue: VenueFactory) -> None:
    venue, sell_id = await trading_venue(make_venue)
    submitted = await venue.post_order(
        {
            "orderType": "buy",
            "orderMethod": "limit",
            "pairSymbol": "BTCTRY",
            "quantity": "0.01",
            "price": "3900000",
        }
    )
    same_shape(submitted.json(), golden("private_submit_order"))
    assert submitted.json()["message"] == "OK"
    trades = (await venue.get("/api/v1/users/transactions/trade", BOB)).json()
    same_shape(trades, golden("private_user_trades"), nullable={"orderClientId"})
    [fill] = trades["data"]
    assert (fill["amount"], fill["orderType"], fill["orderId"]) == ("-0.20000000", "sell", sell_id)
    assert fill["fee"] == "-800.00000000" and fill["tax"] == "-144.00000000"
    by_order = (await venue.get(f"/api/v1/users/transactions/trade?orderId={sell_id}", BOB)).json()
    assert by_order["data"] == trades["data"]
    mixed = await venue.get(f"/api/v1/users/transactions/trade?orderId={sell_id}&type=buy", BOB)
    assert mixed.status_code == 400


async def test_cancel_is_asynchronous_and_idempotent(make_venue: VenueFactory) -> None:
    venue, sell_id = await trading_venue(make_venue)
    answer = await venue.cancel(sell_id, BOB)
    assert answer.json() == golden("private_cancel_order")
    still = (await venue.get(f"/api/v1/order/{sell_id}", BOB)).json()["data"]["status"]
    assert still == "Partial", "the order leaves the book only after the cancel delay"
    venue.clock.advance(250)
    gone = (await venue.get(f"/api/v1/order/{sell_id}", BOB)).json()["data"]
    assert gone["status"] == "Canceled" and gone["leftAmount"] == "0.3000000000000000"
    assert (await venue.cancel(sell_id, BOB)).status_code == 200
    unknown = await venue.cancel(1, BOB)
    assert unknown.status_code == 400 and unknown.json() == golden("error_cancel_unknown")


async def test_cancel_reads_the_id_from_the_query_only(make_venue: VenueFactory) -> None:
    venue, sell_id = await trading_venue(make_venue)
    answer = await venue.client.request(
        "DELETE", "/api/v1/order", headers=venue.headers(BOB), json={"id": sell_id}
    )
    assert answer.status_code == 400 and answer.json()["code"] == 1052


async def test_auth_failures_are_401_with_1037_whatever_success_says(
    make_venue: VenueFactory,
) -> None:
    venue = make_venue()
    stale = {**venue.headers(), "X-Stamp": str(venue.clock.now_ms() - 6000)}
    answer = await venue.client.get("/api/v1/users/balances", headers=stale)
    assert answer.status_code == 401
    assert answer.json()["message"] == golden("error_auth")["message"]
    assert answer.json()["success"] is True, "the venue's observed quirk, on by default"
    strict = make_venue(auth_failure_success=False)
    answer = await strict.client.get("/api/v1/users/balances")
    assert answer.status_code == 401 and answer.json()["success"] is False


async def test_paths_are_case_insensitive_and_wrong_methods_are_405(
    make_venue: VenueFactory,
) -> None:
    venue = make_venue()
    assert (await venue.get("/API/V2/SERVER/TIME/")).status_code == 200
    assert (await venue.get("/api/v1/OPENORDERS", ALICE)).status_code == 200
    wrong = await venue.client.put("/api/v1/order")
    assert wrong.status_code == 405 and wrong.json()["success"] is False
    assert (await venue.get("/api/v9/nothing")).status_code == 404


async def test_the_rate_limit_answers_429_with_retry_after(make_venue: VenueFactory) -> None:
    venue = make_venue(rate_limits=True, rate_limit_scale=0.05)  # balances: 6 per minute
    answers = [await venue.get("/api/v1/users/balances", ALICE) for _ in range(7)]
    assert [a.status_code for a in answers] == [200] * 6 + [429]
    assert answers[-1].headers["retry-after"] == "60"
    body = answers[-1].json()
    same_shape(body, golden("error_rate_limit"))
    assert (body["limit"], body["period"], body["policy"]) == ("6", "1m", "ip")


async def test_admin_shows_ground_truth_behind_its_token(make_venue: VenueFactory) -> None:
    venue, sell_id = await trading_venue(make_venue)
    assert (await venue.client.get("/__admin/orders")).status_code == 401
    orders = (await venue.client.get("/__admin/orders", headers=venue.admin())).json()["orders"]
    assert {o["id"] for o in orders} >= {sell_id}
    fills = (await venue.client.get("/__admin/fills", headers=venue.admin())).json()["fills"]
    assert len(fills) == 2 and {f["maker"] for f in fills} == {True, False}
    created = await venue.client.post(
        "/__admin/accounts",
        headers=venue.admin(),
        json={"name": "carol", "balances": {"TRY": "500"}},
    )
    assert created.status_code == 201
    key = created.json()["key"]
    funded = await venue.client.post(
        f"/__admin/accounts/{key}/fund",
        headers=venue.admin(),
        json={"asset": "btc", "amount": "1.5"},
    )
    assert funded.json()["total"] == "1.5"
    bad = await venue.client.post(
        f"/__admin/accounts/{key}/fund",
        headers=venue.admin(),
        json={"asset": "btc", "amount": "-1"},
    )
    assert bad.status_code == 400
    balances = (await venue.client.get("/__admin/balances", headers=venue.admin())).json()
    assert balances["balances"][key]["TRY"]["total"] == "500"
