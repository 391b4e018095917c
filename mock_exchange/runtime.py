"""Process-wide tuning of a long-running mock server, applied once at start by the CLI.

The venue allocates small container objects (orders, fills, events) at a high rate and
keeps most of them; CPython's default collector (a full young-generation pass every 700
allocations) then spends about a fifth of the matching path's time re-scanning live
objects. A larger young generation, and the start-up objects moved out of the collector's
sight with ``gc.freeze``, keep cyclic garbage collected without that cost. Measured in
``benchmarks/matching.py``, which runs the venue under both settings.
"""

from __future__ import annotations

import gc

__all__ = ["SERVER_GC_THRESHOLDS", "tune_gc"]

SERVER_GC_THRESHOLDS = (10_000, 50, 100)


def tune_gc(thresholds: tuple[int, int, int] = SERVER_GC_THRESHOLDS) -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
