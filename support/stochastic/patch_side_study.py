r"""Paper 2's study of one lattice system at one patch side ℓ, as one call: :func:`patch_side_study`.

An L×L system cut into K = (L/ℓ)² patches of side ℓ; for every ℓ the lattice chapters (Ising,
Curie–Weiss) run the same four steps, and differ only in how each is done for their system:

1. **snapshots** of the large system, from small-system runs upsampled to L×L (Algorithm 1) plus
   the chapter's extra lattices, their simulation cost counted per stage
   (:func:`support.budget.stage_budgets`); optionally a **closure** (a learned latent map trained on
   them);
2. **pairs** ``(z₀, ẑ₁, δt)`` from partial evolution of random patches (Algorithm 2): the
   partial target ``ẑ₁ = z₀ + φ_loc(x_{t+δt,I}) − φ_loc(x_{t,I})`` and the naive one
   ``ẑ₁ = φ_loc(x_{t+δt,I})``;
3. **one SDE per model** (:class:`~support.stochastic.pipeline.ModelSpec`), fitted by

   .. math::  L_p = \mathbb E\big[(Δz − μ δt)^\top (λ Σ δt)^{-1} (Δz − μ δt)
              + \log\det(λ Σ δt)\big],\qquad Σ = σσ^\top,

   with λ = K for the partial target and λ = 1 for the naive one, and rolled out by Euler–Maruyama
   from the test starts with common random numbers (:func:`~support.stochastic.pipeline.fit_and_roll_out`);
4. **scores** of every ensemble against direct simulation of the large system, in the chapter's
   units (:class:`~support.stochastic.pipeline.EnsembleScore`), gathered with the cost of the data
   into a :class:`~support.stochastic.pipeline.PatchSideResult`.

A chapter supplies the system-specific hooks as a :class:`PatchSideSteps` (a small picklable
dataclass holding its config and its direct runs); the study owns the skeleton: the patch side's
numpy generator ``default_rng([seed, ℓ])``, handed to the snapshot and pair hooks in that order (and
to no other hook), the seed of every torch fit, the stage budgets, the timings and the checks of
what the hooks return. :func:`patch_sides_study` maps it over the patch sides with
:func:`support.executor.map_jobs`: each side draws only from its own generators, so the list does
not depend on where the sides ran.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from ..budget import DATA_STAGES, ForceBudget, stage_budgets, stage_costs
from ..executor import map_jobs
from ..train import torch_threads
from .encoder import LatentPairs
from .pipeline import Ensemble, EnsembleScore, ModelSpec, PatchSideResult, fit_and_roll_out
from .study import SDESettings


@dataclass(frozen=True)
class Rollout:
    """How every SDE of a study is fitted (``sde``) and rolled out: ``n_records`` records of
    ``substeps`` Euler–Maruyama steps of ``dt`` (the δt of the partial evolution)."""

    sde: SDESettings
    dt: float
    n_records: int
    substeps: int


@dataclass(frozen=True, eq=False)
class PatchSide:
    """What the study made at patch side ℓ before fitting, handed to the scoring hooks: the training
    ``snapshots``, what the closure hook returned (``None`` without one), the ``pairs``, what
    :meth:`PatchSideSteps.inspect_pairs` measured on them, the test ``starts`` and ``truth`` of
    :meth:`PatchSideSteps.test`, and the ``seconds`` each data step took (``snapshots``, ``closure``,
    ``pairs``)."""

    ell: int
    K: int
    seed: int
    snapshots: np.ndarray
    closure: Any
    pairs: Mapping[str, LatentPairs]
    pair_stats: Any
    starts: np.ndarray | torch.Tensor
    truth: np.ndarray
    seconds: Mapping[str, float]


class PatchSideSteps(ABC):
    """The system-specific hooks of :func:`patch_side_study`. Subclasses are picklable (module-level
    dataclasses holding the study's ``cfg`` and its direct runs): :func:`patch_sides_study` sends one
    to every worker. The generator ``rng`` is the patch side's own, shared by :meth:`snapshots` and
    :meth:`pairs` in that order; the other hooks draw no numpy random numbers from it (a closure or
    a prediction seeds its own from ``seed``). :meth:`n_patches`, :meth:`rollout` and
    :attr:`threads` read ``cfg`` by default: a :class:`~support.experiments.config.LatticeStudyConfig`
    with ``sde`` (:class:`~support.stochastic.study.SDESettings`) and ``test_records``."""

    cfg: Any
    #: the data stages whose simulation cost is counted, the keys of ``budgets``
    stages: ClassVar[tuple[str, ...]] = DATA_STAGES

    @property
    def threads(self) -> int | None:
        """Torch threads each patch side runs with: the config's ``threads`` (none: the process's)."""
        return getattr(self.cfg, "threads", None)

    def n_patches(self, ell: int) -> int:
        """K, the number of ℓ×ℓ patches of the large system (refusing a side that does not tile it)."""
        return self.cfg.n_patches(ell)

    def rollout(self) -> Rollout:
        """The SDE settings, and the rollout's step δt and length (the test's records)."""
        return Rollout(self.cfg.sde, self.cfg.dt, self.cfg.test_records, self.cfg.substeps)

    @abstractmethod
    def snapshots(self, ell: int, rng: np.random.Generator, budgets: Mapping[str, ForceBudget]) -> np.ndarray:
        """Step 1: the training snapshots of the large system ``[n, …]``, their cost charged to ``budgets``."""

    def closure(self, ell: int, snapshots: np.ndarray, seed: int) -> Any:
        """Step 1 (optional): a latent map trained on the snapshots (seeded by ``seed``), handed to
        :meth:`pairs` and :meth:`test`; ``None`` (the default) where the latent is fixed."""
        return None

    @abstractmethod
    def pairs(self, ell: int, snapshots: np.ndarray, closure: Any, rng: np.random.Generator,
              budgets: Mapping[str, ForceBudget]) -> Mapping[str, LatentPairs]:
        """Step 2: ``{"partial": pairs, "naive": pairs}`` (the sets the models name) of the same
        evolved patches, with ``n_patches = K``."""

    def inspect_pairs(self, ell: int, pairs: Mapping[str, LatentPairs]) -> Any:
        """What the chapter measures on the pairs themselves before any fit (e.g. binned moments),
        handed to the scoring hooks as ``side.pair_stats``; ``None`` by default."""
        return None

    @abstractmethod
    def test(self, ell: int, closure: Any) -> tuple[np.ndarray | torch.Tensor, np.ndarray]:
        """``(starts [n_starts, n_paths, d], truth [n_starts, n_paths, n_records + 1, …])``: the
        latents the ensembles start from and the direct runs they are scored against."""

    @abstractmethod
    def models(self, K: int) -> Sequence[ModelSpec]:
        """Step 3: the SDEs fitted at K patches (e.g. :func:`~support.stochastic.pipeline.partial_and_naive`)."""

    @abstractmethod
    def score(self, ens: Ensemble, side: PatchSide) -> EnsembleScore:
        """Step 4: one model's ensembles against ``side.truth``."""

    def extra(self, side: PatchSide) -> dict[str, Any]:
        """Entries the chapter adds to the patch side's result (timings, diagnostics); the study
        adds ``seconds``, the whole side's wall time."""
        return {}


