"""Scenario files: every one in chaos/scenarios loads, the suite covers every situation the
gate must prove and a scenario for every canary, and a bad file is refused naming its key."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.core.modes import ModeConfig, ModeInputs, causes
from chaos.model import CANARIES, Scenario
from chaos.scenario import (
    SCENARIO_DIR,
    ScenarioError,
    load_scenario,
    load_suite,
    parse_scenario,
    settings_toml,
)

FILES = sorted(SCENARIO_DIR.glob("*.toml"))


def kinds(scenario: Scenario) -> set[str]:
    return {rule["kind"] for rule in scenario.faults.get("rule", [])}


def rules_on(scenario: Scenario, kind: str, endpoint: str, method: str | None = None) -> bool:
    return any(
        rule["kind"] == kind
        and rule.get("endpoint", "*").lower() in (endpoint.lower(), "*")
        and rule.get("method") in (None, method)
        for rule in scenario.faults.get("rule", [])
    )


def rules_on_type(scenario: Scenario, kind: str, msg_type: int) -> bool:
    return any(
        rule["kind"] == kind and rule.get("msg_type") == msg_type
        for rule in scenario.faults.get("rule", [])
    )


def expects(scenario: Scenario, mode: str, reason: str = "") -> bool:
    return any(
        e.mode == mode and reason in e.reason and (mode == "live" or e.then_live_within_s)
        for e in scenario.expect_modes
    )


ORDER = "/api/v1/order"
# Each situation the gate must prove: its scenario, and what makes the scenario that situation.
SITUATIONS: dict[str, tuple[str, Callable[[Scenario], bool]]] = {
    "baseline": ("plain", lambda s: not s.faults and expects(s, "live")),
    "network flap and timeouts": (
        "network_flap_timeouts",
        lambda s: {"maintenance_503", "latency", "ws_drop"} <= kinds(s),
    ),
    "5xx on reads": (
        "http_5xx_reads",
        lambda s: (
            rules_on(s, "http_5xx_before", "/api/v1/openorders")
            and expects(s, "observe", "reconciliation")
        ),
    ),
    "5xx on writes": ("http_5xx_writes", lambda s: rules_on(s, "http_5xx_after", ORDER, "POST")),
    "429 storms": ("http_429_storm", lambda s: "http_429" in kinds(s)),
    "maintenance page": ("maintenance_503", lambda s: "maintenance_503" in kinds(s)),
    "stale market data": (
        "stale_market_data",
        lambda s: rules_on_type(s, "ws_drop_type", 432),
    ),
    "clock skew": (
        "clock_skew",
        lambda s: "clock_skew" in kinds(s) and expects(s, "observe", "clock"),
    ),
    "websocket drop": ("ws_drop", lambda s: "ws_drop" in kinds(s) and expects(s, "observe")),
    "websocket stall": (
        "ws_stall",
        lambda s: "ws_stall" in kinds(s) and expects(s, "observe", "stream"),
    ),
    "websocket gaps and malformed payloads": (
        "ws_gaps_malformed",
        lambda s: {"ws_gap", "ws_malformed", "ws_duplicate", "ws_reorder"} <= kinds(s),
    ),
    "uncertain submit": (
        "uncertain_submit",
        lambda s: rules_on(s, "timeout_after_apply", ORDER, "POST"),
    ),
    "uncertain cancel": (
        "uncertain_cancel",
        lambda s: rules_on(s, "timeout_after_apply", ORDER, "DELETE"),
    ),
    "cancel racing a fill": (
        "cancel_races_fill",
        lambda s: rules_on(s, "cancel_lag", ORDER, "DELETE") and s.market,
    ),
    "partial fills across a websocket gap": (
        "partial_fills_ws_gap",
        lambda s: rules_on_type(s, "ws_drop_type", 423) and rules_on_type(s, "ws_drop_type", 441),
    ),
    "an order visible late": (
        "late_visibility",
        lambda s: any(
            r["kind"] == "visibility_lag" and r["lag_ms"] >= 20_000 for r in s.faults["rule"]
        ),
    ),
    "crash after the intent is committed": (
        "crash_after_intent_commit",
        lambda s: [c.event for c in s.crashes] == ["after_intent_commit"],
    ),
    "crash after the request is sent": (
        "crash_after_request_sent",
        lambda s: [c.event for c in s.crashes] == ["after_request_sent"],
    ),
    "two restarts in a row": ("restart_twice", lambda s: len(s.crashes) == 2),
    "orders the bot did not place": ("external_orders", lambda s: "external_orders" in s.setup),
    "history longer than the lookback": (
        "history_beyond_lookback",
        lambda s: "history_orders" in s.setup and "lookback_ms" in s.bot["lifecycle"],
    ),
    "a malformed row in openOrders": (
        "malformed_open_orders",
        lambda s: rules_on(s, "malformed_row", "/api/v1/openorders"),
    ),
    "exchangeinfo unavailable at start-up": (
        "exchangeinfo_unavailable",
        lambda s: (
            rules_on(s, "http_5xx_before", "/api/v2/server/exchangeinfo")
            and expects(s, "observe", "rules")
        ),
    ),
    "an order status never seen": ("unknown_order_status", lambda s: "unknown_status" in s.setup),
    "a burst of private events beyond the queue": (
        "private_event_burst",
        lambda s: "private_queue_size" in s.setup and "burst_fills" in s.setup,
    ),
    "a malformed secret at start-up": ("bad_secret", lambda s: s.setup.get("bad_secret") is True),
    "several partial fills within one second": (
        "partial_fills_burst",
        lambda s: s.setup["burst_fills"] >= 2 and "private_queue_size" not in s.setup,
    ),
}

# Each canary: the scenario, and the invariant it is designed to trip.
CANARY_SCENARIOS = {
    "retry_submit_blindly": "canary_retry_submit_blindly",
    "timeout_is_rejection": "canary_timeout_is_rejection",
    "fills_by_order_id": "canary_fills_by_order_id",
    "swallow_reconcile_errors": "canary_swallow_reconcile_errors",
    "trust_stale_book": "canary_trust_stale_book",
}


@pytest.fixture(scope="module")
def suite() -> dict[str, Scenario]:
    return {scenario.name: scenario for scenario in load_suite()}


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_every_scenario_file_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.path == str(path)
    assert scenario.description
    assert 30 <= scenario.duration_s <= 180


@pytest.mark.parametrize("situation", SITUATIONS)
def test_the_gate_suite_covers_the_situation(situation: str, suite: dict[str, Scenario]) -> None:
    name, shows = SITUATIONS[situation]
    assert name in suite, f"no scenario for {situation}"
    scenario = suite[name]
    assert scenario.gate and scenario.canary is None
    assert shows(scenario), f"{name} does not set up {situation}"


@pytest.mark.parametrize("canary", CANARIES)
def test_every_canary_has_a_scenario_outside_the_gate(
    canary: str, suite: dict[str, Scenario]
) -> None:
    scenario = suite[CANARY_SCENARIOS[canary]]
    assert scenario.canary == canary
    assert not scenario.gate


def test_canaries_are_set_up_to_trip_their_invariant(suite: dict[str, Scenario]) -> None:
    for name in ("canary_retry_submit_blindly", "canary_timeout_is_rejection"):
        assert rules_on(suite[name], "timeout_after_apply", ORDER, "POST")  # invariant 1
    assert suite["canary_fills_by_order_id"].setup["burst_fills"] >= 2  # invariants 2 and 3
    for name, reason in (
        ("canary_swallow_reconcile_errors", "reconciliation"),
        ("canary_trust_stale_book", "stream"),
    ):  # invariant 7
        assert any(e.mode == "observe" and e.reason == reason for e in suite[name].expect_modes)


def test_the_gate_suite_is_every_scenario_without_a_canary() -> None:
    gate = load_suite(gate_only=True)
    assert {s.name for s in gate} == {s.name for s in load_suite() if s.canary is None}
    assert all(s.gate for s in gate)


def test_every_expected_reason_is_one_the_bot_gives() -> None:
    every_cause = ModeInputs(
        reconcile_failures_in_row=3,
        unknown_past_budget=("bb-1-x",),
        balance_divergences=1,
        rules_missing=("BTCTRY",),
        clock_trusted=False,
        manual_kill=True,
        stream_dirty=True,
    )
    reasons = causes(every_cause, ModeConfig())
    for scenario in load_suite():
        for expectation in scenario.expect_modes:
            assert any(expectation.reason.lower() in r.lower() for r in reasons), (
                scenario.name,
                expectation.reason,
            )


def test_a_suite_can_be_narrowed_by_name(tmp_path: Path) -> None:
    assert [s.name for s in load_suite(names=["ws_stall", "plain"])] == ["plain", "ws_stall"]
    with pytest.raises(ScenarioError, match="no scenario named 'nope'"):
        load_suite(names=["nope"])


def test_two_files_with_one_name_are_refused(tmp_path: Path) -> None:
    for stem in ("a", "b"):
        (tmp_path / f"{stem}.toml").write_text(MINIMAL)
    with pytest.raises(ScenarioError, match=r"b\.toml: name: 'tiny' is also"):
        load_suite(tmp_path)


def test_an_empty_directory_is_no_suite(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no scenario files"):
        load_suite(tmp_path)


MINIMAL = 'name = "tiny"\ndescription = "the least a scenario says"\n'


def test_a_minimal_scenario_takes_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(MINIMAL)
    scenario = load_scenario(path)
    assert scenario == Scenario(
        name="tiny", description="the least a scenario says", path=str(path)
    )


def test_the_fault_plan_is_kept_as_written() -> None:
    rule = {"kind": "ws_drop", "nth": 3}
    plain = parse_scenario({**tiny(), "seed": 9, "faults": {"rule": [rule]}})
    assert plain.faults == {"rule": [rule]}  # the engine seeds it from the run
    own = parse_scenario({**tiny(), "seed": 9, "faults": {"seed": 4, "rule": [rule]}})
    assert own.faults == {"seed": 4, "rule": [rule]}


def tiny() -> dict[str, object]:
    return tomllib.loads(MINIMAL)


def test_the_bot_overrides_round_trip_through_settings_toml() -> None:
    overrides = {
        "mode": "live",
        "lifecycle": {"visibility_budget_ms": 90_000, "reconcile_interval_s": 2.5},
        "strategy": {"pairs": ["BTCTRY", "ETHTRY"], "quantity": 0.0005, "pull_when_blind": True},
        "risk": {"max_position": {"default": 0.002, "ETHTRY": 0.05}},
    }
    assert tomllib.loads(settings_toml(overrides)) == overrides
    assert parse_scenario({**tiny(), "bot": overrides}).bot == overrides


BAD: list[tuple[str, str]] = [
    ('colour = "red"', "colour: unknown key"),
    ("seed = -1", "seed: must be at least 0"),
    ('duration_s = "2m"', "duration_s: must be a number"),
    ("tick_ms = 0.5", "tick_ms: must be an integer"),
    ('market = "yes"', "market: must be true or false"),
    ('engines = ["sim", "cloud"]', "engines: unknown engine 'cloud'"),
    ('canary = "forget_fills"\ngate = false', "canary: unknown canary 'forget_fills'"),
    ('canary = "fills_by_order_id"', "gate: a canary scenario"),
    ('[faults]\n[[faults.rule]]\nkind = "ws_flood"', "faults: rule 0: field 'kind'"),
    (
        '[faults]\n[[faults.rule]]\nkind = "ws_drop"\nwindow = { start_ms = 500000 }',
        "faults.rule[0].window.start_ms",
    ),
    ("[bot.lifecycle]\nvisibility_budget = 60000", "lifecycle.visibility_budget is not a setting"),
    ('[bot.lifecycle]\nvisibility_budget_ms = "60s"', "lifecycle.visibility_budget_ms must be"),
    ("[bot.colour]\nred = 1", "bot: colour is not a setting"),
    ('[bot.venue]\nrest_url = "https://api.btcturk.com"', "bot.venue.rest_url: set by the"),
    ('[bot.store]\nurl = "sqlite://"', "bot.store: set by the harness"),
    ('[[crash]]\nevent = "after_lunch"', "crash[0].event: unknown crash event 'after_lunch'"),
    ("[[crash]]\nrestart_after_s = 1", "crash[0]: give either at_s or event"),
    ('[[crash]]\nat_s = 10\nevent = "after_request_sent"', "crash[0]: give either at_s"),
    ("[[crash]]\nat_s = 500", "crash[0].at_s: 500 s is past"),
    ('[[crash]]\nevent = "after_request_sent"\nnth = 0', "crash[0].nth: must be at least 1"),
    ("[[crash]]\nat_s = 5\nwhen = 3", "crash[0].when: unknown key"),
    ('[[expect]]\nmode = "panic"\nwithin_s = 5', "expect[0].mode: must be one of"),
    ('[[expect]]\nmode = "observe"', "expect[0].within_s: required"),
    ('[[expect]]\nmode = "observe"\nwithin_s = 200', "expect[0].within_s: the window ends"),
    ('[[expect]]\nmode = "live"\nwithin_s = 5\nreason = "x"', "expect[0].reason: only for"),
    ('[[expect]]\nmode = "observe"\nwithin_s = 5\nreason = 3', "expect[0].reason: must be"),
    ('[expect]\nmode = "observe"', "expect: must be a list of tables"),
    ("[setup]\nsunshine = true", "setup.sunshine: unknown key"),
    ("[setup]\nexternal_orders = 2", "setup.external_orders: must be a list of tables"),
    ("[setup]\nexternal_orders = []", "setup.external_orders: must name at least one"),
    (
        '[setup]\nexternal_orders = [{ side = "up", price = 1, quantity = 1 }]',
        "setup.external_orders[0].side",
    ),
    (
        '[setup]\nexternal_orders = [{ side = "buy", quantity = 1 }]',
        "setup.external_orders[0].price: required",
    ),
    (
        '[setup]\nexternal_orders = [{ side = "buy", price = 1, quantity = 1, id = "x" }]',
        "setup.external_orders[0].id: unknown key",
    ),
    ('[setup]\nbalances = { TRY = "lots" }', "setup.balances.TRY: must be a decimal number"),
    ("[setup]\nbalances = { BTC = -1 }", "setup.balances.BTC: must be zero or more"),
    ('[setup]\nstatic_book = "yes"', "setup.static_book: must be true or false"),
    ("[setup]\nhistory_orders = { count = 3 }", "setup.history_orders: must be an integer"),
    ("[setup]\nhistory_orders = 0", "setup.history_orders: must be at least 1"),
    ('[setup]\nbad_secret = "abc"', "setup.bad_secret: must be true or false"),
    ("[setup]\nexchangeinfo_unavailable_s = 0", "setup.exchangeinfo_unavailable_s: must be"),
    ("[setup]\nprivate_queue_size = 0", "setup.private_queue_size: must be at least 1"),
    ("[setup]\nburst_fills = 1", "setup.burst_fills: must be at least 2"),
    ("[setup]\nburst_fills = { count = 4 }", "setup.burst_fills: must be an integer"),
    ("[setup]\nburst_at_s = -3", "setup.burst_at_s: must be zero or more"),
    ('[setup]\nunknown_status = "Closed"', "setup.unknown_status: 'Closed' is a status"),
    ("[setup]\nunknown_status = { after_s = 3 }", "setup.unknown_status.status: required"),
    (
        '[setup]\nunknown_status = { status = "New", for_s = 0 }',
        "setup.unknown_status.for_s: must be positive",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m for _, m in BAD])
def test_a_bad_scenario_is_refused_naming_the_file_and_the_key(
    text: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(MINIMAL + text + "\n")
    with pytest.raises(ScenarioError) as refused:
        load_scenario(path)
    assert str(refused.value).startswith(f"{path}: ")
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('description = "no name"', "name: required"),
        ('name = "tiny"', "description: required"),
        ('name = "Tiny Tim"\ndescription = "x"', "name: must match"),
        ("name = [", "not valid TOML"),
    ],
)
def test_a_file_without_its_identity_is_refused(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text + "\n")
    with pytest.raises(ScenarioError, match=message):
        load_scenario(path)


def test_a_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot be read"):
        load_scenario(tmp_path / "absent.toml")
