r"""Diagnostic (issue 26): does the closure autoencoder's optimiser set L_x,p's label noise on LJ?

Builds the system of ``lj_structures``' paper preset (800 atoms, same start relaxed by LAMMPS CG,
``--train-runs`` NVE runs, d = 32, raw inputs: :func:`~support.experiments.lj_common.simulate_setup`)
and trains its MLP closure autoencoder (:func:`~support.experiments.lj_common.build_autoencoder`,
64-64 softplus, λ_cond = 1e-5, lr 1e-4, batch 256, seed 0 — the same initial weights every time)
with fewer steps than the preset's 17,600, in four variants (``--variants``):

* ``adamw_cosine`` — the book's default: AdamW (decoupled weight decay 1e-4), cosine lr to lr/10;
* ``adam_l2`` — paper 1's official optimiser: Adam with coupled weight decay 1e-4, constant lr.
  With a constant lr the first n steps of a longer run *are* the n-step run (tested in
  ``tests/test_closure_span_and_optimiser.py``), so one run of ``max(--steps)`` steps gives every
  budget in ``--steps`` (its state is kept at each);
* ``pca_span`` — the off-manifold-aware closure (``closure_input="pca_span"``: first layer restricted
  to span{data mean, top-k principal components}) with AdamW + cosine;
* and, without training, the ``adamw_cosine`` closure with its first layer projected onto that span
  afterwards (:func:`support.data_span.project_first_layer`): same encoder on the data, J moved.

For each it reports :func:`~support.experiments.lj_common.closure_diagnostics` at p = 1/16 on
``--configs`` evenly spaced training snapshots: the implied-label noise ratio of the temperature row
and the closure median, the capture Σ‖J^†Jf‖²/Σ‖f‖², the shares of the first layer's ‖W₁‖² and of
‖J_closure‖² in the training data's principal subspace (mean + top-k PCs explaining 1 − 10⁻⁶ of
the variance, the same subspace for every variant), and the reconstruction MSE and training time. Also
the share of the forces' ‖f‖² inside that subspace (the most a closure restricted to it can
capture). No latent model is trained. Results (written after every variant, so an interrupted
run keeps what it measured) go to ``results/diagnostics/lj_closure_study.json`` (``--out``).

Usage::

    python scripts/lj_closure_study.py                         # 90 runs; 4,000 steps (adam_l2: 4,000 and 8,000)
    python scripts/lj_closure_study.py --variants adam_l2 --steps 4000 17600
"""

from __future__ import annotations

import argparse
import copy
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from support.closure import evenly_spaced
from support.data_span import principal_subspace, project_first_layer
from support.experiments import lj_structures
from support.experiments.lj_common import (ae_train_config, build_autoencoder, closure_diagnostics,
                                           simulate_setup, training_subspace)
from support.results import save_benchmark

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("adamw_cosine", "pca_span", "adam_l2")


@torch.no_grad()
def reconstruction_mse(ae, x: torch.Tensor) -> float:
    """‖ψ(φ(x)) − x‖²/N averaged over ``x`` (how far the autoencoder has trained)."""
    return float((ae(x) - ae.reconstruction_target(x)).pow(2).mean())


