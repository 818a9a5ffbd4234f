"""Time stepping of microscopic ODEs dx/dt = f(x), shared by the deterministic systems.

:func:`ode_frames` yields the saved frames one at a time, so a caller can stream a long
trajectory (keep a few frames, reduce the rest) instead of holding ``[B, T, N]``; the RK4 step is
:func:`support.rollout.rk4_step`, the same one latent models are rolled out with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from tqdm.auto import tqdm

from ..rollout import rk4_step

INTEGRATORS = ("euler", "rk4")


def ode_frames(rhs: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor, method: str, dt: float,
               n_steps: int, save_every: int = 1, *, progress: bool = False,
               desc: str = "integrate") -> Iterator[torch.Tensor]:
    """Integrate from ``x0 [B, ...]`` and yield x at steps 0, save_every, 2·save_every, … ≤ n_steps.

    ``method``: ``"euler"`` (x + dt f(x)) or ``"rk4"`` (classical Runge–Kutta). No gradients are kept.
    """
    if method not in INTEGRATORS:
        raise ValueError(f"unknown integrator {method!r}; choose 'euler' or 'rk4'")
    if dt <= 0 or n_steps < 0 or save_every < 1:
        raise ValueError(f"need dt > 0, n_steps >= 0, save_every >= 1; got {dt}, {n_steps}, {save_every}")
    x = x0
    with torch.no_grad():
        yield x
        for k in tqdm(range(1, n_steps + 1), desc=desc, disable=not progress, leave=False, mininterval=0.5):
            x = x + dt * rhs(x) if method == "euler" else rk4_step(rhs, x, dt)
            if k % save_every == 0:
                yield x
