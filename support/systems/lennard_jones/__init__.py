"""Lennard-Jones fluid of paper 1 (reduced units, r_c = 2.5, ρ = 0.8) with a real partial force oracle.

Modules: :mod:`.params` (units and potential), :mod:`.geometry` (box, wrapping, checks),
:mod:`.kernels_numba` / :mod:`.kernels_torch` (cell-list kernels), :mod:`.ase_backend` (generic ASE
calculators on carved clusters), :mod:`.oracle` (the one interface), :mod:`.configurations`
(initial states as ASE ``Atoms``), :mod:`.integrators` / :mod:`.lammps_engine` (NVE engines),
:mod:`.trajectories` (datasets) and :mod:`.system` (the pipeline's ``DeterministicSystem``).
"""

from .ase_backend import BuiltinLJCalculator, ase_lj_calculator, carve_cluster
from .configurations import (atoms_from_state, initial_positions, lattice_configuration,
                             random_configuration, relax, rescale_to_temperature, state_from_atoms,
                             temperature_np, velocity_pattern)
from .integrators import MDFrames, velocity_verlet
from .lammps_engine import lammps_available, lammps_forces, lammps_nve
from .oracle import (BACKENDS, all_forces, partial_forces, potential_energy,
                     potential_energy_and_forces)
from .params import PAPER, LJParams
from .system import LennardJonesSystem
from .trajectories import ENGINES, LJTrajectories, run_nve, simulate

__all__ = [
    "BACKENDS", "ENGINES", "PAPER", "BuiltinLJCalculator", "LJParams", "LJTrajectories",
    "LennardJonesSystem", "MDFrames", "all_forces", "ase_lj_calculator", "atoms_from_state",
    "carve_cluster", "initial_positions", "lammps_available", "lammps_forces", "lammps_nve",
    "lattice_configuration", "partial_forces", "potential_energy", "potential_energy_and_forces",
    "random_configuration", "relax", "rescale_to_temperature", "run_nve", "simulate",
    "state_from_atoms", "temperature_np", "velocity_pattern", "velocity_verlet",
]
