r"""The Lennard-Jones fluid of paper 1 as a :class:`~support.systems.base.DeterministicSystem`.

State (per atom, unit-major, so one force unit = one atom = 6 consecutive rows):

.. math::  x = [\,r_1, v_1,\; r_2, v_2,\; \dots\,] \in \mathbb R^{6 N_a}, \qquad
           f(x) = \frac{dx}{dt} = [\,v_1, F_1/m,\; v_2, F_2/m,\; \dots\,].

Positions are stored *unwrapped* (continuous in time, as in the paper's processed data); the force
oracle wraps them into the box. ``force(x, atoms)`` evaluates F only on the chosen atoms through
the partial oracle (:func:`~.oracle.partial_forces`), so its cost grows with the number of atoms
asked for; the velocity rows are free.

Observable: the temperature (LAMMPS convention, 3N_a − 3 degrees of freedom),
z* = s · Σ_i m_i |v_i|² / (3 (N_a − 1)), with an optional scale s (the paper used s = 20).

Any atomistic system: :meth:`LennardJonesSystem.from_atoms` turns a user's periodic ``ase.Atoms``
with any ASE calculator (EMT, EAM, a machine-learned potential, …) into the same pipeline object —
its elements and masses are carried through, the calculator is the partial force oracle (carved
clusters, :mod:`.ase_backend`) and the NVE engine (ASE-driven velocity Verlet), and the atoms'
positions are the shared start. Units are then the calculator's (ASE: Å, eV, amu; T = k_B T in eV).
"""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator

from ...validation import check_choice, check_shape
from ..base import DeterministicSystem, Trajectories
from .ase_backend import cluster_buffer
from .configurations import INSERTIONS, RELAXATIONS, state_from_atoms
from .geometry import as_box, check_box_for_cutoff
from .lammps_engine import require_lammps
from .oracle import BACKENDS, all_forces, partial_forces, partial_forces_batch, resolve_backend
from .params import PAPER, LJParams
from .species import ARGON, check_masses, check_numbers
from .trajectories import ENGINES, LJTrajectories, simulate, simulate_atoms, temperature_change

SPLITS = ("train", "test")


