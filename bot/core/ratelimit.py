"""The bot's own request budget: per-endpoint buckets mirroring the venue's limits. Pure.

Owns the table of the venue's limits (reference §6.3), the normalisation of a path to the
table's endpoint key, and the decision "may this request go now, and if not, how long to
wait". Time comes in as Unix or monotonic milliseconds; nothing here sleeps.

Why a margin. Another process on the same IP (a second bot, a shell script) spends the same
per-IP quota, and our table may lag the venue's. A 429 is costly (the block lasts the whole
period, and storms of them end in bans: field lessons, 10), so each bucket holds only
``floor(limit * margin)`` requests, 80 % by default.

Why a jitter allowance. The venue counts by arrival, which we cannot see: two bursts sent a
period apart can land less than a period apart when the first was slow. Each bucket's window
is therefore ``period + jitter_ms`` long in send time, so any period of arrivals holds no
more than a bucket's capacity as long as latency varies by less than ``jitter_ms``.

Why shared. The venue's quotas are per IP and per account, not per caller: the order loop,
the reconciler and the fill backfill all spend the same quota. One ``RateBudget`` per process,
handed to every caller, is the only way the sum stays under the limit.

Why a window log, not a refilling bucket. A classic token bucket of capacity C refilled at C
per period lets 2C through in one period (a full burst, then a period's refill), which at an
80 % margin is 1.6 times the venue's limit. Each bucket here remembers its last C grants and
admits a request only when fewer than C fall within the past (stretched) period, so no
window of that length ever holds more than C: the guarantee the venue's counter needs.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "VENUE_LIMITS",
    "BucketView",
    "Limit",
    "RateBudget",
    "RateSnapshot",
    "endpoint_of",
]


@dataclass(frozen=True, slots=True)
class Limit:
    """One row of the venue's table: at most ``limit`` requests per ``period_ms``.

    ``shared_with`` lists further endpoints that spend the same quota (the graph host's
    600 per 10 minutes covers every graph endpoint)."""

    method: str
    endpoint: str  # see ``endpoint_of``
    limit: int
    period_ms: int
    policy: tuple[str, ...]  # "ip", "account": whose counter the venue keeps
    shared_with: tuple[str, ...] = ()

    @property
    def endpoints(self) -> tuple[str, ...]:
        return (self.endpoint, *self.shared_with)


_S = 1_000
_M = 60_000
_ACCOUNT_IP = ("account", "ip")
_IP = ("ip",)
VENUE_LIMITS: tuple[Limit, ...] = (
    Limit("GET", "/api/v1/users/balances", 120, _M, _IP),
    Limit("POST", "/api/v1/order", 300, _M, _ACCOUNT_IP),
    Limit("POST", "/api/v1/order", 10, _S, _ACCOUNT_IP),
    Limit("DELETE", "/api/v1/order", 300, _M, _ACCOUNT_IP),
    Limit("DELETE", "/api/v1/order", 10, _S, _ACCOUNT_IP),
    Limit("GET", "/api/v1/order/{id}", 900, _M, _ACCOUNT_IP),
    Limit("GET", "/api/v1/order/{id}", 30, _S, _ACCOUNT_IP),
    Limit("GET", "/api/v1/openorders", 300, _M, _IP),
    Limit("GET", "/api/v1/allorders", 300, _M, _IP),
    Limit("GET", "/api/v1/trades", 90, _M, _IP),
    Limit("GET", "/api/v1/users/transactions/trade", 120, _M, _IP),
    Limit("GET", "/api/v1/users/transactions/crypto", 90, _M, _IP),
    Limit("GET", "/api/v1/users/transactions/fiat", 90, _M, _IP),
    Limit("GET", "/api/v2/ticker", 600, _M, _IP),
    Limit("GET", "/api/v2/orderbook", 180, _M, _IP),
    Limit("GET", "/v1/ohlcs", 120, _M, _IP),
    Limit("GET", "/v1/ohlcs", 600, 10 * _M, _IP, shared_with=("/v1/klines/history",)),
)

_ORDER_ID = re.compile(r"^/api/v1/order/[^/]+$")


def endpoint_of(path: str) -> str:
    """The table's key for a path or URL: lower case (the venue routes case-insensitively),
    without query or trailing slash, with a single order's id replaced by ``{id}``."""
    path = urlsplit(path).path.lower().rstrip("/") or "/"
    if _ORDER_ID.match(path):
        return "/api/v1/order/{id}"
    return path


