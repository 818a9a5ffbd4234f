r"""Paper 1, Fig. 3: latent structures (MLP, OnsagerNet, GFINNs) trained with L_z and L_x,p at an
equal force budget on a Lennard-Jones fluid; error on the temperature against ground truth.

Pipeline: NVE trajectories that all start from the same relaxed positions and velocity pattern
(rescaled to T0 ~ U(0.5, 1.5)) → closure autoencoder (paper's MLP on the ordered state) → for each
structure and loss, an ensemble of latent models, each buying its forces through the counted
oracle (L_x,p evaluates forces on a fraction p of the atoms only) and trained with the same number
of steps and cosine schedule → RK4 rollout from φ(x₀) → relative error on T.

Two ways of choosing the configurations a budget buys:

* ``paper``: whole training trajectories in order (the official code). L_z at budget F sees
  F / (N · frames) trajectories, L_x,p sees 1/p times more: more initial temperatures.
* ``uniform``: both draw their configurations uniformly from all training trajectories
  (:func:`support.studies.select_configurations`); only the information per force differs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import ClassVar

import matplotlib.pyplot as plt
import torch

from ..paper_numbers import lj as paper_numbers
from ..figures import missing_figure, roundtrip, thin_index, thinned
from ..plotting import figure, method_colour
from ..claims import UNDECIDED, ClaimSet
from ..results import ExperimentResult
from ..studies import Method
from ..tables import Table
from .config import AT_LEAST_ONE, FRACTION, POSITIVE, ExperimentConfig, resolve
from .lj_common import compact_log_ticks, lj_devices, partial_force_check
from .lj_common import (STRUCTURE_LABELS, AEConfig, build_autoencoder, closure_diagnostics,
                        EnsembleSpec, execution_record, jacobian_conditioning, latent_config,
                        latent_factory, model_store, normaliser, simulate_setup, train_ensembles,
                        trajectory_pool)
from ..uncertainty import Estimate, above, below, paired_log_ratio

PROTOCOLS = ("paper", "uniform")
#: fields that only choose which models are trained (a model store may be filled in several runs)
SELECTION_FIELDS = ("structures", "control_structures", "protocols", "ensemble")


#: 2: paper preset relaxes with LAMMPS CG and the closure reads raw inputs (v1 runs: FIRE, standardised inputs)
VERSION = 2


@dataclass
class Config(ExperimentConfig):
    n_atoms: int = 256
    n_train_traj: int = 34
    n_test_traj: int = 8
    latent_dim: int = 8
    p: float = 1 / 16
    lz_trajectories: int = 2
    frame_stride: int = 3
    structures: tuple[str, ...] = ("mlp", "onsagernet", "gfinn")
    control_structures: tuple[str, ...] = ("mlp",)
    widths: dict | None = field(default_factory=lambda: {
        "mlp": {"hidden": (64, 64)}, "onsagernet": {"hidden": (32, 32, 32)},
        "gfinn": {"hidden": (32, 32), "K": 4}})
    ensemble: int = 3
    steps: int = 1500
    lr: float = 1e-3
    batch_size: int = 128
    protocols: tuple[str, ...] = PROTOCOLS
    precision: str = "float64"
    compile: bool = False
    relaxation: str = "fire"
    diagnostic_configs: int = 256
    ae: AEConfig = field(default_factory=lambda: AEConfig(latent_dim=8, steps=300, lr=1e-3, cond_samples=32))

    PRESETS: ClassVar = {
        "quick": {},
        # paper 1, Fig. 3: 800 atoms, 90/10 runs, d = 32, budget 1e6 (L_z: 5 runs, L_x,p: 80 runs),
        # 10 models; AE 64-64, λ_cond 1e-5, lr 1e-4, 200 epochs of 22,500 snapshots at batch 256;
        # latent models in float32, the official code's precision (float32 and float64 agree within
        # the seed spread: lj_closures.precision_table); float64 is --set 'precision="float64"'
        "paper": dict(n_atoms=800, n_train_traj=90, n_test_traj=10, latent_dim=32, lz_trajectories=5,
                      frame_stride=1, widths=None, ensemble=10, steps=20_000, batch_size=256,
                      relaxation="lammps_cg", diagnostic_configs=1000, precision="float32",
                      control_structures=("mlp", "onsagernet", "gfinn"),
                      ae=AEConfig(latent_dim=32, steps=17_600, lr=1e-4, lambda_cond=1e-5))}

    LIMITS: ClassVar = {"n_atoms": AT_LEAST_ONE, "n_train_traj": AT_LEAST_ONE, "n_test_traj": AT_LEAST_ONE,
                        "latent_dim": AT_LEAST_ONE, "p": FRACTION, "lz_trajectories": AT_LEAST_ONE,
                        "frame_stride": AT_LEAST_ONE, "ensemble": AT_LEAST_ONE, "steps": AT_LEAST_ONE,
                        "lr": POSITIVE, "batch_size": AT_LEAST_ONE, "diagnostic_configs": AT_LEAST_ONE}

    @property
    def lxp_trajectories(self) -> int:
        return int(round(self.lz_trajectories / self.p))

    def budget(self, n_frames: int) -> int:
        """Atom-forces bought by either loss: the L_z trajectories × frames used × atoms."""
        return self.lz_trajectories * len(range(0, n_frames, self.frame_stride)) * self.n_atoms


def _pools(cfg: Config, setup) -> dict[str, dict[str, list]]:
    """protocol -> loss -> one configuration pool per ensemble member.

    Paper protocol: model k of the ensemble buys the block of consecutive runs starting at run
    k · (runs L_z gets), so L_z's few initial temperatures differ between models and the ensemble
    mean is not the luck of one draw (the official code gave all ten models the first runs).
    """
    train, every = setup.train, trajectory_pool(setup.train, None, cfg.frame_stride)
    out = {}
    if "paper" in cfg.protocols:
        firsts = [k * cfg.lz_trajectories for k in range(cfg.ensemble)]
        out["paper"] = {"lz": [trajectory_pool(train, cfg.lz_trajectories, cfg.frame_stride, f) for f in firsts],
                        "lx": [trajectory_pool(train, cfg.lxp_trajectories, cfg.frame_stride, f) for f in firsts]}
    if "uniform" in cfg.protocols:
        out["uniform"] = {"lz": [every] * cfg.ensemble, "lx": [every] * cfg.ensemble}
    return out


def run(cfg: Config | None = None, *, scale: str | None = None, seed: int = 0,
        progress: bool = True, workers: int = 1, models: str | None = None,
        records: str | None = None) -> ExperimentResult:
    """``workers``: latent models trained at once in single-threaded processes (results do not
    depend on it). ``models``: a directory where each finished model (and the autoencoder) is saved
    as it completes; rerunning the same command with it resumes an interrupted study. ``records``:
    a directory for the store's records (JSON) apart from the weights — e.g. under ``results/``, to be
    committed, so the study continues from any clone (without ``models`` no weights are kept: the
    autoencoder is trained again each sitting and checked against the records' fingerprint, and the
    result is assembled from the records alone)."""
    cfg = resolve(Config, cfg, scale)
    store = model_store(models, "lj_structures", VERSION, cfg, seed, selection=SELECTION_FIELDS, records=records)
    if cfg.lxp_trajectories > cfg.n_train_traj:
        raise ValueError(f"L_x,p needs {cfg.lxp_trajectories} training runs, only {cfg.n_train_traj} simulated")
    t0 = time.perf_counter()
    setup = simulate_setup(cfg.n_atoms, cfg.n_train_traj, cfg.n_test_traj, seed, progress=progress,
                           relaxation=cfg.relaxation)
    t_data = time.perf_counter() - t0
    check = partial_force_check(setup.system, setup.train.x[0, :4], cfg.p, seed)
    ae = build_autoencoder(setup, replace(cfg.ae, latent_dim=cfg.latent_dim), seed, progress, store)
    t_ae = time.perf_counter() - t0 - t_data
    norm = normaliser(ae, setup.train)
    diagnostics = closure_diagnostics(setup, ae, cfg.p, seed, cfg.diagnostic_configs)
    budget = cfg.budget(setup.train.n_steps)
    tcfg = latent_config(cfg.steps, cfg.lr, cfg.batch_size, compile=cfg.compile)
    seeds = [1000 * seed + k for k in range(1, cfg.ensemble + 1)]
    methods = {"lz": Method("lz"), "lx": Method("lx", cfg.p)}
    pools = _pools(cfg, setup)
    jobs = [(protocol, structure, key) for protocol in pools
            for structure in (cfg.structures if protocol == "paper" else cfg.control_structures) for key in methods]
    specs = [EnsembleSpec(methods[key], budget, seeds, pools[protocol][key], structure,
                          latent_factory(structure, cfg.latent_dim, cfg.widths), tag=f"{protocol}-")
             for protocol, structure, key in jobs]
    ensembles = train_ensembles(setup, ae, norm, specs, tcfg, store=store, workers=workers,
                                precision=cfg.precision, progress=progress)
    results, predicted = {}, {}
    for (protocol, structure, key), ens in zip(jobs, ensembles):
        results.setdefault(protocol, {}).setdefault(structure, {})[key] = ens.summary()
        predicted[(protocol, structure, key)] = _first_prediction(ens)
    metrics = _metrics(cfg, setup, ae, budget, results, {"data": t_data, "autoencoder": t_ae})
    metrics["partial_force_check"] = check
    metrics["execution"] = execution_record(workers, store, (o for ens in ensembles for o in ens.origins))
    metrics["closure_diagnostics"] = diagnostics
    metrics["figure_curves"] = figure_curves(cfg, setup, ae, results, predicted)
    figs = figures(roundtrip(metrics), cfg)
    return ExperimentResult.of(cfg, name="lj_structures", version=VERSION, seed=seed, metrics=metrics,
                               comparison=_comparison(cfg, metrics), figures=figs, started=t0,
                               devices=lj_devices())


def _metrics(cfg: Config, setup, ae, budget: int, results: dict, seconds: dict) -> dict:
    temps = setup.system.observables(setup.train.x[:, [0, -1]].reshape(-1, setup.system.state_dim))
    temps = (temps / setup.system.temperature_scale).reshape(setup.train.n_traj, 2)
    wins = {protocol: {s: bool(r["lx"]["same start"]["mean"] < r["lz"]["same start"]["mean"])
                       for s, r in per.items()} for protocol, per in results.items()}
    return {"setup": {"n_atoms": cfg.n_atoms, "box": setup.system.box.tolist(), "latent_dim": cfg.latent_dim,
                      "train_runs": cfg.n_train_traj, "test_runs": cfg.n_test_traj,
                      "frames": setup.train.n_steps, "frame_stride": cfg.frame_stride,
                      "T_start_range": [float(temps[:, 0].min()), float(temps[:, 0].max())],
                      "T_end_range": [float(temps[:, 1].min()), float(temps[:, 1].max())]},
            "budget": budget, "p": cfg.p, "lz_trajectories": cfg.lz_trajectories,
            "lxp_trajectories": cfg.lxp_trajectories,
            "autoencoder": jacobian_conditioning(ae, setup.train.snapshots()),
            "results": results, "lxp_beats_lz": wins,
            "seconds": {k: round(v, 2) for k, v in seconds.items()},
            "optimisation": {"steps": cfg.steps, "batch_size": cfg.batch_size, "lr": cfg.lr,
                             "schedule": "cosine to 1e-5, identical for both losses"}}


def _comparison(cfg: Config, m: dict) -> list[dict]:
    rows, paper = [], paper_numbers.STRUCTURES["errors"]
    for protocol, per in m["results"].items():
        for structure, r in per.items():
            name = STRUCTURE_LABELS[structure]
            for key, label in (("lz", "L_z"), ("lx", "L_x,p")):
                e = r[key]["same start"]
                ref = paper[structure][label] if protocol == "paper" else None
                rows.append({"quantity": f"{name} {label} error ({protocol} protocol, {m['budget']:.2e} forces)",
                             "measured": e["mean"], "paper": ref[0] if ref else None,
                             "note": f"± {e['std']:.1e} over {len(e['per_model'])} models"
                             + (f"; paper ± {ref[1]:.1e} (800 atoms, 1e6 forces)" if ref else "")})
            ratio = r["lz"]["same start"]["mean"] / r["lx"]["same start"]["mean"]
            ref = (paper[structure]["L_z"][0] / paper[structure]["L_x,p"][0]) if protocol == "paper" else None
            rows.append({"quantity": f"{name}: error ratio L_z / L_x,p ({protocol})", "measured": ratio,
                         "paper": ref, "note": "> 1: L_x,p better at equal force budget"})
    return rows


def _first_prediction(ens) -> list | None:
    """The first model's (that did not diverge) predicted observable z*(t) on the same-start test
    runs, as its record keeps it; ``None`` if every model of the ensemble diverged."""
    for origin, pred in zip(ens.origins, ens.predicted):
        if not origin.get("diverged") and pred is not None:
            return pred
    return None


def figure_curves(cfg: Config, setup, ae, results: dict, predicted: dict, n_runs: int = 3) -> dict:
    """What the rollout figure draws, stored in the metrics: T(t) of every training run (at most 100
    frames each) and, on the first ``n_runs`` same-start test runs, T(t) true and rolled out by the
    first model of each loss (OnsagerNet, paper protocol, where trained; ``None`` for a loss whose
    every model diverged), at most :data:`support.figures.MAX_POINTS` frames. The rollouts are the
    models' records (``predicted``: (protocol, structure, loss) -> z*(t) per same-start test run, from
    :func:`_first_prediction`), so a result assembled from a store needs no latent-model weights."""
    temps = setup.system.observables(setup.train.x.reshape(-1, setup.system.state_dim))
    temps = (temps / setup.system.temperature_scale).reshape(setup.train.n_traj, -1)
    t = setup.train.times.numpy()
    train_keep = thin_index(len(t), 100)
    protocol = "paper" if "paper" in results else next(iter(results))
    structure = "onsagernet" if "onsagernet" in results[protocol] else next(iter(results[protocol]))
    one = replace(setup.tests["same start"], x=setup.tests["same start"].x[:n_runs], forces=None)
    scale = setup.system.temperature_scale
    t_test = one.times.numpy()
    keep = thin_index(len(t_test))
    out = {"train_t": thinned(t, train_keep), "train_T": [thinned(row, train_keep) for row in temps],
           "lz_runs": cfg.lz_trajectories, "protocol": protocol, "structure": structure,
           "test_t": thinned(t_test, keep), "truth": None, "pred": {}}
    true = torch.stack([ae.encode_np(xt) for xt in one.x.unbind(0)])[..., 0]   # z*(t): φ's observable row
    for key, label in (("lz", "L_z"), ("lx", "L_x,p")):
        if predicted[(protocol, structure, key)] is None:       # every model of that ensemble diverged
            out["pred"][label] = None
            continue
        pred = torch.as_tensor(predicted[(protocol, structure, key)][:n_runs], dtype=torch.float64)
        out["truth"] = [thinned(row, keep) for row in true / scale]
        out["pred"][label] = [thinned(row, keep) for row in pred / scale]
    return out


def figures(m: dict, cfg: Config | None = None) -> dict:
    """Every figure of a run from its metrics (as ``results.json`` holds them) alone: the run draws
    its own figures with it, and a chapter the saved run's. A saved run that did not store the
    training and rollout curves gets a placeholder rollout figure that says so."""
    figs = {}
    results = m["results"]
    n = len(results)
    fig, axes = figure(n, 1, width=4.6, height=3.6, sharey=True)
    for ax, (protocol, per) in zip(axes[0], results.items()):
        data, pos, colours, lost = [], [], [], []
        for i, structure in enumerate(per):
            for j, (key, label) in enumerate((("lz", "L_z"), ("lx", "L_x,p"))):
                errs = [math.inf if e is None else e for e in per[structure][key]["same start"]["per_model"]]
                finite = [e for e in errs if math.isfinite(e)]
                if len(finite) < len(errs):                    # diverged models: counted, not drawn
                    lost.append((3 * i + j, len(errs) - len(finite)))
                if finite:
                    data.append(finite)
                    pos.append(3 * i + j)
                    colours.append(method_colour(label, 3))
        box = ax.boxplot(data, positions=pos, widths=0.7, patch_artist=True)
        for x, k in lost:
            ax.annotate(f"{k} diverged", (x, 1), xycoords=("data", "axes fraction"), ha="center", va="top",
                        fontsize=7, color="0.3")
        for patch, c in zip(box["boxes"], colours):
            patch.set_facecolor(c)
            patch.set_alpha(0.6)
        ax.set_xticks([3 * i + 0.5 for i in range(len(per))], [STRUCTURE_LABELS[s] for s in per])
        ax.set(yscale="log", title=f"{protocol} protocol")
    axes[0, 0].set_ylabel("relative error on T")
    for ax in axes[0]:                       # shared y: set the ticks once the limits are final
        compact_log_ticks(ax, "y")
    axes[0, 0].plot([], [], "s", color=method_colour("L_z"), label="L_z")
    axes[0, 0].plot([], [], "s", color=method_colour("L_x,p", 3), label=f"L_x,p (p = 1/{round(1 / m['p'])})")
    axes[0, 0].legend(fontsize=8)
    plt.close(fig)
    figs["structures"] = fig

    c = m.get("figure_curves")
    if c is None:
        figs["rollouts"] = missing_figure("lj_structures", "training and rollout curves",
                                          "training runs and test rollouts")
        return figs
    fig, axes = figure(2, 1, width=4.4, height=3.2)
    for k, row in enumerate(c["train_T"]):
        lz_run = k < c["lz_runs"]
        axes[0, 0].plot(c["train_t"], _floats(row), color="C0" if lz_run else "0.7", lw=1.5 if lz_run else 0.6)
    axes[0, 0].set(xlabel="t (LJ time)", ylabel="T")
    axes[0, 0].set_title("training runs\n(blue: L_z's runs, paper protocol)", fontsize=9)
    t = c["test_t"]
    for k, (label, pred) in enumerate(c["pred"].items()):
        if pred is None:
            continue
        for j, row in enumerate(pred):
            if k == 0 and c["truth"] is not None:
                axes[0, 1].plot(t, _floats(c["truth"][j]), "k", lw=2, label="truth" if j == 0 else None)
            axes[0, 1].plot(t, _floats(row), "--", color=method_colour(label, 3 * k), label=label if j == 0 else None)
    axes[0, 1].set(xlabel="t (LJ time)", ylabel="T")
    axes[0, 1].set_title(f"test rollouts\n{STRUCTURE_LABELS[c['structure']]}, {c['protocol']} protocol", fontsize=9)
    axes[0, 1].legend(fontsize=8)
    plt.close(fig)
    figs["rollouts"] = fig
    return figs


def _floats(values) -> list[float]:
    """A stored curve with JSON nulls (non-finite values) as NaN."""
    return [math.nan if v is None else v for v in values]


def summary_table(result: ExperimentResult) -> Table:
    """Error on T (mean ± std over the ensemble) per protocol, structure and loss."""
    m, rows = result.metrics, []
    for protocol, per in m["results"].items():
        for structure, r in per.items():
            lz, lx = r["lz"]["same start"], r["lx"]["same start"]
            rows.append([protocol, STRUCTURE_LABELS[structure], f"{lz['mean']:.2e} ± {lz['std']:.1e}",
                         f"{lx['mean']:.2e} ± {lx['std']:.1e}", f"{lz['mean'] / lx['mean']:.2f}"])
    n = len(next(iter(next(iter(m["results"].values())).values()))["lz"]["same start"]["per_model"])
    return Table(["protocol", "structure", "L_z", "L_x,p", "L_z / L_x,p"], rows,
                 caption=f"Relative error on T over the test runs, mean ± std over {n} models per "
                         f"loss, at {m['budget']:,} atom-forces each ({result.scale} scale).")


def force_table(result: ExperimentResult) -> Table:
    """What each loss bought: configurations, atom-forces and the wall time spent in the force
    oracle, per protocol, structure and loss (mean over the models)."""
    rows = []
    for protocol, per in result.metrics["results"].items():
        for structure, r in per.items():
            for key in ("lz", "lx"):
                e = r[key]
                rows.append([protocol, STRUCTURE_LABELS[structure], e["method"], f"{e['n_configs']:,}",
                             f"{e['forces_charged'][0]:,}",
                             f"{sum(e['force_seconds']) / len(e['force_seconds']):.2f}"])
    return Table(["protocol", "structure", "loss", "configurations", "atom-forces per model",
                  "force wall time per model (s)"], rows,
                 caption=f"What each model bought through the counted oracle ({result.scale} scale, "
                         f"{result.metrics['setup']['n_atoms']} atoms).")


def label_noise_table(result: ExperimentResult, *diagnostics: dict) -> Table:
    """Where the closure looks and how noisy L_x,p's implied labels are: the share of
    ‖J_closure‖²_F on position columns and the implied-label noise ratio ρ (T row, closure median)
    of ``result``, and — from each of ``diagnostics`` (JSON written by ``scripts/lj_label_noise.py``,
    read with :func:`support.results.diagnostic`) — the same at 800 atoms for its input scalings."""
    rows = []
    d = result.metrics.get("closure_diagnostics")
    if d:
        cfg = result.config
        scaling = cfg.get("ae.input_scaling", "standardise")          # runs before the setting: standardised
        rows.append([f"this run ({result.scale}, {cfg['n_atoms']} atoms, {cfg.get('relaxation', 'fire')})",
                     scaling, f"{d['position_share']:.3f}", f"{d['noise_ratio_T']:.2f}",
                     f"{d['noise_ratio_closure_median']:.2f}"])
    for diagnostic in diagnostics:
        o = diagnostic["options"]
        relax = "CG" if o.get("relaxation") == "lammps_cg" else "FIRE"
        for scaling, r in diagnostic["results"]["by_input_scaling"].items():
            rows.append([f"scripts/lj_label_noise.py ({o['atoms']} atoms, {o['train_runs']} runs, {relax}, "
                         f"{o['ae']['steps']:,} AE steps)",
                         scaling, f"{r['position_share_closure']:.3f}", f"{r['T_ratio']:.2f}",
                         f"{r['closure_median_ratio']:.2f}"])
    return Table(["closure", "inputs", "share of |J_closure|² on positions", "ρ (T row)",
                  "ρ (closure median)"], rows,
                 caption="Implied-label noise ratio ρ of L_x,p at p = 1/16 (RMS of A⁻¹b − Jf over the spread "
                         "of Jf; support.label_noise) and where the closure looks; no latent model is "
                         "trained for these numbers.")


def force_time_ratio(result: ExperimentResult, protocol: str = "paper",
                     structure: str = "mlp") -> float | None:
    """Wall time in the force oracle of L_x,p over that of L_z at the same budget (mean per model)."""
    per = result.metrics["results"].get(protocol, {}).get(structure)
    if per is None:
        return None
    mean = {k: sum(per[k]["force_seconds"]) / len(per[k]["force_seconds"]) for k in ("lz", "lx")}
    return mean["lx"] / mean["lz"]


# ----------------------------------------------------------------------------- claims
CLAIMS = ClaimSet()
BOTH = {"quick": True, "paper": True}


def error_ratio(r, protocol: str, structure: str = "mlp") -> float | None:
    """Mean error of L_z over that of L_x,p for one protocol and structure (> 1: L_x,p better);
    ``None`` when the run has no such ensemble."""
    per = r.metrics["results"].get(protocol, {}).get(structure)
    if per is None:
        return None
    return per["lz"]["same start"]["mean"] / per["lx"]["same start"]["mean"]


def log_ratios(r, protocol: str, structure: str = "mlp"):
    """Per seed, log(error of L_z / error of L_x,p): model k of both ensembles has the same seed
    (and, under the paper protocol, the same first run), so the two losses pair by seed. None when
    the run has no such ensemble or a model diverged (no finite log-ratio)."""
    import numpy as np
    per = r.metrics["results"].get(protocol, {}).get(structure)
    if per is None:
        return None
    lz, lx = (np.asarray(per[k]["same start"]["per_model"], float) for k in ("lz", "lx"))
    if len(lz) != len(lx) or len(lz) < 2 or not (np.isfinite(lz).all() and np.isfinite(lx).all()):
        return None
    return np.log(lz / lx)


def ratio_estimate(r, protocol: str, structure: str = "mlp"):
    """The error ratio L_z / L_x,p as the geometric mean over the seeds, with the t-interval of the
    paired log-ratios (:func:`support.uncertainty.paired_log_ratio`), as an Estimate of the *log*
    ratio (> 0: L_x,p better); None when the run cannot give one."""
    per = r.metrics["results"].get(protocol, {}).get(structure)
    if log_ratios(r, protocol, structure) is None:
        return None
    return paired_log_ratio(per["lz"]["same start"]["per_model"], per["lx"]["same start"]["per_model"], "models")


def describe_ratio(e) -> str:
    """A log-ratio Estimate in words, as the ratio it is the log of."""
    return f"L_z / L_x,p = {e.map(math.exp).describe()}"


def _ratio_verdict(r, protocol: str, structure: str):
    e = ratio_estimate(r, protocol, structure)
    if e is None:
        return None if r.metrics["results"].get(protocol, {}).get(structure) is None else \
            (None, "a model diverged: no paired interval")
    return above(e, 0.0), describe_ratio(e)


@CLAIMS.add("equal_budgets", "both losses buy exactly the same force budget; L_x,p sees 1/p times more "
            "configurations (exact counts: tolerance zero)", expect=BOTH, paper="equal budget of 1e6 atom-forces")
def _equal(r):
    worst, configs_ok, n = 0, True, 0
    for per in r.metrics["results"].values():
        for x in per.values():
            n += 1
            worst = max([worst] + [abs(f - r.metrics["budget"]) for key in ("lz", "lx") for f in x[key]["forces_charged"]])
            configs_ok &= x["lx"]["n_configs"] == round(1 / r.metrics["p"]) * x["lz"]["n_configs"]
    return worst == 0 and configs_ok, (f"largest |charged − budget| = {worst} atom-forces over {n} ensemble pairs at "
                                       f"{r.metrics['budget']:,} forces each; configurations × {round(1 / r.metrics['p'])}"
                                       f"{'' if configs_ok else ' NOT'} exactly")


@CLAIMS.add("conditioned", "the closure autoencoder is well conditioned (median κ of the closure rows < 10)",
            expect=BOTH, paper="L_cond, λ = 1e-5")
def _conditioned(r):
    from .lj_common import kappa_median_estimate
    e = kappa_median_estimate(r.metrics["autoencoder"])
    return below(e, 10.0), f"median κ = {e.describe()}"


@CLAIMS.add("mlp_paper_protocol", "MLP under the paper's protocol and closure (raw inputs): L_x,p beats L_z "
            "at equal force budget (error ratio L_z / L_x,p > 1, paired by seed)",
            expect={"paper": UNDECIDED}, paper="ratio 19.4 (2.60e-2 / 1.34e-3)",
            reason="the saved run's five MLP pairs give L_z / L_x,p = 0.41 with a 95 % interval [0.14, 1.23]: "
                   "L_z is ahead in the mean and the interval excludes the paper's 19.4, but it reaches past 1, "
                   "so five models do not decide the order (an archived run on standardised closure inputs, "
                   "not the paper's method, had L_z ahead over ten pairs; on a closure trained with the paper's "
                   "own optimiser, ten float32 pairs give 1.06 [0.44, 2.55]: L_x,p catches up, still undecided — "
                   "support.experiments.lj_closures)")
def _mlp_paper(r):
    if r.config.get("ae.input_scaling", "standardise") != "raw":
        e = ratio_estimate(r, "paper")
        return None, ("not the paper's closure (standardised inputs)"
                      + ("" if e is None else f": {describe_ratio(e)}"))
    return _ratio_verdict(r, "paper", "mlp")


@CLAIMS.add("coverage", "L_x,p fares better relative to L_z under the paper's protocol (L_z sees few runs) "
            "than under uniform draws (per seed, the log-ratio L_z / L_x,p is larger under the paper protocol)",
            expect={"paper": True}, paper="— (the paper ran one protocol)")
def _coverage(r):
    a, b = log_ratios(r, "paper"), log_ratios(r, "uniform")
    if a is None or b is None:
        return None
    e = Estimate.of_samples(a - b, what="seeds (paper − uniform protocol)")
    return above(e, 0.0), (f"ratio paper protocol {math.exp(a.mean()):.2f} vs uniform {math.exp(b.mean()):.3f}; "
                           f"factor {e.map(math.exp).describe()}")


@CLAIMS.add("per_force", "uniform draws: per force, L_x,p does not beat L_z at these sizes (L_z more "
            "accurate: error ratio L_z / L_x,p < 1, paired by seed)", expect={"quick": UNDECIDED, "paper": True},
            paper="— (the paper ran one protocol)",
            reason="three pairs of models at the quick scale do not decide it: L_z is ahead in the mean, but the "
                   "paired interval of the ratio straddles 1")
def _per_force(r):
    e = ratio_estimate(r, "uniform")
    if e is None:
        return None if "uniform" not in r.metrics["results"] else (None, "a model diverged: no paired interval")
    return below(e, 0.0), describe_ratio(e)


#: round-off of a float64 sum of pair forces: this many machine epsilons of the largest row
ROUND_OFF_EPS = 1000


@CLAIMS.add("partial_exact", "forces computed on a fraction p of the atoms only equal the same rows of "
            f"the full computation to round-off ({ROUND_OFF_EPS:,} float64 machine epsilons of the largest row)",
            expect=BOTH, paper="— (the official code computed all forces and indexed the rows)")
def _partial_exact(r):
    import numpy as np
    c = r.metrics.get("partial_force_check")
    if c is None:
        return None
    tol = ROUND_OFF_EPS * float(np.finfo(np.float64).eps) * c["max_abs_row"]
    ok = c["max_abs_diff"] <= tol and c["charged_partial"] == c["configs"] * c["atoms"]
    return ok, (f"worst |Δ| = {c['max_abs_diff']:.1e} against round-off {tol:.1e} (largest row "
                f"{c['max_abs_row']:.1e}) on {c['configs']} configurations × {c['atoms']} atoms")


@CLAIMS.add("partial_wall_time", "at these sizes the partial forces save no wall time at equal budget: "
            "L_x,p spends longer in the force oracle than L_z (time ratio > 1, paired by seed over every "
            "ensemble)", expect={"paper": True}, paper="— (not timed)")
def _partial_wall(r):
    e = force_time_estimate(r)
    return None if e is None else (above(e, 0.0), f"L_x,p / L_z force wall time {e.map(math.exp).describe()}")


def force_time_estimate(r):
    """log of the wall time L_x,p spends in the force oracle over that of L_z, paired by seed over
    every ensemble of the run (each pair bought the same budget), with its t-interval; None with
    fewer than two pairs."""
    lz, lx = [], []
    for per in r.metrics["results"].values():
        for x in per.values():
            if len(x["lz"]["force_seconds"]) == len(x["lx"]["force_seconds"]):
                lz += x["lz"]["force_seconds"]
                lx += x["lx"]["force_seconds"]
    return paired_log_ratio(lx, lz, "models") if len(lz) >= 2 else None


def _structure_claim(structure: str, paper_ratio: str, expect: dict, reason: str = ""):
    @CLAIMS.add(f"{structure}_paper_protocol", f"{STRUCTURE_LABELS[structure]} under the paper's protocol: "
                "L_x,p beats L_z at equal force budget (error ratio L_z / L_x,p > 1, paired by seed)",
                expect=expect, paper=paper_ratio, reason=reason)
    def _claim(r):
        return _ratio_verdict(r, "paper", structure)


_structure_claim("onsagernet", "ratio 3.8 (4.45e-3 / 1.17e-3)", {"paper": False},
                 reason="the saved run (raw inputs, CG, 5 models per loss) gives OnsagerNet an L_z error "
                        "below the paper's and an L_x,p error near the MLP's, and the paired interval of the ratio "
                        "lies wholly below 1: L_x,p's floor does not depend on the latent structure, as expected "
                        "if the noise of its implied labels sets it")
_structure_claim("gfinn", "ratio 4.5 (1.28e-2 / 2.84e-3)", {"paper": False},
                 reason="the saved run (raw inputs, CG, 5 models per loss) gives GFINNs, like OnsagerNet, an "
                        "L_z error well below the paper's and an L_x,p error near the other structures', with the "
                        "paired interval of the ratio wholly below 1: the same structure-independent floor of L_x,p")
