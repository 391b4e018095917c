"""The ten invariants on hand-built runs: a clean run passes all of them, and each broken
run is caught by its invariant, with the order, fill or line that broke it named."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace
from typing import Any

from chaos.invariants import INVARIANTS, check
from chaos.model import ModeExpectation, RunResult, Violation

START = 1_700_000_000_000
SECRET = base64.b64encode(b"the-bot-secret-0123456789abcdef").decode()
SIGNATURE = base64.b64encode(
    hmac.new(base64.b64decode(SECRET), b"key1700000000000", hashlib.sha256).digest()
).decode()


def venue_order(
    order_id: int, client_id: str, status: str, trade_ids: list[int], filled: str
) -> dict[str, Any]:
    return {
        "id": order_id,
        "account": "bot-key",
        "pair": "BTCTRY",
        "side": "buy",
        "method": "limit",
        "price": "4000000",
        "stopPrice": None,
        "quantity": "0.002",
        "left": "0.002",
        "filledBase": filled,
        "filledQuote": "0",
        "status": status,
        "triggered": True,
        "clientOrderId": client_id,
        "created": START + 1_000,
        "updated": START + 5_000,
        "cancelDue": None,
        "locked": "0",
        "lockAsset": "TRY",
        "tradeIds": trade_ids,
    }


def venue_fill(
    trade_id: int, order_id: int, client_id: str, side: str, amount: str
) -> dict[str, Any]:
    return {
        "tradeId": trade_id,
        "matchId": trade_id + 1000,
        "orderId": order_id,
        "account": "bot-key",
        "pair": "BTCTRY",
        "side": side,
        "price": "4000000",
        "amount": amount,
        "fee": "1.2",
        "tax": "0.24",
        "timestamp": START + 3_000 + trade_id,
        "maker": True,
        "clientOrderId": client_id,
    }


def bot_order(
    client_id: str,
    state: str,
    venue_id: int | None,
    *,
    intent: str | None = None,
    attempt: int = 1,
    unknown_since_ms: int | None = None,
    external: bool = False,
) -> dict[str, Any]:
    return {
        "intent_id": intent or f"spread_maker:BTCTRY:bid:0:{START}:{client_id}",
        "client_id": client_id,
        "attempt": attempt,
        "pair": "BTCTRY",
        "side": "buy",
        "method": "limit",
        "price": "4000000",
        "stop_price": None,
        "quantity": "0.002",
        "state": state,
        "venue_id": venue_id,
        "filled": "0",
        "created_ms": START + 1_000,
        "updated_ms": START + 5_000,
        "submitted_ms": START + 1_000,
        "unknown_since_ms": unknown_since_ms,
        "cancel_requested_ms": None,
        "external": external,
        "reason": None,
    }


def bot_fill(trade_id: int, order_id: int, client_id: str) -> dict[str, Any]:
    return {"trade_id": trade_id, "order_id": order_id, "client_id": client_id}


def clean() -> RunResult:
    """A run where everything went right: a filled order, a resting one, an external one,
    a cancelled one with a partial fill, a drop to observe and back as expected."""
    return RunResult(
        scenario="hand_built",
        seed=7,
        engine="sim",
        canary=None,
        duration_ms=120_000,
        journal=[],
        venue_orders=[
            venue_order(101, "bb-1-filled", "Closed", [1, 2], "0.002"),
            venue_order(102, "bb-1-resting", "Untouched", [], "0"),
            venue_order(103, "web-ui-1", "Partial", [], "0"),
            venue_order(104, "bb-1-cancelled", "Canceled", [3], "0.0005"),
        ],
        venue_fills=[
            venue_fill(1, 101, "bb-1-filled", "buy", "0.001"),
            venue_fill(2, 101, "bb-1-filled", "buy", "0.001"),
            venue_fill(3, 104, "bb-1-cancelled", "sell", "0.0005"),
        ],
        venue_balances={
            "BTC": {"total": "1.0015", "locked": "0", "free": "1.0015"},
            "TRY": {"total": "9994000.5", "locked": "8000", "free": "9986000.5"},
        },
        bot_orders=[
            bot_order("bb-1-filled", "filled", 101),
            bot_order("bb-1-resting", "open", 102),
            bot_order("web-ui-1", "open", 103, intent="external:103", attempt=0, external=True),
            bot_order("bb-1-cancelled", "cancelled", 104),
        ],
        bot_fills=[
            bot_fill(1, 101, "bb-1-filled"),
            bot_fill(2, 101, "bb-1-filled"),
            bot_fill(3, 104, "bb-1-cancelled"),
        ],
        bot_balances={"BTC": "1.00150000", "TRY": "9994000.5"},
        bot_positions={"BTCTRY": "0.0015"},
        mode_history=[
            {"at_ms": START + 2_000, "mode": "live", "reasons": []},
            {
                "at_ms": START + 30_000,
                "mode": "observe",
                "reasons": ["reconciliation failed 3 times in a row (limit 3)"],
            },
            {"at_ms": START + 52_000, "mode": "live", "reasons": []},
        ],
        illegal_transitions=0,
        unknown_past_budget=[],
        rate_limit_blocks=0,
        log_lines=[
            "INFO bot.app started for BTCTRY",
            "WARNING bot.app mode live -> observe: ['reconciliation failed 3 times in a row']",
            "INFO bot.exchange.rest POST /api/v1/order 200 in 12 ms",
        ],
        secrets=[SECRET],
        start_ms=START,
        expectations=(
            ModeExpectation(
                "observe", within_s=30, after_s=20, reason="reconciliation", then_live_within_s=40
            ),
        ),
    )


def only(result: RunResult, invariant: int) -> list[Violation]:
    """The violations, after asserting they are all of ``invariant`` and there is one."""
    found = check(result)
    assert found, f"invariant {invariant} missed it"
    assert {v.invariant for v in found} == {invariant}, found
    assert all(v.name == dict(INVARIANTS)[invariant] for v in found)
    return found


def test_the_clean_run_breaks_no_invariant() -> None:
    assert check(clean()) == []


def test_the_invariants_are_the_ten_of_the_design() -> None:
    assert [number for number, _ in INVARIANTS] == list(range(1, 11))
    assert all(name for _, name in INVARIANTS)


# -- 1 ---------------------------------------------------------------------------------------


def test_two_venue_orders_with_one_client_id_are_caught() -> None:
    run = clean()
    run.venue_orders.append(venue_order(105, "bb-1-resting", "Untouched", [], "0"))
    [violation] = only(run, 1)
    assert violation.subject == "order bb-1-resting"
    assert "102" in violation.detail and "105" in violation.detail


def test_two_venue_orders_for_one_intent_are_caught() -> None:
    run = clean()
    intent = run.bot_orders[1]["intent_id"]
    run.bot_orders.append(bot_order("bb-2-resting", "open", 106, intent=intent, attempt=2))
    run.venue_orders.append(venue_order(106, "bb-2-resting", "Untouched", [], "0"))
    [violation] = only(run, 1)
    assert violation.subject == f"intent {intent}"
    assert "bb-1-resting" in violation.detail and "bb-2-resting" in violation.detail


# -- 2 ---------------------------------------------------------------------------------------


def test_a_venue_fill_missing_locally_is_caught() -> None:
    run = clean()
    run.bot_fills.pop(1)
    [violation] = only(run, 2)
    assert violation.subject == "fill 2"
    assert "missing" in violation.detail and "bb-1-filled" in violation.detail


def test_a_fill_recorded_twice_is_caught() -> None:
    run = clean()
    run.bot_fills.append(bot_fill(1, 101, "bb-1-filled"))
    [violation] = only(run, 2)
    assert violation.subject == "fill 1"
    assert "2 times" in violation.detail


def test_a_local_fill_the_venue_never_made_is_caught() -> None:
    run = clean()
    run.bot_fills.append(bot_fill(99, 101, "bb-1-filled"))
    [violation] = only(run, 2)
    assert violation.subject == "fill 99"


def test_fills_from_before_the_run_are_not_required_locally() -> None:
    run = clean()
    old = venue_fill(0, 90, "bb-1-history", "buy", "0.5") | {"timestamp": START - 86_400_000}
    run.venue_fills.insert(0, old)
    assert check(run) == []
    run.bot_fills.extend([bot_fill(0, 90, "bb-1-history")] * 2)  # but never twice
    run.bot_positions["BTCTRY"] = "0.5015"  # a fill recorded counts in the position
    [violation] = only(run, 2)
    assert violation.subject == "fill 0"


# -- 3 ---------------------------------------------------------------------------------------


def test_a_local_balance_off_the_venue_is_caught() -> None:
    run = replace(clean(), bot_balances={"BTC": "1.0016", "TRY": "9994000.5"})
    [violation] = only(run, 3)
    assert violation.subject == "balance BTC"
    assert "1.0016" in violation.detail and "1.0015" in violation.detail


def test_a_balance_within_the_tolerance_is_equal() -> None:
    run = replace(clean(), bot_balances={"BTC": "1.001500001", "TRY": "9994000.5"})
    assert check(run) == []


def test_a_position_off_the_venue_fills_is_caught() -> None:
    run = replace(clean(), bot_positions={"BTCTRY": "0.002"})
    [violation] = only(run, 3)
    assert violation.subject == "position BTCTRY"


# -- 4 ---------------------------------------------------------------------------------------


def test_an_order_rejected_locally_but_live_on_the_venue_is_caught() -> None:
    run = clean()
    run.bot_orders[1]["state"] = "rejected"
    [violation] = only(run, 4)
    assert violation.subject == "order bb-1-resting (venue 102)"
    assert "live" in violation.detail


def test_an_order_cancelled_locally_but_filled_on_the_venue_is_caught() -> None:
    run = clean()
    run.bot_orders[0]["state"] = "cancelled"
    [violation] = only(run, 4)
    assert violation.subject == "order bb-1-filled (venue 101)"
    assert "filled" in violation.detail


def test_an_order_rejected_locally_with_a_fill_on_the_venue_is_caught_by_client_id() -> None:
    run = clean()
    run.bot_orders[3].update(state="rejected", venue_id=None)  # never learned the venue id
    [violation] = only(run, 4)
    assert violation.subject == "order bb-1-cancelled (venue 104)"


# -- 5 ---------------------------------------------------------------------------------------


def test_an_open_venue_order_without_a_local_order_is_caught() -> None:
    run = clean()
    run.venue_orders.append(venue_order(107, "someone-else", "Untouched", [], "0"))
    [violation] = only(run, 5)
    assert violation.subject == "order someone-else (venue 107)"


def test_an_open_venue_order_the_bot_thinks_filled_is_caught() -> None:
    run = clean()
    run.bot_orders[1]["state"] = "filled"
    [violation] = only(run, 5)
    assert violation.subject == "order bb-1-resting (venue 102)"
    assert "filled locally" in violation.detail


# -- 6 ---------------------------------------------------------------------------------------


def test_an_order_the_bot_reports_unknown_past_its_budget_is_caught() -> None:
    run = replace(clean(), unknown_past_budget=["bb-1-lost"])
    [violation] = only(run, 6)
    assert violation.subject == "order bb-1-lost"


def test_an_order_unknown_longer_than_the_budget_at_the_end_is_caught() -> None:
    run = clean()
    run.bot_orders.append(bot_order("bb-1-lost", "unknown", None, unknown_since_ms=START + 70_000))
    assert check(run) == []  # 50 s before the end, and the budget is 60 s
    run.bot_orders[-1]["unknown_since_ms"] = START + 40_000
    [violation] = only(run, 6)
    assert violation.subject == "order bb-1-lost"
    assert "80000 ms" in violation.detail


# -- 7 ---------------------------------------------------------------------------------------


def test_a_bot_that_never_drops_to_observe_is_caught() -> None:
    run = replace(clean(), mode_history=[{"at_ms": START + 2_000, "mode": "live", "reasons": []}])
    [violation] = only(run, 7)
    assert violation.subject.startswith("expectation 1: observe ('reconciliation')")
    assert "2 s live" in violation.detail


def test_a_drop_for_another_reason_does_not_meet_the_expectation() -> None:
    run = clean()
    run.mode_history[1]["reasons"] = ["the venue's clock cannot be trusted"]
    only(run, 7)


def test_a_drop_too_late_does_not_meet_the_expectation() -> None:
    run = clean()
    run.mode_history[1]["at_ms"] = START + 51_000
    only(run, 7)


def test_a_bot_that_never_trades_again_is_caught() -> None:
    run = clean()
    run.mode_history.pop()
    [violation] = only(run, 7)
    assert "not live again within 40 s" in violation.detail


def test_an_observe_in_force_when_the_window_opens_meets_the_expectation() -> None:
    run = clean()
    run.mode_history[1]["at_ms"] = START + 15_000
    assert check(run) == []


def test_a_live_expectation_at_start_up() -> None:
    expect = (ModeExpectation("live", within_s=10),)
    assert check(replace(clean(), expectations=expect)) == []
    late = [{"at_ms": START + 12_000, "mode": "live", "reasons": []}]
    only(replace(clean(), expectations=expect, mode_history=late), 7)


# -- 8 ---------------------------------------------------------------------------------------


def test_a_rate_limit_block_is_caught() -> None:
    [violation] = only(replace(clean(), rate_limit_blocks=3), 8)
    assert "3 requests" in violation.detail


# -- 9 ---------------------------------------------------------------------------------------


def test_a_secret_in_a_log_line_is_caught_without_repeating_it() -> None:
    run = clean()
    run.log_lines.append(f"DEBUG settings loaded: secret={SECRET}")
    [violation] = only(run, 9)
    assert violation.subject.startswith("log line 4: DEBUG settings loaded")
    assert SECRET not in violation.subject + violation.detail


def test_a_signature_in_a_log_line_is_caught() -> None:
    run = clean()
    run.log_lines.append(f"DEBUG headers {{'X-PCK': 'k', 'X-Signature': '{SIGNATURE}'}}")
    [violation] = only(run, 9)
    assert violation.subject.startswith("log line 4:")
    assert SIGNATURE not in violation.subject
    assert "signature" in violation.detail


def test_a_base64_value_not_next_to_signature_is_not_a_signature() -> None:
    run = clean()
    run.log_lines.append(f"INFO snapshot digest {SIGNATURE}")
    assert check(run) == []


# -- 10 --------------------------------------------------------------------------------------


def test_an_illegal_transition_counted_is_caught() -> None:
    [violation] = only(replace(clean(), illegal_transitions=2), 10)
    assert "2 illegal transitions" in violation.detail


def test_an_illegal_transition_in_the_logs_names_the_order() -> None:
    run = replace(clean(), illegal_transitions=1)
    run.log_lines.append(
        "ERROR bot.lifecycle refused: illegal fill for bb-1-resting in rejected: "
        "not in the transition table"
    )
    [violation] = only(run, 10)
    assert violation.subject == "order bb-1-resting"
    assert "log line 4" in violation.detail
