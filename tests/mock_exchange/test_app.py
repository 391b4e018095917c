"""The service object carries out due work and keeps a long-running market bounded."""

from __future__ import annotations

from mock_exchange.app import MockExchange
from mock_exchange.clock import VirtualClock
from mock_exchange.settings import MockSettings
from tests.conftest import ALICE


def test_a_long_market_run_keeps_only_recent_agent_history() -> None:
    clock = VirtualClock()
    mock = MockExchange(MockSettings(seed=3, agent_history_ms=5 * 60_000), clock, [ALICE])
    for _ in range(20 * 60 * 4):  # twenty simulated minutes at the market's 250 ms step
        clock.advance(250)
        mock.advance()
    assert mock.market is not None
    oldest = min(o.updated for o in mock.venue.orders.values() if not o.is_open)
    assert clock.now_ms() - oldest <= 6 * 60_000, "closed agent orders older than 5 min are gone"
    assert min(f.timestamp for f in mock.venue.fills) >= clock.now_ms() - 6 * 60_000
    assert mock.venue.books["BTCTRY"].best_bid() is not None, "the market still trades"
