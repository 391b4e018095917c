"""Load tests of the mock venue with locust, headless, one command per scenario.

    python -m benchmarks.load --scenario limits     [--users 5] [--seconds 20]
    python -m benchmarks.load --scenario throughput [--users 8] [--seconds 20]

Each run starts the mock as a subprocess on 127.0.0.1 (a free port, ``--no-market``, the
accounts below), runs ``locust -f benchmarks/locustfile.py --headless`` as a subprocess
against it, and stops both by itself: locust's own ``-t`` run time, and a hard limit after
which both are killed. Figures go to ``benchmarks/results/load_<scenario>.json``: per
endpoint and in aggregate, requests per second, the share of 429s, median, p95 and p99
latency (from locust's CSV stats), plus the locustfile's own tally (status codes, the 429
bodies' policies, Retry-After values, observed block durations, malformed 429s).

* ``limits`` (rate limits on): traffic above each endpoint's limit, per IP and per key
  (see the locustfile's user classes). Passes when every 429 carries the venue's body and
  a Retry-After within the block, the allowed requests stay within the venue's table, and
  the observed block lasts at least the table's block duration.
* ``throughput`` (rate limits off): signed order pairs (POST a resting limit order, DELETE
  it); passes when nothing failed.

This module imports no locust (locust monkey-patches the standard library on import); the
locustfile imports the accounts from here. Distributed mode (one master, N workers):

    locust -f benchmarks/locustfile.py --master --headless -u 5 -r 5 -t 20s \\
        --expect-workers 2 --host http://127.0.0.1:8080 BalancesPerIP OrdersPerKey OrdersPerIP
    locust -f benchmarks/locustfile.py --worker --master-host 127.0.0.1   # once per worker

with the mock started as ``mock-exchange serve --no-market --accounts <file from
accounts_toml()>`` (``--rate-limits off`` for ``SignedOrderPairs``).
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
RESULTS = Path(__file__).resolve().parent / "results"

ACCOUNTS = 8  # load0 .. load7
_NAMESPACE = uuid.UUID("6f1c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f")

# locust user classes per scenario, and whether the mock enforces its rate limits.
SCENARIOS: dict[str, tuple[tuple[str, ...], bool]] = {
    "limits": (("BalancesPerIP", "OrdersPerKey", "OrdersPerIP"), True),
    "throughput": (("SignedOrderPairs",), False),
}
MIN_USERS = {"limits": 5, "throughput": 1}
STARTUP_S = 30.0
GRACE_S = 30.0  # beyond locust's run time before everything is killed


def account(index: int) -> tuple[str, str]:
    """The ``index``-th load account: its key (X-PCK) and base64 secret, deterministic."""
    key = str(uuid.uuid5(_NAMESPACE, f"load{index}"))
    secret = base64.b64encode(hashlib.sha256(f"load-secret-{index}".encode()).digest())
    return key, secret.decode("ascii")


def accounts_toml(count: int = ACCOUNTS) -> str:
    """The mock's ``--accounts`` file for the load accounts, richly funded."""
    lines = []
    for index in range(count):
        key, secret = account(index)
        lines += [
            "[[account]]",
            f'key = "{key}"',
            f'secret = "{secret}"',
            f'name = "load{index}"',
            "[account.balances]",
            'TRY = "100000000000"',
            'BTC = "100000"',
            "",
        ]
    return "\n".join(lines)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path, deadline: float) -> None:
    import urllib.request

    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mock exited early:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("mock did not answer within its start-up budget")