@dataclass(slots=True)
class _Bucket:
    limit: Limit
    capacity: int
    window_ms: int  # the period plus the jitter allowance
    grants: deque[int] = field(default_factory=deque)  # the last ``capacity`` grant times

    def wait_ms(self, now: int) -> int:
        if len(self.grants) < self.capacity:
            return 0
        return max(0, self.grants[0] + self.window_ms - now)

    def used(self, now: int) -> int:
        return sum(1 for t in self.grants if t > now - self.window_ms)

    def take(self, now: int) -> None:
        self.grants.append(now)
        if len(self.grants) > self.capacity:
            self.grants.popleft()


@dataclass(frozen=True, slots=True)
class BucketView:
    method: str
    endpoint: str
    window_ms: int  # the period plus the jitter allowance
    capacity: int
    used: int  # grants within the past window
    wait_ms: int  # until the next grant; 0 when one may go now


@dataclass(frozen=True, slots=True)
class RateSnapshot:
    at_ms: int
    buckets: tuple[BucketView, ...]
    blocked: tuple[tuple[str, str, int], ...]  # (method, endpoint, until_ms), still in force
    blocked_all_until_ms: int  # 0 when no process-wide block is in force


class RateBudget:
    """Every bucket the venue's table implies, plus the blocks 429s have imposed.

    ``now_ms`` must come from one monotonic clock; a reading earlier than one already seen
    is taken as the latest seen, so a clock step never frees quota early."""

    def __init__(
        self,
        limits: tuple[Limit, ...] = VENUE_LIMITS,
        margin: float = 0.8,
        jitter_ms: int = 200,
    ) -> None:
        if not 0 < margin <= 1:
            raise ValueError(f"rate-limit margin must be in (0, 1], got {margin}")
        if jitter_ms < 0:
            raise ValueError(f"jitter allowance must not be negative, got {jitter_ms}")
        self.margin = margin
        self.jitter_ms = jitter_ms
        self._buckets = [
            _Bucket(lim, max(1, math.floor(lim.limit * margin)), lim.period_ms + jitter_ms)
            for lim in limits
        ]
        self._by_key: dict[tuple[str, str], list[_Bucket]] = {}
        for bucket in self._buckets:
            for endpoint in bucket.limit.endpoints:
                key = (bucket.limit.method.upper(), endpoint)
                self._by_key.setdefault(key, []).append(bucket)
        self._blocked: dict[tuple[str, str], int] = {}
        self._blocked_all = 0
        self._now = -(2**62)

    def reserve(self, method: str, path: str, now_ms: int) -> int:
        """0 if the request may go now (its tokens are spent on every bucket that applies);
        otherwise the milliseconds to wait, with nothing spent. Endpoints outside the table
        always pass unless a 429 blocked them."""
        now = self._tick(now_ms)
        key = (method.upper(), endpoint_of(path))
        buckets = self._by_key.get(key, [])
        wait = max(
            self._blocked_all - now,
            self._blocked.get(key, now) - now,
            *(bucket.wait_ms(now) for bucket in buckets),
            0,
        )
        if wait == 0:
            for bucket in buckets:
                bucket.take(now)
        return wait

    def block(self, method: str, path: str, retry_after_s: float, now_ms: int) -> None:
        """Honour a 429: the endpoint refuses until ``Retry-After`` has passed. A later,
        shorter block never shortens one already in force."""
        now = self._tick(now_ms)
        key = (method.upper(), endpoint_of(path))
        self._blocked[key] = max(self._blocked.get(key, 0), now + _ms(retry_after_s))

    def block_all(self, retry_after_s: float, now_ms: int) -> None:
        """Refuse every endpoint until then: for a penalty that covers the whole IP (a ban,
        a CDN's 429 without the venue's body)."""
        now = self._tick(now_ms)
        self._blocked_all = max(self._blocked_all, now + _ms(retry_after_s))

    def snapshot(self, now_ms: int) -> RateSnapshot:
        now = self._tick(now_ms)
        return RateSnapshot(
            at_ms=now,
            buckets=tuple(
                BucketView(
                    method=b.limit.method,
                    endpoint=b.limit.endpoint,
                    window_ms=b.window_ms,
                    capacity=b.capacity,
                    used=b.used(now),
                    wait_ms=b.wait_ms(now),
                )
                for b in self._buckets
            ),
            blocked=tuple(
                (method, endpoint, until)
                for (method, endpoint), until in sorted(self._blocked.items())
                if until > now
            ),
            blocked_all_until_ms=self._blocked_all if self._blocked_all > now else 0,
        )

    def _tick(self, now_ms: int) -> int:
        self._now = max(self._now, now_ms)
        return self._now


def _ms(seconds: float) -> int:
    if not math.isfinite(seconds):
        raise ValueError(f"Retry-After must be finite, got {seconds}")
    return max(0, math.ceil(seconds * 1000))
