"""The harness's values: a scenario (data, from a TOML file), what one run leaves behind
(ground truth from the mock, the bot's books, its logs and modes), and a violation.

Engines turn a ``Scenario`` and a seed into a ``RunResult``; invariants read a
``RunResult`` and return ``Violation``s, each naming the order, fill or line that broke it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CANARIES",
    "CRASH_EVENTS",
    "CrashPoint",
    "ModeExpectation",
    "RunResult",
    "Scenario",
    "Violation",
]

# Deliberately broken bot behaviours, switchable for tests only: the harness must catch each.
CANARIES = (
    "retry_submit_blindly",  # an uncertain submit is sent again under a new client id
    "timeout_is_rejection",  # an uncertain submit is marked rejected (and resubmitted)
    "fills_by_order_id",  # fills deduplicated by order id: a second partial fill is lost
    "swallow_reconcile_errors",  # a failed reconcile is not counted: no drop to observe
    "trust_stale_book",  # quotes on a dirty or stale book
)

# Where a crash can be placed besides a time: between the write-ahead commit and the
# request, and between the request and its response.
CRASH_EVENTS = ("after_intent_commit", "after_request_sent")


@dataclass(frozen=True)
class CrashPoint:
    at_s: float | None = None  # a time into the run, or
    event: str | None = None  # the n-th time the bot reaches one of CRASH_EVENTS
    nth: int = 1
    restart_after_s: float = 1.0  # the bot is down this long, then starts on the same store


@dataclass(frozen=True)
class ModeExpectation:
    mode: str  # "observe" or "live"
    within_s: float  # entered at most this long after the start of the run (or of ``after_s``)
    after_s: float = 0.0
    reason: str = ""  # a part of the reason the bot gives
    then_live_within_s: float | None = None  # and trading resumed this long after entering


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    seed: int = 1
    duration_s: float = 120.0
    tick_ms: int = 500  # the bot's step
    market: bool = True  # the mock's market agents
    faults: dict[str, Any] = field(default_factory=dict)  # a fault plan mapping (faults.py)
    bot: dict[str, Any] = field(default_factory=dict)  # BotSettings TOML sections, overrides
    crashes: tuple[CrashPoint, ...] = ()
    expect_modes: tuple[ModeExpectation, ...] = ()
    setup: dict[str, Any] = field(default_factory=dict)  # see chaos/scenario.py
    canary: str | None = None
    engines: tuple[str, ...] = ("sim", "wire")
    gate: bool = True  # part of the gate suite
    path: str = ""


@dataclass(frozen=True)
class Violation:
    invariant: int  # 1..10, DESIGN.md's numbering
    name: str
    subject: str  # the order (client or venue id), fill (trade id) or log line
    detail: str


@dataclass
class RunResult:
    scenario: str
    seed: int
    engine: str
    canary: str | None
    duration_ms: int
    # Ground truth from the mock.
    journal: list[dict[str, Any]]  # /__admin/journal entries
    venue_orders: list[dict[str, Any]]  # /__admin/orders rows of the bot's account
    venue_fills: list[dict[str, Any]]  # /__admin/fills rows of the bot's account
    venue_balances: dict[str, dict[str, str]]  # asset -> total/locked/free
    # The bot's books after its final reconcile.
    bot_orders: list[dict[str, Any]]  # store rows (LocalOrder fields)
    bot_fills: list[dict[str, Any]]  # trade_id, order_id, client_id, amount, ...
    bot_balances: dict[str, str]  # asset -> total the bot believes (start + fills)
    bot_positions: dict[str, str]
    mode_history: list[dict[str, Any]]  # {"at_ms", "mode", "reasons"}
    illegal_transitions: int
    unknown_past_budget: list[str]  # client ids still unknown past budget at the end
    rate_limit_blocks: int  # 429s the venue's own limiter gave (not injected ones)
    log_lines: list[str]
    secrets: list[str]  # strings that must never appear in a log line
    start_ms: int = 0
    notes: list[str] = field(default_factory=list)
    expectations: tuple[ModeExpectation, ...] = ()
    visibility_budget_ms: int = 60_000
