r"""Benchmark: cost of the exact continuous-time Glauber samplers (``support.systems.spins``).

Measured (after compilation, minimum over repeats of the public API, so input checks and copies
are included):

* Ising, n-fold way: one sweep (N = L² events) of one ``L × L`` periodic lattice, L = 64, 256
  (T = 2.5, h = 0.1, from an equilibrated state);
* Ising partial evolution: ``B`` frozen-halo ``ℓ × ℓ`` windows of 64² lattices, ``ℓ²`` events
  each (one patch sweep), ℓ = 8, 16, 32 (the batched entry point the chapters call);
* Curie–Weiss: one sweep of one ``L × L`` lattice (per-site sampler) and of the count-only chain
  (T = 1.1, h = 0.1), and ``B`` windows ℓ = 16 of 64² lattices.

Per-event cost is O(1) in the lattice size for both samplers; larger lattices pay cache misses.
Batches run on numba's threads when they hold ≥ ``PARALLEL_MIN_EVENTS`` events (results are
identical either way); ``--threads`` sets numba's thread count.

Usage::

    python benchmarks/bench_glauber.py                 # writes results/benchmarks/glauber.json
    python benchmarks/bench_glauber.py --repeats 20 --threads 1 --out ''
"""

from __future__ import annotations

import argparse
import os
import time

import numba
import numpy as np

from support.results import benchmark_path, save_benchmark
from support.systems.spins import curie_weiss as cw
from support.systems.spins import ising
from timing import time_min


def equilibrated(L: int, T: float, h: float, sweeps: int = 20) -> np.ndarray:
    x = np.where(np.random.default_rng(0).random((L, L)) < 0.5, 1, -1).astype(np.int8)
    return ising.run_events(x, sweeps * L * L, T, h, seed=1)[0]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--patches", type=int, default=2000, help="windows per batched call")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=numba.get_num_threads())
    ap.add_argument("--out", default=str(benchmark_path("glauber")),
                    help="JSON file for the results (default: %(default)s; '' to skip)")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    numba.set_num_threads(args.threads)
    T, h, T_cw, h_cw = 2.5, 0.1, 1.1, 0.1
    rows: list[dict] = []

    def add(kind: str, size: str, events: int, seconds: float, note: str = "") -> None:
        rows.append({"kind": kind, "size": size, "events": events, "seconds": seconds,
                     "ns_per_event": 1e9 * seconds / events, "note": note})

    for L in args.sizes:
        x = equilibrated(L, T, h)
        n = L * L
        add("ising_sweep", f"{L}x{L}", n, time_min(lambda: ising.run_events(x, n, T, h, seed=2),
                                                   args.repeats), "one lattice, N events")
        c = np.where(np.random.default_rng(3).random((L, L)) < 0.75, 1, -1).astype(np.int8)
        add("cw_sweep", f"{L}x{L}", n, time_min(lambda: cw.run_events(c, n, T_cw, h_cw, seed=2),
                                                args.repeats), "per-site sampler, N events")
        S = int(c.astype(int).sum())
        add("cw_counts_sweep", f"{L}x{L}", n,
            time_min(lambda: cw.run_counts(S, n, n, T_cw, h_cw, seed=2), args.repeats),
            "count-only chain, N events")

    B = args.patches
    lats = np.stack([equilibrated(64, T, h, 5) for _ in range(4)])
    rng = np.random.default_rng(4)
    which = rng.integers(0, 4, B)
    for ell in (8, 16, 32):
        origins = rng.integers(0, 64 // ell, (B, 2)) * ell
        for boundary in ("frozen", "periodic"):
            sec = time_min(lambda: ising.evolve_patches(lats, origins, ell, ell * ell, T, h, seed=5,
                                                        boundary=boundary, lattice_index=which),
                           max(args.repeats // 3, 2))
            add(f"ising_patches_{boundary}", f"{B} x {ell}x{ell} of 64x64", B * ell * ell, sec,
                f"{1e6 * sec / B:.1f} us per window sweep")
    cws = np.where(rng.random((4, 64, 64)) < 0.75, 1, -1).astype(np.int8)
    origins = rng.integers(0, 4, (B, 2)) * 16
    sec = time_min(lambda: cw.evolve_patches(cws, origins, 16, 256, T_cw, h_cw, seed=5,
                                             lattice_index=which), max(args.repeats // 3, 2))
    add("cw_patches_global", f"{B} x 16x16 of 64x64", B * 256, sec,
        f"{1e6 * sec / B:.1f} us per window sweep")

    print(f"numba threads: {numba.get_num_threads()}, cpus: {os.cpu_count()}, "
          f"load average: {os.getloadavg()[0]:.2f}")
    print(f"{'kind':26s} {'size':24s} {'events':>9s} {'time':>10s} {'ns/event':>9s}  note")
    for r in rows:
        print(f"{r['kind']:26s} {r['size']:24s} {r['events']:9d} {1e3 * r['seconds']:8.3f}ms "
              f"{r['ns_per_event']:9.1f}  {r['note']}")
    if args.out:
        path = save_benchmark("glauber", {"rows": rows, "numba_threads": numba.get_num_threads(),
                                          "numba": numba.__version__,
                                          "load_average_1min": os.getloadavg()[0]},
                              options={k: v for k, v in vars(args).items() if k != "out"},
                              wall_time_s=time.perf_counter() - t_start,
                              out=args.out)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
