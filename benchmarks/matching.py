"""Matching-engine speed, in process: limit orders per second.

Two figures, measured interleaved (book, venue, book, venue, ...) in one process:

* **book**: the bare price-time-priority book, ``Book.match`` then ``Book.rest`` of what is
  left, on pre-built ``Order`` objects (what ``Venue._execute`` does for a limit order,
  without money).
* **venue**: the full ``Venue.submit`` path on BTCTRY (validation, funds locking, matching,
  settlement with fees and tax, events) for two well-funded accounts, with the oldest
  resting orders cancelled (``Venue.cancel``; the venue's ``advance`` carries the cancel out
  ``cancel_delay_ms`` later) so that the book stays bounded. Cancels run inside the timed
  loop; the figure counts submitted orders only.

The order stream is generated before timing by replaying the same policy on a shadow book
(or venue), so that each order's price is chosen against the touch it will actually meet:
about 70% rest near the touch (joining, stepping behind by a few ticks, or improving by
one), about 30% cross (limit at the opposite touch plus 0-3 ticks, bigger sizes, often
sweeping several levels). Prices are whole TRY (BTCTRY's tick), quantities have 8 decimals.
The timed replay starts from a fresh book each run and is deterministic.

    python -m benchmarks.matching [--orders 100000] [--runs 7] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import random
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from benchmarks._common import machine_info, median, write_results
from mock_exchange.matching import Book
from mock_exchange.model import BUY, SELL, Order
from mock_exchange.rules import DEFAULT_PAIRS
from mock_exchange.runtime import SERVER_GC_THRESHOLDS
from mock_exchange.validation import OrderRequest
from mock_exchange.venue import Venue

NAME = "matching"
TARGET = 50_000.0
PAIR = "BTCTRY"
MID = 4_000_000  # BTCTRY's reference price; the band is 400,000..40,000,000
CROSSING_SHARE = 0.30
MAX_RESTING = 2_000  # venue path: resting orders beyond this are cancelled, oldest first
T0 = 1_700_000_000_000  # ms; each order is 1 ms after the previous one
UNIT = Decimal("0.00000001")
ACCOUNTS = ("bench-a", "bench-b")


@dataclass(frozen=True, slots=True)
class Spec:
    """One order of the stream, decided before timing."""

    side: str
    price: Decimal
    quantity: Decimal
    crossing: bool
    account: str
    client_id: str


def _resting_size(rng: random.Random) -> int:
    # 0.0001 .. 0.02 BTC (about 400 .. 80,000 TRY), log-uniform, in satoshis
    return int(10 ** rng.uniform(4.0, 6.3))


def _crossing_size(rng: random.Random) -> int:
    # bigger: 0.0003 .. 0.08 BTC, so that crossing volume about balances resting volume
    return int(10 ** rng.uniform(4.5, 6.9))


def _choose(
    rng: random.Random, best_bid: Decimal | None, best_ask: Decimal | None, index: int
) -> Spec:
    side = BUY if rng.random() < 0.5 else SELL
    crossing = rng.random() < CROSSING_SHARE
    bid = int(best_bid) if best_bid is not None else None
    ask = int(best_ask) if best_ask is not None else None
    if crossing:
        units = _crossing_size(rng)
        if side == BUY:
            price = (
                ask if ask is not None else (bid + 1 if bid is not None else MID)
            ) + rng.randint(0, 3)
        else:
            price = (
                bid if bid is not None else (ask - 1 if ask is not None else MID)
            ) - rng.randint(0, 3)
    else:
        units = _resting_size(rng)
        if side == BUY:
            if bid is None:
                price = (ask if ask is not None else MID) - rng.randint(1, 5)
            else:
                price = bid + rng.randint(-4, 1)  # behind, join, or improve by one tick
            if ask is not None:
                price = min(price, ask - 1)
        else:
            if ask is None:
                price = (bid if bid is not None else MID) + rng.randint(1, 5)
            else:
                price = ask - rng.randint(-4, 1)
            if bid is not None:
                price = max(price, bid + 1)
    account = ACCOUNTS[rng.getrandbits(1)]
    return Spec(side, Decimal(price), Decimal(units) * UNIT, crossing, account, f"b{index}")


# -- (a) the bare book --------------------------------------------------------------------


def book_orders(specs: list[Spec]) -> list[Order]:
    return [
        Order(
            id=i,
            account=s.account,
            pair=PAIR,
            side=s.side,
            method="limit",
            price=s.price,
            quantity=s.quantity,
            left=s.quantity,
            client_id=s.client_id,
            created=0,
            updated=0,
        )
        for i, s in enumerate(specs)
    ]


def replay_book(book: Book, orders: list[Order]) -> int:
    """The timed loop: match each order, then rest what is left. Returns the match count."""
    zero = Decimal(0)
    matched = 0
    match = book.match
    rest = book.rest
    for order in orders:
        matches = match(order.side, base=order.left, limit=order.price)
        if matches:
            matched += len(matches)
            left = order.left
            for m in matches:
                left -= m.amount
            order.left = left
        if order.left > zero:
            rest(order)
    return matched


def generate_book_stream(n: int, seed: int) -> list[Spec]:
    rng = random.Random(seed)
    book = Book(PAIR)
    specs: list[Spec] = []
    for i in range(n):
        spec = _choose(rng, book.best_bid(), book.best_ask(), i)
        specs.append(spec)
        replay_book(book, book_orders([spec]))
    return specs


# -- (b) the venue ------------------------------------------------------------------------


def new_venue() -> Venue:
    venue = Venue(DEFAULT_PAIRS, random.Random(1))
    for account in ACCOUNTS:
        venue.open_account(account)
        venue.fund(account, "TRY", Decimal("1000000000000"), T0)
        venue.fund(account, "BTC", Decimal("1000000"), T0)
    return venue


def requests_of(specs: list[Spec]) -> list[tuple[str, OrderRequest]]:
    return [
        (
            s.account,
            OrderRequest(
                pair=PAIR,
                side=s.side,
                method="limit",
                quantity=s.quantity,
                price=s.price,
                client_id=s.client_id,
            ),
        )
        for s in specs
    ]


class VenueDriver:
    """Submits orders and keeps the book bounded by cancelling the oldest resting ones."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.resting: deque[tuple[str, int]] = deque()
        self.cancels = 0

    def step(self, account: str, request: OrderRequest, now: int) -> None:
        venue = self.venue
        order = venue.submit(account, request, now)
        if order.is_open:
            resting = self.resting
            resting.append((account, order.id))
            while len(resting) > MAX_RESTING:
                owner, oldest = resting.popleft()
                if venue.orders[oldest].is_open:
                    venue.cancel(owner, oldest, now)
                    self.cancels += 1


