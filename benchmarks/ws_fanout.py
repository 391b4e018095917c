"""Websocket fan-out of the mock venue: messages per second delivered to 1, 10 and 100
subscribers of a busy BTCTRY order book, through one uvicorn worker on loopback.

Three processes, all on 127.0.0.1:

* **server**: one uvicorn worker of the mock, started through ``mock_exchange.cli``'s own
  parser and ``serve`` (same uvicorn options, ``tune_gc``, protocol pings every 5 s) with
  ``--seed 1 --rate-limits off --log-level warning``, the seeded market agents on, and one
  change the CLI cannot express: ``StreamConfig(connects_per_minute=100000)``, because a run
  opens a few hundred connections from one IP and the venue's limit is 15 a minute. The
  server is a small ``python -c`` launcher for that reason; mock_exchange is not changed.
* **driver**: a REST client (this module with ``--drive``) that keeps the book moving at a
  steady, bounded rate (``--load-rate`` signed limit orders a second, 150 by default, 8 in
  flight): about 4 in 5 rest at a random price up to 40 steps of 100 TRY behind the touch,
  the rest cross the touch by 2,000 TRY (several of the agents' levels) and trade; once 300
  of its orders rest, each new one cancels the oldest. That is about 300 requests/s. The
  touch comes from ``GET /api/v2/orderbook`` twice a second. Its own process, so its CPU is
  not the subscribers' client's.
* **client**: this process. For each subscriber count N it opens N websocket connections
  (``websockets.asyncio.client``; permessage-deflate offered, as that client does by
  default and uvicorn accepts), each joining ``obdiff`` and ``trade`` on BTCTRY
  (``--channels``), waits ``--warmup`` seconds, then counts every frame each connection
  receives for ``--seconds`` and closes them all.

Why obdiff and trade: they are the channels a bot keeping a book lives on. ``obdiff``
publishes at most one 432 per 250 ms (only when the top 50 levels changed); ``trade`` sends
one 422 per fill, as it happens. So a subscriber's rate is set by the load (about 4 diffs
plus the trades a second), and fan-out shows as the sum over subscribers staying at N times
that, as a flat per-subscriber rate, as no lost diffs (each 432's ``CS`` is the previous
one's + 1) and as a small trade delivery lag (receipt time minus the trade's ``D``, same
host clock, 1 ms resolution). ``orderbook`` adds a 50-level 431 every 750 ms a subscriber;
add it with ``--channels obdiff,trade,orderbook`` to weigh the fan-out with larger frames.

A connection the server closes (the shell cuts off a subscriber once 5,000 messages wait
for it, close code 1013) is counted as cut off, with its code; its frames until then count.

Rounds interleave the counts: ``rounds`` x [1, 10, 100]; every figure is per phase and the
headline is the median over rounds. Each phase records CPU over its counting window: the
server's and the driver's from ``/proc/<pid>/stat``, this process's from ``process_time``,
and the whole machine's busy share from ``/proc/stat`` (what other processes used is
``others_cores``). The server's CPU includes the REST load and the market, so the cost of
fan-out is ``server_cpu_us_per_extra_message``: server CPU beyond the 1-subscriber phase's
over the messages/s beyond its, in the same round.

Caveats: while the server keeps up, messages/s delivered is N times what the load
publishes, so the headline measures the load as much as the server; capacity shows in the
CPU per extra message, the lag and the cut-offs, and ``--load-rate`` raises the load (600
gave about 35,000 msgs/s at 100 subscribers on the 2-core box, server at 63% of a core).
Compression is per connection: the server deflates the same text once per subscriber.
The three processes share the machine's 2 cores, so at 100 subscribers the client
(one Python thread parsing websocket frames and inflating them) can be the bottleneck
rather than the server. A phase whose client CPU share is 0.9 or more is flagged
``client_saturated``, and the summary says so: its figure is then a floor for the server.
The box has random 1-2 s pauses; medians are the answer to that. The whole run stops by
itself after ``HARD_LIMIT_S``; the server and the driver also stop themselves by then.

    python -m benchmarks.ws_fanout [--seconds 5] [--rounds 3] [--subscribers 1,10,100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from benchmarks._common import machine_info, write_results
from benchmarks._common import median as _median
from benchmarks.rest_throughput import (
    ADMIN_TOKEN,
    TRANSPORT_ERRORS,
    RawTransport,
    Server,
    free_port,
    signed_headers,
    start,
    stop,
    wait_ready,
    write_accounts,
)

NAME = "ws_fanout"
HARD_LIMIT_S = 180.0  # the whole run, processes included, stops by then
PAIR = "BTCTRY"
SEED = 1
CONNECTS_PER_MINUTE = 100_000
CLIENT_SATURATED = 0.9  # client CPU share from which the client, not the server, is the limit
PROBE = "/api/v2/server/time"

# The CLI's own parser and ``serve``, with only the stream's connection limit replaced.
LAUNCHER = """
import dataclasses, os, signal, sys, threading
from mock_exchange.cli import build_parser, serve, settings_from_args
from mock_exchange.stream import StreamConfig
limit, per_minute, cli = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
threading.Timer(limit, os.kill, (os.getpid(), signal.SIGTERM)).start()
args = build_parser().parse_args(cli)
settings = settings_from_args(args)
stream = dataclasses.replace(settings.stream, connects_per_minute=per_minute)
settings = dataclasses.replace(settings, stream=stream)
code = serve(settings, args.host, args.port, args.log_level)
os._exit(code)
"""


def server_cli(port: int, accounts: Path) -> list[str]:
    return [
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--seed",
        str(SEED),
        "--rate-limits",
        "off",
        "--accounts",
        str(accounts),
        "--admin-token",
        ADMIN_TOKEN,
        "--log-level",
        "warning",
    ]


def server_argv(port: int, accounts: Path, limit_s: float) -> list[str]:
    return [
        sys.executable,
        "-c",
        LAUNCHER,
        str(limit_s),
        str(CONNECTS_PER_MINUTE),
        *server_cli(port, accounts),
    ]


# -- the driver: a REST client that keeps the book moving ----------------------------------


@dataclass(frozen=True)
class Load:
    rate: float = 150.0  # limit orders submitted a second
    concurrency: int = 8
    take_share: float = 0.2  # orders that cross the touch
    take_reach: int = 2_000  # TRY past the touch for a crossing order
    rest_step: int = 100  # TRY between the prices a resting order may take
    rest_steps: int = 40
    max_resting: int = 300  # beyond this, each submit cancels the oldest of ours
    seed: int = SEED


def driver_argv(port: int, load: Load, limit_s: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "benchmarks.ws_fanout",
        "--drive",
        str(port),
        "--load-rate",
        str(load.rate),
        "--drive-seconds",
        str(limit_s),
    ]


async def drive(port: int, load: Load, limit_s: float) -> dict[str, Any]:
    """Submit and cancel until SIGTERM or ``limit_s``; return what was done."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    transport = RawTransport(port, load.concurrency + 1)
    rng = random.Random(load.seed)
    touch = {"bid": 4_000_000, "ask": 4_000_001}
    resting: deque[int] = deque()
    tally: Counter[str] = Counter()
    samples: list[str] = []
    started = time.monotonic()
    end = started + limit_s
    slots = itertools.count()

    def error(kind: str, detail: bytes | str) -> None:
        tally[kind] += 1
        if len(samples) < 5:
            samples.append(f"{kind}: {str(detail)[:300]}")

    async def watch_touch() -> None:
        target = f"/api/v2/orderbook?pairSymbol={PAIR}&limit=1"
        for beat in itertools.count():
            if stopping.is_set():
                return
            if beat % 4 == 0:
                # uvicorn closes a keep-alive connection after 5 s unused; the pool hands
                # out its newest first, so drop the idle ones before they go stale.
                await transport.reset()
            try:
                status, payload = await transport.send("GET", target, {}, b"")
                data = json.loads(payload)["data"]
                if status == 200 and data["bids"] and data["asks"]:
                    touch["bid"] = int(Decimal(data["bids"][0][0]))
                    touch["ask"] = int(Decimal(data["asks"][0][0]))
            except (*TRANSPORT_ERRORS, KeyError, TypeError) as exc:
                error(f"touch {type(exc).__name__}", str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), 0.5)

    def next_order() -> dict[str, str]:
        bid, ask = touch["bid"], touch["ask"]
        buy = rng.random() < 0.5
        if rng.random() < load.take_share:
            price = ask + load.take_reach if buy else bid - load.take_reach
            quantity = rng.uniform(0.0005, 0.004)
        else:
            behind = rng.randint(-1, load.rest_steps) * load.rest_step
            price = bid - behind if buy else ask + behind
            if (buy and price >= ask) or (not buy and price <= bid):
                price = bid if buy else ask
            quantity = rng.uniform(0.0001, 0.002)
        return {
            "quantity": f"{quantity:.8f}",
            "price": str(max(price, 1)),
            "orderMethod": "limit",
            "orderType": "buy" if buy else "sell",
            "pairSymbol": PAIR,
        }

    async def worker(wid: int) -> None:
        n = 0
        while not stopping.is_set() and time.monotonic() < end:
            due = started + next(slots) / load.rate
            wait = due - time.monotonic()
            if wait < -1.0:
                continue  # a slot missed by over a second (a pause) is dropped, not burst
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), wait)
                if stopping.is_set():
                    return
            n += 1
            body = {**next_order(), "newOrderClientId": f"fan-{wid}-{n}"}
            try:
                status, payload = await transport.send(
                    "POST", "/api/v1/order", signed_headers(), json.dumps(body).encode()
                )
                parsed = json.loads(payload) if status == 200 else None
            except (*TRANSPORT_ERRORS, KeyError) as exc:
                error(f"POST {type(exc).__name__}", str(exc))
                continue
            if not parsed or parsed.get("success") is not True:
                error(f"POST HTTP {status}", payload)
                continue
            tally["submitted"] += 1
            resting.append(int(parsed["data"]["id"]))
            if len(resting) <= load.max_resting:
                continue
            headers = signed_headers()
            del headers["Content-Type"]
            target = f"/api/v1/order?id={resting.popleft()}"
            try:
                status, payload = await transport.send("DELETE", target, headers, b"")
            except TRANSPORT_ERRORS as exc:
                error(f"DELETE {type(exc).__name__}", str(exc))
                continue
            # An order that filled meanwhile cannot be cancelled: expected, not an error.
            tally["cancelled" if status == 200 else "cancel_refused"] += 1

    watcher = asyncio.create_task(watch_touch())
    await asyncio.gather(*(worker(w) for w in range(load.concurrency)))
    stopping.set()
    await watcher
    await transport.aclose()
    elapsed = time.monotonic() - started
    return {
        "elapsed_s": round(elapsed, 1),
        "submitted_per_s": round(tally["submitted"] / elapsed, 1),
        "counts": dict(tally),
        "error_samples": samples,
    }


