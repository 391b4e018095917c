"""The clock offset to the venue from server/time samples, and stamps built on it: strictly
increasing, never clamped, and refused for writes once the skew passes tolerance."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.clock import OffsetEstimator, Sample, StampSource
from bot.errors import ClockUntrusted


def sample(offset: int, rtt: int, at: int = 1_000_000) -> Sample:
    """A round trip sent at ``at`` whose server reading sits mid-flight, ``offset`` ahead."""
    return Sample(sent_ms=at, server_ms=at + rtt // 2 + offset, received_ms=at + rtt)


def estimator_with(*samples: Sample, **kw: int) -> OffsetEstimator:
    est = OffsetEstimator(**kw)
    for s in samples:
        assert est.add(s)
    return est


def test_a_samples_offset_is_the_server_reading_minus_the_midpoint_of_the_round_trip() -> None:
    s = Sample(sent_ms=1_000, server_ms=3_100, received_ms=1_200)
    assert (s.offset_ms, s.rtt_ms) == (2_000, 200)


def test_there_is_no_estimate_before_any_sample() -> None:
    est = OffsetEstimator()
    assert (est.offset_ms, est.rtt_ms, est.samples) == (None, None, ())


def test_the_fastest_half_of_the_samples_decides_the_offset() -> None:
    est = estimator_with(
        sample(100, rtt=10),
        sample(110, rtt=20),
        sample(120, rtt=30),
        sample(900, rtt=1_500),
        sample(-800, rtt=1_400),
        sample(700, rtt=1_200),
    )
    assert est.offset_ms == 110
    assert est.rtt_ms == 10


def test_negative_and_overlong_round_trips_are_refused() -> None:
    est = OffsetEstimator(max_rtt_ms=500)
    assert not est.add(Sample(sent_ms=2_000, server_ms=5_000, received_ms=1_999))
    assert not est.add(sample(0, rtt=501))
    assert est.add(sample(0, rtt=500))
    assert len(est.samples) == 1


def test_only_the_last_window_of_samples_is_kept() -> None:
    fast_but_old = sample(5_000, rtt=1, at=0)
    est = estimator_with(fast_but_old, *(sample(100, rtt=50, at=i) for i in range(1, 4)), window=3)
    assert [s.sent_ms for s in est.samples] == [1, 2, 3]
    assert est.offset_ms == 100


def test_a_resync_is_needed_until_enough_samples_are_in_and_again_once_they_age() -> None:
    est = OffsetEstimator(min_samples=2, resync_ms=60_000)
    assert est.needs_resync(0)
    est.add(sample(0, rtt=10, at=0))
    assert est.needs_resync(10)
    est.add(sample(0, rtt=10, at=1_000))
    assert not est.needs_resync(1_010)
    assert not est.needs_resync(61_009)
    assert est.needs_resync(61_010)


@pytest.mark.parametrize(
    "kw", [{"window": 0}, {"min_samples": 9}, {"min_samples": 0}, {"resync_ms": 0}]
)
def test_estimator_settings_out_of_range_are_refused(kw: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="out of range"):
        OffsetEstimator(**kw)


def test_a_stamp_is_our_clock_plus_the_offset() -> None:
    stamps = StampSource(estimator_with(sample(-1_234, rtt=20)))
    assert stamps.stamp(1_700_000_000_000) == 1_699_999_998_766


def test_stamps_never_repeat_even_within_one_millisecond() -> None:
    stamps = StampSource(estimator_with(sample(0, rtt=20)))
    assert [stamps.stamp(5_000) for _ in range(3)] == [5_000, 5_001, 5_002]


def test_when_the_offset_moves_back_stamps_creep_forward_instead_of_repeating() -> None:
    est = estimator_with(sample(2_000, rtt=10), window=1, min_samples=1)
    stamps = StampSource(est)
    assert stamps.stamp(10_000) == 12_000
    est.add(sample(0, rtt=10))
    assert [stamps.stamp(10_001), stamps.stamp(12_500)] == [12_001, 12_500]


def test_an_offset_within_tolerance_is_trusted() -> None:
    stamps = StampSource(estimator_with(sample(2_999, rtt=10)), tolerance_ms=3_000)
    stamps.check()
    assert stamps.trusted
    assert stamps.write_stamp(0) == 2_999


@pytest.mark.parametrize(("offset", "side"), [(4_200, "ahead of"), (-3_001, "behind")])
def test_a_skew_beyond_tolerance_halts_writes_and_is_never_clamped(offset: int, side: str) -> None:
    stamps = StampSource(estimator_with(sample(offset, rtt=10)), tolerance_ms=3_000)
    assert not stamps.trusted
    with pytest.raises(ClockUntrusted, match=rf"{abs(offset)} ms {side} ours.*3000 ms tolerance"):
        stamps.check()
    with pytest.raises(ClockUntrusted):
        stamps.write_stamp(0)
    assert stamps.stamp(0) == offset  # reads still sign with the true offset, unclamped


def test_without_an_estimate_writes_halt_with_a_clear_message() -> None:
    stamps = StampSource(OffsetEstimator())
    assert not stamps.trusted
    with pytest.raises(ClockUntrusted, match="no clock offset"):
        stamps.write_stamp(0)


def test_a_resync_that_brings_the_offset_back_lifts_the_halt() -> None:
    est = estimator_with(sample(6_000, rtt=10), window=1, min_samples=1)
    stamps = StampSource(est)
    assert not stamps.trusted
    est.add(sample(50, rtt=10))
    assert stamps.trusted


@pytest.mark.parametrize("tolerance", [0, 5_000, 9_000])
def test_a_tolerance_outside_the_venues_window_is_refused(tolerance: int) -> None:
    with pytest.raises(ValueError, match="5000 ms"):
        StampSource(OffsetEstimator(), tolerance_ms=tolerance)


steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("sample"),
            st.integers(min_value=-10_000, max_value=10_000),
            st.integers(min_value=0, max_value=2_000),
        ),
        st.tuples(
            st.just("stamp"),
            st.integers(min_value=-5_000, max_value=5_000),
            st.just(0),
        ),
    ),
    max_size=100,
)


@given(steps=steps)
def test_stamps_strictly_increase_whatever_the_offset_and_our_clock_do(
    steps: list[tuple[str, int, int]],
) -> None:
    """Strictly increasing, with one exception: when the venue's time (our clock plus the
    offset) is more than the tolerance below the last stamp, the stamp follows it back, or
    every request would fall outside the venue's window until our clock caught up."""
    est = OffsetEstimator(window=3)
    stamps = StampSource(est)
    local, issued = 1_700_000_000_000, []
    for kind, value, rtt in steps:
        if kind == "sample":
            est.add(sample(value, rtt=rtt, at=local))
        else:
            local += value  # our clock may step back as well as forward
            venue_now = local + (est.offset_ms or 0)
            stamp = stamps.stamp(local)
            if issued and stamp <= issued[-1]:
                assert issued[-1] - venue_now > stamps.tolerance_ms and stamp == venue_now
            else:
                assert not issued or stamp > issued[-1]
            issued.append(stamp)


def test_discard_forgets_every_sample_and_ties_prefer_the_newest() -> None:
    estimator = OffsetEstimator()
    for t in range(3):
        estimator.add(Sample(t * 10, t * 10 + 5, t * 10))  # offset +5, round trip 0
    for t in range(3, 6):
        estimator.add(Sample(t * 10, t * 10 + 900, t * 10))  # the venue stepped: +900
    assert estimator.offset_ms == 900  # equal round trips: the newest half wins
    estimator.discard()
    assert estimator.offset_ms is None and estimator.samples == ()
    assert estimator.needs_resync(100)
