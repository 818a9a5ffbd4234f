r"""The stochastic study, shared by the lattice chapters: partial-evolution pairs → SDE with λ →
ensemble rollouts → errors against direct simulation of the large system (paper 2; the metrics of
its official code).

A study needs, per training snapshot ``x_t`` of the large system (``K`` patches):

* ``z0 = φ(x_t)``, the latent of the whole system;
* ``local_before = φ_loc(x_{t,I})`` and ``local_after = φ_loc(x_{t+δt,I})``, the local latent of the
  chosen patch before and after its partial evolution over ``δt``.

From these, :func:`pairs_from_patches` builds both training sets: the partial target
``ẑ₁ = z0 + local_after − local_before`` (λ = K) and the naive one ``ẑ₁ = local_after`` (λ = 1).
:func:`fit_sde` trains one :class:`~support.stochastic.sde.LatentSDE` with ``L_p``; :func:`rollouts`
runs Euler–Maruyama ensembles with common random numbers; the scores against direct simulation are
:func:`mean_trajectory_error` (the official metric e = Σ_t ‖z̄_pred(t) − z̄_true(t)‖² /
Σ_t ‖z̄_true(t)‖² of the ensemble means), :func:`std_ratio` (the ensembles' spreads, which that
metric does not score) and :func:`mmd_curves` (the distance between the ensembles' laws at every
time). The stochastic predator–prey, Curie–Weiss and Ising chapters all call these.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ..limits import AT_LEAST_ONE, POSITIVE
from ..tables import Table
from ..metrics import mmd2
from ..train import TrainConfig
from ..uncertainty import Estimate
from ..validation import check_finite
from .encoder import LatentPairs
from .sde import LatentSDE, ZScaler, train_sde


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


def symmetrised_pairs(pairs: LatentPairs, odd: Sequence[int] = (0,)) -> LatentPairs:
    """The pairs followed by their images under z_i → −z_i for the coordinates ``odd`` (the others
    unchanged): twice the data where the dynamics is symmetric under that flip (m → −m of a spin
    system at h = 0; ρ_dw does not flip)."""
    odd = list(odd)
    if not odd or min(odd) < 0 or max(odd) >= pairs.z0.shape[1]:
        raise ValueError(f"odd must name coordinates of the {pairs.z0.shape[1]}-d latent, got {odd}")
    flip = torch.ones(pairs.z0.shape[1], dtype=pairs.z0.dtype)
    flip[odd] = -1.0
    return LatentPairs(torch.cat([pairs.z0, pairs.z0 * flip]), torch.cat([pairs.z1, pairs.z1 * flip]),
                       torch.cat([pairs.dt, pairs.dt]), pairs.n_patches, pairs.target)


@dataclass(frozen=True)
class SDESettings:
    """Architecture and default optimisation of one SDE fit (``L_p``, ``steps`` Adam steps, cosine
    schedule). ``init_scale``: the initial σ in standardised units, or ``None`` for
    :func:`initial_sigma`; ``dtype``: cast the model to the pairs' dtype (``True``) or not."""

    diffusion: str = "diagonal"
    hidden: tuple[int, ...] = (32, 32)
    steps: int = 2000
    batch_size: int = 512
    lr: float = 3e-3
    eps: float = 1e-8
    init_scale: float | None = 1.0
    match_dtype: bool = True

    #: value ranges, checked by the experiment config that holds these settings (support.limits)
    LIMITS: ClassVar = {"hidden": AT_LEAST_ONE, "steps": AT_LEAST_ONE, "batch_size": AT_LEAST_ONE,
                        "lr": POSITIVE, "eps": POSITIVE, "init_scale": POSITIVE}


def initial_sigma(pairs: LatentPairs, lam: float) -> float:
    """σ at which a fit starts (standardised units): √(E‖Δz‖²/(d λ δt)), the maximiser of L_p for
    zero drift and an isotropic constant σ. Starting there instead of at σ = 1 spares Adam the
    long descent over several decades, which otherwise leaves the drift under-trained."""
    dz = (pairs.z1 - pairs.z0) / pairs.z0.std(dim=0)
    return math.sqrt(dz.pow(2).mean().item() / (lam * pairs.dt.mean().item()))


def fit_sde(pairs: LatentPairs, lam: float, settings: SDESettings, seed: int = 0,
            train: TrainConfig | None = None, drift: torch.nn.Module | None = None,
            model: Callable[[], LatentSDE] | None = None) -> LatentSDE:
    """One SDE trained by ``L_p`` on ``pairs`` with covariance factor ``lam`` (seeded). ``train``
    replaces the default optimisation (cosine over ``settings.steps``) when given; ``drift``
    replaces the default MLP drift (normalised coordinates); ``model()`` builds the whole SDE
    instead of the settings' architecture (e.g. :func:`~support.stochastic.conditioned.conditioned_sde`),
    after the seed is set."""
    if model is not None and drift is not None:
        raise ValueError("give either a drift for the default SDE or a whole model, not both")
    torch.manual_seed(seed)
    if model is not None:
        sde = model()
    else:
        scale = initial_sigma(pairs, lam) if settings.init_scale is None else settings.init_scale
        sde = LatentSDE(pairs.z0.shape[1], drift=drift, diffusion=settings.diffusion, hidden=settings.hidden,
                        init_scale=scale)
    if settings.match_dtype:
        sde = sde.to(pairs.z0.dtype)
    train = train or TrainConfig(lr=settings.lr, steps=settings.steps, batch_size=settings.batch_size,
                                 schedule="cosine", min_lr=settings.lr / 100, seed=seed, progress=False,
                                 threads=1)
    train_sde(sde, pairs, train, lam=lam, eps=settings.eps)
    return sde.eval()