@torch.no_grad()
def force_share_in(subspace, system, x: torch.Tensor) -> float:
    """Σ‖Q Qᵀ f‖² / Σ‖f‖² over the configurations ``x`` (forces from the full oracle, not charged to any study)."""
    f = torch.cat([system.full_force(xc) for xc in x.split(64)]).double()
    return float(subspace.project(f).pow(2).sum() / f.pow(2).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-runs", type=int, default=None, help="default: the paper preset's (90)")
    ap.add_argument("--steps", type=int, nargs="+", default=[4000, 8000],
                    help="AE budgets; adamw_cosine and pca_span train the first, adam_l2 keeps every one")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--configs", type=int, default=None, help="diagnostic configurations (default: the preset's 1000)")
    ap.add_argument("--projection-k", type=int, default=128,
                    help="principal components the trained adamw_cosine first layer is projected onto")
    ap.add_argument("--atoms", type=int, default=None, help="default: the paper preset's (800)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "results/diagnostics/lj_closure_study.json"))
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    progress = not args.no_progress
    preset = lj_structures.Config.for_scale("paper")
    runs = args.train_runs or preset.n_train_traj
    n_diag = args.configs or preset.diagnostic_configs
    steps = sorted(set(args.steps))
    base = replace(preset.ae, latent_dim=preset.latent_dim, steps=steps[0])
    t0 = time.perf_counter()

    setup = simulate_setup(args.atoms or preset.n_atoms, runs, 1, args.seed, progress=progress, relaxation=preset.relaxation)
    t_sim = time.perf_counter() - t0
    snaps = setup.train.snapshots()
    subspace = training_subspace(setup)
    wide = principal_subspace(snaps, 1.0, max_k=args.projection_k, samples=4096)   # for the projection check
    x256 = snaps[evenly_spaced(len(snaps), 256)]
    results = {"simulation_seconds": t_sim, "subspace": subspace.as_dict(),
               "force_share_in_subspace": force_share_in(subspace, setup.system, x256), "variants": {}}
    print(f"simulated {runs} runs in {t_sim:.0f} s; subspace k = {subspace.k} "
          f"({subspace.explained:.5f} of the variance); forces in it: {results['force_share_in_subspace']:.3f}",
          flush=True)
    options = {"atoms": setup.n_atoms, "projection_k": args.projection_k, "train_runs": runs, "paper_preset_runs": preset.n_train_traj,
               "frames_per_run": setup.system.n_frames, "relaxation": preset.relaxation,
               "design": "same start (lj_common.simulate_setup)", "p": preset.p, "configs": n_diag,
               "seed": args.seed, "steps": steps, "paper_steps": preset.ae.steps,
               "ae": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(base).items() if k != "steps"},
               "variants": args.variants}

    def measure(name: str, ae, seconds: float, cfg, note: str = "") -> None:
        t = time.perf_counter()
        d = closure_diagnostics(setup, ae, preset.p, args.seed, n_diag)
        tc = ae_train_config(cfg, args.seed)
        row = {"optimizer": cfg.optimizer, "torch_optimizer": tc.optimizer, "schedule": tc.schedule,
               "closure_input": cfg.closure_input, "steps": cfg.steps, "train_seconds": seconds,
               "noise_ratio_T": d["noise_ratio_T"], "noise_ratio_closure_median": d["noise_ratio_closure_median"],
               "capture": d["capture"], "capture_median": d["label_noise"]["capture_median"],
               "first_layer_share": d["subspace_shares"]["first_layer"],
               "jacobian_share": d["subspace_shares"]["jacobian"], "position_share": d["position_share"],
               "reconstruction_mse": reconstruction_mse(ae, x256), "note": note,
               "diagnostic_seconds": time.perf_counter() - t}
        results["variants"][name] = row
        print(f"{name:>22}: noise T {row['noise_ratio_T']:.3f}, closure median {row['noise_ratio_closure_median']:.3f}, "
              f"capture {row['capture']:.3f}, first-layer share {row['first_layer_share']:.3f}, "
              f"J share {row['jacobian_share']:.3f}, recon MSE {row['reconstruction_mse']:.4e}, "
              f"{seconds:.0f} s training", flush=True)
        save_benchmark("lj_closure_study", results, options=options, wall_time_s=time.perf_counter() - t0,
                       threads=1, out=args.out)

    for variant in args.variants:
        if variant == "adam_l2":
            cfg = replace(base, optimizer="adam_l2", steps=steps[-1])
            t1 = time.perf_counter()
            states: list[tuple[float, dict]] = []

            def keep_state(model):
                states.append((time.perf_counter() - t1, copy.deepcopy(model.state_dict())))
                return {}
            every = steps[0] if all(s % steps[0] == 0 for s in steps) else 0
            ae = build_autoencoder(setup, cfg, args.seed, progress, evaluate=keep_state, eval_every=every)
            # states at every multiple of steps[0] (and the end); keep those asked for
            marks = [k * every for k in range(1, len(states) + 1)] if every else [steps[-1]]
            for s_count, (secs, state) in zip(marks, states):
                if s_count in steps:
                    ae.load_state_dict(state)
                    measure(f"adam_l2_{s_count}", ae.eval(), secs, replace(cfg, steps=s_count),
                            "" if s_count == steps[-1] else f"state at step {s_count} of the {steps[-1]}-step run")
        else:
            cfg = replace(base, closure_input="pca_span") if variant == "pca_span" else base
            t1 = time.perf_counter()
            ae = build_autoencoder(setup, cfg, args.seed, progress)
            measure(f"{variant}_{cfg.steps}", ae, time.perf_counter() - t1, cfg,
                    f"span k = {training_subspace(setup, cfg).k}" if variant == "pca_span" else "")
            if variant == "adamw_cosine":
                before, mse = ae.encode(x256).detach(), reconstruction_mse(ae, x256)
                project_first_layer(ae.closure_net, wide)
                change = float((ae.encode(x256).detach() - before).abs().max() / before.abs().max())
                measure(f"adamw_cosine_{cfg.steps}_projected", ae, 0.0, cfg,
                        f"first layer projected onto mean + top-{wide.k} PCs after training; largest change "
                        f"of the encoder on training data {change:.1e} of its largest output")
                results["variants"][f"adamw_cosine_{cfg.steps}_projected"].update(
                    encoder_change=change, reconstruction_mse_before=mse, projection=wide.as_dict())
    path = save_benchmark("lj_closure_study", results, options=options, wall_time_s=time.perf_counter() - t0,
                          threads=1, out=args.out)
    print(f"wrote {path} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
