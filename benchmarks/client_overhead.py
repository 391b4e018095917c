"""The bot adapter's own cost per request, in process, without the network: microseconds.

What ``bot.exchange.rest.RestClient`` adds to every request, measured piece by piece on
the venue's real answers (golden payloads, ``tests/fixtures/btcturk/``):

* **sign**: a write stamp from ``StampSource`` plus ``auth_headers`` (HMAC-SHA256 and
  base64);
* **limiter**: ``RateBudget.reserve`` on ``POST /api/v1/order`` (its two buckets), with the
  clock moved far enough each time that the call never waits;
* **parse submit**: ``classify_response`` + ``schemas.submit_ack`` on the submit answer;
* **parse openOrders**: the same on an openOrders answer of 20 orders, per request;
* **request total**: the whole client path of one signed submit against a transport that
  answers at once with the golden body (``httpx2.MockTransport``), so it includes
  httpx2's own request building; the difference to the sum above is httpx2's share.

Each figure is the median over ``--runs`` runs of ``--n`` calls (per-call time = run time /
n). The machine is shared and noisy; medians are what to read.

    python -m benchmarks.client_overhead [--runs 7] [--n 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx2

from benchmarks._common import ROOT, machine_info, median, write_results
from bot.core.clock import OffsetEstimator, Sample, StampSource
from bot.core.ratelimit import RateBudget
from bot.core.retry import Backoff
from bot.core.types import OrderMethod, Side
from bot.exchange import schemas
from bot.exchange.rest import OrderRequest, RestClient
from bot.exchange.signing import Credentials, auth_headers

NAME = "client_overhead"
FIXTURES = ROOT / "tests" / "fixtures" / "btcturk"
KEY = "b3a1c2d4-0e5f-4a6b-8c7d-9e0f1a2b3c4d"
SECRET = "cmVzdC10aHJvdWdocHV0LWJlbmNobWFyay1zZWNyZXQ="


def golden(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text(), parse_float=Decimal)
    return payload


def stamps() -> StampSource:
    estimator = OffsetEstimator()
    for t in range(3):
        estimator.add(Sample(t, t, t))
    return StampSource(estimator)


def per_call_us(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def open_orders_body(count: int) -> bytes:
    payload = golden("private_open_orders.json")
    template = (payload["data"]["bids"] or payload["data"]["asks"])[0]
    rows = [dict(template, id=int(template["id"]) + i) for i in range(count)]
    buys = [r for r in rows if r["type"] == "buy"]
    sells = [r for r in rows if r["type"] != "buy"]
    payload["data"] = {"asks": sells, "bids": buys}
    return json.dumps(payload, default=str).encode()


def pieces(n: int) -> dict[str, float]:
    creds = Credentials.from_base64(KEY, SECRET)
    source = stamps()
    budget = RateBudget()
    clock = [0]

    def sign() -> None:
        auth_headers(creds, source.write_stamp(1_700_000_000_000))

    def limiter() -> None:
        clock[0] += 10_000  # past every window: never waits, always books
        budget.reserve("POST", "/api/v1/order", clock[0])

    submit_body = json.dumps(golden("private_submit_order.json"), default=str).encode()
    orders_body = open_orders_body(20)

    def parse_submit() -> None:
        schemas.submit_ack(schemas.classify_response(200, submit_body, None, kind="submit"))

    def parse_orders() -> None:
        schemas.open_orders(schemas.classify_response(200, orders_body, None))

    return {
        "sign_us": per_call_us(sign, n),
        "limiter_us": per_call_us(limiter, n),
        "parse_submit_us": per_call_us(parse_submit, n),
        "parse_open_orders_20_us": per_call_us(parse_orders, max(1, n // 10)),
    }


async def whole_request(n: int) -> float:
    body = json.dumps(golden("private_submit_order.json"), default=str).encode()

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": "application/json"})

    now = [1_700_000_000_000]

    async def no_sleep(seconds: float) -> None:
        now[0] += int(seconds * 1000) + 1

    def now_ms() -> int:
        now[0] += 200  # the order buckets never make the client wait
        return now[0]

    async with httpx2.AsyncClient(
        transport=httpx2.MockTransport(answer), base_url="http://venue.test"
    ) as http:
        client = RestClient(
            http,
            credentials=Credentials.from_base64(KEY, SECRET),
            budget=RateBudget(),
            stamps=stamps(),
            now_ms=now_ms,
            sleep=no_sleep,
            backoff=Backoff(random.Random(1)),
        )
        client.estimator.needs_resync = lambda now_ms: False  # type: ignore[method-assign]
        request = OrderRequest(
            "BTCTRY", Side.BUY, OrderMethod.LIMIT, Decimal("0.001"), "c", price=Decimal("3000000")
        )
        start = time.perf_counter()
        for _ in range(n):
            await client.submit(request)
        return (time.perf_counter() - start) / n * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.client_overhead",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.n < 10:
        parser.error("--runs must be positive and --n at least 10")
    started = time.perf_counter()
    runs: list[dict[str, float]] = []
    for i in range(args.runs):
        figures = pieces(args.n)
        figures["request_total_us"] = asyncio.run(whole_request(max(1, args.n // 4)))
        runs.append(figures)
        print(
            f"client_overhead: run {i + 1}/{args.runs}: "
            + ", ".join(f"{k} {v:.1f}" for k, v in figures.items()),
            file=sys.stderr,
        )
    medians = {k: round(median([r[k] for r in runs]), 2) for k in runs[0]}
    payload = {
        "benchmark": NAME,
        "unit": "microseconds per call, median of runs",
        "machine": machine_info(),
        "parameters": {"runs": args.runs, "n": args.n, "open_orders_rows": 20},
        "medians": medians,
        "runs": [{k: round(v, 2) for k, v in r.items()} for r in runs],
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    path = write_results(NAME, payload)
    print("client_overhead: " + ", ".join(f"{k} {v}" for k, v in medians.items()) + f" -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
