r"""Atomic species of an atomistic system, and how far an ASE calculator's forces reach.

The LJ fluid of paper 1 is one species (argon labels, reduced units, m = 1), but the partial force
oracle and the NVE engines work for any ASE ``Atoms`` with any ASE calculator. Such a system carries
one atomic number and one mass per atom; this module checks them and answers the one question the
cluster-carving oracle (:mod:`.ase_backend`) needs: the **reach** R_F of a calculator — the
distance within which moving an atom can change the force on another.

* pair potentials (LJ, Morse, …) with interaction range r_c: R_F = r_c;
* many-body potentials whose per-atom energy E_j depends on the neighbours of j within R
  (EMT, EAM, …): F_i = −∂/∂r_i Σ_j E_j involves every j within R of i, and E_j involves every k
  within R of j, so R_F = 2R.

The carved cluster reproduces the periodic forces on its chosen atoms exactly when its buffer is at
least R_F. The ranges are read from the calculator itself (its cut-off parameters, or for EMT the
neighbour-list radius ``rc_list`` EMT derives from its element table); a calculator not listed here
has an unknown reach, and the user states the buffer.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.emt import EMT
from ase.calculators.emt import parameters as EMT_ELEMENTS
from ase.calculators.lj import LennardJones
from ase.calculators.morse import MorsePotential
from ase.data import atomic_masses, chemical_symbols

#: atomic number of the label the LJ fluid uses (argon; the reduced units ignore it)
ARGON = 18


def check_numbers(numbers: np.ndarray | list[int], n_atoms: int) -> np.ndarray:
    """One atomic number (1…118) per atom, as int64 ``[n_atoms]``."""
    z = np.asarray(numbers)
    if z.ndim != 1 or len(z) != n_atoms:
        raise ValueError(f"numbers must hold one atomic number per atom ({n_atoms}), "
                         f"got shape {list(z.shape)}")
    if not np.issubdtype(z.dtype, np.integer):
        raise TypeError(f"atomic numbers must be integers, got {z.dtype}")
    if ((z < 1) | (z >= len(chemical_symbols))).any():
        raise ValueError(f"atomic numbers must lie in [1, {len(chemical_symbols) - 1}], "
                         f"got {sorted(set(z.tolist()))}")
    return z.astype(np.int64)


def check_masses(masses: np.ndarray | list[float], n_atoms: int) -> np.ndarray:
    """One positive finite mass per atom, as float64 ``[n_atoms]``."""
    m = np.asarray(masses, dtype=np.float64)
    if m.ndim != 1 or len(m) != n_atoms:
        raise ValueError(f"masses must hold one mass per atom ({n_atoms}), got shape {list(m.shape)}")
    if not (np.isfinite(m).all() and (m > 0).all()):
        raise ValueError("masses must be positive and finite")
    return m


def standard_masses(numbers: np.ndarray) -> np.ndarray:
    """ASE's standard atomic masses (amu) of ``numbers``."""
    return atomic_masses[np.asarray(numbers)].astype(np.float64)


def _emt_range(calculator: EMT, numbers: np.ndarray) -> float:
    """EMT's neighbour-list radius ``rc_list`` for these elements (EMT's own rule, which looks
    at every tabulated element, or with ``asap_cutoff`` only at the present ones)."""
    present = np.unique(numbers)
    missing = [chemical_symbols[z] for z in present if chemical_symbols[z] not in EMT_ELEMENTS]
    if missing:
        raise ValueError(f"EMT has no parameters for {missing}; it knows {sorted(EMT_ELEMENTS)}")
    _, rc_list, _ = calculator._calc_cutoff(Atoms(numbers=present))
    return float(rc_list)


def calculator_reach(calculator: Calculator, numbers: np.ndarray) -> float | None:
    """R_F: the distance beyond which an atom's position cannot change another atom's force
    (``None`` if this calculator's range is not known here).

    ASE ``LennardJones``: r_c; ``MorsePotential``: r_cut2 · r_0; ``EMT``: 2 × rc_list (many-body);
    the built-in LJ calculator: its r_c. Any other calculator is of unknown reach, even with an
    ``rc`` parameter (for a many-body potential that would be half of what a cluster needs): the
    caller passes an explicit buffer. Raises ``ValueError`` for elements EMT does not know.
    """
    from .ase_backend import BuiltinLJCalculator  # local: ase_backend imports this module

    if isinstance(calculator, EMT):
        return 2.0 * _emt_range(calculator, numbers)
    if isinstance(calculator, MorsePotential):
        return float(calculator.parameters["rcut2"]) * float(calculator.parameters["r0"])
    if isinstance(calculator, BuiltinLJCalculator):
        return float(calculator.lj.rc)
    if isinstance(calculator, LennardJones):
        return float(calculator.parameters["rc"])
    return None
