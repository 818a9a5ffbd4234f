r"""Benchmark: what makes the paper-scale Lennard-Jones latent studies affordable on a CPU.

1. **Per-step cost of each latent structure**, current route vs new, at paper 1's widths (MLP
   256-256, OnsagerNet 256³ ReQUr, GFINNs 256-256 with K = d; d = 32, batch 256, L_x,p in its normal
   form, AdamW with amsgrad: one full training step). Routes:

   * ``autograd`` — ∇V (∇E, ∇S) from ``autograd.grad(create_graph=True)``: a double backward (the
     code before issue 15, kept as ``gradient="autograd"``);
   * ``exact`` — the hand-written gradients and operator products (the default now);
   * ``exact + compile`` — the same through ``torch.compile`` (``TrainConfig.compile``);
   * the same two in float32 (an explicit, recorded option of the LJ studies; never the default).

   Every route is first checked to give the same loss as ``autograd`` in float64 (to 1e-12
   relative; float32 to 1e-4).
2. **Two worker processes** (:func:`support.farm.run_latent_jobs`): wall time of ``--jobs``
   OnsagerNet trainings of ``--job-steps`` steps with 1 and with 2 single-threaded workers.
3. **The force oracle, batched**: 256 configurations of 800 atoms, 50 atoms asked for in each,
   one oracle call per configuration vs one compiled call for the batch.

Times are minima over ``--repeats`` (after warm-up), all measured in this one run on one torch
thread per process; the JSON goes to ``results/benchmarks/bench_latent_training.json``.

Usage::

    python benchmarks/bench_latent_training.py
    python benchmarks/bench_latent_training.py --repeats 10 --jobs 4 --job-steps 300
"""

from __future__ import annotations

import argparse
import time

import torch

from support.experiments.lj_common import PAPER_WIDTHS
from support.farm import LatentJob, run_latent_jobs
from support.latent import LatentFactory, build_latent_model
from support.losses import loss_x_partial_normal, partial_normal_equations
from support.normalise import LatentNormaliser
from support.results import benchmark_path, save_benchmark
from support.train import TrainConfig, _compiled
from timing import time_min

D, BATCH, ROWS = 32, 256, 6 * 50


