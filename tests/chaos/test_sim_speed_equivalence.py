"""The sim engine's shortcuts change nothing: passing over boundaries at which nothing is
due, and remembering the kill flag's reads, give the very run the slow way gives."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from chaos.engines import sim
from chaos.model import RunResult
from chaos.scenario import load_suite


def _plain(duration_s: float) -> Any:
    plain = next(s for s in load_suite() if s.name == "plain")
    return dataclasses.replace(plain, duration_s=duration_s, expect_modes=())


def _dump(result: RunResult) -> str:
    return json.dumps(dataclasses.asdict(result), sort_keys=True, default=str)


def test_passing_over_idle_boundaries_gives_the_same_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = _plain(20.0)
    fast = sim.run_sim_sync(scenario, 7, tmp_path / "fast")
    monkeypatch.setattr(sim._Sim, "_next_due", lambda self: None)  # every boundary
    slow = sim.run_sim_sync(scenario, 7, tmp_path / "slow")
    assert fast.venue_orders and fast.duration_ms == slow.duration_ms
    assert _dump(fast) == _dump(slow)


def test_the_tracked_store_remembers_kv_reads_until_a_write(tmp_path: Path) -> None:
    asyncio.run(_kv_reads(tmp_path))


async def _kv_reads(tmp_path: Path) -> None:
    store = await sim._open_store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    try:
        tracked: Any = sim._TrackedStore(store, sim._Gate(), lambda: None)
        assert await tracked.kv_get("manual_kill") is None
        await store.kv_set("manual_kill", "1")  # not through the wrapper: not seen
        assert await tracked.kv_get("manual_kill") is None
        await tracked.kv_set("manual_kill", "1")
        assert await tracked.kv_get("manual_kill") == "1"
        assert await tracked.kv_get("other", "d") == "d"
        assert await store.kv_get("manual_kill") == "1"  # a real file, really written
    finally:
        await store.close()
