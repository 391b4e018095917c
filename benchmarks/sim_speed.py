"""The chaos harness's speed: simulated seconds per wall second of the ``sim`` engine on a
one-pair market-making workload, and the gate suite's wall time.

* **sim speed**: the ``plain`` scenario (the spread maker on BTCTRY against the mock's
  market agents, no faults) run for ``--virtual-s`` seconds of virtual time, in this
  process; speed = virtual seconds / wall seconds, median of ``--runs``. Target >= 100.
* **gate wall time** (``--gate``): ``chaos gate`` as a subprocess, every gate and canary
  scenario with one seed, parallel across this machine's cores; wall seconds, one run
  (it is minutes long by design). Target < 300 s.

    python -m benchmarks.sim_speed [--virtual-s 120] [--runs 3] [--gate]
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import ROOT, machine_info, median, write_results
from chaos.engines.sim import run_sim_sync
from chaos.scenario import load_suite

NAME = "sim_speed"


def sim_run(virtual_s: float, seed: int) -> dict[str, float]:
    plain = next(s for s in load_suite() if s.name == "plain")
    scenario = dataclasses.replace(plain, duration_s=virtual_s, expect_modes=())
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = run_sim_sync(scenario, seed, Path(tmp))
        wall = time.perf_counter() - started
    simulated = result.duration_ms / 1000
    return {
        "virtual_s": simulated,
        "wall_s": wall,
        "speed": simulated / wall,
        "venue_orders": float(len(result.venue_orders)),
        "venue_fills": float(len(result.venue_fills)),
    }


def gate_run() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "chaos.cli",
                "gate",
                "--certificate",
                f"{tmp}/cert.json",
                "--report-dir",
                tmp,
            ],
            cwd=ROOT,
            check=False,
            capture_output=True,
            timeout=1800,
        )
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.sim_speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--virtual-s", type=float, default=120.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gate", action="store_true", help="also time the gate suite")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.virtual_s <= 0:
        parser.error("--runs and --virtual-s must be positive")
    started = time.perf_counter()
    runs = []
    for i in range(args.runs):
        runs.append(sim_run(args.virtual_s, seed=1 + i))
        print(
            f"sim_speed: run {i + 1}/{args.runs}: {runs[-1]['speed']:.0f} simulated s per wall s",
            file=sys.stderr,
        )
    speed = median([r["speed"] for r in runs])
    gate_s = gate_run() if args.gate else None
    payload = {
        "benchmark": NAME,
        "machine": machine_info(),
        "parameters": {"virtual_s": args.virtual_s, "runs": args.runs, "scenario": "plain"},
        "sim_speed_median": round(speed, 1),
        "sim_speed_target": 100,
        "gate_wall_s": round(gate_s, 1) if gate_s is not None else None,
        "gate_wall_target_s": 300,
        "runs": [{k: round(v, 2) for k, v in r.items()} for r in runs],
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    path = write_results(NAME, payload)
    gate_text = f", gate suite {gate_s:.0f} s wall" if gate_s is not None else ""
    print(
        f"sim_speed: {speed:.0f} simulated seconds per wall second (median of {args.runs}, "
        f"{args.virtual_s:.0f} s virtual each; target 100){gate_text} -> {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
