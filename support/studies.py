r"""Data-efficiency studies: train latent models with L_z, L_x or L_x,p at a fixed force budget.

A *method* is a loss plus a fraction p. At a budget of F force computations it sees
n = F / m configurations, with m = round(p · n_units) units bought per configuration (m = n_units for
L_z and L_x). Configurations are drawn uniformly at random, without replacement, from a pool of
training snapshots (the official code took the first n snapshots in trajectory order, coupling n to
the number of distinct trajectories). Every run holds the optimisation budget fixed (same number
of gradient steps and the same step-based schedule for every method and budget), counts the forces
it buys, and is evaluated against ground-truth test trajectories.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .budget import ForceBudget
from .closure import ClosureAutoencoder, evenly_spaced
from .metrics import budget_to_tolerance, mean_std, relative_trajectory_error
from .normalise import LatentNormaliser, NormalisedLatentModel
from .pipeline import (FullObservations, PartialObservations, observe_full, observe_partial,
                       rollout_observables, train_latent)
from .subsets import subset_size
from .systems.base import DeterministicSystem, Trajectories
from .train import TrainConfig, torch_threads
from .validation import check_choice, check_fraction


@dataclass(frozen=True)
class Method:
    """A loss (``"lz"`` or ``"lx"``) and the fraction p of units observed per configuration."""

    loss: str
    p: float = 1.0

    def __post_init__(self) -> None:
        check_choice("loss", self.loss, ["lz", "lx"])
        check_fraction(self.p)
        if self.loss == "lz" and self.p != 1.0:
            raise ValueError("L_z needs all forces: p must be 1")

    @property
    def label(self) -> str:
        if self.loss == "lz":
            return "L_z"
        if self.p == 1.0:
            return "L_x"
        inverse = 1 / self.p
        if abs(inverse - round(inverse)) < 1e-9 * inverse:          # p = 1/k: exact, however large k is
            return f"L_x,p (p=1/{round(inverse)})"
        return f"L_x,p (p={Fraction(self.p).limit_denominator(64)})"


def standard_methods(ps: Sequence[float]) -> list[Method]:
    """L_z, L_x, then L_x,p for each p < 1 in ``ps``."""
    return [Method("lz"), Method("lx")] + [Method("lx", p) for p in ps if p < 1]


@dataclass
class RunRecord:
    """One trained latent model: what it cost and how well it predicts."""

    method: str
    p: float
    budget: int
    seed: int
    n_configs: int
    forces_charged: int
    force_seconds: float
    test_error: float
    test_errors: list[float]
    train_loss: list[float] = field(default_factory=list)
    evals: list = field(default_factory=list)
    train_seconds: float = 0.0


#: how a force budget picks its configurations from the pool (see :func:`select_configurations`)
SELECTIONS = ("uniform", "ordered")


def select_configurations(pool: torch.Tensor, n: int, gen: torch.Generator,
                          selection: str = "uniform") -> torch.Tensor:
    """``n`` distinct snapshots of ``pool [n_pool, N]``.

    ``"uniform"``: drawn uniformly without replacement (the book's default: every method sees
    configurations from every training run, so only the information per force differs).
    ``"ordered"``: the first ``n`` snapshots of the trajectory-major pool, i.e. whole training runs in
    order — paper 1's protocol, under which a loss that buys fewer configurations also sees fewer
    initial conditions.
    """
    check_choice("selection", selection, list(SELECTIONS))
    if n < 1:
        raise ValueError("the budget buys less than one configuration")
    if n > pool.shape[0]:
        raise ValueError(f"budget needs {n} configurations but the pool holds {pool.shape[0]}: "
                         "simulate more training trajectories")
    if selection == "ordered":
        return pool[:n]
    return pool[torch.randperm(pool.shape[0], generator=gen)[:n]]


def configurations_for_budget(system: DeterministicSystem, method: Method, budget: int) -> int:
    """n = budget / m with m units bought per configuration."""
    return int(budget // subset_size(system.n_units, method.p))


def encoded_trajectories(ae: ClosureAutoencoder, traj: Trajectories) -> torch.Tensor:
    """φ applied to every frame: ``[n_traj, T, d]``."""
    return torch.stack([ae.encode_np(t) for t in traj.x.unbind(0)])


def evaluate(G: nn.Module, ae: ClosureAutoencoder, test: Trajectories, substeps: int = 1) -> np.ndarray:
    """Paper 1's relative error on the observables, one value per test trajectory."""
    pred, true = rollout_observables(G, ae, test, substeps)
    return relative_trajectory_error(pred, true).detach().cpu().numpy()


