"""The ``sim`` engine: the bot and the mock in one process under a virtual clock. A run
trades for real against the seeded market, leaves ground truth that agrees with the bot's
books, replays byte for byte from its seed, survives crashes at the two dangerous points,
and shows the canary's duplicate that the invariants are there to catch."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from chaos.engines.sim import BOT_ACCOUNT, _restatus, run_sim_sync, sim_settings, to_toml
from chaos.model import CrashPoint, RunResult, Scenario

PLAIN = Scenario(name="plain", description="no faults, market on", duration_s=60)
HELD_SUBMIT = {  # the second submit is carried out, its answer held past the bot's timeout
    "rule": [
        {
            "kind": "timeout_after_apply",
            "endpoint": "/api/v1/order",
            "method": "POST",
            "nth": [2],
            "hold_ms": 20_000,
        }
    ]
}


def run(scenario: Scenario, tmp: Path, seed: int = 1) -> RunResult:
    return run_sim_sync(scenario, seed, tmp)


def dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def intent_of(result: RunResult) -> dict[str, str]:
    """Venue order id -> the intent the bot's store files it under (by client id or, for an
    imported order, by venue id); ``untracked:<id>`` when the bot has no row for it."""
    by_client = {row["client_id"]: row["intent_id"] for row in result.bot_orders}
    by_venue = {row["venue_id"]: row["intent_id"] for row in result.bot_orders}
    return {
        str(o["id"]): by_client.get(o["clientOrderId"])
        or by_venue.get(o["id"])
        or f"untracked:{o['id']}"
        for o in result.venue_orders
    }


def duplicated_intents(result: RunResult) -> list[str]:
    counts = Counter(intent_of(result).values())
    return sorted(intent for intent, n in counts.items() if n > 1)


def states(result: RunResult) -> Counter[str]:
    return Counter(row["state"] for row in result.bot_orders)


def starts(result: RunResult) -> set[int]:
    return {change["start"] for change in result.mode_history}


def assert_books_agree(result: RunResult) -> None:
    """The ground truth and the bot's books after the final reconcile."""
    assert not [i for i in intent_of(result).values() if i.startswith("untracked:")]
    assert duplicated_intents(result) == []
    assert {f["tradeId"] for f in result.venue_fills} == {f["trade_id"] for f in result.bot_fills}
    assert len(result.bot_fills) == len({f["trade_id"] for f in result.bot_fills})
    for asset, venue in result.venue_balances.items():
        assert Decimal(result.bot_balances[asset]) == Decimal(venue["total"]), asset
    assert result.unknown_past_budget == []
    assert not {"unknown", "submitting", "intent"} & set(states(result))
    assert result.illegal_transitions == 0
    assert result.rate_limit_blocks == 0
    assert not [line for line in result.log_lines for s in result.secrets if s in line]


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return run(PLAIN, tmp_path_factory.mktemp("plain"))


def test_a_plain_run_quotes_fills_and_its_books_agree_with_the_venue(plain: RunResult) -> None:
    assert plain.engine == "sim" and plain.seed == 1 and plain.canary is None
    assert plain.duration_ms >= 60_000
    ours = [o for o in plain.venue_orders if o["account"] == BOT_ACCOUNT.key]
    assert len(ours) == len(plain.venue_orders) >= 10  # quotes, replaced as the market moves
    assert {o["side"] for o in ours} == {"buy", "sell"}
    assert len(plain.venue_fills) >= 5  # the market's takers reach the bot's quotes
    accepted = [e for e in plain.journal if e["kind"] == "order_accepted"]
    assert [e["order_id"] for e in accepted] == [o["id"] for o in ours]
    assert [e["seq"] for e in plain.journal] == list(range(1, len(plain.journal) + 1))
    assert_books_agree(plain)
    assert [m["mode"] for m in plain.mode_history] == ["live"]
    assert plain.log_lines and all(json.loads(line)["ts"] for line in plain.log_lines)
    assert plain.start_ms <= min(e["at"] for e in plain.journal)
    assert any("settled" in note for note in plain.notes)


def test_one_seed_replays_the_run_exactly_and_another_seed_differs(
    plain: RunResult, tmp_path: Path
) -> None:
    again = run(PLAIN, tmp_path / "again")
    assert dump(again.journal) == dump(plain.journal)
    assert dump(again.bot_orders) == dump(plain.bot_orders)
    assert dump(dataclasses.asdict(again)) == dump(dataclasses.asdict(plain))  # logs too
    other = run(PLAIN, tmp_path / "other", seed=2)
    assert dump(other.journal) != dump(plain.journal)
    assert dump(other.bot_orders) != dump(plain.bot_orders)


def test_crashes_right_after_the_intent_commit_leave_nothing_on_the_venue(
    tmp_path: Path,
) -> None:
    # Twice in a row: the restarted bot dies at its own first commit too.
    crash = CrashPoint(event="after_intent_commit", nth=1, restart_after_s=1.0)
    scenario = Scenario(name="commit", description="", duration_s=30, crashes=(crash, crash))
    result = run(scenario, tmp_path)
    assert [n for n in result.notes if n.startswith("crash")] == [
        "crash after_intent_commit at 0 ms (start 1)",
        "crash after_intent_commit at 1000 ms (start 2)",
    ]
    assert starts(result) == {1, 2, 3}  # each went live before its first submit
    never_sent = [row for row in result.bot_orders if "never sent" in (row["reason"] or "")]
    assert len(never_sent) == 2
    on_venue = {o["clientOrderId"] for o in result.venue_orders}
    assert all(row["state"] == "rejected" for row in never_sent)
    assert not {row["client_id"] for row in never_sent} & on_venue
    assert len(result.venue_orders) >= 4  # and it went on quoting
    assert_books_agree(result)


