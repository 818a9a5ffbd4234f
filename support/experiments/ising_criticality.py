r"""Paper 2 §2.4: the 2-D Ising phase transition (h = 0) from small-system simulation alone.

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

import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
from tqdm.auto import tqdm

from ..claims import ClaimSet
from ..paper_numbers import paper2 as paper_numbers
from ..plotting import figure, method_colour
from ..results import ExperimentResult
from ..stochastic.encoder import LatentPairs
from ..stochastic.nets import OddPolynomialDrift
from ..stochastic.study import SDESettings, fit_sde, pairs_from_patches, rollouts
from ..systems.spins import domain_wall_density, ising, magnetisation, wolff
from ..systems.spins.finite_size import (EXACT, crossing_temperature, moments, power_law_fit,
                                         slope_in_T)
from ..systems.spins.ising_patches import (adjacent_increment_correlation, lambda_from_correlation,
                                           patch_observables)
from ..train import torch_threads
from .config import ExperimentConfig, resolve

VERSION = 1
QUANTITIES = ("abs_m", "chi", "binder")


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
                       rng: np.random.Generator) -> np.ndarray:
    """D for size L: the small snapshots (L = L_small) or upsampled draws of them."""
    if L == cfg.L_small:
        return small
    pick = small[rng.integers(0, len(small), cfg.n_snapshots)]
    return ising.hierarchical_upsample(pick, L, cfg.relax_window, cfg.relax_time, T, 0.0, seed=rng)


def symmetrised(pairs: LatentPairs) -> LatentPairs:
    """The pairs and their images under m → −m (the first coordinate, m, flips; ρ_dw does not)."""
    flip = torch.ones(pairs.z0.shape[1], dtype=pairs.z0.dtype)
    flip[0] = -1.0
    return LatentPairs(torch.cat([pairs.z0, pairs.z0 * flip]), torch.cat([pairs.z1, pairs.z1 * flip]),
                       torch.cat([pairs.dt, pairs.dt]), pairs.n_patches, pairs.target)


def latent(cfg: Config, x: np.ndarray) -> np.ndarray:
    """z of lattices ``[n, L, L]``: ``[n, 1]`` (m) or ``[n, 2]`` (m, ρ_dw) with ``with_rho``."""
    z = [magnetisation(x)] + ([domain_wall_density(x)] if cfg.with_rho else [])
    return np.column_stack(z)


def training_pairs(cfg: Config, snapshots: np.ndarray, T: float, rng: np.random.Generator) -> LatentPairs:
    """Partial-evolution pairs of z (m, or (m, ρ_dw)), symmetrised."""
    L = snapshots.shape[-1]
    K = (L // cfg.L_small) ** 2
    obs = patch_observables(snapshots, cfg.L_small, cfg.dt, T, 0.0, rng, cfg.pairs_per_snapshot * K)
    d = 2 if cfg.with_rho else 1
    z0 = latent(cfg, snapshots)[obs["which"]]
    return symmetrised(pairs_from_patches(z0, obs["before"][:, :d], obs["after"][:, :d], cfg.dt, K)["partial"])


def make_drift(cfg: Config, degree: int | None = None) -> torch.nn.Module | None:
    """The drift of the SDE: an odd polynomial of ``degree`` (default ``drift_degree``) in m
    (z = m only), or the default MLP (degree 0: ``None``)."""
    degree = cfg.drift_degree if degree is None else degree
    if degree == 0:
        return None
    if cfg.with_rho:
        raise ValueError("the polynomial drift is for z = m only: use degree 0 (the MLP) with with_rho")
    return OddPolynomialDrift(degree)


def sde_statistics(cfg: Config, model, z_start: np.ndarray, L: int, T: float, seed: int) -> dict:
    """⟨|M|⟩, χ, U from the second half of ``rollout_paths`` Euler–Maruyama paths started at
    training latents, and the fraction of recorded |m| > 1 (outside the physical range)."""
    paths = rollouts(model, torch.from_numpy(z_start), cfg.dt, cfg.rollout_steps, seed=seed,
                     record_every=cfg.record_every).numpy()
    m = paths[:, paths.shape[1] // 2:, 0]
    if not np.isfinite(paths).all() or np.abs(m).max() > 10:     # diverged (m lives in [-1, 1])
        return {"finite": False, "outside": 1.0}
    out = moments(m, L, T)
    out.update(finite=True, outside=float(np.mean(np.abs(m) > 1)),
               histogram=np.histogram(m, bins=40, range=(-1.1, 1.1))[0])
    return out


def direct_statistics(cfg: Config, L: int, T: float, seed: int) -> dict:
    """⟨|M|⟩, χ, U (and the m histogram) of the L×L lattice by Wolff chains."""
    rng = np.random.default_rng([seed, L, int(round(T * 1e4))])
    start = wolff.equilibrium_lattices(L, T, 0.0, cfg.direct_chains, seed=rng)
    sweep, start = wolff.moves_per_sweep(start, T, seed=rng)
    m = wolff.wolff_chains(start, cfg.direct_records, T, moves_per_record=sweep, seed=rng)["m"]
    out = moments(m, L, T)
    out["histogram"] = np.histogram(m, bins=40, range=(-1.1, 1.1))[0]
    return out


def nearest_to_critical(cfg: Config) -> float:
    """The chapter's temperature nearest T_c (where λ = K and other drifts are fitted as well)."""
    return min(cfg.temperatures, key=lambda T: abs(T - EXACT["T_c"]))


