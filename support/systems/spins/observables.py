r"""Macroscopic observables of spin lattices ``[..., Lx, Ly]`` (numpy, vectorised over the batch).

* magnetisation ``m = (1/N) Σ_i s_i``;
* domain-wall density ``ρ_dw = (1/2N) Σ_⟨ij⟩ [s_i ≠ s_j]``, the fraction of the ``2N``
  nearest-neighbour bonds of the periodic lattice that join unequal spins; since
  ``[s_i ≠ s_j] = (1 − s_i s_j)/2``, ``ρ_dw = (1 − ⟨s_i s_j⟩_bonds)/2``;
* Ising energy per site ``e = −(1/N) Σ_⟨ij⟩ s_i s_j − h m = −2(1 − 2ρ_dw) − h m`` (J = 1).

On a patch (a sub-array) the bonds wrap around the patch, so these are the patch-local values
of the official code; the domain-wall density of a tiling is the mean of the patch values only up
to the bonds cut by the patch edges.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .lattice import as_numpy


def _spins(x: Any) -> np.ndarray:
    a = as_numpy("spins", x)
    if a.ndim < 2 or a.shape[-1] < 2 or a.shape[-2] < 2:
        raise ValueError(f"spins must have shape [..., Lx, Ly] with sides >= 2, got {list(a.shape)}")
    # ±1 products fit in int8; means accumulate in float64
    return a.astype(np.int8, copy=False) if np.issubdtype(a.dtype, np.integer) else a


def magnetisation(spins: Any) -> np.ndarray | float:
    """``m = mean spin`` over the last two axes."""
    return _spins(spins).mean(axis=(-2, -1), dtype=np.float64)


def bond_correlation(spins: Any) -> np.ndarray | float:
    """``(1/2N) Σ_⟨ij⟩ s_i s_j`` over the 2N periodic nearest-neighbour bonds."""
    s = _spins(spins)
    right = np.roll(s, -1, axis=-1)
    down = np.roll(s, -1, axis=-2)
    return ((s * right).mean(axis=(-2, -1), dtype=np.float64)
            + (s * down).mean(axis=(-2, -1), dtype=np.float64)) / 2.0


def domain_wall_density(spins: Any) -> np.ndarray | float:
    """``ρ_dw``: the fraction of periodic nearest-neighbour bonds joining unequal spins."""
    return (1.0 - bond_correlation(spins)) / 2.0


def ising_energy_per_site(spins: Any, h: float = 0.0) -> np.ndarray | float:
    """``e = E/N = −(1/N) Σ_⟨ij⟩ s_i s_j − h m`` of the periodic Ising lattice (J = 1)."""
    return -2.0 * bond_correlation(spins) - h * magnetisation(spins)
