r"""Paper 2: the 2-D Ising phase transition (h = 0) from small-system simulation alone.

For every target size L and temperature T near T_c = 2/ln(1 + √2):

1. **Small-system data**: stationary snapshots of the periodic ``L_small²`` lattice (Glauber runs
   after a burn-in, :func:`~support.systems.spins.ising.snapshots_from_runs`).
2. **Large snapshots** (hierarchical upsampling, the ``upsampling`` chapter): 2×2 replication and
   frozen-halo LocalRelax up to L×L. For L = L_small the small snapshots themselves.
3. **Partial evolution**: ``pairs_per_snapshot · K`` random ``L_small²`` patches of each snapshot
   evolved alone for δt (frozen halo; the whole torus when L = L_small), giving partial targets of
   z = m (or (m, ρ_dw) with ``with_rho``)
   (:func:`~support.systems.spins.ising_patches.patch_observables`). The pairs are symmetrised
   under m → −m (an exact symmetry at h = 0). Pairs grow with K because a partial target carries K
   times the large system's increment variance (the chapter derives that the stationary law's error
   grows like K at a fixed number of pairs).
4. **λ from the data**: the correlation ρ_p of the m-increments of two neighbouring patches
   evolved together for δt (:func:`~support.systems.spins.ising_patches.adjacent_increment_correlation`)
   gives λ = K/(1 + 4ρ_p); the official code hand-tuned λ instead (≈ 0.55–0.63 K at T = 2.27). At the
   temperature nearest T_c, λ = K and the drifts of ``compare_degrees`` are fitted too.
5. **SDE** dm = μ(m)dt + σ(m)dW with Landau's odd-polynomial drift (:class:`OddPolynomialDrift`, degree
   ``drift_degree``; linear in its parameters, so L_p is convex in it) and a network σ, trained by L_p;
   long Euler–Maruyama rollouts; the second half of every path gives ⟨|M|⟩, χ = N(⟨m²⟩ − ⟨|m|⟩²)/T
   and the Binder cumulant U.
6. **Direct simulation** of every (L, T) — Wolff cluster moves, the same stationary law as the
   Glauber dynamics and the only affordable one at T_c — gives the same three numbers, on a finer
   temperature grid for the Binder crossing.
7. **Finite-size scaling**: log–log fits over L at the temperature nearest T_c give −β/ν (⟨|M|⟩) and
   γ/ν (χ); dU/dT per L (a line through U(T)) gives 1/ν; next to the exact 1/8, 7/4, 1 and the
   official fits 0.1199, 1.7918, 1.0546.

Deliberate differences from the official code (said in the chapter): λ measured rather than tuned,
z = m with a polynomial drift instead of (m, ρ_dw, two closure variables) with network drift (the
Ising chapter found the closure redundant; (m, ρ_dw) diverged and an MLP drift escaped |m| > 1 at
L = 64 in development), frozen halos and
fixed-time partial evolution, physical time throughout, symmetrised pairs, continuous-time Glauber
for the small system (the official raw data used discrete sequential sweeps).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from tqdm.auto import tqdm

from ..budget import ForceBudget, stage_budgets, stage_costs
from ..claims import UNDECIDED, ClaimSet
from ..paper_numbers import paper2 as paper_numbers
from ..plotting import figure, method_colour
from ..results import ExperimentResult
from ..stochastic.encoder import LatentPairs
from ..stochastic.nets import OddPolynomialDrift
from ..stochastic.pipeline import ModelSpec, fit_and_roll_out
from ..stochastic.study import SDESettings, pairs_from_patches, symmetrised_pairs
from ..systems.spins import domain_wall_density, ising, magnetisation, wolff
from ..systems.spins.finite_size import (EXACT, crossing_temperature, moments, moments_from_units,
                                         power_law_fit, resampled_units, slope_in_T, slopes, unit_moments)
from ..uncertainty import Estimate, all_of, within
from ..systems.spins.patch_dynamics import IsingDynamics, upsample_lattices
from ..systems.spins.ising_patches import (adjacent_increment_correlation, lambda_from_correlation,
                                           patch_observables)
from ..train import torch_threads
from ..executor import map_jobs
from .config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, ExperimentConfig, Limit, each, resolve
from .ising_criticality_results import (BinderCurves, CriticalityResult,  # noqa: F401
                                       CriticalPoint, ExponentEstimates, IncrementCorrelation, Moments,
                                       RatioEstimates, ScalingFit, SDEModel, SizeRatios, typed)

VERSION = 2     # 2: per-path / per-chain moments stored ("units"), exponents with bootstrap intervals


@dataclass
class Config(ExperimentConfig):
    L_small: int = 16
    sizes: tuple[int, ...] = (16, 32, 64)
    temperatures: tuple[float, ...] = (2.25, 2.27, 2.29)
    small_runs: int = 64
    small_burn_in: float = 400.0           # physical time discarded by every small run
    small_interval: float = 10.0           # time between recorded small snapshots
    n_snapshots: int = 500                 # training snapshots per (L, T)
    relax_window: int = 16
    relax_time: float = 8.0                # LocalRelax time per window (see the upsampling chapter)
    dt: float = 4.0                        # δt of partial evolution and of an Euler–Maruyama step
    with_rho: bool = False                 # z = (m, ρ_dw) instead of z = m
    drift_degree: int = 3                  # odd polynomial drift of m, Landau's form (0: the default MLP)
    compare_degrees: tuple[int, ...] = (5,)  # other drift degrees, fitted at the T nearest T_c (0: MLP)
    pairs_per_snapshot: int = 16           # times K: a pair's variance grows like K (see the chapter)
    correlation_per_snapshot: int = 10     # two-patch windows per snapshot that measure ρ_p
    sde: SDESettings = field(default_factory=lambda: SDESettings(
        diffusion="full", hidden=(32, 32), steps=1000, batch_size=2048, init_scale=None))
    rollout_paths: int = 400
    rollout_steps: int = 3000              # the second half is used
    record_every: int = 4
    direct_chains: int = 16
    direct_records: int = 400              # Wolff sweeps recorded per chain (after a burn-in)
    binder_grid: tuple[float, ...] = (2.21, 2.23, 2.25, 2.26, 2.27, 2.28, 2.29, 2.31, 2.33)
    threads: int = 1

    PRESETS: ClassVar = {
        "quick": {},
        "paper": dict(sizes=(16, 32, 64, 128), temperatures=(2.25, 2.26, 2.27, 2.28, 2.29),
                      small_runs=100, n_snapshots=20_000,
                      sde=SDESettings(diffusion="full", hidden=(64, 64), steps=5000, batch_size=1024,
                                      init_scale=None),
                      rollout_paths=160, rollout_steps=100_000, record_every=20, direct_chains=50,
                      direct_records=2000)}

    LIMITS: ClassVar = {"L_small": Limit(lo=2), "sizes": each(Limit(lo=2)), "temperatures": each(POSITIVE),
                        "small_runs": AT_LEAST_ONE, "small_burn_in": NON_NEGATIVE, "small_interval": POSITIVE,
                        "n_snapshots": AT_LEAST_ONE, "relax_window": AT_LEAST_ONE, "relax_time": NON_NEGATIVE,
                        "dt": POSITIVE, "drift_degree": NON_NEGATIVE, "compare_degrees": NON_NEGATIVE,
                        "pairs_per_snapshot": AT_LEAST_ONE, "correlation_per_snapshot": AT_LEAST_ONE,
                        "rollout_paths": Limit(lo=2), "rollout_steps": AT_LEAST_ONE, "record_every": AT_LEAST_ONE,
                        "direct_chains": AT_LEAST_ONE, "direct_records": AT_LEAST_ONE, "binder_grid": each(POSITIVE),
                        "threads": AT_LEAST_ONE}


def _check(cfg: Config) -> None:
    for L in cfg.sizes:
        r = L // cfg.L_small
        if L % cfg.L_small or r & (r - 1):
            raise ValueError(f"size {L} must be L_small = {cfg.L_small} times a power of two")
    if len(set(cfg.sizes)) < 2 or len(set(cfg.temperatures)) < 2:
        raise ValueError("finite-size scaling needs at least two sizes and two temperatures")
    if any(T <= 0 for T in (*cfg.temperatures, *cfg.binder_grid)):
        raise ValueError("temperatures must be > 0")
    if cfg.rollout_steps < 2 * cfg.record_every or cfg.rollout_paths < 2:
        raise ValueError("need rollout_steps >= 2 * record_every and at least two paths")


# ------------------------------------------------------------------------------------ pieces
def training_snapshots(cfg: Config, L: int, small: np.ndarray, T: float,
                       rng: np.random.Generator, budget: ForceBudget | None = None) -> np.ndarray:
    """D for size L: the small snapshots (L = L_small) or upsampled draws of them (the relaxation's
    flips charged to ``budget``)."""
    if L == cfg.L_small:
        return small
    pick = small[rng.integers(0, len(small), cfg.n_snapshots)]
    hooks = IsingDynamics(T, 0.0, relax_window=cfg.relax_window, relax_time=cfg.relax_time, budget=budget)
    return upsample_lattices(hooks, pick, L, rng)[0]


def latent(cfg: Config, x: np.ndarray) -> np.ndarray:
    """z of lattices ``[n, L, L]``: ``[n, 1]`` (m) or ``[n, 2]`` (m, ρ_dw) with ``with_rho``."""
    z = [magnetisation(x)] + ([domain_wall_density(x)] if cfg.with_rho else [])
    return np.column_stack(z)


def training_pairs(cfg: Config, snapshots: np.ndarray, T: float, rng: np.random.Generator,
                   budget: ForceBudget | None = None) -> LatentPairs:
    """Partial-evolution pairs of z (m, or (m, ρ_dw)), symmetrised (the flips charged to ``budget``)."""
    L = snapshots.shape[-1]
    K = (L // cfg.L_small) ** 2
    obs = patch_observables(snapshots, cfg.L_small, cfg.dt, T, 0.0, rng, cfg.pairs_per_snapshot * K, budget)
    d = 2 if cfg.with_rho else 1
    z0 = latent(cfg, snapshots)[obs["which"]]
    pairs = pairs_from_patches(z0, obs["before"][:, :d], obs["after"][:, :d], cfg.dt, K)["partial"]
    return symmetrised_pairs(pairs, odd=(0,))                    # m → −m is exact at h = 0


def make_drift(cfg: Config, degree: int | None = None) -> torch.nn.Module | None:
    """The drift of the SDE: an odd polynomial of ``degree`` (default ``drift_degree``) in m
    (z = m only), or the default MLP (degree 0: ``None``)."""
    degree = cfg.drift_degree if degree is None else degree
    if degree == 0:
        return None
    if cfg.with_rho:
        raise ValueError("the polynomial drift is for z = m only: use degree 0 (the MLP) with with_rho")
    return OddPolynomialDrift(degree)


def sample_moments(m: np.ndarray, L: int, T: float) -> Moments:
    """⟨|M|⟩, χ, U, the histogram and the per-unit moments of samples ``m [n_units, n_records]``
    (one row per rollout path or Wolff chain: the bootstrap's units)."""
    return Moments(**moments(m, L, T), histogram=np.histogram(m, bins=40, range=(-1.1, 1.1))[0],
                   units=unit_moments(m))


def sde_statistics(paths: np.ndarray, L: int, T: float, lam: float, drift_degree: int) -> SDEModel:
    """The SDE of covariance factor ``lam`` and drift degree ``drift_degree``, scored by ⟨|M|⟩, χ, U
    of the second half of its Euler–Maruyama ``paths [n_paths, R + 1, d]`` started at training
    latents, and the fraction of recorded |m| > 1 (outside the physical range)."""
    m = paths[:, paths.shape[1] // 2:, 0]
    if not np.isfinite(paths).all() or np.abs(m).max() > 10:     # diverged (m lives in [-1, 1])
        return SDEModel(lam, drift_degree, 1.0, None)
    return SDEModel(lam, drift_degree, float(np.mean(np.abs(m) > 1)), sample_moments(m, L, T))


def direct_statistics(cfg: Config, L: int, T: float, seed: int) -> Moments:
    """⟨|M|⟩, χ, U (and the m histogram and per-chain moments) of the L×L lattice by Wolff chains."""
    rng = np.random.default_rng([seed, L, int(round(T * 1e4))])
    start = wolff.equilibrium_lattices(L, T, 0.0, cfg.direct_chains, seed=rng)
    sweep, start = wolff.moves_per_sweep(start, T, seed=rng)
    m = wolff.wolff_chains(start, cfg.direct_records, T, moves_per_record=sweep, seed=rng)["m"]
    return sample_moments(m, L, T)


def nearest_to_critical(cfg: Config) -> float:
    """The chapter's temperature nearest T_c (where λ = K and other drifts are fitted as well)."""
    return min(cfg.temperatures, key=lambda T: abs(T - EXACT["T_c"]))


def one_point(cfg: Config, L: int, T: float, small: np.ndarray, seed: int) -> CriticalPoint:
    """Everything for one (L, T): data, λ, the SDE(s) and their statistics, and direct simulation."""
    t0 = time.perf_counter()
    rng = np.random.default_rng([seed, L, int(round(T * 1e4)), 1])
    K = (L // cfg.L_small) ** 2
    budgets = stage_budgets(("relax", "partial_evolution"))
    snaps = training_snapshots(cfg, L, small, T, rng, budgets["relax"])
    pairs = training_pairs(cfg, snaps, T, rng, budgets["partial_evolution"])
    corr = (adjacent_increment_correlation(snaps, cfg.L_small, cfg.dt, T, 0.0, rng,
                                           cfg.correlation_per_snapshot) if K > 1 else None)
    lam = lambda_from_correlation(K, corr["rho"]) if corr else 1.0
    z_start = latent(cfg, snaps)[rng.integers(0, len(snaps), cfg.rollout_paths)]
    fits = {"measured": (lam, cfg.drift_degree)}          # name -> (λ, drift degree)
    if T == nearest_to_critical(cfg):
        if K > 1:
            fits["K"] = (float(K), cfg.drift_degree)
        fits.update({f"degree_{d}": (lam, d) for d in cfg.compare_degrees if d != cfg.drift_degree})
    specs = [ModelSpec(name, "partial", value, drift=partial(make_drift, cfg, degree))
             for name, (value, degree) in fits.items()]
    ensembles = fit_and_roll_out({"partial": pairs}, specs, cfg.sde, z_start[None], dt=cfg.dt,
                                 n_records=cfg.rollout_steps // cfg.record_every,
                                 substeps=cfg.record_every, seed=seed)
    models = {name: sde_statistics(ensembles[name].paths[0], L, T, value, degree)
              for name, (value, degree) in fits.items()}
    return CriticalPoint(L, T, K, corr, lam, len(pairs), models,
                         direct_statistics(cfg, L, T, seed), stage_costs(budgets), time.perf_counter() - t0)


#: a source of statistics: ``point -> Moments`` (``None`` where the source has none at that point)
Source = Callable[[CriticalPoint], Moments | None]


def _usable(s: Moments | None) -> bool:
    """Statistics from a rollout that stayed finite and bounded, with positive ⟨|M|⟩ and χ."""
    return s is not None and s.usable


def scaling_fits(points: Sequence[CriticalPoint], sizes: tuple[int, ...], T_near: float,
                 source: Source) -> ScalingFit:
    """−β/ν, γ/ν at ``T_near`` and 1/ν from dU/dT over the temperatures, for one source of statistics."""
    at = sorted((p for p in points if abs(p.T - T_near) < 1e-9), key=lambda p: p.L)
    stats = [source(p) for p in at]
    beta = gamma = one_over_nu = None
    if all(_usable(s) for s in stats):
        Ls = [p.L for p in at]
        beta = -power_law_fit(Ls, [s.abs_m for s in stats])["slope"]
        gamma = power_law_fit(Ls, [s.chi for s in stats])["slope"]
    slopes = {}
    for L in sizes:
        row = sorted((p for p in points if p.L == L), key=lambda p: p.T)
        s = [source(p) for p in row]
        if len(row) >= 2 and all(_usable(x) for x in s):
            slopes[L] = abs(slope_in_T([p.T for p in row], [x.binder for x in s]))
    if len(slopes) >= 2 and all(v > 0 for v in slopes.values()):
        one_over_nu = power_law_fit(list(slopes), list(slopes.values()))["slope"]
    return ScalingFit(slopes, beta, gamma, one_over_nu)


# ------------------------------------------------------------------------------------ intervals
#: bootstrap resamples behind every interval of this chapter (units: rollout paths, Wolff chains)
N_BOOT = 400


def _model_moments(model: SDEModel | None) -> Moments | None:
    return None if model is None else model.moments


def source_of(name: str) -> Source:
    """``point -> statistics`` for a source of the fits: ``direct``, ``sde`` (measured λ),
    ``sde_lambda_K`` (λ = K; the measured model at K = 1), ``sde_degree_<d>``."""
    if name == "direct":
        return lambda p: p.direct
    if name == "sde":
        return lambda p: p.models["measured"].moments
    if name == "sde_lambda_K":
        return lambda p: _model_moments(p.models.get("K", p.models["measured"] if p.K == 1 else None))
    if name.startswith("sde_degree_"):
        return lambda p: _model_moments(p.models.get(f"degree_{name.removeprefix('sde_degree_')}"))
    raise KeyError(f"unknown source of statistics {name!r}")


def _boot_moments(points: Sequence[CriticalPoint], source: Source, seed: int) -> tuple[dict, dict, dict]:
    """For every usable point with stored units: its moments (value), ``N_BOOT`` bootstrap replicates
    of them (units resampled independently per point: separate simulations) and the unit counts."""
    rng = np.random.default_rng(seed)
    value, boot, count = {}, {}, {}
    for p in sorted(points, key=lambda p: (p.L, p.T)):
        s = source(p)
        if not _usable(s) or s.units is None:
            continue
        u = np.asarray(s.units, dtype=np.float64)
        key = (p.L, round(p.T, 9))
        value[key] = {q: float(v) for q, v in moments_from_units(u, p.L, p.T).items()}
        boot[key] = moments_from_units(resampled_units(u, N_BOOT, rng), p.L, p.T)
        count[key] = len(u)
    return value, boot, count


def exponent_estimates(m: CriticalityResult | Mapping[str, Any], source_name: str,
                       seed: int = 0) -> ExponentEstimates:
    """β/ν, γ/ν (log–log fits over L at ``T_near``) and 1/ν (|dU/dT| per L, then its log–log fit) of
    one source, each with a bootstrap interval: every point's paths (SDE) or chains (direct) are
    resampled and the fits redone on every resample. (For the SDE this is the rollout noise of the
    fitted model; the training noise of the fit itself is not in it.) ``m``: the run, typed or as
    its metrics."""
    m = typed(m)
    value, boot, count = _boot_moments(m.points, source_of(source_name), seed)
    unit = "chains" if source_name == "direct" else "paths"
    n = sorted(set(count.values()))
    how = (f"bootstrap 95 % over {'/'.join(map(str, n))} {unit} per point, fits redone on "
           f"{N_BOOT} resamples")
    T_near = round(m.T_near, 9)
    sizes = sorted({L for L, _ in value})
    out = {}
    at = [L for L in sizes if (L, T_near) in value]
    if len(at) >= 2 and len(at) == len(m.sizes):
        x = np.log(at)
        for key, q, sign in (("beta_over_nu", "abs_m", -1), ("gamma_over_nu", "chi", 1)):
            v = sign * float(slopes(x, np.log([value[(L, T_near)][q] for L in at])))
            with np.errstate(divide="ignore", invalid="ignore"):
                b = sign * slopes(x, np.log(np.stack([boot[(L, T_near)][q] for L in at], axis=-1)))
            e = Estimate.from_replicates(v, b, how)
            if e is not None:
                out[key] = e
    temps = sorted({round(p.T, 9) for p in m.points})
    full = [L for L in sizes if all((L, T) in value for T in temps)]
    if len(full) >= 2 and len(temps) >= 2:
        v_slope = [abs(float(slopes(temps, [value[(L, T)]["binder"] for T in temps]))) for L in full]
        b_slope = np.stack([np.abs(slopes(temps, np.stack([boot[(L, T)]["binder"] for T in temps], -1)))
                            for L in full], axis=-1)
        if all(v > 0 for v in v_slope):
            with np.errstate(divide="ignore", invalid="ignore"):
                b = slopes(np.log(full), np.log(b_slope))
            e = Estimate.from_replicates(float(slopes(np.log(full), np.log(v_slope))), b, how)
            if e is not None:
                out["one_over_nu"] = e
    return ExponentEstimates(source_name, **out)


def ratio_estimates(m: CriticalityResult | Mapping[str, Any], source_name: str, T: float | None = None,
                    seed: int = 0) -> RatioEstimates:
    """Per size at ``T`` (default ``T_near``): the ratio SDE / direct of ⟨|M|⟩ and of χ, with bootstrap
    intervals (SDE paths and direct chains resampled independently)."""
    m = typed(m)
    T = round(m.T_near if T is None else T, 9)
    sv, sb, sn = _boot_moments(m.points, source_of(source_name), seed)
    dv, db, dn = _boot_moments(m.points, source_of("direct"), seed + 1)
    out = {}
    for (L, t) in sorted(sv):
        if t != T or (L, t) not in dv:
            continue
        how = f"bootstrap 95 % over {sn[(L, t)]} paths and {dn[(L, t)]} chains"
        out[L] = SizeRatios(**{q: Estimate.from_replicates(sv[(L, t)][q] / dv[(L, t)][q],
                                                             sb[(L, t)][q] / db[(L, t)][q], how)
                               for q in ("abs_m", "chi")})
    return RatioEstimates(source_name, T, out)


def crossing_estimates(m: CriticalityResult | Mapping[str, Any], seed: int = 0) -> dict[str, Estimate | None]:
    """The crossing temperature of each neighbouring pair of direct Binder curves, with a bootstrap
    interval over the Wolff chains of every point of both curves (None where most resampled curves
    do not cross in the grid)."""
    b = typed(m).binder
    units = None if b is None else b.units
    if not units:
        return {}
    rng = np.random.default_rng(seed)
    T = np.asarray(b.T, dtype=np.float64)
    curves = {}
    for L, row in units.items():
        curves[L] = np.stack([moments_from_units(resampled_units(np.asarray(u), N_BOOT, rng), L, t)["binder"]
                              for u, t in zip(row, T)], axis=-1)          # [N_BOOT, n_T]
    n = sorted({len(u) for row in units.values() for u in row})
    out = {}
    Ls = sorted(curves)
    for a, c in zip(Ls, Ls[1:]):
        key = f"{a}-{c}"
        v = b.crossings.get(key, math.nan)
        boot = [crossing_temperature(T, curves[a][k], curves[c][k]) for k in range(N_BOOT)]
        out[key] = Estimate.from_replicates(v, np.array(boot), f"bootstrap 95 % over {'/'.join(map(str, n))} "
                                                           f"chains per temperature")
    return out


def lambda_estimates(m: CriticalityResult | Mapping[str, Any]) -> dict[tuple[int, float], Estimate]:
    """λ/K = 1/(1 + 4ρ_p) at every (L, T) with K > 1, its interval from ρ_p ± 1.96 s.e."""
    out = {}
    for p in typed(m).points:
        if p.K > 1 and p.rho_p is not None:
            rho = Estimate.from_se(p.rho_p.rho, p.rho_p.se, f"ρ_p ± 1.96 s.e. over {p.rho_p.n} patch pairs")
            # λ/K = 1/(1 + 4ρ) decreases in ρ; it is unbounded as ρ → −1/4
            hi = 1 / (1 + 4 * rho.lo) if rho.lo > -0.25 else float("inf")
            out[(p.L, p.T)] = Estimate(1 / (1 + 4 * rho.value), 1 / (1 + 4 * rho.hi), hi, rho.how)
    return out


def binder_curves(cfg: Config, seed: int, progress: bool) -> BinderCurves:
    """Direct U(T) on the fine grid for every L, and the crossing temperatures of neighbouring sizes."""
    stats = {L: [direct_statistics(cfg, L, T, seed + 7) for T in cfg.binder_grid]
             for L in tqdm(cfg.sizes, desc="Binder curves", disable=not progress, leave=False)}
    curves = {L: [s.binder for s in row] for L, row in stats.items()}
    Ls = sorted(curves)
    cross = {f"{a}-{b}": crossing_temperature(cfg.binder_grid, curves[a], curves[b])
             for a, b in zip(Ls, Ls[1:])}
    return BinderCurves(cfg.binder_grid, curves, cross, {L: [s.units for s in row] for L, row in stats.items()})


def one_temperature(cfg: Config, T: float, seed: int) -> tuple[list[CriticalPoint], int]:
    """The small runs at ``T`` (seeded by ``(seed, T)``) and :func:`one_point` for every size, with
    the small runs' flips."""
    small, flips = ising.snapshots_from_runs(
        cfg.L_small, cfg.n_snapshots, T, 0.0, runs=cfg.small_runs, burn_in=cfg.small_burn_in,
        interval=cfg.small_interval, seed=np.random.default_rng([seed, int(round(T * 1e4))]))
    return [one_point(cfg, L, T, small, seed) for L in cfg.sizes], flips


def _temperature_job(shared: tuple[Config, int], T: float) -> tuple[list[CriticalPoint], int]:
    """:func:`one_temperature` as an executor job."""
    cfg, seed = shared
    with torch_threads(cfg.threads):
        return one_temperature(cfg, T, seed)


def run(cfg: Config | None = None, *, scale: str | None = None, seed: int = 0,
        progress: bool = True, workers: int = 1) -> ExperimentResult:
    """The study; ``workers`` > 1 (or a Dask scheduler, :mod:`support.executor`) computes the
    temperatures at once. Each draws from its own generators (numpy's seeded by ``(seed, T)`` and
    ``(seed, L, T)``, torch's by ``seed``), so the numbers do not depend on it (tests/test_executor.py)."""
    cfg = resolve(Config, cfg, scale)
    _check(cfg)
    t0 = time.perf_counter()
    per_T = map_jobs(_temperature_job, cfg.temperatures, workers=workers, shared=(cfg, seed),
                     progress=progress, desc="temperatures")
    points = [p for row, _ in per_T for p in row]
    small_flips = {str(T): flips for T, (_, flips) in zip(cfg.temperatures, per_T)}
    with torch_threads(cfg.threads):
        binder = binder_curves(cfg, seed, progress)
    T_near = nearest_to_critical(cfg)
    sources = ("direct", "sde", "sde_lambda_K",
               *(f"sde_degree_{d}" for d in cfg.compare_degrees if d != cfg.drift_degree))
    fits = {src: scaling_fits(points, cfg.sizes, T_near, source_of(src)) for src in sources}
    # small_system_flips, per T: the 16×16 runs every size's data came from
    metrics = CriticalityResult(points, fits, binder, T_near, small_flips).to_json()
    return ExperimentResult.of(cfg, name="ising_criticality", version=VERSION, seed=seed, metrics=metrics,
                               comparison=_comparison(cfg, metrics), figures=_figures(cfg, metrics),
                               started=t0, threads=cfg.threads)


# ------------------------------------------------------------------------------------ reporting
def _comparison(cfg: Config, metrics: dict) -> list[dict]:
    m = typed(metrics)
    official = paper_numbers.ISING_CRITICAL["fits"]
    est = {src: exponent_estimates(m, src) for src in ("sde", "direct")}

    def interval(src: str, key: str) -> str:
        e = est[src].get(key)
        return f"95 % interval [{e.lo:.3f}, {e.hi:.3f}]; " if e is not None else ""

    rows = []
    for key, label in (("beta_over_nu", "β/ν (from ⟨|M|⟩)"), ("gamma_over_nu", "γ/ν (from χ)"),
                       ("one_over_nu", "1/ν (from dU/dT)")):
        rows.append({"quantity": f"{label}, learned SDE", "measured": m.fits["sde"].get(key),
                     "paper": official[key], "note": f"{interval('sde', key)}exact {EXACT[key]:g}"})
        rows.append({"quantity": f"{label}, direct simulation", "measured": m.fits["direct"].get(key),
                     "predicted": EXACT[key],
                     "note": f"{interval('direct', key)}Wolff, same sizes and temperatures"})
    for src, label in (("sde_lambda_K", "λ = K"), *((f"sde_degree_{d}", f"degree-{d} drift")
                                                     for d in cfg.compare_degrees if d != cfg.drift_degree)):
        for key, sym in (("beta_over_nu", "β/ν"), ("gamma_over_nu", "γ/ν")):
            if src in m.fits:
                rows.append({"quantity": f"{sym}, learned SDE with {label}", "measured": m.fits[src].get(key),
                             "paper": official[key], "note": f"exact {EXACT[key]:g}"})
    for L in cfg.sizes:
        p = m.at(L, m.T_near)
        if p.K > 1:
            rows.append({"quantity": f"λ at T = {m.T_near:g}, L = {L} (K = {p.K})", "measured": p.lam,
                         "paper": paper_numbers.ISING_CRITICAL_LAMBDA.get(p.K),
                         "note": f"K/(1 + 4ρ_p), ρ_p = {p.rho_p.rho:.3f}; official λ hand-tuned"})
        for q, label in (("abs_m", "⟨|M|⟩"), ("chi", "χ")):
            rows.append({"quantity": f"{label} at T = {m.T_near:g}, L = {L}: SDE vs direct",
                         "measured": p.models["measured"].statistic(q), "predicted": getattr(p.direct, q),
                         "note": "predicted = direct simulation"})
    for pair, T in m.binder.crossings.items():
        rows.append({"quantity": f"Binder crossing L = {pair} (direct)", "measured": T,
                     "predicted": EXACT["T_c"], "note": "T_c exact"})
    return rows


#: colour and line style of each SDE model's histogram: "measured" λ, "K" (λ = K), "degree" (d ≠ 3)
HISTOGRAM_STYLES = {"measured": ("C0", "-"), "K": ("C3", "--"), "degree": ("C2", ":")}
HISTOGRAM_LABELS = {"measured": "SDE, measured λ", "K": "SDE, λ = K"}


def _figures(cfg: Config, metrics: dict) -> dict:
    m = typed(metrics)
    figs = {}
    T_near = m.T_near
    fig, axes = figure(3, 1, width=3.4, height=3.0)
    for ax, (q, label, key, sign) in zip(axes[0], (("abs_m", "⟨|M|⟩", "beta_over_nu", -1),
                                                  ("chi", "χ", "gamma_over_nu", 1),
                                                  ("dU", "|dU/dT|", "one_over_nu", 1))):
        for src, style, name in (("direct", "s-", "direct"), ("sde", "o-", "learned SDE")):
            if q == "dU":
                d = m.fits[src].dU_dT
                Ls, vals = list(d), list(d.values())
            else:
                Ls = list(cfg.sizes)
                vals = [getattr(m.at(L, T_near).direct, q) if src == "direct"
                        else m.at(L, T_near).models["measured"].statistic(q, np.nan) for L in Ls]
            fit = m.fits[src].get(key)
            ax.plot(Ls, vals, style, color="k" if src == "direct" else "C0",
                    label=f"{name}: {sign * fit:.3f}" if fit is not None else name)
        if q == "dU":
            off = paper_numbers.ISING_CRITICAL["dU_dT"]
            ax.plot(list(off), list(off.values()), "^:", color="C3", label="official SDE")
        ax.set(xscale="log", yscale="log", xlabel="L", title=f"{label}  (exact slope {sign * EXACT[key]:g})")
        ax.set_xticks(list(cfg.sizes), [str(L) for L in cfg.sizes])
        ax.minorticks_off()
        ax.legend(fontsize=7)
    figs["scaling"] = fig

    fig, axes = figure(2, 1, width=3.8, height=3.0)
    ax = axes[0, 0]
    b = m.binder
    for i, L in enumerate(cfg.sizes):
        ax.plot(b.T, b.U[L], "-", color=method_colour("", i), label=f"direct L = {L}")
        row = m.row(L)
        ax.plot([p.T for p in row], [p.models["measured"].statistic("binder", np.nan) for p in row], "o--",
                color=method_colour("", i), label=f"SDE L = {L}")
    ax.axvline(EXACT["T_c"], color="0.5", ls=":")
    ax.axhline(EXACT["binder_crossing"], color="0.5", ls=":")
    ax.set(xlabel="T", ylabel="Binder cumulant U", title="Binder crossing")
    ax.legend(ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.3))      # below: inside it hid the curves
    ax = axes[0, 1]
    for i, L in enumerate(cfg.sizes):
        for src, style in (("direct", "s"), ("sde", "o")):
            xs, ys = [], []
            for p in m.points:
                if p.L != L:
                    continue
                s = source_of(src)(p)
                if s is not None:
                    xs.append((p.T - EXACT["T_c"]) * L ** EXACT["one_over_nu"])
                    ys.append(s.abs_m * L ** EXACT["beta_over_nu"])
            ax.plot(xs, ys, style, color=method_colour("", i), mfc="none" if src == "sde" else None,
                    label=f"{'direct' if src == 'direct' else 'SDE'} L = {L}")
    ax.set(xlabel=r"$(T - T_c)\, L^{1/\nu}$", ylabel=r"$\langle|M|\rangle\, L^{\beta/\nu}$",
           title="Data collapse (exact exponents)")
    ax.legend(ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    figs["binder_collapse"] = fig

    fig, axes = figure(len(cfg.sizes), 1, width=3.0, height=2.6, sharey=False)
    edges = np.linspace(-1.1, 1.1, 41)
    for ax, L in zip(axes[0], cfg.sizes):
        p = m.at(L, T_near)
        d = np.asarray(p.direct.histogram, float)
        ax.stairs(d / d.sum(), edges, color="k", label="direct")
        for i, (name, s) in enumerate(p.models.items()):
            if s.moments is not None and s.moments.histogram is not None:
                h = np.asarray(s.moments.histogram, float)
                # the caption's colours: measured λ blue, λ = K red dashed, another drift degree green dotted
                colour, ls = HISTOGRAM_STYLES.get(name.split("_")[0], (method_colour("", i), "-."))
                ax.stairs(h / h.sum(), edges, color=colour, ls=ls,
                          label=HISTOGRAM_LABELS.get(name, f"SDE, degree-{s.drift_degree} drift"))
        ax.set(xlabel="m", title=f"L = {L}, T = {T_near:g}")
        axes[0, 0].set_ylabel("fraction of samples")
    # one legend under the panels (the λ of each size is in the chapter's tables)
    handles = {label: h for ax in axes[0] for h, label in zip(*ax.get_legend_handles_labels())}
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=len(handles))
    figs["histograms"] = fig
    return figs


# ------------------------------------------------------------------------------------ claims
CLAIMS = ClaimSet()
BOTH = {"quick": True, "paper": True}
_OFFICIAL = paper_numbers.ISING_CRITICAL["fits"]
#: the accuracy the paper's own SDE fits claim: their largest relative distance from the exact exponents
#: (1/ν: |1.0546 − 1| = 5.5 %; β/ν 4 %, γ/ν 2.4 %). An exponent "reproduced" is one within this
#: fraction of the exact value: 0.0068 for β/ν, 0.096 for γ/ν, 0.055 for 1/ν.
REL_TOL = max(abs(_OFFICIAL[k] / EXACT[k] - 1) for k in ("beta_over_nu", "gamma_over_nu", "one_over_nu"))
_SYMBOL = {"beta_over_nu": "β/ν", "gamma_over_nu": "γ/ν", "one_over_nu": "1/ν"}


def _tol(key: str) -> float:
    return REL_TOL * EXACT[key]


def _estimates(r, src: str) -> ExponentEstimates:
    """Exponent estimates of a source, computed once per result (the chapter evaluates claims often)."""
    return r.cached(("exponents", src), lambda: exponent_estimates(typed(r), src))


@CLAIMS.add("direct_exponents", f"direct simulation of the same sizes gives the exact exponents within "
            f"{REL_TOL:.1%} (the official fits' accuracy): |β/ν − 1/8| ≤ {_tol('beta_over_nu'):.4f}, "
            f"|γ/ν − 7/4| ≤ {_tol('gamma_over_nu'):.3f}, |1/ν − 1| ≤ {_tol('one_over_nu'):.3f}",
            expect={"quick": UNDECIDED, "paper": UNDECIDED},
            reason="16 Wolff chains per point: the intervals of β/ν (about ±0.009) and of 1/ν (a log–log slope of "
                   "Binder slopes, about ±0.2) are wider than the tolerance; the points lie within it (β/ν 0.128, "
                   "γ/ν 1.74)",
            paper="exact 1/8, 7/4, 1 (Onsager)")
def _direct(r):
    est = _estimates(r, "direct")
    keys = ("beta_over_nu", "gamma_over_nu", "one_over_nu")
    if any(est.get(k) is None for k in keys):
        return None, "not fitted (a point is missing)"
    verdict = all_of(within(est.get(k), EXACT[k], _tol(k)) for k in keys)
    return verdict, "; ".join(f"{_SYMBOL[k]} {est.get(k)}" for k in keys) + f" ({est.get(keys[0]).how})"


@CLAIMS.add("binder_crossing", "the direct Binder curves of neighbouring sizes cross within 0.01 of T_c "
            "(the temperature grid's spacing there)", expect={"quick": UNDECIDED, "paper": UNDECIDED},
            reason="both crossings lie at 2.27 (point), but their bootstrap intervals over 16 chains per temperature "
                   "reach more than 0.01 below T_c",
            paper="U* ≈ 0.61 at T_c (Binder)")
def _crossing(r):
    est = crossing_estimates(typed(r))
    if not est:
        return None
    verdicts = [None if e is None else within(e, EXACT["T_c"], 0.01) for e in est.values()]
    text = ", ".join(f"{k}: {'no crossing in most resamples' if e is None else e}" for k, e in est.items())
    how = next((e.how for e in est.values() if e is not None), "")
    return all_of(verdicts), f"{text} ({how}); T_c = {EXACT['T_c']:.4f}"


def _sde_vs_direct(r, key: str):
    sde, direct = _estimates(r, "sde").get(key), _estimates(r, "direct").get(key)
    if sde is None or direct is None:
        return None, "not fitted (a rollout diverged or a point is missing)"
    diff = sde.minus(direct, how="SDE − direct; bootstrap intervals combined")
    return within(diff, 0.0, _tol(key)), (f"SDE {sde}, direct {direct}: difference {diff} vs "
                                          f"tolerance ±{_tol(key):.4g} ({sde.how})")


_SDE_TEXT = ("the SDE learned from 16×16 data gives {sym} within {tol} of direct simulation of the same sizes "
             "and temperatures ({rel:.1%} of the exact {exact}: the official SDE fits' accuracy)")


@CLAIMS.add("sde_beta", _SDE_TEXT.format(sym="β/ν", tol=f"{_tol('beta_over_nu'):.4f}", rel=REL_TOL, exact="1/8"),
            expect={"quick": UNDECIDED, "paper": False},
            reason="quick: the difference (0.011 [0.0004, 0.021]) straddles the 0.007 tolerance; paper-scale run: "
                   "the SDE's β/ν is 0.029 [0.016, 0.041] above direct, more than four times the tolerance",
            paper="0.1199 (official fit, R² 0.976)")
def _sde_beta(r):
    return _sde_vs_direct(r, "beta_over_nu")


@CLAIMS.add("sde_gamma", _SDE_TEXT.format(sym="γ/ν", tol=f"{_tol('gamma_over_nu'):.3f}", rel=REL_TOL, exact="7/4"),
            expect={"quick": UNDECIDED, "paper": UNDECIDED},
            reason="quick: the SDE's γ/ν is 0.165 above direct (point 1.7 × the tolerance; the cubic drift's χ falls "
                   "short by a factor that changes with L), but the interval [0.08, 0.25] reaches below the 0.096 "
                   "tolerance; paper-scale run: 0.07 [−0.04, 0.17], straddling it",
            paper="1.7918 (official fit, R² 0.998)")
def _sde_gamma(r):
    return _sde_vs_direct(r, "gamma_over_nu")


@CLAIMS.add("sde_one_over_nu", _SDE_TEXT.format(sym="1/ν (from the Binder slopes)", tol=f"{_tol('one_over_nu'):.3f}",
                                                rel=REL_TOL, exact="1"),
            expect={"quick": UNDECIDED, "paper": False},
            reason="quick: each Binder slope is a difference of noisy cumulants over three temperatures 0.02 apart, "
                   "and the interval of the difference is far wider than 0.055; paper-scale run (five temperatures "
                   "0.01 apart): the SDE's 1/ν is 0.75 against direct 1.12, the difference −0.38 [−0.60, −0.21]",
            paper="1.0546 (official fit of |dU/dT| over L = 16…64)")
def _sde_nu(r):
    return _sde_vs_direct(r, "one_over_nu")


@CLAIMS.add("lambda_near_K", "neighbouring patches' increments over δt are nearly uncorrelated, so the "
            "measured λ is within 25 % of K (0.8 ≤ λ/K ≤ 1.25) at every size and temperature, well away from "
            "the official hand-tuned λ ≈ 0.55–0.63 K", expect={"quick": UNDECIDED, "paper": UNDECIDED},
            reason="every measured λ/K lies in 0.86–1.06, but the lower end of the smallest one's interval "
                   "(from ρ_p's standard error over 10 window pairs per snapshot) falls just below 0.8",
            paper="λ = 2.2 (K = 4), 10 (K = 16) at T = 2.27, hand-tuned")
def _lambda(r):
    est = lambda_estimates(typed(r))
    if not est:
        return None
    verdict = all_of(within(e.map(np.log), 0.0, float(np.log(1.25))) for e in est.values())
    lo = min(est.values(), key=lambda e: e.value)
    hi = max(est.values(), key=lambda e: e.value)
    return verdict, (f"λ/K from {lo} to {hi}; widest interval [{min(e.lo for e in est.values()):.2f}, "
                     f"{max(e.hi for e in est.values()):.2f}] (1/(1 + 4ρ_p), ρ_p ± 1.96 s.e.)")


def _ratios(r, degree: int) -> Mapping[int, SizeRatios]:
    return r.cached(("ratios", degree), lambda: ratio_estimates(typed(r), f"sde_degree_{degree}").per_size)


@CLAIMS.add("flexible_drift_small", "a more flexible drift (odd degree 5) reproduces direct ⟨|M|⟩ within 5 % and χ "
            "within 20 % at every size but the largest (T nearest T_c)", expect={"quick": True},
            paper="— (the official SDE is a network)")
def _flex_small(r):
    rows = _ratios(r, 5)
    if len(rows) < 2:
        return None
    small = {L: v for L, v in rows.items() if L != max(rows)}
    if any(v.abs_m is None or v.chi is None for v in small.values()):
        return False, "a degree-5 rollout diverged"
    verdict = all_of([within(v.abs_m, 1.0, 0.05) for v in small.values()]
                     + [within(v.chi, 1.0, 0.2) for v in small.values()])
    how = next(iter(small.values())).chi.how
    return verdict, "; ".join(f"L = {L}: ⟨|M|⟩ {v.abs_m}×, χ {v.chi}×" for L, v in small.items()) + \
        f" ({how})"


@CLAIMS.add("flexible_drift_largest", "…but at the largest size its χ is off by more than 50 % (SDE / direct "
            "outside [1/1.5, 1.5]): with the quick scale's pairs, the drift error grows like K (see the chapter) "
            "and the flexible drift follows the noise",
            expect={"quick": True}, paper="— (official: 400,000 configurations per size and temperature)")
def _flex_large(r):
    rows = _ratios(r, 5)
    if len(rows) < 2:
        return None
    L = max(rows)
    e = rows[L].chi
    if e is None:
        return True, f"L = {L}: the degree-5 rollout diverged"
    inside = within(e.map(np.log), 0.0, float(np.log(1.5)))        # True: the whole interval in [1/1.5, 1.5]
    verdict = True if (e.lo > 1.5 or e.hi < 1 / 1.5) else (False if inside else None)
    return verdict, f"L = {L}: χ {e}× direct ({e.how})"
