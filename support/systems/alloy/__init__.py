"""NbMoTa vacancy kinetic Monte Carlo with the NNK barrier network (paper 2's alloy experiment).

* :mod:`.lattice` — the bcc voxel grid, species codes, random equimolar cells.
* :mod:`.barriers` — the shipped barrier network and the rotated 9×9×9 crops (8 hops at once).
* :mod:`.kmc` — batched BKL KMC (exact or mean waiting times), frozen-halo patches.
* :mod:`.sro` — first-shell short-range order δ (6 components).
* :mod:`.evolution` — recorded trajectories, tiling upsampling, partial evolution.
"""

from . import barriers, evolution, kmc, lattice, sro
from .sro import SRO_NAMES, sro as short_range_order

__all__ = ["barriers", "evolution", "kmc", "lattice", "sro", "SRO_NAMES", "short_range_order"]