def test_a_crash_with_the_submit_answer_lost_finds_the_order_on_restart(tmp_path: Path) -> None:
    crash = CrashPoint(event="after_request_sent", nth=1, restart_after_s=2.0)
    scenario = Scenario(name="sent", description="", duration_s=30, crashes=(crash,))
    result = run(scenario, tmp_path)
    assert "crash after_request_sent at 0 ms (start 1)" in result.notes
    first = result.venue_orders[0]  # carried out by the venue; the bot never heard back
    rows = [row for row in result.bot_orders if row["client_id"] == first["clientOrderId"]]
    assert len(rows) == 1
    assert rows[0]["venue_id"] == first["id"]
    assert rows[0]["state"] in ("open", "partial", "filled", "cancelled")
    assert list(intent_of(result).values()).count(rows[0]["intent_id"]) == 1
    assert starts(result) == {1, 2}
    assert_books_agree(result)


def test_a_submit_held_past_the_timeout_is_resolved_without_a_second_order(
    tmp_path: Path,
) -> None:
    scenario = Scenario(name="held", description="", duration_s=45, faults=HELD_SUBMIT)
    result = run(scenario, tmp_path)
    fired = [e for e in result.journal if e["kind"] == "fault_fired"]
    assert [e["fault"] for e in fired] == ["timeout_after_apply"]
    held = result.venue_orders[1]  # the second submit: on the venue, its answer lost
    rows = [row for row in result.bot_orders if row["client_id"] == held["clientOrderId"]]
    assert len(rows) == 1 and rows[0]["venue_id"] == held["id"]
    assert_books_agree(result)


def test_the_timeout_is_rejection_canary_places_one_intent_twice(tmp_path: Path) -> None:
    scenario = Scenario(
        name="canary",
        description="",
        duration_s=45,
        faults=HELD_SUBMIT,
        canary="timeout_is_rejection",
    )
    result = run(scenario, tmp_path)
    assert result.canary == "timeout_is_rejection"
    duplicated = duplicated_intents(result)
    assert len(duplicated) == 1
    twins = [o for o in result.venue_orders if intent_of(result)[str(o["id"])] == duplicated[0]]
    assert len(twins) == 2 and twins[0]["clientOrderId"] != twins[1]["clientOrderId"]


def test_a_bad_secret_makes_the_bot_refuse_to_start(tmp_path: Path) -> None:
    scenario = Scenario(name="bad", description="", duration_s=30, setup={"bad_secret": True})
    result = run(scenario, tmp_path)
    assert [n for n in result.notes if n.startswith("the bot refused to start")]
    assert result.venue_orders == [] and result.bot_orders == [] and result.mode_history == []
    assert len(result.secrets) == 3  # the bad spelling must not leak either


def test_setup_places_history_external_orders_and_a_burst_of_partial_fills(
    tmp_path: Path,
) -> None:
    scenario = Scenario(
        name="setup",
        description="",
        duration_s=20,
        market=False,  # a static book from the helper account instead
        bot={"strategy": {"quantity": "0.002"}},
        setup={
            "history_orders": 4,
            "external_orders": [{"side": "buy", "price": "3000000", "quantity": "0.001"}],
            "burst_fills": 5,
            "burst_at_s": 5,
        },
    )
    result = run(scenario, tmp_path)
    old = [o for o in result.venue_orders if o["created"] < result.start_ms]
    assert len(old) == 4 and all(o["status"] == "Closed" for o in old)
    external = [o for o in result.venue_orders if o["price"] == "3000000"]
    assert len(external) == 1
    imported = [row for row in result.bot_orders if row["venue_id"] == external[0]["id"]]
    assert imported and imported[0]["external"] is True
    burst = [o for o in result.venue_orders if len(o["tradeIds"]) >= 5]
    assert len(burst) == 1 and burst[0]["quantity"] == "0.00200000"
    times = [f["timestamp"] for f in result.venue_fills if f["orderId"] == burst[0]["id"]]
    assert max(times) - min(times) < 1_000
    assert {f["tradeId"] for f in result.venue_fills if f["orderId"] == burst[0]["id"]} <= {
        f["trade_id"] for f in result.bot_fills
    }


def test_the_scenario_bot_sections_override_the_sim_defaults(tmp_path: Path) -> None:
    scenario = Scenario(
        name="settings",
        description="",
        bot={"strategy": {"notional": 500}, "lifecycle": {"visibility_budget_ms": 30_000}},
    )
    merged = sim_settings(scenario, tmp_path)
    assert merged["strategy"]["notional"] == 500 and "quantity" not in merged["strategy"]
    assert merged["strategy"]["pairs"] == ["BTCTRY"]
    assert merged["lifecycle"] == {"visibility_budget_ms": 30_000}
    text = to_toml(merged)
    assert 'mode = "live"' in text and "[metrics]\nenabled = false" in text
    assert "max_position = 0.05" in text


def test_an_unknown_status_is_written_into_every_order_row_of_a_good_answer() -> None:
    rows = {"asks": [{"id": 1, "status": "Untouched"}], "bids": [{"id": 2, "status": "Partial"}]}
    body = json.dumps({"success": True, "data": rows}).encode()
    start: dict[str, Any] = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-length", b"1")],
    }
    messages: list[dict[str, Any]] = [start, {"type": "http.response.body", "body": body}]
    start_out, body_out = _restatus(messages, "PendingNew")
    data = json.loads(body_out["body"])["data"]
    assert [r["status"] for r in data["asks"] + data["bids"]] == ["PendingNew", "PendingNew"]
    assert dict(start_out["headers"])[b"content-length"] == str(len(body_out["body"])).encode()
    refused = [{**start, "status": 404}, messages[1]]
    assert _restatus(refused, "PendingNew") == refused  # only answers with rows change
