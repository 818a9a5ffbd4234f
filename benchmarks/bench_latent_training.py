"""Benchmark: what makes the paper-scale Lennard-Jones latent studies affordable on a CPU.

1. **Per-step cost of each latent structure**, current route vs new, at paper 1's widths (MLP
   256-256, OnsagerNet 256³ ReQUr, GFINNs 256-256 with K = d; d = 32, batch 256, L_x,p in its normal
   form, AdamW with amsgrad: one full training step). Routes:

   * ``autograd`` — ∇V (∇E, ∇S) from ``autograd.grad(create_graph=True)``: a double backward (the
     code before issue 15, kept as ``gradient="autograd"``);
   * ``exact`` — the hand-written gradients and operator products (the default now);
   * ``exact + compile`` — the same through ``torch.compile`` (``TrainConfig.compile``);
   * the same two in float32 (lj_structures' paper precision; a recorded option of the other LJ studies).

   Every route is first checked to give the same loss as ``autograd`` in float64 (to 1e-12
   relative; float32 to 1e-4).

   **The step at the machine's rate.** Each row also reports the step's FLOP rate beside a
   matrix-multiply rate measured in the same run. FLOPs per step are *counted from the layer
   shapes* (:func:`matmul_shapes`): every dense product of the forward pass, 2·m·k·n for an
   [m, k] × [k, n] product (the layers, the hand-written input-gradient products ∇V = Jᵀ… of
   OnsagerNet and GFINNs, GFINNs' ξ contraction), and in the backward pass two products per forward
   product (weight gradient and input gradient), less the input gradients of products whose input is
   z (no gradient is asked of z). Elementwise work, the per-sample d×d matrix–vector products
   (O(B d²), under 1 % of the total) and the optimiser are not counted. The count is the same for
   every route of a structure (the autograd route does the same products plus a few more); it is
   cross-checked against ``torch.utils.flop_counter.FlopCounterMode`` on one forward + backward pass
   (``gflop_flopcounter``, which also counts the batched d×d products and the loss; the script
   prints the ratio and refuses a count more than 5 % off).

   The matrix-multiply rate (``matmul_gflop_per_s``) is that of exactly these products, run back to
   back as plain ``torch.mm`` on random operands of the same shapes and dtype, on one thread, in the
   same process just before the structure's rows: the rate this step would reach if it were
   nothing but its matrix products. ``fraction_of_matmul`` = step rate / that rate (= time of the
   products alone / step time). Times of both are minima over ``--repeats`` of the process's CPU
   time (``time.thread_time``, the thread's, less sensitive to other processes on a shared machine than wall time):
   ``step_cpu_ms`` is that CPU-time minimum (the FLOP rates use it); ``step_ms`` (what the book quotes
   to estimate a study's wall time) stays the wall-clock minimum, as in earlier runs of this script
   (equal on a quiet machine; on a loaded one the wall clock also counts the time other processes
   held the core).

   ``--before DIR`` runs the step section a second time, first, in a subprocess that imports
   ``support`` from DIR (e.g. ``git archive <rev> support | tar -x -C DIR``), and stores those
   rows under ``results["before"]`` with ``--before-label``: a before/after comparison in one run.
2. **Two worker processes** (:func:`support.farm.run_latent_jobs`): wall time of ``--jobs``
   OnsagerNet trainings of ``--job-steps`` steps with 1 and with 2 single-threaded workers.
3. **The force oracle, batched**: 256 configurations of 800 atoms, 50 atoms asked for in each,
   one oracle call per configuration vs one compiled call for the batch.

Times are minima over ``--repeats`` (after warm-up), all measured in this one run on one torch
thread per process; the JSON goes to ``results/benchmarks/bench_latent_training.json`` (with the
machine's load average when it finished: other work on a shared machine slows every number).
``--steps-only`` skips parts 2 and 3 (a quicker run) and writes no JSON unless ``--out`` is given.

Usage::

    python benchmarks/bench_latent_training.py
    python benchmarks/bench_latent_training.py --repeats 10 --jobs 4 --job-steps 300
    mkdir old && git archive eae5bb6 support | tar -x -C old      # an older support/ to compare with
    python benchmarks/bench_latent_training.py --steps-only --before old --before-label "HEAD eae5bb6"
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
    """(one training step, the first loss, the step without the optimiser) for a fresh model of
    ``structure`` on one batch."""
    kwargs = dict(PAPER_WIDTHS[structure])
    if structure != "mlp":
        kwargs["gradient"] = gradient
    model = build_latent_model(structure, D, seed=1, **kwargs).to(dtype)
    z, A, b, c = normal_form_batch(dtype)
    run = _compiled(model) if compile else model
    first = loss_x_partial_normal(run(z), A, b, c).item()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, amsgrad=True)

    def fwd_bwd():
        loss = loss_x_partial_normal(run(z), A, b, c)
        opt.zero_grad(set_to_none=True)
        loss.backward()

    def step():
        fwd_bwd()
        opt.step()
    return step, first, fwd_bwd


ROUTES = [("autograd", torch.float64, False), ("exact", torch.float64, False), ("exact", torch.float64, True),
          ("exact", torch.float32, False), ("exact", torch.float32, True)]


def matmul_shapes(structure: str) -> list[tuple[int, int, int]]:
    """Every dense product (m, k, n) of one training step (forward + backward) at the paper widths,
    from the layer shapes: see the module docstring for what is counted."""
    B, d = BATCH, D
    forward: list[tuple[int, int, int]] = []
    z_input: list[int] = []                                # indices of products whose input is z

    def dense(sizes, from_z=True):
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i == 0 and from_z:
                z_input.append(len(forward))
            forward.append((B, n_in, n_out))

    def vjp(sizes):                                        # (g ⊙ σ') W_k, from the last hidden layer down
        for n_in, n_out in reversed(list(zip(sizes[:-1], sizes[1:]))):
            forward.append((B, n_out, n_in))

    widths = list(PAPER_WIDTHS[structure]["hidden"])
    if structure == "mlp":
        dense([d, *widths, d])
    elif structure == "onsagernet":
        w = widths[-1]
        dense([d, *widths])                                # trunk
        dense([w, d], from_z=False)                        # P(h)
        dense([d, d])                                      # Γ z
        forward.append((B, d, w))                          # u W_P
        vjp([d, *widths])                                  # ∇V through the trunk
        forward.append((B, d, d))                          # u W_Γ
        forward.append((B, w, d * d))                      # A(h)
        forward.append((B, w, d))                          # F(h)
    elif structure == "gfinn":
        k = d                                              # K = d at the paper's size
        for _ in range(2):                                 # E and S: the hidden layers and ∇ by hand
            dense([d, *widths])
            vjp([d, *widths])
        for _ in range(2):                                 # σ-nets of L and M
            dense([d, *widths, k * k])
        forward += [(B, d, k * d)] * 2                     # B = ∇Fᵀ ξ_k for both operators
    else:
        raise ValueError(structure)
    backward = []
    for i, (m, kk, n) in enumerate(forward):
        backward.append((kk, m, n))                        # weight gradient
        if i not in z_input:
            backward.append((m, n, kk))                    # input gradient
    return forward + backward


def gflop(shapes) -> float:
    return sum(2 * m * k * n for m, k, n in shapes) / 1e9


def cpu_time_min(step, repeats: int, warmup: int = 3) -> float:
    """Minimum CPU time of this thread for one call of ``step`` (see the module docstring)."""
    for _ in range(warmup):
        step()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.thread_time()
        step()
        best = min(best, time.thread_time() - t0)
    return best


def matmul_rate(shapes, dtype: torch.dtype, repeats: int) -> dict:
    """GFLOP/s of ``shapes`` run back to back as plain products of random operands (one thread)."""
    gen = torch.Generator().manual_seed(0)
    operands = [(torch.randn(m, k, generator=gen, dtype=dtype), torch.randn(k, n, generator=gen, dtype=dtype))
                for m, k, n in shapes]

    def run():
        for a, b in operands:
            torch.mm(a, b)
    seconds = cpu_time_min(run, repeats)
    return {"ms": 1e3 * seconds, "gflop_per_s": gflop(shapes) / seconds}


def flopcounter_gflop(step_fwd_bwd) -> float | None:
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:                                    # pragma: no cover - old torch
        return None
    counter = FlopCounterMode(display=False)
    try:
        with counter:
            step_fwd_bwd()
    except RuntimeError:             # autograd.grad inside the counter (the autograd route): not supported
        return None
    return counter.get_total_flops() / 1e9


def step_costs(repeats: int, structures=("mlp", "onsagernet", "gfinn")) -> tuple[list[dict], list[dict]]:
    rows, references = [], []
    for structure in structures:
        shapes = matmul_shapes(structure)
        flops = gflop(shapes)
        reference_rate = {}
        for dtype in (torch.float64, torch.float32):
            ref = matmul_rate(shapes, dtype, repeats)
            square = matmul_rate([(256, 256, 256)] * 8, dtype, repeats)
            name = str(dtype).removeprefix("torch.")
            reference_rate[dtype] = ref["gflop_per_s"]
            references.append({"structure": structure, "dtype": name, "gflop_per_step": flops,
                               "matmul_ms": ref["ms"], "matmul_gflop_per_s": ref["gflop_per_s"],
                               "square_256_gflop_per_s": square["gflop_per_s"]})
            print(f"{structure:10s} {name:8s} its {len(shapes)} products alone: {ref['ms']:6.2f} ms = "
                  f"{ref['gflop_per_s']:5.1f} GFLOP/s for {flops:.3f} GFLOP; 256³ products {square['gflop_per_s']:5.1f} "
                  f"GFLOP/s", flush=True)
        reference = None
        for gradient, dtype, compile in ROUTES:
            t_setup = time.perf_counter()
            step, first, fwd_bwd = route_step(structure, gradient, dtype, compile)
            setup = time.perf_counter() - t_setup
            if structure == "mlp":
                gradient = "n/a (plain MLP)"       # no input gradient: both float64 rows are one route
            reference = first if reference is None else reference
            tol = 1e-12 if dtype == torch.float64 else 1e-4
            if abs(first - reference) > tol * abs(reference):
                raise AssertionError(f"{structure} {gradient} {dtype}: loss {first} != reference {reference}")
            seconds = time_min(step, repeats, warmup=3)
            cpu = cpu_time_min(step, repeats)
            cpu_fwd_bwd = cpu_time_min(fwd_bwd, repeats)
            counted = None if compile else flopcounter_gflop(fwd_bwd)
            rate = flops / cpu
            if counted is not None and abs(counted / flops - 1) > 0.05:
                raise AssertionError(f"{structure}: counted {flops:.4f} GFLOP vs FlopCounterMode {counted:.4f}")
            rows.append({"structure": structure, "gradient": gradient, "dtype": str(dtype).removeprefix("torch."),
                         "compile": compile, "step_ms": 1e3 * seconds, "step_cpu_ms": 1e3 * cpu,
                         "step_wall_ms": 1e3 * seconds,
                         "fwd_bwd_cpu_ms": 1e3 * cpu_fwd_bwd,
                         "gflop_per_step": flops, "gflop_flopcounter": counted, "gflop_per_s": rate,
                         "matmul_gflop_per_s": reference_rate[dtype],
                         "fraction_of_matmul": rate / reference_rate[dtype],
                         "setup_s": setup})
            print(f"{structure:10s} {gradient:16s} {rows[-1]['dtype']:8s} compile={compile!s:5s} "
                  f"{1e3 * cpu:7.2f} ms/step CPU (wall {1e3 * seconds:7.2f} ms) {rate:5.1f} GFLOP/s = "
                  f"{100 * rows[-1]['fraction_of_matmul']:3.0f} % of its products' rate", flush=True)
        base = rows[-len(ROUTES)]["step_cpu_ms"]
        for r in rows[-len(ROUTES):]:
            r["speedup_vs_current"] = base / r["step_cpu_ms"]
    return rows, references


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


def optimizer_costs(repeats: int, structures) -> list[dict]:
    """CPU time of the AdamW (amsgrad) step alone, as ``support.train`` runs it (PyTorch's default on
    CPU, a loop over the parameters) and, for comparison, with ``foreach=True`` and ``fused=True``;
    ``max_abs_diff`` is the largest parameter difference from the default after 5 steps."""
    rows = []
    for structure in structures:
        for dtype in (torch.float64, torch.float32):
            finals, times = {}, {}
            for mode, kwargs in (("default", {}), ("foreach", {"foreach": True}), ("fused", {"fused": True})):
                model = build_latent_model(structure, D, seed=1, **PAPER_WIDTHS[structure]).to(dtype)
                params = list(model.parameters())
                gen = torch.Generator().manual_seed(0)
                grads = [[torch.randn(p.shape, generator=gen, dtype=dtype) for p in params] for _ in range(5)]
                try:
                    opt = torch.optim.AdamW(params, lr=1e-3, amsgrad=True, **kwargs)
                except (RuntimeError, TypeError, ValueError):
                    continue
                count = iter(range(10 ** 9))

                def one():
                    for p, g in zip(params, grads[next(count) % 5]):
                        p.grad = g
                    opt.step()
                for _ in range(5):
                    one()
                finals[mode] = torch.cat([p.detach().flatten() for p in params])
                times[mode] = cpu_time_min(one, 3 * repeats, warmup=0)
            for mode, seconds in times.items():
                rows.append({"structure": structure, "dtype": str(dtype).removeprefix("torch."), "mode": mode,
                             "params": sum(p.numel() for p in params), "cpu_ms": 1e3 * seconds,
                             "max_abs_diff": (finals[mode] - finals["default"]).abs().max().item()})
            print(f"{structure:10s} {rows[-1]['dtype']:8s} AdamW step alone: "
                  + ", ".join(f"{m} {1e3 * t:.2f} ms" for m, t in times.items()), flush=True)
    return rows


def before_rows(src: str, repeats: int, structures) -> dict:
    """The step section run by this script in a subprocess that imports ``support`` from ``src``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "before.json"
        env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
        subprocess.run([sys.executable, __file__, "--steps-only", "--repeats", str(repeats), "--out", str(out),
                        "--structures", *structures], env=env, check=True)
        return json.loads(out.read_text())["results"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--job-steps", type=int, default=400)
    ap.add_argument("--steps-only", action="store_true", help="part 1 only (no workers, no oracle)")
    ap.add_argument("--structures", nargs="+", default=["mlp", "onsagernet", "gfinn"])
    ap.add_argument("--before", default="", help="a directory holding an older support/ to measure first")
    ap.add_argument("--before-label", default="", help="what --before holds (e.g. 'HEAD eae5bb6')")
    ap.add_argument("--out", default=None, help="JSON output ('' to skip; default "
                    "results/benchmarks/bench_latent_training.json, none with --steps-only)")
    args = ap.parse_args(argv)
    out = args.out if args.out is not None else ("" if args.steps_only else str(benchmark_path("bench_latent_training")))
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    results = {}
    if args.before:
        print(f"--- before: support/ from {args.before} ({args.before_label}) ---", flush=True)
        results["before"] = {"label": args.before_label, **before_rows(args.before, args.repeats, args.structures)}
        print("--- this tree ---", flush=True)
    rows, references = step_costs(args.repeats, tuple(args.structures))
    results.update({"step_costs": rows, "matmul_reference": references,
                    "optimizer": optimizer_costs(args.repeats, tuple(args.structures))})
    if args.before:
        old = {(r["structure"], r["gradient"], r["dtype"], r["compile"]): r for r in results["before"]["step_costs"]}
        for r in rows:
            prev = old.get((r["structure"], r["gradient"], r["dtype"], r["compile"]))
            if prev is not None:
                r["speedup_vs_before"] = prev["step_cpu_ms"] / r["step_cpu_ms"]
    if not args.steps_only:
        results.update({"workers": worker_throughput(args.jobs, args.job_steps), "oracle": oracle_batching(args.repeats)})
    if out:
        path = save_benchmark("bench_latent_training", results, threads=1, wall_time_s=time.perf_counter() - t0,
                              options={"repeats": args.repeats, "jobs": args.jobs, "job_steps": args.job_steps,
                                       "d": D, "batch": BATCH, "rows": ROWS, "steps_only": args.steps_only,
                                       "structures": args.structures, "before": args.before_label or None},
                              out=out)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
