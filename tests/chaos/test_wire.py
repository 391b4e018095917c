"""The ``wire`` engine: the mock under uvicorn and the bot as its own process over loopback
sockets. A shortened plain run trades and breaks no invariant; a SIGKILL mid-run is
followed by a restart on the same store with no duplicate, lost fill or untracked order;
a bad secret ends in exit 2 with nothing leaked; what the engine cannot do is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.cli import build_parser
from chaos.engines.wire import run_wire_sync
from chaos.invariants import check
from chaos.model import CrashPoint, ModeExpectation, Scenario
from chaos.runner import Job, _engine, run_job

PLAIN = Scenario(
    name="plain",
    description="no faults, market on",
    seed=1,
    duration_s=120,
    expect_modes=(ModeExpectation(mode="live", within_s=20),),
)


def test_plain_over_the_wire_breaks_no_invariant(tmp_path: Path) -> None:
    result = run_wire_sync(PLAIN, 1, tmp_path, duration_scale=11 / 120)
    assert result.engine == "wire"
    assert check(result) == []
    assert result.venue_orders, "the bot placed no order on the venue"
    assert len(result.bot_orders) >= len(result.venue_orders)
    assert any(entry["mode"] == "live" for entry in result.mode_history)
    assert not any("not 0" in note for note in result.notes), result.notes
    assert result.log_lines and result.journal
    assert (tmp_path / "bot-1.log").exists() and (tmp_path / "faults.json").exists()


@pytest.mark.slow
def test_sigkill_mid_run_restarts_on_the_same_store(tmp_path: Path) -> None:
    scenario = Scenario(
        name="sigkill",
        description="one SIGKILL mid-run",
        duration_s=22,
        crashes=(CrashPoint(at_s=10, restart_after_s=1),),
    )
    result = run_wire_sync(scenario, 3, tmp_path, duration_scale=1.0)
    assert any("crash (SIGKILL) at 10 s" in note for note in result.notes), result.notes
    assert (tmp_path / "bot-2.log").exists(), "the bot was not restarted"
    assert any("down:" in " ".join(e["reasons"]) for e in result.mode_history)
    assert result.venue_orders
    broken = [v for v in check(result) if v.invariant in (1, 2, 5)]
    assert broken == []


def test_bad_secret_exits_2_and_leaks_nothing(tmp_path: Path) -> None:
    scenario = Scenario(name="bad_secret", description="", setup={"bad_secret": True})
    result = run_wire_sync(scenario, 1, tmp_path)
    assert "the bot refused to start (exit 2)" in result.notes
    assert result.venue_orders == [] and result.bot_orders == []
    assert [v for v in check(result) if v.invariant == 9] == []
    assert not any(secret in line for line in result.log_lines for secret in result.secrets)


def test_unsupported_setup_and_canaries_are_refused_by_name(tmp_path: Path) -> None:
    burst = Scenario(name="burst", description="", setup={"burst_fills": 5})
    with pytest.raises(ValueError, match="burst_fills"):
        run_wire_sync(burst, 1, tmp_path)
    canary = Scenario(name="c", description="", canary="fills_by_order_id")
    with pytest.raises(ValueError, match="fills_by_order_id"):
        run_wire_sync(canary, 1, tmp_path)
    outcome = run_job(Job(burst, 1, "wire"))
    assert outcome.error is not None and "burst_fills" in outcome.error


def test_the_engine_is_registered() -> None:
    assert _engine("wire") is run_wire_sync
    args = build_parser().parse_args(["run", "plain", "--engine", "wire"])
    assert args.engine == "wire"