def replay_venue(driver: VenueDriver, stream: list[tuple[str, OrderRequest]]) -> None:
    """The timed loop."""
    step = driver.step
    now = T0
    for account, request in stream:
        now += 1
        step(account, request, now)
    driver.venue.advance(now + 10_000)


def generate_venue_stream(n: int, seed: int) -> list[Spec]:
    rng = random.Random(seed)
    driver = VenueDriver(new_venue())
    book = driver.venue.books[PAIR]
    specs: list[Spec] = []
    now = T0
    for i in range(n):
        spec = _choose(rng, book.best_bid(), book.best_ask(), i)
        specs.append(spec)
        now += 1
        driver.step(*requests_of([spec])[0], now)
    return specs


# -- measuring ----------------------------------------------------------------------------


def stream_stats(specs: list[Spec]) -> dict[str, Any]:
    prices = [int(s.price) for s in specs]
    return {
        "orders": len(specs),
        "crossing_share": round(sum(s.crossing for s in specs) / len(specs), 4),
        "buy_share": round(sum(s.side == BUY for s in specs) / len(specs), 4),
        "price_min": min(prices),
        "price_max": max(prices),
        "quantity_min": str(min(s.quantity for s in specs)),
        "quantity_max": str(max(s.quantity for s in specs)),
    }


