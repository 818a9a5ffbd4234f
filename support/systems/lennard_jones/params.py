r"""Parameters of the Lennard-Jones fluid of paper 1, in reduced units (ε = σ = m = k_B = 1).

The pair potential is the plain-cut 12-6 potential of LAMMPS ``pair_style lj/cut`` (no energy
shift, no force shift, no tail correction):

.. math::  u(r) = 4ε\,[(σ/r)^{12} - (σ/r)^{6}] \quad (r < r_c), \qquad u(r) = 0 \quad (r \ge r_c),

and the force on atom *i* from atom *j* (``d = r_i - r_j`` under the minimum-image convention) is

.. math::  F_{ij} = \frac{24ε}{r^2}\,[2(σ/r)^{12} - (σ/r)^{6}]\; d .

ASE's ``LennardJones(smooth=False)`` has the same forces; its energy is shifted by ``u(r_c)`` per
pair (``shifted=True`` in :func:`~.oracle.potential_energy`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LJParams:
    """ε, σ, cut-off r_c, mass m and number density ρ of the LJ fluid (paper 1: 1, 1, 2.5, 1, 0.8)."""

    epsilon: float = 1.0
    sigma: float = 1.0
    rc: float = 2.5
    mass: float = 1.0
    density: float = 0.8

    def __post_init__(self) -> None:
        for name in ("epsilon", "sigma", "rc", "mass", "density"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"LJParams.{name} must be a positive finite number, got {value!r}")

    def box_side(self, n_atoms: int) -> float:
        """Side L of the cubic box holding ``n_atoms`` at density ρ: L = (n/ρ)^{1/3}."""
        if not isinstance(n_atoms, (int, np.integer)) or n_atoms < 2:
            raise ValueError(f"n_atoms must be an integer >= 2, got {n_atoms!r}")
        return float((n_atoms / self.density) ** (1.0 / 3.0))

    def pair_energy(self, r: np.ndarray | float) -> np.ndarray:
        """u(r) of the plain-cut potential (zero at and beyond r_c)."""
        r = np.asarray(r, dtype=float)
        sr6 = (self.sigma / r) ** 6
        return np.where(r < self.rc, 4.0 * self.epsilon * (sr6 * sr6 - sr6), 0.0)

    @property
    def energy_at_cutoff(self) -> float:
        """u(r_c⁻), the jump of the plain-cut pair energy at the cut-off (ASE subtracts it)."""
        sr6 = (self.sigma / self.rc) ** 6
        return float(4.0 * self.epsilon * (sr6 * sr6 - sr6))


#: the parameters of paper 1 (reduced units, r_c = 2.5, ρ = 0.8)
PAPER = LJParams()
