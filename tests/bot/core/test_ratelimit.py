"""The bot's request budget: the venue's table with a margin, one quota shared by every
caller, waits instead of 429s, and Retry-After honoured."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.ratelimit import VENUE_LIMITS, Limit, RateBudget, endpoint_of
from mock_exchange.ratelimit import DEFAULT_RULES, RateLimiter

ORDER = "/api/v1/order"
BALANCES = "/api/v1/users/balances"


def spend(budget: RateBudget, method: str, path: str, n: int, now: int = 0) -> list[int]:
    return [budget.reserve(method, path, now) for _ in range(n)]


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/API/v1/Order/123/", "/api/v1/order/{id}"),
        ("/api/v1/order/abc", "/api/v1/order/{id}"),
        ("/api/v1/order?id=42", "/api/v1/order"),
        ("/api/v1/order/", "/api/v1/order"),
        ("/api/v2/orderBook", "/api/v2/orderbook"),
        ("https://graph-api.btcturk.com/v1/ohlcs?pair=BTCTRY", "/v1/ohlcs"),
        ("/api/v1/openOrders", "/api/v1/openorders"),
    ],
)
def test_paths_map_to_the_tables_endpoint_keys(path: str, key: str) -> None:
    assert endpoint_of(path) == key


def test_the_table_mirrors_every_limit_the_mock_venue_enforces() -> None:
    ours = {
        (lim.method, endpoint, lim.limit, lim.period_ms, frozenset(lim.policy))
        for lim in VENUE_LIMITS
        for endpoint in lim.endpoints
    }
    venue = {
        (r.method, r.endpoint, r.limit, r.period_ms, frozenset(r.policies)) for r in DEFAULT_RULES
    }
    assert venue <= ours


def test_every_table_key_is_already_normalised() -> None:
    assert all(endpoint_of(e) == e for lim in VENUE_LIMITS for e in lim.endpoints)


def test_eight_orders_a_second_go_at_once_and_the_ninth_waits_for_the_window() -> None:
    budget = RateBudget(jitter_ms=0)
    assert spend(budget, "POST", ORDER, 8) == [0] * 8
    assert budget.reserve("POST", ORDER, 0) == 1_000
    assert budget.reserve("POST", ORDER, 999) == 1
    assert budget.reserve("POST", ORDER, 1_000) == 0


def test_the_jitter_allowance_stretches_every_window() -> None:
    budget = RateBudget(jitter_ms=200)
    spend(budget, "POST", ORDER, 8)
    assert budget.reserve("POST", ORDER, 1_000) == 200
    assert budget.reserve("POST", ORDER, 1_200) == 0


def test_a_refused_request_spends_nothing() -> None:
    budget = RateBudget(jitter_ms=0)
    spend(budget, "GET", BALANCES, 96)  # 120 * 0.8
    assert all(wait > 0 for wait in spend(budget, "GET", BALANCES, 50, now=30_000))
    assert budget.snapshot(30_000).buckets[0].used == 96
    assert budget.reserve("GET", BALANCES, 60_000) == 0


def test_a_request_spends_on_every_bucket_of_its_endpoint() -> None:
    budget = RateBudget(jitter_ms=0)
    for second in range(30):  # 8 a second for 30 s fills the 240-per-minute bucket
        assert spend(budget, "POST", ORDER, 8, now=second * 1_000) == [0] * 8
    assert budget.reserve("POST", ORDER, 30_000) == 30_000


def test_submits_and_cancels_have_separate_quotas() -> None:
    budget = RateBudget()
    spend(budget, "POST", ORDER, 8)
    assert budget.reserve("DELETE", ORDER + "?id=1", 0) == 0


def test_single_order_reads_share_one_quota_whatever_the_id() -> None:
    budget = RateBudget(jitter_ms=0)
    waits = [budget.reserve("GET", f"/api/v1/order/{i}", 0) for i in range(25)]
    assert waits == [0] * 24 + [1_000]


def test_the_graph_hosts_quota_is_shared_by_its_endpoints() -> None:
    budget = RateBudget(jitter_ms=0)
    assert spend(budget, "GET", "/v1/klines/history", 480) == [0] * 480
    assert budget.reserve("GET", "/v1/ohlcs", 0) == 600_000


def test_endpoints_outside_the_table_always_pass() -> None:
    budget = RateBudget()
    assert spend(budget, "GET", "/api/v2/server/time", 10_000) == [0] * 10_000


def test_margin_one_allows_the_venues_limit_and_a_tiny_margin_still_allows_one() -> None:
    assert spend(RateBudget(margin=1.0), "POST", ORDER, 11) == [0] * 10 + [1_200]
    assert spend(RateBudget(margin=0.01), "POST", ORDER, 2)[0] == 0
    assert spend(RateBudget(margin=0.01), "POST", ORDER, 2)[1] > 0


@pytest.mark.parametrize("margin", [0.0, -0.5, 1.01])
def test_a_margin_outside_zero_to_one_is_refused(margin: float) -> None:
    with pytest.raises(ValueError, match="margin"):
        RateBudget(margin=margin)


def test_a_429_blocks_its_endpoint_until_retry_after_and_nothing_else() -> None:
    budget = RateBudget()
    budget.block("GET", BALANCES, 55, now_ms=1_000)
    assert budget.reserve("GET", BALANCES, 1_000) == 55_000
    assert budget.reserve("GET", BALANCES, 55_999) == 1
    assert budget.reserve("GET", "/api/v1/openOrders", 1_000) == 0
    assert budget.reserve("GET", BALANCES, 56_000) == 0


def test_a_429_blocks_an_endpoint_outside_the_table_too() -> None:
    budget = RateBudget()
    budget.block("GET", "/api/v2/server/time", 1.5, now_ms=0)
    assert budget.reserve("GET", "/api/v2/server/time", 0) == 1_500


def test_a_shorter_later_block_never_shortens_one_in_force() -> None:
    budget = RateBudget()
    budget.block("POST", ORDER, 60, now_ms=0)
    budget.block("POST", ORDER, 1, now_ms=10_000)
    assert budget.reserve("POST", ORDER, 10_000) == 50_000


def test_a_process_wide_block_stops_every_endpoint() -> None:
    budget = RateBudget()
    budget.block_all(10, now_ms=0)
    assert budget.reserve("GET", "/api/v2/ticker", 5_000) == 5_000
    assert budget.reserve("GET", "/anything", 9_000) == 1_000
    assert budget.reserve("GET", "/anything", 10_000) == 0


def test_a_clock_that_steps_back_never_frees_quota_early() -> None:
    budget = RateBudget(jitter_ms=0)
    spend(budget, "POST", ORDER, 8, now=5_000)
    assert budget.reserve("POST", ORDER, 4_000) == 1_000


def test_the_snapshot_shows_use_waits_and_blocks_in_force() -> None:
    budget = RateBudget(jitter_ms=0)
    spend(budget, "POST", ORDER, 8, now=0)
    budget.block("GET", BALANCES, 2, now_ms=0)
    budget.block("GET", "/api/v2/ticker", 0.5, now_ms=0)
    budget.block_all(0.1, now_ms=0)
    snap = budget.snapshot(700)
    per_second = next(
        b for b in snap.buckets if (b.method, b.endpoint, b.window_ms) == ("POST", ORDER, 1_000)
    )
    assert (per_second.capacity, per_second.used, per_second.wait_ms) == (8, 8, 300)
    assert snap.blocked == (("GET", BALANCES, 2_000),)
    assert snap.blocked_all_until_ms == 0


ONE = Limit("GET", "/x", 10, 1_000, ("ip",))


@given(
    gaps=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=200),
    margin=st.floats(min_value=0.05, max_value=1.0),
    jitter=st.integers(min_value=0, max_value=300),
)
def test_no_window_of_a_period_ever_holds_more_than_a_buckets_capacity(
    gaps: list[int], margin: float, jitter: int
) -> None:
    budget = RateBudget((ONE,), margin=margin, jitter_ms=jitter)
    capacity = budget.snapshot(0).buckets[0].capacity
    now, granted = 0, []
    for gap in gaps:
        now += gap
        if budget.reserve("GET", "/x", now) == 0:
            granted.append(now)
    window = ONE.period_ms + jitter
    for start in granted:
        assert sum(1 for t in granted if start <= t < start + window) <= capacity


@given(
    gaps=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=300),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_a_waiting_caller_never_earns_a_429_from_the_venue(gaps: list[int], seed: int) -> None:
    """Requests sent whenever the budget allows, arriving after up to 200 ms of latency."""
    budget, venue = RateBudget(jitter_ms=200), RateLimiter()
    latency = random.Random(seed)
    now, arrivals = 0, []
    for gap in gaps:
        now += gap
        wait = budget.reserve("POST", ORDER, now)
        if wait:  # wait as told, then go
            now += wait
            assert budget.reserve("POST", ORDER, now) == 0
        arrivals.append(now + latency.randint(0, 200))
    for at in sorted(arrivals):
        assert venue.check("POST", ORDER, "1.1.1.1", "acct", at).allowed, at


def test_the_same_traffic_without_the_budget_would_earn_a_429() -> None:
    venue = RateLimiter()
    assert not all(venue.check("POST", ORDER, "ip", "acct", t * 10).allowed for t in range(200))
