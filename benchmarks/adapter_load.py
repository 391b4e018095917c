"""The bot's adapter under load: many concurrent strategies through one ``RestClient`` (one
shared rate budget) against the mock with its rate limits ON, over a real socket.

``--strategies`` tasks each loop for ``--seconds``: place a signed limit order (resting),
read it back with order/{id}, cancel it, and read balances. They share one adapter, as the
strategies of one bot process do. The venue's limits are 10 orders and 10 cancels a second
per account and IP, 30 order reads a second, 120 balance reads a minute; the budget keeps
80% of each. Reported: requests/s per endpoint against the venue's limit, the share of the
limit reached, 429s earned (the target is none: a block would halt a real bot), and
latency including the time waiting for the budget (median, p95, p99).

    python -m benchmarks.adapter_load [--strategies 20] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2

from benchmarks._common import machine_info, write_results
from benchmarks.rest_throughput import (
    KEY,
    SECRET,
    free_port,
    mock_argv,
    start,
    stop,
    wait_ready,
    write_accounts,
)
from bot.core.clock import OffsetEstimator, StampSource
from bot.core.ratelimit import RateBudget
from bot.core.retry import Backoff, RetryPolicy
from bot.core.types import OrderMethod, Side
from bot.errors import BotError
from bot.exchange.rest import OrderRequest, RestClient
from bot.exchange.signing import Credentials

NAME = "adapter_load"
HARD_LIMIT_S = 120.0
# The venue's per-second (or per-minute) limits for what the strategies call (reference §6.3).
VENUE_LIMITS = {
    "POST /api/v1/order": 10.0,
    "DELETE /api/v1/order": 10.0,
    "GET /api/v1/order/{id}": 30.0,
    "GET /api/v1/users/balances": 2.0,
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def strategy(
    client: RestClient, n: int, end: float, latency: dict[str, list[float]], errors: Counter[str]
) -> None:
    i = 0
    while time.monotonic() < end:
        i += 1
        request = OrderRequest(
            "BTCTRY",
            Side.BUY,
            OrderMethod.LIMIT,
            Decimal("0.001"),
            f"load-{n}-{i}",
            price=Decimal("3000000"),
        )
        try:
            t = time.perf_counter()
            ack = await client.submit(request)
            latency["POST /api/v1/order"].append(time.perf_counter() - t)
            t = time.perf_counter()
            await client.order(ack.id)
            latency["GET /api/v1/order/{id}"].append(time.perf_counter() - t)
            t = time.perf_counter()
            await client.cancel(ack.id)
            latency["DELETE /api/v1/order"].append(time.perf_counter() - t)
            if i % 5 == 0:
                t = time.perf_counter()
                await client.balances()
                latency["GET /api/v1/users/balances"].append(time.perf_counter() - t)
        except BotError as exc:
            errors[type(exc).__name__] += 1


async def run(base_url: str, strategies: int, seconds: float) -> dict[str, Any]:
    statuses: Counter[tuple[str, int | None]] = Counter()
    async with httpx2.AsyncClient(
        base_url=base_url, limits=httpx2.Limits(max_connections=strategies + 4)
    ) as http:
        client = RestClient(
            http,
            credentials=Credentials.from_base64(KEY, SECRET),
            budget=RateBudget(),
            stamps=StampSource(OffsetEstimator()),
            now_ms=lambda: time.time_ns() // 1_000_000,
            sleep=asyncio.sleep,
            backoff=Backoff(random.Random(7)),
            policy=RetryPolicy(max_attempts=3, max_elapsed_s=30),
        )
        client.observer = lambda endpoint, s, status: statuses.update([(endpoint, status)])
        await client.sync_clock()
        latency: dict[str, list[float]] = defaultdict(list)
        errors: Counter[str] = Counter()
        started = time.monotonic()
        end = started + seconds
        await asyncio.gather(
            *(strategy(client, n, end, latency, errors) for n in range(strategies))
        )
        elapsed = time.monotonic() - started
    endpoints = {}
    for endpoint, limit in VENUE_LIMITS.items():
        sent = sum(c for (e, _), c in statuses.items() if e == endpoint)
        blocked = statuses.get((endpoint, 429), 0)
        rate = sent / elapsed
        lat = latency.get(endpoint, [])
        endpoints[endpoint] = {
            "requests": sent,
            "requests_per_s": round(rate, 2),
            "venue_limit_per_s": limit,
            "share_of_limit": round(rate / limit, 3),
            "earned_429": blocked,
            "median_ms": round(statistics.median(lat) * 1000, 1) if lat else None,
            "p95_ms": round(percentile(lat, 0.95) * 1000, 1) if lat else None,
            "p99_ms": round(percentile(lat, 0.99) * 1000, 1) if lat else None,
        }
    total_429 = sum(c for (_, status), c in statuses.items() if status == 429)
    return {
        "elapsed_s": round(elapsed, 2),
        "endpoints": endpoints,
        "earned_429_total": total_429,
        "budget_waits": client.metrics.budget_waits,
        "errors": dict(errors),
        "passed": total_429 == 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.adapter_load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--strategies", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, help="write the JSON here instead of results/")
    args = parser.parse_args(argv)
    if args.strategies < 1 or not 0 < args.seconds <= HARD_LIMIT_S - 30:
        parser.error(f"--strategies >= 1 and 0 < --seconds <= {HARD_LIMIT_S - 30}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = free_port()
        argv_mock = mock_argv(port, write_accounts(workdir / "accounts.toml"))
        argv_mock[argv_mock.index("--rate-limits") + 1] = "on"
        server = start("mock", argv_mock, port, "/api/v2/server/time", workdir)
        try:
            wait_ready(server, time.monotonic() + 60)
            result = asyncio.run(
                asyncio.wait_for(run(server.base_url, args.strategies, args.seconds), HARD_LIMIT_S)
            )
        finally:
            stop(server)
    payload = {
        "benchmark": NAME,
        "machine": machine_info(),
        "parameters": {
            "strategies": args.strategies,
            "seconds": args.seconds,
            "rate_limits": "on",
            "budget_margin": 0.8,
        },
        **result,
    }
    if args.out is not None:
        args.out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        path = args.out
    else:
        path = write_results(NAME, payload)
    post = result["endpoints"]["POST /api/v1/order"]
    print(
        f"adapter_load: {args.strategies} strategies, one adapter: "
        f"{result['earned_429_total']} 429s earned; orders {post['requests_per_s']}/s "
        f"({post['share_of_limit'] * 100:.0f}% of the venue's 10/s), p99 {post['p99_ms']} ms "
        f"-> {path}"
    )
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
