"""Smoke test of the locust load test: a short limits run against a real mock subprocess.

locust monkey-patches the standard library on import, so it runs only in a subprocess here.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("locust") is None, reason="locust: the load extra"
)


def test_limits_scenario_earns_the_venues_429s(tmp_path: Path) -> None:
    out = tmp_path / "load_limits.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.load",
            "--scenario",
            "limits",
            "--seconds",
            "8",
            "--users",
            "5",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.exists(), run.stdout + run.stderr
    result = json.loads(out.read_text())
    endpoints = result["endpoints"]
    for name in ("POST /api/v1/order [per key]", "POST /api/v1/order [per ip]"):
        row = endpoints[name]
        assert row["requests"] > 0
        assert 0 < row["share_429"] < 1, row
        for key in ("requests_per_s", "median_ms", "p95_ms", "p99_ms"):
            assert row[key] is not None
    tally = result["tally"]
    assert tally["bad_429"] == {}
    assert tally["policies"]["POST /api/v1/order [per key]"].keys() == {"account"}
    assert tally["policies"]["POST /api/v1/order [per ip]"].keys() == {"ip"}
    assert tally["retry_after"]["POST /api/v1/order [per key]"] == [1, 1]
    assert result["failures"] == []
    assert run.returncode == 0 and result["passed"], result["problems"]
