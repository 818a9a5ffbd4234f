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

:func:`~.species.calculator_reach` reads this distance from the calculator (LJ, Morse, EMT) and
a buffer below it is refused. When every box side is at least 2 × buffer each atom has one image
within the buffer of a chosen atom and a compiled cell-list search finds it; otherwise (a small box
and a long-ranged calculator, e.g. EMT copper) every image within the buffer is enumerated, so a
chosen atom may meet several images of one atom — and of itself — exactly as in the periodic
system. The cost is one calculator call on ``|cluster|`` atoms, which shrinks with |I| only while
the shells of the chosen atoms do not already cover the box (small or spatially contiguous subsets).

Atoms carry atomic numbers (``numbers``; default argon, which LJ ignores), so any calculator that
knows the elements works; masses do not enter forces.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.lj import LennardJones

from . import kernels_numba as kn
from .geometry import as_box, cells_per_side, wrap_numpy
from .params import PAPER, LJParams
from .species import ARGON, calculator_reach, check_numbers

#: extra distance beyond the cut-off included in the cluster, so that round-off in the
#: calculator's own distances can never drop a neighbour
DEFAULT_SKIN = 0.1


def ase_lj_calculator(params: LJParams = PAPER) -> LennardJones:
    """ASE's own ``LennardJones(smooth=False)``: same forces as LAMMPS ``lj/cut`` (energy shifted)."""
    return LennardJones(sigma=params.sigma, epsilon=params.epsilon, rc=params.rc, smooth=False)


def _numbers(numbers: np.ndarray | None, n_atoms: int) -> np.ndarray:
    return np.full(n_atoms, ARGON) if numbers is None else check_numbers(numbers, n_atoms)


def cluster_buffer(calculator: Calculator, numbers: np.ndarray, buffer: float | None) -> float:
    """The cluster buffer: ``buffer`` if given (refused below the calculator's reach R_F), else
    R_F + :data:`DEFAULT_SKIN`; a calculator of unknown reach needs an explicit ``buffer``."""
    reach = calculator_reach(calculator, numbers)
    name = type(calculator).__name__
    if buffer is None:
        if reach is None:
            raise ValueError(f"the reach of {name} is unknown here: pass buffer= (at least its cut-off "
                             "for a pair potential, twice its range for a many-body potential)")
        return reach + DEFAULT_SKIN
    buffer = float(buffer)
    if not (np.isfinite(buffer) and buffer > 0):
        raise ValueError(f"buffer must be positive and finite, got {buffer}")
    if reach is not None and reach > buffer:
        raise ValueError(f"the reach of {name}, {reach:.6g} (the cut-off rc of a pair potential, twice "
                         f"the range of a many-body one), exceeds the cluster buffer {buffer}: the "
                         f"chosen atoms would miss neighbours; pass buffer >= {reach:.6g}")
    return buffer


def _all_images(wrapped: np.ndarray, box: np.ndarray, idx: np.ndarray,
                buffer: float) -> tuple[np.ndarray, int]:
    """Keys ``j·C + code`` of every image r_j + s ⊙ L (s ∈ {−k…k}³, C = (2k+1)³) within ``buffer``
    of a chosen atom, for boxes smaller than 2 × buffer (numpy; cost |I| · N · C)."""
    k = int(np.floor(buffer / box.min())) + 1       # |r_i − r_j| < L per axis ⇒ |s| ≤ k suffices
    side = 2 * k + 1
    shifts = np.stack(np.meshgrid(*[np.arange(-k, k + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
    keys = []
    for i in idx:
        d = wrapped[i] - wrapped[:, None, :] - shifts[None] * box  # r_i − (r_j + s L) [N, C, 3]
        j, c = np.nonzero((d * d).sum(-1) < buffer * buffer)
        keys.append(j * side ** 3 + c)
    return np.concatenate(keys), side


def carve_cluster(wrapped: np.ndarray, box: np.ndarray, idx: np.ndarray,
                  buffer: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster around atoms ``idx``: (positions ``[c, 3]``, source atom ids ``[c]``, rows of ``idx``).

    The cluster holds every image within ``buffer`` of a chosen atom (once), the chosen atoms at
    their wrapped positions; ``rows[k]`` is the cluster row of ``idx[k]``.
    """
    if (box >= 2.0 * buffer).all():   # one image per pair: the compiled cell-list search
        keys, side = kn.shell_images(wrapped, box, cells_per_side(box, buffer), idx, float(buffer)), 3
    else:
        keys, side = _all_images(wrapped, box, idx, float(buffer))
    n_codes, centre = side ** 3, (side ** 3) // 2
    keys = np.unique(np.concatenate([keys, idx * n_codes + centre]))
    source, code = np.divmod(keys, n_codes)
    shifts = np.stack([code // side ** 2, (code // side) % side, code % side], axis=1) - side // 2
    positions = wrapped[source] + shifts * box
    rows = np.searchsorted(keys, idx * n_codes + centre)
    return positions, source, rows


def _forces(atoms: Atoms, calculator: Calculator) -> np.ndarray:
    """``calculator``'s forces on ``atoms``, with a clear error for elements it does not model."""
    atoms.calc = calculator
    try:
        return np.array(atoms.get_forces(), dtype=np.float64)
    except (NotImplementedError, KeyError) as err:
        raise ValueError(f"{type(calculator).__name__} cannot compute forces for the elements "
                         f"{sorted(set(atoms.get_chemical_symbols()))}: {err}") from err


def cluster_partial_forces(positions: np.ndarray, box: np.ndarray | float, idx: np.ndarray,
                           calculator: Calculator, buffer: float | None = None,
                           numbers: np.ndarray | None = None) -> np.ndarray:
    """Forces ``[m, 3]`` on atoms ``idx`` from ``calculator`` run on a carved non-periodic cluster.

    ``numbers``: atomic numbers per atom of the periodic system (default argon; LJ ignores them).
    ``buffer``: see :func:`cluster_buffer` (default: the calculator's reach + skin).
    """
    box = as_box(box)
    wrapped = wrap_numpy(np.asarray(positions, dtype=np.float64), box)
    z = _numbers(numbers, len(wrapped))
    cluster, source, rows = carve_cluster(wrapped, box, idx, cluster_buffer(calculator, z, buffer))
    return _forces(Atoms(numbers=z[source], positions=cluster, pbc=False), calculator)[rows]


def periodic_all_forces(positions: np.ndarray, box: np.ndarray | float, calculator: Calculator,
                        numbers: np.ndarray | None = None) -> np.ndarray:
    """All forces ``[n, 3]`` from ``calculator`` on the periodic box (the reference computation)."""
    box = as_box(box)
    z = _numbers(numbers, len(positions))
    calculator_reach(calculator, z)  # a clear error for elements a known calculator lacks
    atoms = Atoms(numbers=z, positions=wrap_numpy(np.asarray(positions, float), box), cell=box, pbc=True)
    return _forces(atoms, calculator)


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
