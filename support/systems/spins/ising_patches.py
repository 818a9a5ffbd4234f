r"""Partial evolution of Ising lattices in terms of the macroscopic observables (m, ρ_dw).

For a snapshot ``x`` of the L×L lattice (N = L², 2N bonds) and a patch I of ℓ×ℓ sites (K = N/ℓ²
patches) evolved alone for δt with a frozen halo, the change of the *whole* lattice's observables is

    Δm = (Σ_{i∈I} Δs_i) / N,     Δρ_dw = Δ(walls on the 2ℓ(ℓ+1) bonds touching I) / 2N,

exactly, because no other spin moves. Paper 2's partial target multiplies these by K:
``ẑ₁ − z₀ = (m_I(after) − m_I(before), Δwalls_touching / 2ℓ²)`` (:func:`patch_observables`,
``"before"``/``"after"``); the naive target is the evolved patch's own observables, its walls
counted on the 2ℓ² right/down bonds of its sites (``"after_own"``).

:func:`adjacent_increment_correlation` measures what λ = K assumes away: the correlation ρ_p of the
m-increments of two neighbouring patches evolved *together* for δt. With the 4 edges of a patch
shared with its neighbours, the whole lattice's increment variance is K⁻¹(1 + 4ρ_p) times a patch's
(the sum of K patch increments with nearest-neighbour covariances), so the λ that gives the right
diffusion is ``λ = K / (1 + 4ρ_p)`` (:func:`lambda_from_correlation`; the sde_closure chapter derives
the general K/(1 + (K − 1)ρ_p) for equicorrelated patches).
"""

from __future__ import annotations

import math

import numpy as np

from ...budget import ForceBudget
from ...stochastic.partial_evolution import evolve_random_patches
from . import ising
from .lattice import check_count, check_patch, windows
from .patch_dynamics import IsingDynamics
from .observables import magnetisation


def touching_walls(w: np.ndarray) -> np.ndarray:
    """Unequal-spin bonds among the 2ℓ(ℓ+1) bonds touching the interior of windows ``[n, ℓ+2, ℓ+2]``
    (inside the patch and to its halo): a patch move changes the whole lattice's wall count by
    exactly the change of this number."""
    horizontal = (w[:, 1:-1, :-1] != w[:, 1:-1, 1:]).sum(axis=(1, 2))
    vertical = (w[:, :-1, 1:-1] != w[:, 1:, 1:-1]).sum(axis=(1, 2))
    return horizontal + vertical


def owned_walls(w: np.ndarray) -> np.ndarray:
    """Unequal-spin bonds among the 2ℓ² right and down bonds of the patch sites (summed over a
    tiling they count every bond of the lattice once)."""
    c = w[:, 1:-1, 1:-1]
    return (c != w[:, 1:-1, 2:]).sum(axis=(1, 2)) + (c != w[:, 2:, 1:-1]).sum(axis=(1, 2))


def patch_observables(snapshots: np.ndarray, ell: int, dt: float, T: float, h: float,
                      rng: np.random.Generator, per_snapshot: int = 1,
                      budget: ForceBudget | None = None) -> dict[str, np.ndarray]:
    """Evolve ``per_snapshot`` random patches of every snapshot ``[n, L, L]`` alone for ``dt`` (the
    one partial evolution, :func:`~support.stochastic.partial_evolution.evolve_random_patches`, with
    :class:`~.patch_dynamics.IsingDynamics`) and measure them.

    With ℓ = L the "patch" is the whole periodic lattice (evolved as such: the full dynamics).
    Returns ``which [B]`` (snapshot of each pair), ``origins [B, 2]`` (patch corners), ``before``/``after`` ``[B, 2]`` (m_I and the
    touching-wall count / 2ℓ²: their difference is K times the whole lattice's change),
    ``after_own [B, 2]`` (the naive target's observables), ``windows_before`` / ``patches_after``.
    """
    L = snapshots.shape[-1]
    ell = check_patch((L, L), ell)
    dynamics = IsingDynamics(T, h, ell, dt, budget=budget)
    evolved = evolve_random_patches(dynamics, snapshots, rng,
                                    per_snapshot=check_count("per_snapshot", per_snapshot, 1))
    which, new = evolved.which, evolved.patches
    origins = dynamics.origins(snapshots, evolved.index)
    before = windows(snapshots[which], origins, ell)
    n_bonds = 2 * ell * ell
    if ell == L:      # the halo is the lattice itself (it moved with it): its 2N bonds, once each
        after = windows(new, np.zeros_like(origins), ell)
        walls_before, walls_after = owned_walls(before), owned_walls(after)
    else:
        after = before.copy()
        after[:, 1:-1, 1:-1] = new
        walls_before, walls_after = touching_walls(before), touching_walls(after)
    m_b, m_a = magnetisation(before[:, 1:-1, 1:-1]), magnetisation(new)
    return {"which": which, "origins": origins,
            "before": np.column_stack([m_b, walls_before / n_bonds]),
            "after": np.column_stack([m_a, walls_after / n_bonds]),
            "after_own": np.column_stack([m_a, owned_walls(after) / n_bonds]),
            "windows_before": before, "patches_after": new}


def adjacent_increment_correlation(snapshots: np.ndarray, ell: int, dt: float, T: float, h: float,
                                   rng: np.random.Generator, per_snapshot: int = 1) -> dict[str, float]:
    """ρ_p: the correlation of the magnetisation increments of two side-by-side ℓ×ℓ patches evolved
    together for ``dt`` inside a frozen halo (an ℓ × 2ℓ window at a random place of each snapshot;
    needs L ≥ 2ℓ). Returns ``{"rho": ρ_p, "se": its standard error, "n": pairs}``."""
    L = snapshots.shape[-1]
    ell = check_patch((L, L), ell)
    if L < 2 * ell:
        raise ValueError(f"two patches of side {ell} do not fit side by side in L = {L}")
    which = np.repeat(np.arange(len(snapshots)), check_count("per_snapshot", per_snapshot, 1))
    origins = rng.integers(0, L, (len(which), 2))
    box = windows(snapshots[which], origins, ell, width=2 * ell)
    new, _ = ising.evolve_windows_for_time(box, dt, T, h, seed=rng)
    old = box[:, 1:-1, 1:-1]
    d_left = magnetisation(new[:, :, :ell]) - magnetisation(old[:, :, :ell])
    d_right = magnetisation(new[:, :, ell:]) - magnetisation(old[:, :, ell:])
    rho = float(np.corrcoef(d_left, d_right)[0, 1])
    return {"rho": rho, "se": (1 - rho * rho) / math.sqrt(max(len(which) - 3, 1)), "n": int(len(which))}


def lambda_from_correlation(n_patches: int, rho: float) -> float:
    """λ = K / (1 + 4ρ_p) for K ≥ 4 patches (each with 4 neighbouring edges), 1 for K = 1."""
    K = check_count("n_patches", n_patches, 1)
    if K == 1:
        return 1.0
    if K < 4:
        raise ValueError(f"a square tiling has K = 1 or K >= 4 patches, got {K}")
    if not -0.25 < rho < 1:
        raise ValueError(f"ρ_p must lie in (-1/4, 1), got {rho}")
    return K / (1 + 4 * rho)
