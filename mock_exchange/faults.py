"""The mock venue's fault plan: seeded rules as data, and the decisions they make. Pure.

A plan is a seed and ordered rules. A rule matches an HTTP request (``endpoint``: ``"*"`` or a
path, normalised by ``ratelimit.endpoint_of``; ``method``: default any) or an outgoing
websocket message (``msg_type``: an int, a list or ``"*"``), optionally for one ``account``
(public key). It fires by one trigger: ``probability`` (0..1); ``nth`` (N or [N, ...]) and/or
``every`` (N), counting the rule's matching events; or ``window`` {start_ms, end_ms}, ms since
the plan started (``Faults(start_ms=...)``); with none, on every match. ``max_fires`` caps a
rule; ``name`` (default ``"<kind>#<index>"``) must be unique.

Whether a rule fires on its n-th match, and every value it draws, is
``sha256(f"{seed}:{name}:{n}:{purpose}")`` mapped to [0, 1): one seed and one sequence of
events replay one schedule of faults. The counters in ``FaultState`` are the only state.

A request gets at most one outcome (the first firing outcome rule in plan order) plus the
additive faults that can still take effect: latency always; visibility_lag and cancel_lag if
the request is applied; malformed_row if the body is delivered. A websocket message gets at
most one fault. A suppressed fault counted the event but not towards ``max_fires``.

=====================  =======================================  ======================
kind                   parameters (default)                     Firing fields set
=====================  =======================================  ======================
http_429               retry_after s (1)                        status, retry_after_s
http_5xx_before        status (500); not applied                status
http_5xx_after         status (500); applied, then the 5xx      status
timeout_after_apply    hold_ms (60000); applied, no answer      until_ms
maintenance_503        none; body MAINTENANCE_HTML              status
latency                ms, or min_ms and max_ms (uniform)       delay_ms
visibility_lag         lag_ms, views (all of VIEWS)             until_ms, views
cancel_lag             lag_ms: the async cancel's delay         until_ms
malformed_row          corruption ("any")                       row_key, corruption
clock_skew             skew_ms (+: venue ahead), in window      none: see skew_at(now)
ws_drop                none: close the socket                   -
ws_stall               duration_ms (or to the window's end)     until_ms
ws_gap / ws_duplicate  none; msg_type (432)                     -
ws_reorder             none; msg_type (432): after the next     -
ws_malformed           corruption ("any"); msg_type (431, 432)  row_key, corruption
ws_drop_type           msg_type (one int, required)             -
=====================  =======================================  ======================

A plan file (TOML; JSON takes the same shape, ``{"seed": 7, "rule": [{...}]}``)::

    seed = 7

    [[rule]]
    kind = "http_5xx_after"
    endpoint = "/api/v1/order"
    method = "POST"
    nth = [3, 10]
    status = 502

    [[rule]]
    kind = "clock_skew"
    window = { start_ms = 60000, end_ms = 120000 }
    skew_ms = 7000

API: ``FaultPlan.from_text(text, "toml")``, ``.from_mapping(data)``, ``.to_mapping()``;
``Faults(plan, start_ms=now)`` with ``on_request(method, path, now, account)``,
``on_ws_message(msg_type, now, account)``, ``skew_at(now)`` and ``active(kind, now)``;
``corrupt_rows(rows, firing.row_key, firing.corruption)``. Bad input raises ``FaultPlanError``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Any, Literal

from mock_exchange.ratelimit import endpoint_of

__all__ = [
    "CORRUPTIONS",
    "GARBAGE",
    "KINDS",
    "MAINTENANCE_HTML",
    "VIEWS",
    "FaultPlan",
    "FaultPlanError",
    "FaultState",
    "Faults",
    "Firing",
    "Rule",
    "Window",
    "corrupt_row",
    "corrupt_rows",
]

MAINTENANCE_HTML = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>503 Service Temporarily Unavailable</title></head>
<body>
<center><h1>503 Service Temporarily Unavailable</h1></center>
<p>We are performing scheduled maintenance. We will be back shortly.</p>
<hr><center>cloudflare</center>
</body>
</html>
"""
VIEWS = ("openOrders", "allOrders", "order", "transactions")
CORRUPTIONS = ("drop_field", "garbage_number", "null_field", "null_row")
GARBAGE = "1.2.3x"  # looks numeric at a glance, parses as nothing
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

