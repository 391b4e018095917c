"""``btcbot``: the secret is validated as strict base64 at start with a clear error that never
shows it; ``check``, ``status``, ``orders``, ``kill``, ``resume`` and ``reconcile`` work on
their own; ``run`` trades against the mock, serves metrics and stops cleanly on SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from bot.cli import main
from bot.errors import ConfigError
from bot.exchange.adapter import Exchange, ExchangeConfig
from tests.conftest import ALICE, LiveServer, free_port, start_server, stop_server


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """``main`` configures the root logger, as a process would; undo it for the next test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def env(secret: str = ALICE.secret, key: str = ALICE.key) -> dict[str, str]:
    return {"BTCBOT_API_KEY": key, "BTCBOT_API_SECRET": secret}


def config(
    tmp: Path,
    base_url: str = "http://127.0.0.1:9",
    mode: str = "observe",
    metrics_port: int = 0,
    extra: str = "",
) -> Path:
    ws = base_url.replace("http://", "ws://") + "/"
    path = tmp / "btcbot.toml"
    path.write_text(
        f'profile = "mock"\nmode = "{mode}"\n'
        f'[venue]\nrest_url = "{base_url}"\nws_url = "{ws}"\n'
        f'[store]\nurl = "sqlite+aiosqlite:///{tmp / "bot.db"}"\n'
        f"[lifecycle]\nreconcile_interval_s = 1.0\n"
        f"[metrics]\nenabled = {'true' if metrics_port else 'false'}\nport = {metrics_port}\n"
        f'[logging]\nlevel = "WARNING"\n{extra}'
    )
    return path


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
    secret: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--config", str(config(tmp_path))], env(secret)) == 2
    err = capsys.readouterr().err
    assert err.startswith("btcbot: ")
    if secret:
        assert secret not in err and secret[:12] not in err


def test_a_good_secret_passes_the_check_without_any_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--config", str(config(tmp_path))], env()) == 0
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


def test_live_trading_against_the_real_venue_needs_a_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "live.toml"
    path.write_text(
        'profile = "live"\nmode = "live"\n'
        f'[store]\nurl = "sqlite+aiosqlite:///{tmp_path / "bot.db"}"\n'
        "[metrics]\nenabled = false\n"
        "[risk]\nmax_position = 0.001\nmax_order_notional = 100\nmax_daily_loss = 10\n"
    )
    code = main(["run", "--config", str(path), "--certificate", str(tmp_path / "none.json")], env())
    assert code == 2
    assert "certificate" in capsys.readouterr().err.lower()


def test_status_orders_kill_and_resume_work_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(config(tmp_path))
    assert main(["status", "--config", path], {}) == 0
    assert "mode observe" in capsys.readouterr().out
    assert main(["kill", "--config", path], {}) == 0
    assert main(["status", "--config", path], {}) == 0
    assert "manual kill" in capsys.readouterr().out
    assert main(["resume", "--config", path], {}) == 0
    assert main(["orders", "--config", path, "--all"], {}) == 0
    assert "client id" in capsys.readouterr().out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("cli"), "--seed", "3")
    yield live
    stop_server(live)


def test_check_with_ping_and_one_reconcile_pass_talk_to_the_mock(
    server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(config(tmp_path, server.base_url))
    assert main(["check", "--config", path, "--ping"], env()) == 0
    out = capsys.readouterr().out
    assert "clock offset" in out and "(trusted)" in out and "balances read" in out
    assert main(["reconcile", "--config", path], env()) == 0
    assert "reconcile: complete=True" in capsys.readouterr().out


def test_run_trades_serves_metrics_and_stops_on_sigterm(server: LiveServer, tmp_path: Path) -> None:
    port = free_port()
    path = config(
        tmp_path,
        server.base_url,
        mode="live",
        metrics_port=port,
        extra='[strategy]\npairs = ["BTCTRY"]\nspread_bps = 40\nquantity = 0.0005\n',
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--config", str(path)],
        env={**os.environ, **env(), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 40
        placed = False
        while time.monotonic() < deadline and not placed:
            time.sleep(0.5)
            try:
                text = httpx2.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx2.TransportError:
                continue
            placed = 'btcbot_orders{state="open"} 1.0' in text or (
                'btcbot_orders{state="open"} 2.0' in text
            )
        assert placed, "the bot did not quote within 40 s"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        output = process.stdout.read() if process.stdout else ""
    assert ALICE.secret not in output
    assert main(["orders", "--config", str(path)], {}) == 0
