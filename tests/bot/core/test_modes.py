"""The kill switch drops to observe-only on every cause it is told of, says why, and comes back
only when every cause has cleared: by itself if allowed, never by itself after a manual kill."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.modes import Mode, ModeChange, ModeConfig, ModeController, ModeInputs, causes

HEALTHY = ModeInputs()
LIVE, OBSERVE = Mode.LIVE, Mode.OBSERVE


def live_controller(config: ModeConfig | None = None) -> ModeController:
    controller = ModeController(config)
    assert controller.update(HEALTHY, 0) is not None
    return controller


def test_it_starts_observing_and_goes_live_on_the_first_healthy_report() -> None:
    controller = ModeController()
    assert (controller.mode, controller.allows_submit) == (OBSERVE, False)
    assert controller.reasons == ("start-up: no health report yet",)
    change = controller.update(HEALTHY, 10)
    assert change == ModeChange(10, OBSERVE, LIVE, ())
    assert controller.mode is LIVE and controller.allows_submit
    assert not controller.reasons


def test_start_up_waits_for_its_causes_to_clear_even_without_auto_resume() -> None:
    controller = ModeController(ModeConfig(auto_resume=False))
    assert controller.update(ModeInputs(rules_missing=("BTCTRY",)), 0) is None
    assert controller.reasons == ("symbol rules missing for BTCTRY",)
    assert controller.update(HEALTHY, 5) == ModeChange(5, OBSERVE, LIVE, ())


@pytest.mark.parametrize(
    ("inputs", "reason"),
    [
        (
            ModeInputs(reconcile_failures_in_row=3),
            "reconciliation failed 3 times in a row (limit 3)",
        ),
        (
            ModeInputs(unknown_past_budget=("c-1", "c-2")),
            "orders unknown past their budget: c-1, c-2",
        ),
        (ModeInputs(balance_divergences=2), "balances diverge from the venue's (2 assets)"),
        (ModeInputs(rules_missing=("ETHTRY",)), "symbol rules missing for ETHTRY"),
        (ModeInputs(clock_trusted=False), "the venue's clock cannot be trusted"),
        (ModeInputs(manual_kill=True), "manual kill"),
        (
            ModeInputs(stream_dirty=True),
            "private stream dirty: events may be lost until a reconcile",
        ),
    ],
    ids=["reconcile", "unknown", "balances", "rules", "clock", "kill", "stream"],
)
def test_each_cause_drops_to_observe_with_its_reason(inputs: ModeInputs, reason: str) -> None:
    controller = live_controller()
    change = controller.update(inputs, 100)
    assert change == ModeChange(100, LIVE, OBSERVE, (reason,))
    assert (controller.mode, controller.allows_submit, controller.reasons) == (
        OBSERVE,
        False,
        (reason,),
    )


def test_reconciliation_failures_under_the_limit_do_not_drop() -> None:
    controller = live_controller()
    assert controller.update(ModeInputs(reconcile_failures_in_row=2), 1) is None
    assert controller.mode is LIVE


def test_a_dirty_stream_can_be_left_to_reconciliation() -> None:
    controller = live_controller(ModeConfig(observe_on_dirty_stream=False))
    assert controller.update(ModeInputs(stream_dirty=True), 1) is None
    assert controller.allows_submit


def test_several_causes_are_all_named() -> None:
    inputs = ModeInputs(clock_trusted=False, balance_divergences=1)
    assert causes(inputs, ModeConfig()) == (
        "balances diverge from the venue's (1 assets)",
        "the venue's clock cannot be trusted",
    )


def test_it_resumes_by_itself_once_every_cause_has_cleared() -> None:
    controller = live_controller()
    controller.update(ModeInputs(clock_trusted=False, balance_divergences=1), 1)
    assert controller.update(ModeInputs(balance_divergences=1), 2) is None
    assert controller.reasons == ("balances diverge from the venue's (1 assets)",)
    assert controller.update(HEALTHY, 3) == ModeChange(3, OBSERVE, LIVE, ())


def test_an_auto_resume_can_wait_for_the_causes_to_stay_clear() -> None:
    controller = live_controller(ModeConfig(resume_after_ms=1_000))
    controller.update(ModeInputs(clock_trusted=False), 10)
    assert controller.update(HEALTHY, 20) is None
    assert controller.update(HEALTHY, 1_019) is None
    assert controller.reasons == ("causes cleared 999 ms ago; resuming after 1000 ms",)
    controller.update(ModeInputs(clock_trusted=False), 1_500)  # back: the wait starts over
    controller.update(HEALTHY, 1_600)
    assert controller.update(HEALTHY, 2_599) is None
    assert controller.update(HEALTHY, 2_600) == ModeChange(2_600, OBSERVE, LIVE, ())


def test_without_auto_resume_it_waits_for_an_operator() -> None:
    controller = live_controller(ModeConfig(auto_resume=False))
    controller.update(ModeInputs(unknown_past_budget=("c-9",)), 1)
    assert controller.update(HEALTHY, 2) is None
    assert controller.reasons == ("causes cleared; auto-resume is off: waiting for resume()",)
    assert controller.resume(3) == ModeChange(3, OBSERVE, LIVE, ())


def test_a_manual_kill_never_resumes_by_itself() -> None:
    controller = live_controller()
    controller.update(ModeInputs(manual_kill=True), 1)
    assert controller.update(HEALTHY, 2) is None
    assert controller.update(HEALTHY, 10**9) is None
    assert controller.reasons == ("manual kill: waiting for resume()",)
    assert controller.resume(10**9 + 1) == ModeChange(10**9 + 1, OBSERVE, LIVE, ())


def test_resume_is_refused_while_a_cause_remains_and_changes_nothing() -> None:
    controller = live_controller()
    controller.update(ModeInputs(manual_kill=True), 1)
    assert controller.resume(2) is None  # the kill flag is still up
    controller.update(ModeInputs(clock_trusted=False), 3)
    assert controller.resume(4) is None
    assert controller.reasons == (
        "the venue's clock cannot be trusted",
        "manual kill: waiting for resume()",
    )
    assert controller.update(HEALTHY, 5) is None  # the refused resume did not lift the kill
    assert controller.resume(6) == ModeChange(6, OBSERVE, LIVE, ())


def test_resume_when_live_or_before_any_report_changes_nothing() -> None:
    assert ModeController().resume(1) is None
    controller = live_controller()
    assert controller.resume(1) is None
    assert len(controller.history) == 1


def test_the_history_keeps_every_transition_with_its_time_and_reasons() -> None:
    controller = live_controller()
    controller.update(ModeInputs(reconcile_failures_in_row=5), 7)
    controller.update(ModeInputs(reconcile_failures_in_row=6, clock_trusted=False), 8)
    controller.update(HEALTHY, 9)
    assert controller.history == (
        ModeChange(0, OBSERVE, LIVE, ()),
        ModeChange(7, LIVE, OBSERVE, ("reconciliation failed 5 times in a row (limit 3)",)),
        ModeChange(9, OBSERVE, LIVE, ()),
    )


def test_a_config_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        ModeConfig(max_reconcile_failures=0)


reports = st.builds(
    ModeInputs,
    reconcile_failures_in_row=st.integers(0, 4),
    unknown_past_budget=st.sampled_from([(), ("c-1",)]),
    balance_divergences=st.integers(0, 1),
    rules_missing=st.sampled_from([(), ("BTCTRY",)]),
    clock_trusted=st.booleans(),
    manual_kill=st.booleans(),
    stream_dirty=st.booleans(),
)


@given(
    script=st.lists(st.tuples(reports, st.booleans()), max_size=30),
    auto_resume=st.booleans(),
)
def test_no_submit_while_a_cause_stands_or_a_kill_awaits_its_resume(
    script: list[tuple[ModeInputs, bool]], auto_resume: bool
) -> None:
    config = ModeConfig(auto_resume=auto_resume)
    controller = ModeController(config)
    kill_pending = False
    for now, (report, operator_resumes) in enumerate(script):
        controller.update(report, now)
        kill_pending = kill_pending or report.manual_kill
        if operator_resumes and controller.resume(now) is not None:
            kill_pending = False
        assert not (controller.allows_submit and causes(report, config))
        assert not (controller.allows_submit and kill_pending)
        assert controller.allows_submit == (controller.mode is LIVE)
    modes = [change.mode for change in controller.history]
    assert modes == [LIVE, OBSERVE] * (len(modes) // 2) + [LIVE] * (len(modes) % 2)
