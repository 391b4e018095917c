"""Trade history folded into one-minute candles: the source of 24 h ticker statistics and of the
candle endpoints (``/v1/ohlcs``, ``/v1/klines/history``). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from mock_exchange.events import PublicTrade, VenueEvent

__all__ = ["Candle", "CandleStore", "DayStats"]

MINUTE_MS = 60_000
DAY_MS = 86_400_000


@dataclass(slots=True)
class Candle:
    start: int  # ms
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal  # base
    total: Decimal  # quote

    def merge(self, other: Candle) -> None:
        self.high = max(self.high, other.high)
        self.low = min(self.low, other.low)
        self.close = other.close
        self.volume += other.volume
        self.total += other.total


@dataclass(frozen=True, slots=True)
class DayStats:
    open: Decimal
    high: Decimal
    low: Decimal
    last: Decimal
    volume: Decimal
    average: Decimal


class CandleStore:
    def __init__(self) -> None:
        self._minutes: dict[str, dict[int, Candle]] = {}

    def on_event(self, event: VenueEvent) -> None:
        if isinstance(event, PublicTrade):
            self.add(event.pair, event.timestamp, event.price, event.amount)

    def add(self, pair: str, timestamp: int, price: Decimal, amount: Decimal) -> None:
        start = timestamp - timestamp % MINUTE_MS
        minutes = self._minutes.setdefault(pair, {})
        candle = minutes.get(start)
        if candle is None:
            minutes[start] = Candle(start, price, price, price, price, amount, price * amount)
        else:
            candle.merge(Candle(start, price, price, price, price, amount, price * amount))

    def candles(self, pair: str, start_ms: int, end_ms: int, period_ms: int) -> list[Candle]:
        """Candles of ``period_ms`` whose start lies in ``[start_ms, end_ms]``, oldest first.
        Periods with no trade are left out, as the venue's charts do."""
        buckets: dict[int, Candle] = {}
        for minute in sorted(self._minutes.get(pair, {}).values(), key=lambda c: c.start):
            bucket_start = minute.start - minute.start % period_ms
            if bucket_start < start_ms - start_ms % period_ms or bucket_start > end_ms:
                continue
            merged = buckets.get(bucket_start)
            if merged is None:
                buckets[bucket_start] = Candle(
                    bucket_start,
                    minute.open,
                    minute.high,
                    minute.low,
                    minute.close,
                    minute.volume,
                    minute.total,
                )
            else:
                merged.merge(minute)
        return [buckets[k] for k in sorted(buckets)]

    def day(self, pair: str, now: int) -> DayStats | None:
        """Rolling 24 h statistics up to ``now``; ``None`` before the first trade."""
        recent = [c for c in self._minutes.get(pair, {}).values() if now - DAY_MS < c.start <= now]
        if not recent:
            return None
        recent.sort(key=lambda c: c.start)
        volume = sum((c.volume for c in recent), Decimal(0))
        total = sum((c.total for c in recent), Decimal(0))
        return DayStats(
            open=recent[0].open,
            high=max(c.high for c in recent),
            low=min(c.low for c in recent),
            last=recent[-1].close,
            volume=volume,
            average=total / volume if volume else recent[-1].close,
        )