@dataclass
class Purchase:
    """The observations one method bought at one budget, and what they cost."""

    observations: FullObservations | PartialObservations
    n_configs: int
    forces_charged: int
    force_seconds: float


def buy_observations(system: DeterministicSystem, ae: ClosureAutoencoder, pool: torch.Tensor, method: Method,
                     budget: int, seed: int, chunk: int = 256, selection: str = "uniform") -> Purchase:
    """Draw the configurations ``budget`` affords for ``method`` from ``pool`` (seeded by ``seed``) and
    buy their forces through the counted oracle: all units (L_z) or a fraction p (L_x,p).

    ``chunk`` bounds how many configurations are observed at once (memory: a ``[chunk, d, N]``
    Jacobian; lower it for very large N); ``selection`` see :func:`select_configurations`.
    """
    gen = torch.Generator().manual_seed(seed)
    x = select_configurations(pool, configurations_for_budget(system, method, budget), gen, selection)
    spent = ForceBudget(limit=budget)
    if method.loss == "lz":
        obs = observe_full(system, ae, x, spent, chunk=chunk)
    else:
        obs = observe_partial(system, ae, x, method.p, spent, gen, chunk=chunk)
    return Purchase(obs, len(x), spent.total, spent.seconds.get("force", 0.0))


def train_one(system: DeterministicSystem, ae: ClosureAutoencoder, norm: LatentNormaliser,
              pool: torch.Tensor, test: Trajectories, method: Method, budget: int, seed: int,
              model_factory: Callable[[int], nn.Module], cfg: TrainConfig,
              monitor: Trajectories | None = None, chunk: int = 256,
              selection: str = "uniform") -> tuple[RunRecord, nn.Module]:
    """Buy observations for ``method`` at ``budget`` forces (:func:`buy_observations`), train G,
    evaluate on ``test``."""
    bought = buy_observations(system, ae, pool, method, budget, seed, chunk, selection)
    obs = bought.observations
    G = NormalisedLatentModel(model_factory(seed), norm).to(device=obs.z.device, dtype=obs.z.dtype)
    mon = (lambda model: {"test_error": float(evaluate(model, ae, monitor).mean())}) if monitor else None
    hist = train_latent(G, obs, replace(cfg, seed=seed, desc=f"{method.label} F={budget:.1e} s{seed}"),
                        evaluate=mon)
    with torch_threads(cfg.threads):
        errs = evaluate(G, ae, test)
    rec = record_of(method, budget, seed, bought, errs, hist)
    return rec, G


def record_of(method: Method, budget: int, seed: int, bought: Purchase, errors: np.ndarray,
              hist) -> RunRecord:
    """The :class:`RunRecord` of one trained model (test errors on its first test set)."""
    return RunRecord(method=method.label, p=method.p, budget=int(budget), seed=seed, n_configs=bought.n_configs,
                     forces_charged=bought.forces_charged, force_seconds=bought.force_seconds,
                     test_error=float(np.mean(errors)), test_errors=np.asarray(errors).tolist(),
                     train_loss=list(hist.loss), evals=list(hist.evals), train_seconds=hist.seconds)


def _run_job(state: dict, job: tuple[Method, int, int]) -> RunRecord:
    """One run of a sweep: ``state`` is what every run shares (system, autoencoder, pools…)."""
    m, b, s = job
    rec, _ = train_one(state["system"], state["ae"], state["norm"], state["pool"], state["test"], m, b, s,
                       state["model_factory"], state["cfg"], selection=state["selection"])
    return rec


