"""``btcbot``: the bot's command line, a thin parser over plain functions.

    btcbot run [--config FILE]            trade (or observe), until SIGINT/SIGTERM
    btcbot status [--config FILE]         mode, kill switch, orders by state, from the store
    btcbot orders [--config FILE] [--all] the store's orders (live ones by default)
    btcbot reconcile [--config FILE]      one reconcile pass against the venue; prints the diff
    btcbot kill [--config FILE] [--cancel-all]   drop to observe (persisted); optionally cancel
    btcbot resume [--config FILE]         lift a manual kill
    btcbot check [--config FILE] [--ping] validate configuration and credentials

Configuration is one TOML file (``bot.settings``) plus ``BTCBOT_API_KEY`` and
``BTCBOT_API_SECRET`` from the environment, read here and nowhere below. ``run`` against the
real venue in live mode refuses to start without a passing gate certificate for this code
and configuration (``bot.certificate``). Logs are JSON lines with secrets redacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.app import KILL_KEY, Bot
from bot.certificate import DEFAULT_CERTIFICATE_PATH, check_live_allowed
from bot.errors import BotError
from bot.exchange.adapter import Exchange
from bot.lifecycle import Lifecycle, LifecycleConfig
from bot.logs import configure_logging
from bot.metrics import BotMetrics
from bot.settings import BotSettings, load_settings
from bot.store.repository import Store

__all__ = ["build_parser", "main"]

ROOT = Path(__file__).resolve().parent.parent


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="btcbot", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "trade (or observe) until SIGINT/SIGTERM"),
        ("status", "mode, kill switch and orders by state"),
        ("orders", "the store's orders"),
        ("reconcile", "one reconcile pass; prints the diff"),
        ("kill", "drop to observe (persisted)"),
        ("resume", "lift a manual kill"),
        ("check", "validate configuration and credentials"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--config", type=Path, help="the bot's TOML file")
        if name == "orders":
            sub.add_argument("--all", action="store_true", help="terminal orders too")
        if name == "kill":
            sub.add_argument("--cancel-all", action="store_true", help="cancel our live orders")
        if name == "check":
            sub.add_argument("--ping", action="store_true", help="sync the clock, read balances")
        if name == "run":
            sub.add_argument(
                "--certificate",
                type=Path,
                default=DEFAULT_CERTIFICATE_PATH,
                help="the gate certificate live trading needs",
            )
    return parser


async def _bot(settings: BotSettings, metrics: BotMetrics | None = None) -> Bot:
    store = await Store.open(settings.store.url)
    return Bot(
        settings,
        Exchange.create(settings.exchange_config()),
        store,
        now_ms=_now_ms,
        metrics=metrics,
    )


async def run(settings: BotSettings, certificate: Path) -> str:
    check_live_allowed(settings, certificate, ROOT, _now_ms())
    metrics = BotMetrics()
    server = (
        metrics.start_http(settings.metrics.host, settings.metrics.port)
        if (settings.metrics.enabled)
        else None
    )
    bot = await _bot(settings, metrics)
    loop = asyncio.get_running_loop()
    for stop in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(stop, bot.stop)
    try:
        await bot.run()
    finally:
        if server is not None:
            server.stop()
    return "stopped"


async def status(settings: BotSettings) -> str:
    async with await Store.open(settings.store.url) as store:
        orders = await store.orders()
        kill = await store.kv_get(KILL_KEY) == "1"
        counts = Counter(row["state"] for row in orders)
        fills = await store.fill_counts()
    by_state = ", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "none"
    mode = "observe (manual kill)" if kill else settings.mode
    return f"mode {mode}; orders: {by_state}; fills: {dict(fills)}"


async def orders(settings: BotSettings, everything: bool) -> str:
    async with await Store.open(settings.store.url) as store:
        rows = await (store.orders() if everything else store.live_orders())
    lines = [
        f"{'client id':36}  {'state':14} {'pair':8} {'side':4} {'price':>14} "
        f"{'quantity':>14} {'filled':>14} venue id"
    ]
    for r in sorted(rows, key=lambda r: r["created_ms"]):
        lines.append(
            f"{r['client_id']:36}  {r['state']:14} {r['pair']:8} {r['side'].value:4} "
            f"{r['price'] or '-'!s:>14} {r['quantity']!s:>14} {r['filled']!s:>14} "
            f"{r['venue_id'] or '-'}"
        )
    return "\n".join(lines)


async def reconcile(settings: BotSettings) -> str:
    store = await Store.open(settings.store.url)
    exchange = Exchange.create(settings.exchange_config())
    try:
        life = Lifecycle(
            exchange.rest,
            store,
            now_ms=_now_ms,
            config=LifecycleConfig(
                visibility_budget_ms=settings.lifecycle.visibility_budget_ms,
                lookback_ms=settings.lifecycle.lookback_ms,
                import_external=settings.lifecycle.import_external,
                cancel_external=False,
                pairs=settings.strategy.pairs,
            ),
        )
        await life.load()
        await exchange.rest.sync_clock()
        report = await life.reconcile_once(allow_submit=False)
    finally:
        await exchange.rest.http.aclose()
        await store.close()
    plan = report.plan
    lines = [
        f"reconcile: complete={report.complete} applied={report.applied} "
        f"refused={report.refused} imported={report.imported} fills={report.fills}"
    ]
    for client_id, change in plan.changes:
        lines.append(f"  change {client_id}: {change.event} {change.reason or ''}".rstrip())
    for order in plan.imports:
        lines.append(f"  import {order.venue_id} {order.pair} {order.side} {order.quantity}")
    for fill in plan.new_fills:
        lines.append(f"  fill {fill.trade_id} order {fill.order_id} {fill.amount}@{fill.price}")
    for name in (
        "unresolved",
        "needs_lookup",
        "resubmit",
        "unreadable",
        "duplicates",
        "resurrected",
        "mismatched",
    ):
        values = getattr(plan, name)
        if values:
            lines.append(f"  {name}: {list(values)}")
    lines += [f"  note: {note}" for note in report.notes]
    return "\n".join(lines)


async def kill(settings: BotSettings, cancel_all: bool) -> str:
    if not cancel_all:
        async with await Store.open(settings.store.url) as store:
            await store.kv_set(KILL_KEY, "1")
        return "killed: observe mode (no cancels sent)"
    bot = await _bot(settings)
    try:
        await bot.lifecycle.load()
        await bot.exchange.rest.sync_clock()
        sent = await bot.kill(cancel_all=True)
    finally:
        await bot.exchange.rest.http.aclose()
        await bot.store.close()
    return f"killed: observe mode, {sent} cancels sent"


async def resume(settings: BotSettings) -> str:
    async with await Store.open(settings.store.url) as store:
        await store.kv_set(KILL_KEY, "0")
    return "manual kill lifted"


async def check(settings: BotSettings, ping: bool) -> str:
    exchange = Exchange.create(settings.exchange_config())
    try:
        if not ping:
            return "configuration ok"
        offset = await exchange.rest.sync_clock()
        balances = await exchange.rest.balances()
        trusted = "trusted" if exchange.rest.stamps.trusted else "NOT trusted: writes halted"
        return (
            f"configuration ok; clock offset {offset} ms ({trusted}); "
            f"{len(balances.items)} balances read"
        )
    finally:
        await exchange.close()


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    environment = os.environ if env is None else env
    offline = args.command in ("status", "orders", "resume") or (
        args.command == "kill" and not args.cancel_all
    )
    try:
        settings = load_settings(args.config, environment, require_secrets=not offline)
        credentials = None if offline else settings.credentials()
        configure_logging(settings.logging.level, settings.logging.json, credentials)
        command = args.command
        if command == "run":
            result = asyncio.run(run(settings, args.certificate))
        elif command == "status":
            result = asyncio.run(status(settings))
        elif command == "orders":
            result = asyncio.run(orders(settings, args.all))
        elif command == "reconcile":
            result = asyncio.run(reconcile(settings))
        elif command == "kill":
            result = asyncio.run(kill(settings, args.cancel_all))
        elif command == "resume":
            result = asyncio.run(resume(settings))
        else:
            result = asyncio.run(check(settings, args.ping))
    except BotError as exc:
        print(f"btcbot: {exc}", file=sys.stderr)
        return 2
    print(f"btcbot: {result}" if "\n" not in result else result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
