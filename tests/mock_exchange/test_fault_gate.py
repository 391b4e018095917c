"""The fault plan at the HTTP edge, seen from a plain client: what each fault answers, what
the venue holds afterwards, and the journal that records every firing. One seed and one
sequence of requests replay one schedule of faults (DESIGN.md, the fault vocabulary)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from mock_exchange.accounts import Account
from mock_exchange.clock import VirtualClock
from mock_exchange.faults import MAINTENANCE_HTML, FaultPlan, Faults
from tests.conftest import (
    ALICE,
    BOB,
    FIXTURES,
    LiveServer,
    Venue,
    VenueFactory,
    signed,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.anyio

ORDER = "/api/v1/order"
TIME = "/api/v2/server/time"


def plan(*rules: dict[str, Any], seed: int = 7) -> FaultPlan:
    return FaultPlan.from_mapping({"seed": seed, "rule": list(rules)})


def faulty(make_venue: VenueFactory, *rules: dict[str, Any], seed: int = 7) -> Venue:
    return make_venue(faults=plan(*rules, seed=seed))


def order(
    cid: str, side: str = "buy", quantity: str = "0.01", price: str = "3900000"
) -> dict[str, str]:
    return {
        "orderType": side,
        "orderMethod": "limit",
        "pairSymbol": "BTCTRY",
        "quantity": quantity,
        "price": price,
        "newOrderClientId": cid,
    }


async def journal(venue: Venue, *kinds: str) -> list[dict[str, Any]]:
    answer = await venue.client.get(
        "/__admin/journal", params=[("kind", k) for k in kinds], headers=venue.admin()
    )
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()["entries"]
    return entries


async def fired(venue: Venue) -> list[str]:
    """The rules that fired, in order, as the journal has them."""
    return [entry["rule"] for entry in await journal(venue, "fault_fired")]


async def ground_truth(venue: Venue, account: Account = ALICE) -> list[dict[str, Any]]:
    """Every order of ``account``, whatever the venue's views show."""
    answer = await venue.client.get(
        "/__admin/orders", params={"account": account.key}, headers=venue.admin()
    )
    assert answer.status_code == 200, answer.text
    orders: list[dict[str, Any]] = answer.json()["orders"]
    return orders


async def open_ids(venue: Venue, account: Account = ALICE) -> list[int]:
    answer = await venue.get("/api/v1/openOrders", account)
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    return [row["id"] for row in data["asks"] + data["bids"]]


async def parked(clock: VirtualClock) -> int:
    """Let the loop run until a request waits on the virtual clock; when it is due."""
    for _ in range(500):
        due = clock.next_wake()
        if due is not None:
            return due
        await asyncio.sleep(0)
    raise AssertionError("no request is waiting on the virtual clock")


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


# Outcomes: what the client is answered, and whether the venue applied the request


async def test_http_429_answers_the_venues_body_with_retry_after_and_places_nothing(
    make_venue: VenueFactory,
) -> None:
    venue = faulty(
        make_venue,
        {
            "name": "throttle",
            "kind": "http_429",
            "endpoint": ORDER,
            "method": "POST",
            "retry_after": 7,
            "nth": 1,
        },
    )
    refused = await venue.post_order(order("a-1"))
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "7"
    body = refused.json()
    golden = json.loads((FIXTURES / "error_rate_limit.json").read_text())
    assert set(body) == set(golden), "the venue's own 429 body, field for field"
    assert (body["success"], body["code"], body["message"]) == (False, 429, "TOO_MANY_REQUESTS")
    assert (body["limit"], body["period"], body["policy"]) == ("300", "1m", "ip")
    assert body["details"] == "Quota exceeded. Maximum allowed: 300 per 1m."
    assert await ground_truth(venue) == [], "a 429 places nothing"
    assert await fired(venue) == ["throttle"]
    assert await journal(venue, "order_accepted") == []

    placed = await venue.post_order(order("a-2"))
    assert placed.status_code == 200, "nth = 1 fires once"
    assert [o["clientOrderId"] for o in await ground_truth(venue)] == ["a-2"]


