"""The mock's configuration: one frozen object, built once at the edge (CLI or harness)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mock_exchange.faults import FaultPlan
from mock_exchange.journal import DEFAULT_CAPACITY
from mock_exchange.stream import StreamConfig
from mock_exchange.venue import VenueConfig

__all__ = ["MockSettings"]


@dataclass(frozen=True)
class MockSettings:
    seed: int = 0
    accounts_file: Path | None = None
    market: bool = True
    venue: VenueConfig = field(default_factory=VenueConfig)
    rate_limits: bool = True
    rate_limit_scale: float = 1.0
    stamp_window_ms: int = 5_000
    # Observed on the venue in 2019-2020: auth failures answered HTTP 401 with
    # ``success: true`` (§2.4). Whether it still does is UNCONFIRMED; keeping the quirk
    # catches clients that trust ``success`` over the status.
    auth_failure_success: bool = True
    admin_token: str | None = None  # None: a random one, printed at start
    tick_ms: int = 50  # how often the live server carries out due work (cancels, market)
    max_body_bytes: int = 64 * 1024
    # The market's agents' closed orders and fills are forgotten after this long, so a
    # server left running does not grow without bound; every other account keeps all.
    agent_history_ms: int = 10 * 60_000
    faults: FaultPlan = field(default_factory=FaultPlan)  # no rules: a well-behaved venue
    # The journal keeps the venue's own accounts; the market's agents only when asked.
    journal_market: bool = False
    journal_capacity: int = DEFAULT_CAPACITY
    journal_path: Path | None = None  # also append every entry to this JSONL file
    stream: StreamConfig = field(default_factory=StreamConfig)

    def __post_init__(self) -> None:
        if self.rate_limit_scale <= 0:
            raise ValueError("rate_limit_scale must be positive")
        if self.stamp_window_ms <= 0:
            raise ValueError("stamp_window_ms must be positive")
        if self.tick_ms <= 0:
            raise ValueError("tick_ms must be positive")
        if self.journal_capacity < 1:
            raise ValueError("journal_capacity must be at least 1")
        if self.venue.cancel_delay_ms < 0:
            raise ValueError("cancel_delay_ms must be zero or more")