def _checked_pairs(pairs: Any, K: int) -> Mapping[str, LatentPairs]:
    if not isinstance(pairs, Mapping) or not pairs:
        raise TypeError(f"the pairs hook must return a non-empty {{name: LatentPairs}}, got {type(pairs).__name__}")
    wrong = {k: type(v).__name__ for k, v in pairs.items() if not isinstance(v, LatentPairs)}
    if wrong:
        raise TypeError(f"the pairs hook must return LatentPairs for every set, got {wrong}")
    sizes = {k: len(v) for k, v in pairs.items()}
    if len(set(sizes.values())) != 1 or 0 in sizes.values():
        raise ValueError(f"every pair set must hold the same evolved patches (at least one), got sizes {sizes}")
    bad_k = {k: v.n_patches for k, v in pairs.items() if v.n_patches != K}
    if bad_k:
        raise ValueError(f"pairs built for another number of patches than K = {K}: {bad_k}")
    return pairs


def _checked_test(starts: Any, truth: Any, n_records: int) -> None:
    s, t = np.shape(starts), np.shape(truth)
    if len(s) != 3 or len(t) < 3 or s[:2] != t[:2] or t[2] != n_records + 1:
        raise ValueError(f"the test hook must return starts [n_starts, n_paths, d] and truth "
                         f"[n_starts, n_paths, {n_records + 1}, …], got shapes {list(s)} and {list(t)}")