async def test_http_429_names_a_quota_on_endpoints_the_venues_table_leaves_out(
    make_venue: VenueFactory,
) -> None:
    venue = make_venue(faults=plan({"kind": "http_429", "endpoint": TIME}), rate_limit_scale=0.5)
    refused = await venue.get(TIME)
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "1")
    body = refused.json()
    assert (body["limit"], body["period"], body["policy"]) == ("60", "1m", "ip")
    assert await fired(venue) == ["http_429#0"]


@pytest.mark.parametrize(
    ("status", "content_type"), [(500, "application/json"), (502, "text/html")]
)
async def test_http_5xx_before_refuses_the_order_with_json_or_a_cdn_page(
    make_venue: VenueFactory, status: int, content_type: str
) -> None:
    venue = faulty(
        make_venue,
        {"name": "down", "kind": "http_5xx_before", "endpoint": ORDER, "status": status},
    )
    answer = await venue.post_order(order("a-1"))
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith(content_type)
    if status == 500:
        assert answer.json() == {"success": False, "message": "INTERNAL_ERROR", "code": 500}
    else:
        assert f"<h1>{status} Bad Gateway</h1>" in answer.text
    assert await ground_truth(venue) == []
    assert await open_ids(venue) == []
    assert await fired(venue) == ["down"]
    assert await journal(venue, "order_accepted", "order_rejected") == []


@pytest.mark.parametrize(
    ("status", "content_type"), [(500, "application/json"), (503, "text/html")]
)
async def test_http_5xx_after_answers_5xx_but_the_order_exists(
    make_venue: VenueFactory, status: int, content_type: str
) -> None:
    venue = faulty(
        make_venue,
        {
            "name": "lost",
            "kind": "http_5xx_after",
            "endpoint": ORDER,
            "method": "POST",
            "status": status,
        },
    )
    answer = await venue.post_order(order("a-1"))
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith(content_type)
    [placed] = await ground_truth(venue)
    assert (placed["clientOrderId"], placed["status"]) == ("a-1", "Untouched")
    assert await open_ids(venue) == [placed["id"]], "the venue's own view shows it too"
    entries = await journal(venue, "fault_fired", "order_accepted")
    assert [(e["kind"], e.get("rule")) for e in entries] == [
        ("fault_fired", "lost"),
        ("order_accepted", None),
    ]
    assert entries[1]["order_id"] == placed["id"] and entries[1]["client_id"] == "a-1"


async def test_http_5xx_after_on_a_cancel_still_cancels(make_venue: VenueFactory) -> None:
    venue = faulty(
        make_venue,
        {"name": "lost-cancel", "kind": "http_5xx_after", "endpoint": ORDER, "method": "DELETE"},
    )
    order_id = (await venue.post_order(order("a-1"))).json()["data"]["id"]
    answer = await venue.cancel(order_id)
    assert answer.status_code == 500
    venue.clock.advance(250)
    [closed] = await ground_truth(venue)
    assert closed["status"] == "Canceled"
    assert await open_ids(venue) == []
    assert [e["kind"] for e in await journal(venue, "cancel_requested", "order_closed")] == [
        "cancel_requested",
        "order_closed",
    ]


async def test_timeout_after_apply_holds_the_answer_then_gives_a_504_page(
    make_venue: VenueFactory,
) -> None:
    venue = faulty(
        make_venue,
        {"name": "hold", "kind": "timeout_after_apply", "endpoint": ORDER, "hold_ms": 2000},
    )
    start = venue.clock.now_ms()
    request = asyncio.create_task(venue.post_order(order("a-1")))
    assert await parked(venue.clock) == start + 2000
    [placed] = await ground_truth(venue)
    assert placed["clientOrderId"] == "a-1", "applied before the hold"
    assert await open_ids(venue) == [placed["id"]]
    venue.clock.advance(1999)
    await settle()
    assert not request.done(), "no answer while the hold lasts"
    venue.clock.advance(1)
    answer = await request
    assert answer.status_code == 504
    assert answer.headers["content-type"].startswith("text/html")
    assert "504 Gateway Time-out" in answer.text
    assert await fired(venue) == ["hold"]


