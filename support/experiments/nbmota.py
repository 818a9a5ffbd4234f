r"""Paper 2: the SRO dynamics of an 8192-site NbMoTa cell, learned from small patches.

Microscopic model (:mod:`support.systems.alloy`): vacancy-hop kinetic Monte Carlo on a bcc lattice,
barriers from the NNK network shipped with the package, rates ν exp(−E_b/k_BT), exact BKL waiting
times. Observable: the 6 first-shell SRO parameters δ (no closure, d = 6).

1. **Small cells**: ``small_seeds`` 1024-site cells (one vacancy) per temperature, from random
   solid solutions, recorded at ``n_records + 1`` equally spaced physical times up to
   ``horizon_hops`` mean hops (a pilot run fixes the hop time τ₀(T) of the horizon). The mean
   waiting time per hop of these runs, τ(T), is the time unit: s = t / (``time_unit_hops`` · τ(T)),
   the same in the small and the large cell (one vacancy per 1024 sites).
2. **Large snapshots**: ``upsampling="replicate"`` (default): the periodic 2×2×2 replication of one
   small snapshot (random record, random seed) — seamless, δ equal to the small cell's.
   ``"tile"`` (the official recipe): 2×2×2 tiles of different small snapshots from a window of
   ± ``frame_window`` records, each rolled by a random even shift, recoloured to exact
   equimolarity, then ``relax_hops`` exact KMC hops of the whole cell. Its seams (18 % of the
   ≈ 32,800 bonds cross one) are random bonds; 56 hops change at most ≈ 800 bonds, so they
   cannot heal them, and seam healing enters the pairs' drift (no saved run of this option).
3. **Partial evolution**: one random vacancy of each snapshot (one of K = 8, one per 1024 sites)
   hops ``partial_hops`` times, everything else frozen (frozen halo), its hops confined to the box
   of ``patch_side`` voxels centred on its start (default: the whole cell; 16 = its own 1024-site
   patch, whose walls a 124-hop walk reaches — rms ≈ 11 voxels per axis; no saved run of this
   option); δt = Σ 1/R. Target ẑ₁ = z₀ + K (δ_after − δ_before) with z₀ = δ of the
   whole cell (λ = K).
4. **SDE** on (δ, T): drift MLP and a full state- and T-dependent σ (Cholesky), trained by L_p.
5. **Test** at ``truth_T``: ``truth_replicas`` direct KMC runs of the 8192-site cell from random
   solid solutions against SDE paths from the same δ(0); the 1024-site runs at that T give the
   small cell's spread (√K = √8 times the large cell's); stationary δ(T) of the SDE against the
   paper's published values.

Deliberate differences from the official code (said in the chapter): frozen halo instead of a
patch made periodic by itself (with the default box, the vacancy is not confined); replication instead of tiling (see 2.); z₀ is δ of the whole cell
(official: the mean of the 8 tiles' δ, each periodic inside its tile); an MLP drift instead of the
S-OnsagerNet; the time unit is the measured mean hop time of the small cells.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace, dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from tqdm.auto import tqdm

from ..budget import ForceBudget, stage_budgets, stage_costs
from ..claims import UNDECIDED, ClaimSet
from ..paper_numbers import paper2 as paper_numbers
from ..plotting import figure, method_colour
from ..results import ExperimentResult
from ..stochastic.conditioned import conditioned_sde
from ..stochastic.partial_evolution import evolve_random_patches
from ..stochastic.study import SDESettings, fit_sde, mean_trajectory_error, pairs_from_patches, rollouts
from ..stochastic.upsampling import upsample_hierarchically
from ..systems.alloy import evolution as E
from ..systems.alloy import lattice as L
from ..systems.alloy.barriers import (REFERENCE_CROPS, REFERENCE_PURE, REFERENCE_RANDOM, default_network,
                                      sphere_sites)
from ..systems.alloy.kmc import init_state, step
from ..systems.alloy.sro import SRO_NAMES
from ..uncertainty import Estimate, above, all_of, below, within
from .config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, ExperimentConfig, Limit, each, resolve
from .nbmota_results import NbMoTaResult, typed

VERSION = 2                 # 2: the moving vacancy roams the whole frozen cell (patch_side 32, was 16)
MOTA = (3, 4, 5)          # MoMo, MoTa, TaTa: the strongly ordering components


@dataclass
class Config(ExperimentConfig):
    small_cells: int = 8                       # 8³ cells = 1024 sites, one vacancy
    large_cells: int = 16                      # 16³ cells = 8192 sites, 8 vacancies (K = 8)
    temperatures: tuple[float, ...] = (2000.0, 2500.0, 3000.0)
    small_seeds: int = 12                      # official: 10 per T
    horizon_hops: int = 20_000                 # small runs; official: 2e6 hops (T ≥ 1400 K)
    record_hops: int = 500                     # record interval; official: 1000 hops
    pilot_hops: int = 200
    time_unit_hops: int = 10_000               # s = t / (time_unit_hops · τ(T))
    pairs_per_T: int = 1500                    # official: 2000 × 10 seeds
    upsampling: str = "replicate"              # or "tile" (official: tiles of different snapshots)
    frame_window: int = 2                      # "tile": ± records pooled for a tile (official ± 10 of 2000)
    relax_hops: int = 56                       # "tile": whole-cell hops at the seams (official 8 × 7)
    partial_hops: int = 124
    patch_side: int = 32                       # box (voxels) the moving vacancy may visit: 32 = the whole
                                               # cell; 16 = its own 1024-site patch (slows ordering)
    sde_hidden: tuple[int, ...] = (64, 64)
    sde_steps: int = 2000
    sde_lr: float = 3e-3
    sde_batch: int = 512
    truth_T: float = 2000.0
    truth_replicas: int = 12
    truth_hops: int = 6000                     # per vacancy (a multiple of record_hops)
    rollout_paths: int = 200
    substeps: int = 5                          # SDE steps per record interval
    stationary_from: float = 0.5               # fraction of the horizon counted as stationary
    stationary_paths: int = 100                # SDE paths from δ = 0 per T for the stationary δ(T)
    stationary_max_hops: int = 200_000         # their span: min(3 · horizon_hops, this) mean hops
    batch: int = 64                            # cells per batched KMC call

    PRESETS: ClassVar = {
        "quick": {},
        "paper": dict(temperatures=(1600.0, 1800.0, 2000.0, 2200.0, 2400.0, 2600.0, 2800.0, 3000.0),
                      small_seeds=10, horizon_hops=2_000_000, record_hops=1000, pairs_per_T=20_000,
                      frame_window=10, sde_steps=20_000, truth_replicas=100, truth_hops=100_000,
                      rollout_paths=1000)}

    LIMITS: ClassVar = {"small_cells": Limit(lo=2), "large_cells": Limit(lo=2), "temperatures": each(POSITIVE),
                        "small_seeds": AT_LEAST_ONE, "horizon_hops": AT_LEAST_ONE, "record_hops": AT_LEAST_ONE,
                        "pilot_hops": AT_LEAST_ONE, "time_unit_hops": AT_LEAST_ONE, "pairs_per_T": AT_LEAST_ONE,
                        "frame_window": NON_NEGATIVE, "relax_hops": NON_NEGATIVE, "partial_hops": AT_LEAST_ONE,
                        "patch_side": AT_LEAST_ONE, "sde_hidden": each(AT_LEAST_ONE), "sde_steps": AT_LEAST_ONE,
                        "sde_lr": POSITIVE, "sde_batch": AT_LEAST_ONE, "truth_T": POSITIVE,
                        "truth_replicas": AT_LEAST_ONE, "truth_hops": AT_LEAST_ONE, "rollout_paths": Limit(lo=2),
                        "substeps": AT_LEAST_ONE, "stationary_from": Limit(lo=0, hi=1, hi_open=True),
                        "stationary_paths": AT_LEAST_ONE, "stationary_max_hops": AT_LEAST_ONE, "batch": AT_LEAST_ONE}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.truth_T not in self.temperatures:
            raise ValueError(f"truth_T = {self.truth_T} must be one of the temperatures {self.temperatures}")
        if len(self.temperatures) < 2:
            raise ValueError("the SDE takes T as an input: give at least two temperatures")
        if self.large_cells % self.small_cells:
            raise ValueError("large_cells must be a multiple of small_cells")
        if self.horizon_hops % self.record_hops or self.truth_hops % self.record_hops \
                or self.truth_hops > self.horizon_hops:
            raise ValueError("horizon_hops and truth_hops must be multiples of record_hops, truth_hops <= horizon_hops")
        if not 3 <= self.patch_side <= 2 * self.large_cells:
            raise ValueError(f"patch_side must be in [3, 2·large_cells = {2 * self.large_cells}] voxels "
                             f"(the box the moving vacancy may visit), got {self.patch_side}")
        if self.partial_hops < 4:
            raise ValueError(f"partial_hops must be >= 4 (the increments' variance is read after "
                             f"partial_hops // 4 and // 2 hops), got {self.partial_hops}")
        if self.stationary_paths < 2 or self.stationary_max_hops < 1:
            raise ValueError("stationary_paths must be >= 2 and stationary_max_hops >= 1")
        if self.rollout_paths < self.truth_replicas:
            raise ValueError(f"rollout_paths ({self.rollout_paths}) must be >= truth_replicas "
                             f"({self.truth_replicas}): every direct run starts at least one SDE path")
        if self.upsampling not in ("replicate", "tile"):
            raise ValueError(f"upsampling must be 'replicate' or 'tile', got {self.upsampling!r}")

    @property
    def n_records(self) -> int:
        return self.horizon_hops // self.record_hops

    @property
    def truth_records(self) -> int:
        return self.truth_hops // self.record_hops

    @property
    def K(self) -> int:
        return (self.large_cells // self.small_cells) ** 3


# ------------------------------------------------------------------------------------ data
def _batched(fn, n: int, size: int) -> list:
    """``[fn(start, count)]`` over consecutive batches of at most ``size`` of ``n`` items."""
    return [fn(i, min(size, n - i)) for i in range(0, n, size)]


def pilot_hop_time(cfg: Config, T: float, rng: np.random.Generator) -> float:
    """τ₀(T): mean waiting time per hop of a short run from random solid solutions (sets horizons)."""
    net = default_network()
    state = init_state(L.random_alloys(cfg.small_cells, 16, rng), T, net)
    for _ in range(cfg.pilot_hops):
        step(state, rng, net)
    return float(state.time.mean() / cfg.pilot_hops)


@dataclass(frozen=True, eq=False)
class SmallRuns:
    """The recorded 1024-site runs at one temperature: δ ``[seeds, n_rec + 1, 6]``, the snapshots
    ``[seeds, n_rec + 1, G, G, G]``, the mean waiting time per hop τ(T) (s), the hops of every run and
    the recorded times (s)."""

    delta: np.ndarray
    snapshots: np.ndarray
    tau: float
    hops: np.ndarray
    times: np.ndarray


def small_runs(cfg: Config, T: float, horizon: float, rng: np.random.Generator, progress: bool) -> SmallRuns:
    """Recorded 1024-site runs at T: δ [seeds, n_rec+1, 6], snapshots, mean hop time τ(T)."""
    times = np.linspace(0.0, horizon, cfg.n_records + 1)
    parts = _batched(lambda i, n: E.simulate(L.random_alloys(cfg.small_cells, n, rng), T, times, rng,
                                             snapshots=True, progress=progress, desc=f"1024 sites, {T:.0f} K"),
                     cfg.small_seeds, cfg.batch)
    hops = np.concatenate([p["hops"] for p in parts])
    tau = float(sum(p["mean_wait"] * p["hops"].sum() for p in parts) / hops.sum())
    return SmallRuns(np.concatenate([p["delta"] for p in parts]), np.concatenate([p["snapshots"] for p in parts]),
                     tau, hops, times)


def training_pairs(cfg: Config, T: float, small: SmallRuns, rng: np.random.Generator, progress: bool,
                   budgets: dict[str, ForceBudget] | None = None) -> dict:
    """8192-site snapshots from the small runs (replicated, or tiled and relaxed) and their
    partial evolution at T (the hops charged to ``budgets["relax"]`` and
    ``budgets["partial_evolution"]`` when given)."""
    budgets = budgets or {}
    snaps = small.snapshots                            # [seeds, n_rec+1, G, G, G]
    n_seeds, n_rec = snaps.shape[:2]
    flat = snaps.reshape(-1, *snaps.shape[2:])
    m = cfg.large_cells // cfg.small_cells
    out = {"z0": [], "before": [], "after": [], "dt": [], "var_rate": []}
    marks = (cfg.partial_hops // 4, cfg.partial_hops // 2)
    for i in tqdm(range(0, cfg.pairs_per_T, cfg.batch), desc=f"pairs, {T:.0f} K", disable=not progress,
                  leave=False):
        n = min(cfg.batch, cfg.pairs_per_T - i)
        f = rng.integers(0, n_rec, size=n)
        pools = []
        for fi in f:
            frames = np.arange(max(fi - cfg.frame_window, 0), min(fi + cfg.frame_window, n_rec - 1) + 1)
            pools.append((np.arange(n_seeds)[:, None] * n_rec + frames[None]).ravel())
        hooks = E.AlloyDynamics(T, cfg.partial_hops, cfg.patch_side, m, cfg.upsampling, cfg.relax_hops,
                                n_out=n, pool=pools, checkpoints=marks)
        small_set = flat[f + n_rec * rng.integers(0, n_seeds, size=n)] if cfg.upsampling == "replicate" else flat
        big, _ = upsample_hierarchically(replace(hooks, budget=budgets.get("relax")), small_set, 1, rng)
        ev = evolve_random_patches(replace(hooks, budget=budgets.get("partial_evolution")), big, rng)
        p = {"before": ev.info.before, "after": ev.patches, "dt": ev.info.dt, "checkpoints": ev.info.checkpoints}
        for key, val in (("z0", p["before"]), ("before", p["before"]), ("after", p["after"]), ("dt", p["dt"])):
            out[key].append(val)
        # Σ over pairs of (KΔδ)² and of the elapsed time after n hops, n = marks + (partial_hops,)
        ends = [*(p["checkpoints"][h] for h in marks), (p["after"], p["dt"])]
        out["var_rate"].append(np.array([[((cfg.K * (d - p["before"])) ** 2).sum(0).mean(), t.sum()]
                                         for d, t in ends]))
    res = {k: np.concatenate(v) for k, v in out.items() if k != "var_rate"}
    vr = np.sum(out["var_rate"], axis=0)                     # [3, 2]
    # per batch of pairs (independent units for the interval of the ratio): [batches, 3, 2]
    res["var_rate"] = {"hops": [*marks, cfg.partial_hops], "per_time": (vr[:, 0] / vr[:, 1]).tolist(),
                       "batches": np.asarray(out["var_rate"])}
    return res


def truth_runs(cfg: Config, T: float, horizon: float, rng: np.random.Generator, progress: bool) -> dict:
    """Direct KMC of the 8192-site cell (K vacancies) from random solid solutions at T, recorded
    at the small runs' first ``truth_records + 1`` times."""
    times = np.linspace(0.0, horizon, cfg.n_records + 1)[:cfg.truth_records + 1]
    size = max(cfg.batch // cfg.K, 32)        # every cell makes one hop per step: batch them all
    parts = _batched(lambda i, n: E.simulate(L.random_alloys(cfg.large_cells, n, rng, n_vacancies=cfg.K), T,
                                             times, rng, progress=progress, desc=f"8192 sites, {T:.0f} K"),
                     cfg.truth_replicas, size)
    return {"delta": np.concatenate([p["delta"] for p in parts]),
            "hops": np.concatenate([p["hops"] for p in parts])}


# ------------------------------------------------------------------------------------ model
def fit_model(cfg: Config, pairs, seed: int):
    """The temperature-conditioned SDE on (δ, T/1000), fitted by L_p with λ = K (cosine schedule)."""
    settings = SDESettings(hidden=cfg.sde_hidden, steps=cfg.sde_steps, batch_size=cfg.sde_batch, lr=cfg.sde_lr)
    return fit_sde(pairs, float(cfg.K), settings, seed, model=lambda: conditioned_sde(6, 1, cfg.sde_hidden))


def _with_T(z: np.ndarray, T) -> np.ndarray:
    return np.concatenate([z, np.broadcast_to(np.asarray(T, float)[..., None] / 1000.0, z.shape[:-1] + (1,))],
                          axis=-1)


# ------------------------------------------------------------------------------------ study
def barrier_statistics() -> dict:
    """Barriers (eV) of the weights' README reference crops: 2000 random equimolar crops drawn with
    the README's fixed generator (not the run's seed: the README's mean and std are of those very
    crops), the pure-element crops and the two single random crops (largest error against the README)."""
    net = default_network()
    crops = REFERENCE_CROPS
    codes = np.random.default_rng(crops["seed"]).integers(1, 4, size=(crops["n"], 112))
    e = net.energy_from_sites(codes).astype(float)
    pure = {s: float(net.energy_from_sites(np.full(112, i + 1))) for i, s in enumerate(L.SPECIES)}
    errors = [abs(pure[s] - REFERENCE_PURE[i + 1]) for i, s in enumerate(L.SPECIES)]
    errors += [abs(float(net.energy_from_sites(np.random.default_rng(s).integers(1, 4, size=112))) - ref)
               for s, ref in REFERENCE_RANDOM.items()]
    return {"random": e, "mean": float(e.mean()), "std": float(e.std()), "pure": pure,
            "reference_error": float(max(errors))}


def run(cfg: Config | None = None, *, scale: str | None = None, seed: int = 0,
        progress: bool = True) -> ExperimentResult:
    cfg = resolve(Config, cfg, scale)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    timings = {}
    horizons, small, pairs, costs = {}, {}, [], {}
    for T in tqdm(cfg.temperatures, desc="temperatures", disable=not progress):
        t1 = time.perf_counter()
        tau0 = pilot_hop_time(cfg, T, rng)
        horizons[T] = cfg.horizon_hops * tau0
        small[T] = small_runs(cfg, T, horizons[T], rng, progress)
        t2 = time.perf_counter()
        budgets = stage_budgets(("relax", "partial_evolution"))
        p = training_pairs(cfg, T, small[T], rng, progress, budgets)
        costs[T] = {"small_system": int(small[T].hops.sum()), **stage_costs(budgets)}
        costs[T]["total"] += costs[T]["small_system"]
        unit = cfg.time_unit_hops * small[T].tau
        pairs.append((p, unit, T))
        timings[T] = {"small_s": t2 - t1, "pairs_s": time.perf_counter() - t2}
    z0 = np.concatenate([_with_T(p["z0"], T) for p, _, T in pairs])
    zb = np.concatenate([np.pad(cfg.K * p["before"], ((0, 0), (0, 1))) for p, _, _ in pairs])
    za = np.concatenate([np.pad(cfg.K * p["after"], ((0, 0), (0, 1))) for p, _, _ in pairs])
    dts = np.concatenate([p["dt"] / unit for p, unit, _ in pairs])
    train_pairs = pairs_from_patches(z0, zb, za, dts, cfg.K)["partial"]
    t3 = time.perf_counter()
    model = fit_model(cfg, train_pairs, seed)
    t_fit = time.perf_counter() - t3

    # test at truth_T: direct 8192-site KMC against SDE paths from the same starts
    T = cfg.truth_T
    t4 = time.perf_counter()
    truth = truth_runs(cfg, T, horizons[T], rng, progress)
    t_truth = time.perf_counter() - t4
    unit_T = cfg.time_unit_hops * small[T].tau
    s_rec = np.linspace(0.0, horizons[T], cfg.n_records + 1)[:cfg.truth_records + 1] / unit_T
    dt = float(s_rec[1] / cfg.substeps)
    starts = truth["delta"][:, 0]
    pick = np.resize(np.arange(len(starts)), cfg.rollout_paths)
    pred = rollouts(model, torch.tensor(_with_T(starts[pick], T)), dt, cfg.truth_records * cfg.substeps,
                    seed=seed, record_every=cfg.substeps)[..., :6].numpy()
    late = int(round(cfg.stationary_from * cfg.truth_records))
    small_T = small[T].delta[:, :cfg.truth_records + 1]
    # the SDE paths grouped by the direct run they start from (units of the paired bootstrap)
    groups = [pred[pick == r] for r in range(len(starts))]
    std = {"kmc_1024": small_T.std(0, ddof=1), "kmc_8192": truth["delta"].std(0, ddof=1),
           "sde_8192": pred.std(0, ddof=1)}
    late_std = {k: v[late:].mean(0) for k, v in std.items()}

    # stationary δ(T) of the SDE: long paths from δ = 0 at every trained and tabulated T
    T_grid = sorted(set(cfg.temperatures) | {t for t in paper_numbers.NBMOTA["sro_predicted"]
                                            if min(cfg.temperatures) <= t <= max(cfg.temperatures)})
    stationary, stationary_per_path = {}, {}
    for Tq in T_grid:
        span = min(3 * cfg.horizon_hops, cfg.stationary_max_hops) / cfg.time_unit_hops
        n = int(np.ceil(span / dt))
        z = rollouts(model, torch.tensor(_with_T(np.zeros((cfg.stationary_paths, 6)), Tq)), dt, n, seed=seed,
                     record_every=max(1, n // 60))[..., :6].numpy()
        stationary_per_path[Tq] = z[:, z.shape[1] // 2:].mean(axis=1)          # [paths, 6]
        stationary[Tq] = stationary_per_path[Tq].mean(0)
    late_small = int(round(cfg.stationary_from * cfg.n_records))
    small_late = {T_: small[T_].delta[:, late_small:].mean(axis=(0, 1)) for T_ in cfg.temperatures}

    metrics = NbMoTaResult(**{
        "barriers": barrier_statistics(),
        "tau": {T_: small[T_].tau for T_ in cfg.temperatures},
        "horizon_s": horizons, "timings": timings, "fit_s": t_fit, "truth_s": t_truth,
        "simulation_cost": costs,                  # KMC hops per T and stage (the training data's cost)
        "small_mean": {T_: small[T_].delta.mean(0) for T_ in cfg.temperatures},
        "small_std": {T_: small[T_].delta.std(0, ddof=1) for T_ in cfg.temperatures},
        "small_late": small_late, "small_hops_mean": {T_: float(small[T_].hops.mean()) for T_ in cfg.temperatures},
        "n_pairs": len(z0), "pair_dt_mean": float(dts.mean()),
        "increment_variance": {T_: p["var_rate"] for p, _, T_ in pairs},
        "pair_increment_std": np.concatenate([cfg.K * (p["after"] - p["before"]) for p, _, _ in pairs]).std(0),
        "s": s_rec, "hops_per_vacancy": s_rec * cfg.time_unit_hops,
        "truth_mean": truth["delta"].mean(0), "truth_std": std["kmc_8192"],
        "pred_mean": pred.mean(0), "pred_std": std["sde_8192"], "small_T_std": std["kmc_1024"],
        "small_T_mean": small_T.mean(0),
        "late_std": late_std,
        "std_ratio_sde": float(np.mean(late_std["sde_8192"] / late_std["kmc_8192"])),
        "std_ratio_sde_per": late_std["sde_8192"] / late_std["kmc_8192"],
        "sqrtK_kmc": float(np.mean(late_std["kmc_1024"] / late_std["kmc_8192"])),
        "sqrtK_sde": float(np.mean(late_std["kmc_1024"] / late_std["sde_8192"])),
        "mean_error": mean_trajectory_error(pred, truth["delta"]),
        "final_mean_gap": np.abs(pred[:, late:].mean((0, 1)) - truth["delta"][:, late:].mean((0, 1))),
        "truth_late": truth["delta"][:, late:].mean((0, 1)), "pred_late": pred[:, late:].mean((0, 1)),
        "stationary": stationary,
        "truth_hops_per_vacancy": float(truth["hops"].mean() / cfg.K),
        # per unit, for the claims' intervals: late δ per 1024-site run at every T; the test window's
        # trajectories per direct 8192-site run and per 1024-site run at truth_T; the SDE paths'
        # first two moments per start (direct run); stationary δ per SDE path
        "small_late_seeds": {T_: small[T_].delta[:, late_small:].mean(1) for T_ in cfg.temperatures},
        "truth_paths": truth["delta"], "small_T_paths": small_T, "late_from": late,
        "pred_group_n": np.array([len(g) for g in groups]),
        "pred_group_mean": np.stack([g.mean(0) for g in groups]),
        "pred_group_sq": np.stack([(g ** 2).mean(0) for g in groups]),
        "stationary_per_path": stationary_per_path,
    }).to_json()
    return ExperimentResult.of(cfg, name="nbmota", version=VERSION, seed=seed, metrics=metrics,
                               comparison=_comparison(cfg, metrics), figures=_figures(cfg, metrics),
                               started=t0, threads=1)


# ------------------------------------------------------------------------------------ reporting
def _vec(v) -> str:
    return "(" + ", ".join(f"{x:+.3f}" for x in np.asarray(v)) + ")"


def _comparison(cfg: Config, metrics: dict) -> list[dict]:
    m = typed(metrics)
    ref = paper_numbers.NBMOTA
    rows = [{"quantity": "barriers of 2000 random crops: mean (eV)", "measured": m.barriers.mean,
             "paper": REFERENCE_CROPS["mean"], "note": "computed with the official code"},
            {"quantity": "barriers of 2000 random crops: std (eV)", "measured": m.barriers.std,
             "paper": REFERENCE_CROPS["std"], "note": "computed with the official code"}]
    if 2000.0 in m.tau:
        rows.append({"quantity": "mean waiting time per hop at 2000 K, 1024 sites (s)",
                     "measured": m.tau[2000.0], "paper": ref["mean_wait_2000"],
                     "note": "paper: hops 10k–100k; here from the random start"})
    for T, vals in ref["sro_predicted"].items():
        if T in m.stationary:
            rows.append({"quantity": f"stationary δ_MoMo / δ_MoTa / δ_TaTa at {T} K (SDE)",
                         "measured": " / ".join(f"{m.stationary[T][i]:.2f}" for i in MOTA),
                         "paper": " / ".join(f"{vals[i]:.2f}" for i in MOTA), "note": "paper: published S-OnsagerNet"})
        if T in m.small_late:
            rows.append({"quantity": f"late δ_MoMo / δ_MoTa / δ_TaTa at {T} K (1024-site KMC)",
                         "measured": " / ".join(f"{m.small_late[T][i]:.2f}" for i in MOTA),
                         "paper": " / ".join(f"{vals[i]:.2f}" for i in MOTA),
                         "note": f"average over the second half of {cfg.horizon_hops:,} hops"})
    rows.append({"quantity": f"std of δ, 1024 / 8192 sites (KMC, {cfg.truth_T:.0f} K)", "measured": m.sqrtK_kmc,
                 "predicted": np.sqrt(cfg.K), "note": "√K"})
    rows.append({"quantity": "std of δ: SDE / 8192-site KMC", "measured": m.std_ratio_sde, "predicted": 1.0,
                 "note": "second half of the horizon, mean of 6 components"})
    rows.append({"quantity": "error of the SDE's mean trajectory (official metric)", "measured": m.mean_error,
                 "note": "vs direct 8192-site KMC"})
    return rows


def _figures(cfg: Config, metrics: dict) -> dict:
    """The figures of a run from its config and metrics alone (a saved run's too)."""
    m = typed(metrics)
    figs = {}
    # microscopic picture: the 7.5 Å sphere around a vacancy and one hop; barrier histogram
    fig = figure(1, 1, width=4.2, height=3.6)[0]
    fig.clf()
    ax = fig.add_subplot(1, 2, 1, projection="3d")
    s = sphere_sites()
    codes = np.random.default_rng(0).integers(1, 4, size=len(s))
    near = (np.abs(s) <= 2).all(1)
    colours = {1: "tab:blue", 2: "tab:red", 3: "tab:green"}
    for c, name in zip((1, 2, 3), L.SPECIES):
        sel = near & (codes == c)
        ax.scatter(*(s[sel] * L.VOXEL).T, s=60, color=colours[c], label=name, depthshade=False)
    ax.scatter(0, 0, 0, s=80, facecolor="white", edgecolor="k", label="vacancy")
    ax.quiver(L.VOXEL, L.VOXEL, L.VOXEL, -L.VOXEL * 0.8, -L.VOXEL * 0.8, -L.VOXEL * 0.8, color="k", lw=2)
    ax.set(title="a hop (+[111] neighbour → vacancy)", xticks=[], yticks=[], zticks=[])
    ax.legend(fontsize=6, loc="upper left")
    ax2 = fig.add_subplot(1, 2, 2)
    ax2.hist(m.barriers.random, bins=40, color="0.6")
    for (name, e), c in zip(m.barriers.pure.items(), ("tab:blue", "tab:red", "tab:green")):
        ax2.axvline(e, color=c, lw=1.5, label=f"pure {name}: {e:.2f} eV")
    ax2.set(xlabel="barrier E_b (eV)", ylabel="random crops", title="2000 random equimolar crops")
    ax2.legend(fontsize=7)
    fig.set_size_inches(8.4, 3.6)
    fig.tight_layout()
    figs["microscopic"] = fig

    # SRO trajectories of the 1024-site cell at every T
    fig, axes = figure(3, 2, width=3.0, height=2.4, sharex=True)
    hops = np.linspace(0, cfg.horizon_hops, cfg.n_records + 1)
    for j, name in enumerate(SRO_NAMES):
        ax = axes.flat[j]
        for i, T in enumerate(cfg.temperatures):
            mu, sd = m.small_mean[T][:, j], m.small_std[T][:, j]
            ax.plot(hops, mu, color=method_colour("", i), label=f"{T:.0f} K")
            ax.fill_between(hops, mu - sd, mu + sd, color=method_colour("", i), alpha=0.15, lw=0)
            ref = paper_numbers.NBMOTA["sro_predicted"].get(int(T))
            if ref is not None:
                ax.axhline(ref[j], color=method_colour("", i), ls="--", lw=0.8)
        ax.set(title=f"δ {name}", xlabel="hops (mean, per vacancy)" if j >= 3 else None)
    axes.flat[0].legend(fontsize=7)
    figs["sro_trajectories"] = fig

    # SDE against direct KMC of the 8192-site cell
    fig, axes = figure(3, 2, width=3.0, height=2.4, sharex=True)
    h = m.hops_per_vacancy
    for j, name in enumerate(SRO_NAMES):
        ax = axes.flat[j]
        for mean, std, colour, label in ((m.truth_mean, m.truth_std, "0.3", "KMC, 8192 sites"),
                                         (m.pred_mean, m.pred_std, "C0", "SDE, 8192 sites"),
                                         (m.small_T_mean, m.small_T_std, "C3", "KMC, 1024 sites")):
            mu, sd = mean[:, j], std[:, j]
            ax.plot(h, mu, color=colour, label=label, lw=1.2 if colour != "C3" else 0.8)
            ax.fill_between(h, mu - sd, mu + sd, color=colour, alpha=0.2 if colour != "C3" else 0.08, lw=0)
        ax.set(title=f"δ {name}, {cfg.truth_T:.0f} K", xlabel="hops per vacancy" if j >= 3 else None)
    axes.flat[0].legend(fontsize=6)
    figs["sde_vs_kmc"] = fig

    # fluctuations: std over replicas against time, three ensembles
    fig, axes = figure(2, 1, width=4.2, height=3.2)
    for std, colour, label in ((m.small_T_std, "C3", "KMC 1024"), (m.truth_std, "0.3", "KMC 8192"),
                               (m.pred_std, "C0", "SDE 8192")):
        axes[0, 0].plot(h, std.mean(1), color=colour, label=label)
    axes[0, 0].plot(h, m.small_T_std.mean(1) / np.sqrt(cfg.K), "C3:", label="KMC 1024 / √8")
    axes[0, 0].set(xlabel="hops per vacancy", ylabel="std of δ (mean of 6)", yscale="log",
                   title=f"Fluctuations, {cfg.truth_T:.0f} K")
    axes[0, 0].legend(fontsize=7)
    Ts = sorted(m.stationary)
    for j in MOTA:
        axes[0, 1].plot(Ts, [m.stationary[t][j] for t in Ts], "o-",
                        color=method_colour("", j - 3), label=f"SDE {SRO_NAMES[j]}")
        ref = paper_numbers.NBMOTA["sro_predicted"]
        rt = [t for t in sorted(ref) if float(Ts[0]) - 1 <= t <= float(Ts[-1]) + 1]
        axes[0, 1].plot(rt, [ref[t][j] for t in rt], "s--", color=method_colour("", j - 3), mfc="none",
                        label=f"paper {SRO_NAMES[j]}")
    axes[0, 1].set(xlabel="T (K)", ylabel="stationary δ", title="Equilibrium SRO vs T")
    axes[0, 1].legend(fontsize=6)
    figs["fluctuations"] = fig
    return figs


# ------------------------------------------------------------------------------------ claims
CLAIMS = ClaimSet()
BOTH = {"quick": True, "paper": True}
PAPER = {"paper": True}     # stated for the paper scale; the quick run shows the claim without asserting it
#: the stated uncertainty of the official KMC's equilibrium SRO at 2000 K (a run of the official KMC code)
KMC_REF_TOL = 0.03
#: the tolerance on a ratio of spreads (stds) stated in the claims that compare spreads
SPREAD_TOL = 0.25
#: half the last digit of the paper's published SRO values (they are quoted to 0.01)
ROUNDING = 0.005
N_BOOT = 400


#: a run, typed or as its metrics (every function below reads either)
Run = NbMoTaResult | Mapping[str, Any]


def _test_units(m: NbMoTaResult):
    """The test's paired units (one per direct 8192-site run): its δ trajectory, and the number, mean
    and mean square of the SDE paths started from it; and the first recorded time of the late window."""
    return ((np.asarray(m.truth_paths, float), np.asarray(m.pred_group_n, float),
             np.asarray(m.pred_group_mean, float), np.asarray(m.pred_group_sq, float)), m.late_from)


def _sde_moments(n, mean, sq):
    """Pooled mean and std (ddof 1) over the SDE paths of the chosen groups: [time, 6] each."""
    w = n / n.sum()
    mu = np.tensordot(w, mean, axes=1)
    var = (np.tensordot(w, sq, axes=1) - mu ** 2) * n.sum() / max(n.sum() - 1, 1)
    return mu, np.sqrt(np.maximum(var, 0.0))


def _late_gap(late: int, j: int):
    def stat(truth, n, mean, sq):
        return float(_sde_moments(n, mean, sq)[0][late:, j].mean() - truth[:, late:, j].mean())
    return stat


def _std_ratio(late: int):
    def stat(truth, n, mean, sq):
        sde = _sde_moments(n, mean, sq)[1][late:].mean(0)
        with np.errstate(divide="ignore", invalid="ignore"):      # a resample of one run: no spread
            return float(np.mean(sde / truth[:, late:].std(0, ddof=1).mean(0)))
    return stat


def late_gaps(m: Run) -> list[Estimate]:
    """SDE − direct 8192-site KMC, mean over the late half of the test, per component: bootstrap over
    the direct runs, each with the SDE paths started from it."""
    units, late = _test_units(typed(m))
    return [Estimate.bootstrap(units, _late_gap(late, j), n_boot=N_BOOT, what="direct runs with their SDE paths")
            for j in range(6)]


def mean_error_estimate(m: Run) -> Estimate:
    """The official error of the SDE's mean trajectory, bootstrapped like :func:`late_gaps`."""
    units, _ = _test_units(typed(m))
    return Estimate.bootstrap(units, lambda truth, n, mean, sq: mean_trajectory_error(
        _sde_moments(n, mean, sq)[0][None], truth), n_boot=N_BOOT, what="direct runs with their SDE paths")


def std_ratio_estimate(m: Run) -> Estimate:
    """SDE / direct 8192-site KMC std over paths (late half of the test, mean of 6 components)."""
    units, late = _test_units(typed(m))
    return Estimate.bootstrap(units, _std_ratio(late), n_boot=N_BOOT, what="direct runs with their SDE paths")


def sqrt_k_estimate(m: Run) -> Estimate:
    """std of δ, 1024-site / 8192-site direct KMC at the test temperature (late half of the test
    window, mean of 6 components): bootstrap over both sets of runs, each resampled on its own."""
    m = typed(m)
    late = m.late_from
    small, truth = np.asarray(m.small_T_paths, float), np.asarray(m.truth_paths, float)

    def stat(a, b):
        with np.errstate(divide="ignore", invalid="ignore"):      # a resample of one run: no spread
            return float(np.mean(a[:, late:].std(0, ddof=1).mean(0) / b[:, late:].std(0, ddof=1).mean(0)))
    return Estimate.bootstrap_groups((small, truth), stat, n_boot=N_BOOT, what="1024-site and 8192-site runs")


def variance_ratio_estimate(m: Run, T: float) -> Estimate:
    """E|KΔδ|²/E δt after 124 hops relative to after 31 hops, at T: bootstrap over batches of pairs."""
    b = np.asarray(typed(m).increment_variance[T].batches, float)

    def ratio(x):
        return (x[:, -1, 0].sum() / x[:, -1, 1].sum()) / (x[:, 0, 0].sum() / x[:, 0, 1].sum())
    return Estimate.bootstrap(b, ratio, n_boot=N_BOOT, what="batches of pairs")


def thermal_std(m: Run) -> np.ndarray:
    """The 8192-site cell's own equilibrium spread of δ (std over direct runs, late window, per
    component): the physical scale a mean of δ is compared at."""
    return np.asarray(typed(m).late_std.kmc_8192, float)


def stationary_estimate(m: Run, T: float, j: int) -> Estimate:
    """Stationary δ_j of the SDE at T: t-interval over its paths from δ = 0."""
    z = np.asarray(typed(m).stationary_per_path[T], float)
    return Estimate.of_samples(z[:, j], what="SDE paths")


def kmc_late_estimate(m: Run, T: float, j: int) -> Estimate:
    """Late δ_j (second half of the horizon) of the 1024-site KMC at T: t-interval over its runs."""
    return Estimate.of_samples(np.asarray(typed(m).small_late_seeds[T], float)[:, j], what="1024-site runs")


def _pm(e: Estimate, target: float = 0.0) -> str:
    return f"{e.value - target:+.3f} [{e.lo - target:+.3f}, {e.hi - target:+.3f}]"


@CLAIMS.add("barriers", "the shipped network with the P2 encoding gives the official barriers of the "
            "reference crops (1e-5 eV, float32 round-off) and of 2000 random crops (mean, std to 1e-4 eV)",
            expect=BOTH, paper="pure Nb/Mo/Ta 1.020/1.723/1.131 eV; random crops 1.7746 ± 0.2529 eV")
def _barriers(r):
    b = typed(r).barriers
    ok = (b.reference_error < 1e-5 and abs(b.mean - REFERENCE_CROPS["mean"]) < 1e-4
          and abs(b.std - REFERENCE_CROPS["std"]) < 1e-4)
    return ok, (f"max reference error {b.reference_error:.1e} eV; mean {b.mean:.5f}, std {b.std:.5f} "
                "(exact: the README's own fixed crops, no sampling noise; tolerance = float32 round-off)")


@CLAIMS.add("kmc_equilibrium", "the 1024-site KMC at 2000 K reaches the official KMC's equilibrium SRO: the "
            f"95 % interval over runs of the late δ_MoMo, δ_MoTa, δ_TaTa (second half of the horizon) lies "
            f"within the reference's stated ±{KMC_REF_TOL} of it",
            expect={"quick": False, "paper": UNDECIDED},
            paper="official KMC, hops 21k–100k at 2000 K: −0.656 / 0.469 / −0.360 (±0.03, a run of the official code); "
                  "published S-OnsagerNet −0.64 / 0.46 / −0.34",
            reason="quick: 2·10⁴ hops are too short — the second half of the horizon (10⁴–2·10⁴ hops) still "
                   "includes the ordering transient, so the late |δ| is below equilibrium by more than the "
                   "tolerance (the chapter shows the trajectories). Paper scale (10⁵ hops, 16 runs): every "
                   "component's late mean lies within half the tolerance of the reference, but the intervals "
                   "over 16 runs are about ±0.02 wide, and δ_MoTa's reaches just past the band: undecided")
def _kmc_eq(r):
    m = typed(r)
    if 2000.0 not in m.small_late_seeds:
        return None
    ref = paper_numbers.NBMOTA["kmc_2000"]
    ests = {i: kmc_late_estimate(m, 2000.0, i) for i in MOTA}
    verdict = all_of(within(ests[i], ref[i], KMC_REF_TOL) for i in MOTA)
    return verdict, ("late − reference: " + ", ".join(f"{SRO_NAMES[i]} {_pm(ests[i], ref[i])}" for i in MOTA)
                     + f" ({ests[MOTA[0]].how}); tolerance ±{KMC_REF_TOL}")


@CLAIMS.add("sde_mean", "the SDE learned from 124-hop partial evolution follows the mean SRO of the direct "
            "8192-site KMC: every component's gap (SDE − KMC, mean over the second half of the test) lies "
            "within the large cell's own thermal spread of that component (one std over direct runs)",
            expect={"quick": UNDECIDED, "paper": UNDECIDED},
            paper="— (no large-cell KMC in the official repository)",
            reason="the δ_TaTa gap is about 0.8 of the thermal spread at both scales (the SDE's late mean is "
                   "slightly more ordered in TaTa), and its interval (±0.01 over 12 direct runs at quick scale, "
                   "±0.007 over 24 at paper scale) reaches the tolerance, so the run cannot decide; every other "
                   "component's interval lies inside it")
def _sde_mean(r):
    m = typed(r)
    tol = thermal_std(m)
    gaps, err = late_gaps(m), mean_error_estimate(m)
    verdict = all_of(within(g, 0.0, t) for g, t in zip(gaps, tol))
    return verdict, ("gap (± thermal std): " + ", ".join(f"{n} {_pm(g)} (±{t:.3f})" for n, g, t in
                                                            zip(SRO_NAMES, gaps, tol))
                     + f" ({gaps[0].how}); official error {err}")


@CLAIMS.add("sde_std", f"the SDE's spread over paths matches the 8192-site KMC's: the ratio of stds (second "
            f"half of the test, mean of 6 components) within {SPREAD_TOL:.0%} of 1",
            expect={"quick": False, "paper": False},
            paper="std 0.025–0.039 at 8192 sites (predicted; no large-cell KMC to compare with)",
            reason="too wide, the interval excludes 1.25 at both scales: the 124-hop increments carry more "
                   "variance per unit time than δ of the large cell accumulates (see the chapter)")
def _sde_std(r):
    m = typed(r)
    q = std_ratio_estimate(m)
    return within(q, 1.0, SPREAD_TOL), (f"ratio {q.describe()} (per component "
                                        f"{_vec(m.std_ratio_sde_per)}); tolerance ±{SPREAD_TOL}")


@CLAIMS.add("sqrt_K", "fluctuations scale as 1/√n in direct KMC: the std of δ of the 1024-site cell is "
            f"√8 ≈ 2.83 times that of the 8192-site cell (interval of the ratio within {SPREAD_TOL:.0%} of √8)",
            expect={"quick": UNDECIDED, "paper": UNDECIDED},
            paper="std 0.064–0.093 (1024) vs 0.025–0.039 (8192) predicted: × 2.4–2.6",
            reason="the runs bound a ratio of stds only to about ±10 % (paper scale: 16 and 24 runs) or "
                   "−20 %/+35 % (quick: 12 and 12), and the measured ratio lies above √8 (3.27 in the saved "
                   "paper-scale run, whose interval excludes √8 itself), so the interval reaches past "
                   "√8 · 1.25 = 3.54: not bounded to the claim's 25 %")
def _sqrtk(r):
    m = typed(r)
    q = sqrt_k_estimate(m)
    k = np.sqrt(8.0)
    return within(q, k, SPREAD_TOL * k), (f"KMC {q.describe()}; √8 ± {SPREAD_TOL:.0%} = "
                                          f"[{k * (1 - SPREAD_TOL):.2f}, {k * (1 + SPREAD_TOL):.2f}] "
                                          f"(SDE: {m.sqrtK_sde:.2f})")


@CLAIMS.add("order_vs_T", "the SDE's stationary Mo–Ta order weakens with temperature: |δ_MoMo| decreases "
            "from each temperature of the grid to the next (intervals over SDE paths)", expect=BOTH,
            paper="δ_MoMo −1.03 (1400 K), −0.64 (2000 K), −0.42 (3000 K)")
def _order(r):
    m = typed(r)
    Ts = sorted(m.stationary_per_path)
    est = {t: stationary_estimate(m, t, 3) for t in Ts}
    signs = [below(e, 0.0) for e in est.values()]
    if not all(signs):                 # no Mo–Mo order (or undecided) at some T: no decreasing |δ| either
        return (None if all(v is not False for v in signs) else False), (
            "δ_MoMo not negative at every T: " + ", ".join(f"{t:.0f} K: {e}" for t, e in est.items()))
    ab = {t: e.map(abs) for t, e in est.items()}
    steps = [ab[a].minus(ab[b]) for a, b in zip(Ts, Ts[1:])]
    return all_of(above(d, 0.0) for d in steps), (
        "δ_MoMo " + ", ".join(f"{t:.0f} K: {stationary_estimate(m, t, 3)}" for t in Ts)
        + f" ({stationary_estimate(m, Ts[0], 3).how}); |δ| drops " + ", ".join(str(d) for d in steps))


@CLAIMS.add("stationary_vs_kmc", "the SDE's stationary δ_MoMo, δ_MoTa, δ_TaTa agree with the late 1024-site "
            "KMC it was trained from at every trained temperature: the interval of the difference lies "
            "within the 8192-site cell's thermal spread (one std, measured at the test temperature)",
            expect={"quick": UNDECIDED, "paper": UNDECIDED}, paper="— (the paper shows the SDE's values only)",
            reason="the late δ of the 1024-site runs scatters between runs (intervals ±0.02–0.04, widest at "
                   "the lowest temperature, where the runs are still ordering), and the differences to the "
                   "SDE (up to 0.045 at 1400 K in the saved paper-scale run, 0.043 at 3000 K in the quick one) "
                   "have intervals straddling the thermal spread at some temperatures")
def _stat_kmc(r):
    m = typed(r)
    tol = thermal_std(m)
    Ts = sorted(set(m.stationary_per_path) & set(m.small_late_seeds))
    d = {(t, i): stationary_estimate(m, t, i).minus(kmc_late_estimate(m, t, i)) for t in Ts for i in MOTA}
    verdict = all_of(within(e, 0.0, tol[i]) for (t, i), e in d.items())
    return verdict, ("SDE − KMC: " + "; ".join(f"{t:.0f} K " + ", ".join(f"{SRO_NAMES[i]} {_pm(d[t, i])}"
                                                                        for i in MOTA) for t in Ts)
                     + " (t-intervals over SDE paths and 1024-site runs); tolerance "
                     + ", ".join(f"±{tol[i]:.3f}" for i in MOTA))


@CLAIMS.add("stationary_vs_paper", "the SDE's stationary δ_MoMo, δ_MoTa, δ_TaTa agree with the paper's "
            "published values at the tabulated temperatures from 2000 K up: the interval lies within the "
            "8192-site cell's thermal spread (plus the values' rounding, 0.005); below 2000 K the small runs "
            "are still ordering at the end of the horizon, so no comparison with equilibrium is claimed there",
            # stated for the paper scale only: at the quick scale the SDE follows the 2·10⁴-hop small runs,
            # which have not reached equilibrium at 2000 K (claim kmc_equilibrium), so its order there is
            # weaker than the paper's by about the tolerance, on a side that moved with the training's
            # rounding between two CPUs (variation the interval over SDE paths does not contain)
            expect=PAPER, paper="2000 K: −0.64 / 0.46 / −0.34; 3000 K: −0.42 / 0.30 / −0.23")
def _stat_paper(r):
    m = typed(r)
    tol = thermal_std(m) + ROUNDING
    ref = paper_numbers.NBMOTA["sro_predicted"]
    Ts = [t for t in sorted(m.stationary_per_path) if int(t) in ref and t >= 2000]
    if not Ts:
        return None
    d = {(t, i): stationary_estimate(m, t, i) for t in Ts for i in MOTA}
    verdict = all_of(within(e, ref[int(t)][i], tol[i]) for (t, i), e in d.items())
    return verdict, ("SDE − paper: " + "; ".join(f"{t:.0f} K " + ", ".join(
        f"{SRO_NAMES[i]} {_pm(d[t, i], ref[int(t)][i])}" for i in MOTA) for t in Ts)
        + " (t-intervals over SDE paths); tolerance " + ", ".join(f"±{tol[i]:.3f}" for i in MOTA))


@CLAIMS.add("increments_not_markov", "the partial-evolution increments' variance per unit time falls as the "
            "vacancy hops longer (124 vs 31 hops: the ratio's interval below 1 at every temperature): some "
            "hops undo earlier ones, so the noise a Gaussian increment model sees depends on δt", expect=BOTH,
            paper="— (the official code uses 124 hops only)")
def _not_markov(r):
    m, q = typed(r), {}
    for T, v in m.increment_variance.items():
        if len(v.batches) < 2:
            return None, f"{T:.0f} K: one batch of pairs, no interval"
        q[T] = variance_ratio_estimate(m, T)
    return all_of(below(e, 1.0) for e in q.values()), (", ".join(f"{T:.0f} K: {e}" for T, e in q.items())
                                                      + f" ({next(iter(q.values())).how})")
