"""The one timer of the benchmarks: the minimum wall time of a call over repeats, after warm-up.

Benchmarks run as scripts (``python benchmarks/NAME.py``), so this module is imported from their own
directory (``from timing import time_min``)."""

from __future__ import annotations

import time
from collections.abc import Callable


def time_min(step: Callable[[], object], repeats: int, sync: Callable[[], None] | None = None,
             warmup: int = 1) -> float:
    """Minimum wall time of ``step`` over ``repeats`` calls after ``warmup`` calls; ``sync`` (e.g.
    ``torch.cuda.synchronize``) runs after every call, inside the timed interval."""
    wait = sync or (lambda: None)
    for _ in range(warmup):
        step()
        wait()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        wait()
        best = min(best, time.perf_counter() - t0)
    return best