def normal_form_batch(dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """z and the L_x,p statistics (A, b, c) of a batch with ROWS observed rows per sample."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(BATCH, D, generator=gen, dtype=torch.float64)
    psi = torch.randn(BATCH, ROWS, D, generator=gen, dtype=torch.float64) / ROWS ** 0.5
    f = torch.randn(BATCH, ROWS, generator=gen, dtype=torch.float64)
    A, b, c = partial_normal_equations(f, psi, torch.ones(BATCH, ROWS, dtype=torch.float64))
    return tuple(t.to(dtype) for t in (z, A, b, c))


def route_step(structure: str, gradient: str, dtype: torch.dtype, compile: bool):
    """(one training step, the first loss) for a fresh model of ``structure`` on one batch."""
    kwargs = dict(PAPER_WIDTHS[structure])
    if structure != "mlp":
        kwargs["gradient"] = gradient
    model = build_latent_model(structure, D, seed=1, **kwargs).to(dtype)
    z, A, b, c = normal_form_batch(dtype)
    run = _compiled(model) if compile else model
    first = loss_x_partial_normal(run(z), A, b, c).item()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, amsgrad=True)

    def step():
        loss = loss_x_partial_normal(run(z), A, b, c)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step, first


ROUTES = [("autograd", torch.float64, False), ("exact", torch.float64, False), ("exact", torch.float64, True),
          ("exact", torch.float32, False), ("exact", torch.float32, True)]


def step_costs(repeats: int) -> list[dict]:
    rows = []
    for structure in ("mlp", "onsagernet", "gfinn"):
        reference = None
        for gradient, dtype, compile in ROUTES:
            t_setup = time.perf_counter()
            step, first = route_step(structure, gradient, dtype, compile)
            if structure == "mlp":
                gradient = "n/a (plain MLP)"       # no input gradient: both float64 rows are one route
            reference = first if reference is None else reference
            tol = 1e-12 if dtype == torch.float64 else 1e-4
            if abs(first - reference) > tol * abs(reference):
                raise AssertionError(f"{structure} {gradient} {dtype}: loss {first} != reference {reference}")
            seconds = time_min(step, repeats, warmup=3)
            rows.append({"structure": structure, "gradient": gradient, "dtype": str(dtype).removeprefix("torch."),
                         "compile": compile, "step_ms": 1e3 * seconds,
                         "setup_s": time.perf_counter() - t_setup - seconds * repeats})
            print(f"{structure:10s} {gradient:16s} {rows[-1]['dtype']:8s} compile={compile!s:5s} "
                  f"{rows[-1]['step_ms']:7.2f} ms/step", flush=True)
        base = rows[-len(ROUTES)]["step_ms"]
        for r in rows[-len(ROUTES):]:
            r["speedup_vs_current"] = base / r["step_ms"]
    return rows


def worker_throughput(n_jobs: int, steps: int) -> dict:
    z, t = normal_form_batch(torch.float64)[0], torch.randn(BATCH, D, dtype=torch.float64)
    factory = LatentFactory("onsagernet", D, dict(PAPER_WIDTHS["onsagernet"]))
    cfg = TrainConfig(steps=steps, batch_size=BATCH, schedule="cosine", progress=False, threads=1)
    jobs = lambda: [LatentJob(f"j{k}", "lz", (z, t), factory, LatentNormaliser(D), k, cfg)  # noqa: E731
                    for k in range(n_jobs)]
    out = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        run_latent_jobs(jobs(), lambda *a: None, workers=workers)
        out[f"workers_{workers}_s"] = time.perf_counter() - t0
        print(f"{n_jobs} OnsagerNet jobs x {steps} steps, {workers} worker(s): {out[f'workers_{workers}_s']:.1f} s",
              flush=True)
    out["speedup"] = out["workers_1_s"] / out["workers_2_s"]
    return {"jobs": n_jobs, "steps": steps, **out}


def oracle_batching(repeats: int) -> dict:
    from support.experiments.lj_common import make_system
    from support.systems.lennard_jones import lattice_configuration
    from support.systems.lennard_jones.oracle import partial_forces
    system = make_system(800)
    gen = torch.Generator().manual_seed(0)
    x = system.state_from_atoms(lattice_configuration(800, 0)).unsqueeze(0).repeat(256, 1)
    x = x + 0.01 * torch.randn(x.shape, generator=gen, dtype=x.dtype)
    units = torch.stack([torch.randperm(800, generator=gen)[:50] for _ in range(256)])
    per_atom = x.reshape(256, 800, 6)

    def one_by_one():
        for b in range(256):
            partial_forces(per_atom[b, :, :3], system.box, units[b])

    loop = time_min(one_by_one, repeats, warmup=1)
    batched = time_min(lambda: system.force(x, units), repeats, warmup=1)
    print(f"oracle, 256 configs of 800 atoms, 50 asked: {1e3 * loop / 256:.3f} ms/config one call each, "
          f"{1e3 * batched / 256:.3f} ms/config batched", flush=True)
    return {"configs": 256, "n_atoms": 800, "atoms_asked": 50, "per_config_ms_loop": 1e3 * loop / 256,
            "per_config_ms_batched": 1e3 * batched / 256, "speedup": loop / batched}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--job-steps", type=int, default=400)
    ap.add_argument("--out", default=str(benchmark_path("bench_latent_training")),
                    help="JSON output ('' to skip)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    results = {"step_costs": step_costs(args.repeats), "workers": worker_throughput(args.jobs, args.job_steps),
               "oracle": oracle_batching(args.repeats)}
    if args.out:
        path = save_benchmark("bench_latent_training", results, threads=1, wall_time_s=time.perf_counter() - t0,
                              options={"repeats": args.repeats, "jobs": args.jobs, "job_steps": args.job_steps,
                                       "d": D, "batch": BATCH, "rows": ROWS}, out=args.out)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
