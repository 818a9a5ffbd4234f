r"""Diagnostic (issue 15): does the MLP closure's input scaling make L_x,p's labels noisy on LJ?

Builds paper 1's Lennard-Jones 800-atom design the way ``support.experiments.lj_common`` does
(:func:`~support.experiments.lj_common.simulate_setup`: same start, ρ = 0.8, T0 ~ U(0.5, 1.5)) and
trains the MLP closure autoencoder with :func:`~support.experiments.lj_common.build_autoencoder`
(d = 32, 64-64 softplus, λ_cond = 1e-5 on the closure rows) twice from the same initial weights: once with standardised inputs (``input_scaling="standardise"``, the book's LJ runs so far)
and once with raw inputs (``"raw"``, paper 1's official code). No latent model is trained. For each it
reports

* the position share of ‖J_closure‖²_F (:func:`support.label_noise.column_block_share` on the
  position columns), and
* the implied-label noise ratio of L_x,p at p = 1/16 (:func:`support.label_noise.label_noise`): RMS
  of A⁻¹b − J f over the spread of J f, for the temperature row and the median over the closure rows,

plus a p = 1 check (ratio 0 up to round-off) and the input spreads of positions and velocities.
Settings, wall times, the code version and the load average go to
``results/diagnostics/lj_label_noise.json`` (``--out``).

Usage::

    python scripts/lj_label_noise.py                      # 20 runs, 4,000 AE steps
    python scripts/lj_label_noise.py --ae-steps 17600     # the paper's AE budget
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from support.budget import ForceBudget
from support.closure import evenly_spaced
from support.experiments.lj_common import AEConfig, build_autoencoder, simulate_setup
from support.label_noise import column_block_share, label_noise, unit_columns
from support.results import save_benchmark

ROOT = Path(__file__).resolve().parents[1]


@torch.no_grad()
def reconstruction_mse(ae, x: torch.Tensor) -> float:
    """Mean squared reconstruction error ‖ψ(φ(x)) − x‖²/N on ``x`` (how far the AE has trained)."""
    return float((ae(x) - ae.reconstruction_target(x)).pow(2).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--atoms", type=int, default=800)
    ap.add_argument("--train-runs", type=int, default=20)
    ap.add_argument("--ae-steps", type=int, default=4000)
    ap.add_argument("--configs", type=int, default=1000, help="configurations the diagnostic uses")
    ap.add_argument("--p", type=float, default=1 / 16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scalings", nargs="+", default=["standardise", "raw"], choices=["standardise", "raw"])
    ap.add_argument("--relaxation", default="fire", choices=["fire", "lammps_cg"],
                    help="start relaxation: the book's FIRE (to --relax-fmax) or paper 1's LAMMPS CG")
    ap.add_argument("--relax-fmax", type=float, default=50.0, help="FIRE stop of the start relaxation")
    ap.add_argument("--out", default=str(ROOT / "results/diagnostics/lj_label_noise.json"))
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    progress = not args.no_progress
    t0 = time.perf_counter()

    setup = simulate_setup(args.atoms, args.train_runs, 1, args.seed, relax_fmax=args.relax_fmax,
                           relaxation=args.relaxation, progress=progress)
    t_sim = time.perf_counter() - t0
    system, snaps = setup.system, setup.train.snapshots()
    pos_cols = unit_columns(system.n_atoms, system.rows_per_unit, (0, 1, 2))
    vel_cols = unit_columns(system.n_atoms, system.rows_per_unit, (3, 4, 5))
    std = snaps.std(0)
    x = snaps[evenly_spaced(len(snaps), args.configs)]
    base = AEConfig(latent_dim=32, steps=args.ae_steps)

    out = {}
    for scaling in args.scalings:
        t1 = time.perf_counter()
        cfg = replace(base, input_scaling=scaling)
        ae = build_autoencoder(setup, cfg, args.seed, progress)
        t_ae = time.perf_counter() - t1
        budget = ForceBudget()
        t2 = time.perf_counter()
        noise = label_noise(system, ae, x, args.p, seed=args.seed, budget=budget)
        exact = label_noise(system, ae, x[:32], 1.0, seed=args.seed)
        share = column_block_share(ae, x[evenly_spaced(len(x), 256)], pos_cols)
        out[scaling] = {"position_share_closure": share, "noise": noise.as_dict(),
                        "T_ratio": noise.observable_ratio[0], "closure_median_ratio": noise.closure_median,
                        "p1_max_ratio": max(r for r in exact.ratio if r is not None),
                        "ae_reconstruction_mse": reconstruction_mse(ae, x[:256]),
                        "ae_seconds": t_ae, "diagnostic_seconds": time.perf_counter() - t2}
        print(f"{scaling:>11}: position share {share:.3f}, noise ratio T {noise.observable_ratio[0]:.3f}, "
              f"closure median {noise.closure_median:.3f} (p = {args.p:g}, {noise.units_observed} atoms, "
              f"{args.configs} configurations; p = 1 max ratio {out[scaling]['p1_max_ratio']:.1e}); "
              f"AE {t_ae:.0f} s, reconstruction MSE {out[scaling]['ae_reconstruction_mse']:.3e}", flush=True)

    results = {"by_input_scaling": out,
               "input_spread": {"position_std_mean": float(std[pos_cols].mean()),
                                "velocity_std_mean": float(std[vel_cols].mean()),
                                "boost_of_positions": float(std[vel_cols].mean() / std[pos_cols].mean())},
               "simulation_seconds": t_sim}
    options = {"atoms": args.atoms, "train_runs": args.train_runs, "frames_per_run": system.n_frames,
               "design": "same start (lj_common.simulate_setup)", "relaxation": args.relaxation,
               "relax_fmax": args.relax_fmax,
               "ae": {"builder": "lj_common.build_autoencoder", "latent_dim": base.latent_dim,
                      "hidden": list(base.hidden), "lambda_cond": base.lambda_cond, "steps": base.steps,
                      "paper_steps": AEConfig().steps, "lr": base.lr, "batch_size": base.batch_size,
                      "schedule": "cosine to lr/10", "seed": args.seed},
               "diagnostic": {"p": args.p, "configs": args.configs, "configs_from": "evenly spaced training snapshots",
                              "share_configs": min(256, args.configs), "seed": args.seed}}
    path = save_benchmark("lj_label_noise", results, options=options, wall_time_s=time.perf_counter() - t0,
                          threads=1, out=args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
