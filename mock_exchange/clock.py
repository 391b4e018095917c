"""The mock's clock, injected: the live one under uvicorn, a virtual one in the harness."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "LiveClock", "VirtualClock"]


class Clock(Protocol):
    def now_ms(self) -> int:
        """Venue time, Unix milliseconds."""
        ...


class LiveClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class VirtualClock:
    """Time that moves only when told to."""

    def __init__(self, start_ms: int = 1_763_700_000_000) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> int:
        if ms < 0:
            raise ValueError("a virtual clock does not run backwards")
        self._now += ms
        return self._now

    def set(self, now_ms: int) -> None:
        if now_ms < self._now:
            raise ValueError("a virtual clock does not run backwards")
        self._now = now_ms
