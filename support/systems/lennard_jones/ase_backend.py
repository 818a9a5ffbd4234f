r"""ASE side of the LJ oracle: the generic cluster back-end and an ASE calculator on the compiled kernel.

**Generic partial forces with any ASE calculator** (:func:`cluster_partial_forces`). For the chosen
atoms I we carve a finite cluster: the chosen atoms plus every periodic image of every atom
closer than ``buffer`` to one of them, each placed at its minimum-image position relative to that
chosen atom. The calculator runs on this non-periodic cluster and only the rows of I are kept.

Exactness condition: the chosen atoms' forces in the cluster equal those of the periodic system
when everything the calculator needs for them lies in the cluster:

* pair potentials (LJ, Morse, …): calculator cut-off ≤ ``buffer``;
* many-body potentials whose energy of atom j depends on neighbours within R (EAM, EMT, …):
  ``buffer`` ≥ 2R, since a chosen atom's force involves its neighbours' environments.

The search assumes one image per pair, so every box side must be at least 2 × buffer. The cost is
one calculator call on ``|cluster|`` atoms, which shrinks with |I| only while the shells of the
chosen atoms do not already cover the box (small or spatially contiguous subsets).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.lj import LennardJones

from . import kernels_numba as kn
from .geometry import as_box, cells_per_side, check_box_for_cutoff, wrap_numpy
from .params import PAPER, LJParams

#: extra distance beyond the cut-off included in the cluster, so that round-off in the
#: calculator's own distances can never drop a neighbour
DEFAULT_SKIN = 0.1


def ase_lj_calculator(params: LJParams = PAPER) -> LennardJones:
    """ASE's own ``LennardJones(smooth=False)``: same forces as LAMMPS ``lj/cut`` (energy shifted)."""
    return LennardJones(sigma=params.sigma, epsilon=params.epsilon, rc=params.rc, smooth=False)


def _check_calculator_range(calculator: Calculator, buffer: float) -> None:
    rc = getattr(getattr(calculator, "parameters", {}), "get", lambda *_: None)("rc")
    if rc is not None and float(rc) > buffer:
        raise ValueError(f"calculator cut-off rc = {rc} exceeds the cluster buffer {buffer}: "
                         "the chosen atoms would miss neighbours; pass buffer >= rc")


def carve_cluster(wrapped: np.ndarray, box: np.ndarray, idx: np.ndarray,
                  buffer: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster around atoms ``idx``: (positions ``[c, 3]``, source atom ids ``[c]``, rows of ``idx``).

    The cluster holds every image within ``buffer`` of a chosen atom (once), the chosen atoms at
    their wrapped positions; ``rows[k]`` is the cluster row of ``idx[k]``.
    """
    check_box_for_cutoff(box, buffer, "buffer")
    keys = kn.shell_images(wrapped, box, cells_per_side(box, buffer), idx, float(buffer))
    keys = np.unique(np.concatenate([keys, idx * 27 + 13]))
    source, code = np.divmod(keys, 27)
    shifts = np.stack([code // 9, (code // 3) % 3, code % 3], axis=1) - 1
    positions = wrapped[source] + shifts * box
    rows = np.searchsorted(keys, idx * 27 + 13)
    return positions, source, rows


def cluster_partial_forces(positions: np.ndarray, box: np.ndarray | float, idx: np.ndarray,
                           calculator: Calculator, buffer: float,
                           numbers: np.ndarray | None = None) -> np.ndarray:
    """Forces ``[m, 3]`` on atoms ``idx`` from ``calculator`` run on a carved non-periodic cluster.

    ``numbers`` (atomic numbers per atom of the periodic system) default to argon; LJ ignores them.
    """
    box = as_box(box)
    _check_calculator_range(calculator, buffer)
    wrapped = wrap_numpy(np.asarray(positions, dtype=np.float64), box)
    cluster, source, rows = carve_cluster(wrapped, box, idx, buffer)
    z = np.full(len(wrapped), 18) if numbers is None else np.asarray(numbers)
    atoms = Atoms(numbers=z[source], positions=cluster, pbc=False)
    atoms.calc = calculator
    return np.array(atoms.get_forces()[rows], dtype=np.float64)


def periodic_all_forces(positions: np.ndarray, box: np.ndarray | float, calculator: Calculator,
                        numbers: np.ndarray | None = None) -> np.ndarray:
    """All forces ``[n, 3]`` from ``calculator`` on the periodic box (the reference computation)."""
    box = as_box(box)
    z = np.full(len(positions), 18) if numbers is None else np.asarray(numbers)
    atoms = Atoms(numbers=z, positions=wrap_numpy(np.asarray(positions, float), box),
                  cell=box, pbc=True)
    atoms.calc = calculator
    return np.array(atoms.get_forces(), dtype=np.float64)


class BuiltinLJCalculator(Calculator):
    """An ASE calculator on the compiled cell-list kernel (periodic orthorhombic boxes only).

    Energy convention: plain cut like LAMMPS ``lj/cut`` (``shifted=False``) or shifted by
    u(r_c) per pair like ASE ``LennardJones`` (``shifted=True``); forces are the same either way.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, params: LJParams = PAPER, shifted: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lj = params
        self.shifted = shifted

    def calculate(self, atoms: Atoms | None = None, properties=("energy", "forces"),
                  system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        cell = np.asarray(self.atoms.cell[:])
        if not self.atoms.pbc.all() or np.abs(cell - np.diag(np.diag(cell))).max() > 0:
            raise ValueError("BuiltinLJCalculator needs a periodic orthorhombic cell")
        from .oracle import potential_energy_and_forces  # local: oracle imports this module
        energy, forces = potential_energy_and_forces(self.atoms.positions, np.diag(cell), self.lj,
                                                     shifted=self.shifted)
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
