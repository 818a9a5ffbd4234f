r"""Benchmark: the two training-step shortcuts that make paper-scale LJ runs affordable.

1. **L_cond of the MLP closure without forming J.** The condition-number loss needs J Jᵀ
   (d×d per sample). Forming J = M W̃₁ costs a ``[B, d, N]`` tensor (and its backward) per step;
   :meth:`support.encoders.MLPClosure.gram` uses J Jᵀ = M (W̃₁ W̃₁ᵀ) Mᵀ instead, so nothing of size
   N·d is built. Timed: one autoencoder step (L_rec + λ_cond L_cond, forward and backward) with
   each route, on the paper's 64-64 closure for N = 6 · n_atoms.
2. **L_x,p from its normal equations.** L_x,p is quadratic in g, so it equals c − 2 b·g + gᵀAg with
   per-sample A = ψᵀWψ/r, b = ψᵀWf/r, c = fᵀWf/r (:func:`support.losses.partial_normal_equations`).
   Timed: one latent step (MLP 256-256, d = 32, batch 256) with the ``[B, r, d]`` residual form and
   with the ``[B, d, d]`` form, for r = 6 × 50 rows (the paper's 50 atoms per configuration).

3. **What a paper-scale latent step costs** for each structure of paper 1 at its paper widths
   (MLP 256-256, OnsagerNet 256³, GFINNs 256-256; d = 32, batch 256, L_x,p in the normal form): the
   unit of every sweep's cost estimate (steps × models).

Routes 1 and 2 are checked to give the same loss (and, for 1, the same gradient) before timing.
Times are minima over repeats in this one run, float64, ``--threads`` torch threads (default 1:
fastest for these small nets on a CPU).

Besides the printed tables, the results are written as JSON to
``results/benchmarks/bench_training_steps.json`` (``--out`` to write elsewhere, ``--out ''`` not at
all), with the machine, thread count, date, code version and options; the LJ chapters quote their
numbers from that file (:func:`support.results.benchmark`).

Usage::

    python benchmarks/bench_training_steps.py
    python benchmarks/bench_training_steps.py --atoms 800 2700 6400 --repeats 20 --device cuda
"""

from __future__ import annotations

import argparse
import time

import torch

from support.closure import autoencoder_loss
from support.encoders import mlp_autoencoder
from support.experiments.lj_common import PAPER_WIDTHS
from support.latent import build_latent_model
from support.jacobian import gram
from timing import time_min
from support.losses import loss_x_partial, loss_x_partial_normal, partial_normal_equations
from support.nets import mlp
from support.results import benchmark_path, save_benchmark


def cond_loss_via_full_jacobian(ae, x: torch.Tensor) -> torch.Tensor:
    """L_cond with J formed explicitly (the generic route), closure rows only."""
    J = ae.jacobian(x, create_graph=True, chunk=None)[:, ae.n_observables:]
    ev = torch.linalg.eigvalsh(gram(J))
    return (ev[:, -1] / ev[:, 0] - 1).pow(2).mean()


def temperature(x: torch.Tensor) -> torch.Tensor:
    v = x.reshape(x.shape[0], -1, 6)[..., 3:]
    return v.pow(2).sum((-1, -2)).unsqueeze(-1) / (3 * (v.shape[1] - 1))


def bench_autoencoder(n_atoms: int, batch: int, repeats: int, device: torch.device, sync) -> dict:
    torch.manual_seed(0)
    N = 6 * n_atoms
    ae = mlp_autoencoder(temperature, 1, N, 32, (64, 64)).double().to(device)
    x = torch.randn(batch, N, dtype=torch.float64, device=device)
    ae.closure_net.fit_scaling(x)
    lam = 1e-5

    def fast() -> torch.Tensor:
        ae.zero_grad()
        loss = autoencoder_loss(ae, (x,), lam)
        loss.backward()
        return loss

    def full() -> torch.Tensor:
        ae.zero_grad()
        loss = ae.reconstruction_loss((x,)) + lam * cond_loss_via_full_jacobian(ae, x)
        loss.backward()
        return loss

    a = fast().item()
    g_fast = [p.grad.clone() for p in ae.closure_net.parameters()]
    b = full().item()
    g_full = [p.grad.clone() for p in ae.closure_net.parameters()]
    grad_err = max(float((u - v).abs().max() / v.abs().max().clamp_min(1e-300)) for u, v in zip(g_fast, g_full))
    t_fast, t_full = time_min(fast, repeats, sync), time_min(full, repeats, sync)
    return {"n_atoms": n_atoms, "N": N, "full_s": t_full, "gram_s": t_fast, "speedup": t_full / t_fast,
            "loss_rel_diff": abs(a - b) / abs(b), "grad_rel_diff": grad_err}