async def test_timeout_after_apply_a_client_that_gives_up_still_placed_the_order(
    make_venue: VenueFactory,
) -> None:
    venue = faulty(make_venue, {"name": "hold", "kind": "timeout_after_apply", "endpoint": ORDER})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(venue.post_order(order("a-1")), timeout=0.2)
    [placed] = await ground_truth(venue)
    assert (placed["clientOrderId"], placed["status"]) == ("a-1", "Untouched")
    assert await open_ids(venue) == [placed["id"]]
    assert venue.clock.next_wake() is None, "the hold ends with the client"
    assert [e["kind"] for e in await journal(venue, "fault_fired", "order_accepted")] == [
        "fault_fired",
        "order_accepted",
    ]


async def test_maintenance_503_is_the_cdns_html_page_and_applies_nothing(
    make_venue: VenueFactory,
) -> None:
    venue = faulty(make_venue, {"name": "maint", "kind": "maintenance_503", "endpoint": ORDER})
    answer = await venue.post_order(order("a-1"))
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.text == MAINTENANCE_HTML
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.text)
    assert await ground_truth(venue) == []
    assert await fired(venue) == ["maint"]
    assert (await venue.get(TIME)).status_code == 200, "other endpoints are up"


async def test_latency_holds_the_request_until_the_clock_passes_the_delay(
    make_venue: VenueFactory,
) -> None:
    venue = faulty(make_venue, {"name": "slow", "kind": "latency", "endpoint": TIME, "ms": 1500})
    start = venue.clock.now_ms()
    request = asyncio.create_task(venue.get(TIME))
    assert await parked(venue.clock) == start + 1500
    venue.clock.advance(1499)
    await settle()
    assert not request.done()
    venue.clock.advance(1)
    answer = await request
    assert answer.status_code == 200
    assert answer.json()["serverTime"] == start + 1500, "the venue saw the request late"
    assert await fired(venue) == ["slow"]


async def test_latency_draws_each_delay_from_its_range_by_the_seed(
    make_venue: VenueFactory,
) -> None:
    rule = {"name": "jitter", "kind": "latency", "endpoint": TIME, "min_ms": 10, "max_ms": 900}
    venue = faulty(make_venue, rule)
    expected = Faults(plan(rule))
    for _ in range(5):
        [firing] = expected.on_request("GET", TIME, 0)
        start = venue.clock.now_ms()
        request = asyncio.create_task(venue.get(TIME))
        due = await parked(venue.clock)
        assert due - start == firing.delay_ms and 10 <= firing.delay_ms <= 900
        venue.clock.set(due)
        assert (await request).json()["serverTime"] == due


# Additive faults: the request is applied, and its effects show late or broken


async def a_partial_fill(venue: Venue) -> int:
    """BOB rests a sell; ALICE buys more than it: ALICE's order is open with one fill."""
    sell = await venue.post_order(order("b-1", "sell", "0.1", "4000000"), BOB)
    assert sell.status_code == 200, sell.text
    buy = await venue.post_order(order("a-1", "buy", "0.3", "4000000"))
    assert buy.status_code == 200, buy.text
    order_id: int = buy.json()["data"]["id"]
    return order_id


async def shown(venue: Venue, order_id: int) -> dict[str, bool]:
    """Which of ALICE's views show ``order_id``."""
    opened = await open_ids(venue)
    every = (await venue.get("/api/v1/allOrders?pairSymbol=BTCTRY", ALICE)).json()["data"]
    single = await venue.get(f"/api/v1/order/{order_id}", ALICE)
    trades = (await venue.get("/api/v1/users/transactions/trade", ALICE)).json()["data"]
    return {
        "openOrders": order_id in opened,
        "allOrders": order_id in [row["id"] for row in every],
        "order": single.status_code == 200,
        "transactions": order_id in [row["orderId"] for row in trades],
    }


ALL_SHOWN = dict.fromkeys(("openOrders", "allOrders", "order", "transactions"), True)


async def test_visibility_lag_hides_an_accepted_order_from_every_view_for_its_lag(
    make_venue: VenueFactory,
) -> None:
    venue = faulty(
        make_venue,
        {
            "name": "late",
            "kind": "visibility_lag",
            "endpoint": ORDER,
            "method": "POST",
            "account": ALICE.key,
            "lag_ms": 3000,
        },
    )
    order_id = await a_partial_fill(venue)
    [truth] = await ground_truth(venue)
    assert (truth["id"], truth["status"]) == (order_id, "Partial")
    assert await shown(venue, order_id) == dict.fromkeys(ALL_SHOWN, False)
    missing = await venue.get(f"/api/v1/order/{order_id}", ALICE)
    assert missing.status_code == 400 and missing.json()["code"] == 1152
    venue.clock.advance(2999)
    assert await shown(venue, order_id) == dict.fromkeys(ALL_SHOWN, False)
    venue.clock.advance(1)
    assert await shown(venue, order_id) == ALL_SHOWN
    assert await fired(venue) == ["late"], "BOB's order is not ALICE's rule's"


