"""``mock-exchange``: serve the mock venue under uvicorn.

A thin parser over plain functions: ``settings_from_args`` builds the one settings object,
``serve`` runs it. uvicorn handles SIGINT and SIGTERM with a clean shutdown.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TextIO

import orjson
import uvicorn

from mock_exchange.accounts import AccountsError
from mock_exchange.app import MockExchange, create_app
from mock_exchange.clock import LiveClock
from mock_exchange.faults import FaultPlan, FaultPlanError
from mock_exchange.runtime import tune_gc
from mock_exchange.settings import MockSettings
from mock_exchange.stream import StreamConfig
from mock_exchange.venue import VenueConfig

__all__ = ["build_parser", "main", "settings_from_args"]


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be zero or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mock-exchange", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the venue's REST surface")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--seed", type=int, default=0, help="seeds the market and the ids")
    serve.add_argument("--accounts", type=Path, help="TOML file of [[account]] tables")
    serve.add_argument("--no-market", action="store_true", help="no simulated traders")
    serve.add_argument(
        "--rate-limits", choices=("on", "off"), default="on", help="the venue's 429s"
    )
    serve.add_argument(
        "--rate-limit-scale",
        type=_positive_float,
        default=1.0,
        help="multiply every endpoint's limit (0.1: ten times stricter)",
    )
    serve.add_argument(
        "--cancel-delay-ms",
        type=_non_negative_int,
        default=250,
        help="how long an accepted cancel takes to leave the book",
    )
    serve.add_argument("--admin-token", help="bearer token for /__admin (default: random)")
    serve.add_argument(
        "--faults",
        type=Path,
        help="fault plan, TOML or JSON (by suffix); replaceable at run "
        "time through PUT /__admin/faults",
    )
    serve.add_argument("--journal", type=Path, help="also append the journal to this JSONL file")
    serve.add_argument(
        "--journal-market", action="store_true", help="journal the market's agents too"
    )
    serve.add_argument(
        "--ws-connects-per-minute",
        type=_positive_int,
        default=15,
        help="websocket connection attempts allowed per IP and minute (the venue's 15)",
    )
    serve.add_argument(
        "--ws-outbox-limit",
        type=_positive_int,
        default=5_000,
        help="messages queued for one websocket client before it is cut off",
    )
    serve.add_argument(
        "--ws-deflate",
        choices=("on", "off"),
        default="on",
        help="permessage-deflate on the websocket feed",
    )
    serve.add_argument("--log-level", default="warning")
    return parser


def load_plan(path: Path) -> FaultPlan:
    """A fault plan file; JSON when its name ends in ``.json``, TOML otherwise."""
    fmt: Literal["toml", "json"] = "json" if path.suffix.lower() == ".json" else "toml"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FaultPlanError(f"cannot read fault plan {path}: {exc}") from None
    return FaultPlan.from_text(text, fmt)


def settings_from_args(args: argparse.Namespace) -> MockSettings:
    return MockSettings(
        seed=args.seed,
        accounts_file=args.accounts,
        market=not args.no_market,
        venue=VenueConfig(cancel_delay_ms=args.cancel_delay_ms),
        rate_limits=args.rate_limits == "on",
        rate_limit_scale=args.rate_limit_scale,
        admin_token=args.admin_token,
        faults=load_plan(args.faults) if args.faults is not None else FaultPlan(),
        journal_path=args.journal,
        journal_market=args.journal_market,
        stream=StreamConfig(
            connects_per_minute=args.ws_connects_per_minute,
            outbox_limit=args.ws_outbox_limit,
            deflate=args.ws_deflate == "on",
        ),
    )


def announce(mock: MockExchange, host: str, port: int, out: TextIO) -> None:
    """What an operator needs to connect, printed once at start (to stdout, never a log)."""
    print(f"mock-exchange: serving BTCTurk REST on http://{host}:{port}", file=out)
    print(f"mock-exchange: websocket feed on ws://{host}:{port}/ (also /ws)", file=out)
    print(f"mock-exchange: admin bearer token: {mock.admin_token}", file=out)
    if mock.settings.accounts_file is None:
        for account in mock.accounts.values():
            print(f"mock-exchange: demo account key:    {account.key}", file=out)
            print(f"mock-exchange: demo account secret: {account.secret}", file=out)
    else:
        print(
            f"mock-exchange: {len(mock.accounts)} account(s) from {mock.settings.accounts_file}",
            file=out,
        )
    out.flush()


class _Server(uvicorn.Server):
    """uvicorn's server, minus one habit: after its graceful shutdown on SIGINT or SIGTERM
    it re-raises the signal, so the process dies by it. Here a stop signal starts the same
    graceful shutdown and the process then exits 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {s: signal.signal(s, self.handle_exit) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for stop, handler in original.items():
                signal.signal(stop, handler)


@contextlib.contextmanager
def journal_file(path: Path | None) -> Iterator[Callable[[dict[str, Any]], None] | None]:
    """A JSONL sink for the journal, one line per entry, flushed line by line."""
    if path is None:
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8", buffering=1) as out:

        def write(entry: dict[str, Any]) -> None:
            out.write(orjson.dumps(entry).decode("utf-8") + "\n")

        yield write


def serve(settings: MockSettings, host: str, port: int, log_level: str) -> int:
    with journal_file(settings.journal_path) as sink:
        mock = MockExchange(settings, LiveClock(), journal_sink=sink)
        app = create_app(settings, mock=mock)
        announce(mock, host, port, sys.stdout)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            lifespan="on",
            ws_ping_interval=settings.stream.ping_interval_s,
            ws_ping_timeout=4 * settings.stream.ping_interval_s,
            ws_per_message_deflate=settings.stream.deflate,
        )
        tune_gc()
        _Server(config).run()
    print("mock-exchange: stopped", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
        return serve(settings, args.host, args.port, args.log_level)
    except (AccountsError, ValueError, OSError) as exc:
        print(f"mock-exchange: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