class GcTimer:
    """Time spent in the cyclic garbage collector while enabled, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full_collections = 0
        self._started = 0.0
        self.active = False

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if not self.active:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            if info.get("generation") == 2:
                self.full_collections += 1


def timed(fn: Callable[[], None]) -> tuple[float, dict[str, Any]]:
    gc.collect()
    watch = GcTimer()
    gc.callbacks.append(watch)
    watch.active = True
    start = time.perf_counter()
    try:
        fn()
    finally:
        seconds = time.perf_counter() - start
        watch.active = False
        gc.callbacks.remove(watch)
    return seconds, {
        "gc_seconds": round(watch.seconds, 4),
        "gc_full_collections": watch.full_collections,
    }


def run_book(specs: list[Spec]) -> tuple[float, dict[str, Any]]:
    book = Book(PAIR)
    orders = book_orders(specs)  # built outside the timed region
    result: dict[str, int] = {}

    def go() -> None:
        result["matches"] = replay_book(book, orders)

    seconds, gc_info = timed(go)
    info = {
        "seconds": seconds,
        **gc_info,
        "matches": result["matches"],
        "bid_levels_end": len(book.bids),
        "ask_levels_end": len(book.asks),
        "resting_end": sum(1 for _ in book.bids.orders()) + sum(1 for _ in book.asks.orders()),
    }
    return len(orders) / seconds, info


def run_venue(
    stream: list[tuple[str, OrderRequest]], gc_thresholds: tuple[int, int, int] | None = None
) -> tuple[float, dict[str, Any]]:
    """One venue run; with ``gc_thresholds``, under those collector thresholds (the server's)."""
    driver = VenueDriver(new_venue())
    saved = gc.get_threshold()
    if gc_thresholds is not None:
        gc.set_threshold(*gc_thresholds)
    try:
        seconds, gc_info = timed(lambda: replay_venue(driver, stream))
    finally:
        gc.set_threshold(*saved)
    venue = driver.venue
    book = venue.books[PAIR]
    info = {
        "seconds": seconds,
        **gc_info,
        "fills": len(venue.fills),
        "cancels": driver.cancels,
        "bid_levels_end": len(book.bids),
        "ask_levels_end": len(book.asks),
        "resting_end": sum(1 for _ in book.bids.orders()) + sum(1 for _ in book.asks.orders()),
    }
    return len(stream) / seconds, info


def profile_venue(stream: list[tuple[str, OrderRequest]], top: int = 25) -> dict[str, Any]:
    driver = VenueDriver(new_venue())
    profiler = cProfile.Profile()
    gc.collect()
    profiler.enable()
    replay_venue(driver, stream)
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, func), (cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{filename.rsplit('/', 1)[-1]}:{line}({func})",
                "ncalls": nc,
                "primitive_calls": cc,
                "tottime_s": round(tt, 4),
                "cumtime_s": round(ct, 4),
            }
        )
    total = sum(r["tottime_s"] for r in rows)
    by_tottime = sorted(rows, key=lambda r: -r["tottime_s"])[:top]
    by_cumtime = sorted(rows, key=lambda r: -r["cumtime_s"])[:top]
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return {
        "orders": len(stream),
        "total_tottime_s": round(total, 3),
        "top_by_tottime": by_tottime,
        "top_by_cumtime": by_cumtime,
        "text": text.getvalue(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.matching",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--orders", type=int, default=100_000, help="orders per run")
    parser.add_argument("--runs", type=int, default=7, help="runs of each figure")
    parser.add_argument("--seed", type=int, default=20240401)
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="cProfile one venue run (auto: when below the target)",
    )
    args = parser.parse_args(argv)
    if args.orders < 1 or args.runs < 1:
        parser.error("--orders and --runs must be positive")

    started = time.perf_counter()
    print(
        f"matching: generating {args.orders:,} orders per stream (untimed)...",
        file=sys.stderr,
        flush=True,
    )
    book_specs = generate_book_stream(args.orders, args.seed)
    venue_specs = generate_venue_stream(args.orders, args.seed + 1)
    venue_stream = requests_of(venue_specs)
    # The pre-generated streams are the benchmark's, not the venue's: keep them out of the
    # collector's full passes, so that they do not make every gen-2 collection slower.
    gc.collect()
    gc.freeze()

    # One untimed warm-up of each, then interleave.
    run_book(book_specs[: min(20_000, len(book_specs))])
    run_venue(venue_stream[: min(20_000, len(venue_stream))])

    book_rates: list[float] = []
    venue_rates: list[float] = []
    server_rates: list[float] = []
    book_runs: list[dict[str, Any]] = []
    venue_runs: list[dict[str, Any]] = []
    server_runs: list[dict[str, Any]] = []
    for i in range(args.runs):
        rate, info = run_book(book_specs)
        book_rates.append(rate)
        book_runs.append({"run": i + 1, "orders_per_s": round(rate, 1), **info})
        rate, info = run_venue(venue_stream)
        venue_rates.append(rate)
        venue_runs.append({"run": i + 1, "orders_per_s": round(rate, 1), **info})
        rate, info = run_venue(venue_stream, SERVER_GC_THRESHOLDS)
        server_rates.append(rate)
        server_runs.append({"run": i + 1, "orders_per_s": round(rate, 1), **info})
        print(
            f"matching: run {i + 1}/{args.runs}: book {book_rates[-1]:,.0f}/s, "
            f"venue {venue_rates[-1]:,.0f}/s, venue (server gc) {server_rates[-1]:,.0f}/s",
            file=sys.stderr,
            flush=True,
        )

    book_median = median(book_rates)
    venue_median = median(venue_rates)
    server_median = median(server_rates)
    profile = None
    if args.profile == "always" or (args.profile == "auto" and venue_median < TARGET):
        profile = profile_venue(venue_stream)
        print(profile["text"], file=sys.stderr)

    payload: dict[str, Any] = {
        "benchmark": NAME,
        "unit": "limit orders per second (submits; venue-path cancels are inside the timing)",
        "machine": machine_info(),
        "parameters": {
            "orders_per_run": args.orders,
            "runs": args.runs,
            "seed": args.seed,
            "pair": PAIR,
            "crossing_share": CROSSING_SHARE,
            "venue_max_resting_before_cancel": MAX_RESTING,
            "ms_per_order": 1,
            "interleaved": "book, venue, venue under the server's gc thresholds, book, ... "
            "after one untimed warm-up of each",
            "gc": "enabled; streams frozen with gc.freeze(); gc.collect() before each run; "
            "gc_seconds is time inside the collector during the run",
        },
        "target_orders_per_s": TARGET,
        "book": {
            "what": "Book.match + Book.rest on pre-built Order objects",
            "stream": stream_stats(book_specs),
            "orders_per_s_runs": [round(r, 1) for r in book_rates],
            "orders_per_s_median": round(book_median, 1),
            "meets_target": book_median >= TARGET,
            "runs": book_runs,
        },
        "venue": {
            "what": "Venue.submit (validation, locking, matching, fees, events) + bounded "
            "cancels, two accounts on BTCTRY",
            "stream": stream_stats(venue_specs),
            "orders_per_s_runs": [round(r, 1) for r in venue_rates],
            "orders_per_s_median": round(venue_median, 1),
            "meets_target": venue_median >= TARGET,
            "runs": venue_runs,
        },
        "venue_server_gc": {
            "what": "the venue runs again, under the collector thresholds the mock server "
            "sets at start (mock_exchange.runtime.tune_gc)",
            "gc_thresholds": list(SERVER_GC_THRESHOLDS),
            "orders_per_s_runs": [round(r, 1) for r in server_rates],
            "orders_per_s_median": round(server_median, 1),
            "meets_target": server_median >= TARGET,
            "runs": server_runs,
        },
        "profile_venue": profile,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    path = write_results(NAME, payload)
    print(
        f"matching: book {book_median:,.0f} orders/s, venue {venue_median:,.0f} orders/s, "
        f"venue under the server's gc {server_median:,.0f} orders/s "
        f"(median of {args.runs} runs x {args.orders:,} orders; target {TARGET:,.0f}/s; "
        f"book {'OK' if book_median >= TARGET else 'BELOW'}, "
        f"venue {'OK' if venue_median >= TARGET else 'BELOW'}, "
        f"server gc {'OK' if server_median >= TARGET else 'BELOW'}) -> {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