# How far a request gets under an outcome, and how far it must get for an additive fault.
REFUSED, LOST, DELIVERED = 0, 1, 2


class FaultPlanError(ValueError):
    """A fault plan that cannot be used; the message names the rule and the field."""


_Check = Callable[[object], Any]
_REQUIRED = object()


def _int(value: object, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"must be {span}, got {value}")
    return value


_ms, _count, _status = partial(_int, low=0), partial(_int, low=1), partial(_int, low=500, high=599)


def _ints(check: _Check) -> _Check:
    """One value or a non-empty list of them, as a sorted tuple without repeats."""

    def parse(value: object) -> tuple[int, ...]:
        values = value if isinstance(value, list) and value else [value]
        return tuple(sorted({check(item) for item in values}))

    return parse


def _msg_types(value: object) -> tuple[int, ...] | None:
    return None if value == "*" else _ints(_ms)(value)


def _views(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or any(view not in VIEWS for view in value):
        raise ValueError(f"must be a non-empty list drawn from {list(VIEWS)}, got {value!r}")
    return tuple(dict.fromkeys(value))


def _corruption(value: object) -> str:
    if value != "any" and value not in CORRUPTIONS:
        raise ValueError(f"must be 'any' or one of {list(CORRUPTIONS)}, got {value!r}")
    return str(value)


def _endpoint(value: object) -> str:
    if value == "*":
        return "*"
    if not isinstance(value, str) or not value.startswith("/") or re.search(r"[?\s]", value):
        raise ValueError(f"must be '*' or a path such as '/api/v1/order', got {value!r}")
    return endpoint_of(value)


def _method(value: object) -> str:
    if not isinstance(value, str) or value.upper() not in METHODS:
        raise ValueError(f"must be one of {sorted(METHODS)}, got {value!r}")
    return value.upper()


def _account(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"must be a public key, got {value!r}")
    return value


def _probability(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"must be a number between 0 and 1, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class Window:
    """Milliseconds since the plan started: ``start_ms`` included, ``end_ms`` excluded."""

    start_ms: int = 0
    end_ms: int | None = None  # None: open-ended

    def __contains__(self, elapsed: int) -> bool:
        return self.start_ms <= elapsed and (self.end_ms is None or elapsed < self.end_ms)

    @classmethod
    def parse(cls, value: object) -> Window:
        if not isinstance(value, Mapping) or set(value) - {"start_ms", "end_ms"}:
            raise ValueError(f"must be a table of start_ms and end_ms, got {value!r}")
        start = _ms(value.get("start_ms", 0))
        end = None if value.get("end_ms") is None else _ms(value["end_ms"])
        if end is not None and end <= start:
            raise ValueError(f"end_ms ({end}) must be after start_ms ({start})")
        return cls(start, end)


@dataclass(frozen=True, slots=True)
class _Kind:
    scope: str  # "http", "ws" or "clock"
    params: Mapping[str, tuple[_Check, object]] = field(default_factory=dict)  # check, default
    outcome: bool = False
    stage: int = DELIVERED  # outcome: how far the request got; additive: how far it must get
    msg_types: tuple[int, ...] | None = None  # what a ws kind matches by default; None: any


_STATUS = {"status": (_status, 500)}
_CORRUPT = {"corruption": (_corruption, "any")}
_LAG: dict[str, tuple[_Check, object]] = {"lag_ms": (_ms, _REQUIRED)}
_LATENCY = {"ms": (_ms, None), "min_ms": (_ms, None), "max_ms": (_ms, None)}
_KINDS: dict[str, _Kind] = {
    "http_429": _Kind("http", {"retry_after": (_ms, 1)}, True, REFUSED),
    "http_5xx_before": _Kind("http", _STATUS, True, REFUSED),
    "http_5xx_after": _Kind("http", _STATUS, True, LOST),
    "timeout_after_apply": _Kind("http", {"hold_ms": (_ms, 60_000)}, True, LOST),
    "maintenance_503": _Kind("http", {}, True, REFUSED),
    "latency": _Kind("http", _LATENCY, stage=REFUSED),
    "visibility_lag": _Kind("http", _LAG | {"views": (_views, VIEWS)}, stage=LOST),
    "cancel_lag": _Kind("http", _LAG, stage=LOST),
    "malformed_row": _Kind("http", _CORRUPT),
    "clock_skew": _Kind("clock", {"skew_ms": (_int, _REQUIRED)}),
    "ws_drop": _Kind("ws", outcome=True),
    "ws_stall": _Kind("ws", {"duration_ms": (_ms, None)}, outcome=True),
    "ws_gap": _Kind("ws", outcome=True, msg_types=(432,)),
    "ws_duplicate": _Kind("ws", outcome=True, msg_types=(432,)),
    "ws_reorder": _Kind("ws", outcome=True, msg_types=(432,)),
    "ws_malformed": _Kind("ws", _CORRUPT, outcome=True, msg_types=(431, 432)),
    "ws_drop_type": _Kind("ws", outcome=True),  # msg_type required: one int
}
KINDS: tuple[str, ...] = tuple(_KINDS)
_SCOPE_KEYS = {"http": {"endpoint", "method", "account"}, "ws": {"msg_type", "account"}}
_EVENT_KEYS = {"probability", "nth", "every", "max_fires"}
_NAME = re.compile(r"^[A-Za-z0-9_.#:-]+$")
_NUMBER = re.compile(r"-?\d+(\.\d*)?([eE][-+]?\d+)?")


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    kind: str
    params: Mapping[str, Any]  # the kind's parameters, defaults filled in
    endpoint: str = "*"
    method: str | None = None  # None: any
    msg_types: tuple[int, ...] | None = None  # None: any
    account: str | None = None
    probability: float | None = None
    nth: tuple[int, ...] = ()
    every: int | None = None
    window: Window | None = None
    max_fires: int | None = None

    def to_mapping(self) -> dict[str, Any]:
        scope, types = _KINDS[self.kind].scope, self.msg_types
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if scope == "http":
            out["endpoint"] = self.endpoint
        if scope == "ws":
            out["msg_type"] = "*" if types is None else types[0] if len(types) == 1 else [*types]
        if self.nth:
            out["nth"] = [*self.nth]
        if self.window is not None:
            out["window"] = {"start_ms": self.window.start_ms, "end_ms": self.window.end_ms}
            if self.window.end_ms is None:
                del out["window"]["end_ms"]
        optional = [
            ("method", self.method),
            ("account", self.account),
            ("probability", self.probability),
            ("every", self.every),
            ("max_fires", self.max_fires),
            *self.params.items(),
        ]
        out.update((k, [*v] if isinstance(v, tuple) else v) for k, v in optional if v is not None)
        return out


@dataclass(frozen=True, slots=True)
class FaultPlan:
    seed: int = 0
    rules: tuple[Rule, ...] = ()

    @classmethod
    def from_text(cls, text: str, fmt: Literal["toml", "json"] = "toml") -> FaultPlan:
        if fmt not in ("toml", "json"):
            raise FaultPlanError(f"fault plan: format must be 'toml' or 'json', got {fmt!r}")
        try:
            data = tomllib.loads(text) if fmt == "toml" else json.loads(text)
        except ValueError as exc:  # both decode errors are ValueErrors
            raise FaultPlanError(f"fault plan: not valid {fmt}: {exc}") from None
        if not isinstance(data, Mapping):
            raise FaultPlanError(f"fault plan: must be a table, got {type(data).__name__}")
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FaultPlan:
        if unknown := sorted(set(data) - {"seed", "rule"}):
            raise FaultPlanError(f"fault plan: unknown keys {unknown}; allowed: seed, rule")
        try:
            seed = _int(data["seed"])
        except (KeyError, ValueError) as exc:
            why = "required" if isinstance(exc, KeyError) else exc
            raise FaultPlanError(f"fault plan: field 'seed': {why}") from None
        raw = data.get("rule", [])
        if not isinstance(raw, list):
            raise FaultPlanError("fault plan: field 'rule': must be a list of tables")
        rules = tuple(_parse_rule(index, item) for index, item in enumerate(raw))
        names = [rule.name for rule in rules]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise FaultPlanError(f"rule {index} ({name}): field 'name': not unique")
        return cls(seed, rules)

    def to_mapping(self) -> dict[str, Any]:
        return {"seed": self.seed, "rule": [rule.to_mapping() for rule in self.rules]}


def _parse_rule(index: int, data: object) -> Rule:
    where = f"rule {index}"
    if not isinstance(data, Mapping):
        raise FaultPlanError(f"{where}: must be a table, got {type(data).__name__}")
    kind_name = data.get("kind")
    if not isinstance(kind_name, str) or kind_name not in _KINDS:
        raise FaultPlanError(f"{where}: field 'kind': unknown kind {kind_name!r}; known: {KINDS}")
    kind = _KINDS[kind_name]
    name = data.get("name", f"{kind_name}#{index}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise FaultPlanError(f"{where}: field 'name': must match {_NAME.pattern}, got {name!r}")
    where = f"rule {index} ({name})"

    def fail(key: str, why: str) -> FaultPlanError:
        return FaultPlanError(f"{where}: field {key!r}: {why}")

    allowed = {"kind", "name", "window", *_SCOPE_KEYS.get(kind.scope, ()), *kind.params}
    if kind.scope != "clock":
        allowed |= _EVENT_KEYS
    for key in data:
        if key in allowed:
            continue
        if kind.scope == "ws" and key in ("endpoint", "method"):
            raise fail(key, f"{kind_name} is a websocket kind; it matches msg_type")
        if kind.scope == "http" and key == "msg_type":
            raise fail(key, f"{kind_name} is an HTTP kind; it matches endpoint and method")
        if kind.scope == "clock" and key in {"msg_type", *_SCOPE_KEYS["http"], *_EVENT_KEYS}:
            raise fail(key, f"{kind_name} applies to the clock within its window only")
        raise fail(key, f"unknown key for {kind_name}; allowed: {sorted(allowed)}")

    def get(key: str, check: _Check, default: object = None) -> Any:
        if key not in data:
            if default is _REQUIRED:
                raise fail(key, f"required for {kind_name}")
            return default
        try:
            return check(data[key])
        except ValueError as exc:
            raise fail(key, str(exc)) from None

    params = {key: get(key, check, default) for key, (check, default) in kind.params.items()}
    triggers = [key for key in ("probability", "nth", "window") if key in data]
    if "every" in data and "nth" not in data:
        triggers.append("every")
    if len(triggers) > 1:
        raise fail(triggers[1], f"a rule fires by one trigger; got {' and '.join(triggers)}")
    window = get("window", Window.parse)
    if kind_name == "latency":
        fixed, low, high = params["ms"], params["min_ms"], params["max_ms"]
        if fixed is not None and (low, high) != (None, None):
            raise fail("ms", "latency takes either ms or min_ms and max_ms, not both")
        if fixed is None and low is None and high is None:
            raise fail("ms", "latency needs ms, or both min_ms and max_ms")
        if fixed is None and (low is None or high is None):
            raise fail("min_ms" if low is None else "max_ms", "latency needs both bounds")
        if fixed is None and low > high:
            raise fail("min_ms", f"must not exceed max_ms ({high}), got {low}")
    stall_ends = params.get("duration_ms") is not None or (window and window.end_ms is not None)
    if kind_name == "ws_stall" and not stall_ends:
        raise fail("duration_ms", "required unless the rule has a window with an end_ms")
    if kind_name == "ws_drop_type" and not isinstance(data.get("msg_type"), int):
        raise fail("msg_type", "ws_drop_type stops one message type: give one integer")
    return Rule(
        name=name,
        kind=kind_name,
        params=MappingProxyType({k: v for k, v in params.items() if v is not None}),
        endpoint=get("endpoint", _endpoint, "*"),
        method=get("method", _method),
        msg_types=get("msg_type", _msg_types, kind.msg_types),
        account=get("account", _account),
        probability=get("probability", _probability),
        nth=get("nth", _ints(_count), ()),
        every=get("every", _count),
        window=window,
        max_fires=get("max_fires", _count),
    )


@dataclass(frozen=True, slots=True)
class Firing:
    """One fault to apply now. Only the fields of its kind are set (see the table above)."""

    rule: str
    kind: str
    counter: int  # the rule's count of matching events, this one included
    params: Mapping[str, Any]
    status: int = 0
    retry_after_s: int = 0
    delay_ms: int = 0
    until_ms: int = 0  # venue time: end of the hold, the lag or the stall
    views: tuple[str, ...] = ()
    row_key: int = 0
    corruption: str = ""

    @property
    def outcome(self) -> bool:
        return _KINDS[self.kind].outcome


@dataclass(slots=True)
class FaultState:
    """Per rule name: matching events seen, and firings delivered."""

    counters: dict[str, int] = field(default_factory=dict)
    fires: dict[str, int] = field(default_factory=dict)


class Faults:
    """A plan and its counters. ``now`` is venue time in ms; windows count from ``start_ms``."""

    def __init__(
        self, plan: FaultPlan, *, start_ms: int = 0, state: FaultState | None = None
    ) -> None:
        self.plan = plan
        self.start_ms = start_ms
        self.state = state if state is not None else FaultState()
        self._http = [r for r in plan.rules if _KINDS[r.kind].scope == "http"]
        self._ws = [r for r in plan.rules if _KINDS[r.kind].scope == "ws"]

    def on_request(
        self, method: str, path: str, now: int, account: str | None = None
    ) -> list[Firing]:
        """Faults for one HTTP request: at most one outcome, in rule order."""
        if not self._http:
            return []
        endpoint, method = endpoint_of(path.partition("?")[0]), method.upper()
        fired = [
            firing
            for rule in self._http
            if rule.endpoint in ("*", endpoint)
            and rule.method in (None, method)
            and rule.account in (None, account)
            and (firing := self._decide(rule, now))
        ]
        outcome = next((f for f in fired if f.outcome), None)
        reach = DELIVERED if outcome is None else _KINDS[outcome.kind].stage
        return self._deliver(
            [f for f in fired if f is outcome or (not f.outcome and _KINDS[f.kind].stage <= reach)]
        )

    def on_ws_message(self, msg_type: int, now: int, account: str | None = None) -> list[Firing]:
        """The fault, if any, for one outgoing websocket message: the first in rule order."""
        fired = [
            firing
            for rule in self._ws
            if (rule.msg_types is None or msg_type in rule.msg_types)
            and rule.account in (None, account)
            and (firing := self._decide(rule, now))
        ]
        return self._deliver(fired[:1])

    def skew_at(self, now: int) -> int:
        """How far the venue's clock is ahead at ``now``, in ms (negative: behind)."""
        return sum(int(rule.params["skew_ms"]) for rule in self.active("clock_skew", now))

    def active(self, kind: str, now: int) -> tuple[Rule, ...]:
        """Rules of ``kind`` standing at ``now``: inside their window, or without a trigger.

        Rules that fire by probability or count are events, never standing."""
        if kind not in _KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        elapsed = now - self.start_ms
        return tuple(
            rule
            for rule in self.plan.rules
            if rule.kind == kind
            and (rule.probability, rule.nth, rule.every) == (None, (), None)
            and (rule.window is None or elapsed in rule.window)
        )

    def _decide(self, rule: Rule, now: int) -> Firing | None:
        counters, name = self.state.counters, rule.name
        n = counters[name] = counters.get(name, 0) + 1
        if rule.max_fires is not None and self.state.fires.get(name, 0) >= rule.max_fires:
            return None
        if rule.probability is not None:
            fires = self._unit(name, n, "fire") < rule.probability
        elif rule.nth or rule.every is not None:
            fires = n in rule.nth or (rule.every is not None and n % rule.every == 0)
        else:
            fires = rule.window is None or now - self.start_ms in rule.window
        return self._firing(rule, n, now) if fires else None

    def _firing(self, rule: Rule, n: int, now: int) -> Firing:
        p, kind = rule.params, rule.kind
        values: dict[str, Any] = {}
        if kind == "http_429":
            values = {"status": 429, "retry_after_s": p["retry_after"]}
        elif kind in ("http_5xx_before", "http_5xx_after"):
            values = {"status": p["status"]}
        elif kind == "maintenance_503":
            values = {"status": 503}
        elif kind == "timeout_after_apply":
            values = {"until_ms": now + p["hold_ms"]}
        elif kind == "latency" and "ms" in p:
            values = {"delay_ms": p["ms"]}
        elif kind == "latency":
            span = p["max_ms"] - p["min_ms"] + 1
            values = {"delay_ms": p["min_ms"] + math.floor(self._unit(rule.name, n, "ms") * span)}
        elif kind == "visibility_lag":
            values = {"until_ms": now + p["lag_ms"], "views": p["views"]}
        elif kind == "cancel_lag":
            values = {"until_ms": now + p["lag_ms"]}
        elif kind == "ws_stall" and "duration_ms" in p:
            values = {"until_ms": now + p["duration_ms"]}
        elif kind == "ws_stall":
            assert rule.window is not None and rule.window.end_ms is not None
            values = {"until_ms": self.start_ms + rule.window.end_ms}
        elif kind in ("malformed_row", "ws_malformed"):
            corruption = p["corruption"]
            if corruption == "any":
                corruption = CORRUPTIONS[self._bits(rule.name, n, "corruption") % len(CORRUPTIONS)]
            values = {"row_key": self._bits(rule.name, n, "row"), "corruption": corruption}
        return Firing(rule.name, kind, n, p, **values)

    def _deliver(self, chosen: list[Firing]) -> list[Firing]:
        for firing in chosen:
            self.state.fires[firing.rule] = self.state.fires.get(firing.rule, 0) + 1
        return chosen

    def _bits(self, name: str, n: int, purpose: str) -> int:
        text = f"{self.plan.seed}:{name}:{n}:{purpose}"
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")

    def _unit(self, name: str, n: int, purpose: str) -> float:
        return self._bits(name, n, purpose) / 2**64


def corrupt_rows(
    rows: Sequence[Mapping[str, Any]], key: int, corruption: str
) -> tuple[list[dict[str, Any] | None], int]:
    """A copy of ``rows`` with row ``key % len(rows)`` corrupted, and that index (-1: empty)."""
    out: list[dict[str, Any] | None] = [dict(row) for row in rows]
    if not out:
        return out, -1
    index = key % len(out)
    out[index] = corrupt_row(rows[index], key // len(out), corruption)
    return out, index


def corrupt_row(row: Mapping[str, Any], key: int, corruption: str) -> dict[str, Any] | None:
    """``row`` with one field (chosen by ``key``) dropped, made garbage or null; or None.

    Always a change: a row with no field to garble or null loses one, an empty row is null."""
    if corruption not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {corruption!r}; known: {CORRUPTIONS}")
    names = sorted(row)
    if corruption == "null_row" or not names:
        return None
    if corruption == "garbage_number":
        numeric = [k for k in names if _numeric(row[k])]
        names = numeric or [k for k in names if row[k] != GARBAGE]
    elif corruption == "null_field":
        names = [k for k in names if row[k] is not None]
    if not names:
        corruption, names = "drop_field", sorted(row)
    target, out = names[key % len(names)], dict(row)
    if corruption == "drop_field":
        del out[target]
    else:
        out[target] = GARBAGE if corruption == "garbage_number" else None
    return out


def _numeric(value: object) -> bool:
    if isinstance(value, str):
        return _NUMBER.fullmatch(value) is not None
    return isinstance(value, int | float) and not isinstance(value, bool)
