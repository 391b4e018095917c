"""The gate certificate: written by the gate, read back exactly, and required before live
trading on the real venue, for the same code and configuration, with a reason when refused."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from bot.certificate import (
    CERTIFICATE_VERSION,
    Certificate,
    check_live_allowed,
    code_fingerprint,
    issue_certificate,
    package_fingerprints,
    read_certificate,
    write_certificate,
)
from bot.errors import ConfigError
from bot.settings import BotSettings, RiskSettings, StrategySettings
from tests.conftest import ALICE

NOW = 1_700_000_000_000
DAY = 86_400_000


def live_settings(**changes: object) -> BotSettings:
    settings = BotSettings(profile="live", mode="live", api_key=ALICE.key, api_secret=ALICE.secret)
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]


def make_tree(root: Path) -> Path:
    """A stand-in for the repository: the three certified packages, a few sources each."""
    for package in ("bot", "chaos", "mock_exchange"):
        (root / package / "core").mkdir(parents=True)
        (root / package / "__init__.py").write_text(f'"""{package}"""\n')
        (root / package / "core" / "logic.py").write_text("ANSWER = 42\n")
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "repo")


def certify(
    path: Path,
    settings: BotSettings,
    root: Path,
    *,
    violations: int = 0,
    suite: tuple[str, ...] = ("baseline", "cancel_lag"),
    valid_for_ms: int | None = 7 * DAY,
) -> Certificate:
    cert = issue_certificate(
        settings,
        root,
        suite=suite,
        seeds=(1, 2, 3),
        violations=violations,
        now_ms=NOW,
        valid_for_ms=valid_for_ms,
    )
    write_certificate(path, cert)
    return cert


def test_a_certificate_reads_back_exactly_as_written(tmp_path: Path, tree: Path) -> None:
    path = tmp_path / "var" / "gate.json"
    written = certify(path, live_settings(), tree)
    read = read_certificate(path)
    assert read == written
    assert read.passed and read.violations == 0
    assert read.suite == ("baseline", "cancel_lag") and read.seeds == (1, 2, 3)
    assert read.expires_ms == NOW + 7 * DAY and read.created_ms == NOW
    assert read.config_fingerprint == live_settings().fingerprint()
    assert read.code_fingerprint == code_fingerprint(tree)
    data = json.loads(path.read_text())
    assert data["version"] == CERTIFICATE_VERSION
    assert set(data) >= {"code_fingerprint", "config_fingerprint", "suite", "seeds", "passed"}
    assert [p.name for p in path.parent.iterdir()] == ["gate.json"]  # no temp file left


def test_the_certificate_never_holds_a_key(tmp_path: Path, tree: Path) -> None:
    path = tmp_path / "gate.json"
    certify(path, live_settings(), tree)
    text = path.read_text()
    assert ALICE.secret not in text and ALICE.key not in text


def test_a_good_certificate_allows_live_trading(tmp_path: Path, tree: Path) -> None:
    path = tmp_path / "gate.json"
    certify(path, live_settings(), tree)
    check_live_allowed(live_settings(), path, tree, NOW + DAY)


def test_a_certificate_without_expiry_never_expires(tmp_path: Path, tree: Path) -> None:
    path = tmp_path / "gate.json"
    certify(path, live_settings(), tree, valid_for_ms=None)
    check_live_allowed(live_settings(), path, tree, NOW + 10_000 * DAY)


def test_no_certificate_refuses_live_trading(tmp_path: Path, tree: Path) -> None:
    with pytest.raises(ConfigError, match=r"no gate certificate at .*run `chaos gate`"):
        check_live_allowed(live_settings(), tmp_path / "absent.json", tree, NOW)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "Expecting property name"),
        ("[]", "not a JSON object"),
        ('{"version": 2}', "version 2; this bot reads version 1"),
        ('{"version": 1, "passed": true}', "is missing or not of type"),
    ],
)
def test_an_unreadable_certificate_refuses_live_trading(
    tmp_path: Path, tree: Path, content: str, why: str
) -> None:
    path = tmp_path / "gate.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=r"gate certificate .* is unreadable") as caught:
        check_live_allowed(live_settings(), path, tree, NOW)
    assert why in str(caught.value)


def test_a_tampered_field_type_is_unreadable_not_trusted(tmp_path: Path, tree: Path) -> None:
    path = tmp_path / "gate.json"
    certify(path, live_settings(), tree)
    data = json.loads(path.read_text())
    data["violations"] = False  # a bool is an int to Python; not to this reader
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="violations is missing or not of type int"):
        read_certificate(path)


def test_a_failed_gate_refuses_live_trading(tmp_path: Path, tree: Path) -> None:
    path = tmp_path / "gate.json"
    cert = certify(path, live_settings(), tree, violations=2)
    assert not cert.passed
    with pytest.raises(ConfigError, match=r"records a failed gate \(2 violations"):
        check_live_allowed(live_settings(), path, tree, NOW)


def test_a_gate_that_ran_no_scenario_has_not_passed(tmp_path: Path, tree: Path) -> None:
    path = tmp_path / "gate.json"
    assert not certify(path, live_settings(), tree, suite=()).passed
    with pytest.raises(ConfigError, match=r"failed gate \(0 violations, 0 scenarios\)"):
        check_live_allowed(live_settings(), path, tree, NOW)


def test_a_certificate_claiming_a_pass_with_violations_is_refused(
    tmp_path: Path, tree: Path
) -> None:
    path = tmp_path / "gate.json"
    cert = certify(path, live_settings(), tree, violations=1)
    write_certificate(path, dataclasses.replace(cert, passed=True))
    with pytest.raises(ConfigError, match="failed gate"):
        check_live_allowed(live_settings(), path, tree, NOW)


def test_changed_code_refuses_live_trading_and_names_the_package(
    tmp_path: Path, tree: Path
) -> None:
    path = tmp_path / "gate.json"
    certify(path, live_settings(), tree)
    (tree / "bot" / "core" / "logic.py").write_text("ANSWER = 43\n")
    with pytest.raises(ConfigError, match=r"code changed since the gate \(bot differ"):
        check_live_allowed(live_settings(), path, tree, NOW)


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "chaos" / "core" / "logic.py").write_text("ANSWER = 0\n"),
        lambda root: (root / "mock_exchange" / "extra.py").write_text(""),
        lambda root: (root / "bot" / "core" / "logic.py").rename(root / "bot" / "logic.py"),
    ],
    ids=["harness edited", "mock file added", "bot file moved"],
)
def test_any_change_to_the_certified_packages_changes_the_code_fingerprint(
    tree: Path, change: Callable[[Path], object]
) -> None:
    before = code_fingerprint(tree)
    change(tree)
    assert code_fingerprint(tree) != before


def test_the_code_fingerprint_ignores_bytecode_and_other_files(tree: Path) -> None:
    before = code_fingerprint(tree)
    (tree / "bot" / "__pycache__").mkdir()
    (tree / "bot" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (tree / "bot" / "notes.txt").write_text("hi")
    (tree / "tests").mkdir()
    (tree / "tests" / "test_x.py").write_text("")
    assert code_fingerprint(tree) == before


def test_the_code_fingerprint_needs_the_bot_package(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no bot/ package"):
        code_fingerprint(tmp_path)


def test_the_real_repository_has_a_fingerprint_for_each_package() -> None:
    root = Path(__file__).resolve().parents[2]
    packages = package_fingerprints(root)
    assert set(packages) == {"bot", "chaos", "mock_exchange"}
    assert "absent" not in packages.values()
    assert code_fingerprint(root) == code_fingerprint(root)


def test_changed_configuration_refuses_live_trading_and_names_the_key(
    tmp_path: Path, tree: Path
) -> None:
    path = tmp_path / "gate.json"
    certify(path, live_settings(), tree)
    wider = live_settings(strategy=StrategySettings(spread_bps=Decimal(50)))
    with pytest.raises(
        ConfigError, match=r"configuration changed since the gate \(strategy\.spread_bps differ"
    ):
        check_live_allowed(wider, path, tree, NOW)
    riskier = live_settings(risk=RiskSettings(max_daily_loss=Decimal(10**6)))
    with pytest.raises(ConfigError, match=r"risk\.max_daily_loss differ"):
        check_live_allowed(riskier, path, tree, NOW)


def test_an_expired_certificate_refuses_live_trading(tmp_path: Path, tree: Path) -> None:
    path = tmp_path / "gate.json"
    certify(path, live_settings(), tree, valid_for_ms=DAY)
    check_live_allowed(live_settings(), path, tree, NOW + DAY - 1)
    with pytest.raises(ConfigError, match=r"expired at 2023-11-15T22:13:20\+00:00"):
        check_live_allowed(live_settings(), path, tree, NOW + DAY)


def test_the_six_reasons_are_distinct(tmp_path: Path, tree: Path) -> None:
    def code_changed(path: Path) -> None:
        certify(path, live_settings(), tree)
        (tree / "bot" / "new.py").write_text("")  # last: it changes the tree for good

    cases: dict[str, Callable[[Path], object]] = {
        "missing": lambda path: None,
        "unreadable": lambda path: path.write_text("{"),
        "failed": lambda path: certify(path, live_settings(), tree, violations=1),
        "config": lambda path: certify(
            path, live_settings(strategy=StrategySettings(levels=2)), tree
        ),
        "expired": lambda path: certify(path, live_settings(), tree, valid_for_ms=1),
        "code": code_changed,
    }
    reasons = []
    for name, prepare in cases.items():
        path = tmp_path / f"{name}.json"
        prepare(path)
        with pytest.raises(ConfigError) as caught:
            check_live_allowed(live_settings(), path, tree, NOW + 1)
        reasons.append(str(caught.value).replace(str(path), "").split(":")[0])
    assert len(set(reasons)) == len(cases), reasons


@pytest.mark.parametrize(
    "settings",
    [
        BotSettings(profile="mock", mode="live"),
        BotSettings(profile="live", mode="observe"),
    ],
    ids=["mock profile, live mode", "live profile, observe mode"],
)
def test_no_certificate_is_needed_off_the_real_venue_or_in_observe_mode(
    tmp_path: Path, tree: Path, settings: BotSettings
) -> None:
    check_live_allowed(settings, tmp_path / "absent.json", tree, NOW)


def test_the_real_venue_host_needs_one_whatever_the_profile_says(
    tmp_path: Path, tree: Path
) -> None:
    settings = BotSettings(profile="mock", mode="live")
    sneaky = dataclasses.replace(
        settings, venue=dataclasses.replace(settings.venue, rest_url="https://API.btcturk.com/")
    )
    check_live_allowed(settings, tmp_path / "absent.json", tree, NOW)
    with pytest.raises(ConfigError, match="no gate certificate"):
        check_live_allowed(sneaky, tmp_path / "absent.json", tree, NOW)
