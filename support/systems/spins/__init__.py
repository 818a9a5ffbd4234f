"""Exact, rejection-free continuous-time Glauber simulators of spin lattices (paper 2's spin experiments).

* :mod:`.ising` — 2-D Ising (J = 1, field h, periodic), n-fold way over 10 local-field classes;
  whole lattices, recorded trajectories, and partial evolution of ``ℓ × ℓ`` windows with a frozen
  halo (the book's rule) or a periodic patch (the official code's rule).
* :mod:`.curie_weiss` — mean-field spins, birth–death chain in the total spin (per-site and
  count-only samplers, identical paths for one seed), windows in a frozen mean field.
* :mod:`.observables` — magnetisation, domain-wall density, Ising energy per site.
* :mod:`.glauber_kernels` — the numba kernels (parallel over samples; reproducible per sample).
* :mod:`.lattice` — input checks, seeds, geometry tables, patch origins.

All functions take numpy arrays (or CPU torch tensors) of ±1 and return ``int8`` numpy arrays
and float64 elapsed physical times.
"""

from . import curie_weiss, ising
from .lattice import patch_origins
from .observables import (bond_correlation, domain_wall_density, ising_energy_per_site,
                          magnetisation)

__all__ = ["ising", "curie_weiss", "patch_origins", "magnetisation", "domain_wall_density",
           "bond_correlation", "ising_energy_per_site"]
