"""Stage timings in milliseconds, as every record's `timings_ms` holds them."""

from __future__ import annotations

import time


def ms_since(started: float) -> float:
    """Milliseconds since `started` (a `time.perf_counter()` reading), to 0.01 ms: retrieval
    stages take well under a millisecond at the corpus size."""
    return round((time.perf_counter() - started) * 1000, 2)