def one_point(cfg: Config, L: int, T: float, small: np.ndarray, seed: int) -> dict:
    """Everything for one (L, T): data, λ, the SDE(s) and their statistics, and direct simulation."""
    t0 = time.perf_counter()
    rng = np.random.default_rng([seed, L, int(round(T * 1e4)), 1])
    K = (L // cfg.L_small) ** 2
    snaps = training_snapshots(cfg, L, small, T, rng)
    pairs = training_pairs(cfg, snaps, T, rng)
    corr = (adjacent_increment_correlation(snaps, cfg.L_small, cfg.dt, T, 0.0, rng,
                                           cfg.correlation_per_snapshot) if K > 1 else None)
    lam = lambda_from_correlation(K, corr["rho"]) if corr else 1.0
    z_start = latent(cfg, snaps)[rng.integers(0, len(snaps), cfg.rollout_paths)]
    out = {"L": L, "T": T, "K": K, "rho_p": corr, "lambda": lam, "n_pairs": len(pairs), "models": {}}
    fits = {"measured": (lam, cfg.drift_degree)}          # name -> (λ, drift degree)
    if T == nearest_to_critical(cfg):
        if K > 1:
            fits["K"] = (float(K), cfg.drift_degree)
        fits.update({f"degree_{d}": (lam, d) for d in cfg.compare_degrees if d != cfg.drift_degree})
    for name, (value, degree) in fits.items():
        model = fit_sde(pairs, value, cfg.sde, seed=seed, drift=make_drift(cfg, degree))
        out["models"][name] = {"lambda": value, "drift_degree": degree,
                               **sde_statistics(cfg, model, z_start, L, T, seed)}
    out["direct"] = direct_statistics(cfg, L, T, seed)
    out["seconds"] = time.perf_counter() - t0
    return out


def _usable(s: dict | None) -> bool:
    """Statistics from a rollout that stayed finite and bounded, with positive ⟨|M|⟩ and χ."""
    return (s is not None and s.get("finite", True) and all(np.isfinite(s[q]) for q in QUANTITIES)
            and s["abs_m"] > 0 and s["chi"] > 0)


def scaling_fits(points: list[dict], sizes: tuple[int, ...], T_near: float, source) -> dict:
    """−β/ν, γ/ν at ``T_near`` and 1/ν from dU/dT over the temperatures, for one source of statistics
    (``source(point) -> dict`` or None)."""
    at = sorted((p for p in points if abs(p["T"] - T_near) < 1e-9), key=lambda p: p["L"])
    stats = [source(p) for p in at]
    out = {}
    if all(_usable(s) for s in stats):
        Ls = [p["L"] for p in at]
        out["beta_over_nu"] = -power_law_fit(Ls, [s["abs_m"] for s in stats])["slope"]
        out["gamma_over_nu"] = power_law_fit(Ls, [s["chi"] for s in stats])["slope"]
    slopes = {}
    for L in sizes:
        row = sorted((p for p in points if p["L"] == L), key=lambda p: p["T"])
        s = [source(p) for p in row]
        if len(row) >= 2 and all(_usable(x) for x in s):
            slopes[L] = abs(slope_in_T([p["T"] for p in row], [x["binder"] for x in s]))
    out["dU_dT"] = slopes
    if len(slopes) >= 2 and all(v > 0 for v in slopes.values()):
        out["one_over_nu"] = power_law_fit(list(slopes), list(slopes.values()))["slope"]
    return out


def binder_curves(cfg: Config, seed: int, progress: bool) -> dict:
    """Direct U(T) on the fine grid for every L, and the crossing temperatures of neighbouring sizes."""
    curves = {L: [direct_statistics(cfg, L, T, seed + 7)["binder"] for T in cfg.binder_grid]
              for L in tqdm(cfg.sizes, desc="Binder curves", disable=not progress, leave=False)}
    Ls = sorted(curves)
    cross = {f"{a}-{b}": crossing_temperature(cfg.binder_grid, curves[a], curves[b])
             for a, b in zip(Ls, Ls[1:])}
    return {"T": list(cfg.binder_grid), "U": curves, "crossings": cross}


def run(cfg: Config | None = None, *, scale: str | None = None, seed: int = 0,
        progress: bool = True) -> ExperimentResult:
    cfg = resolve(Config, cfg, scale)
    _check(cfg)
    t0 = time.perf_counter()
    points = []
    with torch_threads(cfg.threads):
        for T in tqdm(cfg.temperatures, desc="temperatures", disable=not progress):
            small, _ = ising.snapshots_from_runs(
                cfg.L_small, cfg.n_snapshots, T, 0.0, runs=cfg.small_runs, burn_in=cfg.small_burn_in,
                interval=cfg.small_interval, seed=np.random.default_rng([seed, int(round(T * 1e4))]))
            for L in tqdm(cfg.sizes, desc=f"sizes (T = {T:g})", disable=not progress, leave=False):
                points.append(one_point(cfg, L, T, small, seed))
        binder = binder_curves(cfg, seed, progress)
    T_near = nearest_to_critical(cfg)
    fits = {"direct": scaling_fits(points, cfg.sizes, T_near, lambda p: p["direct"]),
            "sde": scaling_fits(points, cfg.sizes, T_near, lambda p: p["models"]["measured"]),
            "sde_lambda_K": scaling_fits(points, cfg.sizes, T_near,
                                         lambda p: p["models"].get("K", p["models"]["measured"] if p["K"] == 1 else None)),
            **{f"sde_degree_{d}": scaling_fits(points, cfg.sizes, T_near, lambda p, d=d: p["models"].get(f"degree_{d}"))
               for d in cfg.compare_degrees if d != cfg.drift_degree}}
    metrics = {"points": points, "fits": fits, "binder": binder, "T_near": T_near}
    return ExperimentResult.of(cfg, name="ising_criticality", version=VERSION, seed=seed, metrics=metrics,
                               comparison=_comparison(cfg, metrics), figures=_figures(cfg, metrics),
                               started=t0, threads=cfg.threads)


# ------------------------------------------------------------------------------------ reporting
def _at(m: dict, L: int, T: float) -> dict:
    return next(p for p in m["points"] if p["L"] == L and abs(p["T"] - T) < 1e-9)


def _comparison(cfg: Config, m: dict) -> list[dict]:
    official = paper_numbers.ISING_CRITICAL["fits"]
    rows = []
    for key, label in (("beta_over_nu", "β/ν (from ⟨|M|⟩)"), ("gamma_over_nu", "γ/ν (from χ)"),
                       ("one_over_nu", "1/ν (from dU/dT)")):
        rows.append({"quantity": f"{label}, learned SDE", "measured": m["fits"]["sde"].get(key),
                     "paper": official[key], "note": f"exact {EXACT[key]:g}"})
        rows.append({"quantity": f"{label}, direct simulation", "measured": m["fits"]["direct"].get(key),
                     "predicted": EXACT[key], "note": "Wolff, same sizes and temperatures"})
    for src, label in (("sde_lambda_K", "λ = K"), *((f"sde_degree_{d}", f"degree-{d} drift")
                                                     for d in cfg.compare_degrees if d != cfg.drift_degree)):
        for key, sym in (("beta_over_nu", "β/ν"), ("gamma_over_nu", "γ/ν")):
            if src in m["fits"]:
                rows.append({"quantity": f"{sym}, learned SDE with {label}", "measured": m["fits"][src].get(key),
                             "paper": official[key], "note": f"exact {EXACT[key]:g}"})
    for L in cfg.sizes:
        p = _at(m, L, m["T_near"])
        if p["K"] > 1:
            rows.append({"quantity": f"λ at T = {m['T_near']:g}, L = {L} (K = {p['K']})", "measured": p["lambda"],
                         "paper": paper_numbers.ISING_CRITICAL_LAMBDA.get(p["K"]),
                         "note": f"K/(1 + 4ρ_p), ρ_p = {p['rho_p']['rho']:.3f}; official λ hand-tuned"})
        for q, label in (("abs_m", "⟨|M|⟩"), ("chi", "χ")):
            sde = p["models"]["measured"]
            rows.append({"quantity": f"{label} at T = {m['T_near']:g}, L = {L}: SDE vs direct",
                         "measured": sde.get(q), "predicted": p["direct"][q],
                         "note": "predicted = direct simulation"})
    for pair, T in m["binder"]["crossings"].items():
        rows.append({"quantity": f"Binder crossing L = {pair} (direct)", "measured": T,
                     "predicted": EXACT["T_c"], "note": "T_c exact"})
    return rows


def _figures(cfg: Config, m: dict) -> dict:
    figs = {}
    T_near = m["T_near"]
    fig, axes = figure(3, 1, width=3.4, height=3.0)
    for ax, (q, label, key, sign) in zip(axes[0], (("abs_m", "⟨|M|⟩", "beta_over_nu", -1),
                                                  ("chi", "χ", "gamma_over_nu", 1),
                                                  ("dU", "|dU/dT|", "one_over_nu", 1))):
        for src, style, name in (("direct", "s-", "direct"), ("sde", "o-", "learned SDE")):
            if q == "dU":
                d = m["fits"][src]["dU_dT"]
                Ls, vals = list(d), list(d.values())
            else:
                Ls = list(cfg.sizes)
                vals = [(_at(m, L, T_near)["direct"] if src == "direct"
                         else _at(m, L, T_near)["models"]["measured"]).get(q, np.nan) for L in Ls]
            fit = m["fits"][src].get(key)
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
    b = m["binder"]
    for i, L in enumerate(cfg.sizes):
        ax.plot(b["T"], b["U"][L] if L in b["U"] else b["U"][str(L)], "-", color=method_colour("", i),
                label=f"direct L = {L}")
        row = sorted((p for p in m["points"] if p["L"] == L), key=lambda p: p["T"])
        ax.plot([p["T"] for p in row], [p["models"]["measured"].get("binder", np.nan) for p in row], "o--",
                color=method_colour("", i), label=f"SDE L = {L}")
    ax.axvline(EXACT["T_c"], color="0.5", ls=":")
    ax.axhline(EXACT["binder_crossing"], color="0.5", ls=":")
    ax.set(xlabel="T", ylabel="Binder cumulant U", title="Binder crossing")
    ax.legend(fontsize=6, ncol=2)
    ax = axes[0, 1]
    for i, L in enumerate(cfg.sizes):
        for src, style in (("direct", "s"), ("sde", "o")):
            xs, ys = [], []
            for p in m["points"]:
                if p["L"] != L:
                    continue
                s = p["direct"] if src == "direct" else p["models"]["measured"]
                if "abs_m" in s:
                    xs.append((p["T"] - EXACT["T_c"]) * L ** EXACT["one_over_nu"])
                    ys.append(s["abs_m"] * L ** EXACT["beta_over_nu"])
            ax.plot(xs, ys, style, color=method_colour("", i), mfc="none" if src == "sde" else None,
                    label=f"{'direct' if src == 'direct' else 'SDE'} L = {L}")
    ax.set(xlabel="(T − T_c) L^{1/ν}", ylabel="⟨|M|⟩ L^{β/ν}", title="Data collapse (exact exponents)")
    ax.legend(fontsize=6, ncol=2)
    figs["binder_collapse"] = fig

    fig, axes = figure(len(cfg.sizes), 1, width=3.0, height=2.6, sharey=False)
    edges = np.linspace(-1.1, 1.1, 41)
    for ax, L in zip(axes[0], cfg.sizes):
        p = _at(m, L, T_near)
        d = np.asarray(p["direct"]["histogram"], float)
        ax.stairs(d / d.sum(), edges, color="k", label="direct")
        for i, (name, s) in enumerate(p["models"].items()):
            if "histogram" in s:
                h = np.asarray(s["histogram"], float)
                ax.stairs(h / h.sum(), edges, color=method_colour("", i), ls=("-", "--", ":")[i % 3],
                          label=f"SDE, λ = {s['lambda']:.3g}, degree {s['drift_degree']}")
        ax.set(xlabel="m", title=f"L = {L}, T = {T_near:g}")
        ax.set_yticks([])
        ax.legend(fontsize=6)
    figs["histograms"] = fig
    return figs


# ------------------------------------------------------------------------------------ claims
CLAIMS = ClaimSet()
BOTH = {"quick": True, "paper": True}


def _fit(r, src: str, key: str):
    return r.metrics["fits"][src].get(key)


def _band(value, lo: float, hi: float) -> bool:
    return value is not None and np.isfinite(value) and lo <= value <= hi


@CLAIMS.add("direct_exponents", "direct simulation of the same sizes gives the exact exponents: β/ν within "
            "0.03 of 1/8, γ/ν within 0.1 of 7/4, 1/ν within 0.25 of 1", expect=BOTH,
            paper="exact 1/8, 7/4, 1 (Onsager)")
def _direct(r):
    b, g, n = (_fit(r, "direct", k) for k in ("beta_over_nu", "gamma_over_nu", "one_over_nu"))
    ok = _band(b, 0.095, 0.155) and _band(g, 1.65, 1.85) and _band(n, 0.75, 1.25)
    return ok, f"β/ν {b:.3f}, γ/ν {g:.3f}, 1/ν {n:.3f}"


@CLAIMS.add("binder_crossing", "the direct Binder curves of neighbouring sizes cross within 0.01 of T_c",
            expect=BOTH, paper="U* ≈ 0.61 at T_c (Binder)")
def _crossing(r):
    cross = r.metrics["binder"]["crossings"]
    ok = all(np.isfinite(v) and abs(v - EXACT["T_c"]) < 0.01 for v in cross.values())
    return ok, ", ".join(f"{k}: {v:.4f}" for k, v in cross.items())


@CLAIMS.add("sde_beta", "the SDE learned from 16×16 data gives β/ν in [0.05, 0.20] (exact 0.125; loose: "
            "three or four sizes, one seed, and every size's ⟨|M|⟩ estimated from finite rollouts)",
            expect=BOTH, paper="0.1199 (official fit, R² 0.976)")
def _sde_beta(r):
    b = _fit(r, "sde", "beta_over_nu")
    return _band(b, 0.05, 0.20), f"{b:.3f}" if b is not None else "not fitted (a rollout diverged)"


@CLAIMS.add("sde_gamma", "the SDE gives γ/ν in [1.5, 2.0] (exact 1.75)", expect=BOTH,
            paper="1.7918 (official fit, R² 0.998)")
def _sde_gamma(r):
    g = _fit(r, "sde", "gamma_over_nu")
    return _band(g, 1.5, 2.0), f"{g:.3f}" if g is not None else "not fitted (a rollout diverged)"


@CLAIMS.add("lambda_near_K", "neighbouring patches' increments over δt are nearly uncorrelated, so the "
            "measured λ is within 25 % of K at every size and temperature (the official code hand-tuned "
            "λ ≈ 0.55–0.63 K)", expect=BOTH, paper="λ = 2.2 (K = 4), 10 (K = 16) at T = 2.27, hand-tuned")
def _lambda(r):
    q = [p["lambda"] / p["K"] for p in r.metrics["points"] if p["K"] > 1]
    return all(0.8 <= v <= 1.25 for v in q), f"λ/K from {min(q):.2f} to {max(q):.2f}"


@CLAIMS.add("sde_one_over_nu", "the SDE's Binder slopes give 1/ν in [0.6, 1.6] (exact 1; three temperatures "
            "0.02 apart at the quick scale make each slope a difference of noisy cumulants)", expect=BOTH,
            paper="1.0546 (official fit of |dU/dT| over L = 16…64)")
def _sde_nu(r):
    n = _fit(r, "sde", "one_over_nu")
    return _band(n, 0.6, 1.6), f"{n:.2f}" if n is not None else "not fitted"


def _compare(r, degree: int) -> list[tuple[int, dict, dict]]:
    """(L, degree-``degree`` SDE statistics, direct statistics) at T_near, by size."""
    out = []
    for p in sorted(r.metrics["points"], key=lambda p: p["L"]):
        s = p["models"].get(f"degree_{degree}")
        if abs(p["T"] - r.metrics["T_near"]) < 1e-9 and s is not None:
            out.append((p["L"], s, p["direct"]))
    return out


@CLAIMS.add("flexible_drift_small", "a more flexible drift (odd degree 5) reproduces direct ⟨|M|⟩ within 5 % and χ "
            "within 20 % at every size but the largest (T nearest T_c)", expect={"quick": True},
            paper="— (the official SDE is a network)")
def _flex_small(r):
    rows = _compare(r, 5)
    if len(rows) < 2:
        return None
    small = rows[:-1]
    ok = all(_usable(s) and abs(s["abs_m"] / d["abs_m"] - 1) < 0.05 and abs(s["chi"] / d["chi"] - 1) < 0.2
             for _, s, d in small)
    return ok, "; ".join(f"L = {L}: ⟨|M|⟩ {s.get('abs_m', float('nan')) / d['abs_m']:.2f}×, "
                         f"χ {s.get('chi', float('nan')) / d['chi']:.2f}×" for L, s, d in small)


@CLAIMS.add("flexible_drift_largest", "…but at the largest size its χ is off by more than 50 %: with the quick "
            "scale's pairs, the drift error grows like K (see the chapter) and the flexible drift follows the noise",
            expect={"quick": True}, paper="— (official: 400,000 configurations per size and temperature)")
def _flex_large(r):
    rows = _compare(r, 5)
    if len(rows) < 2:
        return None
    L, s, d = rows[-1]
    q = s["chi"] / d["chi"] if _usable(s) else float("inf")
    return not 0.5 < q < 1.5, f"L = {L}: χ {q:.2f}× direct"
