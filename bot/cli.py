"""``btcbot``: the bot's command line, a thin parser over plain functions.

``btcbot check`` validates the configuration the way the bot does at start (the API secret
as strict base64 first) and, with ``--ping``, measures the clock offset and reads balances
through the adapter. Keys come from the environment (``BTCBOT_API_KEY``,
``BTCBOT_API_SECRET``), read here and nowhere below. The trading loop arrives with issue 5.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence

from bot.errors import BotError, ConfigError
from bot.exchange.adapter import LIVE_REST_URL, LIVE_WS_URL, Exchange, ExchangeConfig

__all__ = ["build_parser", "config_from", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="btcbot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate the configuration and credentials")
    check.add_argument("--rest-url", default=LIVE_REST_URL)
    check.add_argument("--ws-url", default=LIVE_WS_URL)
    check.add_argument("--pair", action="append", dest="pairs", help="repeatable")
    check.add_argument("--ping", action="store_true", help="also sync the clock, read balances")
    return parser


def config_from(args: argparse.Namespace, env: Mapping[str, str]) -> ExchangeConfig:
    key = env.get("BTCBOT_API_KEY", "").strip()
    secret = env.get("BTCBOT_API_SECRET", "")
    if not key or not secret:
        raise ConfigError("set BTCBOT_API_KEY and BTCBOT_API_SECRET in the environment")
    config = ExchangeConfig(
        api_key=key,
        api_secret=secret,
        rest_url=args.rest_url,
        ws_url=args.ws_url,
        pairs=tuple(args.pairs or ("BTCTRY",)),
    )
    config.credentials()  # strict base64 now, before anything else happens
    return config


async def check(config: ExchangeConfig, ping: bool) -> str:
    exchange = Exchange.create(config)
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
    try:
        config = config_from(args, os.environ if env is None else env)
        print(f"btcbot: {asyncio.run(check(config, args.ping))}")
    except BotError as exc:
        print(f"btcbot: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
