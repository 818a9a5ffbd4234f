"""What paper 2's two data steps need of a microscopic simulator: :class:`PatchDynamics`.

Paper 2 builds its training data in two steps that are the same for every system (Algorithms 1–2):

* **hierarchical upsampling** (Algorithm 1): small-system snapshots are enlarged level by level —
  ``Upsample`` (replicate, interpolate or tile) then ``LocalRelax`` (short dynamics that heal the
  seams) — until they have the large system's size; one loop,
  :func:`support.stochastic.upsampling.upsample_hierarchically`;
* **partial evolution** (Algorithm 2, first line): in every large snapshot one patch
  ``I ~ U{0, …, K−1}`` is evolved *alone* for δt with the small-system simulator (its surroundings
  frozen: a halo for lattices, the outside field for mean-field models), so a training pair costs
  what a small system costs; one function,
  :func:`support.stochastic.partial_evolution.evolve_random_patches`.

The loops are generic; what differs between systems is *how* a patch is evolved, a configuration
enlarged or relaxed, and in which array type and random stream (the spin and alloy simulators are
numba kernels on numpy arrays with numpy generators; the SPDE and OU lattices are torch tensors with
torch generators). A system therefore supplies four hooks, all in its own types, and the loops never
touch an array or draw a random number themselves — so moving a system onto the shared loops keeps
its random streams, and its numbers, bit for bit.

Implemented by :class:`support.systems.spins.patch_dynamics.IsingDynamics`,
:class:`~support.systems.spins.patch_dynamics.CurieWeissDynamics` and, for any torch
:class:`~support.systems.stochastic_base.StochasticSystem`,
:class:`support.stochastic.partial_evolution.GridPatchDynamics` /
:class:`support.stochastic.upsampling.GridUpsampling`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

#: the hooks a simulator implements to serve partial evolution and hierarchical upsampling
PATCH_HOOKS = ("draw_patches", "evolve_patches", "upsample", "relax")


@runtime_checkable
class PatchDynamics(Protocol):
    """A simulator as paper 2's pipeline sees it (arrays ``x`` are ``[B, …]`` configurations)."""

    def draw_patches(self, x: Any, n: int, rng: Any) -> Any:
        """``n`` i.i.d. uniform patch numbers ``I ∈ {0, …, K−1}`` for configurations like ``x``."""

    def evolve_patches(self, x: Any, index: Any, which: Any, rng: Any) -> tuple[Any, Any]:
        """Evolve patch ``index[b]`` of configuration ``x[which[b]]`` alone for the system's δt (the
        rest frozen); returns ``(evolved patch interiors [b, …], what the simulator reports per
        patch: its event count or elapsed time)``. ``x`` is not modified. (The alloy returns the
        whole cells' δ and a :class:`~support.systems.alloy.evolution.HopRecord` instead: its
        observables are read from the whole cell, and its record is not joined across batches.)"""

    def upsample(self, x: Any, rng: Any) -> Any:
        """One ``Upsample`` level of Algorithm 1: larger configurations ``[B', …]``."""

    def relax(self, x: Any, rng: Any) -> tuple[Any, Any]:
        """One ``LocalRelax`` of Algorithm 1 at the current size: ``(relaxed x, cost per
        configuration or None)``; the identity where the upsample is already exact."""


def is_patch_dynamics(obj: Any) -> bool:
    """Whether ``obj`` (an instance or a class) has every hook of :class:`PatchDynamics`."""
    return all(callable(getattr(obj, name, None)) for name in PATCH_HOOKS)


def check_patch_dynamics(obj: Any) -> None:
    """Raise a clear ``TypeError`` unless ``obj`` has every hook of :class:`PatchDynamics`."""
    if not is_patch_dynamics(obj):
        raise TypeError(f"{type(obj).__name__} lacks a hook of PatchDynamics ({', '.join(PATCH_HOOKS)})")