async def test_visibility_lag_can_hide_an_order_from_some_views_only(
    make_venue: VenueFactory,
) -> None:
    venue = faulty(
        make_venue,
        {
            "kind": "visibility_lag",
            "endpoint": ORDER,
            "account": ALICE.key,
            "lag_ms": 1000,
            "views": ["openOrders", "transactions"],
        },
    )
    order_id = await a_partial_fill(venue)
    assert await shown(venue, order_id) == {
        "openOrders": False,
        "allOrders": True,
        "order": True,
        "transactions": False,
    }
    venue.clock.advance(1000)
    assert await shown(venue, order_id) == ALL_SHOWN
    assert await fired(venue) == ["visibility_lag#0"]


async def test_cancel_lag_answers_success_but_the_order_stays_open_for_the_lag(
    make_venue: VenueFactory,
) -> None:
    venue = faulty(
        make_venue,
        {"name": "sticky", "kind": "cancel_lag", "endpoint": ORDER, "method": "DELETE"}
        | {"lag_ms": 5000},
    )
    order_id = (await venue.post_order(order("a-1"))).json()["data"]["id"]
    asked = venue.clock.now_ms()
    answer = await venue.cancel(order_id)
    assert answer.status_code == 200
    assert answer.json() == {"success": True, "message": "SUCCESS", "code": 0}
    venue.clock.advance(250)  # the venue's usual cancel delay: not enough now
    assert await open_ids(venue) == [order_id]
    status = (await venue.get(f"/api/v1/order/{order_id}", ALICE)).json()["data"]["status"]
    assert status == "Untouched"
    venue.clock.advance(4749)
    assert await open_ids(venue) == [order_id]
    venue.clock.advance(1)
    assert await open_ids(venue) == []
    status = (await venue.get(f"/api/v1/order/{order_id}", ALICE)).json()["data"]["status"]
    assert status == "Canceled"
    [requested] = await journal(venue, "cancel_requested")
    [closed] = await journal(venue, "order_closed")
    assert requested["due"] == asked + 5000
    assert (closed["reason"], closed["at"]) == ("canceled", asked + 5000)
    assert await fired(venue) == ["sticky"]


async def rows_of(answer: httpx2.Response) -> list[Any]:
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    rows: list[Any] = data["bids"] if isinstance(data, dict) else data
    return rows


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/openOrders",
        "/api/v1/allOrders?pairSymbol=BTCTRY",
        "/api/v1/users/transactions/trade",
    ],
)
@pytest.mark.parametrize("corruption", ["drop_field", "garbage_number", "null_field", "null_row"])
async def test_malformed_row_breaks_one_row_and_leaves_the_others(
    make_venue: VenueFactory, path: str, corruption: str
) -> None:
    rule = {"name": "bad-row", "kind": "malformed_row", "corruption": corruption, "nth": 1}
    venue = faulty(make_venue, rule | {"endpoint": path.partition("?")[0], "method": "GET"})
    sell = await venue.post_order(order("b-1", "sell", "1", "4000000"), BOB)
    assert sell.status_code == 200
    for n in range(3):
        assert (await venue.post_order(order(f"fill-{n}", "buy", "0.1", "4000000"))).is_success
        assert (await venue.post_order(order(f"rest-{n}", "buy", "0.1", "3000000"))).is_success
    broken = await rows_of(await venue.get(path, ALICE))
    clean = await rows_of(await venue.get(path, ALICE))
    assert len(broken) == len(clean) >= 3
    differ = [index for index, (b, c) in enumerate(zip(broken, clean, strict=True)) if b != c]
    assert len(differ) == 1, "exactly one row is broken"
    bad, good = broken[differ[0]], clean[differ[0]]
    if corruption == "null_row":
        assert bad is None
    elif corruption == "drop_field":
        assert len(set(good) - set(bad)) == 1 and set(bad) < set(good)
    else:
        assert set(bad) == set(good)
        changed = [k for k in good if bad[k] != good[k]]
        assert len(changed) == 1
        assert bad[changed[0]] == ("1.2.3x" if corruption == "garbage_number" else None)
    assert await fired(venue) == ["bad-row"]


