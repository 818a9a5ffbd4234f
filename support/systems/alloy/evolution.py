r"""Trajectories, upsampling and partial evolution of the alloy (paper 2's alloy experiment).

* :func:`simulate` — BKL KMC of a batch of cells from their start, δ recorded at fixed physical
  times (exact: the state at time t is the state before the first hop after t), plus optional
  snapshots and the mean waiting time per hop.
* :func:`tile_snapshots` — a large cell from ``m³`` small snapshots (tiling, each tile rolled by a
  random even shift, which keeps the bcc sites), then :func:`equimolar` recolouring.
* :class:`AlloyDynamics` — the hooks of paper 2's pipeline
  (:class:`~support.stochastic.protocol.PatchDynamics`): partial evolution (one randomly chosen
  vacancy hops ``n_hops`` times inside a box of ``side`` voxels centred on it, the rest of the cell
  frozen; elapsed time Σ 1/R, the mean waiting times, as the official partial evolution), and
  Upsample/LocalRelax (tiles + whole-cell hops, or replication) for the one Algorithm 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ...budget import ForceBudget
from ...validation import check_choice
from .barriers import BarrierNetwork, default_network
from .kmc import apply, draw, init_state
from .lattice import check_grids, vacancies
from .sro import sro

#: the budget label of one KMC hop (one vacancy exchange, whichever cell it happens in)
COST_KIND = "kmc_hops"


def simulate(grids, T: float, record_times, rng: np.random.Generator, *, net: BarrierNetwork | None = None,
             snapshots: bool = False, progress: bool = False, desc: str = "KMC") -> dict:
    """Exact KMC of every cell of ``grids [B, G, G, G]`` at ``T`` until ``record_times[-1]`` (s).

    Returns ``{"delta": [B, n_rec, 6], "times": [n_rec], "hops": [B], "mean_wait": float (mean
    1/R per hop over all hops and cells), "snapshots": [B, n_rec, G, G, G] (if asked)}``."""
    times = np.asarray(record_times, dtype=np.float64)
    if times.ndim != 1 or len(times) == 0 or np.any(np.diff(times) < 0) or times[0] < 0:
        raise ValueError("record_times must be a non-empty, non-decreasing 1-D array of times >= 0")
    net = net or default_network()
    state = init_state(grids, T, net)
    B, n_rec = state.grids.shape[0], len(times)
    delta = np.zeros((B, n_rec, 6))
    snaps = np.zeros((B, n_rec) + state.grids.shape[1:], dtype=np.int8) if snapshots else None
    nxt = np.zeros(B, dtype=np.int64)                 # next record index per cell
    bar = tqdm(total=n_rec * B, desc=desc, disable=not progress, leave=False)
    while True:
        active = nxt < n_rec
        if not active.any():
            break
        choice, dt = draw(state, rng)
        t_after = state.time + dt
        j_due = np.searchsorted(times, t_after, side="left")   # records before this hop: the
        for b in np.nonzero(active & (j_due > nxt))[0]:         # state now holds until time + dt
            j0, j1 = nxt[b], int(j_due[b])
            delta[b, j0:j1] = sro(state.grids[b], checked=True)
            if snaps is not None:
                snaps[b, j0:j1] = state.grids[b]
            nxt[b] = j1
            bar.update(j1 - j0)
        active = nxt < n_rec
        apply(state, choice, dt, net, active)
    bar.close()
    return {"delta": delta, "times": times, "hops": state.hops.copy(),
            "mean_wait": float(state.time.sum() / max(state.hops.sum(), 1)),
            **({"snapshots": snaps} if snaps is not None else {})}


def equimolar(grids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Recolour random atoms (in place) until Nb = Mo = ⌊n_atoms/3⌋ and Ta takes the rest (the
    official ``redistribute_atoms`` balances the same counts, first Nb↔Mo then Mo↔Ta)."""
    x, _ = check_grids("grids", grids)
    for b in range(x.shape[0]):
        flat = x[b].reshape(-1)
        n_atoms = int((flat > 0).sum())
        target = np.array([n_atoms // 3, n_atoms // 3, n_atoms - 2 * (n_atoms // 3)])
        counts = np.array([(flat == s).sum() for s in (1, 2, 3)])
        spare = []                                    # atoms to recolour
        for s in range(3):
            if counts[s] > target[s]:
                where = np.nonzero(flat == s + 1)[0]
                spare.append(rng.choice(where, counts[s] - target[s], replace=False))
        spare = rng.permutation(np.concatenate(spare)) if spare else np.zeros(0, dtype=np.int64)
        need = np.repeat(np.arange(1, 4), np.maximum(target - counts, 0))
        flat[spare] = need
    return x


def tile_snapshots(small: np.ndarray, m: int, n_out: int, rng: np.random.Generator,
                   pool: np.ndarray | None = None) -> np.ndarray:
    """``[n_out, m·G, …]`` large cells: each of the m³ tiles a small snapshot drawn from ``pool``
    (per output: an index array into ``small``, or all of ``small``), rolled by a random even
    shift per axis; then :func:`equimolar`. One vacancy per tile is kept."""
    small, _ = check_grids("small", small)
    g = small.shape[1]
    out = np.empty((n_out, m * g, m * g, m * g), dtype=np.int8)
    for n in range(n_out):
        cand = np.arange(len(small)) if pool is None else np.asarray(pool[n])
        for a in range(m):
            for b in range(m):
                for c in range(m):
                    tile = small[rng.choice(cand)]
                    shift = 2 * rng.integers(0, g // 2, size=3)
                    out[n, a * g:(a + 1) * g, b * g:(b + 1) * g, c * g:(c + 1) * g] = np.roll(
                        tile, tuple(shift), axis=(0, 1, 2))
    return equimolar(out, rng)


def relax(grids: np.ndarray, T, hops: int, rng: np.random.Generator, *,
          net: BarrierNetwork | None = None) -> np.ndarray:
    """``hops`` exact KMC hops of each whole cell (all vacancies mobile, periodic): heals the tile
    seams (the book's LocalRelax; the official one runs 7 hops per seam patch, periodic inside it)."""
    state = init_state(grids, T, net)
    for _ in range(int(hops)):
        apply(state, *draw(state, rng), net)
    return state.grids


@dataclass(frozen=True)
class HopRecord:
    """What the KMC reports of a batch of partial evolutions: δ of the whole cells before ``[B, 6]``,
    the elapsed time Σ 1/R ``[B]`` (s), ``checkpoints`` ``{n: (δ [B, 6], elapsed [B])}`` after ``n``
    hops, and the final KMC state (positions of the mobile vacancy and its box)."""

    before: np.ndarray
    dt: np.ndarray
    checkpoints: dict
    final: Any


@dataclass(frozen=True)
class AlloyDynamics:
    """The NbMoTa vacancy KMC with the hooks of paper 2's pipeline
    (:class:`~support.stochastic.protocol.PatchDynamics`), on ``[B, G, G, G]`` int8 cells.

    Defaults are the nbmota chapter's (its ``Config``): 124 hops in a box of 32 voxels (the whole
    16-cell lattice), replication, 56 seam hops if tiles are chosen.
    A patch is the box of ``side`` voxels centred on one of the cell's vacancies (the official
    16³ patch around its vacancy): that vacancy hops ``n_hops`` times with its targets confined to
    the box, while the other vacancies and everything outside the box stay frozen (frozen halo).
    Upsample: ``"tile"`` — ``m³`` small snapshots side by side (each drawn from ``pool``, rolled by a
    random even shift) then :func:`equimolar`, and LocalRelax = ``relax_hops`` exact KMC hops of
    the whole cell (:func:`relax`); ``"replicate"`` — the periodic replication of each input (no
    seams: nothing to relax).
    """

    T: float
    n_hops: int = 124
    side: int = 32
    m: int = 2
    upsampling: str = "replicate"
    relax_hops: int = 56
    n_out: int | None = None
    pool: Any = field(default=None, compare=False, repr=False)
    checkpoints: tuple[int, ...] = ()
    net: BarrierNetwork | None = field(default=None, compare=False, repr=False)
    progress: bool = False
    #: charged with every hop the hooks do (kind ``"kmc_hops"``): the cost of the training data
    budget: ForceBudget | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.T, (bool, np.bool_)) or not isinstance(self.T, (int, float, np.integer, np.floating)) \
                or not 0 < float(self.T) < float("inf"):
            raise ValueError(f"T must be a temperature > 0 (K), got {self.T!r}")
        for name, value, least in (("n_hops", self.n_hops, 1), ("side", self.side, 3), ("m", self.m, 1),
                                   ("relax_hops", self.relax_hops, 0)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
                raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
        check_choice("upsampling", self.upsampling, ("tile", "replicate"))

    def observables(self, x: np.ndarray) -> np.ndarray:
        """φ*(x): the six Warren–Cowley short-range-order parameters δ ``[B, 6]``."""
        return sro(check_grids("x", x)[0], checked=True)

    def draw_patches(self, x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` uniform vacancy numbers (the patch is the box around that vacancy)."""
        return rng.integers(0, vacancies(x).shape[1], size=n)

    def evolve_patches(self, x: np.ndarray, index: np.ndarray, which: np.ndarray,
                       rng: np.random.Generator) -> tuple[np.ndarray, HopRecord]:
        """Vacancy ``index[b]`` of cell ``x[which[b]]`` hops ``n_hops`` times in its box; returns
        ``(δ of the whole cells after [n, 6], HopRecord)``."""
        cells, _ = check_grids("grids", x[which])
        vac = vacancies(cells)
        B = len(cells)
        mobile = np.zeros(vac.shape[:2], bool)
        mobile[np.arange(B), index] = True
        lo = vac[np.arange(B), index] - self.side // 2
        state = init_state(cells, self.T, self.net, mobile=mobile, box_lo=lo, box_side=self.side)
        before = sro(cells)
        dt = np.zeros(B)
        marks = {}
        for h in tqdm(range(1, int(self.n_hops) + 1), desc="partial evolution", disable=not self.progress,
                      leave=False):
            choice, w = draw(state, rng, waiting="mean")
            apply(state, choice, w, self.net)
            dt += w
            if h in self.checkpoints:
                marks[h] = (sro(state.grids, checked=True), dt.copy())
        if self.budget is not None:
            self.budget.charge(B * int(self.n_hops), COST_KIND)
        return sro(state.grids, checked=True), HopRecord(before, dt, marks, state)

    def upsample(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``[n_out or len(x), m·G, …]`` cells: tiles of ``x`` (``"tile"``) or replicas of each."""
        if self.upsampling == "replicate":
            return replicate_snapshots(x, self.m, np.arange(len(x)))
        return tile_snapshots(x, self.m, self.n_out or len(x), rng, pool=self.pool)

    def relax(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """``relax_hops`` KMC hops of each whole cell (heals the tile seams); hops per cell."""
        if self.upsampling == "replicate" or not self.relax_hops:
            return x, None
        if self.budget is not None:
            self.budget.charge(len(x) * self.relax_hops, COST_KIND)
        return relax(x, self.T, self.relax_hops, rng, net=self.net), np.full(len(x), self.relax_hops)


def replicate_snapshots(small: np.ndarray, m: int, index: np.ndarray) -> np.ndarray:
    """``[len(index), m·G, …]`` large cells, each the periodic replication of one small snapshot
    ``small[index[n]]`` (m³ copies, one vacancy each): no seams, δ equal to the small cell's."""
    small, _ = check_grids("small", small)
    return np.tile(small[np.asarray(index)], (1, m, m, m))