class LennardJonesSystem(DeterministicSystem):
    """LJ fluid of ``n_atoms`` in a cubic periodic box at density ρ, NVE dynamics, observable T.

    Args:
        n_atoms: number of atoms (≥ 100 at ρ = 0.8 so that the box side is ≥ 2 r_c).
        params: LJ parameters (reduced units; paper: r_c = 2.5, ρ = 0.8).
        backend: force back-end of the oracle (``builtin`` | ``numba`` | ``torch`` | ``ase``).
        calculator, buffer: the ASE calculator and cluster buffer for ``backend="ase"``.
        engine: MD engine for :meth:`trajectories` (``auto`` | ``lammps`` | ``builtin``).
        same_start, start_seed: initial-condition design (see :mod:`.trajectories`).
        n_frames, dt, t0_range: frames per run, time step, range of the initial temperatures.
        insertion, relax_fmax: initial configuration (``random`` | ``lattice``) and FIRE's stop.
        relaxation: loose relaxation of the insertion: ``fire`` (ASE FIRE to max |F_i| ≤
            ``relax_fmax``) or ``lammps_cg`` (paper 1's LAMMPS ``minimize 1.0e-1 1.0e-4 1000 10000``).
        temperature_scale: s in z* = s · T.
        atoms: a user's periodic orthorhombic ``Atoms`` (prefer :meth:`from_atoms`): its box,
            elements, masses and positions (the shared start) replace the LJ fluid's; needs
            ``backend="ase"`` and a ``calculator`` (default ``atoms.calc``); the engine is ``ase``.
        device: torch device of the states returned by :meth:`trajectories` (the builtin engine
            also integrates there when it is not the CPU); ``dtype``: their dtype.
    """

    name = "lennard_jones"
    rows_per_unit = 6
    unit_name = "atom"

    def __init__(self, n_atoms: int = 256, *, params: LJParams = PAPER, backend: str = "builtin",
                 calculator: Calculator | None = None, buffer: float | None = None,
                 engine: str = "auto", same_start: bool = True, start_seed: int = 0,
                 n_frames: int = 250, dt: float = 0.001, t0_range: tuple[float, float] = (0.5, 1.5),
                 insertion: str = "random", relax_fmax: float = 50.0, relaxation: str = "fire",
                 temperature_scale: float = 1.0, atoms: Atoms | None = None,
                 device: str | torch.device | None = None, dtype: torch.dtype = torch.float64) -> None:
        self.params = params
        self.backend = check_choice("LJ force back-end", backend, BACKENDS)
        self.calculator, self.buffer = calculator, buffer
        self.engine = check_choice("MD engine", engine, ENGINES)
        self.relaxation = check_choice("relaxation", relaxation, RELAXATIONS)
        if atoms is None:
            self.n_atoms = int(n_atoms)
            self.box = as_box(params.box_side(self.n_atoms))
            check_box_for_cutoff(self.box, params.rc)
            self.numbers = np.full(self.n_atoms, ARGON)
            self.masses = np.full(self.n_atoms, params.mass)
            self.start_positions = None
        else:
            self._use_atoms(atoms)
        if self.relaxation == "lammps_cg" and self.start_positions is None:
            require_lammps("relaxation='lammps_cg'")
        self.same_start, self.start_seed = bool(same_start), int(start_seed)
        if atoms is not None and not self.same_start:
            raise ValueError("a system built from Atoms starts every run from those atoms: same_start=True")
        self.n_frames, self.dt, self.t0_range = int(n_frames), float(dt), tuple(t0_range)
        self.insertion = check_choice("insertion", insertion, INSERTIONS)
        self.relax_fmax = float(relax_fmax)
        if not (temperature_scale > 0 and self.relax_fmax > 0 and self.n_frames >= 1 and self.dt > 0):
            raise ValueError("temperature_scale, relax_fmax, n_frames and dt must be positive")
        self.temperature_scale = float(temperature_scale)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dtype = dtype

    def _use_atoms(self, atoms: Atoms) -> None:
        """Take box, elements, masses and start positions from a user's ``Atoms`` (see ``atoms``)."""
        if not isinstance(atoms, Atoms):
            raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
        if self.backend != "ase" or self.engine not in ("auto", "ase"):
            raise ValueError("a system built from Atoms uses its calculator: backend='ase', engine='ase'")
        self.calculator = self.calculator if self.calculator is not None else atoms.calc
        if self.calculator is None:
            raise ValueError("a system built from Atoms needs an ASE calculator (argument or atoms.calc)")
        positions, self.box, _ = state_from_atoms(atoms)
        self.n_atoms, self.engine = len(positions), "ase"
        self.numbers = check_numbers(atoms.get_atomic_numbers(), self.n_atoms)
        self.masses = check_masses(atoms.get_masses(), self.n_atoms)
        self.buffer = cluster_buffer(self.calculator, self.numbers, self.buffer)  # checks elements too
        self.start_positions = np.array(positions, dtype=np.float64)

    @classmethod
    def from_atoms(cls, atoms: Atoms, calculator: Calculator | None = None, *, dt: float,
                   t0_range: tuple[float, float], buffer: float | None = None, n_frames: int = 250,
                   start_seed: int = 0, temperature_scale: float = 1.0,
                   device: str | torch.device | None = None,
                   dtype: torch.dtype = torch.float64) -> "LennardJonesSystem":
        """A system of a user's periodic orthorhombic ``atoms`` whose forces come from ``calculator``
        (default ``atoms.calc``) — any ASE calculator.

        The partial oracle carves clusters of ``buffer`` around the chosen atoms (default: the
        calculator's reach + 0.1, :func:`~.species.calculator_reach`; a calculator of unknown reach
        needs ``buffer``). Runs start from ``atoms.positions`` with one zero-momentum velocity
        pattern rescaled to T0 ~ U(``t0_range``); ``dt``, ``t0_range`` and T are in the calculator's
        units (ASE: time √(amu Å²/eV) — ``ase.units.fs`` is one femtosecond — and k_B T in eV).
        """
        return cls(len(atoms), backend="ase", calculator=calculator, buffer=buffer, engine="ase",
                   start_seed=start_seed, n_frames=n_frames, dt=dt, t0_range=t0_range,
                   temperature_scale=temperature_scale, atoms=atoms, device=device, dtype=dtype)

    @property
    def _uniform_mass(self) -> float | None:
        """The common mass if all atoms share it (the LJ fluid: ``params.mass``), else ``None``."""
        return float(self.masses[0]) if (self.masses == self.masses[0]).all() else None

    # --- protocol -------------------------------------------------------------------------
    @property
    def state_dim(self) -> int:
        return 6 * self.n_atoms

    @property
    def n_observables(self) -> int:
        return 1

    def observables(self, x: torch.Tensor) -> torch.Tensor:
        """z* = s · T(x) ``[B, 1]``, differentiable: T = Σ_i m_i |v_i|² / (3 (N_a − 1))."""
        v = self.velocities(x)
        mass = self._uniform_mass
        if mass is not None:
            kinetic = mass * (v * v).sum(dim=(-1, -2))
        else:
            m = torch.as_tensor(self.masses, dtype=v.dtype, device=v.device)
            kinetic = (m[:, None] * v * v).sum(dim=(-1, -2))
        return (self.temperature_scale * kinetic / (3 * (self.n_atoms - 1))).unsqueeze(-1)

    def _force_rows(self, x: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        """[v_i, F_i/m] for the atoms ``units[b]`` of each configuration; F from the partial oracle
        (a request for all atoms in order uses the full Newton-3 computation instead)."""
        everyone = torch.arange(self.n_atoms, device=units.device)
        numbers = self.numbers if self.backend == "ase" else None
        mass = self._uniform_mass
        whole = units.shape[1] == self.n_atoms and bool((units == everyone).all(1).any())
        if mass is not None and not whole and resolve_backend(self.backend, x) == "numba":
            return self._partial_rows_batched(x, units, mass)
        masses = torch.as_tensor(self.masses, dtype=x.dtype, device=x.device)
        out = []
        for state, atoms in zip(x, units):
            per_atom = state.reshape(self.n_atoms, 6)
            if atoms.numel() == self.n_atoms and bool((atoms == everyone).all()):
                forces = all_forces(per_atom[:, :3], self.box, self.backend, self.calculator,
                                    params=self.params, numbers=numbers)
            else:
                forces = partial_forces(per_atom[:, :3], self.box, atoms, self.backend, self.calculator,
                                        params=self.params, buffer=self.buffer, numbers=numbers)
            accel = forces / mass if mass is not None else forces / masses[atoms][:, None]
            out.append(torch.cat([per_atom[atoms, 3:], accel], dim=1).reshape(-1))
        return torch.stack(out)

    def _partial_rows_batched(self, x: torch.Tensor, units: torch.Tensor, mass: float) -> torch.Tensor:
        """:meth:`_force_rows` for one-species numba forces: one compiled call for the whole batch."""
        per_atom = x.reshape(x.shape[0], self.n_atoms, 6)
        forces = torch.as_tensor(partial_forces_batch(per_atom[..., :3], self.box, units, params=self.params))
        accel = forces.to(device=x.device, dtype=x.dtype) / mass
        rows = torch.gather(per_atom[..., 3:], 1, units.unsqueeze(-1).expand(-1, -1, 3))
        return torch.cat([rows, accel], dim=-1).reshape(x.shape[0], -1)

    def trajectories(self, n: int, seed: int, *, split: str = "train",
                     progress: bool = False) -> Trajectories:
        """``n`` NVE runs as states ``[n, n_frames, 6 N_a]`` with their (free) derivatives."""
        runs = self.simulate(n, seed, split=split, progress=progress)
        as_t = lambda a: torch.as_tensor(a, dtype=self.dtype, device=self.device)  # noqa: E731
        return Trajectories(x=as_t(runs.states()), dt=runs.dt, forces=as_t(runs.derivatives()))

    # --- LJ specifics -------------------------------------------------------------------------
    def simulate(self, n: int, seed: int, *, split: str = "train", progress: bool = False) -> LJTrajectories:
        """The raw MD runs (numpy, per-atom arrays, T0s) behind :meth:`trajectories`.

        ``split`` is mixed into the seed, so train and test runs differ for the same ``seed``;
        with ``same_start`` they still share the start fixed by ``start_seed``.
        """
        check_choice("split", split, SPLITS)
        mixed = int(np.random.SeedSequence([int(seed), SPLITS.index(split)]).generate_state(1)[0])
        if self.start_positions is not None:
            return simulate_atoms(n, mixed, self.start_positions, self.box, self.calculator, self.numbers,
                                  self.masses, start_seed=self.start_seed, n_frames=self.n_frames,
                                  dt=self.dt, t0_range=self.t0_range, progress=progress)
        gpu = self.device if self.device.type != "cpu" else None
        return simulate(n, self.n_atoms, mixed, same_start=self.same_start, start_seed=self.start_seed,
                        engine=self.engine, n_frames=self.n_frames, dt=self.dt, t0_range=self.t0_range,
                        params=self.params, insertion=self.insertion, relax_fmax=self.relax_fmax,
                        relaxation=self.relaxation, device=gpu, progress=progress)

    def temperature_signal(self, n_runs: int, seed: int, *, split: str = "train",
                           progress: bool = False) -> dict:
        """The macroscopic signal of this design: ΔT = T(end) − T(start) per run (unscaled T), its
        mean and standard deviation over ``n_runs`` runs of :meth:`simulate`, and the T0s."""
        runs = self.simulate(n_runs, seed, split=split, progress=progress)
        delta = temperature_change(runs)
        return {"mean": float(delta.mean()), "std": float(delta.std(ddof=1)) if n_runs > 1 else 0.0,
                "per_run": delta, "t0": runs.t0}

    def positions(self, x: torch.Tensor) -> torch.Tensor:
        """Unwrapped positions ``[B, N_a, 3]`` of states ``[B, 6 N_a]`` (a view)."""
        check_shape("x", x, [None, self.state_dim])
        return x.reshape(x.shape[0], self.n_atoms, 6)[..., :3]

    def velocities(self, x: torch.Tensor) -> torch.Tensor:
        """Velocities ``[B, N_a, 3]`` of states ``[B, 6 N_a]`` (a view)."""
        check_shape("x", x, [None, self.state_dim])
        return x.reshape(x.shape[0], self.n_atoms, 6)[..., 3:]

    def state_from_atoms(self, atoms: Atoms) -> torch.Tensor:
        """State ``[6 N_a]`` from a periodic ``Atoms`` with this system's box and atom count."""
        positions, box, velocities = state_from_atoms(atoms)
        if len(positions) != self.n_atoms or not np.allclose(box, self.box):
            raise ValueError(f"atoms must hold {self.n_atoms} atoms in the box {self.box.tolist()}, "
                             f"got {len(positions)} atoms in {box.tolist()}")
        state = np.concatenate([positions, velocities], axis=1).reshape(-1)
        return torch.as_tensor(state, dtype=self.dtype, device=self.device)

    def atoms_from_state(self, x: torch.Tensor) -> Atoms:
        """ASE ``Atoms`` (positions unwrapped, velocities set, periodic box, this system's elements
        and masses) of one state ``[6 N_a]``."""
        per_atom = x.detach().reshape(self.n_atoms, 6).cpu().double().numpy()
        atoms = Atoms(numbers=self.numbers, positions=per_atom[:, :3], cell=self.box, pbc=True)
        atoms.set_masses(self.masses)
        atoms.set_velocities(per_atom[:, 3:])
        return atoms
