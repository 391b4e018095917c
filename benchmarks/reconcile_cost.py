"""CPU time of one reconcile of 10,000 local orders against a venue snapshot.

The pure diff (``bot.core.reconcile.reconcile``) plus applying its plan
(``apply_plan``), on a book that looks like a busy day: 10,000 local orders (60% filled or
cancelled and visible in allOrders, 25% open on the venue, 5% partially filled with a fill
not yet recorded, 5% UNKNOWN and found open, 5% cancel-pending and found cancelled), the
matching venue views, and 12,000 fills of which 500 are new. Timed with
``time.process_time`` (CPU, not wall), median of ``--runs``.

    python -m benchmarks.reconcile_cost [--orders 10000] [--runs 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal
from typing import Any

from benchmarks._common import machine_info, median, write_results
from bot.core.orders import LocalOrder, OrderState, client_order_id
from bot.core.reconcile import ReconcileConfig, VenueSnapshot, apply_plan, reconcile
from bot.core.types import Fill, OrderMethod, OrderStatus, Side, VenueOrder

NAME = "reconcile_cost"
T0 = 1_763_700_000_000
PAIR = "BTCTRY"


def world(n: int) -> tuple[dict[str, LocalOrder], VenueSnapshot, set[int]]:
    orders: dict[str, LocalOrder] = {}
    open_views: list[VenueOrder] = []
    recent: list[VenueOrder] = []
    fills: list[Fill] = []
    known: set[int] = set()
    trade_id = 1_149_163_839_863_900_000
    qty = Decimal("0.01")
    for i in range(n):
        intent = f"mm:BTCTRY:bid:{i}"
        cid = client_order_id(intent, 1)
        venue_id = 25_000_000_000 + i
        kind = i % 20
        price = Decimal(3_000_000 + (i % 500) * 10)
        filled = Decimal(0)
        if kind < 12:
            state, status, left = (OrderState.FILLED, OrderStatus.CLOSED, Decimal(0))
            filled = qty
        elif kind < 17:
            state, status, left = OrderState.OPEN, OrderStatus.UNTOUCHED, qty
        elif kind == 17:
            state, status, left = OrderState.OPEN, OrderStatus.PARTIAL, Decimal("0.004")
        elif kind == 18:
            state, status, left = OrderState.UNKNOWN, OrderStatus.UNTOUCHED, qty
        else:
            state, status, left = OrderState.CANCEL_PENDING, OrderStatus.CANCELED, qty
        local_filled = filled if state is OrderState.FILLED else Decimal(0)
        orders[cid] = LocalOrder(
            intent_id=intent,
            client_id=cid,
            attempt=1,
            pair=PAIR,
            side=Side.BUY,
            method=OrderMethod.LIMIT,
            price=price,
            stop_price=None,
            quantity=qty,
            state=state,
            venue_id=None if state is OrderState.UNKNOWN else venue_id,
            filled=local_filled,
            created_ms=T0 + i,
            updated_ms=T0 + i,
            submitted_ms=T0 + i,
            unknown_since_ms=T0 + i if state is OrderState.UNKNOWN else None,
            cancel_requested_ms=T0 + i if state is OrderState.CANCEL_PENDING else None,
            external=False,
            reason=None,
        )
        view = VenueOrder(
            id=venue_id,
            client_id=cid,
            pair=PAIR,
            side=Side.BUY,
            method=OrderMethod.LIMIT,
            price=price,
            stop_price=None,
            quantity=qty,
            left=left,
            status=status,
            status_text=status.value,
            created=T0 + i,
            updated=T0 + i + 5,
        )
        (open_views if status.is_open else recent).append(view)
        if status.is_open:
            recent.append(view)
        for amount in [qty] if kind < 12 else [qty - left] if kind == 17 else []:
            trade_id += 1
            fills.append(
                Fill(
                    trade_id,
                    venue_id,
                    cid,
                    PAIR,
                    "BTC",
                    "TRY",
                    Side.BUY,
                    price,
                    amount,
                    Decimal("0.1"),
                    Decimal("0.018"),
                    T0 + i + 1,
                )
            )
            if kind < 12:
                known.add(trade_id)
    snapshot = VenueSnapshot(
        taken_ms=T0 + n + 10_000,
        open_orders=tuple(open_views),
        recent_orders=tuple(recent),
        fills=tuple(fills),
        complete=True,
    )
    return orders, snapshot, known


def one_run(n: int) -> dict[str, Any]:
    orders, snapshot, known = world(n)
    start = time.process_time()
    plan = reconcile(snapshot, orders, known, ReconcileConfig())
    diffed = time.process_time()
    after, refused = apply_plan(orders, plan)
    done = time.process_time()
    return {
        "diff_cpu_s": diffed - start,
        "apply_cpu_s": done - diffed,
        "total_cpu_s": done - start,
        "changes": len(plan.changes),
        "new_fills": len(plan.new_fills),
        "refused": len(refused),
        "orders_after": len(after),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.reconcile_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    if args.orders < 20 or args.runs < 1:
        parser.error("--orders must be at least 20 and --runs positive")
    started = time.perf_counter()
    runs = []
    for i in range(args.runs):
        runs.append(one_run(args.orders))
        print(
            f"reconcile_cost: run {i + 1}/{args.runs}: {runs[-1]['total_cpu_s'] * 1000:.1f} ms",
            file=sys.stderr,
        )
    medians = {
        k: median([r[k] for r in runs]) for k in ("diff_cpu_s", "apply_cpu_s", "total_cpu_s")
    }
    payload = {
        "benchmark": NAME,
        "unit": "CPU seconds per reconcile pass (time.process_time), median of runs",
        "machine": machine_info(),
        "parameters": {"orders": args.orders, "runs": args.runs},
        "medians": {k: round(v, 4) for k, v in medians.items()},
        "plan": {k: runs[0][k] for k in ("changes", "new_fills", "refused", "orders_after")},
        "runs": [
            {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in runs
        ],
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    path = write_results(NAME, payload)
    print(
        f"reconcile_cost: {args.orders:,} orders: diff {medians['diff_cpu_s'] * 1000:.1f} ms, "
        f"apply {medians['apply_cpu_s'] * 1000:.1f} ms, total "
        f"{medians['total_cpu_s'] * 1000:.1f} ms CPU (median of {args.runs}) -> {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
