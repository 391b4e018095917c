"""Per-endpoint rate limits, per IP and per account, as the venue enforces them. Pure.

The venue's rule (reference §6.3): a limit counts requests in a period that starts with the
first request; a request beyond the limit blocks the client for the block duration, and the
429 carries ``Retry-After`` in seconds. Endpoints absent from the venue's table
(server/time, exchangeinfo, v2 trades) are not limited here: their limits are UNCONFIRMED.
The two graph endpoints share the graph host's 600 per 10 minutes as well.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["DEFAULT_RULES", "Decision", "RateLimiter", "RateRule", "endpoint_of"]


@dataclass(frozen=True, slots=True)
class RateRule:
    method: str
    endpoint: str  # normalised path, see ``endpoint_of``
    limit: int
    period_ms: int
    block_ms: int
    policies: tuple[str, ...]  # "ip", "account"

    @property
    def period_text(self) -> str:
        seconds = self.period_ms // 1000
        if seconds % 60 == 0:
            return f"{seconds // 60}m"
        return f"{seconds}s"


_S = 1_000
_M = 60_000
DEFAULT_RULES: tuple[RateRule, ...] = (
    RateRule("GET", "/api/v1/users/balances", 120, _M, _M, ("ip",)),
    RateRule("POST", "/api/v1/order", 300, _M, _M, ("account", "ip")),
    RateRule("POST", "/api/v1/order", 10, _S, _S, ("account", "ip")),
    RateRule("DELETE", "/api/v1/order", 300, _M, _M, ("account", "ip")),
    RateRule("DELETE", "/api/v1/order", 10, _S, _S, ("account", "ip")),
    RateRule("GET", "/api/v1/order/{id}", 900, _M, _M, ("account", "ip")),
    RateRule("GET", "/api/v1/order/{id}", 30, _S, _S, ("account", "ip")),
    RateRule("GET", "/api/v1/openorders", 300, _M, _M, ("ip",)),
    RateRule("GET", "/api/v1/allorders", 300, _M, _M, ("ip",)),
    RateRule("GET", "/api/v1/trades", 90, _M, _M, ("ip",)),
    RateRule("GET", "/api/v1/users/transactions/trade", 120, _M, _M, ("ip",)),
    RateRule("GET", "/api/v2/ticker", 600, _M, _M, ("ip",)),
    RateRule("GET", "/api/v2/orderbook", 180, _M, _M, ("ip",)),
    RateRule("GET", "/v1/ohlcs", 120, _M, _M, ("ip",)),
    RateRule("GET", "/v1/ohlcs", 600, 10 * _M, 10 * _M, ("ip",)),
    RateRule("GET", "/v1/klines/history", 600, 10 * _M, 10 * _M, ("ip",)),
)

_ORDER_ID = re.compile(r"^/api/v1/order/[^/]+$")


def endpoint_of(path: str) -> str:
    """Lower-case, without a trailing slash, with the order id replaced by ``{id}``."""
    path = path.lower().rstrip("/") or "/"
    if _ORDER_ID.match(path):
        return "/api/v1/order/{id}"
    return path


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: RateRule | None = None
    policy: str = ""
    retry_after_s: int = 0
    limit: int = 0


@dataclass(slots=True)
class _Window:
    start: int
    count: int = 0
    blocked_until: int = 0


class RateLimiter:
    """Counts requests per (rule, policy, subject) and decides; ``now`` is passed in."""

    def __init__(
        self,
        rules: tuple[RateRule, ...] = DEFAULT_RULES,
        *,
        scale: float = 1.0,
        enabled: bool = True,
    ) -> None:
        if scale <= 0:
            raise ValueError("rate-limit scale must be positive")
        self.enabled = enabled
        self.scale = scale
        self._by_endpoint: dict[tuple[str, str], list[tuple[int, RateRule]]] = {}
        for index, rule in enumerate(rules):
            self._by_endpoint.setdefault((rule.method, rule.endpoint), []).append((index, rule))
        self._windows: dict[tuple[int, str, str], _Window] = {}

    def limit_of(self, rule: RateRule) -> int:
        return max(1, math.floor(rule.limit * self.scale))

    def check(self, method: str, path: str, ip: str, account: str | None, now: int) -> Decision:
        if not self.enabled:
            return Decision(True)
        rules = self._by_endpoint.get((method.upper(), endpoint_of(path)))
        if not rules:
            return Decision(True)
        subjects = {"ip": ip, "account": account}
        keyed: list[tuple[RateRule, str, _Window]] = []
        for index, rule in rules:
            for policy in rule.policies:
                subject = subjects[policy]
                if subject is None:
                    continue
                window = self._windows.get((index, policy, subject))
                if window is None:
                    window = self._windows[(index, policy, subject)] = _Window(now)
                if window.blocked_until > now:
                    return self._deny(rule, policy, window.blocked_until - now)
                if now >= window.start + rule.period_ms:
                    window.start, window.count = now, 0
                keyed.append((rule, policy, window))
        for rule, policy, window in keyed:
            window.count += 1
            if window.count > self.limit_of(rule):
                window.blocked_until = now + rule.block_ms
                return self._deny(rule, policy, rule.block_ms)
        return Decision(True)

    def _deny(self, rule: RateRule, policy: str, remaining_ms: int) -> Decision:
        return Decision(
            allowed=False,
            rule=rule,
            policy=policy,
            retry_after_s=max(1, math.ceil(remaining_ms / 1000)),
            limit=self.limit_of(rule),
        )

    def reset(self) -> None:
        self._windows.clear()