def bench_latent(rows: int, batch: int, d: int, repeats: int, device: torch.device, sync) -> dict:
    gen = torch.Generator().manual_seed(1)
    G = mlp([d, 256, 256, d], "softplus").double().to(device)
    z = torch.randn(batch, d, generator=gen, dtype=torch.float64).to(device)
    f = torch.randn(batch, rows, generator=gen, dtype=torch.float64).to(device)
    psi = torch.randn(batch, rows, d, generator=gen, dtype=torch.float64).to(device)
    A, b, c = partial_normal_equations(f, psi)

    def residual() -> torch.Tensor:
        G.zero_grad()
        loss = loss_x_partial(G(z), f, psi)
        loss.backward()
        return loss

    def normal() -> torch.Tensor:
        G.zero_grad()
        loss = loss_x_partial_normal(G(z), A, b, c)
        loss.backward()
        return loss

    diff = abs(residual().item() - normal().item()) / abs(residual().item())
    t_res, t_norm = time_min(residual, repeats, sync), time_min(normal, repeats, sync)
    return {"rows": rows, "residual_s": t_res, "normal_s": t_norm, "speedup": t_res / t_norm, "loss_rel_diff": diff}


def bench_structure(name: str, batch: int, d: int, repeats: int, device: torch.device, sync) -> float:
    gen = torch.Generator().manual_seed(2)
    G = build_latent_model(name, d, seed=0, **PAPER_WIDTHS[name]).double().to(device)
    z = torch.randn(batch, d, generator=gen, dtype=torch.float64).to(device)
    A, b, c = partial_normal_equations(torch.randn(batch, 300, generator=gen, dtype=torch.float64),
                                       torch.randn(batch, 300, d, generator=gen, dtype=torch.float64))
    A, b, c = A.to(device), b.to(device), c.to(device)
    opt = torch.optim.AdamW(G.parameters(), lr=1e-4)

    def step() -> None:
        opt.zero_grad()
        loss_x_partial_normal(G(z), A, b, c).backward()
        opt.step()

    return time_min(step, repeats, sync)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--atoms", type=int, nargs="+", default=[800, 2700])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(benchmark_path("bench_training_steps")),
                    help="JSON file for the results (default: %(default)s; '' to skip)")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    results: dict = {"autoencoder": [], "latent_partial": [], "structures": {}}
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch {args.batch}, float64, "
          f"min over {args.repeats} repeats")
    print("\n1. autoencoder step (L_rec + λ_cond L_cond), paper's 64-64 MLP closure, d = 32")
    print(f"{'atoms':>7} {'N':>7} {'J formed (s)':>13} {'J Jᵀ only (s)':>14} {'speed-up':>9} "
          f"{'Δloss':>8} {'Δgrad':>8}")
    for n in args.atoms:
        r = bench_autoencoder(n, args.batch, args.repeats, device, sync)
        results["autoencoder"].append(r)
        print(f"{r['n_atoms']:>7} {r['N']:>7} {r['full_s']:>13.4f} {r['gram_s']:>14.4f} {r['speedup']:>8.1f}× "
              f"{r['loss_rel_diff']:>8.1e} {r['grad_rel_diff']:>8.1e}")
    print("\n2. latent step with L_x,p, MLP 256-256, d = 32")
    print(f"{'rows r':>7} {'[B,r,d] (s)':>12} {'[B,d,d] (s)':>12} {'speed-up':>9} {'Δloss':>8}")
    for rows in (6 * 16, 6 * 50):
        r = bench_latent(rows, args.batch, 32, args.repeats, device, sync)
        results["latent_partial"].append(r)
        print(f"{r['rows']:>7} {r['residual_s']:>12.5f} {r['normal_s']:>12.5f} {r['speedup']:>8.1f}× "
              f"{r['loss_rel_diff']:>8.1e}")
    print("\n3. one optimiser step of a paper-size latent model (d = 32, L_x,p normal form)")
    for name in ("mlp", "onsagernet", "gfinn"):
        t = bench_structure(name, args.batch, 32, args.repeats, device, sync)
        results["structures"][name] = {"step_s": t, "widths": PAPER_WIDTHS[name], "latent_dim": 32,
                                       "batch": args.batch}
        print(f"{name:>11}: {1e3 * t:7.2f} ms per step  →  10,000 steps ≈ {10_000 * t / 60:5.1f} min per model")
    if args.out:
        options = {k: getattr(args, k) for k in ("atoms", "batch", "repeats", "threads", "device")}
        path = save_benchmark("bench_training_steps", results, options=options, device=str(device),
                              wall_time_s=time.perf_counter() - t_start, out=args.out)
        print(f"\nresults written to {path}")


if __name__ == "__main__":
    main()
