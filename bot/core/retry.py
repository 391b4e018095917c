"""What to do after a failed request, and how long to wait first. Pure (STYLE.md, rule 6).

Owns the classifier (an error and whether the request was a write, to a ``Decision``), the
delay generator (exponential backoff with full jitter) and the budget of attempts. The one
loop that sleeps lives in the adapter and reads, in outline::

    attempt = 0
    while True:
        attempt += 1
        try:
            return await send()
        except BotError as exc:
            decision = classify(exc, write=write)
            if not policy.should_retry(attempt, elapsed_s(), decision):
                raise  # UNCERTAIN goes to the lifecycle, which looks the client id up
            await sleep(backoff.wait_s(decision, attempt))

The table, by error and kind of request:

    error                     read              write
    RateLimited (429)         RETRY after it    RETRY after it   (refused before the venue acts)
    Uncertain                 UNCERTAIN         UNCERTAIN
    TransportError, 5xx       RETRY             UNCERTAIN        (it may have been applied)
    VenueRejected             GIVE_UP           GIVE_UP          (the venue said no)
    ProtocolError             GIVE_UP           UNCERTAIN        (an answer came: maybe applied)
    other Bug                 GIVE_UP           GIVE_UP          (raised before sending)
    anything else             GIVE_UP           UNCERTAIN        (untranslated: assume the worst)

A write that got a 429 is retried: the venue's rate limiter answers before the order book
is touched, so a 429 proves the write was not applied, and resending the same client order
id after ``Retry-After`` cannot make a second order. Every other doubt about a write is
UNCERTAIN: resolved by looking the client order id up, never by sending again.

Jitter must differ between replicas (an audited bot's fixed jitter seed synchronised its
retry storms), so the shell seeds the generator from the process identity (``seed_for``)
and the harness passes its run's seed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.errors import (
    Bug,
    NotSent,
    ProtocolError,
    RateLimited,
    Retryable,
    Uncertain,
    VenueRejected,
)

__all__ = [
    "Action",
    "Backoff",
    "Decision",
    "RandomSource",
    "RetryPolicy",
    "classify",
    "seed_for",
]


class Action(StrEnum):
    RETRY = "retry"  # send the same request again, after at least ``delay_floor_s``
    UNCERTAIN = "uncertain"  # a write may have been applied: resolve it, never resend
    GIVE_UP = "give_up"  # asking again cannot help


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    delay_floor_s: float = 0.0  # the venue's Retry-After, when it gave one
    reason: str = ""


_R, _U, _G = Action.RETRY, Action.UNCERTAIN, Action.GIVE_UP

# First match wins, so subclasses come before their bases.
_TABLE: tuple[tuple[type[BaseException], Action, Action, str], ...] = (
    (RateLimited, _R, _R, "429: refused before the venue acted"),
    (NotSent, _R, _R, "the request never left: nothing was applied"),
    (Uncertain, _U, _U, "the outcome is already known to be unknown"),
    (Retryable, _R, _U, "transport or 5xx: a write may have been applied"),
    (VenueRejected, _G, _G, "the venue said no"),
    (ProtocolError, _G, _U, "an unreadable answer: a write may have been applied"),
    (Bug, _G, _G, "our side is wrong"),
)


def classify(exc: BaseException, *, write: bool) -> Decision:
    """The caller's next action after ``exc``; ``write`` is true for submit and cancel."""
    for kind, on_read, on_write, reason in _TABLE:
        if isinstance(exc, kind):
            floor = exc.retry_after_s if isinstance(exc, RateLimited) else 0.0
            return Decision(on_write if write else on_read, max(0.0, floor), reason)
    return Decision(
        Action.UNCERTAIN if write else Action.GIVE_UP,
        reason=f"untranslated {type(exc).__name__}: a bug in the adapter",
    )


class RandomSource(Protocol):
    def random(self) -> float: ...


def seed_for(identity: str) -> int:
    """A jitter seed from a process identity (host, pid, start time, ...): stable for one
    identity, unrelated between two."""
    return int.from_bytes(hashlib.sha256(identity.encode()).digest()[:8], "big")


class Backoff:
    """Full jitter: the n-th retry waits a uniform draw from [0, min(cap, base * 2**(n-1)))."""

    def __init__(self, rng: RandomSource, base_s: float = 0.2, cap_s: float = 10.0) -> None:
        if not 0 < base_s <= cap_s:
            raise ValueError(f"backoff needs 0 < base_s <= cap_s, got {base_s} and {cap_s}")
        self.base_s = base_s
        self.cap_s = cap_s
        self._rng = rng

    def ceiling(self, attempt: int) -> float:
        """The upper bound of the draw after ``attempt`` attempts (1 for the first retry)."""
        if attempt < 1:
            raise ValueError(f"attempts count from 1, got {attempt}")
        if attempt > 64:  # 2**63 times any sane base is past any cap; avoids float overflow
            return self.cap_s
        return min(self.cap_s, self.base_s * 2.0 ** (attempt - 1))

    def delay(self, attempt: int) -> float:
        return self._rng.random() * self.ceiling(attempt)

    def delays(self, n: int) -> list[float]:
        """The delays before retries 1 to ``n``, drawn in order."""
        return [self.delay(attempt) for attempt in range(1, n + 1)]

    def wait_s(self, decision: Decision, attempt: int) -> float:
        """Never earlier than the venue asked, and spread after it so that replicas blocked
        together do not come back together."""
        return decision.delay_floor_s + self.delay(attempt)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How far one call may go: ``max_attempts`` sends in all, within ``max_elapsed_s``."""

    max_attempts: int = 5
    max_elapsed_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.max_elapsed_s < 0:
            raise ValueError(f"retry policy out of range: {self}")

    def should_retry(self, attempt: int, elapsed_s: float, decision: Decision) -> bool:
        """``attempt`` sends have been made and ``elapsed_s`` spent. A Retry-After that would
        end past the budget gives up now rather than hold the caller past it."""
        return (
            decision.action is Action.RETRY
            and attempt < self.max_attempts
            and elapsed_s + decision.delay_floor_s <= self.max_elapsed_s
        )
