"""The small protocol a microscopic system implements to plug into the pipeline.

A deterministic system (paper 1) supplies

* ``observables(x) -> z*``: the prescribed macroscopic observables, a differentiable torch
  function of the state ``x`` (shape ``[B, N]`` → ``[B, d*]``);
* ``force(x, units) -> f``: the time derivative ``dx/dt`` *only* on the rows belonging to the
  requested force units (shape ``[B, m]`` → ``[B, m * rows_per_unit]``), at a cost that grows
  with ``m`` (the sparsity assumption);
* ``trajectories(n, seed)``: training / test trajectories ``[n, T, N]`` with their time step.

A *force unit* is what one force computation buys: one grid value for a PDE, one atom (its
position rows, whose derivative is the free velocity, and its velocity rows, whose derivative is
the force) for molecular dynamics. ``unit_rows`` maps units to state rows.

Stochastic systems (paper 2) implement :class:`StochasticSystem` in ``support.stochastic``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from ..budget import ForceBudget
from ..validation import check_finite, check_indices, check_shape


@dataclass
class Trajectories:
    """A batch of microscopic trajectories ``x[traj, time, N]`` sampled every ``dt``.

    ``forces`` (same shape) holds ``dx/dt`` where the generator produced it for free (e.g. the
    Euler right-hand side); pipelines never read it for training — forces used for training are
    always bought through the counted oracle.
    """

    x: torch.Tensor
    dt: float
    forces: torch.Tensor | None = None

    @property
    def n_traj(self) -> int:
        return self.x.shape[0]

    @property
    def n_steps(self) -> int:
        return self.x.shape[1]

    @property
    def times(self) -> torch.Tensor:
        return torch.arange(self.n_steps, dtype=self.x.dtype) * self.dt

    def snapshots(self) -> torch.Tensor:
        """All configurations, trajectory-major, shape ``[n_traj * T, N]``."""
        return self.x.reshape(-1, self.x.shape[-1])


class MicroscopicSystem(ABC):
    """What every microscopic system has, deterministic or stochastic: prescribed observables
    z* = φ*(x). The two capabilities (a partial force oracle, patch evolution) are the subclasses
    :class:`DeterministicSystem` and :class:`~support.systems.stochastic_base.StochasticSystem`."""

    name: str = "system"

    @property
    @abstractmethod
    def n_observables(self) -> int:
        """d*, the number of prescribed observables."""

    @abstractmethod
    def observables(self, x: torch.Tensor) -> torch.Tensor:
        """φ*(x) ``[B, ...] -> [B, d*]`` (the state's layout is the subclass's)."""


class DeterministicSystem(MicroscopicSystem):
    """Base class for microscopic ODE systems ``dx/dt = f(x)`` with a partial force oracle; its
    states are flat ``[B, N]`` and φ* is differentiable."""

    name: str = "system"
    #: state rows per force unit (1 for PDE grids, 6 for an atom's position+velocity)
    rows_per_unit: int = 1
    #: the word a force unit is called in tables ("coordinate", "atom")
    unit_name: str = "coordinate"

    @property
    @abstractmethod
    def state_dim(self) -> int:
        """N, the dimension of the microscopic state."""

    @property
    def n_units(self) -> int:
        """Number of force units (N / rows_per_unit)."""
        return self.state_dim // self.rows_per_unit

    @abstractmethod
    def _force_rows(self, x: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        """Evaluate ``f`` on the rows of ``units`` only; ``units`` is validated ``[B, m]``."""

    def unit_rows(self, units: torch.Tensor) -> torch.Tensor:
        """State rows of each unit: ``[..., m] -> [..., m * rows_per_unit]`` (unit-major)."""
        if self.rows_per_unit == 1:
            return units
        r = self.rows_per_unit
        return (units.unsqueeze(-1) * r + torch.arange(r, device=units.device)).flatten(-2)

    def force(self, x: torch.Tensor, units: torch.Tensor,
              budget: ForceBudget | None = None) -> torch.Tensor:
        """``f(x)`` on the rows of ``units`` (``[B, m]``), charging ``B * m`` units to ``budget``."""
        check_shape("x", x, [None, self.state_dim])
        check_finite("x", x)
        units = check_indices("units", units, self.n_units)
        if units.dim() == 1:
            units = units.expand(x.shape[0], -1)
        check_shape("units", units, [x.shape[0], None])
        if budget is None:
            out = self._force_rows(x, units)
        else:
            with budget.timed(units.numel()):
                out = self._force_rows(x, units)
        return check_finite("force", out)

    def full_force(self, x: torch.Tensor, budget: ForceBudget | None = None) -> torch.Tensor:
        """All rows of ``f(x)`` (charges ``B * n_units``)."""
        units = torch.arange(self.n_units, device=x.device).expand(x.shape[0], -1)
        return self.force(x, units, budget)

    @abstractmethod
    def trajectories(self, n: int, seed: int, *, split: str = "train") -> Trajectories:
        """Simulate ``n`` trajectories; ``split`` selects the integrator/initial-condition family."""
