"""Reads retry, writes never blindly do; a 429 is waited out; jitter is bounded, reproducible
for one seed and different between replicas."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.retry import Action, Backoff, Decision, RetryPolicy, classify, seed_for
from bot.errors import (
    AuthFailed,
    ClockUntrusted,
    ConfigError,
    InsufficientBalance,
    OrderNotFound,
    ProtocolError,
    RateLimited,
    ServerError,
    TransportError,
    Uncertain,
)

RETRY, UNCERTAIN, GIVE_UP = Action.RETRY, Action.UNCERTAIN, Action.GIVE_UP


@pytest.mark.parametrize(
    ("exc", "on_read", "on_write"),
    [
        (TransportError("read timeout"), RETRY, UNCERTAIN),
        (ServerError(503, "maintenance"), RETRY, UNCERTAIN),
        (ServerError(500), RETRY, UNCERTAIN),
        (RateLimited(2), RETRY, RETRY),
        (Uncertain("submit", "c-1", "timeout"), UNCERTAIN, UNCERTAIN),
        (OrderNotFound("Order not found", 1152, 200), GIVE_UP, GIVE_UP),
        (InsufficientBalance("BALANCE_NOT_ENOUGH", 1055, 200), GIVE_UP, GIVE_UP),
        (AuthFailed("Unauthorized - Invalid Nonce", 1037, 401), GIVE_UP, GIVE_UP),
        (ProtocolError("not JSON"), GIVE_UP, UNCERTAIN),
        (ConfigError("secret is not base64"), GIVE_UP, GIVE_UP),
        (ClockUntrusted("skew"), GIVE_UP, GIVE_UP),
        (KeyError("untranslated"), GIVE_UP, UNCERTAIN),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v.value,
)
def test_each_error_maps_to_the_callers_next_action(
    exc: BaseException, on_read: Action, on_write: Action
) -> None:
    assert classify(exc, write=False).action is on_read
    assert classify(exc, write=True).action is on_write


def test_a_429_carries_retry_after_as_the_floor_of_the_wait_for_reads_and_writes() -> None:
    assert classify(RateLimited(55), write=False).delay_floor_s == 55
    assert classify(RateLimited(55), write=True).delay_floor_s == 55
    assert classify(RateLimited(-3), write=True).delay_floor_s == 0


def test_only_a_429_sets_a_floor() -> None:
    assert classify(ServerError(502), write=False).delay_floor_s == 0


def test_every_decision_says_why() -> None:
    assert "untranslated KeyError" in classify(KeyError("x"), write=True).reason
    assert "venue said no" in classify(AuthFailed("m", 1037, 401), write=False).reason


def test_the_delay_ceiling_doubles_from_the_base_up_to_the_cap() -> None:
    backoff = Backoff(random.Random(0), base_s=0.2, cap_s=1.0)
    assert [backoff.ceiling(n) for n in range(1, 6)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff.ceiling(10_000) == 1.0


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        Backoff(random.Random(0)).delay(0)


@pytest.mark.parametrize(("base", "cap"), [(0, 1), (-1, 1), (2, 1)])
def test_a_backoff_needs_a_positive_base_under_its_cap(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="base_s"):
        Backoff(random.Random(0), base_s=base, cap_s=cap)


class Fixed:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_full_jitter_scales_the_ceiling_by_the_draw() -> None:
    backoff = Backoff(Fixed(0.5), base_s=1.0, cap_s=8.0)
    assert backoff.delays(5) == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_a_429_wait_is_retry_after_plus_jitter_never_less() -> None:
    backoff = Backoff(Fixed(0.25), base_s=1.0, cap_s=8.0)
    assert backoff.wait_s(Decision(RETRY, delay_floor_s=55), attempt=3) == 56.0
    assert backoff.wait_s(Decision(RETRY), attempt=1) == 0.25


@given(
    seed=st.integers(min_value=0, max_value=2**64),
    base=st.floats(min_value=0.001, max_value=5),
    cap=st.floats(min_value=5, max_value=120),
    n=st.integers(min_value=1, max_value=80),
)
def test_every_delay_lies_within_zero_and_the_cap(
    seed: int, base: float, cap: float, n: int
) -> None:
    delays = Backoff(random.Random(seed), base_s=base, cap_s=cap).delays(n)
    assert all(0 <= d <= cap for d in delays)
    assert all(d <= base * 2**i for i, d in enumerate(delays[:30]))


@given(seed=st.integers(min_value=0, max_value=2**64))
def test_one_seed_gives_one_sequence(seed: int) -> None:
    first = Backoff(random.Random(seed)).delays(10)
    assert Backoff(random.Random(seed)).delays(10) == first


@given(
    seeds=st.lists(st.integers(min_value=0, max_value=2**64), min_size=2, max_size=2, unique=True)
)
def test_two_seeds_do_not_retry_in_step(seeds: list[int]) -> None:
    a, b = (Backoff(random.Random(s)).delays(10) for s in seeds)
    assert a != b


def test_replicas_get_different_seeds_and_a_restart_of_one_identity_the_same() -> None:
    assert seed_for("bot-a:4711") == seed_for("bot-a:4711")
    assert seed_for("bot-a:4711") != seed_for("bot-b:4711")
    assert seed_for("bot-a:4711") != seed_for("bot-a:4712")


def test_a_retry_is_allowed_within_the_attempt_and_time_budget() -> None:
    policy = RetryPolicy(max_attempts=3, max_elapsed_s=10)
    retry = Decision(RETRY)
    assert policy.should_retry(1, 0.0, retry)
    assert policy.should_retry(2, 9.9, retry)
    assert not policy.should_retry(3, 0.0, retry)
    assert not policy.should_retry(1, 10.1, retry)


@pytest.mark.parametrize("action", [UNCERTAIN, GIVE_UP])
def test_uncertain_writes_and_refusals_are_never_retried(action: Action) -> None:
    assert not RetryPolicy(max_attempts=100, max_elapsed_s=1e9).should_retry(1, 0, Decision(action))


def test_a_retry_after_past_the_time_budget_gives_up_now_instead_of_holding_the_caller() -> None:
    policy = RetryPolicy(max_attempts=5, max_elapsed_s=30)
    assert policy.should_retry(1, 1.0, Decision(RETRY, delay_floor_s=20))
    assert not policy.should_retry(1, 1.0, Decision(RETRY, delay_floor_s=55))


@pytest.mark.parametrize(("attempts", "elapsed"), [(0, 1.0), (3, -1.0)])
def test_a_policy_out_of_range_is_refused(attempts: int, elapsed: float) -> None:
    with pytest.raises(ValueError, match="out of range"):
        RetryPolicy(max_attempts=attempts, max_elapsed_s=elapsed)