async def test_clock_skew_moves_server_time_and_the_stamp_window(
    make_venue: VenueFactory,
) -> None:
    venue = faulty(
        make_venue,
        {"name": "ahead", "kind": "clock_skew", "skew_ms": 7000}
        | {"window": {"start_ms": 0, "end_ms": 60_000}},
    )
    clock_ms = venue.clock.now_ms()
    assert (await venue.get(TIME)).json()["serverTime"] == clock_ms + 7000
    shown = (await venue.client.get("/__admin/clock", headers=venue.admin())).json()
    assert shown == {"clock_ms": clock_ms, "venue_ms": clock_ms + 7000, "skew_ms": 7000}
    stale = await venue.client.get("/api/v1/users/balances", headers=signed(ALICE, clock_ms))
    assert stale.status_code == 401 and stale.json()["code"] == 1037
    assert stale.json()["message"] == "Unauthorized - Invalid Nonce"
    in_step = signed(ALICE, clock_ms + 7000)
    assert (await venue.client.get("/api/v1/users/balances", headers=in_step)).status_code == 200

    venue.clock.advance(60_000)  # the window ends: the venue's clock is true again
    clock_ms = venue.clock.now_ms()
    assert (await venue.get(TIME)).json()["serverTime"] == clock_ms
    shown = (await venue.client.get("/__admin/clock", headers=venue.admin())).json()
    assert shown["skew_ms"] == 0
    fresh = signed(ALICE, clock_ms)
    assert (await venue.client.get("/api/v1/users/balances", headers=fresh)).status_code == 200


# Triggers, counted through the HTTP path


async def statuses(venue: Venue, count: int, path: str = TIME) -> list[int]:
    return [(await venue.get(path)).status_code for _ in range(count)]


def refusing(**trigger: Any) -> dict[str, Any]:
    return {"name": "no", "kind": "http_5xx_before", "endpoint": TIME} | trigger


async def test_nth_fires_on_the_listed_matches_only(make_venue: VenueFactory) -> None:
    venue = faulty(make_venue, refusing(nth=[2, 4]))
    assert await statuses(venue, 6) == [200, 500, 200, 500, 200, 200]
    assert await fired(venue) == ["no", "no"]
    assert [e["counter"] for e in await journal(venue, "fault_fired")] == [2, 4]


async def test_every_fires_on_each_multiple_and_max_fires_caps_it(
    make_venue: VenueFactory,
) -> None:
    venue = faulty(make_venue, refusing(every=2, max_fires=2))
    assert await statuses(venue, 7) == [200, 500, 200, 500, 200, 200, 200]
    counts = (await venue.client.get("/__admin/faults", headers=venue.admin())).json()
    assert (counts["matched"], counts["fired"]) == ({"no": 7}, {"no": 2})


async def test_max_fires_caps_a_rule_without_a_trigger(make_venue: VenueFactory) -> None:
    venue = faulty(make_venue, refusing(max_fires=3))
    assert await statuses(venue, 5) == [500, 500, 500, 200, 200]
    assert len(await fired(venue)) == 3


async def test_probability_fires_as_the_pure_plan_says_for_the_seed(
    make_venue: VenueFactory,
) -> None:
    rule = refusing(probability=0.5)
    venue = faulty(make_venue, rule, seed=11)
    pure = Faults(plan(rule, seed=11))
    expected = [500 if pure.on_request("GET", TIME, 0) else 200 for _ in range(24)]
    assert await statuses(venue, 24) == expected
    assert {200, 500} == set(expected), "a coin, not a constant"


async def test_window_fires_only_inside_its_span_of_plan_time(make_venue: VenueFactory) -> None:
    venue = faulty(make_venue, refusing(window={"start_ms": 1000, "end_ms": 2000}))
    seen = [(await venue.get(TIME)).status_code]
    for step in (999, 1, 999, 1):
        venue.clock.advance(step)
        seen.append((await venue.get(TIME)).status_code)
    assert seen == [200, 200, 500, 500, 200]


