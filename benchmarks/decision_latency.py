"""From the decision to place an order to the request on the wire: the bot's own overhead.

``Lifecycle.submit`` is called with a new intent; the clock starts there. What happens
before the request reaches the transport is the bot's: deriving the client order id,
committing the intent and the order row to the store (write-ahead, one transaction), moving
it to ``submitting`` (a second, compare-and-set transaction with its audit row), the rate
budget, the stamp and the signature, and httpx2's request building. The transport
(``httpx2.MockTransport``) records the time it is called and answers at once with the
venue's golden submit answer. Store: SQLite in WAL mode on a temporary file, as by default.

Each run submits ``--n`` orders; the figure is the median and the 99th percentile of the
per-order overhead, then the median over ``--runs`` runs of each.

    python -m benchmarks.decision_latency [--runs 5] [--n 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx2

from benchmarks._common import ROOT, machine_info, median, write_results
from bot.core.clock import OffsetEstimator, Sample, StampSource
from bot.core.ratelimit import RateBudget
from bot.core.retry import Backoff
from bot.core.types import OrderMethod, Side
from bot.exchange.rest import RestClient
from bot.exchange.signing import Credentials
from bot.lifecycle import Intent, Lifecycle
from bot.store.repository import Store

NAME = "decision_latency"
KEY = "b3a1c2d4-0e5f-4a6b-8c7d-9e0f1a2b3c4d"
SECRET = "cmVzdC10aHJvdWdocHV0LWJlbmNobWFyay1zZWNyZXQ="
GOLDEN = ROOT / "tests" / "fixtures" / "btcturk" / "private_submit_order.json"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def one_run(n: int, db_dir: Path) -> dict[str, float]:
    golden = json.loads(GOLDEN.read_text())
    on_wire: list[float] = []
    next_id = [30_000_000_000]

    def answer(request: httpx2.Request) -> httpx2.Response:
        on_wire.append(time.perf_counter())
        next_id[0] += 1
        body = dict(golden, data=dict(golden["data"], id=next_id[0]))
        return httpx2.Response(200, json=body)

    now = [1_763_700_000_000]

    def now_ms() -> int:
        now[0] += 150  # the order buckets (10/s with margin) never make the client wait
        return now[0]

    async def no_sleep(seconds: float) -> None:
        now[0] += int(seconds * 1000) + 1

    estimator = OffsetEstimator()
    for t in range(3):
        estimator.add(Sample(now[0] + t, now[0] + t, now[0] + t))
    estimator.needs_resync = lambda now_ms: False  # type: ignore[method-assign]
    store = await Store.open(f"sqlite+aiosqlite:///{db_dir / 'bot.db'}")
    async with httpx2.AsyncClient(
        transport=httpx2.MockTransport(answer), base_url="http://venue.test"
    ) as http:
        rest = RestClient(
            http,
            credentials=Credentials.from_base64(KEY, SECRET),
            budget=RateBudget(),
            stamps=StampSource(estimator),
            now_ms=now_ms,
            sleep=no_sleep,
            backoff=Backoff(random.Random(1)),
        )
        life = Lifecycle(rest, store, now_ms=now_ms)
        overheads: list[float] = []
        for i in range(n):
            intent = Intent(
                f"bench:{i}",
                "BTCTRY",
                Side.BUY,
                OrderMethod.LIMIT,
                Decimal("0.001"),
                Decimal("3000000"),
            )
            decided = time.perf_counter()
            await life.submit(intent)
            overheads.append((on_wire[-1] - decided) * 1e6)
    await store.close()
    return {
        "median_us": statistics.median(overheads),
        "p99_us": percentile(overheads, 0.99),
        "max_us": max(overheads),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.decision_latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.n < 10:
        parser.error("--runs must be positive and --n at least 10")
    started = time.perf_counter()
    runs = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(asyncio.run(one_run(args.n, Path(tmp))))
        print(
            f"decision_latency: run {i + 1}/{args.runs}: median {runs[-1]['median_us']:.0f} "
            f"us, p99 {runs[-1]['p99_us']:.0f} us",
            file=sys.stderr,
        )
    medians = {k: round(median([r[k] for r in runs]), 1) for k in runs[0]}
    payload = {
        "benchmark": NAME,
        "unit": "microseconds from Lifecycle.submit to the transport, per order",
        "machine": machine_info(),
        "parameters": {"runs": args.runs, "orders_per_run": args.n, "store": "sqlite WAL"},
        "medians": medians,
        "runs": [{k: round(v, 1) for k, v in r.items()} for r in runs],
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    path = write_results(NAME, payload)
    print(
        f"decision_latency: median {medians['median_us']:.0f} us, p99 {medians['p99_us']:.0f} "
        f"us (medians of {args.runs} runs x {args.n} orders) -> {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
