"""REST throughput of the mock venue under one uvicorn worker, against a trivial baseline.

Two servers run as subprocesses on 127.0.0.1, each one uvicorn worker with the same
options (uvicorn's defaults: ``loop=auto``, ``http=auto``, so uvloop and httptools when
installed; ``log_level=warning``, which leaves the access logger on but below its level,
for both):

* **mock**: ``python -m mock_exchange.cli serve --no-market --rate-limits off ...`` with one
  account funded with 100,000,000,000 TRY. One unit of work is an *order pair*: a signed
  ``POST /api/v1/order`` (limit buy 0.001 BTCTRY at 3,000,000 TRY, which rests) and a signed
  ``DELETE /api/v1/order?id=<the returned id>``. Every response must be HTTP 200 with
  ``success: true``; anything else is counted as an error.
* **trivial**: ``python -m uvicorn benchmarks.trivial_app:app``, ``GET /ping`` answering
  ``{"ok": true}`` from a plain Starlette route.

The load generator is this process: one ``httpx2.AsyncClient`` per server with a fixed number
of requests in flight (16 by default; keep-alive connections), on one asyncio loop. It shares
the machine's cores with the server under test, equally for both servers. After a warm-up
of each, the phases interleave: ``rounds`` x [trivial for ``seconds``, mock for
``seconds``]. Each phase counts completed work and divides by the time until the last
in-flight request finished.

The ratio compares requests per second with requests per second:
``ratio = (2 x mock pairs/s) / trivial requests/s``, per round; the figure reported is the
median of the per-round ratios. Pairs/s are reported too. Server CPU time per phase (from
``/proc/<pid>/stat``) is recorded to show whether a server was saturated or the client was
the limit.

    python -m benchmarks.rest_throughput [--rounds 5] [--seconds 5] [--concurrency 16]
    python -m benchmarks.rest_throughput --profile 8   # cProfile the mock server instead
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import pstats
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx2

from benchmarks._common import ROOT, machine_info, median, write_results
from mock_exchange.auth import sign

NAME = "rest_throughput"
TARGET_RATIO = 0.5
HARD_LIMIT_S = 90.0  # the whole run, servers included, stops by then
KEY = "b3a1c2d4-0e5f-4a6b-8c7d-9e0f1a2b3c4d"
SECRET_BYTES = b"rest-throughput-benchmark-secret"  # 32 bytes
SECRET = base64.b64encode(SECRET_BYTES).decode("ascii")
ADMIN_TOKEN = "bench-admin-token"
ORDER = {
    "quantity": "0.001",
    "price": "3000000",
    "orderMethod": "limit",
    "orderType": "buy",
    "pairSymbol": "BTCTRY",
}
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# -- servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_accounts(path: Path) -> Path:
    path.write_text(
        "[[account]]\n"
        f'key = "{KEY}"\n'
        f'secret = "{SECRET}"\n'
        'name = "bench"\n'
        "[account.balances]\n"
        'TRY = "100000000000"\n'
        'BTC = "1000"\n'
    )
    return path


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    probe: str
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """utime + stime of the server process, from /proc (Linux)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


def start(name: str, argv: list[str], port: int, probe: str, workdir: Path) -> Server:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return Server(name, port, process, probe, log)