def budget_sweep(system: DeterministicSystem, ae: ClosureAutoencoder, norm: LatentNormaliser,
                 pool: torch.Tensor, test: Trajectories, methods: Sequence[Method],
                 budgets: Sequence[int], seeds: Sequence[int], model_factory: Callable[[int], nn.Module],
                 cfg: TrainConfig, progress: bool = True, workers: int = 1,
                 selection: str = "uniform", scheduler: str | None = None) -> list[RunRecord]:
    """Every method × budget × seed; returns the run records (models are discarded), in that order.

    ``workers > 1`` runs jobs in that many single-threaded processes, and a Dask scheduler
    (``scheduler``, default ``--scheduler`` / ``$MACRODYN_SCHEDULER``) on its cluster's workers
    (:func:`support.executor.open_pool`; spawned, so ``model_factory`` must be picklable, e.g. a
    ``functools.partial``). Tiny latent models train fastest this way on a many-core machine; every
    run is seeded, so the records do not depend on where they ran. ``selection``: how each budget
    picks its configurations (:func:`select_configurations`).
    """
    from concurrent.futures import as_completed

    from . import executor

    check_choice("selection", selection, list(SELECTIONS))
    jobs = [(m, b, s) for m in methods for b in budgets for s in seeds]
    cfg = replace(cfg, progress=False)
    state = dict(system=system, ae=ae, norm=norm, pool=pool, test=test, model_factory=model_factory,
                 cfg=cfg, selection=selection)
    bar = tqdm(total=len(jobs), desc="budget sweep", disable=not progress)
    if scheduler is None and not executor.parallel(workers):
        records = []
        for job in jobs:
            records.append(_run_job(state, job))
            bar.update(1)
    else:
        with executor.open_pool(workers, shared=state, scheduler=scheduler) as ex:
            futures = {ex.submit(_run_job, job): i for i, job in enumerate(jobs)}
            by_index = {}
            for fut in as_completed(futures):
                by_index[futures[fut]] = fut.result()
                bar.update(1)
            records = [by_index[i] for i in range(len(jobs))]
    bar.close()
    return records


def summarise(records: Sequence[RunRecord], tol: float) -> dict[str, dict]:
    """Per method: budgets, mean ± std of the test error over seeds, budget to reach ``tol``."""
    out: dict[str, dict] = {}
    for label in dict.fromkeys(r.method for r in records):
        rs = [r for r in records if r.method == label]
        budgets = sorted({r.budget for r in rs})
        stats = [mean_std([r.test_error for r in rs if r.budget == b]) for b in budgets]
        means = [m for m, _ in stats]
        out[label] = {"p": rs[0].p, "budgets": budgets, "mean": means, "std": [s for _, s in stats],
                      "n_configs": [next(r.n_configs for r in rs if r.budget == b) for b in budgets],
                      "per_seed": {str(b): [r.test_error for r in rs if r.budget == b] for b in budgets},
                      "budget_to_tol": budget_to_tolerance(budgets, means, tol), "tol": tol}
    return out


def records_as_dicts(records: Sequence[RunRecord], max_curve_points: int = 200) -> list[dict]:
    """Run records as JSON-able dicts, each training-loss curve thinned to at most
    ``max_curve_points`` evenly spaced steps (first and last kept): saved sweeps stay small."""
    out = []
    for r in records:
        row = asdict(r)
        row["train_loss"] = thin_curve(row["train_loss"], max_curve_points)
        out.append(row)
    return out


def thin_curve(values: Sequence[float], max_points: int) -> list[float]:
    """At most ``max_points`` evenly spaced entries of ``values`` (first and last included)."""
    if max_points < 2:
        raise ValueError(f"max_points must be >= 2, got {max_points}")
    if len(values) <= max_points:
        return list(values)
    return [values[i] for i in evenly_spaced(len(values), max_points).tolist()]
