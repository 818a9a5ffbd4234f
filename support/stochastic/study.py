r"""The stochastic study, shared by the lattice chapters: partial-evolution pairs → SDE with λ →
ensemble rollouts → errors against direct simulation of the large system (paper 2, §1.5, §1.9).

A study needs, per training snapshot ``x_t`` of the large system (``K`` patches):

* ``z0 = φ(x_t)``, the latent of the whole system;
* ``local_before = φ_loc(x_{t,I})`` and ``local_after = φ_loc(x_{t+δt,I})``, the local latent of the
  chosen patch before and after its partial evolution over ``δt``.

From these, :func:`pairs_from_patches` builds both training sets: the partial target
``ẑ₁ = z0 + local_after − local_before`` (λ = K) and the naive one ``ẑ₁ = local_after`` (λ = 1).
:func:`fit_sde` trains one :class:`~support.stochastic.sde.LatentSDE` with ``L_p``; ensembles are
rolled out with its Euler–Maruyama ``simulate``; :func:`mean_trajectory_error` is the official
metric e = Σ_t ‖z̄_pred(t) − z̄_true(t)‖² / Σ_t ‖z̄_true(t)‖² of the ensemble means, and
:func:`std_ratio` compares the ensembles' spreads, which that metric does not score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..train import TrainConfig
from ..validation import check_finite
from .encoder import LatentPairs
from .sde import LatentSDE, train_sde


def _as_2d(name: str, z) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(z), dtype=torch.float64)
    if t.dim() == 1:
        t = t[:, None]
    if t.dim() != 2:
        raise ValueError(f"{name} must be [n] or [n, d], got {list(t.shape)}")
    return check_finite(name, t)


def pairs_from_patches(z0, local_before, local_after, dt, n_patches: int) -> dict[str, LatentPairs]:
    """``{"partial": pairs (ẑ₁ = z0 + after − before), "naive": pairs (ẑ₁ = after)}``.

    Args:
        z0: ``[n, d]`` (or ``[n]``) latents of the large snapshots.
        local_before, local_after: the chosen patch's local latent before and after evolution.
        dt: ``[n]`` evolution time of each pair (or one number).
        n_patches: K, the number of patches tiling the large system (λ = K for the partial target).
    """
    z0 = _as_2d("z0", z0)
    before, after = _as_2d("local_before", local_before), _as_2d("local_after", local_after)
    if before.shape != z0.shape or after.shape != z0.shape:
        raise ValueError(f"z0, local_before, local_after must have one shape, got {list(z0.shape)}, "
                         f"{list(before.shape)}, {list(after.shape)}")
    if len(z0) == 0:
        raise ValueError("no pairs: z0 is empty")
    dt_t = torch.as_tensor(np.broadcast_to(np.asarray(dt, dtype=np.float64), (len(z0),)).copy())
    if not bool((dt_t > 0).all()):
        raise ValueError("every δt must be positive")
    if int(n_patches) < 1:
        raise ValueError(f"n_patches must be >= 1, got {n_patches}")
    return {"partial": LatentPairs(z0, z0 + after - before, dt_t, int(n_patches), "partial"),
            "naive": LatentPairs(z0, after.clone(), dt_t, int(n_patches), "naive")}


@dataclass(frozen=True)
class SDESettings:
    """Architecture and optimisation of one SDE fit (``L_p`` with ``steps`` Adam steps)."""

    diffusion: str = "diagonal"
    hidden: tuple[int, ...] = (32, 32)
    steps: int = 2000
    batch_size: int = 512
    lr: float = 3e-3
    eps: float = 1e-8


def fit_sde(pairs: LatentPairs, lam: float, settings: SDESettings, seed: int = 0) -> LatentSDE:
    """One SDE trained by ``L_p`` on ``pairs`` with covariance factor ``lam`` (seeded)."""
    torch.manual_seed(seed)
    model = LatentSDE(pairs.z0.shape[1], diffusion=settings.diffusion, hidden=settings.hidden).double()
    cfg = TrainConfig(lr=settings.lr, steps=settings.steps, batch_size=settings.batch_size,
                      schedule="cosine", min_lr=settings.lr / 100, seed=seed, progress=False, threads=1)
    train_sde(model, pairs, cfg, lam=lam, eps=settings.eps)
    return model.eval()


@torch.no_grad()
def rollouts(model: LatentSDE, z_start: Sequence[float] | np.ndarray, n_paths: int, dt: float,
             n_steps: int, seed: int = 0) -> np.ndarray:
    """Euler–Maruyama ensembles ``[n_starts, n_paths, n_steps + 1, d]`` from each start latent."""
    starts = _as_2d("z_start", z_start)
    z0 = starts.repeat_interleave(int(n_paths), dim=0)
    paths = model.simulate(z0, dt, n_steps, generator=seed)
    return paths.reshape(len(starts), int(n_paths), n_steps + 1, -1).numpy()


def mean_trajectory_error(pred: np.ndarray, true: np.ndarray) -> float:
    """e = Σ_t ‖z̄_pred(t) − z̄_true(t)‖² / Σ_t ‖z̄_true(t)‖² of ensemble means (axis 0: paths,
    axis 1: time, axis 2: latent dims), the official metric of the lattice chapters."""
    pred, true = np.asarray(pred, dtype=float), np.asarray(true, dtype=float)
    if pred.ndim != 3 or true.ndim != 3 or pred.shape[1:] != true.shape[1:]:
        raise ValueError(f"pred and true must be [paths, time, d] with equal time and d, got "
                         f"{list(pred.shape)} and {list(true.shape)}")
    mp, mt = pred.mean(axis=0), true.mean(axis=0)
    denom = float((mt ** 2).sum())
    if denom == 0.0:
        raise ValueError("the true mean trajectory is identically zero: relative error undefined")
    return float(((mp - mt) ** 2).sum() / denom)


def std_ratio(pred: np.ndarray, true: np.ndarray, from_step: int = 0) -> float:
    """Mean over time (from ``from_step``) of the ensemble std, predicted over true."""
    pred, true = np.asarray(pred, dtype=float), np.asarray(true, dtype=float)
    sp = pred[:, from_step:].std(axis=0, ddof=1).mean()
    st = true[:, from_step:].std(axis=0, ddof=1).mean()
    return float(sp / st)