def wait_ready(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited early:\n{server.log.read_text()[-2000:]}")
        try:
            if httpx2.get(server.base_url + server.probe, timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not answer within its start-up budget")


def stop(server: Server, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    if server.process.poll() is None:
        server.process.send_signal(sig)
        try:
            server.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def mock_argv(port: int, accounts: Path, prefix: list[str] | None = None) -> list[str]:
    return [
        sys.executable,
        *(prefix or []),
        "-m",
        "mock_exchange.cli",
        "serve",
        "--port",
        str(port),
        "--no-market",
        "--rate-limits",
        "off",
        "--accounts",
        str(accounts),
        "--admin-token",
        ADMIN_TOKEN,
        "--log-level",
        "warning",
    ]


def trivial_argv(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.trivial_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]


# -- load ---------------------------------------------------------------------------------


class Transport(Protocol):
    async def send(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]: ...

    async def reset(self) -> None: ...

    async def aclose(self) -> None: ...


class Httpx2Transport:
    """The default load generator: one ``httpx2.AsyncClient`` shared by the workers, with a
    keep-alive pool as large as the concurrency."""

    def __init__(self, base_url: str, concurrency: int) -> None:
        limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = httpx2.AsyncClient(
            base_url=base_url, limits=limits, timeout=httpx2.Timeout(10.0)
        )

    async def send(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        response = await self.client.request(method, target, headers=headers, content=body or None)
        return response.status_code, response.content

    async def reset(self) -> None:
        """httpx2 expires idle connections itself (``keepalive_expiry``)."""

    async def aclose(self) -> None:
        await self.client.aclose()


class RawTransport:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams, one connection per worker
    (``--client raw``): much cheaper per request than httpx2, so the server, not the
    client, is what runs out of CPU. Only what these two servers answer is understood:
    a status line, headers and a ``content-length`` body."""

    def __init__(self, port: int, concurrency: int) -> None:
        self.port = port
        self.free: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.all: list[asyncio.StreamWriter] = []

    async def send(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        if self.free:
            reader, writer = self.free.pop()
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.all.append(writer)
        lines = [
            f"{method} {target} HTTP/1.1",
            f"host: 127.0.0.1:{self.port}",
            *(f"{k}: {v}" for k, v in headers.items()),
            f"content-length: {len(body)}",
            "",
            "",
        ]
        writer.write("\r\n".join(lines).encode("latin-1") + body)
        try:
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                    elif name.strip().lower() == b"transfer-encoding":
                        raise RuntimeError("chunked responses are not supported")
                payload = await reader.readexactly(length) if length else b""
        except BaseException:
            writer.close()
            raise
        self.free.append((reader, writer))
        return status, payload

    async def reset(self) -> None:
        """Drop idle connections: uvicorn closes a connection after 5 s without a request
        (``timeout_keep_alive``), which is what the other server's phase lasts."""
        for _reader, writer in self.free:
            writer.close()
        self.all = [w for w in self.all if not w.is_closing()]
        self.free.clear()

    async def aclose(self) -> None:
        for writer in self.all:
            writer.close()
        self.free.clear()


TRANSPORT_ERRORS = (
    httpx2.HTTPError,
    OSError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    TimeoutError,
    RuntimeError,
    ValueError,
)


def transport_for(kind: str, server: Server, concurrency: int) -> Transport:
    if kind == "raw":
        return RawTransport(server.port, concurrency)
    return Httpx2Transport(server.base_url, concurrency)


@dataclass
class Tally:
    units: int = 0  # trivial requests, or order pairs
    requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if len(self.samples) < 5:
            self.samples.append(f"{kind}: {detail[:300]}")


def signed_headers() -> dict[str, str]:
    stamp = str(time.time_ns() // 1_000_000)
    return {
        "X-PCK": KEY,
        "X-Stamp": stamp,
        "X-Signature": sign(KEY, SECRET_BYTES, stamp),
        "Content-Type": "application/json",
    }


def _ok(status: int, payload: bytes, tally: Tally, what: str) -> dict[str, Any] | None:
    text = payload.decode("utf-8", "replace")
    if status != 200:
        tally.error(f"{what} HTTP {status}", text)
        return None
    try:
        body = json.loads(payload)
    except ValueError:
        tally.error(f"{what} bad JSON", text)
        return None
    if not isinstance(body, dict) or body.get("success") is not True:
        tally.error(f"{what} success!=true", text)
        return None
    return body


async def trivial_worker(transport: Transport, end: float, tally: Tally) -> None:
    while time.monotonic() < end:
        try:
            status, payload = await transport.send("GET", "/ping", {}, b"")
        except TRANSPORT_ERRORS as exc:
            tally.error(f"GET {type(exc).__name__}", str(exc))
            continue
        tally.requests += 1
        if status == 200 and payload == b'{"ok":true}':
            tally.units += 1
        else:
            tally.error(f"GET HTTP {status}", payload.decode("utf-8", "replace"))


async def mock_worker(transport: Transport, end: float, tally: Tally, wid: int) -> None:
    n = 0
    while time.monotonic() < end:
        n += 1
        body = json.dumps({**ORDER, "newOrderClientId": f"bench-{wid}-{n}-{time.time_ns()}"})
        try:
            status, payload = await transport.send(
                "POST", "/api/v1/order", signed_headers(), body.encode()
            )
        except TRANSPORT_ERRORS as exc:
            tally.error(f"POST {type(exc).__name__}", str(exc))
            continue
        tally.requests += 1
        parsed = _ok(status, payload, tally, "POST")
        if parsed is None:
            continue
        data = parsed.get("data")
        order_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(order_id, int):
            tally.error("POST no id", payload.decode("utf-8", "replace"))
            continue
        headers = signed_headers()
        del headers["Content-Type"]
        try:
            status, payload = await transport.send(
                "DELETE", f"/api/v1/order?id={order_id}", headers, b""
            )
        except TRANSPORT_ERRORS as exc:
            tally.error(f"DELETE {type(exc).__name__}", str(exc))
            continue
        tally.requests += 1
        if _ok(status, payload, tally, "DELETE") is not None:
            tally.units += 1


async def phase(
    kind: str, transport: Transport, server: Server, seconds: float, concurrency: int
) -> dict[str, Any]:
    tally = Tally()
    await transport.reset()
    cpu0 = server.cpu_seconds()
    own0 = time.process_time()
    start = time.monotonic()
    end = start + seconds
    if kind == "mock":
        workers = [mock_worker(transport, end, tally, w) for w in range(concurrency)]
    else:
        workers = [trivial_worker(transport, end, tally) for _ in range(concurrency)]
    await asyncio.gather(*workers)
    elapsed = time.monotonic() - start
    server_cpu = server.cpu_seconds() - cpu0
    client_cpu = time.process_time() - own0
    return {
        "kind": kind,
        "elapsed_s": round(elapsed, 3),
        "units": tally.units,
        "requests": tally.requests,
        "units_per_s": round(tally.units / elapsed, 1),
        "requests_per_s": round(tally.requests / elapsed, 1),
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_share": round(server_cpu / elapsed, 3),
        "server_cpu_ms_per_request": (
            round(1000 * server_cpu / tally.requests, 4) if tally.requests else None
        ),
        "client_cpu_s": round(client_cpu, 2),
        "client_cpu_share": round(client_cpu / elapsed, 3),
        "errors": dict(tally.errors),
        "error_samples": tally.samples,
    }


async def measure(
    trivial: Server, mock: Server, args: argparse.Namespace, deadline: float
) -> dict[str, Any]:
    rounds: list[dict[str, Any]] = []
    warmup: list[dict[str, Any]] = []
    transports = {
        "trivial": transport_for(args.client, trivial, args.concurrency),
        "mock": transport_for(args.client, mock, args.concurrency),
    }
    servers = {"trivial": trivial, "mock": mock}
    try:
        for kind in ("trivial", "mock"):
            warmup.append(
                await phase(kind, transports[kind], servers[kind], args.warmup, args.concurrency)
            )
        for i in range(args.rounds):
            # Each round needs two phases plus the in-flight tail; stop early rather than
            # overrun the hard limit.
            if time.monotonic() + 2 * args.seconds + 5 > deadline:
                print(
                    f"rest_throughput: time budget reached after {i} round(s)",
                    file=sys.stderr,
                    flush=True,
                )
                break
            t = await phase(
                "trivial", transports["trivial"], trivial, args.seconds, args.concurrency
            )
            m = await phase("mock", transports["mock"], mock, args.seconds, args.concurrency)
            trivial_rps = t["units_per_s"]
            mock_rps = 2 * m["units_per_s"]
            ratio = mock_rps / trivial_rps if trivial_rps else float("nan")
            t_cost, m_cost = t["server_cpu_ms_per_request"], m["server_cpu_ms_per_request"]
            cpu_ratio = t_cost / m_cost if t_cost and m_cost else float("nan")
            rounds.append(
                {
                    "round": i + 1,
                    "trivial": t,
                    "mock": m,
                    "trivial_requests_per_s": t["units_per_s"],
                    "mock_pairs_per_s": m["units_per_s"],
                    "mock_requests_per_s": round(mock_rps, 1),
                    "ratio": round(ratio, 4),
                    "server_cpu_ratio": round(cpu_ratio, 4),
                }
            )
            print(
                f"rest_throughput: round {i + 1}: trivial {t['units_per_s']:,.0f} req/s "
                f"(server CPU {t['server_cpu_share']:.0%}), mock {m['units_per_s']:,.0f} "
                f"pairs/s = {mock_rps:,.0f} req/s (server CPU {m['server_cpu_share']:.0%}), "
                f"ratio {ratio:.3f}, server-CPU ratio {cpu_ratio:.3f}",
                file=sys.stderr,
                flush=True,
            )
    finally:
        for transport in transports.values():
            await transport.aclose()
    return {"warmup": warmup, "rounds": rounds}


# -- profiling ----------------------------------------------------------------------------


def profile_mock(
    args: argparse.Namespace, workdir: Path, accounts: Path, deadline: float
) -> dict[str, Any]:
    """Run the mock server under cProfile, load it with order pairs, stop it with SIGINT
    (a clean uvicorn shutdown, so cProfile writes its file), and summarise."""
    out = workdir / "mock.prof"
    port = free_port()
    server = start(
        "mock-profiled",
        mock_argv(port, accounts, ["-m", "cProfile", "-o", str(out)]),
        port,
        "/api/v2/server/time",
        workdir,
    )
    try:
        wait_ready(server, min(deadline, time.monotonic() + 30))

        async def load() -> dict[str, Any]:
            transport = transport_for(args.client, server, args.concurrency)
            try:
                await phase("mock", transport, server, 1.0, args.concurrency)  # warm-up
                return await phase("mock", transport, server, args.profile, args.concurrency)
            finally:
                await transport.aclose()

        result = run_async(load(), args.loop)
    finally:
        stop(server, signal.SIGINT, timeout=20)
    if not out.exists():
        raise RuntimeError(f"no profile written:\n{server.log.read_text()[-2000:]}")
    stats = pstats.Stats(str(out))
    rows = []
    for (filename, line, func), (cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        short = "/".join(filename.split("/")[-2:])
        rows.append(
            {
                "function": f"{short}:{line}({func})",
                "ncalls": nc,
                "primitive_calls": cc,
                "tottime_s": round(tt, 4),
                "cumtime_s": round(ct, 4),
            }
        )
    text = io.StringIO()
    pstats.Stats(str(out), stream=text).sort_stats("tottime").print_stats(30)
    return {
        "what": "cProfile of the mock server process (whole process, start-up included) "
        "while loaded with order pairs",
        "load": result,
        "top_by_tottime": sorted(rows, key=lambda r: -r["tottime_s"])[:30],
        "top_by_cumtime": sorted(rows, key=lambda r: -r["cumtime_s"])[:40],
        "text": text.getvalue(),
    }


# -- main ---------------------------------------------------------------------------------


def run_async(coro: Any, loop: str) -> Any:
    factory = None
    if loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def implementation_info() -> dict[str, Any]:
    info: dict[str, Any] = {}
    for module in ("uvicorn", "starlette", "httpx2", "uvloop", "httptools"):
        try:
            mod = __import__(module)
            info[module] = getattr(mod, "__version__", "installed")
        except ImportError:
            info[module] = None
    info["uvicorn_loop"] = "uvloop" if info["uvloop"] else "asyncio"
    info["uvicorn_http"] = "httptools" if info["httptools"] else "h11"
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.rest_throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up per server")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument(
        "--client",
        choices=("httpx2", "raw"),
        default="httpx2",
        help=f"load generator (raw: minimal HTTP/1.1 client; results go to {NAME}_raw.json)",
    )
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="the load generator's event loop",
    )
    parser.add_argument(
        "--profile",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="instead of measuring, cProfile the mock server under load",
    )
    args = parser.parse_args(argv)
    name = NAME if args.client == "httpx2" else f"{NAME}_{args.client}"
    if args.rounds < 1 or args.seconds <= 0 or args.concurrency < 1 or args.warmup < 0:
        parser.error("rounds, seconds and concurrency must be positive")

    started = time.monotonic()
    deadline = started + HARD_LIMIT_S - 8  # leave time to stop the servers
    workdir = Path(tempfile.mkdtemp(prefix="rest-bench-"))
    accounts = write_accounts(workdir / "accounts.toml")
    try:
        if args.profile > 0:
            profile = profile_mock(args, workdir, accounts, deadline)
            print(profile["text"], file=sys.stderr)
            payload = {
                "benchmark": f"{name}_profile",
                "machine": machine_info(),
                "parameters": {
                    "seconds": args.profile,
                    "client": args.client,
                    "loop": args.loop,
                    "concurrency": args.concurrency,
                },
                "implementation": implementation_info(),
                **profile,
            }
            path = write_results(f"{name}_profile", payload)
            load = profile["load"]
            print(
                f"rest_throughput --profile: {load['units_per_s']:,.0f} pairs/s under "
                f"cProfile, errors {sum(load['errors'].values())} -> {path}"
            )
            return 0

        mock_port, trivial_port = free_port(), free_port()
        servers: list[Server] = []
        try:
            servers.append(
                start("trivial", trivial_argv(trivial_port), trivial_port, "/ping", workdir)
            )
            servers.append(
                start(
                    "mock",
                    mock_argv(mock_port, accounts),
                    mock_port,
                    "/api/v2/server/time",
                    workdir,
                )
            )
            for server in servers:
                wait_ready(server, min(deadline, time.monotonic() + 30))
            trivial, mock = servers
            result = run_async(measure(trivial, mock, args, deadline), args.loop)
        finally:
            for server in servers:
                stop(server)
        logs = {s.name: s.log.read_text()[-2000:] for s in servers}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rounds = result["rounds"]
    if not rounds:
        print("rest_throughput: no complete round", file=sys.stderr)
        return 1
    trivial_runs = [r["trivial_requests_per_s"] for r in rounds]
    pair_runs = [r["mock_pairs_per_s"] for r in rounds]
    mock_rps_runs = [r["mock_requests_per_s"] for r in rounds]
    ratio_runs = [r["ratio"] for r in rounds]
    cpu_ratio_runs = [r["server_cpu_ratio"] for r in rounds]
    errors: Counter[str] = Counter()
    phases = [*result["warmup"], *(p for r in rounds for p in (r["trivial"], r["mock"]))]
    for p in phases:
        errors.update(p["errors"])
    ratio = median(ratio_runs)
    payload = {
        "benchmark": name,
        "machine": machine_info(),
        "implementation": implementation_info(),
        "parameters": {
            "rounds": args.rounds,
            "phase_seconds": args.seconds,
            "warmup_seconds": args.warmup,
            "concurrency": args.concurrency,
            "client": args.client,
            "client_loop": args.loop,
            "client_detail": (
                "one httpx2.AsyncClient per server, in this process, keep-alive, "
                "max_connections = concurrency"
                if args.client == "httpx2"
                else "minimal HTTP/1.1 keep-alive client on asyncio streams, in this process, "
                "one connection per in-flight request"
            ),
            "order": ORDER,
            "cancel_delay_ms": 250,
            "mock_command": " ".join(mock_argv(0, Path("ACCOUNTS"))[1:]),
            "trivial_command": " ".join(trivial_argv(0)[1:]),
            "uvicorn_options": "one worker each; loop=auto, http=auto, log_level=warning "
            "(access logger present but filtered) for both",
        },
        "ratio_definition": "(2 x mock order pairs/s) / trivial requests/s, i.e. requests/s "
        "over requests/s; median of the per-round ratios",
        "target_ratio": TARGET_RATIO,
        "trivial_requests_per_s_runs": trivial_runs,
        "trivial_requests_per_s_median": median(trivial_runs),
        "mock_pairs_per_s_runs": pair_runs,
        "mock_pairs_per_s_median": median(pair_runs),
        "mock_requests_per_s_runs": mock_rps_runs,
        "mock_requests_per_s_median": median(mock_rps_runs),
        "ratio_runs": ratio_runs,
        "ratio_median": ratio,
        "ratio_of_medians": round(median(mock_rps_runs) / median(trivial_runs), 4),
        "meets_target": ratio >= TARGET_RATIO,
        "server_cpu_ratio_definition": "trivial server CPU ms per request / mock server CPU "
        "ms per request (both from /proc): the ratio the "
        "servers would reach if each had a core to itself "
        "and the client were free",
        "server_cpu_ratio_runs": cpu_ratio_runs,
        "server_cpu_ratio_median": median(cpu_ratio_runs),
        "errors_total": sum(errors.values()),
        "errors": dict(errors),
        "server_cpu_share_median": {
            "trivial": median([r["trivial"]["server_cpu_share"] for r in rounds]),
            "mock": median([r["mock"]["server_cpu_share"] for r in rounds]),
        },
        "server_cpu_ms_per_request_median": {
            "trivial": median([r["trivial"]["server_cpu_ms_per_request"] for r in rounds]),
            "mock": median([r["mock"]["server_cpu_ms_per_request"] for r in rounds]),
        },
        "warmup": result["warmup"],
        "rounds": rounds,
        "server_log_tails": logs,
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    path = write_results(name, payload)
    print(
        f"rest_throughput[{args.client}]: ratio {ratio:.3f} (target {TARGET_RATIO}; median "
        f"of {len(rounds)} rounds of (2 x pairs/s) / trivial req/s): mock "
        f"{median(pair_runs):,.0f} pairs/s = {median(mock_rps_runs):,.0f} req/s, trivial "
        f"{median(trivial_runs):,.0f} req/s; server-CPU ratio "
        f"{median(cpu_ratio_runs):.3f}; errors {sum(errors.values())} -> {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
