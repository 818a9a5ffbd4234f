r"""The NNK vacancy-migration barrier network (Xing et al., Nat. Commun. 15, 3879 (2024); MIT licence,
``support/data/LICENSE-NNK``), as paper 2's official code (``NbMoTa_Alloy/``) evaluates it.

Network: 729 → 4 × [dense 128 → batch norm (inference) → ReLU] → dense 1, output E_b in eV::

    h ← ReLU(γ (h W + b − mean) / √(var + ε) + β),   E_b = h W_out + b_out,   ε = 1e-5 (paper 2).

Input: the 9×9×9 voxel crop centred on the vacancy (periodic), voxels farther than 7.5 Å
(u² + v² + w² > 21 in voxels) and non-sites set to 0, turned so that hop k's migrating atom sits at
canonical offset (+1, +1, +1); raw codes 0–3, flattened in C order. Canonical voxel (u, v, w) reads
the crop at the offset in :data:`CANONICAL_MAPS` (rotation about z then, for odd k… see table).

Only the 112 atom sites of the sphere can be non-zero, so the first layer is evaluated on those 112
rows of W (exactly the same sum). Batch norm is folded into the dense layers in float64. A hop onto
another vacancy has E_b = +∞ (rate 0).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from .lattice import HOPS

BN_EPS = 1e-5                 # paper 2 (NKK's Keras default is 1e-3; ≤ 1e-5 eV apart)
CROP_RADIUS = 4               # voxels: round(7.5 / 1.62 − 0.5)
SPHERE_R2 = 21                # voxels²: (7.5 Å / 1.62 Å)² = 21.4
WEIGHTS_FILE = "nnk_barriers.npz"

# Reference barriers (eV) computed with paper 2's official code for this book; the tests and
# the nbmota experiment check the shipped network against these, from this one place.
#: E_b of the pure crops, by species code (1 Nb, 2 Mo, 3 Ta)
REFERENCE_PURE = {1: 1.02010, 2: 1.72255, 3: 1.13068}
#: E_b of the crop ``np.random.default_rng(seed).integers(1, 4, size=112)``, by seed
REFERENCE_RANDOM = {0: 1.45516, 1: 1.46601}
#: statistics of ``np.random.default_rng(seed).integers(1, 4, size=(n, 112))``: mean, std, min, max
REFERENCE_CROPS = {"seed": 0, "n": 2000, "mean": 1.77461, "std": 0.252887, "min": 1.028, "max": 2.486}


def _map(k: int, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Crop offset read by canonical voxel (u, v, w) for hop k (the official code's rotations)."""
    table = [(-u, -v, -w), (-u, -v, w), (-v, u, -w), (-v, u, w),
             (v, -u, -w), (v, -u, w), (u, v, -w), (u, v, w)]
    return np.stack(table[k], axis=-1)


@lru_cache(maxsize=1)
def sphere_sites() -> np.ndarray:
    """``[112, 3]`` canonical offsets (u, v, w) of the atom sites in the 7.5 Å sphere, C order."""
    r = np.arange(-CROP_RADIUS, CROP_RADIUS + 1)
    u, v, w = (a.ravel() for a in np.meshgrid(r, r, r, indexing="ij"))
    site = ((u % 2 == v % 2) & (v % 2 == w % 2)) & (u * u + v * v + w * w <= SPHERE_R2)
    site &= ~((u == 0) & (v == 0) & (w == 0))
    return np.stack([u[site], v[site], w[site]], axis=1)


@lru_cache(maxsize=1)
def crop_offsets() -> np.ndarray:
    """``[8, 112, 3]``: for hop k, the grid offset (from the vacancy) of each canonical input site."""
    s = sphere_sites()
    return np.stack([_map(k, s[:, 0], s[:, 1], s[:, 2]) for k in range(8)])


@lru_cache(maxsize=1)
def orientation_permutation() -> np.ndarray:
    """``[8, 112]``: canonical input j of hop k is sphere site ``perm[k, j]`` (the 8 maps permute
    the sphere's sites)."""
    s = sphere_sites()
    where = {tuple(p): i for i, p in enumerate(s)}
    return np.array([[where[tuple(p)] for p in crop_offsets()[k]] for k in range(8)], dtype=np.int64)


def feature_index() -> np.ndarray:
    """``[112]`` positions of the sphere sites in the flat 729 input: 81(u+4) + 9(v+4) + (w+4)."""
    s = sphere_sites() + CROP_RADIUS
    return 81 * s[:, 0] + 9 * s[:, 1] + s[:, 2]