async def test_a_rule_matches_its_endpoint_and_method_only(make_venue: VenueFactory) -> None:
    venue = faulty(
        make_venue,
        {"name": "no-post", "kind": "http_5xx_before", "endpoint": ORDER} | {"method": "POST"},
    )
    assert (await venue.post_order(order("a-1"))).status_code == 500
    assert (await venue.get("/api/v1/openOrders", ALICE)).status_code == 200
    assert (await venue.get("/API/V1/ORDER/12345/", ALICE)).status_code == 400, "order/{id}"
    assert (await venue.cancel(12345)).status_code == 400, "DELETE is not POST"
    assert await fired(venue) == ["no-post"]


async def test_the_account_filter_faults_one_account_only(make_venue: VenueFactory) -> None:
    venue = faulty(
        make_venue,
        {"name": "bob-down", "kind": "http_5xx_before", "endpoint": ORDER, "account": BOB.key},
    )
    assert (await venue.post_order(order("a-1"))).status_code == 200
    assert (await venue.post_order(order("b-1"), BOB)).status_code == 500
    stranger = {**venue.headers(BOB), "X-PCK": "not-an-account"}
    unknown = await venue.client.post(ORDER, headers=stranger, json=order("x-1"))
    assert unknown.status_code == 401, "an unknown key is not BOB: the venue refuses it itself"
    assert [o["clientOrderId"] for o in await ground_truth(venue, ALICE)] == ["a-1"]
    assert await ground_truth(venue, BOB) == []
    [entry] = await journal(venue, "fault_fired")
    assert (entry["rule"], entry["account"], entry["method"]) == ("bob-down", BOB.key, "POST")


async def test_an_outcome_and_additive_faults_fire_together(make_venue: VenueFactory) -> None:
    venue = faulty(
        make_venue,
        {"name": "first", "kind": "http_5xx_after", "endpoint": ORDER},
        {"name": "second", "kind": "http_429", "endpoint": ORDER},
        {"name": "hidden", "kind": "visibility_lag", "endpoint": ORDER, "lag_ms": 1000},
    )
    answer = await venue.post_order(order("a-1"))
    assert answer.status_code == 500, "the first outcome in plan order wins"
    [placed] = await ground_truth(venue)
    assert await open_ids(venue) == [], "applied, and hidden by the lag"
    venue.clock.advance(1000)
    assert await open_ids(venue) == [placed["id"]]
    assert await fired(venue) == ["first", "hidden"]


# Determinism: one seed, one sequence of requests, one journal


CHAOS = (
    {"name": "lost", "kind": "http_5xx_after", "endpoint": ORDER, "method": "POST"}
    | {"probability": 0.25},
    {"name": "refused", "kind": "http_5xx_before", "endpoint": ORDER, "method": "POST"}
    | {"probability": 0.25},
    {"name": "late", "kind": "visibility_lag", "endpoint": ORDER, "method": "POST"}
    | {"probability": 0.4, "lag_ms": 700, "views": ["openOrders"]},
    {"name": "sticky", "kind": "cancel_lag", "endpoint": ORDER, "method": "DELETE"}
    | {"probability": 0.5, "lag_ms": 900},
    {"name": "rows", "kind": "malformed_row", "endpoint": "/api/v1/openOrders"}
    | {"probability": 0.5},
)


async def replay(make_venue: VenueFactory, seed: int) -> tuple[list[Any], list[Any]]:
    """One fixed sequence of requests; the answers and the journal it leaves."""
    venue = faulty(make_venue, *CHAOS, seed=seed)
    answers: list[Any] = []
    for n in range(16):
        placed = await venue.post_order(order(f"c-{n}", price=str(3_900_000 - n * 1000)))
        answers.append((placed.status_code, placed.text))
        venue.clock.advance(150)
        listed = await venue.get("/api/v1/openOrders", ALICE)
        answers.append((listed.status_code, listed.text))
        if placed.status_code == 200 and n % 2:
            cancelled = await venue.cancel(placed.json()["data"]["id"])
            answers.append((cancelled.status_code, cancelled.text))
        venue.clock.advance(150)
    return answers, await journal(venue)


