"""Runs scenarios x seeds, in parallel across cores, and judges each run by the invariants.

A job is one (scenario, seed, engine); each runs in its own process with its own temporary
directory (the bot's store), so jobs share nothing. ``run_jobs`` yields outcomes as they
finish (for the progress bar) and never raises for a job: an engine that crashed is an
outcome with ``error`` set, which counts as a failure.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from chaos.invariants import check
from chaos.model import RunResult, Scenario, Violation

__all__ = ["Job", "Outcome", "reproduce_command", "run_job", "run_jobs"]


@dataclass(frozen=True)
class Job:
    scenario: Scenario
    seed: int
    engine: str = "sim"


@dataclass
class Outcome:
    job: Job
    violations: list[Violation] = field(default_factory=list)
    result: RunResult | None = None
    error: str | None = None
    wall_s: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and not self.violations

    @property
    def caught(self) -> bool:
        """A canary scenario is a pass for the harness when something caught the canary."""
        return self.error is None and bool(self.violations)


def reproduce_command(job: Job) -> str:
    where = job.scenario.path or job.scenario.name
    return f"chaos run {where} --seed {job.seed} --engine {job.engine}"


def run_job(job: Job) -> Outcome:
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix=f"chaos-{job.scenario.name}-") as tmp:
            result = _engine(job.engine)(job.scenario, job.seed, Path(tmp))
        return Outcome(job, check(result), result, wall_s=time.perf_counter() - started)
    except Exception:  # an engine failure is an outcome, never the end of the suite
        error = traceback.format_exc(limit=8)
        return Outcome(job, error=error, wall_s=time.perf_counter() - started)


def _engine(name: str) -> Callable[[Scenario, int, Path], RunResult]:
    if name == "sim":
        from chaos.engines.sim import run_sim_sync

        return run_sim_sync
    if name == "wire":
        from chaos.engines.wire import run_wire_sync

        return run_wire_sync
    raise ValueError(f"unknown engine {name!r} (built: sim, wire)")


def run_jobs(jobs: Sequence[Job], workers: int | None = None) -> Iterator[Outcome]:
    """Outcomes as jobs finish; ``workers`` processes (default: the cores available)."""
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield run_job(job)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: set[Future[Outcome]] = {pool.submit(run_job, job) for job in jobs}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
