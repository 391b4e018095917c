"""The mock's clock, injected: the live one under uvicorn, a virtual one in the harness.

Besides telling the time, a clock sleeps: the fault plan's latency and held responses wait
on it, so that under a virtual clock they last virtual time and a simulated run never
waits for the wall clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol

__all__ = ["Clock", "LiveClock", "VirtualClock"]


class Clock(Protocol):
    def now_ms(self) -> int:
        """Venue time, Unix milliseconds."""
        ...

    async def sleep_ms(self, ms: int) -> None:
        """Wait ``ms`` of this clock's time."""
        ...


class LiveClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep_ms(self, ms: int) -> None:
        await asyncio.sleep(max(0, ms) / 1000)


class VirtualClock:
    """Time that moves only when told to; sleepers wake when it passes their due time."""

    def __init__(self, start_ms: int = 1_763_700_000_000) -> None:
        self._now = start_ms
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> int:
        if ms < 0:
            raise ValueError("a virtual clock does not run backwards")
        self._now += ms
        self._wake()
        return self._now

    def set(self, now_ms: int) -> None:
        if now_ms < self._now:
            raise ValueError("a virtual clock does not run backwards")
        self._now = now_ms
        self._wake()

    def next_wake(self) -> int | None:
        """When the earliest sleeper is due, so a driver can jump straight there."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    async def sleep_ms(self, ms: int) -> None:
        if ms <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + ms, next(self._order), future))
        await future

    def _wake(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
