"""The offset between our clock and the venue's, and the ``X-Stamp`` values built on it. Pure.

Owns the estimate (from ``server/time`` samples the shell takes and passes in), the decision
when to take more, and the stamps. The venue refuses a stamp more than 5 s from its own
clock (reference §2.3); staff ask for stamps that never repeat and preferably increase.

A sample brackets the server's reading between our send and receive times, so its offset
is ``server - (sent + received) / 2``, wrong by at most half the round trip: the estimate
therefore trusts the fastest samples, the median of the best half of a small window.

An offset beyond tolerance (3 s by default, well inside the venue's 5 s) is never clamped:
a clamped stamp would sign requests with a time we know to be wrong. ``check`` raises
``ClockUntrusted`` instead, and writes halt until a resync brings the offset back.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

from bot.errors import ClockUntrusted

__all__ = ["VENUE_STAMP_WINDOW_MS", "OffsetEstimator", "Sample", "StampSource"]

VENUE_STAMP_WINDOW_MS = 5_000


@dataclass(frozen=True, slots=True)
class Sample:
    """One ``server/time`` round trip: our clock at send and at receipt, the venue's reading."""

    sent_ms: int
    server_ms: int
    received_ms: int

    @property
    def rtt_ms(self) -> int:
        return self.received_ms - self.sent_ms

    @property
    def offset_ms(self) -> float:
        """How far the venue's clock is ahead of ours (negative: behind)."""
        return self.server_ms - (self.sent_ms + self.received_ms) / 2


class OffsetEstimator:
    """The last ``window`` usable samples and the offset they imply.

    A sample whose round trip is negative (our clock stepped back mid-flight) or longer than
    ``max_rtt_ms`` (its error bound, half of that, would eat the tolerance) is refused."""

    def __init__(
        self,
        window: int = 8,
        max_rtt_ms: int = 2_000,
        resync_ms: int = 60_000,
        min_samples: int = 3,
    ) -> None:
        if window < 1 or not 1 <= min_samples <= window or max_rtt_ms < 0 or resync_ms <= 0:
            raise ValueError("offset estimator settings out of range")
        self.max_rtt_ms = max_rtt_ms
        self.resync_ms = resync_ms
        self.min_samples = min_samples
        self._samples: deque[Sample] = deque(maxlen=window)

    def add(self, sample: Sample) -> bool:
        """Keep the sample if it is usable; says whether it was."""
        if not 0 <= sample.rtt_ms <= self.max_rtt_ms:
            return False
        self._samples.append(sample)
        return True

    @property
    def samples(self) -> tuple[Sample, ...]:
        return tuple(self._samples)

    def discard(self) -> None:
        """Forget every sample: the venue refused a stamp, so the estimate is wrong."""
        self._samples.clear()

    def _best(self) -> list[Sample]:
        # Fastest first; among equals the newest, since the venue's clock can be stepped.
        ranked = sorted(self._samples, key=lambda s: (s.rtt_ms, -s.received_ms))
        return ranked[: (len(ranked) + 1) // 2]

    @property
    def offset_ms(self) -> int | None:
        """The median offset of the fastest half of the samples; None before any."""
        best = self._best()
        if not best:
            return None
        return round(statistics.median(s.offset_ms for s in best))

    @property
    def rtt_ms(self) -> int | None:
        """The fastest round trip in the window; half of it bounds the offset's error."""
        return min((s.rtt_ms for s in self._samples), default=None)

    def needs_resync(self, now_ms: int) -> bool:
        """True until ``min_samples`` are in, and again once the newest is ``resync_ms``
        old: clocks drift, and the venue's can be stepped."""
        if len(self._samples) < self.min_samples:
            return True
        newest = max(s.received_ms for s in self._samples)
        return now_ms - newest >= self.resync_ms


class StampSource:
    """``X-Stamp`` values: our clock plus the estimated offset, strictly increasing.

    ``stamp`` never refuses (a private read with a bad stamp earns a visible 401); writes go
    through ``write_stamp``, which checks trust first. When the offset estimate moves back,
    stamps advance by 1 ms per call until our clock catches up, so no stamp is ever reused."""

    def __init__(self, estimator: OffsetEstimator, tolerance_ms: int = 3_000) -> None:
        if not 0 < tolerance_ms < VENUE_STAMP_WINDOW_MS:
            raise ValueError(
                f"stamp tolerance must be within the venue's {VENUE_STAMP_WINDOW_MS} ms, "
                f"got {tolerance_ms}"
            )
        self.estimator = estimator
        self.tolerance_ms = tolerance_ms
        self._last: int | None = None

    @property
    def trusted(self) -> bool:
        offset = self.estimator.offset_ms
        return offset is not None and abs(offset) <= self.tolerance_ms

    def check(self) -> None:
        """Raise ``ClockUntrusted`` unless an estimate exists and is within tolerance."""
        offset = self.estimator.offset_ms
        if offset is None:
            raise ClockUntrusted(
                "no clock offset to the venue yet: sample server/time before signing writes"
            )
        if abs(offset) > self.tolerance_ms:
            side = "ahead of" if offset > 0 else "behind"
            raise ClockUntrusted(
                f"the venue's clock is {abs(offset)} ms {side} ours (best round trip "
                f"{self.estimator.rtt_ms} ms over {len(self.estimator.samples)} samples), "
                f"beyond the {self.tolerance_ms} ms tolerance; writes halt until a resync "
                "brings it back (stamps are never clamped)"
            )

    def stamp(self, local_now_ms: int) -> int:
        """Our clock plus the offset (0 before any estimate), above every stamp given --
        except after the venue's clock stepped back by more than the tolerance (a skew that
        ended): holding stamps above the old ones would put every request outside the
        venue's window until our clock caught up, so the stamps follow it back once."""
        candidate = local_now_ms + (self.estimator.offset_ms or 0)
        if self._last is not None and candidate <= self._last:
            stepped_back = self._last - candidate > self.tolerance_ms
            candidate = candidate if stepped_back else self._last + 1
        self._last = candidate
        return candidate

    def write_stamp(self, local_now_ms: int) -> int:
        """A stamp for a submit or cancel: ``check`` first, so an untrusted clock halts it."""
        self.check()
        return self.stamp(local_now_ms)