def default_weights_path() -> Path:
    """The weights shipped with the package (``support/data/nnk_barriers.npz``)."""
    return Path(str(resources.files("support") / "data" / WEIGHTS_FILE))


class BarrierNetwork:
    """E_b(crop) in eV. ``dtype``: float32 (fast, ≈ 1e-6 eV from float64) or float64."""

    N_LAYERS = 4

    def __init__(self, path: str | Path | None = None, dtype=np.float32, eps: float = BN_EPS) -> None:
        with np.load(path or default_weights_path(), allow_pickle=False) as f:
            raw = {k: f[k].astype(np.float64) for k in f.files}
        expected = {f"hidden{l}_{p}" for l in range(self.N_LAYERS)
                    for p in ("W", "b", "gamma", "beta", "mean", "var")} | {"out_W", "out_b"}
        if set(raw) != expected:
            raise ValueError(f"weights file has keys {sorted(raw)}, expected {sorted(expected)}")
        self.dtype = np.dtype(dtype)
        self.layers: list[tuple[np.ndarray, np.ndarray]] = []      # folded (W, b)
        for l in range(self.N_LAYERS):
            p = {q: raw[f"hidden{l}_{q}"] for q in ("W", "b", "gamma", "beta", "mean", "var")}
            s = p["gamma"] / np.sqrt(p["var"] + eps)
            W, b = p["W"] * s, (p["b"] - p["mean"]) * s + p["beta"]
            self.layers.append((W, b))
        self.out = (raw["out_W"], raw["out_b"])
        self.W0_sites = self.layers[0][0][feature_index()]          # [112, 128]
        self._cast = [(W.astype(self.dtype), b.astype(self.dtype)) for W, b in
                      [(self.W0_sites, self.layers[0][1]), *self.layers[1:], self.out]]

    def _head(self, h: np.ndarray) -> np.ndarray:
        for W, b in self._cast[1:-1]:
            h = np.maximum(h @ W + b, 0)
        W, b = self._cast[-1]
        return (h @ W + b)[..., 0]

    def energy_from_input(self, x: np.ndarray) -> np.ndarray:
        """E_b for full network inputs ``[..., 729]`` (or ``[..., 9, 9, 9]``), any content (the
        reference path: every one of the 729 rows of the first layer is used)."""
        x = np.asarray(x, dtype=np.float64)
        x = x.reshape(*x.shape[:-3], 729) if x.shape[-3:] == (9, 9, 9) else x
        if x.shape[-1] != 729:
            raise ValueError(f"input must be [..., 729] or [..., 9, 9, 9], got {list(x.shape)}")
        W, b = self.layers[0]
        h = np.maximum((x @ W + b).astype(self.dtype), 0)
        return self._head(h)

    def energy_from_sites(self, codes: np.ndarray) -> np.ndarray:
        """E_b from the 112 sphere-site codes ``[..., 112]`` in canonical C order (fast path)."""
        W, b = self._cast[0]
        h = np.maximum(np.asarray(codes, dtype=self.dtype) @ W + b, 0)
        return self._head(h)

    def crop_codes(self, grids: np.ndarray, batch: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """``[M, 8, 112]`` canonical site codes around the vacancies ``pos [M, 3]`` of
        ``grids[batch]`` (periodic wrap; vacancies read as 0, like every empty voxel). The 112
        sphere sites are read once (flat index) and permuted into the 8 orientations."""
        g = grids.shape[1]
        idx = (pos[:, None, :] + sphere_sites()[None]) % g                   # [M, 112, 3]
        flat = ((batch[:, None] * g + idx[..., 0]) * g + idx[..., 1]) * g + idx[..., 2]
        return grids.reshape(-1)[flat][:, orientation_permutation()]

    def hop_barriers(self, grids: np.ndarray, batch: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """``[M, 8]`` barriers (eV) of the 8 hops of vacancy ``pos[m]`` in ``grids[batch[m]]``
        (hop k to ``pos + HOPS[k]``); +∞ where the target site is a vacancy."""
        batch, pos = np.asarray(batch, dtype=np.int64), np.asarray(pos, dtype=np.int64)
        e = self.energy_from_sites(self.crop_codes(grids, batch, pos)).astype(np.float64)
        g = grids.shape[1]
        tgt = (pos[:, None, :] + HOPS[None]) % g
        empty = grids[batch[:, None], tgt[..., 0], tgt[..., 1], tgt[..., 2]] == 0
        e[empty] = np.inf
        return e


@lru_cache(maxsize=2)
def default_network(dtype: str = "float32") -> BarrierNetwork:
    """The shipped network, loaded once per dtype."""
    return BarrierNetwork(dtype=np.dtype(dtype))
