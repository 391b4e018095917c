"""The fault plan: rules read from TOML or JSON, refused with a clear message when wrong, and
decisions that are a pure function of the seed, the rule and its count of matching events."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_exchange.faults import (
    CORRUPTIONS,
    GARBAGE,
    KINDS,
    MAINTENANCE_HTML,
    VIEWS,
    FaultPlan,
    FaultPlanError,
    Faults,
    Firing,
    corrupt_row,
    corrupt_rows,
)

ORDER = "/api/v1/order"
START = 1_763_700_000_000  # venue time when the plan starts

# One rule of every kind, as a plan author would write it.
EXAMPLES: dict[str, str] = {
    "http_429": 'endpoint = "/api/v1/order"\nmethod = "POST"\nretry_after = 30',
    "http_5xx_before": 'endpoint = "/api/v1/order"\nstatus = 503\nprobability = 0.1',
    "http_5xx_after": 'endpoint = "/api/v1/order"\nmethod = "DELETE"\nnth = [2, 5]',
    "timeout_after_apply": 'endpoint = "/api/v1/order"\nhold_ms = 30000\nevery = 4',
    "maintenance_503": "window = { start_ms = 1000, end_ms = 2000 }",
    "latency": "min_ms = 20\nmax_ms = 400",
    "visibility_lag": 'endpoint = "/api/v1/order"\nlag_ms = 3000\nviews = ["openOrders"]',
    "cancel_lag": 'endpoint = "/api/v1/order"\nmethod = "DELETE"\nlag_ms = 5000',
    "malformed_row": 'endpoint = "/api/v1/allOrders"\ncorruption = "null_field"\nmax_fires = 1',
    "clock_skew": "skew_ms = -7000\nwindow = { start_ms = 0, end_ms = 60000 }",
    "ws_drop": "nth = 100",
    "ws_stall": "duration_ms = 20000\nprobability = 0.01",
    "ws_gap": "every = 50",
    "ws_duplicate": "msg_type = [431, 432]\nprobability = 0.05",
    "ws_reorder": "msg_type = 432\nnth = [3]",
    "ws_malformed": 'msg_type = "*"\ncorruption = "garbage_number"',
    "ws_drop_type": 'msg_type = 423\naccount = "alice-key"\nwindow = { start_ms = 5000 }',
}


def toml_plan(kind: str, body: str = "", seed: int = 7) -> str:
    return f'seed = {seed}\n[[rule]]\nkind = "{kind}"\n{body}\n'


def plan_of(*rules: dict[str, Any], seed: int = 7) -> FaultPlan:
    return FaultPlan.from_mapping({"seed": seed, "rule": list(rules)})


def faults(*rules: dict[str, Any], seed: int = 7) -> Faults:
    return Faults(plan_of(*rules, seed=seed), start_ms=START)


def kinds(firings: list[Firing]) -> list[str]:
    return [firing.kind for firing in firings]


# Reading plans


def test_the_examples_cover_every_kind() -> None:
    assert set(EXAMPLES) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_reads_from_toml_and_from_json_alike(kind: str) -> None:
    text = toml_plan(kind, EXAMPLES[kind])
    from_toml = FaultPlan.from_text(text, "toml")
    from_json = FaultPlan.from_text(json.dumps(tomllib.loads(text)), "json")
    assert from_toml == from_json
    assert from_toml.seed == 7
    (rule,) = from_toml.rules
    assert (rule.kind, rule.name) == (kind, f"{kind}#0")


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_round_trips_through_to_mapping(kind: str) -> None:
    plan = FaultPlan.from_text(toml_plan(kind, EXAMPLES[kind]))
    mapping = plan.to_mapping()
    assert FaultPlan.from_mapping(mapping) == plan
    assert FaultPlan.from_text(json.dumps(mapping), "json") == plan


def test_a_rule_reads_with_its_matching_trigger_and_parameters() -> None:
    plan = FaultPlan.from_text(
        """
        seed = 42
        [[rule]]
        name = "orders-flaky"
        kind = "http_5xx_after"
        endpoint = "/API/v1/Order/"
        method = "post"
        nth = [10, 3, 3]
        status = 502
        max_fires = 2
        account = "alice-key"
        """
    )
    (rule,) = plan.rules
    assert rule.name == "orders-flaky"
    assert (rule.endpoint, rule.method, rule.account) == (ORDER, "POST", "alice-key")
    assert (rule.nth, rule.max_fires, dict(rule.params)) == ((3, 10), 2, {"status": 502})


def test_defaults_are_filled_in() -> None:
    plan = FaultPlan.from_text(
        'seed = 1\n[[rule]]\nkind = "http_5xx_before"\n'
        '[[rule]]\nkind = "visibility_lag"\nlag_ms = 10\n'
        '[[rule]]\nkind = "ws_gap"\n[[rule]]\nkind = "ws_malformed"\n[[rule]]\nkind = "ws_drop"'
    )
    five, lag, gap, malformed, drop = plan.rules
    assert (five.endpoint, five.method, dict(five.params)) == ("*", None, {"status": 500})
    assert lag.params["views"] == VIEWS
    assert (gap.msg_types, malformed.msg_types, drop.msg_types) == ((432,), (431, 432), None)
    assert malformed.params["corruption"] == "any"


def test_a_plan_without_rules_is_valid_and_does_nothing() -> None:
    fx = Faults(FaultPlan.from_text("seed = 3"))
    assert fx.on_request("POST", ORDER, 0) == []
    assert fx.on_ws_message(432, 0) == []
    assert (fx.skew_at(0), fx.state.counters) == (0, {})


# Refusing bad plans

BAD_RULES: list[tuple[dict[str, Any], str]] = [
    ({"kind": "http_418"}, "rule 0: field 'kind': unknown kind 'http_418'"),
    ({}, "rule 0: field 'kind': unknown kind None"),
    ({"kind": ["http_429"]}, "rule 0: field 'kind': unknown kind ['http_429']"),
    ({"kind": "http_429", "colour": "red"}, "rule 0 (http_429#0): field 'colour': unknown key"),
    ({"kind": "http_429", "retry_after": "30"}, "field 'retry_after': must be an integer"),
    ({"kind": "http_429", "retry_after": 1.5}, "field 'retry_after': must be an integer"),
    ({"kind": "http_429", "max_fires": True}, "field 'max_fires': must be an integer"),
    ({"kind": "http_429", "probability": 1.5}, "field 'probability': must be a number between"),
    ({"kind": "http_429", "probability": -0.1}, "field 'probability': must be a number between"),
    ({"kind": "http_429", "probability": "1"}, "field 'probability': must be a number between"),
    ({"kind": "latency", "ms": -1}, "field 'ms': must be at least 0, got -1"),
    ({"kind": "cancel_lag", "lag_ms": -5}, "field 'lag_ms': must be at least 0"),
    ({"kind": "cancel_lag"}, "field 'lag_ms': required for cancel_lag"),
    ({"kind": "clock_skew"}, "field 'skew_ms': required for clock_skew"),
    ({"kind": "http_5xx_after", "status": 404}, "field 'status': must be between 500 and 599"),
    ({"kind": "latency"}, "field 'ms': latency needs ms, or both min_ms and max_ms"),
    ({"kind": "latency", "min_ms": 5}, "field 'max_ms': latency needs both bounds"),
    ({"kind": "latency", "ms": 5, "max_ms": 9}, "field 'ms': latency takes either ms or"),
    ({"kind": "latency", "min_ms": 9, "max_ms": 5}, "field 'min_ms': must not exceed max_ms"),
    ({"kind": "visibility_lag", "lag_ms": 1, "views": ["book"]}, "field 'views': must be a"),
    ({"kind": "visibility_lag", "lag_ms": 1, "views": []}, "field 'views': must be a"),
    ({"kind": "malformed_row", "corruption": "fire"}, "field 'corruption': must be 'any' or"),
    ({"kind": "ws_gap", "endpoint": ORDER}, "field 'endpoint': ws_gap is a websocket kind"),
    ({"kind": "ws_drop", "method": "GET"}, "field 'method': ws_drop is a websocket kind"),
    ({"kind": "http_429", "msg_type": 432}, "field 'msg_type': http_429 is an HTTP kind"),
    ({"kind": "clock_skew", "skew_ms": 1, "probability": 0.5}, "field 'probability': clock_"),
    ({"kind": "clock_skew", "skew_ms": 1, "endpoint": "*"}, "field 'endpoint': clock_skew"),
    ({"kind": "ws_drop_type"}, "field 'msg_type': ws_drop_type stops one message type"),
    ({"kind": "ws_drop_type", "msg_type": [423, 441]}, "field 'msg_type': ws_drop_type stops"),
    ({"kind": "ws_gap", "msg_type": "432"}, "field 'msg_type': must be an integer"),
    ({"kind": "ws_stall"}, "field 'duration_ms': required unless the rule has a window"),
    ({"kind": "ws_stall", "window": {"start_ms": 5}}, "field 'duration_ms': required unless"),
    ({"kind": "http_429", "nth": 0}, "field 'nth': must be at least 1"),
    ({"kind": "http_429", "nth": []}, "field 'nth': must be an integer"),
    ({"kind": "http_429", "every": 0}, "field 'every': must be at least 1"),
    ({"kind": "http_429", "max_fires": 0}, "field 'max_fires': must be at least 1"),
    ({"kind": "http_429", "window": {"start_ms": 9, "end_ms": 9}}, "field 'window': end_ms (9)"),
    ({"kind": "http_429", "window": {"from": 0}}, "field 'window': must be a table of start_ms"),
    ({"kind": "http_429", "window": {"start_ms": -1}}, "field 'window': must be at least 0"),
    ({"kind": "http_429", "probability": 0.5, "nth": 2}, "field 'nth': a rule fires by one"),
    ({"kind": "http_429", "every": 2, "window": {}}, "field 'every': a rule fires by one"),
    ({"kind": "http_429", "probability": 0.5, "every": 2}, "got probability and every"),
    ({"kind": "http_429", "method": "FETCH"}, "field 'method': must be one of"),
    ({"kind": "http_429", "endpoint": "api/v1/order"}, "field 'endpoint': must be '*' or a path"),
    ({"kind": "http_429", "endpoint": "/api/v1/order?id=1"}, "field 'endpoint': must be '*'"),
    ({"kind": "http_429", "account": ""}, "field 'account': must be a public key"),
    ({"kind": "http_429", "name": "has space"}, "rule 0: field 'name': must match"),
    ({"kind": "http_429", "name": 7}, "rule 0: field 'name': must match"),
]


@pytest.mark.parametrize(("rule", "message"), BAD_RULES, ids=[m for _, m in BAD_RULES])
def test_a_bad_rule_is_refused_naming_the_rule_and_the_field(
    rule: dict[str, Any], message: str
) -> None:
    good = {"kind": "http_429", "name": "fine"}
    with pytest.raises(FaultPlanError) as caught:
        plan_of(good, rule)  # the bad rule is the second: its index is 1
    assert message.replace("rule 0", "rule 1").replace("#0", "#1") in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rule": []}, "field 'seed': required"),
        ({"seed": "7"}, "field 'seed': must be an integer"),
        ({"seed": 7, "rules": []}, "unknown keys ['rules']"),
        ({"seed": 7, "rule": {"kind": "ws_drop"}}, "field 'rule': must be a list of tables"),
        ({"seed": 7, "rule": ["ws_drop"]}, "rule 0: must be a table, got str"),
        (
            {
                "seed": 7,
                "rule": [{"kind": "ws_drop", "name": "x"}, {"kind": "ws_gap", "name": "x"}],
            },
            "rule 1 (x): field 'name': not unique",
        ),
        (
            {"seed": 7, "rule": [{"kind": "ws_gap", "name": "ws_drop#1"}, {"kind": "ws_drop"}]},
            "rule 1 (ws_drop#1): field 'name': not unique",
        ),
    ],
)
def test_a_bad_plan_is_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(FaultPlanError) as caught:
        FaultPlan.from_mapping(data)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ("seed = ", "toml", "not valid toml"),
        ('{"seed": 7,}', "json", "not valid json"),
        ("[1, 2]", "json", "must be a table, got list"),
        ("seed = 7", "yaml", "format must be 'toml' or 'json'"),
        ('{"seed": 7, "rule": [{"kind": "http_429", "probability": NaN}]}', "json", "between"),
    ],
)
def test_unreadable_text_is_refused(text: str, fmt: Any, message: str) -> None:
    with pytest.raises(FaultPlanError) as caught:
        FaultPlan.from_text(text, fmt)
    assert message in str(caught.value)


def test_a_plan_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        plan_of({"kind": "nope"})


# Triggers


def fired_counters(fx: Faults, n: int, path: str = ORDER) -> list[int]:
    return [f.counter for i in range(n) for f in fx.on_request("POST", path, START + i)]


def test_a_probability_fires_at_about_that_rate_and_replays_by_seed() -> None:
    rule = {"kind": "http_429", "probability": 0.3}
    first = fired_counters(faults(rule, seed=1), 10_000)
    assert 2_800 <= len(first) <= 3_200
    assert fired_counters(faults(rule, seed=1), 10_000) == first
    assert fired_counters(faults(rule, seed=2), 10_000) != first


def test_probability_zero_never_fires_and_one_always_does() -> None:
    assert fired_counters(faults({"kind": "http_429", "probability": 0}), 1000) == []
    assert len(fired_counters(faults({"kind": "http_429", "probability": 1}), 1000)) == 1000


def test_renaming_a_rule_changes_its_draws() -> None:
    named = {"kind": "http_429", "probability": 0.5, "name": "a"}
    renamed = {**named, "name": "b"}
    assert fired_counters(faults(named), 200) != fired_counters(faults(renamed), 200)


def test_nth_and_every_fire_on_those_matching_requests() -> None:
    assert fired_counters(faults({"kind": "http_429", "nth": [2, 5]}), 12) == [2, 5]
    assert fired_counters(faults({"kind": "http_429", "nth": 3}), 12) == [3]
    assert fired_counters(faults({"kind": "http_429", "every": 4}), 12) == [4, 8, 12]
    both = faults({"kind": "http_429", "nth": [1, 6], "every": 5})
    assert fired_counters(both, 12) == [1, 5, 6, 10]


def test_a_rule_without_a_trigger_fires_on_every_match() -> None:
    assert fired_counters(faults({"kind": "http_429"}), 5) == [1, 2, 3, 4, 5]


def test_a_window_counts_from_the_start_of_the_plan() -> None:
    fx = faults({"kind": "maintenance_503", "window": {"start_ms": 1000, "end_ms": 2000}})
    at = {
        ms: kinds(fx.on_request("GET", "/api/v2/ticker", START + ms))
        for ms in (999, 1000, 1999, 2000)
    }
    assert at == {999: [], 1000: ["maintenance_503"], 1999: ["maintenance_503"], 2000: []}


def test_a_window_without_an_end_stays_open() -> None:
    fx = faults({"kind": "http_429", "window": {"start_ms": 500}})
    assert fx.on_request("GET", "/x", START + 499) == []
    assert kinds(fx.on_request("GET", "/x", START + 10**9)) == ["http_429"]


def test_max_fires_caps_a_rule_but_its_counter_runs_on() -> None:
    fx = faults({"kind": "http_429", "every": 2, "max_fires": 2, "name": "r"})
    assert fired_counters(fx, 10) == [2, 4]
    assert (fx.state.counters["r"], fx.state.fires["r"]) == (10, 2)


def test_only_matching_requests_count() -> None:
    fx = faults(
        {"kind": "http_5xx_after", "endpoint": ORDER, "method": "POST", "nth": 2, "name": "r"}
    )
    assert fx.on_request("DELETE", ORDER, START) == []
    assert fx.on_request("POST", "/api/v1/openOrders", START) == []
    assert fx.on_request("POST", ORDER, START) == []
    assert fx.state.counters == {"r": 1}
    assert kinds(fx.on_request("post", "/API/v1/order/?x=1", START)) == ["http_5xx_after"]


def test_an_order_id_path_matches_the_id_endpoint() -> None:
    fx = faults({"kind": "http_5xx_before", "endpoint": "/api/v1/order/{id}"})
    assert kinds(fx.on_request("GET", "/api/v1/order/123456", START)) == ["http_5xx_before"]
    assert fx.on_request("GET", ORDER, START) == []


def test_an_account_filter_matches_only_that_key() -> None:
    fx = faults({"kind": "http_429", "account": "alice-key", "name": "r"})
    assert fx.on_request("GET", "/api/v1/users/balances", START, "bob-key") == []
    assert fx.on_request("GET", "/api/v2/ticker", START, None) == []
    assert kinds(fx.on_request("GET", "/api/v1/users/balances", START, "alice-key")) == ["http_429"]
    assert fx.state.counters == {"r": 1}


# What each kind fires with


def test_http_outcomes_carry_their_status() -> None:
    def first(rule: dict[str, Any]) -> Firing:
        return faults(rule).on_request("POST", ORDER, START + 10)[0]

    too_many = first({"kind": "http_429", "retry_after": 30})
    assert (too_many.status, too_many.retry_after_s) == (429, 30)
    assert first({"kind": "http_5xx_before"}).status == 500
    assert first({"kind": "http_5xx_after", "status": 504}).status == 504
    assert first({"kind": "maintenance_503"}).status == 503
    assert first({"kind": "timeout_after_apply", "hold_ms": 9000}).until_ms == START + 9010
    assert "503" in MAINTENANCE_HTML and MAINTENANCE_HTML.lstrip().startswith("<!DOCTYPE html>")


def test_lags_say_until_when_and_which_views() -> None:
    fx = faults(
        {"kind": "visibility_lag", "lag_ms": 3000, "views": ["order", "openOrders", "order"]},
        {"kind": "cancel_lag", "lag_ms": 5000},
    )
    hidden, cancel = fx.on_request("POST", ORDER, START + 1)
    assert (hidden.until_ms, hidden.views) == (START + 3001, ("order", "openOrders"))
    assert cancel.until_ms == START + 5001


def test_latency_is_fixed_or_drawn_uniformly_within_bounds() -> None:
    fixed = faults({"kind": "latency", "ms": 250})
    assert [f.delay_ms for f in fixed.on_request("GET", "/x", START)] == [250]
    drawn = faults({"kind": "latency", "min_ms": 10, "max_ms": 14})
    delays = [drawn.on_request("GET", "/x", START)[0].delay_ms for _ in range(500)]
    assert set(delays) == {10, 11, 12, 13, 14}
    again = faults({"kind": "latency", "min_ms": 10, "max_ms": 14})
    assert [again.on_request("GET", "/x", START)[0].delay_ms for _ in range(500)] == delays


def test_malformed_row_draws_a_key_and_a_corruption() -> None:
    fx = faults({"kind": "malformed_row"})
    drawn = [fx.on_request("GET", "/api/v1/allorders", START)[0] for _ in range(200)]
    assert {f.corruption for f in drawn} == set(CORRUPTIONS)
    assert len({f.row_key for f in drawn}) == 200
    fixed = faults({"kind": "malformed_row", "corruption": "drop_field"})
    assert fixed.on_request("GET", "/x", START)[0].corruption == "drop_field"


# One outcome per request


def test_only_the_first_firing_outcome_applies_and_the_rest_do_not_count_as_fired() -> None:
    fx = faults(
        {"kind": "latency", "ms": 40},
        {"kind": "http_5xx_after", "name": "five"},
        {"kind": "http_429", "name": "429"},
        {"kind": "timeout_after_apply", "name": "timeout"},
    )
    assert kinds(fx.on_request("POST", ORDER, START)) == ["latency", "http_5xx_after"]
    assert fx.state.counters == {"latency#0": 1, "five": 1, "429": 1, "timeout": 1}
    assert fx.state.fires == {"latency#0": 1, "five": 1}


def test_a_suppressed_outcome_keeps_its_max_fires_for_later() -> None:
    fx = faults(
        {"kind": "http_5xx_before", "nth": [1]},
        {"kind": "http_429", "max_fires": 1},
    )
    assert kinds(fx.on_request("POST", ORDER, START)) == ["http_5xx_before"]
    assert kinds(fx.on_request("POST", ORDER, START)) == ["http_429"]
    assert fx.on_request("POST", ORDER, START) == []


@pytest.mark.parametrize(
    ("outcome", "kept"),
    [
        (None, ["latency", "visibility_lag", "cancel_lag", "malformed_row"]),
        ("http_429", ["http_429", "latency"]),
        ("http_5xx_before", ["http_5xx_before", "latency"]),
        ("maintenance_503", ["maintenance_503", "latency"]),
        ("http_5xx_after", ["http_5xx_after", "latency", "visibility_lag", "cancel_lag"]),
        ("timeout_after_apply", ["timeout_after_apply", "latency", "visibility_lag", "cancel_lag"]),
    ],
)
def test_additive_faults_apply_only_when_they_can_take_effect(
    outcome: str | None, kept: list[str]
) -> None:
    rules: list[dict[str, Any]] = [{"kind": outcome}] if outcome else []
    rules += [
        {"kind": "latency", "ms": 1},
        {"kind": "visibility_lag", "lag_ms": 1},
        {"kind": "cancel_lag", "lag_ms": 1},
        {"kind": "malformed_row"},
    ]
    fx = faults(*rules)
    firings = fx.on_request("POST", ORDER, START)
    assert kinds(firings) == kept
    assert sorted(fx.state.fires.values()) == [1] * len(kept)


# Websocket


def test_changeset_faults_act_on_432_by_default() -> None:
    fx = faults({"kind": "ws_gap"})
    assert fx.on_ws_message(431, START) == []
    assert fx.on_ws_message(423, START) == []
    assert kinds(fx.on_ws_message(432, START)) == ["ws_gap"]


def test_a_message_gets_at_most_one_fault() -> None:
    fx = faults({"kind": "ws_duplicate"}, {"kind": "ws_reorder"}, {"kind": "ws_drop"})
    assert kinds(fx.on_ws_message(432, START)) == ["ws_duplicate"]
    assert kinds(fx.on_ws_message(201, START)) == ["ws_drop"]
    assert fx.state.fires == {"ws_duplicate#0": 1, "ws_drop#2": 1}


def test_ws_drop_type_silences_one_type_while_its_window_lasts() -> None:
    fx = faults(
        {"kind": "ws_drop_type", "msg_type": 423, "window": {"start_ms": 0, "end_ms": 5000}}
    )
    assert kinds(fx.on_ws_message(423, START + 4999)) == ["ws_drop_type"]
    assert fx.on_ws_message(441, START + 10) == []
    assert fx.on_ws_message(423, START + 5000) == []
    assert [r.name for r in fx.active("ws_drop_type", START + 1)] == ["ws_drop_type#0"]
    assert fx.active("ws_drop_type", START + 5000) == ()


def test_private_messages_can_be_faulted_for_one_account() -> None:
    fx = faults({"kind": "ws_drop_type", "msg_type": 441, "account": "alice-key"})
    assert fx.on_ws_message(441, START, "bob-key") == []
    assert kinds(fx.on_ws_message(441, START, "alice-key")) == ["ws_drop_type"]


def test_a_stall_lasts_its_duration_or_until_its_window_ends() -> None:
    timed = faults({"kind": "ws_stall", "duration_ms": 20_000, "nth": 2})
    assert timed.on_ws_message(431, START) == []
    assert timed.on_ws_message(432, START + 7).pop().until_ms == START + 20_007
    windowed = faults({"kind": "ws_stall", "window": {"start_ms": 100, "end_ms": 900}})
    assert windowed.on_ws_message(432, START + 150).pop().until_ms == START + 900


def test_ws_malformed_hands_over_a_key_for_corrupt_row() -> None:
    fx = faults({"kind": "ws_malformed", "corruption": "drop_field"})
    firing = fx.on_ws_message(431, START).pop()
    payload = {"CS": 942654, "PS": "BTCTRY", "AO": [], "BO": [], "type": 431}
    broken = corrupt_row(payload, firing.row_key, firing.corruption)
    assert broken is not None and len(broken) == len(payload) - 1


# The clock


def test_skew_applies_inside_its_window_and_adds_up() -> None:
    fx = faults(
        {"kind": "clock_skew", "skew_ms": 7000, "window": {"start_ms": 1000, "end_ms": 3000}},
        {"kind": "clock_skew", "skew_ms": -2000, "window": {"start_ms": 2000}},
    )
    assert [fx.skew_at(START + ms) for ms in (0, 999, 1000, 2000, 2999, 3000, 10**8)] == [
        0,
        0,
        7000,
        5000,
        5000,
        -2000,
        -2000,
    ]


def test_a_skew_without_a_window_is_always_on() -> None:
    assert faults({"kind": "clock_skew", "skew_ms": 1500}).skew_at(0) == 1500


def test_event_rules_are_never_standing() -> None:
    fx = faults({"kind": "ws_stall", "duration_ms": 5, "probability": 1.0})
    assert fx.active("ws_stall", START) == ()
    with pytest.raises(ValueError, match="unknown fault kind"):
        fx.active("ws_nope", START)


# Corrupting rows


ROWS = [
    {"id": 1, "price": "100.5", "status": "Untouched", "note": None},
    {"id": 2, "price": "101.0", "status": "Untouched", "note": None},
    {"id": 3, "price": "102.5", "status": "Canceled", "note": None},
]


def test_each_corruption_does_what_its_name_says() -> None:
    assert corrupt_row(ROWS[0], 0, "null_row") is None
    dropped = corrupt_row(ROWS[0], 0, "drop_field")
    assert dropped is not None and set(ROWS[0]) - set(dropped) == {"id"}
    for key in range(4):
        garbled = corrupt_row(ROWS[0], key, "garbage_number")
        assert garbled is not None
        changed = {k for k in ROWS[0] if garbled[k] != ROWS[0][k]}
        assert len(changed) == 1 and changed <= {"id", "price"}
        assert garbled[changed.pop()] == GARBAGE
        nulled = corrupt_row(ROWS[0], key, "null_field")
        assert nulled is not None
        assert [k for k in ROWS[0] if nulled[k] != ROWS[0][k]] in (["id"], ["price"], ["status"])


def test_a_row_with_nothing_to_garble_still_changes() -> None:
    assert corrupt_row({}, 5, "garbage_number") is None
    assert corrupt_row({"a": None}, 5, "null_field") == {}
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt_row({"a": 1}, 0, "any")


def test_corrupt_rows_picks_the_row_by_key_and_leaves_the_input_alone() -> None:
    before = [dict(row) for row in ROWS]
    out, index = corrupt_rows(ROWS, 4, "null_row")
    assert (index, out[1], out[0], out[2]) == (1, None, ROWS[0], ROWS[2])
    assert before == ROWS
    assert corrupt_rows([], 4, "null_row") == ([], -1)


json_scalars = (
    st.none() | st.booleans() | st.integers() | st.text(max_size=6) | st.floats(allow_nan=False)
)
json_rows = st.lists(st.dictionaries(st.text(max_size=4), json_scalars, max_size=5), max_size=8)


@given(rows=json_rows, key=st.integers(0, 2**64 - 1), corruption=st.sampled_from(CORRUPTIONS))
def test_exactly_one_row_changes_and_always_the_same_way(
    rows: list[dict[str, Any]], key: int, corruption: str
) -> None:
    out, index = corrupt_rows(rows, key, corruption)
    assert corrupt_rows(rows, key, corruption) == (out, index)
    assert len(out) == len(rows)
    changed = [i for i, (old, new) in enumerate(zip(rows, out, strict=True)) if old != new]
    assert changed == ([index] if rows else [])


# Replay


events = st.lists(
    st.one_of(
        st.tuples(
            st.just("http"),
            st.sampled_from(["GET", "POST", "DELETE"]),
            st.sampled_from([ORDER, "/api/v1/order/77", "/api/v1/openOrders", "/api/v2/ticker"]),
            st.sampled_from([None, "alice-key", "bob-key"]),
            st.integers(0, 400),
        ),
        st.tuples(
            st.just("ws"),
            st.sampled_from([423, 431, 432, 441]),
            st.just(""),
            st.sampled_from([None, "alice-key"]),
            st.integers(0, 400),
        ),
    ),
    max_size=60,
)
REPLAY_PLAN = """
seed = 99
[[rule]]
kind = "http_429"
endpoint = "/api/v1/order"
probability = 0.2
max_fires = 5
[[rule]]
kind = "http_5xx_after"
endpoint = "/api/v1/order/{id}"
every = 3
[[rule]]
kind = "timeout_after_apply"
method = "POST"
window = { start_ms = 2000, end_ms = 6000 }
[[rule]]
kind = "latency"
min_ms = 1
max_ms = 900
probability = 0.5
[[rule]]
kind = "malformed_row"
account = "alice-key"
probability = 0.3
[[rule]]
kind = "ws_gap"
probability = 0.25
[[rule]]
kind = "ws_drop_type"
msg_type = 441
nth = [2, 4]
"""


Step = tuple[str, Any, str, str | None, int]  # scope, method or type, path, account, ms later


def replay(plan: FaultPlan, steps: Sequence[Step]) -> list[list[Firing]]:
    """Feed the events to fresh ``Faults`` and collect what fired."""
    fx, now, seen = Faults(plan, start_ms=START), START, []
    for scope, what, path, account, dt in steps:
        now += dt
        if scope == "http":
            seen.append(fx.on_request(what, path, now, account))
        else:
            seen.append(fx.on_ws_message(what, now, account))
    return seen


@given(steps=events)
def test_the_same_events_replay_the_same_faults(steps: list[Step]) -> None:
    plan = FaultPlan.from_text(REPLAY_PLAN)
    first = replay(plan, steps)
    assert replay(plan, steps) == first
    assert replay(FaultPlan.from_mapping(plan.to_mapping()), steps) == first


def test_the_replay_plan_does_fire() -> None:
    steps: list[Step] = [("http", "POST", ORDER, "alice-key", 50)] * 100
    steps += [("ws", 432, "", None, 10)] * 50
    firings = [f for batch in replay(FaultPlan.from_text(REPLAY_PLAN), steps) for f in batch]
    assert {"http_429", "timeout_after_apply", "latency", "ws_gap"} <= set(kinds(firings))


def test_the_example_plan_in_the_repository_loads_and_uses_every_kind() -> None:
    from pathlib import Path

    from mock_exchange.faults import KINDS

    path = Path(__file__).resolve().parents[2] / "examples" / "faults.toml"
    plan = FaultPlan.from_text(path.read_text(encoding="utf-8"), "toml")
    assert {rule.kind for rule in plan.rules} == set(KINDS)
