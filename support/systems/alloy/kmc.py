r"""Vacancy kinetic Monte Carlo (BKL / n-fold way) of NbMoTa, batched over independent systems
(as paper 2's official code, ``NbMoTa_Alloy/``, runs it).

Every vacancy v has 8 hops k with barriers E_vk from :class:`~.barriers.BarrierNetwork` and rates::

    r_vk = ν exp(−E_vk / k_B T),   ν = 1e13 s⁻¹,   k_B = 8.617333e-5 eV/K,   R = Σ_vk r_vk.

One step: event (v, k) with probability r_vk / R (first event whose cumulative sum reaches u₁ R,
events ordered vacancy-major, then k), waiting time Δt = −ln(u₂) / R (exact, exponential) or the
mean 1/R (``waiting="mean"``, the official partial evolution), then the vacancy and the atom swap.
Only the barriers of vacancies whose crop contains a changed site are recomputed (periodic
Chebyshev distance ≤ 5 voxels from the new vacancy site).

**Patch evolution with a frozen halo** (the book's boundary rule, as for the spin lattices): only
one chosen vacancy moves, its hops must land inside a box of ``side`` voxels (others have rate 0),
and the barrier network sees the true, frozen surroundings outside the box. The official code
instead cuts the 16³ patch out and evolves it *periodically inside the patch* (the crop then wraps
around the patch and sees atoms from its other side).

Arrays are numpy; ``grids`` are modified in place by :func:`step`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .barriers import BarrierNetwork, default_network
from .lattice import HOPS, check_grids, vacancies

NU = 1e13                  # s⁻¹
K_B = 8.617333e-5          # eV/K
NEAR = 5                   # voxels: a vacancy this close to a changed site gets new barriers


def check_temperature(T) -> np.ndarray:
    t = np.asarray(T, dtype=np.float64)
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError(f"temperatures must be positive and finite, got {T}")
    return t


def hop_rates(barriers: np.ndarray, T) -> np.ndarray:
    """r = ν exp(−E_b / k_B T) (s⁻¹); ``T`` broadcasts against the leading axis of ``barriers``."""
    t = check_temperature(T)
    t = t.reshape(t.shape + (1,) * (barriers.ndim - t.ndim)) if t.ndim else t
    return NU * np.exp(-barriers / (K_B * t))


@dataclass
class KMCState:
    """A batch of systems: ``grids [B, G, G, G]``, ``vac [B, V, 3]``, ``barriers [B, V, 8]``,
    elapsed ``time [B]`` (s), ``hops [B]``, per-system temperature ``T [B]`` (K)."""

    grids: np.ndarray
    vac: np.ndarray
    barriers: np.ndarray
    T: np.ndarray
    time: np.ndarray = field(default=None)
    hops: np.ndarray = field(default=None)
    mobile: np.ndarray | None = None          # [B, V] bool: vacancies allowed to hop
    box_lo: np.ndarray | None = None          # [B, 3]: frozen-halo box origin (voxels)
    box_side: int | None = None

    def __post_init__(self) -> None:
        B = self.grids.shape[0]
        self.time = np.zeros(B) if self.time is None else self.time
        self.hops = np.zeros(B, dtype=np.int64) if self.hops is None else self.hops

    @property
    def size(self) -> int:
        return self.grids.shape[1]


def init_state(grids, T, net: BarrierNetwork | None = None, *, mobile=None, box_lo=None,
               box_side: int | None = None, copy: bool = True) -> KMCState:
    """State of a batch (a copy of ``grids`` unless ``copy=False``); ``T`` scalar or ``[B]``.

    ``mobile [B, V]`` (vacancies in C order) and ``box_lo [B, 3]`` + ``box_side`` set up a
    frozen-halo patch evolution (see the module doc)."""
    x, _ = check_grids("grids", grids)
    x = x.copy() if copy else x
    B = x.shape[0]
    T = np.broadcast_to(check_temperature(T), (B,)).astype(np.float64)
    net = net or default_network()
    vac = vacancies(x)
    V = vac.shape[1]
    mob = np.ones((B, V), bool) if mobile is None else np.asarray(mobile, bool)
    if mob.shape != (B, V):
        raise ValueError(f"mobile must be [{B}, {V}], got {list(mob.shape)}")
    if (box_lo is None) != (box_side is None):
        raise ValueError("give both box_lo and box_side, or neither")
    if box_side is not None and not 3 <= int(box_side) <= x.shape[1]:
        raise ValueError(f"box_side must be in [3, {x.shape[1]}], got {box_side}")
    bar = np.full((B, V, 8), np.inf)
    b_idx, v_idx = np.nonzero(mob)
    bar[b_idx, v_idx] = net.hop_barriers(x, b_idx, vac[b_idx, v_idx])
    lo = None if box_lo is None else np.asarray(box_lo, dtype=np.int64) % x.shape[1]
    return KMCState(x, vac, bar, T, mobile=mob, box_lo=lo, box_side=None if box_side is None else int(box_side))


def event_rates(state: KMCState) -> np.ndarray:
    """``[B, V, 8]`` rates of every event now (0 for frozen vacancies and hops out of the box)."""
    r = hop_rates(state.barriers, state.T)
    r = np.where(state.mobile[..., None], r, 0.0)
    if state.box_lo is not None:
        tgt = (state.vac[:, :, None, :] + HOPS - state.box_lo[:, None, None, :]) % state.size
        r = np.where((tgt < state.box_side).all(-1), r, 0.0)
    return r


def draw(state: KMCState, rng, *, waiting: str = "exponential") -> tuple[np.ndarray, np.ndarray]:
    """The next event ``[B]`` (index v·8 + k) and waiting time ``[B]`` of every system. Draws u₁
    (event) then u₂ (time), one of each per system, from ``rng.random``:
    event = first (v, k) whose cumulative rate reaches u₁ R; Δt = −ln(u₂)/R or 1/R."""
    if waiting not in ("exponential", "mean"):
        raise ValueError(f"waiting must be 'exponential' or 'mean', got {waiting!r}")
    B, V = state.vac.shape[:2]
    r = event_rates(state).reshape(B, V * 8)
    R = r.sum(1)
    if np.any(R <= 0) or not np.all(np.isfinite(R)):
        raise RuntimeError("a system has no possible hop (total rate 0)")
    u1, u2 = rng.random(B), rng.random(B)
    cum = np.cumsum(r, axis=1)
    choice = np.minimum((cum < (u1 * R)[:, None]).sum(1), V * 8 - 1)
    dt = -np.log(np.maximum(u2, 1e-300)) / R if waiting == "exponential" else 1.0 / R
    return choice, dt


def apply(state: KMCState, choice: np.ndarray, dt: np.ndarray, net: BarrierNetwork | None = None,
          active: np.ndarray | None = None) -> None:
    """Carry out event ``choice[b]`` after ``dt[b]`` in every ``active`` system: swap the vacancy
    and the atom, advance the clock, refresh the barriers of the vacancies near the change."""
    net = net or default_network()
    B = state.vac.shape[0]
    act = np.arange(B) if active is None else np.nonzero(active)[0]
    if len(act) == 0:
        return
    v, k = choice[act] // 8, choice[act] % 8
    g = state.size
    old = state.vac[act, v]
    new = (old + HOPS[k]) % g
    grids = state.grids
    grids[act, old[:, 0], old[:, 1], old[:, 2]] = grids[act, new[:, 0], new[:, 1], new[:, 2]]
    grids[act, new[:, 0], new[:, 1], new[:, 2]] = 0
    state.vac[act, v] = new
    d = np.abs(state.vac[act] - new[:, None, :])
    d = np.minimum(d, g - d).max(-1)                                  # [A, V] Chebyshev
    a_idx, v_idx = np.nonzero((d <= NEAR) & state.mobile[act])
    b_idx = act[a_idx]
    state.barriers[b_idx, v_idx] = net.hop_barriers(grids, b_idx, state.vac[b_idx, v_idx])
    state.time[act] += dt[act]
    state.hops[act] += 1


def step(state: KMCState, rng, net: BarrierNetwork | None = None, *, waiting: str = "exponential",
         active: np.ndarray | None = None) -> np.ndarray:
    """One BKL hop in every (``active``) system (:func:`draw` then :func:`apply`); returns the
    waiting times ``[B]`` (0 where inactive)."""
    choice, dt = draw(state, rng, waiting=waiting)
    apply(state, choice, dt, net, active)
    return dt if active is None else np.where(active, dt, 0.0)
