"""Scale switch (quick | paper), device choice and seeding.

One environment variable, ``MACRODYN_SCALE``, selects the scale of every chapter and every
headless run (``python -m support run NAME --scale ...`` sets it for that run). The
``quick`` scale is the default: every chapter runs on a 2-core CPU in minutes. The ``paper``
scale reruns the paper-sized experiment with exactly the same code (a GPU is used when one is
present, never required).
"""

from __future__ import annotations

import os
import random
from typing import TypeVar

import numpy as np
import torch

ENV_VAR = "MACRODYN_SCALE"
DEVICE_ENV_VAR = "MACRODYN_DEVICE"
SCALES = ("quick", "paper")

T = TypeVar("T")


def check_scale(scale: str) -> str:
    """Return ``scale`` if it is a known scale name, else raise a ``ValueError`` naming the choices."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)} "
                         f"(set with the environment variable {ENV_VAR})")
    return scale


def current_scale() -> str:
    """The scale selected by ``$MACRODYN_SCALE`` (default ``quick``)."""
    return check_scale(os.environ.get(ENV_VAR, "quick").strip().lower() or "quick")


def pick(quick: T, paper: T, scale: str | None = None) -> T:
    """Return the value for the current (or given) scale."""
    return paper if check_scale(scale or current_scale()) == "paper" else quick


def device() -> torch.device:
    """The compute device: ``$MACRODYN_DEVICE`` if set, else CUDA when available, else CPU."""
    name = os.environ.get(DEVICE_ENV_VAR)
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) global generators.

    Library functions in ``support`` take explicit ``seed``/``generator`` arguments; this call is
    for the reader's own cells.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def describe(scale: str | None = None) -> str:
    """One short sentence naming the scale and the device, printed at the top of every chapter
    (under 80 characters, so it fits a page's output box and a terminal)."""
    s = check_scale(scale or current_scale())
    n = torch.get_num_threads()
    return (f"{s} scale (${ENV_VAR}) on {device()}, torch {torch.__version__}, "
            f"{n} thread{'s' if n != 1 else ''}.")


def machine() -> str:
    """What produced a result: the accelerator if one is used, else the CPU and its core count."""
    import platform
    dev = device()
    if dev.type == "cuda":
        return f"{torch.cuda.get_device_name(dev)} (cuda)"
    return f"CPU, {os.cpu_count()} cores ({platform.machine()}), torch threads = {torch.get_num_threads()}"


def default_workers() -> int:
    """Processes for embarrassingly parallel sweeps: ``$MACRODYN_WORKERS``, else the CPUs this
    process may run on (the parent only waits while its workers train)."""
    env = os.environ.get("MACRODYN_WORKERS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"MACRODYN_WORKERS must be an integer, got {env!r}") from None
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:                      # not on Linux
        return max(1, os.cpu_count() or 1)


#: config fields that say how a run is executed (processes, torch threads), not what it computes: a
#: run that differs from its preset only in these is not a changed run (never listed as a change)
EXECUTION_ONLY = frozenset({"workers", "threads"})