def _stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _number(text: str | None) -> float | None:
    if text in (None, "", "N/A"):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def read_stats(path: Path) -> dict[str, dict[str, Any]]:
    """locust's ``<prefix>_stats.csv``, one row per request name plus ``Aggregated``."""
    rows: dict[str, dict[str, Any]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            rows[row["Name"]] = {
                "method": row["Type"] or None,
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "requests_per_s": _number(row["Requests/s"]),
                "median_ms": _number(row["50%"]),
                "p95_ms": _number(row["95%"]),
                "p99_ms": _number(row["99%"]),
                "max_ms": _number(row["Max Response Time"]),
            }
    return rows


def read_failures(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [
            {
                "method": r["Method"],
                "name": r["Name"],
                "error": r["Error"],
                "occurrences": int(r["Occurrences"]),
            }
            for r in csv.DictReader(handle)
        ]


def summarise(stats: dict[str, dict[str, Any]], tally: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per endpoint: locust's figures plus the 429 share from the locustfile's tally."""
    status: dict[str, dict[str, int]] = tally.get("status", {})
    out: dict[str, dict[str, Any]] = {}
    for name, row in stats.items():
        if name == "Aggregated":
            codes: dict[str, int] = {}
            for per in status.values():
                for code, n in per.items():
                    codes[code] = codes.get(code, 0) + n
        else:
            codes = status.get(name, {})
        total = sum(codes.values())
        share = codes.get("429", 0) / total if total else 0.0
        out[name] = {**row, "status": dict(sorted(codes.items())), "share_429": round(share, 4)}
    return out


def check_limits(endpoints: dict[str, Any], tally: dict[str, Any], seconds: float) -> list[str]:
    """What the limits scenario must show, against the venue's table (``DEFAULT_RULES``)."""
    from mock_exchange.ratelimit import DEFAULT_RULES, endpoint_of

    problems: list[str] = []
    expect: dict[str, Any] = tally.get("expect", {})
    for name, spec in expect.items():
        row = endpoints.get(name)
        if row is None or row["requests"] == 0:
            problems.append(f"{name}: no traffic")
            continue
        if row["share_429"] <= 0:
            problems.append(f"{name}: traffic above the limit earned no 429")
        rules = [
            r
            for r in DEFAULT_RULES
            if r.method == spec["method"] and r.endpoint == endpoint_of(spec["path"])
        ]
        allowed = row["status"].get("200", 0)
        subjects = max(1, len(tally.get("subjects", {}).get(name, [])))
        # Every window of every rule caps what one subject may pass in the run.
        cap = min(r.limit * (int(seconds * 1000 // r.period_ms) + 1) for r in rules) * subjects
        if allowed > cap:
            problems.append(f"{name}: {allowed} allowed > {cap} the table permits")
        policies = tally.get("policies", {}).get(name, {})
        if spec["policy"] not in policies:
            problems.append(f"{name}: no 429 named policy {spec['policy']} ({policies})")
        for rule in rules:
            blocks = tally.get("blocks_ms", {}).get(f"{name} {rule.limit}/{rule.period_text}")
            # A block shorter than the table's: a request sent that long after the first
            # 429 of a block was allowed again (10% slack for the pacing of the sends).
            if blocks and min(blocks) < 0.9 * rule.block_ms:
                problems.append(
                    f"{name}: a {rule.limit}/{rule.period_text} block ended after "
                    f"{min(blocks)} ms < {rule.block_ms} ms"
                )
    for name, n in tally.get("bad_429", {}).items():
        problems.append(f"{name}: {n} malformed 429 answer(s)")
    return problems


def run(scenario: str, users: int, seconds: int, out: Path | None = None) -> dict[str, Any]:
    classes, limits_on = SCENARIOS[scenario]
    users = max(users, MIN_USERS[scenario])
    hard_limit = STARTUP_S + seconds + GRACE_S
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="btcbot-load-"))
    mock: subprocess.Popen[bytes] | None = None
    try:
        accounts = workdir / "accounts.toml"
        accounts.write_text(accounts_toml())
        port = free_port()
        host = f"http://127.0.0.1:{port}"
        mock_log = workdir / "mock.log"
        with mock_log.open("wb") as log:
            mock = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mock_exchange.cli",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-market",
                    "--rate-limits",
                    "on" if limits_on else "off",
                    "--accounts",
                    str(accounts),
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        _wait_ready(mock, host + "/api/v2/server/time", mock_log, started + STARTUP_S)
        tally_path = workdir / "tally.json"
        prefix = workdir / "locust"
        argv = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            str(users),
            "--run-time",
            f"{seconds}s",
            "--stop-timeout",
            "2",
            "--host",
            host,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
            *classes,
        ]
        env = {**os.environ, "LOAD_TALLY": str(tally_path), "PYTHONUNBUFFERED": "1"}
        locust_log = workdir / "locust.log"
        with locust_log.open("wb") as log:
            locust = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
            try:
                locust.wait(timeout=max(1.0, hard_limit - (time.monotonic() - started)))
            except subprocess.TimeoutExpired:
                locust.kill()
                locust.wait()
                raise RuntimeError("locust overran the hard limit and was killed") from None
        stats_csv = Path(f"{prefix}_stats.csv")
        if not stats_csv.exists():
            raise RuntimeError(f"locust wrote no stats:\n{locust_log.read_text()[-3000:]}")
        tally = json.loads(tally_path.read_text()) if tally_path.exists() else {}
        endpoints = summarise(read_stats(stats_csv), tally)
        failures = read_failures(Path(f"{prefix}_failures.csv"))
        if scenario == "limits":
            problems = check_limits(endpoints, tally, seconds)
        else:
            problems = [f"{f['name']}: {f['error']} x{f['occurrences']}" for f in failures]
        from benchmarks._common import machine_info

        aggregate = endpoints.get("Aggregated", {})
        result: dict[str, Any] = {
            "benchmark": f"load_{scenario}",
            "scenario": scenario,
            "rate_limits": "on" if limits_on else "off",
            "users": users,
            "seconds": seconds,
            "user_classes": list(classes),
            "requests_per_s": aggregate.get("requests_per_s"),
            "share_429": aggregate.get("share_429"),
            "median_ms": aggregate.get("median_ms"),
            "p95_ms": aggregate.get("p95_ms"),
            "p99_ms": aggregate.get("p99_ms"),
            "endpoints": endpoints,
            "tally": tally,
            "failures": failures,
            "problems": problems,
            "passed": not problems,
            "command": " ".join(["python -m benchmarks.load", *sys.argv[1:]]),
            "machine": machine_info(),
        }
        target = out or RESULTS / f"load_{scenario}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(result, indent=2, default=str) + "\n")
        result["path"] = str(target)
        return result
    finally:
        if mock is not None:
            _stop(mock)
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="limits")
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--out", type=Path, help="results file (default: benchmarks/results/)")
    args = parser.parse_args(argv)
    result = run(args.scenario, args.users, args.seconds, args.out)
    print(f"load {args.scenario}: {result['path']}")
    for name, row in result["endpoints"].items():
        print(
            f"  {name:40} {row['requests']:7d} req  {row['requests_per_s'] or 0:8.1f}/s  "
            f"429 {row['share_429']:6.1%}  p50 {row['median_ms']} p95 {row['p95_ms']} "
            f"p99 {row['p99_ms']} ms"
        )
    for problem in result["problems"]:
        print(f"  PROBLEM: {problem}")
    print(f"load {args.scenario}: {'PASSED' if result['passed'] else 'FAILED'}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