async def test_the_same_seed_and_requests_replay_the_same_journal(
    make_venue: VenueFactory,
) -> None:
    first_answers, first = await replay(make_venue, seed=21)
    second_answers, second = await replay(make_venue, seed=21)
    assert first == second
    assert first_answers == second_answers
    kinds = {entry["kind"] for entry in first}
    assert {"fault_fired", "order_accepted", "cancel_requested", "order_closed"} <= kinds
    assert {e["rule"] for e in first if e["kind"] == "fault_fired"} == {r["name"] for r in CHAOS}


async def test_another_seed_gives_another_schedule(make_venue: VenueFactory) -> None:
    def schedule(entries: list[Any]) -> list[tuple[str, int]]:
        return [(e["rule"], e["counter"]) for e in entries if e["kind"] == "fault_fired"]

    _, first = await replay(make_venue, seed=21)
    _, other = await replay(make_venue, seed=22)
    assert schedule(first) and schedule(other)
    assert schedule(first) != schedule(other)


# Over a real socket: a client with a real timeout against uvicorn


HOLD_S = 3


@pytest.fixture(scope="module")
def faulty_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    """A real server whose order posts fail for ALICE after applying, and hang for BOB."""
    tmp = tmp_path_factory.mktemp("faulty")
    plan_file = tmp / "faults.toml"
    plan_file.write_text(
        f"""seed = 3

[[rule]]
name = "lost"
kind = "http_5xx_after"
endpoint = "/api/v1/order"
method = "POST"
account = "{ALICE.key}"
status = 502

[[rule]]
name = "hold"
kind = "timeout_after_apply"
endpoint = "/api/v1/order"
method = "POST"
account = "{BOB.key}"
hold_ms = {HOLD_S * 1000}
"""
    )
    journal_file = tmp / "journal.jsonl"
    server = start_server(
        tmp, "--no-market", "--faults", str(plan_file), "--journal", str(journal_file)
    )
    yield server, journal_file
    stop_server(server)


def live_orders(server: LiveServer, account: Account) -> list[dict[str, Any]]:
    answer = httpx2.get(
        f"{server.base_url}/__admin/orders",
        params={"account": account.key},
        headers={"Authorization": f"Bearer {server.admin_token}"},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    orders: list[dict[str, Any]] = answer.json()["orders"]
    return orders


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_over_a_socket_http_5xx_after_answers_502_and_the_order_exists(
    faulty_server: tuple[LiveServer, Path],
) -> None:
    server, _ = faulty_server
    with httpx2.Client(base_url=server.base_url, timeout=5) as client:
        answer = client.post(ORDER, headers=signed(ALICE, now_ms()), json=order("live-a"))
        assert answer.status_code == 502
        assert answer.headers["content-type"].startswith("text/html")
        [placed] = live_orders(server, ALICE)
        assert placed["clientOrderId"] == "live-a"
        listed = client.get("/api/v1/openOrders", headers=signed(ALICE, now_ms())).json()
        assert [row["id"] for row in listed["data"]["bids"]] == [placed["id"]]


def test_over_a_socket_timeout_after_apply_times_the_client_out_with_the_order_placed(
    faulty_server: tuple[LiveServer, Path],
) -> None:
    server, journal_file = faulty_server
    started = time.monotonic()
    with pytest.raises(httpx2.ReadTimeout):
        httpx2.post(
            f"{server.base_url}{ORDER}",
            headers=signed(BOB, now_ms()),
            json=order("live-b"),
            timeout=0.5,
        )
    assert time.monotonic() - started < HOLD_S, "the client gave up, not the server"
    deadline = time.monotonic() + 5
    while not (orders := live_orders(server, BOB)) and time.monotonic() < deadline:
        time.sleep(0.05)  # the server may still be applying what the client gave up on
    [placed] = orders
    assert (placed["clientOrderId"], placed["status"]) == ("live-b", "Untouched")
    lines = [json.loads(line) for line in journal_file.read_text().splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    mine = [e for e in lines if e.get("account") == BOB.key and e["kind"] != "account_funded"]
    assert [(e["kind"], e.get("rule")) for e in mine] == [
        ("fault_fired", "hold"),
        ("order_accepted", None),
    ]
