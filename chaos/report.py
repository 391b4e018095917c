"""What a chaos run says: a terminal table (scenario x invariant), a JSON report, and an HTML
page with a timeline of faults, order states and modes per run.

Every failure names its seed and the one command that reproduces it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from chaos.invariants import INVARIANTS
from chaos.runner import Outcome, reproduce_command

__all__ = ["print_table", "to_json", "verdict", "write_html", "write_json"]


def verdict(outcome: Outcome) -> str:
    """``pass``/``FAIL`` for a gate scenario; for a canary, ``caught`` is the pass."""
    if outcome.error is not None:
        return "ERROR"
    if outcome.job.scenario.canary:
        return "caught" if outcome.violations else "MISSED"
    return "pass" if not outcome.violations else "FAIL"


def ok(outcome: Outcome) -> bool:
    return verdict(outcome) in ("pass", "caught")


def print_table(outcomes: Sequence[Outcome], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="chaos: scenarios x invariants", show_lines=False)
    table.add_column("scenario", no_wrap=True)
    table.add_column("seed", justify="right")
    for number, _name in INVARIANTS:
        table.add_column(str(number), justify="center")
    table.add_column("verdict")
    table.add_column("wall s", justify="right")
    for outcome in sorted(outcomes, key=lambda o: (o.job.scenario.name, o.job.seed)):
        broken = {v.invariant for v in outcome.violations}
        cells = [
            "err" if outcome.error else ("[red]x[/red]" if n in broken else "[green].[/green]")
            for n, _ in INVARIANTS
        ]
        word = verdict(outcome)
        colour = "green" if ok(outcome) else "red"
        table.add_row(
            outcome.job.scenario.name,
            str(outcome.job.seed),
            *cells,
            f"[{colour}]{word}[/{colour}]",
            f"{outcome.wall_s:.1f}",
        )
    console.print(table)
    console.print("invariants: " + "; ".join(f"{n} {name}" for n, name in INVARIANTS))
    for outcome in outcomes:
        if ok(outcome):
            continue
        console.print(
            f"[red]{verdict(outcome)}[/red] {outcome.job.scenario.name} "
            f"seed {outcome.job.seed}: reproduce with: {reproduce_command(outcome.job)}"
        )
        for v in outcome.violations[:10]:
            console.print(f"    invariant {v.invariant} ({v.name}): {v.subject}: {v.detail}")
        if outcome.error:
            console.print("    " + outcome.error.strip().splitlines()[-1])


def to_json(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    runs = []
    for o in outcomes:
        r = o.result
        runs.append(
            {
                "scenario": o.job.scenario.name,
                "path": o.job.scenario.path,
                "seed": o.job.seed,
                "engine": o.job.engine,
                "canary": o.job.scenario.canary,
                "verdict": verdict(o),
                "violations": [vars(v) for v in o.violations],
                "error": o.error,
                "wall_s": round(o.wall_s, 2),
                "reproduce": reproduce_command(o.job),
                "venue_orders": len(r.venue_orders) if r else None,
                "venue_fills": len(r.venue_fills) if r else None,
                "modes": r.mode_history if r else None,
                "notes": r.notes if r else None,
            }
        )
    return {
        "invariants": [{"number": n, "name": name} for n, name in INVARIANTS],
        "passed": all(ok(o) for o in outcomes),
        "runs": runs,
    }


def write_json(path: Path, outcomes: Sequence[Outcome]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(outcomes), indent=2, default=str), encoding="utf-8")


_STATE_COLOURS = {
    "open": "#4c9be8",
    "partial": "#8e6be8",
    "filled": "#3bb273",
    "cancelled": "#999999",
    "cancel_pending": "#e8a54c",
    "unknown": "#e8574c",
    "rejected": "#555555",
    "submitting": "#bbbbbb",
    "intent": "#dddddd",
}


def _timeline(outcome: Outcome) -> str:
    r = outcome.result
    if r is None:
        return f"<pre>{html.escape(outcome.error or '')}</pre>"
    start = r.start_ms or min((e.get("at", 0) for e in r.journal), default=0)
    span = max(1, r.duration_ms)
    width = 1000

    def x(at: int) -> float:
        return max(0.0, min(width, (at - start) / span * width))

    rows: list[str] = []
    faults = [e for e in r.journal if e.get("kind") == "fault_fired"]
    for e in faults[:400]:
        rows.append(
            f'<line x1="{x(e["at"]):.1f}" x2="{x(e["at"]):.1f}" y1="0" y2="18" '
            f'stroke="#e8574c"><title>{html.escape(str(e.get("fault")))} '
            f"{html.escape(str(e.get('path') or e.get('msg_type') or ''))}</title></line>"
        )
    for m in r.mode_history:
        colour = "#3bb273" if m.get("mode") == "live" else "#e8a54c"
        rows.append(
            f'<rect x="{x(m["at_ms"]):.1f}" y="22" width="4" height="14" fill="{colour}">'
            f"<title>{html.escape(str(m.get('mode')))}: "
            f"{html.escape(', '.join(m.get('reasons', [])))}</title></rect>"
        )
    for i, order in enumerate(r.bot_orders[:60]):
        y = 44 + i * 6
        a, b = x(order.get("created_ms", start)), x(order.get("updated_ms", start))
        colour = _STATE_COLOURS.get(str(order.get("state")), "#000")
        rows.append(
            f'<rect x="{a:.1f}" y="{y}" width="{max(2.0, b - a):.1f}" height="4" '
            f'fill="{colour}"><title>{html.escape(str(order.get("client_id")))} '
            f"{html.escape(str(order.get('state')))}</title></rect>"
        )
    height = 50 + 6 * min(60, len(r.bot_orders))
    return (
        f'<svg width="{width}" height="{height}" style="background:#fafafa">'
        + "".join(rows)
        + "</svg>"
    )


def write_html(path: Path, outcomes: Sequence[Outcome]) -> None:
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>chaos report</title>",
        "<style>body{font-family:sans-serif;margin:2em} .pass{color:#3bb273}"
        " .fail{color:#e8574c} td,th{padding:2px 8px} pre{background:#f4f4f4}</style>",
        "</head><body><h1>chaos report</h1>",
        "<p>Timeline per run: red ticks are faults fired, the second row is the bot's mode "
        "(green live, orange observe), then one bar per order coloured by its final state."
        "</p><table><tr><th>scenario</th><th>seed</th><th>verdict</th><th>violations</th></tr>",
    ]
    for o in outcomes:
        cls = "pass" if ok(o) else "fail"
        parts.append(
            f"<tr><td>{html.escape(o.job.scenario.name)}</td><td>{o.job.seed}</td>"
            f"<td class='{cls}'>{verdict(o)}</td><td>{len(o.violations)}</td></tr>"
        )
    parts.append("</table>")
    for o in outcomes:
        parts.append(f"<h2>{html.escape(o.job.scenario.name)} seed {o.job.seed}: {verdict(o)}</h2>")
        if not ok(o):
            parts.append(f"<p>Reproduce: <code>{html.escape(reproduce_command(o.job))}</code></p>")
        for v in o.violations[:20]:
            parts.append(
                f"<p class='fail'>invariant {v.invariant} ({html.escape(v.name)}): "
                f"{html.escape(v.subject)}: {html.escape(v.detail)}</p>"
            )
        parts.append(_timeline(o))
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
