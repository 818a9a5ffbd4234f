"""Peak memory and wall time of every quick chapter, each run alone through nbval.

A Binder pod has about 2 GB and one small CPU; the book promises every quick chapter fits in
1.5 GiB and runs in about 5 minutes. This script measures both, one chapter at a time::

    python benchmarks/chapter_footprint.py                      # every chapter of book/
    python benchmarks/chapter_footprint.py lj_encoders ising    # some of them
    python benchmarks/chapter_footprint.py --out results/benchmarks/chapter_footprint.json

For each chapter it starts ``pytest book/NAME.md`` (the README's test command on that one file: the
chapter executes in a Jupyter kernel, and its hidden claim checks run) and samples, every
``--interval`` seconds, the resident memory (RSS) of that process and of all its descendants — the
kernel and the kernel's worker processes — summed. The peak of that sum is what a pod running the
chapter must hold. The wall time includes starting the kernel. Sampling can miss a spike shorter
than the interval; the RSS sum counts pages shared between processes more than once (an upper bound).

Numbers depend on what else runs on the machine: report them with the load beside them (the JSON
records the load average before and after each chapter).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024 ** 3


def is_notebook(path: Path) -> bool:
    """A Jupytext chapter (the pages nbval runs), not a plain page such as the references."""
    return path.read_text(encoding="utf-8").startswith("---\njupytext:")


def tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of ``proc`` and every descendant (processes that vanish meanwhile count 0)."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def measure(chapter: str, interval: float = 0.5) -> dict:
    """Run ``pytest book/<chapter>.md`` and return its peak tree RSS (GiB), wall time (s) and outcome."""
    path = ROOT / "book" / f"{chapter}.md"
    if not path.exists():
        raise SystemExit(f"no chapter {path.relative_to(ROOT)}")
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = psutil.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
                        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc))
        time.sleep(interval)
    out = proc.stdout.read()
    last = [line for line in out.strip().splitlines() if line.strip()][-1:] or [""]
    return {"chapter": chapter, "peak_gib": round(peak / GIB, 3), "wall_s": round(time.perf_counter() - t0, 1),
            "passed": proc.returncode == 0, "pytest": last[0], "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapters", nargs="*", help="chapter names (default: every book/*.md)")
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between memory samples")
    ap.add_argument("--out", type=Path, help="write the rows as JSON here")
    args = ap.parse_args(argv)
    chapters = args.chapters or sorted(p.stem for p in (ROOT / "book").glob("*.md") if is_notebook(p))
    rows = []
    for name in chapters:
        row = measure(name, args.interval)
        rows.append(row)
        print(f"{name:26s} peak {row['peak_gib']:5.2f} GiB   {row['wall_s']:7.1f} s   "
              f"{'passed' if row['passed'] else 'FAILED'}   load {row['load_before']:.1f}→{row['load_after']:.1f}",
              flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"machine": f"{os.cpu_count()} cores", "interval_s": args.interval,
                                        "rows": rows}, indent=1) + "\n")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
