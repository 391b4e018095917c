"""The kill switch: whether the bot may submit orders. Pure.

Two modes: LIVE, and OBSERVE (reads and cancels only, never a submit). The shell reports
the bot's health as ``ModeInputs`` and the controller answers with a ``ModeChange`` when the
mode changes. Any one of these causes holds the bot in OBSERVE:

    reconciliation failed ``max_reconcile_failures`` times in a row
    an order stayed UNKNOWN past its budget
    local balances diverge from the venue's
    symbol rules (exchangeinfo) missing for a configured pair
    the venue's clock cannot be trusted
    a manual kill
    the private stream is dirty (events may be lost until a reconcile), if configured

The controller starts in OBSERVE and goes LIVE at the first report without a cause. After
a drop it returns to LIVE when every cause has stayed clear for ``resume_after_ms``, but
only with ``auto_resume``; otherwise it waits for ``resume()``. A manual kill always waits
for ``resume()``, even once the kill flag is lowered: lowering a flag is not a decision to
trade again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Mode", "ModeChange", "ModeConfig", "ModeController", "ModeInputs", "causes"]


class Mode(StrEnum):
    LIVE = "live"
    OBSERVE = "observe"  # reads and cancels only


@dataclass(frozen=True, slots=True)
class ModeInputs:
    """A health report; the defaults are a healthy bot."""

    reconcile_failures_in_row: int = 0
    unknown_past_budget: tuple[str, ...] = ()  # client order ids
    balance_divergences: int = 0
    rules_missing: tuple[str, ...] = ()  # pairs
    clock_trusted: bool = True
    manual_kill: bool = False
    stream_dirty: bool = False


@dataclass(frozen=True, slots=True)
class ModeConfig:
    max_reconcile_failures: int = 3
    auto_resume: bool = True
    observe_on_dirty_stream: bool = True
    resume_after_ms: int = 0  # how long every cause must stay clear before an auto-resume

    def __post_init__(self) -> None:
        if self.max_reconcile_failures < 1 or self.resume_after_ms < 0:
            raise ValueError(f"mode config out of range: {self}")


@dataclass(frozen=True, slots=True)
class ModeChange:
    at_ms: int
    previous: Mode
    mode: Mode
    reasons: tuple[str, ...]


def causes(inputs: ModeInputs, config: ModeConfig) -> tuple[str, ...]:
    """Every reason in ``inputs`` to stay out of LIVE, in a fixed order."""
    found = []
    failures = inputs.reconcile_failures_in_row
    if failures >= config.max_reconcile_failures:
        found.append(
            f"reconciliation failed {failures} times in a row "
            f"(limit {config.max_reconcile_failures})"
        )
    if inputs.unknown_past_budget:
        found.append(f"orders unknown past their budget: {', '.join(inputs.unknown_past_budget)}")
    if inputs.balance_divergences > 0:
        found.append(f"balances diverge from the venue's ({inputs.balance_divergences} assets)")
    if inputs.rules_missing:
        found.append(f"symbol rules missing for {', '.join(inputs.rules_missing)}")
    if not inputs.clock_trusted:
        found.append("the venue's clock cannot be trusted")
    if inputs.manual_kill:
        found.append("manual kill")
    if inputs.stream_dirty and config.observe_on_dirty_stream:
        found.append("private stream dirty: events may be lost until a reconcile")
    return tuple(found)


_KILL_HELD = "manual kill: waiting for resume()"
_AUTO_OFF = "causes cleared; auto-resume is off: waiting for resume()"


class ModeController:
    def __init__(self, config: ModeConfig | None = None) -> None:
        self.config = config or ModeConfig()
        self._mode = Mode.OBSERVE
        self._reasons: tuple[str, ...] = ("start-up: no health report yet",)
        self._history: list[ModeChange] = []
        self._inputs: ModeInputs | None = None
        self._been_live = False
        self._kill_held = False  # a manual kill was seen and resume() has not been called
        self._auto_off_held = False  # dropped while auto_resume is off
        self._clear_since: int | None = None

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the bot is in OBSERVE; empty when LIVE."""
        return self._reasons

    @property
    def history(self) -> tuple[ModeChange, ...]:
        return tuple(self._history)

    @property
    def allows_submit(self) -> bool:
        return self._mode is Mode.LIVE

    def update(self, inputs: ModeInputs, now_ms: int) -> ModeChange | None:
        self._inputs = inputs
        if inputs.manual_kill:
            self._kill_held = True
        found = causes(inputs, self.config)
        if self._kill_held and not inputs.manual_kill:
            found += (_KILL_HELD,)
        if found:
            self._clear_since = None
            if self._mode is Mode.LIVE:
                self._auto_off_held = not self.config.auto_resume
                return self._switch(Mode.OBSERVE, found, now_ms)
            self._reasons = found
            return None
        if self._mode is Mode.LIVE:
            return None
        if not self._been_live:  # start-up is not a fault: nothing to wait out
            return self._switch(Mode.LIVE, (), now_ms)
        if self._auto_off_held:
            self._reasons = (_AUTO_OFF,)
            return None
        if self._clear_since is None:
            self._clear_since = now_ms
        waited = now_ms - self._clear_since
        if waited < self.config.resume_after_ms:
            self._reasons = (
                f"causes cleared {waited} ms ago; resuming after {self.config.resume_after_ms} ms",
            )
            return None
        return self._switch(Mode.LIVE, (), now_ms)

    def resume(self, now_ms: int) -> ModeChange | None:
        """An operator's decision to trade again: lifts a manual kill and the hold of a drop
        without auto-resume, and goes LIVE at once. Refused (None, nothing changed, the
        reasons still say why) before any report, or while the last report has a cause,
        the kill flag included."""
        if self._mode is Mode.LIVE or self._inputs is None or causes(self._inputs, self.config):
            return None
        self._kill_held = self._auto_off_held = False
        return self._switch(Mode.LIVE, (), now_ms)

    def _switch(self, mode: Mode, reasons: tuple[str, ...], now_ms: int) -> ModeChange:
        change = ModeChange(now_ms, self._mode, mode, reasons)
        self._mode, self._reasons = mode, reasons
        self._been_live = self._been_live or mode is Mode.LIVE
        self._clear_since = None
        self._history.append(change)
        return change
