r"""The deterministic pipeline of paper 1, shared by every system.

snapshots x ──► closure autoencoder φ ──► observations bought from the force oracle
(full: t = J f for L_z; partial: f_I and J^†[I] for L_x,p) ──► latent model G trained with
``fit`` ──► RK4 rollout ──► relative error on the observables against ground truth.

Configurations are treated as free (as in the paper); every force unit is charged to a
:class:`~support.budget.ForceBudget`. Observations are computed in chunks of ``chunk``
configurations and never hold an ``N × d`` pseudo-inverse: L_z's target J f and L_x,p's rows
J^†[I] come from :meth:`~support.closure.ClosureAutoencoder.latent_velocity` and
:meth:`~support.closure.ClosureAutoencoder.pinv_rows`, which with a factored closure (paper 1's
MLP) do not form the ``[chunk, d, N]`` Jacobian either.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .budget import ForceBudget
from .closure import ClosureAutoencoder
from .losses import loss_x_partial_normal, loss_z, partial_normal_equations
from .metrics import relative_trajectory_error
from .rollout import rk4
from .subsets import importance_subsets, uniform_subsets
from .systems.base import DeterministicSystem, Trajectories
from .train import TrainConfig, TrainHistory, fit
from .validation import check_choice, check_fraction


@dataclass
class FullObservations:
    """L_z data: z ``[n, d]`` and exact latent velocities t = J f ``[n, d]``."""

    z: torch.Tensor
    target: torch.Tensor

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return (self.z, self.target)

    @classmethod
    def cat(cls, parts: list["FullObservations"]) -> "FullObservations":
        """Concatenate chunks (e.g. observed trajectory batch by trajectory batch)."""
        if not parts:
            raise ValueError("no full observations to concatenate")
        return cls(*(torch.cat(t) for t in zip(*(q.tensors() for q in parts))))


@dataclass
class PartialObservations:
    """L_x,p data: z ``[n, d]``, force rows f_I ``[n, r]``, J^†[I] ``[n, r, d]``, weights ``[n, r]``."""

    z: torch.Tensor
    forces: torch.Tensor
    psi: torch.Tensor
    weights: torch.Tensor
    units: torch.Tensor

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """What training iterates over: z and the sufficient statistics (A, b, c) of L_x,p
        (:func:`support.losses.partial_normal_equations`), so a step costs ``[B, d, d]``, not ``[B, r, d]``."""
        return (self.z, *partial_normal_equations(self.forces, self.psi, self.weights))


@dataclass
class PartialStatistics:
    """L_x,p data reduced to what training needs: z ``[n, d]`` and the per-configuration sufficient
    statistics (A ``[n, d, d]``, b ``[n, d]``, c ``[n]``) of :func:`support.losses.partial_normal_equations`.
    Unlike :class:`PartialObservations` it keeps no force row and no J^† row: its size does not grow
    with the number of units observed (what a streamed, paper-sized study stores)."""

    z: torch.Tensor
    A: torch.Tensor
    b: torch.Tensor
    c: torch.Tensor

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return (self.z, self.A, self.b, self.c)

    @classmethod
    def cat(cls, parts: list["PartialStatistics"]) -> "PartialStatistics":
        """Concatenate chunks (e.g. observed trajectory batch by trajectory batch)."""
        if not parts:
            raise ValueError("no partial statistics to concatenate")
        return cls(*(torch.cat(t) for t in zip(*(q.tensors() for q in parts))))


def observe_partial_statistics(system: DeterministicSystem, ae: ClosureAutoencoder, x: torch.Tensor,
                               p: float, budget: ForceBudget, generator: torch.Generator,
                               chunk: int = 64) -> PartialStatistics:
    """:func:`observe_partial` (uniform subsets) reduced chunk by chunk to :class:`PartialStatistics`:
    memory O(chunk · pN · d) while observing, O(n · d²) kept."""
    parts = []
    for xc in x.split(chunk):
        obs = observe_partial(system, ae, xc, p, budget, generator, chunk=chunk)
        parts.append(PartialStatistics(obs.z, *partial_normal_equations(obs.forces, obs.psi, obs.weights)))
    return PartialStatistics.cat(parts)


def observe_full(system: DeterministicSystem, ae: ClosureAutoencoder, x: torch.Tensor,
                 budget: ForceBudget, chunk: int = 256) -> FullObservations:
    """Forces on all units of each configuration (charged) and t = J f."""
    zs, ts = [], []
    for xc in x.split(chunk):
        f = system.full_force(xc, budget)
        ts.append(ae.latent_velocity(xc, f))
        zs.append(ae.encode_np(xc))
    return FullObservations(torch.cat(zs), torch.cat(ts))


def observe_partial(system: DeterministicSystem, ae: ClosureAutoencoder, x: torch.Tensor, p: float,
                    budget: ForceBudget, generator: torch.Generator, chunk: int = 256,
                    scores: torch.Tensor | None = None) -> PartialObservations:
    """Forces on a random fraction ``p`` of the units of each configuration, and J^†[I].

    ``scores`` (``[n_units]`` or ``[n, n_units]``) switches to importance sampling with
    inclusion probabilities ∝ scores and Horvitz–Thompson weights; default uniform subsets.
    """
    check_fraction(p)
    if scores is None:
        units = uniform_subsets(x.shape[0], system.n_units, p, generator)
        weights = torch.ones(units.shape)
    else:
        units, weights = importance_subsets(scores, p, x.shape[0], generator)
    zs, fs, ps = [], [], []
    for xc, uc in zip(x.split(chunk), units.split(chunk)):
        fs.append(system.force(xc, uc.to(xc.device), budget))
        rows = system.unit_rows(uc.to(xc.device))
        ps.append(ae.pinv_rows(xc, rows))
        zs.append(ae.encode_np(xc))
    r = system.rows_per_unit
    w_rows = weights.repeat_interleave(r, dim=1).to(x.dtype).to(x.device)
    return PartialObservations(torch.cat(zs), torch.cat(fs), torch.cat(ps), w_rows, units)


def latent_loss(kind: str):
    """The loss callable ``(G, batch) -> scalar`` used by ``fit`` for ``kind`` in {"lz", "lx"}."""
    check_choice("loss", kind, ["lz", "lx"])
    if kind == "lz":
        return lambda G, b: loss_z(G(b[0]), b[1])
    return lambda G, b: loss_x_partial_normal(G(b[0]), b[1], b[2], b[3])


def resampling_hook(system: DeterministicSystem, ae: ClosureAutoencoder, x: torch.Tensor, p: float,
                    budget: ForceBudget, generator: torch.Generator, chunk: int = 256):
    """An ``on_epoch_start`` hook for ``fit`` that draws fresh subsets every epoch after the first.

    Each redraw buys new forces, and the budget is charged for them: resampling spends
    ``p · n_units`` force computations per configuration per epoch (the paper fixed the subsets).
    """
    def hook(epoch: int):
        if epoch == 0:
            return None
        return observe_partial(system, ae, x, p, budget, generator, chunk).tensors()
    return hook


def train_latent(G: nn.Module, obs: FullObservations | PartialObservations | PartialStatistics, cfg: TrainConfig,
                 evaluate=None, resample=None) -> TrainHistory:
    """Train the latent model G on L_z (full observations) or L_x,p (partial observations).

    ``resample``: optional hook from :func:`resampling_hook` (subsets redrawn every epoch).
    """
    kind = "lz" if isinstance(obs, FullObservations) else "lx"
    if resample is not None and kind == "lz":
        raise ValueError("resampling subsets applies to L_x,p only")
    return fit(G, latent_loss(kind), obs.tensors(), cfg, evaluate=evaluate, on_epoch_start=resample)


def rollout_observables(G: nn.Module, ae: ClosureAutoencoder, test: Trajectories,
                        substeps: int = 1, n_obs: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """RK4 rollout of G from z₀ = φ(x₀) over the test times; returns (predicted, true) observables."""
    n_obs = n_obs or ae.n_observables
    z_true = torch.stack([ae.encode_np(xt) for xt in test.x.unbind(0)])
    z_pred = rk4(G, z_true[:, 0], test.dt, test.n_steps - 1, substeps)
    return z_pred[..., :n_obs], z_true[..., :n_obs]


def trajectory_error(G: nn.Module, ae: ClosureAutoencoder, test: Trajectories, substeps: int = 1) -> float:
    """Mean over test trajectories of paper 1's relative trajectory error on the observables."""
    pred, true = rollout_observables(G, ae, test, substeps)
    return float(relative_trajectory_error(pred, true).mean())
