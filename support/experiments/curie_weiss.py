r"""Paper 2 §2.2: the macroscopic SDE of a 64×64 Curie–Weiss system from patch-sized evolution.

N = L² mean-field spins, continuous-time heat-bath Glauber dynamics (exact, rejection-free:
:mod:`support.systems.spins.curie_weiss`), T = 1.1, h = 0.1, observable m (d = 1, no closure). For
each patch side ℓ (K = (L/ℓ)² patches):

1. **Small-system data**: runs of the ℓ×ℓ system from random magnetisations, recorded every
   ``record_interval``.
2. **Large snapshots D**: small snapshots upsampled to L×L (replication, then the exact relaxation
   of an exchangeable system: a random permutation of the sites), plus as many lattices of uniformly
   random magnetisation (the official recipe: they cover far-from-equilibrium test starts). For
   ℓ = L the "small" system is the large one; the random lattices are added there too (the
   official ℓ = L run used the L×L snapshots only, which leave most of the range of m unvisited).
3. **Partial evolution**: one random patch per snapshot evolves for a fixed time δt in the frozen
   mean field of the rest of the system; ``z0 = m``, partial target ``m + Δm_patch`` (λ = K), naive
   target ``m_patch`` after evolution (λ = 1).
4. **SDE**: drift MLP and a state-dependent diagonal σ(m), trained by L_p
   (:mod:`support.stochastic.study`).
5. **Test**: 20 direct simulations of the L×L system from each initial m ∈ {−0.5, …, 0.5} against
   20 SDE paths each; the official error of the ensemble-mean trajectory, the ratio of ensemble
   stds, and the learned μ(m), Nσ²(m) against the exact birth–death generator.

Deliberate differences from the official code (said in the chapter): partial evolution runs for a
fixed time δt = record_interval / substeps (the official ℓ² events take ≈ 2.6 time units, longer
than the patch's own relaxation, and a fixed event count biases the state law); the SDE's σ depends
on m (the official one is a constant); test trajectories are compared at equal physical times (the
official code aligned recorded sweeps by index).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
from tqdm.auto import tqdm

from ..claims import ClaimSet
from ..paper_numbers import paper2 as paper_numbers
from ..plotting import figure, method_colour, patch_side_axes
from ..results import ExperimentResult
from ..stochastic.study import (SDESettings, fit_sde, mean_trajectory_error, pairs_from_patches,
                                rollouts, std_ratio)
from ..systems.spins import curie_weiss as cw
from ..systems.spins import magnetisation, patch_origins
from .config import LatticeStudyConfig, resolve

VERSION = 2                 # 2: std ratio = mean of per-time ratios (was ratio of mean stds)
TARGETS = ("ours", "naive")


@dataclass
class Config(LatticeStudyConfig):
    L: int = 64
    T: float = 1.1
    h: float = 0.1
    patch_sides: tuple[int, ...] = (8, 16, 32, 64)
    small_runs: int = 200                  # small-system runs per ℓ (official: 1000)
    small_records: int = 100               # records per run (official: 200 sweeps)
    record_interval: float = 2.6272        # official mean time of one large-system sweep
    substeps: int = 10                     # δt = record_interval / substeps (training and rollout)
    n_upsampled: int = 10_000              # large snapshots from small ones (official: 100,000)
    n_random: int = 10_000                 # random-magnetisation snapshots (official: 100,000)
    sde: SDESettings = field(default_factory=lambda: SDESettings(steps=2000))   # float64 pairs
    test_m0: tuple[float, ...] = (-0.5, -0.25, 0.0, 0.25, 0.5)
    test_paths: int = 20                   # true and predicted trajectories per initial m
    test_records: int = 200                # official: 500
    stationary_from: int = 40              # records after which the ensembles count as stationary
    m_grid: tuple[float, float] = (-0.5, 0.75)   # where learned coefficients are scored

    PRESETS: ClassVar = {
        "quick": {},
        "paper": dict(small_runs=1000, small_records=200, n_upsampled=100_000, n_random=100_000,
                      sde=SDESettings(steps=20_000), test_records=500)}


# ------------------------------------------------------------------------------------ data
def small_system_snapshots(cfg: Config, ell: int, rng: np.random.Generator) -> np.ndarray:
    """All records of ``small_runs`` ℓ×ℓ runs from uniformly random magnetisations ``[n, ℓ, ℓ]``."""
    start = cw.lattices_with_magnetisation(rng.uniform(-1, 1, cfg.small_runs), ell, rng)
    x, _ = cw.simulate(start, cfg.small_records, cfg.T, cfg.h, seed=rng,
                       record_time=cfg.record_interval)
    return x.reshape(-1, ell, ell)


def training_snapshots(cfg: Config, ell: int, rng: np.random.Generator) -> np.ndarray:
    """D: upsampled small snapshots plus random-magnetisation lattices ``[n, L, L]``."""
    small = small_system_snapshots(cfg, ell, rng)
    pick = rng.integers(0, len(small), cfg.n_upsampled)
    ups = cw.upsample(small[pick], cfg.L // ell, rng)
    rand = cw.lattices_with_magnetisation(rng.uniform(-1, 1, cfg.n_random), cfg.L, rng)
    return np.concatenate([ups, rand])


def partial_pairs(cfg: Config, ell: int, snapshots: np.ndarray, rng: np.random.Generator) -> dict:
    """One random patch per snapshot evolved for δt in the frozen global field: both pair sets."""
    K = cfg.n_patches(ell)
    origins = patch_origins((cfg.L, cfg.L), ell, rng.integers(0, K, len(snapshots)))
    after, _ = cw.evolve_patches_for_time(snapshots, origins, ell, cfg.dt, cfg.T, cfg.h, seed=rng,
                                          field="global")
    rows = origins[:, 0, None] + np.arange(ell)
    cols = origins[:, 1, None] + np.arange(ell)
    before = snapshots[np.arange(len(snapshots))[:, None, None], rows[:, :, None], cols[:, None, :]]
    return pairs_from_patches(magnetisation(snapshots), magnetisation(before), magnetisation(after),
                              cfg.dt, K)


def ground_truth(cfg: Config, rng: np.random.Generator) -> np.ndarray:
    """Direct simulations of the L×L system: m(t) ``[n_m0, paths, records + 1]``."""
    out = []
    for m0 in cfg.test_m0:
        start = cw.lattices_with_magnetisation(np.full(cfg.test_paths, m0), cfg.L, rng)
        x, _ = cw.simulate(start, cfg.test_records, cfg.T, cfg.h, seed=rng,
                           record_time=cfg.record_interval)
        out.append(magnetisation(x))
    return np.stack(out)


# ------------------------------------------------------------------------------------ study
def _coefficients(model, cfg: Config) -> dict:
    grid = np.linspace(-0.9, 0.95, 75)
    with torch.no_grad():
        z = torch.as_tensor(grid[:, None], dtype=torch.float64)
        mu = model.drift(z)[:, 0].numpy()
        var = model.diffusion_matrix(z)[:, 0, 0].numpy()
    mu_exact, var_exact = cw.generator_coefficients(grid, cfg.N, cfg.T, cfg.h)
    inside = (grid >= cfg.m_grid[0]) & (grid <= cfg.m_grid[1])
    return {"m": grid, "mu": mu, "N_sigma2": cfg.N * var, "mu_exact": mu_exact,
            "N_sigma2_exact": cfg.N * var_exact,
            "mu_max_abs_error": float(np.abs(mu - mu_exact)[inside].max()),
            "sigma2_max_rel_error": float(np.abs(var / var_exact - 1)[inside].max()),
            "sigma2_median_ratio": float(np.median((var / var_exact)[inside]))}


def one_patch_side(cfg: Config, ell: int, truth: np.ndarray, seed: int) -> dict:
    """Data, both SDEs and their scores for patch side ℓ."""
    rng = np.random.default_rng([seed, ell])
    t0 = time.perf_counter()
    snaps = training_snapshots(cfg, ell, rng)
    pairs = partial_pairs(cfg, ell, snaps, rng)
    t_data = time.perf_counter() - t0
    K = cfg.n_patches(ell)
    out = {"ell": ell, "K": K, "n_pairs": len(snaps), "seconds_data": t_data, "models": {}}
    for target, key, lam in (("ours", "partial", float(K)), ("naive", "naive", 1.0)):
        model = fit_sde(pairs[key], lam, cfg.sde, seed=seed)
        starts = torch.tensor(cfg.test_m0, dtype=torch.float64).repeat_interleave(cfg.test_paths)
        pred = rollouts(model, starts, cfg.dt, cfg.test_records * cfg.substeps, seed=seed,
                        record_every=cfg.substeps)[..., 0].reshape(len(cfg.test_m0), cfg.test_paths, -1).numpy()
        errors = [mean_trajectory_error(p[..., None], t[..., None]) for p, t in zip(pred, truth)]
        stds = [std_ratio(p[..., None], t[..., None], cfg.stationary_from)[0] for p, t in zip(pred, truth)]
        out["models"][target] = {"lambda": lam, "error": float(np.mean(errors)), "error_per_m0": errors,
                                 "std_ratio": float(np.mean(stds)),
                                 "pred_mean": pred.mean(axis=1), "pred_std": pred.std(axis=1, ddof=1),
                                 "coefficients": _coefficients(model, cfg)}
    out["seconds"] = time.perf_counter() - t0
    return out


def run(cfg: Config | None = None, *, scale: str | None = None, seed: int = 0,
        progress: bool = True) -> ExperimentResult:
    cfg = resolve(Config, cfg, scale)
    for ell in cfg.patch_sides:
        cfg.n_patches(ell)
    t0 = time.perf_counter()
    truth = ground_truth(cfg, np.random.default_rng([seed, 0]))
    per_ell = [one_patch_side(cfg, ell, truth, seed)
               for ell in tqdm(cfg.patch_sides, desc="patch sides", disable=not progress)]
    exact_mean, exact_std = cw.stationary_moments(cfg.N, cfg.T, cfg.h)
    late = truth[:, :, cfg.stationary_from:]
    metrics = {"per_ell": per_ell, "truth_mean": truth.mean(axis=1), "truth_std": truth.std(axis=1, ddof=1),
               "time": np.arange(cfg.test_records + 1) * cfg.record_interval, "dt": cfg.dt,
               "stationary": {"mean": float(late.mean()), "std": float(late.std()),
                              "se_mean": float(late.mean(axis=2).std(ddof=1) / np.sqrt(late.shape[0] * late.shape[1])),
                              "exact_mean": exact_mean, "exact_std": exact_std}}
    return ExperimentResult.of(cfg, name="curie_weiss", version=VERSION, seed=seed, metrics=metrics,
                               comparison=_comparison(metrics), figures=_figures(cfg, metrics),
                               started=t0, threads=1)


# ------------------------------------------------------------------------------------ reporting
def _comparison(m: dict) -> list[dict]:
    official = paper_numbers.CURIE_WEISS["errors"]
    rows = []
    for r in m["per_ell"]:
        ref = official.get(r["ell"], {})
        for target in TARGETS:
            rows.append({"quantity": f"ℓ = {r['ell']} (K = {r['K']}): {target} error of the mean trajectory",
                         "measured": r["models"][target]["error"], "paper": ref.get(target),
                         "note": f"std ratio pred/true {r['models'][target]['std_ratio']:.2f}"})
    s = m["stationary"]
    rows.append({"quantity": "direct simulation: stationary mean m", "measured": s["mean"],
                 "predicted": s["exact_mean"], "note": "exact stationary law"})
    rows.append({"quantity": "direct simulation: stationary std of m", "measured": s["std"],
                 "predicted": s["exact_std"], "note": "exact stationary law"})
    return rows


def _figures(cfg: Config, m: dict) -> dict:
    figs = {}
    fig, axes = figure(2, 1, width=4.2, height=3.3)
    for i, r in enumerate(m["per_ell"]):
        c = r["models"]["ours"]["coefficients"]
        axes[0, 0].plot(c["m"], c["mu"], color=method_colour("", i), label=f"ours, ℓ = {r['ell']}")
        axes[0, 1].plot(c["m"], c["N_sigma2"], color=method_colour("", i), label=f"ours, ℓ = {r['ell']}")
        n = r["models"]["naive"]["coefficients"]
        axes[0, 1].plot(n["m"], n["N_sigma2"], color=method_colour("", i), ls=":", lw=1)
    c = m["per_ell"][0]["models"]["ours"]["coefficients"]
    axes[0, 0].plot(c["m"], c["mu_exact"], "k--", lw=1.5, label="exact")
    axes[0, 1].plot(c["m"], c["N_sigma2_exact"], "k--", lw=1.5, label="exact")
    axes[0, 0].set(xlabel="m", ylabel="drift μ(m)", title="Learned drift")
    axes[0, 1].set(xlabel="m", ylabel="N σ²(m)", yscale="log", title="Learned diffusion (dotted: naive)")
    axes[0, 0].legend(fontsize=7)
    figs["coefficients"] = fig

    fig, axes = figure(len(TARGETS), 1, width=4.2, height=3.3, sharey=True)
    small = m["per_ell"][0]
    t = np.asarray(m["time"])
    for ax, target in zip(axes[0], TARGETS):
        p = small["models"][target]
        for j, m0 in enumerate(cfg.test_m0):
            mt, st = np.asarray(m["truth_mean"][j]), np.asarray(m["truth_std"][j])
            mp, sp = np.asarray(p["pred_mean"][j]), np.asarray(p["pred_std"][j])
            ax.fill_between(t, mt - st, mt + st, color="0.6", alpha=0.35, lw=0)
            ax.plot(t, mp, color=method_colour("", j), lw=1.2)
            ax.fill_between(t, mp - sp, mp + sp, color=method_colour("", j), alpha=0.2, lw=0)
        ax.set(xlabel="t", ylabel="m", xscale="symlog", title=f"{target}, ℓ = {small['ell']} (K = {small['K']})")
    figs["bands"] = fig

    fig, axes = figure(1, 1, width=4.6, height=3.3)
    ax = axes[0, 0]
    ells = [r["ell"] for r in m["per_ell"]]
    official = paper_numbers.CURIE_WEISS["errors"]
    for target, colour in zip(TARGETS, ("C0", "C3")):
        ax.plot(ells, [r["models"][target]["error"] for r in m["per_ell"]], "o-", color=colour,
                label=f"{target} (this book)")
    patch_side_axes(ax, ells, "error of the mean trajectory", "Error against patch size", official)
    ax.legend(fontsize=7)
    figs["error_vs_patch"] = fig
    return figs


# ------------------------------------------------------------------------------------ claims
CLAIMS = ClaimSet()
BOTH = {"quick": True, "paper": True}


def _smallest(r) -> dict:
    return min(r.metrics["per_ell"], key=lambda x: x["ell"])


def _partial(r) -> list[dict]:
    return [x for x in r.metrics["per_ell"] if x["K"] > 1]


@CLAIMS.add("beats_naive", "at the smallest patch, λ = K beats the naive baseline on the error of the "
            "mean trajectory", expect=BOTH, paper="ℓ = 8: 4.38e-3 vs 1.26e-2")
def _beats(r):
    s = _smallest(r)["models"]
    return s["ours"]["error"] < s["naive"]["error"], (f"ℓ = {_smallest(r)['ell']}: ours "
                                                      f"{s['ours']['error']:.2e}, naive {s['naive']['error']:.2e}")


@CLAIMS.add("std_ours", "λ = K reproduces the large system's fluctuations at every patch size: stationary std "
            "within 10 % at paper scale, 40 % at the quick scale (fewer pairs and SDE steps)", expect=BOTH,
            paper="ours 0.021–0.029 vs true 0.024")
def _std_ours(r):
    tol = 0.10 if r.scale == "paper" else 0.40
    ratios = [x["models"]["ours"]["std_ratio"] for x in r.metrics["per_ell"]]
    return all(abs(q - 1) < tol for q in ratios), "std ratios " + ", ".join(f"{q:.2f}" for q in ratios)


@CLAIMS.add("std_naive", "the naive baseline's fluctuations are far too wide at the smallest patch "
            "(std ratio > √K / 2)", expect=BOTH, paper="naive 0.163 vs true 0.024 at ℓ = 8 (≈ √K/1.2)")
def _std_naive(r):
    s = _smallest(r)
    q = s["models"]["naive"]["std_ratio"]
    return q > s["K"] ** 0.5 / 2, f"std ratio {q:.1f} (√K = {s['K'] ** 0.5:.0f})"


@CLAIMS.add("sigma2", "λ = K learns the exact diffusion Nσ²(m) of the birth–death generator (m in the scored "
            "range) at every patch size: within 20 % at paper scale, 25 % at the quick scale", expect=BOTH,
            paper="— (the official σ is a constant)")
def _sigma2(r):
    tol = 0.20 if r.scale == "paper" else 0.25
    errs = [x["models"]["ours"]["coefficients"]["sigma2_max_rel_error"] for x in r.metrics["per_ell"]]
    return max(errs) < tol, "largest relative error " + ", ".join(f"{e:.0%}" for e in errs)


@CLAIMS.add("sigma2_naive", "the naive baseline's diffusion is more than K/2 times too large (every K > 1)",
            expect=BOTH, paper="baseline overestimates fluctuations")
def _sigma2_naive(r):
    rows = _partial(r)
    q = [x["models"]["naive"]["coefficients"]["sigma2_median_ratio"] / x["K"] for x in rows]
    return all(v > 0.5 for v in q), "median ratio / K " + ", ".join(f"{v:.1f}" for v in q)


@CLAIMS.add("drift", "λ = K learns the exact drift μ(m) within 0.05 at every patch size", expect=BOTH,
            paper="—")
def _drift(r):
    errs = [x["models"]["ours"]["coefficients"]["mu_max_abs_error"] for x in r.metrics["per_ell"]]
    return max(errs) < 0.05, "largest error " + ", ".join(f"{e:.3f}" for e in errs)


@CLAIMS.add("truth_exact", "direct simulation of the 64×64 system has the exact stationary mean (3 s.e.) "
            "and std (15 %)", expect=BOTH, paper="⟨m⟩ = 0.4899, std 0.0245 (exact)")
def _truth(r):
    s = r.metrics["stationary"]
    ok = abs(s["mean"] - s["exact_mean"]) < 3 * s["se_mean"] + 1e-3 and abs(s["std"] / s["exact_std"] - 1) < 0.15
    return ok, f"mean {s['mean']:.4f} (exact {s['exact_mean']:.4f}), std {s['std']:.4f} (exact {s['exact_std']:.4f})"
