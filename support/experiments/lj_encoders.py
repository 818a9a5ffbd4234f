r"""Encoders for the Lennard-Jones closure: paper 1's MLP on the ordered atom vector against a
permutation- and periodic-image-invariant pooled encoder, and whether each transfers to runs that
start from new random configurations (a reviewer's objection to paper 1, §6 item 16).

Two training designs: ``same start`` (paper 1: every run starts from the same relaxed positions and
velocity pattern, only T0 changes) and ``new starts`` (every run from its own random insertion and
relaxation). For each design and encoder: closure autoencoder on the design's training snapshots,
an ensemble of latent models trained with one loss at one force budget, and the error on T over
two test sets — runs from the shared start and runs from new random starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import ClassVar

from tqdm.auto import tqdm

from ..pipeline import rollout_observables
from ..plotting import figure
from ..claims import ClaimSet
from ..results import ExperimentResult
from ..studies import Method
from ..tables import Table
from .config import ExperimentConfig, resolve
from .lj_common import compact_log_ticks, lj_devices
from .lj_common import (AEConfig, LJSetup, build_autoencoder, closure_diagnostics, jacobian_conditioning,
                        latent_config,
                        latent_factory, make_system, model_store, normaliser, simulate_setup, strided, train_ensemble,
                        trajectory_pool)

DESIGNS = ("same start", "new starts")
ENCODER_LABELS = {"mlp": "MLP on ordered atoms (paper)", "invariant": "pooled invariant"}


VERSION = 1


@dataclass
class Config(ExperimentConfig):
    n_atoms: int = 256
    n_train_traj: int = 20
    n_test_traj: int = 5
    latent_dim: int = 8
    designs: tuple[str, ...] = DESIGNS
    encoders: tuple[str, ...] = ("mlp", "invariant")
    loss: str = "lz"
    p: float = 1 / 16
    budget_configs: int = 512
    frame_stride: int = 2
    structure: str = "mlp"
    widths: dict | None = field(default_factory=lambda: {"mlp": {"hidden": (64, 64)}})
    ensemble: int = 3
    steps: int = 1500
    lr: float = 1e-3
    batch_size: int = 128
    normaliser_runs: int = 6
    test_stride: int = 5
    relaxation: str = "fire"
    diagnostic_configs: int = 128
    ae: AEConfig = field(default_factory=lambda: AEConfig(latent_dim=8, steps=200, lr=1e-3, cond_samples=16))
    invariant_ae: AEConfig = field(default_factory=lambda: AEConfig(
        encoder="invariant", latent_dim=8, steps=150, lr=1e-3, batch_size=64, cond_samples=4, max_snapshots=512))

    PRESETS: ClassVar = {
        "quick": {},
        # paper 1 §3.3 set-up (800 atoms, 90/10 runs, d = 32, AE 64-64, λ_cond 1e-5), L_z at the
        # paper's 1e6 atom-forces (1,250 configurations), OnsagerNet 256³, 10 models
        "paper": dict(n_atoms=800, n_train_traj=90, n_test_traj=10, latent_dim=32, budget_configs=1250,
                      frame_stride=1, structure="onsagernet", widths=None, ensemble=10, steps=20_000,
                      batch_size=256, normaliser_runs=90, test_stride=1, relaxation="lammps_cg",
                      diagnostic_configs=500,
                      ae=AEConfig(latent_dim=32, steps=17_600, lr=1e-4, lambda_cond=1e-5),
                      invariant_ae=AEConfig(encoder="invariant", latent_dim=32, steps=17_600, lr=1e-4,
                      lambda_cond=1e-5, cond_samples=32))}

    @property
    def method(self) -> Method:
        return Method("lz") if self.loss == "lz" else Method("lx", self.p)

    def budget(self, n_atoms: int) -> int:
        return self.budget_configs * (n_atoms if self.loss == "lz" else max(1, round(self.p * n_atoms)))


def _design_setups(cfg: Config, seed: int, progress: bool) -> dict[str, LJSetup]:
    """One set of trajectories per training design; both share the two test sets."""
    same = simulate_setup(cfg.n_atoms, cfg.n_train_traj, cfg.n_test_traj, seed,
                          new_start_test=cfg.n_test_traj, progress=progress, relaxation=cfg.relaxation)
    same.tests = {name: strided(t, cfg.test_stride) for name, t in same.tests.items()}
    setups = {"same start": same}
    if "new starts" in cfg.designs:
        fresh = make_system(cfg.n_atoms, same_start=False, relaxation=cfg.relaxation)
        train = fresh.trajectories(cfg.n_train_traj, seed + 104729, split="train", progress=progress)
        setups["new starts"] = LJSetup(same.system, train, same.tests)
    return {d: setups[d] for d in cfg.designs}


def run(cfg: Config | None = None, *, scale: str | None = None, seed: int = 0,
        progress: bool = True, workers: int = 1, models: str | None = None) -> ExperimentResult:
    """``workers``, ``models``: parallel and resumable latent training, as in
    :func:`support.experiments.lj_structures.run`."""
    cfg = resolve(Config, cfg, scale)
    store = model_store(models, "lj_encoders", VERSION, cfg, seed)
    t0 = time.perf_counter()
    setups = _design_setups(cfg, seed, progress)
    t_data = time.perf_counter() - t0
    tcfg = latent_config(cfg.steps, cfg.lr, cfg.batch_size)
    factory = latent_factory(cfg.structure, cfg.latent_dim, cfg.widths)
    seeds = [1000 * seed + k for k in range(1, cfg.ensemble + 1)]
    budget = cfg.budget(cfg.n_atoms)
    results, models, aes, seconds = {}, {}, {}, {"data": t_data}
    jobs = [(design, encoder) for design in setups for encoder in cfg.encoders]
    for design, encoder in tqdm(jobs, desc="LJ encoders", disable=not progress):
        t1, setup = time.perf_counter(), setups[design]
        pool = trajectory_pool(setup.train, None, cfg.frame_stride)
        ae_cfg = cfg.ae if encoder == "mlp" else cfg.invariant_ae
        ae = build_autoencoder(setup, replace(ae_cfg, encoder=encoder, latent_dim=cfg.latent_dim), seed, progress,
                               store, key=f"autoencoder-{design}-{encoder}".replace(" ", "_"))
        norm = normaliser(ae, setup.train, n_traj=cfg.normaliser_runs)
        ens = train_ensemble(setup, ae, norm, pool, cfg.method, budget, seeds, cfg.structure, factory, tcfg,
                             test_sets=["same start", "new starts"], store=store, workers=workers,
                             tag=f"{design}-{encoder}-".replace(" ", "_"))
        results.setdefault(design, {})[encoder] = {
            **ens.summary(), "autoencoder": jacobian_conditioning(ae, pool),
            "closure_diagnostics": closure_diagnostics(setup, ae, cfg.p, seed, cfg.diagnostic_configs)}
        models[(design, encoder)], aes[(design, encoder)] = ens.first_model, ae
        seconds[f"{design} / {encoder}"] = time.perf_counter() - t1
    metrics = {"setup": {"n_atoms": cfg.n_atoms, "latent_dim": cfg.latent_dim, "budget": budget,
                         "method": cfg.method.label, "structure": cfg.structure,
                         "train_runs": cfg.n_train_traj, "test_runs_per_set": cfg.n_test_traj},
               "results": results, "seconds": {k: round(v, 2) for k, v in seconds.items()},
               "transfer_ratio": _transfer(results),
               "execution": {"workers": workers, "model_store": store is not None}}
    return ExperimentResult.of(cfg, name="lj_encoders", version=VERSION, seed=seed, metrics=metrics,
                               comparison=_comparison(metrics), figures=_figures(cfg, setups, results, models, aes), started=t0,
                               devices=lj_devices())


def _transfer(results: dict) -> dict:
    """Error on new starts / error on the shared start, per training design and encoder."""
    return {design: {enc: r["new starts"]["mean"] / r["same start"]["mean"] for enc, r in per.items()}
            for design, per in results.items()}


def _comparison(m: dict) -> list[dict]:
    rows = []
    for design, per in m["results"].items():
        for encoder, r in per.items():
            for test in ("same start", "new starts"):
                rows.append({"quantity": f"trained on {design}, {ENCODER_LABELS[encoder]}: error on {test} runs",
                             "measured": r[test]["mean"], "paper": None,
                             "note": f"± {r[test]['std']:.1e}; paper: same-start design only, no transfer test"})
    return rows


def _figures(cfg: Config, setups: dict, results: dict, models: dict, aes: dict) -> dict:
    figs = {}
    designs = list(results)
    fig, axes = figure(len(designs), 1, width=4.4, height=3.4, sharey=True)
    for ax, design in zip(axes[0], designs):
        per = results[design]
        for k, test in enumerate(("same start", "new starts")):
            xs = [2.5 * i + 0.8 * k for i in range(len(per))]
            data = [per[enc][test]["per_model"] for enc in per]
            box = ax.boxplot(data, positions=xs, widths=0.7, patch_artist=True)
            for patch in box["boxes"]:
                patch.set_facecolor("C0" if k == 0 else "C3")
                patch.set_alpha(0.6)
        ax.set_xticks([2.5 * i + 0.4 for i in range(len(per))], [ENCODER_LABELS[e] for e in per], fontsize=7)
        ax.set(yscale="log", title=f"trained on: {design}")
    axes[0, 0].set_ylabel("relative error on T")
    for ax in axes[0]:
        compact_log_ticks(ax, "y")
    axes[0, 0].plot([], [], "s", color="C0", label="test: same start")
    axes[0, 0].plot([], [], "s", color="C3", label="test: new starts")
    axes[0, 0].legend(fontsize=7)
    figs["transfer"] = fig

    design = designs[0]
    setup = setups[design]
    test = setup.tests["new starts"]
    one = replace(test, x=test.x[:3], forces=None)
    scale = setup.system.temperature_scale
    t = one.times.numpy()
    fig, axes = figure(len(cfg.encoders), 1, width=4.0, height=3.2)
    for ax, enc in zip(axes[0], cfg.encoders):
        pred, true = rollout_observables(models[(design, enc)], aes[(design, enc)], one)
        for j in range(true.shape[0]):
            ax.plot(t, true[j, :, 0].cpu().numpy() / scale, "k", lw=2, label="truth" if j == 0 else None)
            ax.plot(t, pred[j, :, 0].cpu().numpy() / scale, "--", color=f"C{j}", label="model" if j == 0 else None)
        lo, hi = ax.get_ylim()
        if lo < 0:                                   # a rollout that leaves the physical range
            ax.axhspan(lo, 0, color="0.9", zorder=0)
            ax.axhline(0, color="0.4", lw=0.8)
            ax.text(t[-1], 0, "T < 0: unphysical ", ha="right", va="top", fontsize=7, color="0.3")
            ax.set_ylim(lo, hi)
        ax.set(xlabel="t", ylabel="T", title=f"{ENCODER_LABELS[enc]}\n(trained on {design}; new-start test runs)")
        ax.legend(fontsize=7)
    figs["new_start_rollouts"] = fig
    return figs


def summary_table(result: ExperimentResult) -> Table:
    """The transfer study: per training design and encoder, the conditioning of the closure and the
    error on T on both test sets (mean ± std over the ensemble) and their ratio."""
    m, rows = result.metrics, []
    for design, per in m["results"].items():
        for enc, r in per.items():
            a, b = r["same start"], r["new starts"]
            rows.append([design, ENCODER_LABELS[enc], f"{r['autoencoder']['kappa_closure_median']:.3g}",
                         f"{a['mean']:.2e} ± {a['std']:.1e}", f"{b['mean']:.2e} ± {b['std']:.1e}",
                         f"{b['mean'] / a['mean']:.2f}"])
    s = m["setup"]
    return Table(["trained on", "encoder", "median κ(J), closure rows", "error, same-start runs",
                  "error, new-start runs",
                  "new / same"], rows,
                 caption=f"Relative error on T, mean ± std over the models ({s['method']}, "
                         f"{s['structure']} latent model, {s['budget']:,} atom-forces each, "
                         f"{s['n_atoms']} atoms, {result.scale} scale).")


def new_start_advantage(result: ExperimentResult, design: str = "same start") -> float:
    """Error of the ordered MLP closure on new starts over that of the pooled invariant closure
    (both trained on ``design``): how many times better the invariant one transfers."""
    res = result.metrics["results"][design]
    return res["mlp"]["new starts"]["mean"] / res["invariant"]["new starts"]["mean"]


# ----------------------------------------------------------------------------- claims
CLAIMS = ClaimSet()
BOTH = {"quick": True, "paper": True}


def _same_start(r) -> dict:
    return r.metrics["results"]["same start"]


@CLAIMS.add("no_transfer", "trained on runs from one start, the paper's ordered MLP closure fails on new "
            "starts (> 10× its same-start error, and > 0.5)", expect={"quick": True},
            paper="Fig. 5: same-start training only")
def _no_transfer(r):
    mlp = _same_start(r)["mlp"]
    a, b = mlp["same start"]["mean"], mlp["new starts"]["mean"]
    return b > 10 * a and b > 0.5, f"same start {a:.2e} → new starts {b:.2e} ({b / a:.0f}×)"


@CLAIMS.add("invariant_transfers", "trained on runs from one start, the pooled invariant closure's error on "
            "new starts is at least 2× smaller than the ordered MLP's", expect={"quick": True},
            paper="— (the paper has no invariant encoder)")
def _invariant(r):
    res = _same_start(r)
    a, b = res["invariant"]["new starts"]["mean"], res["mlp"]["new starts"]["mean"]
    return b > 2 * a, f"invariant {a:.2e} vs ordered MLP {b:.2e} on new starts ({b / a:.1f}×)"


@CLAIMS.add("budgets_conditioning", "every model bought exactly its budget; both closures are well "
            "conditioned (median κ < 20)", expect=BOTH, paper="—")
def _budgets(r):
    ok, worst = True, 0.0
    for per in r.metrics["results"].values():
        for x in per.values():
            worst = max(worst, x["autoencoder"]["kappa_closure_median"])
            ok &= all(f == r.metrics["setup"]["budget"] for f in x["forces_charged"])
    return ok and worst < 20, f"largest median κ {worst:.2f}"
