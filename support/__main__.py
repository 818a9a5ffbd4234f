"""Headless entry point.

    python -m support list
    python -m support run NAME [--scale quick|paper] [--seed S] [--out DIR] [--no-progress]
                               [--set FIELD=JSON ...]

``--set`` changes one field of the scale's config (``--set ensemble=5 --set 'structures=["mlp"]'
--set ae.steps=2000``); the result records the changes and its tables name them.

``run`` executes one chapter's experiment without Jupyter, writes ``DIR/results.json`` and the
figures, and prints the measured-vs-paper table.
"""

from __future__ import annotations

import argparse
import os
import sys

from .scale import ENV_VAR, SCALES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m support", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the experiments")
    run = sub.add_parser("run", help="run one experiment")
    run.add_argument("name")
    run.add_argument("--scale", choices=SCALES, default=None,
                     help=f"default: ${ENV_VAR} or quick")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", default=None, help="directory for results.json and figures")
    run.add_argument("--no-progress", action="store_true")
    run.add_argument("--set", action="append", default=[], metavar="FIELD=JSON",
                     help="override one config field (repeatable; dotted names for nested configs)")
    args = parser.parse_args(argv)

    from .experiments import EXPERIMENTS, run_experiment
    if args.command == "list":
        width = max(map(len, EXPERIMENTS))
        for name, (_, desc) in EXPERIMENTS.items():
            print(f"{name.ljust(width)}  {desc}")
        return 0
    if args.name not in EXPERIMENTS:
        print(f"unknown experiment {args.name!r}; `python -m support list` shows the choices",
              file=sys.stderr)
        return 2
    if args.scale:
        os.environ[ENV_VAR] = args.scale
    import matplotlib
    matplotlib.use("Agg")
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"--set needs FIELD=VALUE, got {item!r}", file=sys.stderr)
            return 2
        overrides[key.strip()] = value
    result = run_experiment(args.name, scale=args.scale, seed=args.seed, out=args.out,
                            progress=not args.no_progress, overrides=overrides)
    print(result.table_text())
    if args.out:
        print(f"wrote {os.path.join(args.out, 'results.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
