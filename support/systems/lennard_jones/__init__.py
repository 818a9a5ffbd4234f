"""Lennard-Jones fluid of paper 1 (reduced units, r_c = 2.5, ρ = 0.8) with a real partial force oracle.

Modules: :mod:`.params` (units and potential), :mod:`.geometry` (box, wrapping, checks),
:mod:`.kernels_numba` / :mod:`.kernels_torch` (cell-list kernels), :mod:`.ase_backend` (generic ASE
calculators on carved clusters), :mod:`.species` (elements, masses, a calculator's reach),
:mod:`.oracle` (the one interface), :mod:`.configurations`
(initial states as ASE ``Atoms``), :mod:`.integrators` / :mod:`.lammps_engine` (NVE engines),
:mod:`.trajectories` (datasets) and :mod:`.system` (the pipeline's ``DeterministicSystem``).
"""

from .ase_backend import BuiltinLJCalculator, ase_lj_calculator, carve_cluster, cluster_buffer
from .configurations import (RELAXATIONS, atoms_from_state, initial_positions, lattice_configuration,
                             random_configuration, relax, relax_lammps_cg, rescale_to_temperature,
                             state_from_atoms, temperature_np, velocity_pattern)
from .integrators import MDFrames, velocity_verlet, velocity_verlet_forces
from .lammps_engine import (PAPER_MINIMIZE, Minimization, lammps_available, lammps_forces,
                            lammps_minimize, lammps_nve, require_lammps)
from .oracle import (BACKENDS, all_forces, partial_forces, potential_energy,
                     potential_energy_and_forces)
from .params import PAPER, LJParams
from .species import ARGON, calculator_reach, check_masses, check_numbers, standard_masses
from .system import LennardJonesSystem
from .trajectories import (ENGINES, LJTrajectories, run_nve, run_nve_ase, simulate, simulate_atoms,
                           temperature_change)

__all__ = [
    "ARGON", "BACKENDS", "ENGINES", "PAPER", "PAPER_MINIMIZE", "RELAXATIONS", "BuiltinLJCalculator",
    "LJParams", "LJTrajectories", "LennardJonesSystem", "MDFrames", "Minimization", "all_forces",
    "ase_lj_calculator", "atoms_from_state", "calculator_reach", "carve_cluster", "check_masses",
    "check_numbers", "cluster_buffer", "initial_positions", "lammps_available", "lammps_forces",
    "lammps_minimize", "lammps_nve", "lattice_configuration", "partial_forces", "potential_energy",
    "potential_energy_and_forces", "random_configuration", "relax", "relax_lammps_cg",
    "require_lammps", "rescale_to_temperature", "run_nve", "run_nve_ase", "simulate",
    "simulate_atoms", "standard_masses", "state_from_atoms", "temperature_change", "temperature_np",
    "velocity_pattern", "velocity_verlet", "velocity_verlet_forces",
]
