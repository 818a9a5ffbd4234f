"""Headless entry point.

    python -m support list
    python -m support scorecard                 # every claim on the saved paper-scale runs
    python -m support run NAME [--scale quick|paper] [--seed S] [--out DIR] [--no-progress]
                               [--set FIELD=JSON ...] [--workers N | --scheduler ADDRESS]
                               [--models DIR] [--records DIR]

``--set`` changes one field of the scale's config (``--set ensemble=5 --set 'structures=["mlp"]'
--set ae.steps=2000``); the result records the changes and its tables name them.

``--workers N`` trains N latent models at once in single-threaded processes and ``--models DIR``
saves every finished model in DIR as it completes, so rerunning the same command resumes an
interrupted study (experiments whose ``run`` accepts them: ``--workers`` the Lennard-Jones studies,
ising, curie_weiss and ising_criticality — predator–prey's sweep takes ``--set workers=N`` —;
``--models`` the Lennard-Jones studies). Neither
changes a result; keep DIR outside the repository (models are megabytes each). ``--records DIR``
keeps the store's records (JSON: each model's errors, predictions and costs) in DIR instead, e.g.
``results/stores/NAME`` to be committed: the study then continues from any clone (without
``--models`` no weights are kept; the autoencoder is trained again and checked against the records)
and the result is assembled from the records alone (lj_structures, lj_scaling).

``--scheduler ADDRESS`` (or ``$MACRODYN_SCHEDULER``) sends the jobs of a parallel study (latent
models of the LJ studies, the runs of a predator–prey sweep, paper 2's patch sides and critical
temperatures) to the workers of a Dask ``distributed``
cluster instead of local processes (:mod:`support.executor`); jobs are seeded, so the result does not
change. An address no scheduler answers is an error before any work.

``run`` executes one chapter's experiment without Jupyter, writes ``DIR/results.json`` and the
figures, and prints the measured-vs-paper table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from .scale import ENV_VAR, SCALES


def _check_writable(out: str, flag: str = "--out") -> None:
    """Fail now, not after hours of computing, if ``out`` cannot receive the results."""
    path = Path(out)
    probe_dir = path
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise ValueError(f"{flag} {out}: {probe_dir} is not a directory")
    if not os.access(probe_dir, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {out}: cannot write in {probe_dir}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as err:
        raise ValueError(f"{flag} {out}: cannot write there ({err.strerror or err})") from None


def _execution_options(module, cfg, args) -> dict:
    """``workers`` / ``models`` for experiments whose ``run`` takes them; an error for the others.
    A scheduler (``--scheduler``, or ``$MACRODYN_SCHEDULER`` for a study with parallel jobs) must
    answer now, before any work."""
    import inspect

    from . import executor
    accepted = inspect.signature(module.run).parameters
    asked = {k: v for k, v in (("workers", args.workers), ("models", args.models), ("records", args.records))
             if v is not None}
    unsupported = [f"--{k}" for k in asked if k not in accepted]
    if "--workers" in unsupported and hasattr(cfg, "workers"):
        raise ValueError(f"{args.name} sets its processes with --set workers=N, not --workers")
    if unsupported:
        raise ValueError(f"{args.name} does not take {' '.join(unsupported)} (only the experiments "
                         "whose jobs run in parallel do"
                         + ("; --records: lj_structures and lj_scaling" if "--records" in unsupported else "")
                         + ")")
    if "workers" in asked and asked["workers"] < 1:
        raise ValueError(f"--workers must be >= 1, got {asked['workers']}")
    spreads = "workers" in accepted or hasattr(cfg, "workers")       # a study with parallel jobs
    if args.scheduler is not None and not spreads:
        raise ValueError(f"{args.name} does not take --scheduler (it runs no parallel jobs)")
    address = args.scheduler if args.scheduler is not None else executor.scheduler_address()
    if address is not None and spreads:
        if args.workers is not None:
            where = ("--scheduler" if args.scheduler is not None
                     else f"${executor.ENV_VAR} (unset it to train locally)")
            raise ValueError(f"--workers (local processes) and {where} (a Dask cluster) exclude each other")
        executor.connect(address)
    return asked


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (``error: …``, exit 2), like every
    other input check of this command, instead of the usage block followed by the message."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = _OneLineParser(prog="python -m support", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    sub.add_parser("list", help="list the experiments")
    sub.add_parser("scorecard", help="every claim of both papers on the saved paper-scale runs")
    run = sub.add_parser("run", help="run one experiment")
    run.add_argument("name")
    run.add_argument("--scale", choices=SCALES, default=None,
                     help=f"default: ${ENV_VAR} or quick")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", default=None, help="directory for results.json and figures")
    run.add_argument("--no-progress", action="store_true")
    run.add_argument("--set", action="append", default=[], metavar="FIELD=JSON",
                     help="override one config field (repeatable; dotted names for nested configs)")
    run.add_argument("--workers", type=int, default=None,
                     help="jobs run at once in single-threaded processes (latent models, patch sides, temperatures); results do not depend on it")
    run.add_argument("--models", default=None, metavar="DIR",
                     help="save each finished model in DIR and resume from it")
    run.add_argument("--records", default=None, metavar="DIR",
                     help="keep the model store's records (JSON) in DIR, apart from the weights "
                          "(e.g. under results/, committed: resume from any clone)")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="run the parallel jobs on this Dask scheduler's workers (e.g. tcp://host:8786; "
                          "default: $MACRODYN_SCHEDULER, else local processes)")
    args = parser.parse_args(argv)

    from .experiments import EXPERIMENTS, prepare
    if args.command == "list":
        width = max(map(len, EXPERIMENTS))
        for name, (_, desc) in EXPERIMENTS.items():
            print(f"{name.ljust(width)}  {desc}")
        return 0
    if args.command == "scorecard":
        from .scorecard import scorecard_counts, scorecard_rows, scorecard_table
        rows = scorecard_rows()
        print(scorecard_table(rows))
        print(", ".join(f"{n} {k}" for k, n in scorecard_counts(rows).items()))
        return 0 if all(r.ok for r in rows) else 1
    # Every check of the input happens before the experiment runs; each failure is one line.
    try:
        overrides = {}
        for item in args.set:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"--set needs FIELD=VALUE, got {item!r}")
            overrides[key.strip()] = value
        module, cfg = prepare(args.name, scale=args.scale, overrides=overrides)
        execution = _execution_options(module, cfg, args)
        if args.out:
            _check_writable(args.out)
        if args.models:
            _check_writable(args.models, "--models")
        if args.records:
            _check_writable(args.records, "--records")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    import matplotlib
    matplotlib.use("Agg")
    from .executor import using
    with using(args.scheduler):
        result = module.run(cfg, seed=args.seed, progress=not args.no_progress, **execution)
    print(result.table_text())
    if args.out:
        print(f"wrote {result.save(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
