"""Settings: one TOML file plus the keys from the environment, checked once, frozen; a
fingerprint of what the bot does that the gate certificate can bind."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.exchange.adapter import LIVE_REST_URL, LIVE_WS_URL
from bot.settings import EXAMPLE_TOML, BotSettings, PerPair, load_settings
from tests.conftest import ALICE, BOB

ENV = {"BTCBOT_API_KEY": ALICE.key, "BTCBOT_API_SECRET": ALICE.secret}
LIVE_RISK = """
[risk]
max_position = 0.01
max_order_notional = 1000
max_daily_loss = 500
"""


def write(tmp_path: Path, text: str, name: str = "bot.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, env: dict[str, str] = ENV) -> BotSettings:
    return load_settings(write(tmp_path, text), env)


def test_the_example_in_the_docstring_loads_as_written(tmp_path: Path) -> None:
    settings = load(tmp_path, EXAMPLE_TOML)
    assert settings.strategy.pairs == ("BTCTRY", "ETHTRY")
    assert settings.strategy.quantity == Decimal("0.0005")
    assert settings.risk.max_position.for_pair("ETHTRY") == Decimal("0.05")
    assert settings.risk.max_position.for_pair("BTCTRY") == Decimal("0.002")
    assert settings.risk.max_order_notional.for_pair("ETHTRY") == Decimal(2500)
    assert settings.lifecycle.visibility_budget_ms == 60_000
    assert settings.metrics.port == 9108
    assert settings.mode == "observe"


def test_numbers_are_read_as_exact_decimals_never_through_a_float(tmp_path: Path) -> None:
    settings = load(tmp_path, "[strategy]\nquantity = 0.1\nspread_bps = '12.5'\n")
    assert settings.strategy.quantity == Decimal("0.1")  # a float would be 0.1000000000000000055
    assert settings.strategy.spread_bps == Decimal("12.5")


def test_orders_are_sized_by_quantity_or_by_notional_never_both(tmp_path: Path) -> None:
    assert load_settings(None, ENV).strategy.quantity == Decimal("0.0001")
    by_notional = load(tmp_path, "[strategy]\nnotional = 250\n").strategy
    assert by_notional.quantity is None and by_notional.notional == Decimal(250)
    with pytest.raises(ConfigError, match=r"strategy\.quantity and strategy\.notional"):
        load(tmp_path, "[strategy]\nnotional = 250\nquantity = 0.1\n")


def test_no_file_means_the_mock_profile_with_its_local_urls() -> None:
    settings = load_settings(None, ENV)
    assert settings.profile == "mock"
    assert settings.rest_url == "http://127.0.0.1:8080"
    assert settings.ws_url == "ws://127.0.0.1:8080/"
    assert settings.lifecycle.visibility_budget_ms == 60_000
    assert settings.store.url == "sqlite+aiosqlite:///var/bot.db"
    assert not settings.targets_real_venue
    assert not settings.needs_certificate


def test_the_live_profile_points_at_the_real_venue(tmp_path: Path) -> None:
    settings = load(tmp_path, 'profile = "live"\n' + LIVE_RISK)
    assert (settings.rest_url, settings.ws_url) == (LIVE_REST_URL, LIVE_WS_URL)
    assert settings.rest_url == "https://api.btcturk.com"
    assert settings.ws_url == "wss://ws-feed-pro.btcturk.com"
    assert settings.targets_real_venue
    assert not settings.needs_certificate  # observe mode reads only
    assert load(tmp_path, 'profile = "live"\nmode = "live"\n' + LIVE_RISK).needs_certificate


def test_explicit_venue_urls_override_the_profile(tmp_path: Path) -> None:
    settings = load(
        tmp_path, '[venue]\nrest_url = "http://10.0.0.5:9000"\nws_url = "ws://10.0.0.5:9000/"\n'
    )
    config = settings.exchange_config()
    assert (config.rest_url, config.ws_url) == ("http://10.0.0.5:9000", "ws://10.0.0.5:9000/")


def test_a_mock_profile_aimed_at_the_real_host_is_still_the_real_venue(tmp_path: Path) -> None:
    text = '[venue]\nrest_url = "https://api.btcturk.com"\n'
    with pytest.raises(ConfigError, match=r"risk\.max_position must be set in the file"):
        load(tmp_path, text)
    settings = load(tmp_path, 'mode = "live"\n' + text + LIVE_RISK)
    assert settings.profile == "mock"
    assert settings.targets_real_venue and settings.needs_certificate


def test_mode_is_a_top_level_key_and_not_a_risk_key(tmp_path: Path) -> None:
    # A key after a [table] header belongs to that table: TOML's rule, and a classic trap.
    with pytest.raises(ConfigError, match=r"risk\.mode is not a setting"):
        load(tmp_path, LIVE_RISK + 'mode = "live"\n')


def test_the_real_venue_needs_risk_limits_stated_not_inherited(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"risk\.max_position must be set in the file"):
        load(tmp_path, 'profile = "live"\n')
    partial = 'profile = "live"\n[risk]\nmax_position = 0.01\nmax_order_notional = 1000\n'
    with pytest.raises(ConfigError, match=r"risk\.max_daily_loss must be set in the file"):
        load(tmp_path, partial)


def test_exchange_config_carries_keys_urls_pairs_and_tuning(tmp_path: Path) -> None:
    settings = load(tmp_path, "[venue]\ntimeout_s = 4\n[strategy]\npairs = ['ETHTRY']\n")
    config = settings.exchange_config()
    assert config.api_key == ALICE.key and config.api_secret == ALICE.secret
    assert config.pairs == ("ETHTRY",)
    assert config.timeout_s == 4.0
    assert config.credentials().public_key == ALICE.key


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('api_secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQ="\n', "api_secret"),
        ('[venue]\napi_key = "abc"\n', "venue.api_key"),
        ('[venue]\nsecret = "abc"\n', "venue.secret"),
        ("[auth]\ntoken = 'abc'\n", "auth.token"),  # in a table that is no setting at all
        ("[credentials]\nvalue = 'abc'\n", "credentials"),
        ("[metrics]\nbasic_auth_password = 'x'\n", "metrics.basic_auth_password"),
    ],
)
def test_a_secret_in_the_file_is_refused_and_the_environment_named(
    tmp_path: Path, text: str, where: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    message = str(caught.value)
    assert message.startswith(f"{where} looks like a secret")
    assert "BTCBOT_API_SECRET" in message and "environment" in message
    assert "c2VjcmV0" not in message and "abc" not in message


def test_a_secret_in_the_file_is_refused_even_when_the_environment_has_one(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="never read from the settings file"):
        load(tmp_path, f'api_secret = "{BOB.secret}"\n')


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"BTCBOT_API_KEY": ALICE.key},
        {"BTCBOT_API_SECRET": ALICE.secret},
        {"BTCBOT_API_KEY": "  ", "BTCBOT_API_SECRET": ALICE.secret},
    ],
)
def test_missing_keys_in_the_environment_are_a_config_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="set BTCBOT_API_KEY and BTCBOT_API_SECRET"):
        load_settings(None, env)


def test_a_malformed_secret_is_refused_at_load_without_showing_it() -> None:
    bad = "c2VjcmV0LXNlY3JldC1zZWNyZXQ"  # padding missing
    with pytest.raises(ConfigError, match="strict base64") as caught:
        load_settings(None, {"BTCBOT_API_KEY": ALICE.key, "BTCBOT_API_SECRET": bad})
    assert bad not in str(caught.value)


def test_settings_without_keys_can_be_fingerprinted_but_cannot_trade() -> None:
    settings = load_settings(None, {}, require_secrets=False)
    assert settings.fingerprint() == load_settings(None, ENV).fingerprint()
    with pytest.raises(ConfigError, match="set BTCBOT_API_KEY"):
        settings.exchange_config()


def test_keys_never_appear_in_the_repr(tmp_path: Path) -> None:
    text = repr(load_settings(None, ENV))
    assert ALICE.secret not in text and ALICE.key not in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[strategy]\nspred_bps = 10\n", r"strategy\.spred_bps is not a setting; did you mean 'sp"),
        ("[strategies]\nname = 'x'\n", r"strategies is not a setting; did you mean 'strategy'"),
        ("colour = 'blue'\n", r"colour is not a setting"),
        ("[venue]\ntimeout_s = 'ten'\n", r"venue\.timeout_s must be a number, got a string"),
        ("[strategy]\nlevels = 1.5\n", r"strategy\.levels must be a whole number, got a number"),
        ("[strategy]\nlevels = true\n", r"strategy\.levels must be a whole number, got a boolean"),
        ("[lifecycle]\nauto_resume = 1\n", r"lifecycle\.auto_resume must be true or false"),
        ("[strategy]\npairs = 'BTCTRY'\n", r"strategy\.pairs must be a list of strings"),
        ("[strategy]\nquantity = 'lots'\n", r"strategy\.quantity must be a number"),
        ("[strategy]\nquantity = 'nan'\n", r"strategy\.quantity must be a finite number"),
        ("[risk]\nmax_position = { BTCTRY = 'x' }\n", r"risk\.max_position\.BTCTRY must be"),
        ("venue = 3\n", r"\[venue\] must be a table"),
        ("profile = 'staging'\n", r"profile must be one of"),
        ("mode = 'yolo'\n", r"mode must be 'live' or 'observe'"),
        ("[venue]\ntimeout_s = 0\n", r"venue\.timeout_s must be positive"),
        ("[venue]\nrate_margin = 1.5\n", r"venue\.rate_margin must be in \(0, 1\]"),
        ("[venue]\nstamp_tolerance_ms = 6000\n", r"venue\.stamp_tolerance_ms must be between"),
        ("[venue]\nrest_url = 'ftp://x'\n", r"venue\.rest_url must start with http"),
        ("[venue]\nws_url = 'http://x'\n", r"venue\.ws_url must start with ws"),
        ("[store]\nurl = 'bot.db'\n", r"store\.url must be a database URL"),
        ("[strategy]\nname = 'martingale'\n", r"strategy\.name must be one of"),
        ("[strategy]\npairs = []\n", r"strategy\.pairs must name at least one pair"),
        ("[strategy]\npairs = ['btc_try']\n", r"strategy\.pairs has 'btc_try'"),
        ("[strategy]\npairs = ['BTCTRY', 'BTCTRY']\n", r"strategy\.pairs names a pair twice"),
        ("[strategy]\nspread_bps = 0\n", r"strategy\.spread_bps must be in"),
        ("[strategy]\nlevels = 0\n", r"strategy\.levels must be between 1 and 20"),
        ("[strategy]\nquantity = -1\n", r"strategy\.quantity must be positive"),
        ("[risk]\nmax_open_orders = 0\n", r"risk\.max_open_orders must be at least 1"),
        ("[risk]\nmax_open_orders_per_pair = 9\n", r"risk\.max_open_orders_per_pair must be"),
        ("[risk]\nmax_open_orders_per_pair = 0\n", r"risk\.max_open_orders_per_pair must be"),
        ("[strategy]\nnotional = 0\n", r"strategy\.notional must be positive"),
        ("[strategy]\nmax_skew_bps = 10000\n", r"strategy\.max_skew_bps must be in"),
        ("[strategy]\nbuy_fee_reserve = -0.1\n", r"strategy\.buy_fee_reserve must not be"),
        ("[strategy]\nlevels = 20\nlevel_step_bps = 600\n", r"widest level past 100%"),
        ("[risk]\nmax_daily_loss = 0\n", r"risk\.max_daily_loss must be positive"),
        ("[risk]\nmax_position = { default = -1 }\n", r"risk\.max_position\.default must be"),
        ("[risk]\nmax_position = { ETHTRY = 1 }\n", r"risk\.max_position has no limit for BTCTRY"),
        ("[risk]\nmax_position = { default = 1, XRPTRY = 1 }\n", r"position\.XRPTRY is not"),
        ("[lifecycle]\nvisibility_budget_ms = 0\n", r"lifecycle\.visibility_budget_ms must be"),
        ("[lifecycle]\nmax_reconcile_failures = 0\n", r"lifecycle\.max_reconcile_failures must"),
        ("[metrics]\nport = 70000\n", r"metrics\.port must be between 0 and 65535"),
        ("[logging]\nlevel = 'LOUD'\n", r"logging\.level must be one of"),
    ],
)  # fmt: skip
def test_bad_settings_are_config_errors_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, text)


def test_a_missing_or_broken_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", ENV)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(tmp_path, "[strategy\n")


def test_settings_are_frozen() -> None:
    settings = load_settings(None, ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.mode = "live"  # type: ignore[misc]


# -- the fingerprint -----------------------------------------------------------------------


def test_the_fingerprint_ignores_the_order_of_keys_and_tables(tmp_path: Path) -> None:
    one = load(
        tmp_path,
        "[strategy]\nspread_bps = 30\nlevels = 2\npairs = ['BTCTRY', 'ETHTRY']\n"
        "[risk]\nmax_position = { default = 1, ETHTRY = 2 }\nmax_open_orders = 3\n",
    )
    two = load(
        tmp_path,
        "[risk]\nmax_open_orders = 3\nmax_position = { ETHTRY = 2, default = 1.000 }\n"
        "[strategy]\npairs = ['ETHTRY', 'BTCTRY']\nlevels = 2\nspread_bps = 30.0\n",
    )
    assert one.fingerprint() == two.fingerprint()
    assert len(one.fingerprint()) == 64 and int(one.fingerprint(), 16) >= 0


@pytest.mark.parametrize(
    "text",
    [
        "[strategy]\nspread_bps = 21\n",
        "[strategy]\nquantity = 0.00011\n",
        "[strategy]\npairs = ['ETHTRY']\n",
        "[risk]\nmax_position = { default = 0.001, BTCTRY = 0.0011 }\n",
        "[risk]\nmax_daily_loss = 999\n",
        "[lifecycle]\nvisibility_budget_ms = 59999\n",
        "[lifecycle]\ncancel_external = true\n",
        "[strategy]\nnotional = 100\n",
        "[strategy]\npull_when_blind = false\n",
        "[risk]\nmax_open_orders_per_pair = 3\n",
        "[venue]\nrate_margin = 0.7\n",
        "[venue]\nstamp_tolerance_ms = 2000\n",
    ],
)
def test_the_fingerprint_changes_with_any_behavioural_value(tmp_path: Path, text: str) -> None:
    assert load(tmp_path, text).fingerprint() != load_settings(None, ENV).fingerprint()


@pytest.mark.parametrize(
    "text",
    [
        "[venue]\nrest_url = 'http://10.0.0.1:1'\nws_url = 'ws://10.0.0.1:1/'\n",
        "[store]\nurl = 'postgresql+asyncpg://db/bot'\n",
        "[metrics]\nport = 9999\nenabled = false\n",
        "[logging]\nlevel = 'DEBUG'\njson = false\n",
        "mode = 'live'\n",
    ],
)
def test_the_fingerprint_leaves_out_where_the_bot_runs(tmp_path: Path, text: str) -> None:
    # The gate runs the same behaviour against the mock, with the mock's URLs and store.
    assert load(tmp_path, text).fingerprint() == load_settings(None, ENV).fingerprint()


def test_the_fingerprint_never_includes_the_keys(tmp_path: Path) -> None:
    alice = load_settings(None, ENV)
    bob = load_settings(None, {"BTCBOT_API_KEY": BOB.key, "BTCBOT_API_SECRET": BOB.secret})
    assert alice.fingerprint() == bob.fingerprint()
    canonical = repr(alice.canonical())
    assert ALICE.secret not in canonical and ALICE.key not in canonical


def test_the_live_profile_certifies_the_same_behaviour_as_the_mock(tmp_path: Path) -> None:
    live = load(tmp_path, 'profile = "live"\nmode = "live"\n' + LIVE_RISK)
    mock = load(tmp_path, LIVE_RISK)
    assert live.fingerprint() == mock.fingerprint()
    assert dataclasses.replace(live, profile="mock").fingerprint() == live.fingerprint()


def test_open_orders_per_pair_default_to_the_overall_limit(tmp_path: Path) -> None:
    assert load(tmp_path, "[risk]\nmax_open_orders = 3\n").risk.open_orders_per_pair == 3
    risk = load(tmp_path, "[risk]\nmax_open_orders_per_pair = 2\n").risk
    assert (risk.open_orders_per_pair, risk.max_open_orders) == (2, 8)


def test_per_pair_limits_fall_back_to_the_default() -> None:
    limit = PerPair(default=Decimal(1), pairs=(("ETHTRY", Decimal(2)),))
    assert limit.for_pair("ETHTRY") == 2 and limit.for_pair("BTCTRY") == 1
    with pytest.raises(KeyError):
        PerPair(pairs=(("ETHTRY", Decimal(2)),)).for_pair("BTCTRY")
