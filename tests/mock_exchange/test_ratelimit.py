"""Per-endpoint limits as the venue counts them: a window from the first request, a block
after a breach, ``Retry-After`` in seconds, per IP and per account."""

from __future__ import annotations

import pytest

from mock_exchange.ratelimit import RateLimiter, endpoint_of


def hammer(limiter: RateLimiter, n: int, now: int = 0, **kw: str | None) -> list[bool]:
    ip = kw.get("ip") or "1.1.1.1"
    account = kw.get("account")
    return [
        limiter.check("GET", "/api/v1/users/balances", ip, account, now).allowed for _ in range(n)
    ]


def test_paths_are_normalised_and_order_ids_share_one_counter() -> None:
    assert endpoint_of("/API/v1/Order/123/") == "/api/v1/order/{id}"
    assert endpoint_of("/api/v2/orderBook") == "/api/v2/orderbook"


def test_the_121st_balance_request_in_a_minute_is_refused_and_blocks_for_a_minute() -> None:
    limiter = RateLimiter()
    assert all(hammer(limiter, 120))
    denied = limiter.check("GET", "/api/v1/users/balances", "1.1.1.1", None, 30_000)
    assert not denied.allowed
    assert (denied.limit, denied.policy, denied.retry_after_s) == (120, "ip", 60)
    still = limiter.check("GET", "/api/v1/users/balances", "1.1.1.1", None, 89_000)
    assert not still.allowed and still.retry_after_s == 1
    assert limiter.check("GET", "/api/v1/users/balances", "1.1.1.1", None, 90_000).allowed


def test_another_ip_has_its_own_counter() -> None:
    limiter = RateLimiter()
    hammer(limiter, 121)
    assert hammer(limiter, 1, ip="2.2.2.2") == [True]


def test_orders_are_limited_per_second_per_account_too() -> None:
    limiter = RateLimiter()
    decisions = [
        limiter.check("POST", "/api/v1/order", f"10.0.0.{i}", "acct", 0) for i in range(11)
    ]
    assert all(d.allowed for d in decisions[:10])
    assert not decisions[10].allowed and decisions[10].policy == "account"
    assert decisions[10].retry_after_s == 1


def test_unlisted_endpoints_are_not_limited() -> None:
    limiter = RateLimiter()
    assert all(
        limiter.check("GET", "/api/v2/server/time", "ip", None, 0).allowed for _ in range(1000)
    )


@pytest.mark.parametrize(("scale", "allowed"), [(0.5, 60), (2.0, 240)])
def test_limits_scale(scale: float, allowed: int) -> None:
    assert sum(hammer(RateLimiter(scale=scale), 300)) == allowed


def test_limits_can_be_switched_off() -> None:
    assert all(hammer(RateLimiter(enabled=False), 500))
