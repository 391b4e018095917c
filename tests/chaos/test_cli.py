"""``chaos run`` and ``chaos gate`` end to end: the table, the reports, the reproduce line,
a canary counted as caught, and a certificate that ``btcbot`` accepts for the same code and
configuration and refuses for another."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.certificate import check_live_allowed, read_certificate
from bot.errors import ConfigError
from bot.settings import load_settings
from chaos.cli import ROOT, main


def test_run_writes_reports_and_passes_a_clean_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "run",
            "plain",
            "canary_fills_by_order_id",
            "--seed",
            "5",
            "--workers",
            "1",
            "--report-dir",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads((tmp_path / "report.json").read_text())
    verdicts = {r["scenario"]: r["verdict"] for r in report["runs"]}
    assert verdicts == {"plain": "pass", "canary_fills_by_order_id": "caught"}
    assert report["passed"] is True
    canary = next(r for r in report["runs"] if r["scenario"] == "canary_fills_by_order_id")
    assert {v["invariant"] for v in canary["violations"]} & {2, 3}
    assert "<svg" in (tmp_path / "report.html").read_text()


def test_an_unknown_scenario_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "no_such_scenario"]) == 2
    assert "no scenario" in capsys.readouterr().err


def test_a_failing_run_prints_its_seed_and_the_command_that_reproduces_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A plain run that "expects" a drop to observe for a clock problem that never comes.
    text = (ROOT / "chaos" / "scenarios" / "plain.toml").read_text()
    scenario = tmp_path / "impossible.toml"
    scenario.write_text(
        text.replace('name = "plain"', 'name = "impossible"')
        + '\n[[expect]]\nmode = "observe"\nwithin_s = 5\nreason = "clock"\n'
    )
    code = main(
        ["run", str(scenario), "--seed", "9", "--workers", "1", "--report-dir", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert f"chaos run {scenario} --seed 9 --engine sim" in out.replace("\n", "")
    assert "invariant 7" in out


def test_gate_writes_a_certificate_btcbot_accepts_for_this_code_and_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chaos.scenario import load_suite

    suite = [s for s in load_suite() if s.name in ("plain", "canary_fills_by_order_id")]
    monkeypatch.setattr("chaos.cli.load_suite", lambda *a, **k: suite)
    certificate = tmp_path / "cert.json"
    code = main(
        [
            "gate",
            "--seed",
            "3",
            "--workers",
            "1",
            "--certificate",
            str(certificate),
            "--report-dir",
            str(tmp_path),
        ]
    )
    assert code == 0, capsys.readouterr().out
    cert = read_certificate(certificate)
    assert cert.passed and set(cert.suite) == {"plain", "canary_fills_by_order_id"}
    live = tmp_path / "live.toml"
    live.write_text(
        'profile = "live"\nmode = "live"\n'
        "[risk]\nmax_position = 0.001\nmax_order_notional = 100\n"
        "max_daily_loss = 10\n"
    )
    settings = load_settings(live, {}, require_secrets=False)
    with pytest.raises(ConfigError, match="configuration"):
        check_live_allowed(settings, certificate, ROOT, cert.created_ms + 1)
    default = load_settings(None, {}, require_secrets=False)
    assert default.fingerprint() == cert.config_fingerprint
