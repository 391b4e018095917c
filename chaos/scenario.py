"""Scenarios as data: one TOML file each (``chaos/scenarios/*.toml``), read into a
``chaos.model.Scenario`` and checked strictly. Anything wrong is a ``ScenarioError`` naming
the file and the key: an unknown key, a wrong type, an unknown canary or crash event, a fault
plan the mock would refuse, a bot setting the bot would refuse.

The shape of a file::

    name = "submit_timeout"              # unique in the suite: [a-z0-9_-]
    description = "what it proves"
    seed = 7                             # default 1
    duration_s = 120                     # virtual seconds, default 120
    tick_ms = 500                        # the bot's step, default 500
    market = true                        # the mock's market agents, default true
    gate = true                          # part of the gate suite, default true
    engines = ["sim", "wire"]            # default both
    canary = "retry_submit_blindly"      # optional, one of chaos.model.CANARIES; gate = false

    [faults]                             # a fault plan mapping (mock_exchange.faults)
    seed = 7                             # optional
    [[faults.rule]]
    kind = "timeout_after_apply"
    endpoint = "/api/v1/order"
    method = "POST"
    nth = 2

    [bot.lifecycle]                      # BotSettings sections, as in btcbot.toml
    visibility_budget_ms = 60000         # (not profile, venue URLs or the store)

    [[crash]]                            # at_s = 30, or event + nth; restart_after_s
    event = "after_intent_commit"        # one of chaos.model.CRASH_EVENTS
    nth = 1
    restart_after_s = 2

    [[expect]]                           # a ModeExpectation
    mode = "observe"
    within_s = 40
    after_s = 0
    reason = "reconciliation"            # a part of one of the bot's reasons
    then_live_within_s = 30

    [setup]                              # the engine prepares the venue and the bot
    burst_fills = 6

``[setup]`` keys, as the sim engine reads them (``chaos/engines/sim.py`` says how it acts
on each); this module checks their types:

==============================  ======================================================
key                             value
==============================  ======================================================
``balances``                    {asset = amount}: the bot account's starting funds
``static_book``                 bool: a helper account rests a few levels each side
``external_orders``             [{side, price, quantity, pair?}]: resting orders on the
                                bot's account, placed before it starts, not by it
``history_orders``              N: filled orders of the bot's account from before its
                                lookback
``bad_secret``                  true: the bot is given a secret that is not strict base64
``exchangeinfo_unavailable_s``  N: exchangeinfo answers 503 for the first N seconds
``private_queue_size``          N: the bot's private event queue holds N events
``burst_fills``                 N (at least 2): N partial fills of one resting bot order
                                within one second
``burst_at_s``                  when the burst starts
``unknown_status``              a status text the bot has never seen, or {status, after_s?,
                                for_s?}. The mock only sends its four real statuses, so
                                the engine rewrites the ``status`` of the bot's order rows
                                in ``openOrders``, ``allOrders`` and ``order/{id}`` to it
                                (from ``after_s``, for ``for_s``)
==============================  ======================================================

``[faults]`` is kept as written (a plan without a ``seed`` takes the run's); it is checked
with the scenario's seed standing in for a missing one, and a rule whose window opens
after the run's end is refused.

``settings_toml(scenario.bot)`` writes the ``bot`` overrides as TOML, for
``bot.settings.load_settings``; it is how they are checked here.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
import tomllib
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.settings import load_settings
from chaos.model import CANARIES, CRASH_EVENTS, CrashPoint, ModeExpectation, Scenario
from mock_exchange.faults import FaultPlan, FaultPlanError

__all__ = [
    "ENGINES",
    "SCENARIO_DIR",
    "SETUP_KEYS",
    "ScenarioError",
    "load_scenario",
    "load_suite",
    "parse_scenario",
    "settings_toml",
]

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
ENGINES = ("sim", "wire")
MODES = ("observe", "live")
SETUP_KEYS = (
    "balances",
    "static_book",
    "external_orders",
    "history_orders",
    "bad_secret",
    "exchangeinfo_unavailable_s",
    "private_queue_size",
    "burst_fills",
    "burst_at_s",
    "unknown_status",
)
VENUE_STATUSES = ("untouched", "partial", "canceled", "closed")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_PAIR = re.compile(r"^[A-Z0-9]{2,20}$")
_TOP = (
    "name",
    "description",
    "seed",
    "duration_s",
    "tick_ms",
    "market",
    "gate",
    "engines",
    "canary",
    "faults",
    "bot",
    "crash",
    "expect",
    "setup",
)
# Where the harness points the bot and keeps its books: never a scenario's to change.
_HARNESS_OWNS = ("profile", "venue.rest_url", "venue.ws_url", "store")


class ScenarioError(ValueError):
    """A scenario that cannot be run; the message names the file and the key."""


class _Bad(Exception):
    """A check failed at ``key``; turned into a ScenarioError with the file's name."""

    def __init__(self, key: str, why: str) -> None:
        super().__init__(f"{key}: {why}")


