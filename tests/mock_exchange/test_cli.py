"""``mock-exchange serve``: the parser builds the settings, and the real server starts on a
socket, prints what a client needs, and shuts down cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx2
import pytest

from mock_exchange.cli import build_parser, main, settings_from_args
from tests.conftest import ALICE, signed, start_server, stop_server


def test_the_parser_builds_one_settings_object() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "--seed",
            "9",
            "--no-market",
            "--rate-limits",
            "off",
            "--rate-limit-scale",
            "0.5",
            "--cancel-delay-ms",
            "0",
            "--accounts",
            "a.toml",
        ]
    )
    settings = settings_from_args(args)
    assert (settings.seed, settings.market, settings.rate_limits) == (9, False, False)
    assert settings.rate_limit_scale == 0.5 and settings.venue.cancel_delay_ms == 0
    assert settings.accounts_file == Path("a.toml")


def test_a_bad_accounts_file_is_a_clear_error_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[account]]\nkey = 'k'\nsecret = '***'\n")
    assert main(["serve", "--accounts", str(bad), "--no-market"]) == 2
    assert "not valid base64" in capsys.readouterr().err


def test_negative_options_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--rate-limit-scale", "0"])
    assert "positive" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_the_server_serves_signed_requests_and_stops_cleanly(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    import time

    server = start_server(tmp_path, "--no-market")
    try:
        answer = httpx2.get(
            f"{server.base_url}/api/v1/users/balances",
            headers=signed(ALICE, int(time.time() * 1000)),
            timeout=10,
        )
        assert answer.status_code == 200
        assert answer.json()["data"][0]["asset"] == "TRY"
        server.process.send_signal(stop_signal)
        assert server.process.wait(timeout=30) == 0
        output = server.process.stdout.read() if server.process.stdout else ""
        assert "admin bearer token" in output and "stopped" in output
        assert ALICE.secret not in output, "file accounts' secrets are never printed"
    finally:
        stop_server(server)


@pytest.mark.slow
def test_without_a_file_a_demo_account_is_printed(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_exchange.cli", "serve", "--port", str(port), "--no-market"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        seen: list[str] = []
        while "demo account secret:" not in "".join(seen) and len(seen) < 50:
            line = process.stdout.readline()
            if not line:  # the process ended
                break
            seen.append(line)
        output = "".join(seen)
        assert "demo account key:" in output, output
        assert "demo account secret:" in output, output
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_websocket_options_reach_the_stream_settings() -> None:
    from mock_exchange.cli import build_parser, settings_from_args

    args = build_parser().parse_args(
        [
            "serve",
            "--ws-connects-per-minute",
            "100",
            "--ws-outbox-limit",
            "7",
            "--ws-deflate",
            "off",
        ]
    )
    stream = settings_from_args(args).stream
    assert (stream.connects_per_minute, stream.outbox_limit, stream.deflate) == (100, 7, False)
    defaults = settings_from_args(build_parser().parse_args(["serve"])).stream
    assert (defaults.connects_per_minute, defaults.outbox_limit, defaults.deflate) == (
        15,
        5000,
        True,
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--ws-outbox-limit", "0"])
