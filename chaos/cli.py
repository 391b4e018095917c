"""``chaos``: run the bot's whole lifecycle against the mock under injected faults, and decide
from the mock's ground truth whether it may trade real money.

    chaos run [SCENARIO ...] [--engine sim] [--seeds N | --seed S] [--workers N]
              [--report-dir var/chaos]
    chaos gate [--config btcbot.toml] [--seeds N] [--certificate var/gate-certificate.json]
    chaos list

``run`` takes scenario names or files (default: every scenario in ``chaos/scenarios``),
runs each for each seed in parallel across cores with a progress bar, prints a table of
scenarios x invariants, writes ``report.json`` and ``report.html``, and prints for every
failure its seed and the command that reproduces it. A canary scenario passes when the
invariants *catch* its broken bot. ``gate`` runs the gate suite (every scenario marked
``gate``, plus every canary: a harness that cannot fail cannot certify) and writes a
certificate bound to this code and the given configuration, which ``btcbot run`` checks
before it trades real money; it exits non-zero on any violation.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from chaos.model import Scenario
from chaos.report import ok, print_table, write_html, write_json
from chaos.runner import Job, Outcome, run_jobs
from chaos.scenario import ScenarioError, load_scenario, load_suite

__all__ = ["build_parser", "main"]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REPORT_DIR = Path("var/chaos")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chaos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run scenarios and check the invariants")
    run.add_argument("scenarios", nargs="*", help="names or .toml files (default: all)")
    gate = commands.add_parser("gate", help="the gate suite; writes the certificate")
    gate.add_argument("--config", type=Path, help="the bot configuration to certify")
    gate.add_argument("--certificate", type=Path, default=Path("var/gate-certificate.json"))
    for sub in (run, gate):
        sub.add_argument(
            "--engine",
            choices=("sim", "wire"),
            default="sim",
            help="sim: bot and mock in one process on a virtual clock; wire: the mock under "
            "uvicorn and the bot as its own process over loopback sockets, SIGKILLed at crash "
            "points, in wall-clock time shortened by CHAOS_WIRE_SCALE (default 0.25)",
        )
        sub.add_argument("--seeds", type=int, default=1, help="seeds per scenario (1..N)")
        sub.add_argument("--seed", type=int, help="one given seed instead")
        sub.add_argument("--workers", type=int, help="parallel processes (default: cores)")
        sub.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR)
    commands.add_parser("list", help="the scenarios")
    return parser


def select(names: Sequence[str]) -> list[Scenario]:
    if not names:
        return load_suite()
    chosen = []
    suite = {s.name: s for s in load_suite()}
    for name in names:
        path = Path(name)
        if path.suffix == ".toml" and path.exists():
            chosen.append(load_scenario(path))
        elif name in suite:
            chosen.append(suite[name])
        else:
            raise ScenarioError(f"no scenario {name!r}; `chaos list` shows them")
    return chosen


def seeds_of(args: argparse.Namespace, scenario: Scenario) -> list[int]:
    if args.seed is not None:
        return [args.seed]
    return [scenario.seed + i for i in range(max(1, args.seeds))]


def execute(jobs: list[Job], workers: int | None, console: Console) -> list[Outcome]:
    outcomes: list[Outcome] = []
    with Progress(
        TextColumn("[bold]chaos[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("runs", total=len(jobs))
        for outcome in run_jobs(jobs, workers):
            outcomes.append(outcome)
            mark = "ok" if ok(outcome) else "FAILED"
            progress.update(
                task,
                advance=1,
                description=f"{outcome.job.scenario.name} seed {outcome.job.seed} {mark}",
            )
    return outcomes


def report(outcomes: list[Outcome], report_dir: Path, console: Console) -> bool:
    print_table(outcomes, console)
    write_json(report_dir / "report.json", outcomes)
    write_html(report_dir / "report.html", outcomes)
    console.print(f"reports: {report_dir / 'report.json'}, {report_dir / 'report.html'}")
    return all(ok(o) for o in outcomes)


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    scenarios = select(args.scenarios)
    jobs = [Job(s, seed, args.engine) for s in scenarios for seed in seeds_of(args, s)]
    outcomes = execute(jobs, args.workers, console)
    return 0 if report(outcomes, args.report_dir, console) else 1


def cmd_gate(args: argparse.Namespace, console: Console) -> int:
    from bot.certificate import issue_certificate, write_certificate
    from bot.settings import load_settings

    settings = load_settings(args.config, {}, require_secrets=False)
    scenarios = [s for s in load_suite() if s.gate or s.canary]
    jobs = [Job(s, seed, args.engine) for s in scenarios for seed in seeds_of(args, s)]
    outcomes = execute(jobs, args.workers, console)
    passed = report(outcomes, args.report_dir, console)
    violations = sum(len(o.violations) for o in outcomes if not o.job.scenario.canary)
    violations += sum(1 for o in outcomes if not ok(o))
    certificate = issue_certificate(
        settings,
        ROOT,
        suite=[s.name for s in scenarios],
        seeds=sorted({j.seed for j in jobs}),
        violations=violations,
        now_ms=time.time_ns() // 1_000_000,
    )
    write_certificate(args.certificate, certificate)
    word = "PASSED" if passed and certificate.passed else "FAILED"
    console.print(f"gate {word}: certificate written to {args.certificate}")
    return 0 if passed and certificate.passed else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=False)
    try:
        if args.command == "list":
            for s in load_suite():
                kind = f"canary {s.canary}" if s.canary else ("gate" if s.gate else "")
                console.print(f"{s.name:40} {kind:32} {s.description}")
            return 0
        if args.command == "run":
            return cmd_run(args, console)
        return cmd_gate(args, console)
    except (ScenarioError, ValueError) as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
