r"""Paper 2 §2.1: a latent SDE for the stochastic predator–prey SPDE, learned from small systems only.

Pipeline (one call of :func:`run`):

1. **Small system**: Euler–Maruyama trajectories on ``n_small`` cells from random (k, m) of the
   training family (``sample_parameters``); every site update is charged to a budget.
2. **Hierarchical upsampling** to the large system (``n_large = factor · n_small`` cells, the *same*
   grid spacing, so a genuinely larger domain): time-aligned tiling (the halves of one large
   snapshot are two small trajectories at the same time), then ``local_relax`` in overlapping
   windows of the patch size with a frozen halo.
3. **Partial evolution**: one Euler–Maruyama step of one random patch (K = n_large / patch) per
   upsampled snapshot, with a frozen one-cell halo.
4. **Closure**: patch-additive autoencoder z = (ū, v̄, ẑ_u, ẑ_v), one MLP per species per patch,
   trained by reconstruction on the upsampled snapshots.
5. **SDE**: dz = μ dt + σ dW (full Cholesky σ) fitted by L_p on the partial target for every λ of
   the sweep, and on the naive target with λ = 1; equal optimisation budget for all.
6. **Evaluation** against direct simulation of the large system (ground truth, never used in
   training): MMD² between predicted and true standardised latents at every recorded time, per
   test condition (k, m); mean ± std of ū, v̄.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..budget import ForceBudget
from ..metrics import mean_std, mmd2
from ..paper_numbers import paper2 as paper_numbers
from ..plotting import figure
from ..results import ExperimentResult
from ..stochastic import (ClosureAutoencoder, LatentSDE, MLPDecoder, PatchAdditiveEncoder, PatchGrid,
                          PerChannelMLP, ZScaler, encode_pairs, local_relax, partial_evolution,
                          train_closure, train_sde)
from ..stochastic.spde_predator_prey import (TEST_PARAMETERS, PredatorPreySPDE, initial_state,
                                             sample_parameters)
from ..train import TrainConfig

NAIVE = "naive"


@dataclass
class Config:
    n_small: int = 100                      # cells of the small system (upsampling source)
    factor: int = 2                         # n_large = factor · n_small (same grid spacing)
    patch: int = 40                         # cells per patch: K = n_large / patch
    n_train_traj: int = 20                  # small-system trajectories
    n_steps: int = 3000                     # Euler–Maruyama steps per trajectory (T = 30)
    record_every: int = 10                  # snapshot spacing of the small trajectories
    n_pairs: int = 30_000                   # upsampled snapshots = partial-evolution pairs
    relax_steps: int = 20                   # LocalRelax steps per window (window = patch size)
    closure_hidden: tuple[int, ...] = (32, 32)
    ae_epochs: int = 3
    ae_lr: float = 1e-3
    sde_hidden: tuple[int, ...] = (64, 64, 64)
    sde_epochs: int = 40
    sde_lr: float = 1e-3
    sde_batch: int = 1024
    eps: float = 1e-8                       # variance floor of L_p (standardised units)
    lambda_factors: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)   # λ / K, besides λ = 1
    n_seeds: int = 1                        # SDE training seeds (seed, seed + 1, …)
    test_parameters: tuple[tuple[float, float], ...] = TEST_PARAMETERS
    n_test_traj: int = 50                   # large-system trajectories per test condition
    test_record_every: int = 10             # MMD every test_record_every steps

    @classmethod
    def for_scale(cls, scale: str) -> "Config":
        if scale == "paper":
            p = paper_numbers.SPDE
            return cls(n_train_traj=p["n_train_traj"], n_steps=p["n_steps"], record_every=1,
                       n_pairs=p["n_pairs"], ae_epochs=p["ae_epochs"], ae_lr=p["ae_lr"],
                       sde_epochs=p["sde_epochs"], sde_lr=p["sde_lr"], sde_batch=p["sde_batch"],
                       n_seeds=len(p["seeds"]), n_test_traj=p["n_test_traj"])
        return cls()

    @property
    def n_large(self) -> int:
        return self.factor * self.n_small

    @property
    def n_patches(self) -> int:
        return self.n_large // self.patch

    @property
    def lambdas(self) -> list[float]:
        """λ = 1 and λ = f·K for every factor f (sorted, without duplicates)."""
        return sorted({1.0, *(float(f * self.n_patches) for f in self.lambda_factors)})


def model_labels(cfg: Config) -> list[str]:
    """``"λ=<value>"`` for the partial-target sweep, then ``"naive"``."""
    return [lambda_label(lam) for lam in cfg.lambdas] + [NAIVE]


def lambda_label(lam: float) -> str:
    return f"λ={lam:g}"


# ---------------------------------------------------------------------- training data
def small_trajectories(system: PredatorPreySPDE, cfg: Config, gen: torch.Generator,
                       budget: ForceBudget, progress: bool) -> torch.Tensor:
    """Small-system paths from the training family: ``[n_traj, n_rec + 1, 2, n_small]``."""
    k, m = sample_parameters(cfg.n_train_traj, gen)
    x0 = initial_state(k, m, cfg.n_small)
    n_rec = cfg.n_steps // cfg.record_every
    return system.simulate(x0, n_rec, gen, record_every=cfg.record_every, budget=budget,
                           progress=progress).x


def time_aligned_tiles(paths: torch.Tensor, factor: int, n_out: int,
                       gen: torch.Generator) -> torch.Tensor:
    """Upsample by tiling: snapshot b is ``factor`` small snapshots taken at one common random time
    from independently drawn trajectories, placed side by side: ``[n_out, C, factor · n_small]``."""
    if paths.dim() != 4 or n_out <= 0 or factor < 1:
        raise ValueError(f"need paths [n_traj, T, C, n], n_out > 0 and factor >= 1; got "
                         f"{list(paths.shape)}, {n_out}, {factor}")
    n_traj, n_times = paths.shape[:2]
    t = torch.randint(0, n_times, (n_out, 1), generator=gen).expand(n_out, factor)
    traj = torch.randint(0, n_traj, (n_out, factor), generator=gen)
    tiles = paths[traj, t]                                       # [n_out, factor, C, n]
    grid = PatchGrid((factor * paths.shape[-1],), (paths.shape[-1],))
    return grid.merge(tiles)


def large_snapshots(system: PredatorPreySPDE, cfg: Config, paths: torch.Tensor, gen: torch.Generator,
                    budget: ForceBudget, progress: bool) -> torch.Tensor:
    """Hierarchical upsampling (one level): time-aligned tiles, then LocalRelax with a frozen halo."""
    x = time_aligned_tiles(paths, cfg.factor, cfg.n_pairs, gen)
    if cfg.relax_steps:
        x = local_relax(system, x, (cfg.patch,), cfg.relax_steps, gen, budget=budget, progress=progress)
    return x


# ---------------------------------------------------------------------- closure and SDEs
def train_encoder(system: PredatorPreySPDE, grid: PatchGrid, x: torch.Tensor, cfg: Config, seed: int,
                  progress: bool) -> PatchAdditiveEncoder:
    """Patch-additive closure (one MLP per species, d̂ = 2) trained by reconstruction (MSE)."""
    torch.manual_seed(seed)
    local = PerChannelMLP((cfg.patch,), system.channels, 1, cfg.closure_hidden)
    encoder = PatchAdditiveEncoder.for_system(system, grid, local, closure_dim=system.channels)
    ae = ClosureAutoencoder(encoder, MLPDecoder(encoder.latent_dim, (system.channels, cfg.n_large),
                                                cfg.closure_hidden))
    train_closure(ae, x, TrainConfig(lr=cfg.ae_lr, epochs=cfg.ae_epochs, batch_size=256, weight_decay=1e-4,
                                     betas=(0.9, 0.95), amsgrad=False, threads=1, seed=seed,
                                     progress=progress, desc="closure autoencoder"))
    return encoder.eval()


def sde_train_config(cfg: Config, seed: int, label: str, progress: bool) -> TrainConfig:
    """The paper's SDE recipe (AdamW amsgrad, plateau 0.5/5, min lr 5e-6), same for every model."""
    return TrainConfig(lr=cfg.sde_lr, epochs=cfg.sde_epochs, batch_size=cfg.sde_batch, plateau_patience=5,
                       min_lr=5e-6, threads=1, seed=seed, progress=progress, desc=f"SDE {label}")


