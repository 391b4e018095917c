"""``btcbot check``: the secret is validated as strict base64 at start, with a clear error
that never shows it; with ``--ping`` the adapter syncs the clock and reads balances."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.cli import main
from bot.errors import ConfigError
from bot.exchange.adapter import Exchange, ExchangeConfig
from tests.conftest import ALICE, LiveServer, start_server, stop_server


def env(secret: str = ALICE.secret, key: str = ALICE.key) -> dict[str, str]:
    return {"BTCBOT_API_KEY": key, "BTCBOT_API_SECRET": secret}


@pytest.mark.parametrize(
    "secret",
    [
        "bm90IGJhc2U2NCBhdCBhbGw=!",  # a character outside the alphabet
        "c2Vj cmV0LXNlY3JldC1zZWNyZXQ=",  # whitespace inside
        "c2VjcmV0LXNlY3JldC1zZWNyZXQ",  # padding missing
        "",
    ],
)
def test_a_malformed_secret_stops_the_bot_at_start_without_showing_it(
    secret: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check"], env(secret)) == 2
    err = capsys.readouterr().err
    assert err.startswith("btcbot: ")
    if secret:
        assert secret not in err and secret[:12] not in err


def test_a_good_secret_passes_the_check_without_any_network(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", "--rest-url", "http://127.0.0.1:9"], env()) == 0
    assert "configuration ok" in capsys.readouterr().out


def test_the_adapter_refuses_to_be_built_with_a_bad_secret() -> None:
    with pytest.raises(ConfigError):
        Exchange.create(ExchangeConfig(api_key=ALICE.key, api_secret="***"))
    assert "secret" not in repr(ExchangeConfig(api_key=ALICE.key, api_secret=ALICE.secret))


def test_bad_urls_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        ExchangeConfig(api_key=ALICE.key, api_secret=ALICE.secret, rest_url="ftp://x")
    with pytest.raises(ConfigError):
        ExchangeConfig(api_key=ALICE.key, api_secret=ALICE.secret, ws_url="http://x")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("cli"), "--no-market")
    yield live
    stop_server(live)


def test_check_with_ping_talks_to_the_mock(
    server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = server.base_url.replace("http://", "ws://")
    assert main(["check", "--rest-url", server.base_url, "--ws-url", ws, "--ping"], env()) == 0
    out = capsys.readouterr().out
    assert "clock offset" in out and "(trusted)" in out and "balances read" in out
