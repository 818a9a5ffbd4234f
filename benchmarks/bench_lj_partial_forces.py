r"""Benchmark: is the LJ partial force oracle really cheaper than computing all forces?

For N_atoms ∈ {800, 6400, 51200} (cubic box, ρ = 0.8, r_c = 2.5, reduced units, float64) and a
random subset of p·N atoms (p = 1/16 by default) we time

* LAMMPS ``run 0`` on all atoms (neighbour build + forces: what the official code paid per
  configuration before discarding 15/16 of the rows);
* each partial back-end (``numba`` compiled cell list, ``torch`` vectorised cell list, ``ase``
  generic cluster with ASE's ``LennardJones``) against the same back-end computing all forces
  (``numba``: Newton-3 pair loop; ``torch``: every atom's stencil; ``ase``: ASE on the periodic box).

Every time is the minimum over repeats taken in this one run (fewer repeats for calls that take
seconds: the table says how many). The public API is timed, so input checks, wrapping and the
O(N) cell binning are included.

Expected limit of the ratio partial / all. A full computation visits each pair once (Newton's
third law), while forces on a random subset need every pair of each chosen atom, whose partners
are mostly unchosen: the pair work is p·N·n_nb versus N·n_nb/2, so the ratio tends to ≈ 2p
(1/8 for p = 1/16), plus the O(N) binning pass — and it is p only against an engine that
does not use Newton's third law (like the torch path's own "all"). The ASE generic back-end runs
the calculator on the chosen atoms plus their r_c shells; at p = 1/16 the shells of a random subset
already cover most of the box, so it saves nothing for random subsets (it pays off for a few atoms
or for spatially contiguous subsets).

Positions are uniform random (no relaxation, so large sizes start instantly): the pair count
inside r_c, which sets the cost, depends only on the density.

Besides the printed table, the rows are written as JSON to
``results/benchmarks/bench_lj_partial_forces.json`` (``--out`` to write elsewhere, ``--out ''`` not
at all), with the machine, thread count, date, code version and options (times in seconds; a
missing time is ``null``).

Usage::

    python benchmarks/bench_lj_partial_forces.py                      # 800, 6400, 51200
    python benchmarks/bench_lj_partial_forces.py --sizes 800 6400 --repeats 7
    python benchmarks/bench_lj_partial_forces.py --ase-max-atoms 6400 --device cuda
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from support.results import benchmark_path, save_benchmark
from support.systems.lennard_jones import PAPER, all_forces, lammps_available, partial_forces
from support.systems.lennard_jones.lammps_engine import _lammps_class, _setup_commands


def time_min(fn: Callable[[], object], repeats: int, budget_s: float, sync: Callable[[], None]) -> tuple[float, int]:
    """Minimum wall time of ``fn`` over up to ``repeats`` calls (stops early past ``budget_s``)."""
    best, done, spent = float("inf"), 0, 0.0
    while done < repeats and (done == 0 or spent < budget_s):
        t0 = time.perf_counter()
        fn()
        sync()
        dt = time.perf_counter() - t0
        best, done, spent = min(best, dt), done + 1, spent + dt
    return best, done


class LammpsRun0:
    """A LAMMPS instance holding the configuration; ``__call__`` runs ``run 0`` (all forces)."""

    def __init__(self, positions: np.ndarray, side: float) -> None:
        self.lmp = _lammps_class()(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
        self.lmp.commands_string(_setup_commands(np.full(3, side), 0.001, PAPER))
        n = len(positions)
        self.lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, positions.reshape(-1).tolist())

    def __call__(self) -> None:
        self.lmp.command("run 0 post no")

    def forces(self) -> np.ndarray:
        nlocal = self.lmp.extract_global("nlocal")
        order = np.argsort(self.lmp.numpy.extract_atom("id")[:nlocal])
        return np.array(self.lmp.numpy.extract_atom("f")[:nlocal][order])


def row_error(out: np.ndarray, ref: np.ndarray) -> float:
    """Largest per-atom relative deviation max_i |ΔF_i| / |F_i| from the numba full reference."""
    return float((np.linalg.norm(out - ref, axis=1) / np.linalg.norm(ref, axis=1)).max())


def bench_size(n: int, p: float, args: argparse.Namespace) -> list[dict]:
    side = PAPER.box_side(n)
    rng = np.random.default_rng(args.seed)
    pos = rng.uniform(0.0, side, size=(n, 3))
    idx = np.sort(rng.choice(n, max(1, round(p * n)), replace=False))
    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None)
    rows, reference = [], all_forces(pos, side, "numba")
    timer = lambda fn, slow=False: time_min(fn, 1 if slow else args.repeats, args.budget, sync)  # noqa: E731

    lammps_all = float("nan")
    if lammps_available():
        run0 = LammpsRun0(pos, side)
        lammps_all, reps = timer(run0)
        err = row_error(run0.forces(), reference)
        rows.append(dict(method="LAMMPS run 0", partial=float("nan"), all=lammps_all, reps=reps, err=err))

    backends = [("numba", pos), ("torch", torch.tensor(pos, device=device))]
    for name, x in backends:
        partial_forces(x, side, idx, name), all_forces(x, side, name)  # warm-up (JIT, caches)
        t_part, reps = timer(lambda: partial_forces(x, side, idx, name))
        t_all, _ = timer(lambda: all_forces(x, side, name))
        out = partial_forces(x, side, idx, name)
        out = out.cpu().numpy() if torch.is_tensor(out) else out
        err = row_error(out, reference[idx])
        label = f"{name} ({device.type})" if name == "torch" else name
        rows.append(dict(method=label, partial=t_part, all=t_all, reps=reps, err=err))

    if n <= args.ase_max_atoms:
        t_part, reps = timer(lambda: partial_forces(pos, side, idx, "ase"), slow=n > 10000)
        t_all, _ = timer(lambda: all_forces(pos, side, "ase"), slow=n > 10000)
        err = row_error(partial_forces(pos, side, idx, "ase"), reference[idx])
        rows.append(dict(method="ase generic (LennardJones)", partial=t_part, all=t_all, reps=reps, err=err))
    else:
        rows.append(dict(method="ase generic: SKIPPED (--ase-max-atoms)", partial=float("nan"),
                         all=float("nan"), reps=0, err=float("nan")))
    for r in rows:
        r.update(n=n, m=len(idx), lammps_all=lammps_all)
    return rows


def print_table(rows: list[dict], p: float) -> None:
    ms = lambda t: f"{'—':>10}" if np.isnan(t) else f"{1e3 * t:10.2f}"  # noqa: E731
    ratio = lambda a, b: "—" if np.isnan(a) or np.isnan(b) else f"{a / b:6.3f}"  # noqa: E731
    head = (f"{'N atoms':>8} {'m':>5}  {'method':<40} {'partial ms':>10} {'all ms':>10} "
            f"{'part/LAMMPS-all':>15} {'part/own-all':>12} {'reps':>4} {'max |dF_i|/|F_i|':>16}")
    print(head)
    print("-" * len(head))
    for r in rows:
        err = "—" if np.isnan(r["err"]) else f"{r['err']:.1e}"
        print(f"{r['n']:>8} {r['m']:>5}  {r['method']:<40} {ms(r['partial'])} {ms(r['all'])} "
              f"{ratio(r['partial'], r['lammps_all']):>15} {ratio(r['partial'], r['all']):>12} "
              f"{r['reps']:>4} {err:>16}")
    print(f"\nphysical limit of part/all: p = {p:.4f} (no Newton 3 in 'all'), ≈ 2p = {2 * p:.4f} "
          "against a Newton-3 full computation (LAMMPS, numba all).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[800, 6400, 51200])
    parser.add_argument("--p", type=float, default=1 / 16, help="fraction of atoms (default 1/16)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=float, default=20.0, help="max seconds of repeats per timing")
    parser.add_argument("--ase-max-atoms", type=int, default=51200,
                        help="skip the ASE back-end above this size (it takes ~10 s per call at 51,200)")
    parser.add_argument("--device", default="cpu", help="device of the torch back-end")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: like numba and LAMMPS here, and robust on a "
                             "shared machine, where spinning OpenMP threads inflate small calls)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(benchmark_path("bench_lj_partial_forces")),
                        help="JSON file for the results (default: %(default)s; '' to skip)")
    args = parser.parse_args(argv)
    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    print(f"LJ partial forces, p = {args.p:.4f}, float64, torch {torch.__version__} "
          f"({args.threads} threads, device {args.device}), numba single-threaded, LAMMPS 1 process, "
          f"{os.cpu_count()} CPUs; min of up to {args.repeats} repeats\n")
    rows = []
    for n in args.sizes:
        t0 = time.perf_counter()
        rows += bench_size(n, args.p, args)
        print(f"  [{n} atoms done in {time.perf_counter() - t0:.1f} s]", file=sys.stderr)
    print()
    print_table(rows, args.p)
    if args.out:
        options = {k: getattr(args, k) for k in ("sizes", "p", "repeats", "budget", "ase_max_atoms",
                                                  "device", "threads", "seed")}
        keys = {"n_atoms": "n", "m": "m", "method": "method", "partial_s": "partial", "all_s": "all",
                "lammps_all_s": "lammps_all", "repeats": "reps", "max_rel_row_error": "err"}
        results = {"rows": [{k: r[v] for k, v in keys.items()} for r in rows],
                   "lammps": lammps_available(), "limit_no_newton3": args.p,
                   "limit_newton3": 2 * args.p}
        path = save_benchmark("bench_lj_partial_forces", results, options=options,
                              device=args.device, threads=args.threads,
                              wall_time_s=time.perf_counter() - t_start, out=args.out)
        print(f"\nresults written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
