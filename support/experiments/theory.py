r"""Theory of L_x,p, checked numerically on a linear system with an exact closure.

Studies (all exact or Monte-Carlo against exact values, no training except the L_cond demo):

1. ``bounds``: N·L_x = ‖J^†(Jf − g)‖² + ‖(I − P)f‖² and σ_max⁻²‖Jf − g‖² ≤ ‖J^†(Jf − g)‖² ≤
   σ_min⁻²‖Jf − g‖², for encoder Jacobians with prescribed κ(J).
2. ``unbiased``: E_I[L_x,p] = L_x over many random subsets, for several p.
3. ``variance``: the variance of the L_x,p gradient vs p, against the exact finite-population formula
   Var = Σ_b (1/m − 1/N) S_b² / B².
4. ``importance``: non-uniform subsets with Horvitz–Thompson weights stay unbiased.
5. ``conditioning``: a learned closure autoencoder with and without L_cond, κ(J) of the result.
6. ``budget``: cost of f_I (non-zeros touched) grows linearly with |I|.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..closure import ClosureAutoencoder, train_autoencoder
from ..jacobian import condition_number, pinv_rows
from ..losses import loss_x_decomposition
from ..figures import missing_figure, roundtrip
from ..plotting import figure, label_log_axis
from ..claims import ClaimSet
from ..results import ExperimentResult
from ..uncertainty import Estimate, above, z_rule, z_verdict
from ..subsets import importance_subsets, uniform_subsets
from ..systems.linear import LinearBlockSystem
from ..train import TrainConfig, torch_threads
from .config import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, ExperimentConfig, Limit, each, resolve

VERSION = 1


@dataclass
class Config(ExperimentConfig):
    block_size: int = 16
    n_configs: int = 64
    kappas: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0, 100.0)
    n_directions: int = 400
    ps: tuple[float, ...] = (1 / 16, 1 / 8, 1 / 4, 1 / 2)
    n_draws: int = 2000
    ae_snapshots: int = 6000
    ae_epochs: int = 6
    lambda_conds: tuple[float, ...] = (0.0, 1e-2)

    PRESETS: ClassVar = {"quick": {},
                         "paper": {"n_draws": 20000, "ae_snapshots": 60000, "ae_epochs": 30}}
    LIMITS: ClassVar = {"block_size": AT_LEAST_ONE, "n_configs": AT_LEAST_ONE, "kappas": each(Limit(lo=1)),
                        "n_directions": AT_LEAST_ONE, "ps": each(FRACTION), "n_draws": AT_LEAST_ONE,
                        "ae_snapshots": AT_LEAST_ONE, "ae_epochs": AT_LEAST_ONE,
                        "lambda_conds": each(NON_NEGATIVE)}


def _orthonormal_rows(system: LinearBlockSystem) -> torch.Tensor:
    """Block-mean rows rescaled to orthonormal (d × N)."""
    return system.block_mean_matrix() * system.block_size ** 0.5


def jacobian_with_condition(system: LinearBlockSystem, kappa: float, gen: torch.Generator) -> torch.Tensor:
    """J = U diag(s) Q with singular values geometric from 1 to κ, U random orthogonal (d × N)."""
    d = system.n_blocks
    U, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=system.dtype))
    s = torch.logspace(0, np.log10(kappa), d, dtype=system.dtype)
    return U @ torch.diag(s) @ _orthonormal_rows(system)


def bounds_study(system, cfg: Config, gen: torch.Generator) -> dict:
    """Ratio ‖J^†(Jf − g)‖²/‖Jf − g‖² over random errors e = Jf − g, per κ, with the bounds."""
    x = system.initial_conditions(cfg.n_configs, gen)
    f = system.full_force(x)
    rows = []
    for kappa in cfg.kappas:
        J = jacobian_with_condition(system, kappa, gen).expand(cfg.n_configs, -1, -1)
        Jf = (J @ f.unsqueeze(-1)).squeeze(-1)
        e = torch.randn(cfg.n_directions, cfg.n_configs, system.n_blocks, generator=gen, dtype=f.dtype)
        parts = loss_x_decomposition(J.repeat(cfg.n_directions, 1, 1), f.repeat(cfg.n_directions, 1),
                                     (Jf - e).reshape(-1, system.n_blocks))
        identity = (parts["n_lx"] - parts["weighted_lz"] - parts["constant"]).abs().max()
        ratio = parts["weighted_lz"] / parts["lz"]
        sv = torch.linalg.svdvals(J[0])
        rows.append({"kappa": kappa, "ratio_min": ratio.min().item(), "ratio_max": ratio.max().item(),
                     "lower": sv[0].item() ** -2, "upper": sv[-1].item() ** -2,
                     "identity_error": identity.item(), "identity_scale": parts["n_lx"].abs().max().item(),
                     "constant_share": (parts["constant"] / parts["n_lx"]).mean().item()})
    return {"rows": rows}


def _residual_setup(system: LinearBlockSystem, cfg: Config, gen: torch.Generator):
    """Configurations, exact forces, J = block means and an imperfect linear latent model g."""
    x = system.initial_conditions(cfg.n_configs, gen)
    f = system.full_force(x)
    J = system.block_mean_matrix().expand(cfg.n_configs, -1, -1)
    z = system.exact_closure(x)
    W = system.B + 0.3 * torch.randn(system.n_blocks, system.n_blocks, generator=gen, dtype=x.dtype)
    all_rows = torch.arange(system.state_dim).expand(cfg.n_configs, -1)
    psi = pinv_rows(J, all_rows)                                       # [B, N, d]
    resid = f - (psi @ (z @ W.T).unsqueeze(-1)).squeeze(-1)            # r = f − J^† g
    # per-row gradient of r_i² w.r.t. W: −2 r_i ψ_i ⊗ z  → flattened [B, N, d²]
    grads = (-2 * resid.unsqueeze(-1) * psi).unsqueeze(-1) * z[:, None, None, :]
    return x, f, resid, grads.flatten(2)


def _draw(n_units: int, p: float, n: int, gen: torch.Generator, scores=None):
    if scores is None:
        u = uniform_subsets(n, n_units, p, gen)
        return u, torch.ones(u.shape, dtype=torch.float64)
    u, w = importance_subsets(scores, p, n, gen)
    return u, w.double()


def unbiased_study(system, cfg: Config, gen: torch.Generator) -> dict:
    """Monte Carlo of L_x,p and its gradient over subsets; exact L_x and exact variance formula."""
    x, f, resid, grads = _residual_setup(system, cfg, gen)
    B, N = resid.shape
    sq = resid.pow(2)
    lx = sq.mean().item()
    out = {"L_x": lx, "per_p": []}
    for p in cfg.ps:
        vals, gvals = [], []
        for _ in range(cfg.n_draws):
            u, w = _draw(N, p, B, gen)
            vals.append((sq.gather(1, u) * w).mean().item())
            gvals.append((grads.gather(1, u.unsqueeze(-1).expand(-1, -1, grads.shape[-1]))).mean((0, 1)))
        vals_t, g = torch.tensor(vals), torch.stack(gvals)
        m = u.shape[1]
        s2 = grads.var(dim=1, unbiased=True).sum(-1)                  # S_b² (trace), [B]
        var_theory = ((1 / m - 1 / N) * s2).sum().item() / B**2
        var_measured = g.var(dim=0, unbiased=True).sum().item()
        # the total variance is the mean of ‖g − ḡ‖² over the draws: its standard error from their spread
        dev2 = (g - g.mean(0)).pow(2).sum(-1)
        var_se = dev2.std().item() / cfg.n_draws**0.5
        se = vals_t.std().item() / cfg.n_draws**0.5
        out["per_p"].append({"p": p, "m": m, "mean": vals_t.mean().item(), "se": se,
                             "z_score": (vals_t.mean().item() - lx) / se, "samples": vals,
                             "grad_var": var_measured, "grad_var_se": var_se, "grad_var_theory": var_theory})
    return out


def importance_study(system, cfg: Config, gen: torch.Generator, p: float = 1 / 8) -> dict:
    """Subsets with π_i ∝ |x_i| (free: configurations are free) and HT weights vs uniform."""
    x, f, resid, _ = _residual_setup(system, cfg, gen)
    sq = resid.pow(2)
    lx = sq.mean().item()
    scores = x.abs() + 0.1 * x.abs().mean()
    res = {}
    for name, sc in (("uniform", None), ("importance", scores)):
        vals = torch.tensor([(sq.gather(1, u) * w).mean().item()
                             for u, w in (_draw(system.state_dim, p, cfg.n_configs, gen, sc)
                                          for _ in range(cfg.n_draws))])
        se = vals.std().item() / cfg.n_draws**0.5
        res[name] = {"mean": vals.mean().item(), "std": vals.std().item(),
                     "z_score": (vals.mean().item() - lx) / se}
    return {"p": p, "L_x": lx, **res}


def conditioning_study(system, cfg: Config, seed: int, progress: bool) -> dict:
    """Train the closure autoencoder with each λ_cond; report κ(J) of the learned encoder."""
    traj = system.trajectories(cfg.ae_snapshots // 51 + 1, seed, n_steps=50)
    snaps = traj.snapshots().float()
    test = snaps[torch.randperm(len(snaps), generator=torch.Generator().manual_seed(seed))[:256]]
    out = []
    for lam in cfg.lambda_conds:
        torch.manual_seed(seed)
        ae = ClosureAutoencoder(system.observables, system.n_observables, system.state_dim,
                                system.n_blocks, hidden=(32, 32))
        hist = train_autoencoder(ae, snaps, lam, TrainConfig(lr=1e-3, epochs=cfg.ae_epochs, batch_size=128,
                                                             seed=seed, progress=progress,
                                                             desc=f"AE λ_cond={lam:g}"))
        kappa = condition_number(ae.jacobian(test).double())
        rec = (ae(test) - test).pow(2).mean().item()
        out.append({"lambda_cond": lam, "kappa_median": kappa.median().item(),
                    "kappa_p90": kappa.quantile(0.9).item(), "kappas": kappa.tolist(),
                    "reconstruction_mse": rec, "final_loss": hist.loss[-1]})
    return {"rows": out}


def budget_study(system: LinearBlockSystem, gen: torch.Generator) -> dict:
    """Non-zeros of A touched by f_I, against |I|: exactly linear for a sparse A."""
    sizes = [1, 2, 4, 8, 16, 32, system.state_dim]
    nnz = [system.nonzeros_touched(uniform_subsets(1, system.state_dim, s / system.state_dim, gen)[0])
           for s in sizes]
    per_row = (system.coefs != 0).sum(1)
    return {"sizes": sizes, "nonzeros": nnz, "max_row_nnz": int(per_row.max()), "min_row_nnz": int(per_row.min())}


#: bins of the stored histogram of L_x,p over the subset draws (per p)
HIST_BINS = 40


def figures(res: dict, cfg: Config | None = None) -> dict:
    """Every figure of a run from its metrics (as ``results.json`` holds them) alone: the run draws
    its own figures with it, and a chapter the saved run's. A saved run written before the
    histograms of L_x,p were stored gets a placeholder for that figure."""
    figs = {}
    fig, ax = figure(1, 1, width=4.6)
    ax = ax[0, 0]
    rows = res["bounds"]["rows"]
    k = [r["kappa"] for r in rows]
    ax.fill_between(k, [r["lower"] for r in rows], [r["upper"] for r in rows], alpha=0.2,
                    label="bounds σ_max⁻², σ_min⁻²")
    ax.plot(k, [r["ratio_min"] for r in rows], "o-", label="min over random errors")
    ax.plot(k, [r["ratio_max"] for r in rows], "s-", label="max over random errors")
    ax.set(xscale="log", yscale="log", xlabel="κ(J)", ylabel="‖J†(Jf−g)‖² / ‖Jf−g‖²",
           title="L_x vs L_z: the band widens as κ²")
    ax.legend(fontsize=8)
    figs["bounds"] = fig

    per_p = res["unbiased"]["per_p"]
    if all("histogram" in row for row in per_p):
        fig, axes = figure(len(per_p), 1, width=2.6)
        for a, row in zip(axes[0], per_p):
            h = row["histogram"]
            a.stairs(h["counts"], h["edges"], fill=True, color="#1f77b4", alpha=0.7)
            a.axvline(res["unbiased"]["L_x"], color="k", ls="--", label="L_x (exact)")
            a.axvline(row["mean"], color="C3", label="mean of L_x,p")
            a.set(title=f"p = {row['p']:.3g}", xlabel="L_x,p")
        # one legend under the panels: inside a small panel it covers the histogram
        fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=2)
        figs["unbiased"] = fig
    else:
        figs["unbiased"] = missing_figure("theory", "histograms of L_x,p", "L_x,p over subset draws")

    fig, ax = figure(1, 1)
    ax = ax[0, 0]
    ps = [r["p"] for r in per_p]
    ax.plot(ps, [r["grad_var"] for r in per_p], "o", label="measured")
    ax.plot(ps, [r["grad_var_theory"] for r in per_p], "-", label="(1/m − 1/N) S² / B (exact)")
    ax.set(xscale="log", yscale="log", xlabel="p", ylabel="total gradient variance",
           title="Variance of ∇L_x,p")
    label_log_axis(ax, ps)                      # ticks at the p values (no crowded minor labels)
    ax.legend(fontsize=8)
    figs["variance"] = fig

    fig, ax = figure(1, 1)
    ax = ax[0, 0]
    for row in res["conditioning"]["rows"]:
        ax.hist(np.log10(row["kappas"]), bins=30, alpha=0.6, label=f"λ_cond = {row['lambda_cond']:g}")
    ax.set(xlabel="log₁₀ κ(J) of the learned encoder", ylabel="test configurations",
           title="L_cond keeps the encoder well conditioned")
    ax.legend(fontsize=8)
    figs["conditioning"] = fig

    fig, ax = figure(1, 1)
    ax = ax[0, 0]
    b = res["budget"]
    ax.plot(b["sizes"], b["nonzeros"], "o-")
    ax.set(xscale="log", yscale="log", xlabel="|I| (force rows requested)",
           ylabel="multiply–adds in f_I", title="Sparse forces: cost ∝ |I|")
    figs["budget"] = fig
    for f in figs.values():
        plt.close(f)
    return figs


def _comparison(res: dict) -> list[dict]:
    rows = res["bounds"]["rows"]
    worst = max(rows, key=lambda r: r["kappa"])
    per_p = res["unbiased"]["per_p"]
    lo, hi = per_p[0], per_p[-1]
    cond = res["conditioning"]["rows"]
    return [
        {"quantity": "max |N·L_x − (weighted L_z + const)| (float64)",
         "measured": max(r["identity_error"] for r in rows), "predicted": 0.0, "note": "identity (Thm 1)"},
        {"quantity": f"band width max/min ratio at κ = {worst['kappa']:g}",
         "measured": worst["ratio_max"] / worst["ratio_min"], "predicted": worst["kappa"] ** 2,
         "note": "bound κ² (Thm 1); random errors stay inside"},
        *({"quantity": f"E_I[L_x,p] / L_x at p = {r['p']:.3g}", "measured": r["mean"] / res["unbiased"]["L_x"],
           "predicted": 1.0, "note": f"z = {r['z_score']:+.2f} (Thm 2: unbiased)"} for r in per_p),
        {"quantity": f"grad variance ratio p={lo['p']:.3g} / p={hi['p']:.3g}",
         "measured": lo["grad_var"] / hi["grad_var"], "predicted": lo["grad_var_theory"] / hi["grad_var_theory"],
         "note": "exact finite-population formula"},
        {"quantity": "importance-weighted E_I[L_x,p] / L_x",
         "measured": res["importance"]["importance"]["mean"] / res["importance"]["L_x"], "predicted": 1.0,
         "note": "Horvitz–Thompson weights (reviewer's question)"},
        *({"quantity": f"median κ(J) of learned encoder, λ_cond = {r['lambda_cond']:g}",
           "measured": r["kappa_median"], "note": "paper 1 uses λ_cond = 1e-6 for predator–prey"}
          for r in cond),
    ]


def run(cfg: Config | None = None, *, scale: str | None = None, seed: int = 0,
        progress: bool = True) -> ExperimentResult:
    """All theory studies; returns numbers, the comparison table and figures."""
    cfg = resolve(Config, cfg, scale)
    t0 = time.perf_counter()
    system = LinearBlockSystem(block_size=cfg.block_size)
    gen = torch.Generator().manual_seed(seed)
    # tiny tensors: one thread is fastest, and several threads on a busy or CPU-capped machine
    # (Binder) make each small op wait for the others (10× slower measured with a second job running)
    with torch_threads(1):
        res = {"bounds": bounds_study(system, cfg, gen),
               "unbiased": unbiased_study(system, cfg, gen),
               "importance": importance_study(system, cfg, gen),
               "conditioning": conditioning_study(system, cfg, seed, progress),
               "budget": budget_study(system, gen)}
    for row in res["unbiased"]["per_p"]:          # the figure's histogram is stored, not the draws
        counts, edges = np.histogram(row.pop("samples"), bins=HIST_BINS)
        row["histogram"] = {"edges": edges.tolist(), "counts": counts.tolist()}
    figs = figures(roundtrip(res))
    return ExperimentResult.of(cfg, name="theory", version=VERSION, seed=seed, metrics=res,
                               comparison=_comparison(res), figures=figs, started=t0, threads=1)


# ----------------------------------------------------------------------------- claims
CLAIMS = ClaimSet()
BOTH = {"quick": True, "paper": True}

#: float64 machine epsilon; the pseudo-inverse amplifies round-off by up to κ², so an identity through
#: J† holds "to round-off" when its relative error stays below ROUNDOFF_FACTOR · κ² · ε
EPS64, ROUNDOFF_FACTOR = float(np.finfo(np.float64).eps), 1e3




@CLAIMS.add("identity", "N·L_x = ‖J†(Jf − g)‖² + ‖(I − P)f‖² holds to round-off (relative error below "
            "10³ κ² float64 epsilons, the round-off J† can amplify)", expect=BOTH,
            paper="paper 1, Thm 1 (L_x as a weighted L_z)")
def _identity(r):
    rows = r.metrics["bounds"]["rows"]
    ulps = [row["identity_error"] / row["identity_scale"] / (row["kappa"] ** 2 * EPS64) for row in rows]
    worst = max(range(len(rows)), key=lambda i: ulps[i])
    return ulps[worst] < ROUNDOFF_FACTOR, (
        f"largest relative error {ulps[worst]:.1f} κ²ε (at κ = {rows[worst]['kappa']:g}), against round-off "
        f"{ROUNDOFF_FACTOR:.0e} κ²ε (exact arithmetic, no sampling noise)")


@CLAIMS.add("bounds", "every ratio ‖J†e‖²/‖e‖² lies in [σ_max⁻², σ_min⁻²] (to round-off), and among the "
            "random errors some come within 3× of both ends (the bounds are sharp)", expect=BOTH,
            paper="paper 1, Thm 1")
def _bounds(r):
    rows = r.metrics["bounds"]["rows"]
    inside = all(x["lower"] * (1 - 1e-9) <= x["ratio_min"] and x["ratio_max"] <= x["upper"] * (1 + 1e-9)
                 for x in rows)
    near = [(x["ratio_min"] / x["lower"], x["upper"] / x["ratio_max"]) for x in rows]
    sharp = all(a <= 3 and b <= 3 for a, b in near)
    worst = max(range(len(rows)), key=lambda i: max(near[i]))
    a, b = near[worst]
    return inside and sharp, (
        f"{len(rows)} values of κ, {'all inside' if inside else 'NOT all inside'} (to 1e-9); farthest from the ends "
        f"at κ = {rows[worst]['kappa']:g}: the nearest random errors are {a:.2f}× σ_max⁻² and 1/{b:.3f} of σ_min⁻² "
        f"(≤ 3× needed; exact ratios of errors that exist, so no sampling noise)")


@CLAIMS.add("unbiased", "E_I[L_x,p] = L_x for every p (uniform subsets): the Monte-Carlo mean is within "
            "3 standard errors of the exact L_x (a bias of 5 or more fails it)", expect=BOTH,
            paper="paper 1, Thm 2 (unbiasedness)")
def _unbiased(r):
    per_p = r.metrics["unbiased"]["per_p"]
    z = max((row["z_score"] for row in per_p), key=abs)
    return z_verdict(z), (f"largest |z| = {abs(z):.2f} over {len(per_p)} values of p (z = (mean − L_x) / s.e., "
                          f"s.e. over {r.config['n_draws']:,} subset draws; {z_rule()})")


@CLAIMS.add("variance", "the gradient variance follows the finite-population formula (1/m − 1/N)S²: "
            "within 3 standard errors of the measured variance at every p", expect=BOTH,
            paper="— (derived here)")
def _variance(r):
    per_p = r.metrics["unbiased"]["per_p"]
    zs = [(row["grad_var"] - row["grad_var_theory"]) / row["grad_var_se"] for row in per_p]
    z = max(zs, key=abs)
    dev = max(abs(row["grad_var"] / row["grad_var_theory"] - 1) for row in per_p)
    rel_se = max(row["grad_var_se"] / row["grad_var"] for row in per_p)
    return z_verdict(z), (f"largest |z| = {abs(z):.2f} over {len(per_p)} values of p (largest relative "
                          f"deviation {dev:.1%}, relative s.e. up to {rel_se:.1%} over "
                          f"{r.config['n_draws']:,} draws; {z_rule()})")


@CLAIMS.add("importance", "Horvitz–Thompson weights keep non-uniform subsets unbiased: the weighted mean is "
            "within 3 standard errors of L_x", expect=BOTH, paper="— (reviewer's question, answered here)")
def _importance(r):
    z = r.metrics["importance"]["importance"]["z_score"]
    return z_verdict(z), (f"z = {z:+.2f} (s.e. over {r.config['n_draws']:,} weighted subset draws; {z_rule()})")


@CLAIMS.add("cond", "L_cond lowers the learned encoder's median κ(J) at least twofold", expect=BOTH,
            paper="paper 1 adds L_cond for this reason")
def _cond(r):
    rows = r.metrics["conditioning"]["rows"]
    k0, k1 = np.asarray(rows[0]["kappas"]), np.asarray(rows[-1]["kappas"])
    # the same held-out configurations for both encoders: resampled together
    est = Estimate.bootstrap((k0, k1), lambda a, b: float(np.median(a) / np.median(b)),
                             what="held-out configurations")
    return above(est, 2.0), (f"median κ {rows[0]['kappa_median']:.2f} → {rows[-1]['kappa_median']:.2f}: "
                             f"ratio {est.describe()}")


@CLAIMS.add("budget", "the cost of f_I grows linearly with |I| (sparse forces): between the fewest and the "
            "most non-zeros of a row times |I|", expect=BOTH, paper="paper 1's sparsity assumption")
def _budget(r):
    b = r.metrics["budget"]
    lo, hi = b["min_row_nnz"], b["max_row_nnz"]
    linear = all(lo * s <= n <= hi * s for s, n in zip(b["sizes"], b["nonzeros"]))
    return linear, (f"{b['nonzeros'][0]} … {b['nonzeros'][-1]} multiply–adds for |I| = {b['sizes'][0]} … "
                    f"{b['sizes'][-1]}, {'all' if linear else 'NOT all'} within [{lo}|I|, {hi}|I|] "
                    "(exact counts, no sampling noise)")
