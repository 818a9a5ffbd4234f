"""Peak memory of this process, for experiments that report what they held."""

from __future__ import annotations

import sys


def peak_rss_gib() -> float | None:
    """Peak resident set size of this process so far, in GiB (``getrusage`` ``ru_maxrss``: KiB on
    Linux, bytes on macOS); ``None`` where the ``resource`` module does not exist (Windows)."""
    try:
        import resource
    except ImportError:                                        # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**30 if sys.platform == "darwin" else peak / 2**20