@torch.no_grad()
def rollouts(model: LatentSDE, z0: torch.Tensor | np.ndarray, dt: float, n_steps: int, seed: int = 0,
             record_every: int = 1) -> torch.Tensor:
    """Euler–Maruyama paths from every row of ``z0 [B, d]`` (or ``[B]``), kept every
    ``record_every`` steps: ``[B, n_steps // record_every + 1, d]``. One ``seed`` for every model
    compared: common random numbers."""
    z0 = torch.as_tensor(z0)
    if z0.dim() == 1:
        z0 = z0[:, None]
    return model.simulate(z0, dt, n_steps, generator=seed)[:, ::record_every]


def mmd_curves(pred: torch.Tensor, true: torch.Tensor, scaler: ZScaler) -> torch.Tensor:
    """MMD² between predicted and true ensembles per condition and recorded time, in standardised
    latents: ``[n_cond, n_traj, T, d]`` twice → ``[n_cond, T]`` (inf where a prediction diverged)."""
    a = scaler.normalize(pred).transpose(1, 2).double()          # [n_cond, T, n_traj, d]
    b = scaler.normalize(true).transpose(1, 2).double()
    if not torch.isfinite(a).all():
        return torch.full(a.shape[:2], float("inf"), dtype=torch.float64)
    return mmd2(a, b)


def std_ratio(pred, true, from_step: int = 0) -> list[float]:
    """Predicted / true std over trajectories, per latent dimension, averaged over the recorded
    times from ``from_step`` and over any leading axes: ``[..., paths, T, d]`` twice → ``[d]``."""
    pred, true = torch.as_tensor(pred), torch.as_tensor(true)
    if pred.shape[-2:] != true.shape[-2:] or pred.dim() < 3:
        raise ValueError(f"pred and true must be [..., paths, time, d] with equal time and d, got "
                         f"{list(pred.shape)} and {list(true.shape)}")
    ratio = pred[..., from_step:, :].std(dim=-3) / true[..., from_step:, :].std(dim=-3)
    return ratio.mean(dim=tuple(range(ratio.dim() - 1))).tolist()


def std_ratio_estimate(pred_late, truth_late, seed: int = 0) -> Estimate:
    r"""Predicted / true stationary std of one observable over paths,

    .. math::  q = \sqrt{\overline{\mathrm{Var}_{paths}\,z_{pred}} \,/\, \overline{\mathrm{Var}_{paths}\,z_{true}}},

    the variances over paths averaged over the test starts and the late records
    (``[n_starts, paths, n_late]`` twice), with its bootstrap interval over paths (path i of both
    ensembles resampled together: where predicted path i starts from the encoded start of true path
    i they are a pair). Pooling the variances before dividing avoids most of the upward bias
    of a mean of per-record ratios over 20 paths (a noisy denominator), which would push the
    percentile interval above the point value (a ratio of two noisy means keeps a small bias of
    order 1/paths). Every lattice chapter scores its spreads with this."""
    p = np.moveaxis(np.asarray(pred_late, float), 1, 0)      # [paths, n_m0, n_late]
    t = np.moveaxis(np.asarray(truth_late, float), 1, 0)

    def ratio(a, b):
        with np.errstate(divide="ignore", invalid="ignore"):    # a resample of identical paths
            return float(np.sqrt(a.var(axis=0, ddof=1).mean() / b.var(axis=0, ddof=1).mean()))
    return Estimate.bootstrap((p, t), ratio, seed=seed, what="paired paths")


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


def full_system_cost(n_pairs: int, full_rate: float, dt: float) -> float:
    """What ``n_pairs`` pairs cost by evolving the whole large system for δt each: ``n · rate · δt``."""
    return n_pairs * full_rate * dt


def patch_side_cost_rows(sides: list) -> list[tuple[str, dict[str, int], int]]:
    """The rows of :func:`data_cost_table` for a study over patch sides
    (:class:`~support.stochastic.pipeline.PatchSideResult` per side)."""
    return [(f"ℓ = {r.ell} (K = {r.K})", dict(r.simulation_cost), r.n_pairs) for r in sides]


def data_cost_table(rows: list[tuple[str, dict[str, int], int]], full_rate: float | None, dt: float,
                    unit: str) -> Table:
    """What the training data cost, stage by stage, next to what the same number of pairs would
    cost by evolving the whole large system for δt each (``n_pairs · full_rate · δt``, with
    ``full_rate`` the measured cost per large system and unit time of the direct runs).

    ``rows``: ``(label, stage costs from support.budget.stage_costs, number of pairs)``."""
    stages = [s for s in ("small_system", "relax", "partial_evolution") if any(s in c for _, c, _ in rows)]
    names = {"small_system": "small-system runs", "relax": "LocalRelax", "partial_evolution": "partial evolution"}
    head = ["", *(names[s] for s in stages), "total", "pairs"]
    if full_rate is not None:
        head += ["same pairs from the full system", "full / partial evolution"]
    body = []
    for label, cost, n_pairs in rows:
        row = [label, *(f"{cost.get(s, 0):,}" for s in stages), f"{cost['total']:,}", f"{n_pairs:,}"]
        if full_rate is not None:
            full = full_system_cost(n_pairs, full_rate, dt)
            row += [f"{full:,.0f}", f"{full / max(cost.get('partial_evolution', 0), 1):.1f}×"]
        body.append(row)
    return Table(head, body, caption=f"Simulation cost of the training data ({unit}, counted by the simulator).")