# -- values ---------------------------------------------------------------------------------


def _kind(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _int(key: str, value: object, low: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(key, f"must be an integer, got {_kind(value)}")
    if low is not None and value < low:
        raise _Bad(key, f"must be at least {low}, got {value}")
    return value


def _number(key: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Bad(key, f"must be a number, got {_kind(value)}")
    if value < 0 or (positive and value == 0):
        raise _Bad(key, f"must be {'positive' if positive else 'zero or more'}, got {value}")
    return float(value)


def _bool(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise _Bad(key, f"must be true or false, got {_kind(value)}")
    return value


def _str(key: str, value: object, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise _Bad(key, f"must be a non-empty string, got {_kind(value)}")
    return value


def _amount(key: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Bad(key, f"must be a decimal number or string, got {_kind(value)}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise _Bad(key, f"must be a decimal number, got {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise _Bad(key, f"must be positive, got {value!r}")
    return str(value)


def _table(key: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(key, f"must be a table, got {_kind(value)}")
    return value


def _tables(key: str, value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _Bad(key, f"must be a list of tables ([[{key}]]), got {_kind(value)}")
    return [_table(f"{key}[{index}]", item) for index, item in enumerate(value)]


def _known(key: str, table: Mapping[str, Any], allowed: Sequence[str]) -> None:
    for name in table:
        if name not in allowed:
            where = f"{key}.{name}" if key else name
            raise _Bad(where, f"unknown key; allowed: {', '.join(allowed)}")


def _required(key: str, table: Mapping[str, Any], name: str) -> Any:
    if name not in table:
        raise _Bad(f"{key}.{name}" if key else name, "required")
    return table[name]


# -- sections -------------------------------------------------------------------------------


def _crash(key: str, table: dict[str, Any], duration_s: float) -> CrashPoint:
    _known(key, table, ("at_s", "event", "nth", "restart_after_s"))
    if ("at_s" in table) == ("event" in table):
        raise _Bad(key, "give either at_s or event (with nth), not both or neither")
    at_s = event = None
    if "at_s" in table:
        at_s = _number(f"{key}.at_s", table["at_s"])
        if at_s >= duration_s:
            raise _Bad(f"{key}.at_s", f"{at_s:g} s is past the run's {duration_s:g} s")
        if "nth" in table:
            raise _Bad(f"{key}.nth", "counts the crash event; a crash at_s has none")
    else:
        event = _str(f"{key}.event", table["event"])
        if event not in CRASH_EVENTS:
            raise _Bad(f"{key}.event", f"unknown crash event {event!r}; known: {CRASH_EVENTS}")
    nth = _int(f"{key}.nth", table.get("nth", 1), low=1)
    restart = _number(f"{key}.restart_after_s", table.get("restart_after_s", 1.0))
    return CrashPoint(at_s=at_s, event=event, nth=nth, restart_after_s=restart)


def _expect(key: str, table: dict[str, Any], duration_s: float) -> ModeExpectation:
    _known(key, table, ("mode", "within_s", "after_s", "reason", "then_live_within_s"))
    mode = _str(f"{key}.mode", _required(key, table, "mode"))
    if mode not in MODES:
        raise _Bad(f"{key}.mode", f"must be one of {MODES}, got {mode!r}")
    within = _number(f"{key}.within_s", _required(key, table, "within_s"), positive=True)
    after = _number(f"{key}.after_s", table.get("after_s", 0.0))
    if after + within > duration_s:
        ends = after + within
        raise _Bad(f"{key}.within_s", f"the window ends at {ends:g} s, after the run's end")
    reason = _str(f"{key}.reason", table.get("reason", ""), empty=True)
    then_live = table.get("then_live_within_s")
    if then_live is not None:
        then_live = _number(f"{key}.then_live_within_s", then_live, positive=True)
    if mode == "live" and (reason or then_live is not None):
        bad = "reason" if reason else "then_live_within_s"
        raise _Bad(f"{key}.{bad}", "only for mode = 'observe'")
    return ModeExpectation(mode, within, after, reason, then_live)


def _faults(table: dict[str, Any], seed: int, duration_s: float) -> dict[str, Any]:
    try:
        plan = FaultPlan.from_mapping({"seed": seed, **table})
    except FaultPlanError as exc:
        raise _Bad("faults", str(exc)) from None
    for index, rule in enumerate(plan.rules):
        if rule.window is not None and rule.window.start_ms >= duration_s * 1000:
            raise _Bad(
                f"faults.rule[{index}].window.start_ms",
                f"{rule.window.start_ms} ms is past the run's {duration_s:g} s",
            )
    return table


def _bot(table: dict[str, Any]) -> dict[str, Any]:
    for owned in _HARNESS_OWNS:
        section, _, name = owned.partition(".")
        inner = table.get(section)
        if (not name and section in table) or (isinstance(inner, dict) and name in inner):
            raise _Bad(f"bot.{owned}", "set by the harness, not by a scenario")
    with tempfile.TemporaryDirectory(prefix="chaos-scenario-") as folder:
        path = Path(folder) / "btcbot.toml"
        try:
            path.write_text(settings_toml(table), encoding="utf-8")
        except ValueError as exc:
            raise _Bad("bot", str(exc)) from None
        try:
            load_settings(path, {}, require_secrets=False)
        except ConfigError as exc:
            raise _Bad("bot", str(exc).replace(str(path), "[bot]")) from None
    return table


# -- setup ----------------------------------------------------------------------------------


def _external_orders(key: str, value: object) -> object:
    orders = _tables(key, value)
    if not orders:
        raise _Bad(key, "must name at least one order")
    for index, order in enumerate(orders):
        where = f"{key}[{index}]"
        _known(where, order, ("side", "price", "quantity", "pair"))
        side = _str(f"{where}.side", _required(where, order, "side"))
        if side.lower() not in ("buy", "sell"):
            raise _Bad(f"{where}.side", f"must be 'buy' or 'sell', got {side!r}")
        _amount(f"{where}.price", _required(where, order, "price"))
        _amount(f"{where}.quantity", _required(where, order, "quantity"))
        if "pair" in order:
            _pair(f"{where}.pair", order["pair"])
    return value


def _pair(key: str, value: object) -> str:
    pair = _str(key, value)
    if not _PAIR.match(pair):
        raise _Bad(key, f"must be a pair such as BTCTRY, got {pair!r}")
    return pair


def _balances(key: str, value: object) -> object:
    for asset, amount in _table(key, value).items():
        where = f"{key}.{asset}"
        if not re.fullmatch(r"[A-Za-z0-9]{2,10}", asset):
            raise _Bad(where, "must be an asset such as TRY or BTC")
        if isinstance(amount, bool) or not isinstance(amount, int | float | str):
            raise _Bad(where, f"must be a decimal number or string, got {_kind(amount)}")
        try:
            funds = Decimal(str(amount))
        except InvalidOperation:
            raise _Bad(where, f"must be a decimal number, got {amount!r}") from None
        if not funds.is_finite() or funds < 0:
            raise _Bad(where, f"must be zero or more, got {amount!r}")
    return value


def _status_text(key: str, value: object) -> str:
    status = _str(key, value)
    if status.lower() in VENUE_STATUSES:
        raise _Bad(key, f"{status!r} is a status the bot knows; give one it has never seen")
    return status


def _unknown_status(key: str, value: object) -> object:
    if not isinstance(value, dict):
        return _status_text(key, value)
    _known(key, value, ("status", "after_s", "for_s"))
    _status_text(f"{key}.status", _required(key, value, "status"))
    if "after_s" in value:
        _number(f"{key}.after_s", value["after_s"])
    if "for_s" in value:
        _number(f"{key}.for_s", value["for_s"], positive=True)
    return value


_SETUP: dict[str, Callable[[str, object], object]] = {
    "balances": _balances,
    "static_book": _bool,
    "external_orders": _external_orders,
    "history_orders": lambda key, value: _int(key, value, low=1),
    "bad_secret": _bool,
    "exchangeinfo_unavailable_s": lambda key, value: _number(key, value, positive=True),
    "private_queue_size": lambda key, value: _int(key, value, low=1),
    "burst_fills": lambda key, value: _int(key, value, low=2),
    "burst_at_s": _number,
    "unknown_status": _unknown_status,
}
assert tuple(_SETUP) == SETUP_KEYS


def _setup(table: dict[str, Any]) -> dict[str, Any]:
    _known("setup", table, SETUP_KEYS)
    for name, value in table.items():
        _SETUP[name](f"setup.{name}", value)
    return table


# -- the scenario ---------------------------------------------------------------------------


def parse_scenario(data: Mapping[str, Any], path: str = "<scenario>") -> Scenario:
    """A scenario from its decoded TOML table; ``path`` names it in errors."""
    try:
        return _parse(data, path)
    except _Bad as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def _parse(data: Mapping[str, Any], path: str) -> Scenario:
    _known("", data, _TOP)
    name = _str("name", _required("", data, "name")).strip()
    if not _NAME.match(name):
        raise _Bad("name", f"must match {_NAME.pattern}, got {name!r}")
    description = _str("description", _required("", data, "description"))
    seed = _int("seed", data.get("seed", 1), low=0)
    duration = _number("duration_s", data.get("duration_s", 120.0), positive=True)
    tick_ms = _int("tick_ms", data.get("tick_ms", 500), low=1)
    market = _bool("market", data.get("market", True))
    gate = _bool("gate", data.get("gate", True))
    engines_raw = data.get("engines", list(ENGINES))
    if not isinstance(engines_raw, list) or not engines_raw:
        raise _Bad("engines", f"must be a non-empty list drawn from {ENGINES}")
    for engine in engines_raw:
        if engine not in ENGINES:
            raise _Bad("engines", f"unknown engine {engine!r}; known: {ENGINES}")
    if len(set(engines_raw)) != len(engines_raw):
        raise _Bad("engines", "names an engine twice")
    canary = data.get("canary")
    if canary is not None:
        canary = _str("canary", canary)
        if canary not in CANARIES:
            raise _Bad("canary", f"unknown canary {canary!r}; known: {CANARIES}")
        if gate:
            raise _Bad("gate", "a canary scenario proves the harness, not the bot: gate = false")
    faults = _faults(_table("faults", data["faults"]), seed, duration) if "faults" in data else {}
    bot = _bot(_table("bot", data["bot"])) if "bot" in data else {}
    crashes = tuple(
        _crash(f"crash[{i}]", table, duration)
        for i, table in enumerate(_tables("crash", data.get("crash", [])))
    )
    expectations = tuple(
        _expect(f"expect[{i}]", table, duration)
        for i, table in enumerate(_tables("expect", data.get("expect", [])))
    )
    setup = _setup(_table("setup", data["setup"])) if "setup" in data else {}
    return Scenario(
        name=name,
        description=description.strip(),
        seed=seed,
        duration_s=duration,
        tick_ms=tick_ms,
        market=market,
        faults=faults,
        bot=bot,
        crashes=crashes,
        expect_modes=expectations,
        setup=setup,
        canary=canary,
        engines=tuple(engines_raw),
        gate=gate,
        path=path,
    )


def load_scenario(path: str | Path) -> Scenario:
    """The scenario in the TOML file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot be read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    return parse_scenario(data, str(path))


def load_suite(
    directory: str | Path | None = None,
    names: Sequence[str] | None = None,
    gate_only: bool = False,
) -> list[Scenario]:
    """Every scenario in ``directory`` (``chaos/scenarios``), by file name; only those named
    (an unknown name is an error), only the gate's with ``gate_only``."""
    folder = Path(directory) if directory is not None else SCENARIO_DIR
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise ScenarioError(f"{folder}: no scenario files (*.toml)")
    scenarios: list[Scenario] = []
    seen: dict[str, str] = {}
    for file in files:
        scenario = load_scenario(file)
        if scenario.name in seen:
            raise ScenarioError(f"{file}: name: {scenario.name!r} is also {seen[scenario.name]}")
        seen[scenario.name] = str(file)
        scenarios.append(scenario)
    if names is not None:
        if unknown := [n for n in names if n not in seen]:
            raise ScenarioError(f"{folder}: no scenario named {', '.join(map(repr, unknown))}")
        wanted = set(names)
        scenarios = [s for s in scenarios if s.name in wanted]
    if gate_only:
        scenarios = [s for s in scenarios if s.gate]
    return scenarios


# -- the bot's overrides as TOML ------------------------------------------------------------


def settings_toml(overrides: Mapping[str, Any]) -> str:
    """``overrides`` (top-level keys, then sections of keys) as a ``btcbot.toml`` text."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in overrides.items() if not isinstance(v, Mapping)]
    for section, table in overrides.items():
        if isinstance(table, Mapping):
            lines.append(f"\n[{_key(section)}]")
            lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _key(name: object) -> str:
    if not isinstance(name, str):
        raise ValueError(f"a settings key must be a string, got {name!r}")
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise ValueError(f"a settings value cannot be {type(value).__name__}")