def patch_side_study(steps: PatchSideSteps, ell: int, seed: int) -> PatchSideResult:
    """The four steps of paper 2 at patch side ``ell`` (module docstring), with the hooks of
    ``steps``: snapshots and pairs drawn from ``np.random.default_rng([seed, ell])``, every SDE fitted
    and rolled out with ``seed`` (common random numbers). Returns the side's
    :class:`~support.stochastic.pipeline.PatchSideResult` (``n_pairs``: the size of each pair set)."""
    K = steps.n_patches(ell)
    rollout = steps.rollout()
    rng = np.random.default_rng([seed, ell])
    t0 = time.perf_counter()
    budgets = stage_budgets(steps.stages)
    snaps = steps.snapshots(ell, rng, budgets)
    t1 = time.perf_counter()
    closure = steps.closure(ell, snaps, seed)
    t2 = time.perf_counter()
    pairs = _checked_pairs(steps.pairs(ell, snaps, closure, rng, budgets), K)
    t3 = time.perf_counter()
    pair_stats = steps.inspect_pairs(ell, pairs)
    starts, truth = steps.test(ell, closure)
    _checked_test(starts, truth, rollout.n_records)
    side = PatchSide(ell, K, seed, snaps, closure, pairs, pair_stats, starts, truth,
                     {"snapshots": t1 - t0, "closure": t2 - t1, "pairs": t3 - t2})
    ensembles = fit_and_roll_out(pairs, steps.models(K), rollout.sde, starts, dt=rollout.dt,
                                 n_records=rollout.n_records, substeps=rollout.substeps, seed=seed)
    scores = {name: steps.score(ens, side) for name, ens in ensembles.items()}
    extra = {**steps.extra(side), "seconds": time.perf_counter() - t0}
    return PatchSideResult(ell, K, len(next(iter(pairs.values()))), stage_costs(budgets), scores, extra)


def _patch_side_job(shared: tuple[PatchSideSteps, int], ell: int) -> PatchSideResult:
    """:func:`patch_side_study` as an executor job, with the steps' torch threads."""
    steps, seed = shared
    with torch_threads(steps.threads):
        return patch_side_study(steps, ell, seed)


def patch_sides_study(steps: PatchSideSteps, sides: Sequence[int], *, seed: int, workers: int = 1,
                      progress: bool = False) -> list[PatchSideResult]:
    """:func:`patch_side_study` for every patch side, in the order of ``sides``; ``workers`` > 1 (or a
    Dask scheduler, :mod:`support.executor`) computes them at once, with the same numbers."""
    sides = list(sides)
    if not sides:
        raise ValueError("no patch sides to study")
    if len(set(sides)) != len(sides):
        raise ValueError(f"each patch side once, got {sides}")
    for ell in sides:
        steps.n_patches(ell)                       # refuse a bad side before any job starts
    return map_jobs(_patch_side_job, sides, workers=workers, shared=(steps, seed), progress=progress,
                    desc="patch sides")
