r"""The Lennard-Jones fluid of paper 1 as a :class:`~support.systems.base.DeterministicSystem`.

State (per atom, unit-major, so one force unit = one atom = 6 consecutive rows):

.. math::  x = [\,r_1, v_1,\; r_2, v_2,\; \dots\,] \in \mathbb R^{6 N_a}, \qquad
           f(x) = \frac{dx}{dt} = [\,v_1, F_1/m,\; v_2, F_2/m,\; \dots\,].

Positions are stored *unwrapped* (continuous in time, as in the paper's processed data); the force
oracle wraps them into the box. ``force(x, atoms)`` evaluates F only on the chosen atoms through
the partial oracle (:func:`~.oracle.partial_forces`), so its cost grows with the number of atoms
asked for; the velocity rows are free.

Observable: the temperature (LAMMPS convention, 3N_a − 3 degrees of freedom),
z* = s · Σ_i m |v_i|² / (3 (N_a − 1)), with an optional scale s (the paper used s = 20).
"""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator

from ...validation import check_choice, check_shape
from ..base import DeterministicSystem, Trajectories
from .configurations import INSERTIONS, atoms_from_state, state_from_atoms
from .geometry import as_box, check_box_for_cutoff
from .oracle import BACKENDS, all_forces, partial_forces
from .params import PAPER, LJParams
from .trajectories import ENGINES, LJTrajectories, simulate

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
        insertion, relax_fmax: initial configuration (``random`` | ``lattice``) and relaxation stop.
        temperature_scale: s in z* = s · T.
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
                 insertion: str = "random", relax_fmax: float = 50.0, temperature_scale: float = 1.0,
                 device: str | torch.device | None = None, dtype: torch.dtype = torch.float64) -> None:
        self.params = params
        self.n_atoms = int(n_atoms)
        self.box = as_box(params.box_side(self.n_atoms))
        check_box_for_cutoff(self.box, params.rc)
        self.backend = check_choice("LJ force back-end", backend, BACKENDS)
        self.calculator, self.buffer = calculator, buffer
        self.engine = check_choice("MD engine", engine, ENGINES)
        self.same_start, self.start_seed = bool(same_start), int(start_seed)
        self.n_frames, self.dt, self.t0_range = int(n_frames), float(dt), tuple(t0_range)
        self.insertion = check_choice("insertion", insertion, INSERTIONS)
        self.relax_fmax = float(relax_fmax)
        if not (temperature_scale > 0 and self.relax_fmax > 0 and self.n_frames >= 1 and self.dt > 0):
            raise ValueError("temperature_scale, relax_fmax, n_frames and dt must be positive")
        self.temperature_scale = float(temperature_scale)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dtype = dtype

    # --- protocol -------------------------------------------------------------------------
    @property
    def state_dim(self) -> int:
        return 6 * self.n_atoms

    @property
    def n_observables(self) -> int:
        return 1

    def observables(self, x: torch.Tensor) -> torch.Tensor:
        """z* = s · T(x) ``[B, 1]``, differentiable: T = Σ m|v|² / (3 (N_a − 1))."""
        v = self.velocities(x)
        kinetic = self.params.mass * (v * v).sum(dim=(-1, -2))
        return (self.temperature_scale * kinetic / (3 * (self.n_atoms - 1))).unsqueeze(-1)

    def _force_rows(self, x: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        """[v_i, F_i/m] for the atoms ``units[b]`` of each configuration; F from the partial oracle
        (a request for all atoms in order uses the full Newton-3 computation instead)."""
        everyone = torch.arange(self.n_atoms, device=units.device)
        out = []
        for state, atoms in zip(x, units):
            per_atom = state.reshape(self.n_atoms, 6)
            if atoms.numel() == self.n_atoms and bool((atoms == everyone).all()):
                forces = all_forces(per_atom[:, :3], self.box, self.backend, self.calculator,
                                    params=self.params)
            else:
                forces = partial_forces(per_atom[:, :3], self.box, atoms, self.backend,
                                        self.calculator, params=self.params, buffer=self.buffer)
            out.append(torch.cat([per_atom[atoms, 3:], forces / self.params.mass], dim=1).reshape(-1))
        return torch.stack(out)

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
        gpu = self.device if self.device.type != "cpu" else None
        return simulate(n, self.n_atoms, mixed, same_start=self.same_start, start_seed=self.start_seed,
                        engine=self.engine, n_frames=self.n_frames, dt=self.dt, t0_range=self.t0_range,
                        params=self.params, insertion=self.insertion, relax_fmax=self.relax_fmax,
                        device=gpu, progress=progress)

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
        """ASE ``Atoms`` (positions unwrapped, velocities set, periodic box) of one state ``[6 N_a]``."""
        per_atom = x.detach().reshape(self.n_atoms, 6).cpu().double().numpy()
        return atoms_from_state(per_atom[:, :3], self.box, per_atom[:, 3:], self.params)