def train_models(pairs: dict, cfg: Config, seed: int, progress: bool) -> dict[str, LatentSDE]:
    """One latent SDE per λ (partial target) and one for the naive target, from the same init."""
    models = {}
    for label, target, lam in [(lambda_label(lam), "partial", lam) for lam in cfg.lambdas] + \
                              [(NAIVE, "naive", 1.0)]:
        torch.manual_seed(seed)
        sde = LatentSDE(pairs[target].z0.shape[1], diffusion="full", hidden=cfg.sde_hidden)
        train_sde(sde, pairs[target], sde_train_config(cfg, seed, label, progress), lam=lam, eps=cfg.eps)
        models[label] = sde.eval()
    return models


# ---------------------------------------------------------------------- ground truth and rollouts
@torch.no_grad()
def ground_truth(system: PredatorPreySPDE, encoder: PatchAdditiveEncoder, cfg: Config,
                 gen: torch.Generator, budget: ForceBudget, progress: bool) -> torch.Tensor:
    """Direct simulation of the large system from every test (k, m), encoded on the fly:
    ``[n_conditions, n_test_traj, n_rec + 1, d]``."""
    k = torch.tensor([p[0] for p in cfg.test_parameters]).repeat_interleave(cfg.n_test_traj)
    m = torch.tensor([p[1] for p in cfg.test_parameters]).repeat_interleave(cfg.n_test_traj)
    x = initial_state(k, m, cfg.n_large)
    z = [encoder(x)]
    n_rec = cfg.n_steps // cfg.test_record_every
    chunk = max(1, 500 // cfg.test_record_every)          # records per call: bounded memory
    for lo in range(0, n_rec, chunk):
        paths = system.simulate(x, min(chunk, n_rec - lo), gen, record_every=cfg.test_record_every,
                                budget=budget, progress=progress)
        z.extend(encoder(paths.x[:, i]) for i in range(1, paths.n_times))
        x = paths.x[:, -1]
    return torch.stack(z, dim=1).view(len(cfg.test_parameters), cfg.n_test_traj, n_rec + 1, -1)


def rollouts(model: LatentSDE, z_true: torch.Tensor, cfg: Config, seed: int) -> torch.Tensor:
    """Euler–Maruyama from the true initial latents, recorded like the truth: same shape as z_true."""
    n_cond, n_traj, n_rec1, d = z_true.shape
    z0 = z_true[:, :, 0].reshape(-1, d)
    paths = model.simulate(z0, system_dt(), n_rec1 * cfg.test_record_every - cfg.test_record_every,
                           generator=seed)
    return paths[:, ::cfg.test_record_every].reshape(n_cond, n_traj, n_rec1, d)


def system_dt() -> float:
    return PredatorPreySPDE().dt


def mmd_curves(pred: torch.Tensor, true: torch.Tensor, scaler: ZScaler) -> torch.Tensor:
    """MMD² per test condition and recorded time, in standardised latents: ``[n_cond, n_rec + 1]``."""
    a = scaler.normalize(pred).transpose(1, 2).double()          # [n_cond, T, n_traj, d]
    b = scaler.normalize(true).transpose(1, 2).double()
    if not torch.isfinite(a).all():
        return torch.full(a.shape[:2], float("inf"), dtype=torch.float64)
    return mmd2(a, b)


# ---------------------------------------------------------------------- study
def evaluate_models(models: dict[str, LatentSDE], z_true: torch.Tensor, scaler: ZScaler, cfg: Config,
                    seed: int) -> dict:
    """MMD² curves, their time average, and mean ± std of (ū, v̄) for every model."""
    out = {}
    for label, model in models.items():
        pred = rollouts(model, z_true, cfg, seed)
        curves = mmd_curves(pred, z_true, scaler)
        out[label] = {"mmd_curve": curves.mean(0).tolist(),
                      "mmd_per_condition": curves.mean(1).tolist(),
                      "mmd_time_avg": curves.mean().item(),
                      "obs_mean": pred[..., :2].mean(1).tolist(), "obs_std": pred[..., :2].std(1).tolist()}
    return out


def one_seed(system, cfg: Config, seed: int, budgets: dict, progress: bool) -> dict:
    """Training data → closure → SDEs → evaluation, for one seed."""
    gen = torch.Generator().manual_seed(seed)
    paths = small_trajectories(system, cfg, gen, budgets["small_system"], progress)
    x = large_snapshots(system, cfg, paths, gen, budgets["relax"], progress)
    grid = PatchGrid((cfg.n_large,), (cfg.patch,), boundary=system.boundary)
    sample = partial_evolution(system, grid, x, 1, gen, budget=budgets["partial_evolution"],
                               batch_size=8192)
    encoder = train_encoder(system, grid, x, cfg, seed, progress)
    pairs = {t: encode_pairs(encoder, sample, t) for t in ("partial", "naive")}
    scaler = ZScaler(pairs["partial"].z0.shape[1]).fit(pairs["partial"].z0)
    models = train_models(pairs, cfg, seed, progress)
    z_true = ground_truth(system, encoder, cfg, gen, budgets["ground_truth"], progress)
    res = evaluate_models(models, z_true, scaler, cfg, seed)
    truth = {"obs_mean": z_true[..., :2].mean(1).tolist(), "obs_std": z_true[..., :2].std(1).tolist()}
    return {"models": res, "truth": truth, "additivity_gap": encoder.additivity_gap(x[:256]).max().item()}


def summarise(per_seed: list[dict], cfg: Config) -> dict:
    """Time-averaged MMD² per model: mean ± std over seeds; the best λ."""
    labels = model_labels(cfg)
    table = {}
    for label in labels:
        vals = [s["models"][label]["mmd_time_avg"] for s in per_seed]
        mean, std = mean_std(vals)
        table[label] = {"mean": mean, "std": std, "per_seed": vals}
    sweep = {lam: table[lambda_label(lam)]["mean"] for lam in cfg.lambdas}
    return {"mmd_time_avg": table, "best_lambda": min(sweep, key=sweep.get)}


# ---------------------------------------------------------------------- figures and table
def _colour(label: str, cfg: Config) -> str:
    if label == NAIVE:
        return "#d62728"
    if label == lambda_label(float(cfg.n_patches)):
        return "#2ca02c"
    return "#1f77b4"


def _mmd_figure(first: dict, summary: dict, cfg: Config):
    fig, axes = figure(2, 1, width=4.4)
    t = np.arange(len(first["models"][NAIVE]["mmd_curve"])) * cfg.test_record_every * system_dt()
    a = axes[0, 0]
    for i, label in enumerate(model_labels(cfg)):
        a.plot(t, first["models"][label]["mmd_curve"], lw=2 if "naive" in label or
               label == lambda_label(float(cfg.n_patches)) else 1, color=_colour(label, cfg),
               alpha=1.0 if _colour(label, cfg) != "#1f77b4" else 0.35 + 0.12 * i, label=label)
    a.set(yscale="log", xlabel="time", ylabel="MMD² (mean over test conditions)", title="MMD² vs time")
    a.legend(fontsize=7)
    a = axes[0, 1]
    lams = cfg.lambdas
    rows = [summary["mmd_time_avg"][lambda_label(lam)] for lam in lams]
    a.errorbar(lams, [r["mean"] for r in rows], yerr=[r["std"] for r in rows], fmt="o-", label="partial target")
    a.axhline(summary["mmd_time_avg"][NAIVE]["mean"], color="#d62728", ls=":", label="naive (λ = 1)")
    a.axvline(cfg.n_patches, color="#2ca02c", ls="--", lw=1, label="λ = K")
    a.set(xscale="log", yscale="log", xlabel="λ", ylabel="time-averaged MMD²", title="MMD² vs λ")
    a.legend(fontsize=7)
    return fig


def _band_figure(first: dict, cfg: Config, condition: int):
    fig, axes = figure(2, 1, width=4.4)
    t = np.arange(len(first["truth"]["obs_mean"][0])) * cfg.test_record_every * system_dt()
    shown = [(f"truth", first["truth"], "k"),
             (lambda_label(float(cfg.n_patches)), first["models"][lambda_label(float(cfg.n_patches))], "#2ca02c"),
             (lambda_label(1.0), first["models"][lambda_label(1.0)], "#1f77b4"),
             (NAIVE, first["models"][NAIVE], "#d62728")]
    for j, (a, name) in enumerate(zip(axes[0], ("ū", "v̄"))):
        for label, rec, colour in shown:
            mean = np.asarray(rec["obs_mean"][condition])[:, j]
            std = np.asarray(rec["obs_std"][condition])[:, j]
            a.plot(t, mean, color=colour, lw=1.2, label=label)
            a.fill_between(t, mean - std, mean + std, color=colour, alpha=0.2)
        k, m = cfg.test_parameters[condition]
        a.set(xlabel="time", ylabel=name, title=f"{name}: mean ± std (k = {k:g}, m = {m:g})")
    axes[0, 0].legend(fontsize=7)
    return fig


def _comparison(summary: dict, cost: dict, cfg: Config) -> list[dict]:
    table = summary["mmd_time_avg"]
    K = cfg.n_patches
    rows = [{"quantity": f"time-averaged MMD², {label}", "measured": table[label]["mean"], "paper": None,
             "note": "λ = K (theory)" if label == lambda_label(float(K)) else
             ("naive baseline" if label == NAIVE else "")} for label in model_labels(cfg)]
    rows[0]["note"] = (rows[0]["note"] + "; " if rows[0]["note"] else "") + \
        "paper's values missing from the official mirror"
    rows += [{"quantity": "best λ of the sweep", "measured": summary["best_lambda"],
              "paper": float(paper_numbers.SPDE["n_patches"]), "note": "paper: λ = K (near-)optimal"},
             {"quantity": "K (patches)", "measured": K, "paper": paper_numbers.SPDE["n_patches"],
              "note": f"large domain {cfg.n_large} cells at the small system's spacing"},
             {"quantity": "partial-evolution pairs", "measured": cfg.n_pairs,
              "paper": paper_numbers.SPDE["n_pairs"], "note": "fewer at the quick scale"},
             {"quantity": "training simulation cost (site updates)", "measured": cost["training_total"],
              "paper": None, "note": "small trajectories + relax + partial evolution"},
             {"quantity": "ground-truth simulation cost (site updates)", "measured": cost["ground_truth"],
              "paper": None, "note": "evaluation only"}]
    return rows


def _costs(budgets: dict[str, ForceBudget]) -> dict:
    out = {k: b.counts.get("site_updates", 0) for k, b in budgets.items()}
    out["training_total"] = sum(v for k, v in out.items() if k != "ground_truth")
    out["seconds"] = {k: round(sum(b.seconds.values()), 2) for k, b in budgets.items()}
    return out


def run(cfg: Config | None = None, *, scale: str | None = None, seed: int = 0,
        progress: bool = True) -> ExperimentResult:
    """The whole SPDE study for ``cfg.n_seeds`` seeds (seed, seed + 1, …)."""
    cfg = cfg or Config.for_scale(scale or "quick")
    if cfg.n_large % cfg.patch:
        raise ValueError(f"the patch ({cfg.patch} cells) must tile the large system ({cfg.n_large})")
    t0 = time.perf_counter()
    system = PredatorPreySPDE()
    budgets = {k: ForceBudget() for k in ("small_system", "relax", "partial_evolution", "ground_truth")}
    per_seed = [one_seed(system, cfg, seed + i, budgets, progress) for i in range(cfg.n_seeds)]
    summary = summarise(per_seed, cfg)
    cost = _costs(budgets)
    figs = {"mmd": _mmd_figure(per_seed[0], summary, cfg),
            "bands": _band_figure(per_seed[0], cfg, condition=len(cfg.test_parameters) - 1)}
    metrics = {"summary": summary, "simulation_cost": cost, "K": cfg.n_patches, "lambdas": cfg.lambdas,
               "per_seed": per_seed}
    return ExperimentResult(name="stochastic_predator_prey", scale=scale or "quick", seed=seed,
                            config=asdict(cfg), metrics=metrics, comparison=_comparison(summary, cost, cfg),
                            figures=figs, wall_time_s=time.perf_counter() - t0)
