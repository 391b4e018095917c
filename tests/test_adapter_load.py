"""The bot's adapter under load: many concurrent strategies through one adapter against the
mock with its rate limits on never earn a block, and order throughput stays near the limit
the budget allows (80% of the venue's 10/s, less the arrival-jitter allowance)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_many_strategies_through_one_adapter_never_earn_a_429(tmp_path: Path) -> None:
    out = tmp_path / "adapter_load.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.adapter_load",
            "--strategies",
            "12",
            "--seconds",
            "8",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["earned_429_total"] == 0 and result["errors"] == {}
    post = result["endpoints"]["POST /api/v1/order"]
    assert post["share_of_limit"] >= 0.5, post
