"""The fault plan's controls: ``/__admin/faults`` replaces, shows and clears it at run time,
``/__admin/journal`` and ``/__admin/clock`` show what happened, all behind the bearer token;
``serve --faults`` loads a plan file and ``--journal`` writes the journal as JSONL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mock_exchange.app import MockExchange
from mock_exchange.cli import build_parser, journal_file, main, settings_from_args
from mock_exchange.clock import VirtualClock
from mock_exchange.faults import FaultPlan
from mock_exchange.settings import MockSettings
from tests.conftest import ALICE, BOB, Venue, VenueFactory

pytestmark = pytest.mark.anyio

FAULTS = "/__admin/faults"
TIME = "/api/v2/server/time"

PLAN_TOML = """seed = 5

[[rule]]
name = "flaky"
kind = "http_5xx_before"
endpoint = "/api/v2/server/time"
nth = [2]

[[rule]]
kind = "visibility_lag"
endpoint = "/api/v1/order"
method = "POST"
lag_ms = 1500
views = ["openOrders"]
"""

PLAN_JSON: dict[str, Any] = {
    "seed": 5,
    "rule": [
        {"name": "flaky", "kind": "http_5xx_before", "endpoint": TIME, "nth": [2]},
        {
            "kind": "visibility_lag",
            "endpoint": "/api/v1/order",
            "method": "POST",
            "lag_ms": 1500,
            "views": ["openOrders"],
        },
    ],
}


async def put_plan(venue: Venue, plan: dict[str, Any]) -> dict[str, Any]:
    answer = await venue.client.put(FAULTS, json=plan, headers=venue.admin())
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def shown(venue: Venue) -> dict[str, Any]:
    answer = await venue.client.get(FAULTS, headers=venue.admin())
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def statuses(venue: Venue, count: int) -> list[int]:
    return [(await venue.get(TIME)).status_code for _ in range(count)]


async def journal(venue: Venue, **query: Any) -> dict[str, Any]:
    answer = await venue.client.get("/__admin/journal", params=query, headers=venue.admin())
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def order(cid: str, quantity: str = "0.01", price: str = "3900000") -> dict[str, str]:
    return {
        "orderType": "buy",
        "orderMethod": "limit",
        "pairSymbol": "BTCTRY",
        "quantity": quantity,
        "price": price,
        "newOrderClientId": cid,
    }


# /__admin/faults


async def test_a_json_plan_put_at_run_time_is_shown_with_its_counters(
    make_venue: VenueFactory,
) -> None:
    venue = make_venue()
    assert (await shown(venue))["plan"] == {"seed": 0, "rule": []}, "no faults by default"
    loaded = await put_plan(venue, PLAN_JSON)
    expected = FaultPlan.from_mapping(PLAN_JSON).to_mapping()
    assert loaded == {"plan": expected, "started_ms": venue.clock.now_ms()}
    before = await shown(venue)
    assert before["plan"] == expected
    assert (before["matched"], before["fired"]) == ({}, {})

    assert await statuses(venue, 3) == [200, 500, 200]
    after = await shown(venue)
    assert (after["matched"], after["fired"]) == ({"flaky": 3}, {"flaky": 1})
    [loaded_entry] = (await journal(venue, kind="fault_plan_loaded"))["entries"]
    assert (loaded_entry["rules"], loaded_entry["seed"]) == (2, 5)


async def test_a_toml_plan_is_read_when_the_content_type_says_toml(
    make_venue: VenueFactory,
) -> None:
    venue = make_venue()
    headers = {**venue.admin(), "Content-Type": "application/toml"}
    answer = await venue.client.put(FAULTS, content=PLAN_TOML, headers=headers)
    assert answer.status_code == 200, answer.text
    assert (await shown(venue))["plan"] == FaultPlan.from_text(PLAN_TOML).to_mapping()
    assert (await shown(venue))["plan"] == FaultPlan.from_mapping(PLAN_JSON).to_mapping()

    placed = await venue.post_order(order("a-1"))
    assert placed.status_code == 200
    opened = (await venue.get("/api/v1/openOrders", ALICE)).json()["data"]["bids"]
    assert opened == [], "the TOML plan's visibility_lag is in force"

    as_json = {**venue.admin(), "Content-Type": "application/json"}
    refused = await venue.client.put(FAULTS, content=PLAN_TOML, headers=as_json)
    assert refused.status_code == 400 and "not valid json" in refused.json()["error"]


async def test_what_get_shows_put_takes_back_unchanged(make_venue: VenueFactory) -> None:
    venue = make_venue()
    rich = {
        "seed": 9,
        "rule": [
            {"kind": "latency", "min_ms": 5, "max_ms": 50, "probability": 0.5},
            {"kind": "malformed_row", "endpoint": "/api/v1/allOrders", "max_fires": 2},
            {"kind": "clock_skew", "skew_ms": -2000, "window": {"start_ms": 100}},
            {"kind": "ws_gap", "msg_type": [431, 432], "every": 10},
            {"kind": "http_429", "account": ALICE.key, "nth": [1, 3], "every": 5},
        ],
    }
    first = (await put_plan(venue, rich))["plan"]
    assert [rule["name"] for rule in first["rule"]] == [
        "latency#0",
        "malformed_row#1",
        "clock_skew#2",
        "ws_gap#3",
        "http_429#4",
    ]
    again = (await put_plan(venue, (await shown(venue))["plan"]))["plan"]
    assert again == first


async def test_a_new_plan_starts_its_counters_and_windows_afresh(
    make_venue: VenueFactory,
) -> None:
    venue = make_venue()
    once = {"seed": 1, "rule": [{"name": "once", "kind": "http_5xx_before", "nth": 1}]}
    await put_plan(venue, once)
    assert await statuses(venue, 2) == [500, 200]
    await put_plan(venue, once)
    assert (await shown(venue))["matched"] == {}
    assert await statuses(venue, 2) == [500, 200], "the counter restarted"

    venue.clock.advance(10_000)
    window = {"start_ms": 0, "end_ms": 1000}
    await put_plan(venue, {"seed": 1, "rule": [{"kind": "maintenance_503", "window": window}]})
    assert (await shown(venue))["started_ms"] == venue.clock.now_ms()
    assert await statuses(venue, 1) == [503], "the window counts from the PUT"
    venue.clock.advance(1000)
    assert await statuses(venue, 1) == [200]


async def test_delete_clears_the_plan(make_venue: VenueFactory) -> None:
    venue = make_venue()
    await put_plan(venue, {"seed": 1, "rule": [{"kind": "http_5xx_before"}]})
    assert await statuses(venue, 1) == [500]
    cleared = await venue.client.delete(FAULTS, headers=venue.admin())
    assert cleared.status_code == 200
    assert cleared.json() == {"plan": {"seed": 0, "rule": []}}
    assert await statuses(venue, 3) == [200, 200, 200]
    after = await shown(venue)
    assert (after["plan"], after["matched"], after["fired"]) == ({"seed": 0, "rule": []}, {}, {})


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        (b"not json", "application/json", "not valid json"),
        (b"[1, 2]", "application/json", "must be a table"),
        (b'{"rule": []}', "application/json", "field 'seed': required"),
        (b'{"seed": 1, "rule": [{"kind": "nope"}]}', "application/json", "unknown kind 'nope'"),
        (
            b'{"seed": 1, "rule": [{"kind": "http_5xx_before", "status": 404}]}',
            "application/json",
            "rule 0 (http_5xx_before#0): field 'status': must be between 500 and 599",
        ),
        (
            b'{"seed": 1, "rule": [{"kind": "http_429", "nth": 2, "probability": 0.5}]}',
            "application/json",
            "a rule fires by one trigger",
        ),
        (b'seed = 1\n[[rule]]\nkind = "latency"\n', "application/toml", "latency needs ms"),
        (b"seed = [", "application/toml", "not valid toml"),
        (b"\xff\xfe", "application/json", "bad fault plan"),
    ],
)
async def test_a_bad_plan_is_a_400_that_says_why_and_the_old_plan_stays(
    make_venue: VenueFactory, body: bytes, content_type: str, says: str
) -> None:
    venue = make_venue()
    await put_plan(venue, PLAN_JSON)
    headers = {**venue.admin(), "Content-Type": content_type}
    refused = await venue.client.put(FAULTS, content=body, headers=headers)
    assert refused.status_code == 400
    message = refused.json()["error"]
    assert message.startswith("bad fault plan: ") and says in message, message
    assert (await shown(venue))["plan"] == FaultPlan.from_mapping(PLAN_JSON).to_mapping()


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", "Basic test-admin-token", "test-admin-token"]
)
async def test_the_fault_controls_need_the_bearer_token(
    make_venue: VenueFactory, authorization: str | None
) -> None:
    venue = make_venue()
    await put_plan(venue, PLAN_JSON)
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path in [
        ("GET", FAULTS),
        ("PUT", FAULTS),
        ("DELETE", FAULTS),
        ("GET", "/__admin/journal"),
        ("GET", "/__admin/clock"),
    ]:
        answer = await venue.client.request(
            method, path, headers=headers, json={"seed": 1, "rule": []}
        )
        assert answer.status_code == 401, (method, path)
        assert answer.json() == {"error": "admin bearer token required"}
    assert (await shown(venue))["plan"] == FaultPlan.from_mapping(PLAN_JSON).to_mapping()


async def test_the_admin_surface_never_meets_the_plan(make_venue: VenueFactory) -> None:
    venue = make_venue()
    await put_plan(venue, {"seed": 1, "rule": [{"name": "all", "kind": "maintenance_503"}]})
    assert await statuses(venue, 1) == [503]
    for path in (FAULTS, "/__admin/journal", "/__admin/orders", "/__admin/clock"):
        assert (await venue.client.get(path, headers=venue.admin())).status_code == 200
    assert (await shown(venue))["matched"] == {"all": 1}


# /__admin/journal and /__admin/clock


async def test_the_journal_records_what_each_request_did(make_venue: VenueFactory) -> None:
    venue = make_venue()
    start = (await journal(venue))["last_seq"]  # the accounts' funding
    placed = await venue.post_order(order("a-1"))
    assert placed.status_code == 200
    order_id = placed.json()["data"]["id"]
    too_big = await venue.post_order(order("a-2", quantity="100", price="4000000"))
    assert too_big.status_code == 400 and too_big.json()["code"] == 1055
    assert (await venue.cancel(order_id)).status_code == 200
    venue.clock.advance(250)

    body = await journal(venue, since=start)
    entries = body["entries"]
    assert [e["seq"] for e in entries] == list(range(start + 1, body["last_seq"] + 1))
    assert [e["kind"] for e in entries] == [
        "order_accepted",
        "order_rejected",
        "cancel_requested",
        "order_closed",
    ]
    accepted, rejected, requested, closed = entries
    assert (accepted["order_id"], accepted["client_id"], accepted["account"]) == (
        order_id,
        "a-1",
        ALICE.key,
    )
    assert (rejected["client_id"], rejected["code"]) == ("a-2", 1055)
    assert rejected["message"] == "BALANCE_NOT_ENOUGH"
    assert requested["order_id"] == order_id and requested["due"] == closed["at"]
    assert (closed["order_id"], closed["reason"], closed["status"]) == (
        order_id,
        "canceled",
        "Canceled",
    )

    kinds = {"kind": ["order_rejected", "order_closed"]}
    answer = await venue.client.get("/__admin/journal", params=kinds, headers=venue.admin())
    assert [e["kind"] for e in answer.json()["entries"]] == ["order_rejected", "order_closed"]
    [first] = (await journal(venue, since=start, limit=1))["entries"]
    assert first == accepted
    bad = await venue.client.get("/__admin/journal?since=-1", headers=venue.admin())
    assert bad.status_code == 400 and "since" in bad.json()["error"]


async def test_the_journal_names_each_rule_that_fired(make_venue: VenueFactory) -> None:
    venue = make_venue()
    await put_plan(venue, PLAN_JSON)
    await statuses(venue, 2)
    assert (await venue.post_order(order("a-1"), BOB)).status_code == 200
    fired = (await journal(venue, kind="fault_fired"))["entries"]
    assert [(e["rule"], e["fault"], e["counter"], e["method"]) for e in fired] == [
        ("flaky", "http_5xx_before", 2, "GET"),
        ("visibility_lag#1", "visibility_lag", 1, "POST"),
    ]
    assert fired[0]["account"] is None and fired[1]["account"] == BOB.key


async def test_the_clock_shows_the_skew_a_plan_puts_in_force(make_venue: VenueFactory) -> None:
    venue = make_venue()
    clock = (await venue.client.get("/__admin/clock", headers=venue.admin())).json()
    assert clock == {"clock_ms": venue.clock.now_ms(), "venue_ms": venue.clock.now_ms()} | {
        "skew_ms": 0
    }
    await put_plan(venue, {"seed": 1, "rule": [{"kind": "clock_skew", "skew_ms": -3000}]})
    clock = (await venue.client.get("/__admin/clock", headers=venue.admin())).json()
    assert (clock["skew_ms"], clock["venue_ms"]) == (-3000, venue.clock.now_ms() - 3000)
    assert (await venue.get(TIME)).json()["serverTime"] == venue.clock.now_ms() - 3000


# serve --faults and --journal


def test_serve_loads_a_toml_fault_plan(tmp_path: Path) -> None:
    path = tmp_path / "faults.toml"
    path.write_text(PLAN_TOML)
    settings = settings_from_args(build_parser().parse_args(["serve", "--faults", str(path)]))
    assert settings.faults == FaultPlan.from_text(PLAN_TOML)
    assert [rule.name for rule in settings.faults.rules] == ["flaky", "visibility_lag#1"]


def test_serve_loads_a_json_fault_plan_by_its_suffix(tmp_path: Path) -> None:
    path = tmp_path / "faults.JSON"
    path.write_text(json.dumps(PLAN_JSON))
    settings = settings_from_args(build_parser().parse_args(["serve", "--faults", str(path)]))
    assert settings.faults == FaultPlan.from_mapping(PLAN_JSON)


def test_without_faults_the_venue_is_well_behaved() -> None:
    settings = settings_from_args(build_parser().parse_args(["serve"]))
    assert settings.faults == FaultPlan() and settings.journal_path is None


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("bad.toml", 'seed = 1\n[[rule]]\nkind = "http_5xx_before"\nstatus = 404\n', "'status'"),
        ("bad.json", '{"seed": 1, "rule": [{"kind": "latency"}]}', "latency needs ms"),
        ("broken.toml", "seed = ", "not valid toml"),
        ("missing.toml", None, "cannot read fault plan"),
    ],
)
def test_a_bad_or_missing_plan_file_is_a_clear_error_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str | None, says: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    assert main(["serve", "--no-market", "--faults", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mock-exchange: ") and says in err, err
    assert "Traceback" not in err


def test_the_journal_file_gets_one_json_line_per_entry_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "journal.jsonl"
    args = build_parser().parse_args(["serve", "--journal", str(path)])
    assert settings_from_args(args).journal_path == path
    settings = MockSettings(market=False, admin_token="t")
    for run in range(2):
        with journal_file(path) as sink:
            assert sink is not None
            mock = MockExchange(settings, VirtualClock(), [ALICE], journal_sink=sink)
            mock.load_faults(FaultPlan(seed=run))
            held = [entry.to_json() for entry in mock.journal.entries()]
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert lines[-len(held) :] == held, "every entry, as the journal holds it"
    assert len(lines) == 2 * len(held), "a second run appends"
    assert {line["kind"] for line in lines} == {"account_funded", "fault_plan_loaded"}
    with journal_file(None) as nothing:
        assert nothing is None
