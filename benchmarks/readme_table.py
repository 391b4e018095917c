"""Rewrite README's figures table from ``benchmarks/results/*.json`` (``make bench`` runs it
last), so the README never quotes a figure the results do not hold.

The table sits between ``<!-- figures:start -->`` and ``<!-- figures:end -->``; a figure whose
results file is missing shows as "not run".

    python -m benchmarks.readme_table [--readme README.md] [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._common import RESULTS, ROOT

START, END = "<!-- figures:start -->", "<!-- figures:end -->"

Row = tuple[str, str, Callable[[dict[str, Any]], str], str]


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def rows() -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []

    def add(
        name: str,
        label: str,
        render: Callable[[dict[str, Any]], str],
        target: Callable[[dict[str, Any]], str] | str = "",
    ) -> None:
        data = _load(name)
        if data is None:
            out.append((label, "not run", target if isinstance(target, str) else ""))
            return
        out.append((label, render(data), target if isinstance(target, str) else target(data)))

    add(
        "matching",
        "matching engine, bare book, limit orders/s (30% crossing)",
        lambda d: _n(d["book"]["orders_per_s_median"]),
        lambda d: f">= 50,000 ({_met(d['book']['orders_per_s_median'] >= 50_000)})",
    )
    add(
        "matching",
        "the whole venue path (`Venue.submit`), orders/s; under the server's GC",
        lambda d: (
            f"{_n(d['venue']['orders_per_s_median'])}; "
            f"{_n(d.get('venue_server_gc', {}).get('orders_per_s_median', 0))}"
        ),
        "(for information)",
    )
    add(
        "rest_throughput_raw",
        "signed POST+DELETE pairs/s, one uvicorn worker / trivial req/s",
        lambda d: f"{_n(d['mock_pairs_per_s_median'])} / {_n(d['trivial_requests_per_s_median'])}",
    )
    add(
        "rest_throughput_raw",
        "ratio mock req/s over trivial req/s (server-saturating client)",
        lambda d: f"**{d['ratio_median']:.3f}**",
        lambda d: f">= 0.5 ({_met(d['ratio_median'] >= 0.5)})",
    )
    add(
        "ws_fanout",
        "websocket fan-out to 1 / 10 / 100 subscribers, messages/s",
        lambda d: " / ".join(
            _n(d["summary"][k]["messages_per_s_median"]) for k in ("1", "10", "100")
        ),
    )
    add(
        "client_overhead",
        "bot: sign / rate budget / parse a submit answer, µs",
        lambda d: (
            f"{d['medians']['sign_us']} / {d['medians']['limiter_us']} / "
            f"{d['medians']['parse_submit_us']}"
        ),
    )
    add(
        "reconcile_cost",
        "bot: reconcile of 10,000 local orders, CPU",
        lambda d: f"{d['medians']['total_cpu_s'] * 1000:.0f} ms",
    )
    add(
        "decision_latency",
        "bot: decision to request on the wire, median / p99",
        lambda d: (
            f"{d['medians']['median_us'] / 1000:.1f} ms / {d['medians']['p99_us'] / 1000:.1f} ms"
        ),
    )
    add(
        "sim_speed",
        "chaos `sim` speed, simulated s per wall s",
        lambda d: _n(d["sim_speed_median"]),
        lambda d: f">= 100 ({_met(d['sim_speed_median'] >= 100)})",
    )
    add(
        "sim_speed",
        "chaos gate suite wall time",
        lambda d: f"{d['gate_wall_s']:.0f} s" if d.get("gate_wall_s") else "not run",
        lambda d: (
            f"< 300 s ({_met(d['gate_wall_s'] < 300)})" if d.get("gate_wall_s") else "< 300 s"
        ),
    )
    add(
        "load_limits",
        "locust: rate limits on, share of 429s / p99",
        lambda d: f"{d['share_429'] * 100:.1f}% / {d['p99_ms']:.0f} ms",
    )
    add(
        "load_throughput",
        "locust: signed order traffic, rate limits off, requests/s",
        lambda d: _n(d["requests_per_s"], 1),
    )
    return out


def table() -> str:
    lines = ["| figure | median | target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.readme_table",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if the table is stale")
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"readme_table: markers {START} / {END} not in {args.readme}", file=sys.stderr)
        return 2
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{table()}\n{END}{tail}"
    if args.check:
        return 0 if new == text else 1
    args.readme.write_text(new, encoding="utf-8")
    print(f"readme_table: {args.readme} refreshed from {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