# -- subscribers ---------------------------------------------------------------------------


@dataclass
class Window:
    """Shared by a phase's readers: whether the counting window is open, and what only
    counts inside it."""

    open: bool = False
    trade_lags_ms: list[int] = field(default_factory=list)


@dataclass(eq=False)
class Subscriber:
    ws: ClientConnection
    frames: int = 0
    bytes: int = 0
    types: Counter[str] = field(default_factory=Counter)
    last_cs: int | None = None
    cs_gaps: int = 0
    leaving: bool = False  # we are closing it; a close before that is the server's
    cut_off: str | None = None  # "<code> <reason>" of a close the server made

    async def read(self, window: Window) -> None:
        try:
            async for message in self.ws:
                text = message if isinstance(message, str) else message.decode()
                self.frames += 1
                self.bytes += len(text)
                kind = text[1:4]
                self.types[kind] += 1
                if kind == "432":
                    self._diff(text)
                elif kind == "422" and window.open:
                    stamp = int(json.loads(text)[1]["D"])
                    window.trade_lags_ms.append(time.time_ns() // 1_000_000 - stamp)
        except ConnectionClosed:
            pass
        if not self.leaving:
            self.cut_off = f"{self.ws.close_code} {self.ws.close_reason}".strip()

    def _diff(self, text: str) -> None:
        # A 432's payload starts with its CS: [432,{"CS":123,...
        at = text.find('"CS":') + 5
        cs = int(text[at : text.index(",", at)])
        if self.last_cs is not None and cs != self.last_cs + 1:
            self.cs_gaps += 1
        self.last_cs = cs


async def subscribe(uri: str, channels: list[str], compression: str | None) -> Subscriber:
    ws = await connect(uri, compression=compression, max_size=1 << 22, open_timeout=15)
    for channel in channels:
        frame = [151, {"type": 151, "channel": channel, "event": PAIR, "join": True}]
        await ws.send(json.dumps(frame))
    return Subscriber(ws)


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) over all CPUs, from /proc/stat (Linux)."""
    try:
        line = Path("/proc/stat").read_text().split("\n", 1)[0]
    except OSError:
        return 0, 0
    values = [int(v) for v in line.split()[1:9]]  # guest time is already inside user
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def percentile(values: list[int], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


async def phase(
    n: int, args: argparse.Namespace, uri: str, server: Server, driver: Server
) -> dict[str, Any]:
    window = Window()
    opened = await asyncio.gather(
        *(subscribe(uri, args.channels, args.compression) for _ in range(n)),
        return_exceptions=True,
    )
    subs = [s for s in opened if isinstance(s, Subscriber)]
    failures = Counter(type(s).__name__ for s in opened if not isinstance(s, Subscriber))
    readers = [asyncio.create_task(s.read(window)) for s in subs]
    try:
        await asyncio.sleep(args.warmup)
        before = [(s.frames, s.bytes, Counter(s.types)) for s in subs]
        cpu0 = (server.cpu_seconds(), driver.cpu_seconds(), time.process_time())
        busy0, total0 = machine_jiffies()
        t0 = time.monotonic()
        window.open = True
        await asyncio.sleep(args.seconds)
        window.open = False
        elapsed = time.monotonic() - t0
        server_cpu = server.cpu_seconds() - cpu0[0]
        driver_cpu = driver.cpu_seconds() - cpu0[1]
        client_cpu = time.process_time() - cpu0[2]
        busy1, total1 = machine_jiffies()
        frames = [s.frames - b[0] for s, b in zip(subs, before, strict=True)]
        size = sum(s.bytes - b[1] for s, b in zip(subs, before, strict=True))
        types: Counter[str] = Counter()
        for s, b in zip(subs, before, strict=True):
            types.update(s.types - b[2])
    finally:
        for s in subs:
            s.leaving = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await asyncio.gather(*(s.ws.close() for s in subs), return_exceptions=True)
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for s in subs:
            # Closed by the server just before we left: its code is not our 1000.
            if s.cut_off is None and s.ws.close_code not in (None, 1000):
                s.cut_off = f"{s.ws.close_code} {s.ws.close_reason}".strip()
    per_sub = [f / elapsed for f in frames] or [0.0]
    total = sum(frames)
    client_share = client_cpu / elapsed
    lags = window.trade_lags_ms
    cut = [s.cut_off for s in subs if s.cut_off is not None]
    ours = (server_cpu + client_cpu + driver_cpu) / elapsed
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    machine = (busy1 - busy0) / (total1 - total0) if total1 > total0 else None
    extensions = sorted({e.name for s in subs for e in s.ws.protocol.extensions})
    return {
        "subscribers": n,
        "connected": len(subs),
        "connect_failures": dict(failures),
        "elapsed_s": round(elapsed, 3),
        "messages": total,
        "messages_per_s": round(total / elapsed, 1),
        "per_subscriber_msgs_per_s": {
            "mean": round(sum(per_sub) / len(per_sub), 2),
            "min": round(min(per_sub), 2),
            "max": round(max(per_sub), 2),
        },
        "per_subscriber_msgs_per_s_by_type": {
            k: round(v / elapsed / max(1, len(subs)), 2) for k, v in sorted(types.items())
        },
        "bytes_per_s": round(size / elapsed),
        "obdiff_cs_gaps": sum(s.cs_gaps for s in subs),
        "trade_lag_ms": {
            "count": len(lags),
            "p50": percentile(lags, 0.5),
            "p99": percentile(lags, 0.99),
            "max": float(max(lags)) if lags else None,
        },
        "cut_off": len(cut),
        "cut_off_closes": dict(Counter(cut)),
        "server_cpu_share": round(server_cpu / elapsed, 3),
        "client_cpu_share": round(client_share, 3),
        "driver_cpu_share": round(driver_cpu / elapsed, 3),
        "server_cpu_us_per_message": round(1e6 * server_cpu / total, 2) if total else None,
        "client_cpu_us_per_message": round(1e6 * client_cpu / total, 2) if total else None,
        "machine_busy_share": round(machine, 3) if machine is not None else None,
        # CPU the rest of the machine used meanwhile (other processes), in cores.
        "others_cores": round(machine * (cpus or 1) - ours, 2) if machine is not None else None,
        "client_saturated": client_share >= CLIENT_SATURATED,
        "extensions": extensions,
    }


async def measure(
    args: argparse.Namespace,
    uri: str,
    server: Server,
    driver: Server,
    deadline: float,
    rounds: list[dict[str, Any]],
) -> None:
    """Append each complete round to ``rounds``, so a timeout keeps what was measured."""
    for i in range(args.rounds):
        phases: dict[str, dict[str, Any]] = {}
        for n in args.subscribers:
            # A phase needs its warm-up, its window and time to connect and close.
            if time.monotonic() + args.warmup + args.seconds + 5 + n / 20 > deadline:
                print(f"ws_fanout: time budget reached in round {i + 1}", file=sys.stderr)
                return
            if driver.process.poll() is not None or server.process.poll() is not None:
                raise RuntimeError("the server or the driver exited during the run")
            p = await phase(n, args, uri, server, driver)
            phases[str(n)] = p
            print(
                f"ws_fanout: round {i + 1}, {n:>3} subscriber(s): {p['messages_per_s']:>9,.0f}"
                f" msgs/s ({p['per_subscriber_msgs_per_s']['mean']:.1f}/sub), server CPU "
                f"{p['server_cpu_share']:.0%}, client CPU {p['client_cpu_share']:.0%}, "
                f"trade lag p50 {p['trade_lag_ms']['p50']} ms, cut off {p['cut_off']}",
                file=sys.stderr,
                flush=True,
            )
        first = phases.get(str(args.subscribers[0]))
        for p in phases.values():
            mean = p["per_subscriber_msgs_per_s"]["mean"]
            p["per_subscriber_vs_first"] = None
            p["server_cpu_us_per_extra_message"] = None
            if first is None or p is first:
                continue
            ref = first["per_subscriber_msgs_per_s"]["mean"]
            p["per_subscriber_vs_first"] = round(mean / ref, 3) if ref else None
            extra = p["messages_per_s"] - first["messages_per_s"]
            if extra > 0:
                cpu = p["server_cpu_share"] - first["server_cpu_share"]
                p["server_cpu_us_per_extra_message"] = round(1e6 * cpu / extra, 2)
        rounds.append({"round": i + 1, "phases": phases})


# -- main ------------------------------------------------------------------------------------


def median(values: list[float]) -> float | None:
    """The median, or None (JSON null, not NaN) when there is nothing to take it of."""
    return _median(values) if values else None


def summarise(rounds: list[dict[str, Any]], counts: list[int]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for n in counts:
        ps = [r["phases"][str(n)] for r in rounds if str(n) in r["phases"]]
        lag50 = [p["trade_lag_ms"]["p50"] for p in ps if p["trade_lag_ms"]["p50"] is not None]
        lag99 = [p["trade_lag_ms"]["p99"] for p in ps if p["trade_lag_ms"]["p99"] is not None]
        out[str(n)] = {
            "messages_per_s_runs": [p["messages_per_s"] for p in ps],
            "messages_per_s_median": median([p["messages_per_s"] for p in ps]),
            "per_subscriber_msgs_per_s_median": median(
                [p["per_subscriber_msgs_per_s"]["mean"] for p in ps]
            ),
            "bytes_per_s_median": median([p["bytes_per_s"] for p in ps]),
            "trade_lag_ms_p50_median": median(lag50),
            "trade_lag_ms_p99_median": median(lag99),
            "server_cpu_share_median": median([p["server_cpu_share"] for p in ps]),
            "server_cpu_us_per_message_median": median(
                [p["server_cpu_us_per_message"] for p in ps if p["server_cpu_us_per_message"]]
            ),
            "server_cpu_us_per_extra_message_median": median(
                [x for p in ps if (x := p.get("server_cpu_us_per_extra_message")) is not None]
            ),
            "client_cpu_us_per_message_median": median(
                [p["client_cpu_us_per_message"] for p in ps if p["client_cpu_us_per_message"]]
            ),
            "client_cpu_share_median": median([p["client_cpu_share"] for p in ps]),
            "driver_cpu_share_median": median([p["driver_cpu_share"] for p in ps]),
            "machine_busy_share_median": median(
                [p["machine_busy_share"] for p in ps if p["machine_busy_share"] is not None]
            ),
            "others_cores_median": median(
                [p["others_cores"] for p in ps if p["others_cores"] is not None]
            ),
            "client_saturated_phases": sum(p["client_saturated"] for p in ps),
            "cut_off_total": sum(p["cut_off"] for p in ps),
            "obdiff_cs_gaps_total": sum(p["obdiff_cs_gaps"] for p in ps),
            "connect_failures_total": sum(sum(p["connect_failures"].values()) for p in ps),
        }
    return out


def implementation_info() -> dict[str, Any]:
    info: dict[str, Any] = {}
    for module in ("uvicorn", "starlette", "websockets", "uvloop", "httptools"):
        try:
            info[module] = getattr(__import__(module), "__version__", "installed")
        except ImportError:
            info[module] = None
    info["uvicorn_ws"] = "websockets-sansio (uvicorn ws=auto with websockets installed)"
    return info


def stop_driver(driver: Server) -> dict[str, Any] | None:
    stop(driver, timeout=15)
    for line in reversed(driver.log.read_text().splitlines()):
        if line.startswith("{"):
            report: dict[str, Any] = json.loads(line)
            return report
    return None


def parse_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive integers")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ws_fanout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="counting window per phase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--subscribers", type=parse_counts, default=[1, 10, 100])
    parser.add_argument("--warmup", type=float, default=2.0, help="per phase, after joining")
    parser.add_argument(
        "--channels",
        type=lambda text: [c.strip() for c in text.split(",") if c.strip()],
        default=["obdiff", "trade"],
        help="joined on BTCTRY by every subscriber (obdiff, trade, orderbook, ticker)",
    )
    parser.add_argument(
        "--compression",
        choices=("deflate", "none"),
        default="deflate",
        help="offer permessage-deflate (the websockets client's default) or not; "
        f"'none' writes results/{NAME}_uncompressed.json",
    )
    parser.add_argument("--load-rate", type=float, default=Load.rate, help="driver orders/s")
    parser.add_argument("--drive", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--drive-seconds", type=float, default=HARD_LIMIT_S, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rounds < 1 or args.warmup < 0 or args.load_rate <= 0:
        parser.error("seconds, rounds and load rate must be positive")
    load = Load(rate=args.load_rate)
    if args.drive is not None:
        report = asyncio.run(drive(args.drive, load, args.drive_seconds))
        print(json.dumps(report), flush=True)
        return 0
    compression = None if args.compression == "none" else "deflate"
    args.compression = compression
    name = NAME if compression else f"{NAME}_uncompressed"

    started = time.monotonic()
    deadline = started + HARD_LIMIT_S - 20  # leave time to stop the processes
    workdir = Path(tempfile.mkdtemp(prefix="ws-fanout-"))
    accounts = write_accounts(workdir / "accounts.toml")
    port = free_port()
    rounds: list[dict[str, Any]] = []
    driver_report: dict[str, Any] | None = None
    failure: str | None = None
    try:
        server = start("server", server_argv(port, accounts, HARD_LIMIT_S), port, PROBE, workdir)
        driver: Server | None = None
        try:
            wait_ready(server, min(deadline, time.monotonic() + 30))
            driver = start("driver", driver_argv(port, load, HARD_LIMIT_S), 0, "", workdir)
            time.sleep(2.0)  # let the driver fill the book before the first phase
            if driver.process.poll() is not None:
                raise RuntimeError(f"driver exited early:\n{driver.log.read_text()[-2000:]}")
            uri = f"ws://127.0.0.1:{port}/"

            async def run(d: Server) -> None:
                async with asyncio.timeout(max(1.0, deadline - time.monotonic() + 10)):
                    await measure(args, uri, server, d, deadline, rounds)

            try:
                asyncio.run(run(driver))
            except TimeoutError:
                failure = "hard time limit reached"
                print(f"ws_fanout: {failure}", file=sys.stderr)
        finally:
            if driver is not None:
                driver_report = stop_driver(driver)
            stop(server)
        logs = {"server": server.log.read_text()[-2000:]}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    if not rounds:
        print(f"ws_fanout: no complete round ({failure or 'see above'})", file=sys.stderr)
        return 1
    summary = summarise(rounds, args.subscribers)
    saturated = [n for n, s in summary.items() if s["client_saturated_phases"]]
    payload = {
        "benchmark": name,
        "machine": machine_info(),
        "implementation": implementation_info(),
        "parameters": {
            "subscribers": args.subscribers,
            "rounds": args.rounds,
            "rounds_completed": len(rounds),
            "seconds": args.seconds,
            "warmup_seconds": args.warmup,
            "channels": args.channels,
            "pair": PAIR,
            "compression_offered": compression,
            "server_command": "python -c LAUNCHER (mock_exchange.cli build_parser/serve) "
            + " ".join(server_cli(0, Path("ACCOUNTS")))
            + f" with StreamConfig(connects_per_minute={CONNECTS_PER_MINUTE})",
            "market": f"seeded agents on (--seed {SEED})",
            "load": {
                "rate_orders_per_s": load.rate,
                "concurrency": load.concurrency,
                "take_share": load.take_share,
                "take_reach_try": load.take_reach,
                "rest_behind_try": [-load.rest_step, load.rest_steps * load.rest_step],
                "max_resting": load.max_resting,
                "detail": "signed limit orders on BTCTRY from one account in a separate "
                "process; past max_resting each submit cancels the oldest",
            },
            "client": "websockets.asyncio.client, this process, asyncio loop, one task "
            "per connection counting every frame",
            "hard_limit_s": HARD_LIMIT_S,
        },
        "definitions": {
            "messages_per_s": "frames received in the counting window, summed over the "
            "phase's subscribers, over the window's length",
            "per_subscriber_vs_first": "mean per-subscriber rate over that of the first "
            "subscriber count in the same round (1.0: fan-out costs the subscriber nothing)",
            "trade_lag_ms": "receipt time minus the 422's D (trade time), same host clock",
            "server_cpu_us_per_extra_message": "server CPU beyond the first subscriber "
            "count's, over the messages/s beyond its: the marginal cost of a delivery, with "
            "the REST load and the market netted out",
            "others_cores": "machine busy cores (/proc/stat) minus server, client and "
            "driver: other processes' load during the window (the box is shared)",
            "obdiff_cs_gaps": "432s whose CS was not the previous one's + 1 (lost diffs)",
            "client_saturated": f"client CPU share >= {CLIENT_SATURATED}: the client, "
            "not the server, was the limit",
        },
        "summary": summary,
        "client_saturated_at": [int(n) for n in saturated],
        "driver": driver_report,
        "rounds": rounds,
        "failure": failure,
        "server_log_tail": logs["server"],
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    path = write_results(name, payload)
    figures = ", ".join(
        f"{n}: {s['messages_per_s_median']:,.0f} ({s['per_subscriber_msgs_per_s_median']:.1f}"
        f"/sub, server CPU {s['server_cpu_share_median']:.0%}, client CPU "
        f"{s['client_cpu_share_median']:.0%})"
        for n, s in summary.items()
    )
    cuts = sum(s["cut_off_total"] for s in summary.values())
    gaps = sum(s["obdiff_cs_gaps_total"] for s in summary.values())
    note = f"; CLIENT SATURATED at {','.join(saturated)}" if saturated else ""
    print(
        f"ws_fanout: msgs/s delivered, median of {len(rounds)} round(s), by subscribers: "
        f"{figures}; cut off {cuts}, lost diffs {gaps}{note} -> {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
