r"""Train many latent models resumably, on several single-threaded processes.

A paper-scale study trains tens of latent models for tens of minutes each on a CPU: longer than one
sitting, and on one core when the machine has two. This module provides the two pieces an
experiment needs to make such a study resumable and parallel without changing what it computes:

* :class:`ModelStore` — a directory of finished models. Each model is saved, as it completes, as
  its weights (``<key>.pt``) and a JSON record (``<key>.json``, written last: its presence means
  "done"). The store remembers the identity of the study that made it (experiment, version,
  configuration, seed) and refuses to mix models of a different study. Its records may live apart
  from the weights (e.g. committed under ``results/``), so that a study continues from any clone.
* :func:`run_latent_jobs` — trains :class:`LatentJob` s (observation tensors + a picklable model
  factory + optimisation settings) in this process, in ``workers`` spawned single-threaded
  processes, or on a Dask cluster (:mod:`support.executor`: ``--scheduler`` / ``$MACRODYN_SCHEDULER``),
  and hands each trained model back to the caller in this process (which evaluates and stores it).
  Jobs are consumed lazily, at most one per worker at a time, so the observations of a long study
  are bought only when a worker is free for them. A model whose loss stops being finite
  can be handed to ``on_diverged`` instead of aborting the whole study (a diverged model is a
  result: the caller records it, and a resumed study does not train it again).

Every job is seeded, so the models do not depend on ``workers`` or on the cluster (tested).
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from .normalise import LatentNormaliser, NormalisedLatentModel
from .pipeline import latent_loss
from .train import TrainConfig, TrainHistory, fit


class ModelStore:
    """Finished models of one study: ``<key>.pt`` (weights) in ``root`` and ``<key>.json`` (record)
    in ``records`` (default: ``root`` too).

    ``identity`` (JSON-able) names the study; it is written to ``identity.json`` (in both
    directories) on first use, and a store made by a different identity raises ``ValueError``
    listing what differs. With ``records`` apart — e.g. under the repository's ``results/``, to be
    committed — a study continues from any clone: a record alone means "done", and ``root=None``
    keeps no weights at all (:meth:`has_weights` says whether a model's weights are here).

    ``shared`` names models (by key prefix) whose weights also travel with the records (``<key>.pt.gz`` beside
    ``<key>.json``, gzip-compressed, full precision) — a study's autoencoder, which every later model
    depends on: a clone that has the records then loads it instead of training it again, so a study
    continues on a machine whose retrained autoencoder would differ.
    """

    def __init__(self, root: str | Path | None, identity: dict, records: str | Path | None = None,
                 shared: Sequence[str] = ()) -> None:
        if root is None and records is None:
            raise ValueError("a model store needs a directory for its weights, its records, or both")
        self.root = None if root is None else Path(root)
        self.records = Path(records) if records is not None else self.root
        self.shared = tuple(self.check_key(k) for k in shared)
        ident = json.loads(json.dumps(identity, sort_keys=True, default=str))
        for folder in dict.fromkeys(d for d in (self.records, self.root) if d is not None):
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "identity.json"
            if path.exists():
                stored = json.loads(path.read_text())
                if stored != ident:
                    differ = sorted(k for k in set(stored) | set(ident) if stored.get(k) != ident.get(k))
                    raise ValueError(f"the model store {folder} belongs to another study (differs in "
                                     f"{', '.join(differ)}); use another directory or delete it")
            else:
                _atomic_write(path, json.dumps(ident, indent=1, sort_keys=True).encode())
        self.identity = ident

    @staticmethod
    def check_key(key: str) -> str:
        if not key or any(c in key for c in "/\\\0") or key.startswith(".") or key == "identity":
            raise ValueError(f"a model key must be a plain file name, got {key!r}")
        return key

    def has(self, key: str) -> bool:
        """Whether the model ``key`` finished (its record exists)."""
        return (self.records / f"{self.check_key(key)}.json").exists()

    def has_weights(self, key: str) -> bool:
        """Whether model ``key``'s weights are in this store (for a store of records only: only the
        ``shared`` models' weights kept beside their records)."""
        key = self.check_key(key)
        return (self.root is not None and (self.root / f"{key}.pt").exists()) or self._shared_path(key).exists()

    def _shared_path(self, key: str) -> Path:
        return self.records / f"{key}.pt.gz"

    def record(self, key: str) -> dict:
        """The JSON record saved with model ``key``."""
        return json.loads((self.records / f"{self.check_key(key)}.json").read_text())

    def load_into(self, key: str, model: nn.Module) -> nn.Module:
        """Load model ``key``'s weights into ``model`` (built by the same factory)."""
        if not self.has_weights(key):
            raise FileNotFoundError(f"model {key}: its weights are not in this store "
                                    f"({'records only' if self.root is None else self.root})")
        key = self.check_key(key)
        if self.root is not None and (self.root / f"{key}.pt").exists():
            state = torch.load(self.root / f"{key}.pt", map_location="cpu", weights_only=True)
        else:
            with gzip.open(self._shared_path(key), "rb") as f:
                state = torch.load(io.BytesIO(f.read()), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        return model

    def save_weights(self, key: str, model: nn.Module) -> None:
        """Model ``key``'s weights (written to a temporary file and renamed) in ``root``, and beside the
        records for a ``shared`` key; nothing else without ``root``."""
        key = self.check_key(key)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        if key.startswith(self.shared) and self.shared:
            buffer = io.BytesIO()
            torch.save(state, buffer)
            # mtime=0: the same weights give the same bytes (a committed file changes only with them)
            _atomic_write(self._shared_path(key), gzip.compress(buffer.getvalue(), mtime=0))
        if self.root is None:
            return
        tmp = self.root / f".{key}.pt.tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.root / f"{key}.pt")

    def save(self, key: str, record: dict, model: nn.Module) -> None:
        """Weights first (where kept), then the record (each written to a temporary file and
        renamed), so an interrupted save never looks finished."""
        self.save_weights(key, model)
        _atomic_write(self.records / f"{self.check_key(key)}.json", json.dumps(record, default=_jsonable).encode())

    def keys(self) -> list[str]:
        """Keys of the finished models."""
        return sorted(p.stem for p in self.records.glob("*.json") if p.name != "identity.json")


def _jsonable(value):
    if torch.is_tensor(value):
        return value.tolist()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a model record")


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass
class LatentJob:
    """One latent model to train: G = normalised ``factory(seed)`` fitted to ``tensors`` with the
    L_z (``kind="lz"``: z, t) or L_x,p (``kind="lx"``: z, A, b, c) loss under ``cfg``."""

    key: str
    kind: str
    tensors: tuple[torch.Tensor, ...]
    factory: Callable[[int], nn.Module]
    norm: LatentNormaliser
    seed: int
    cfg: TrainConfig
    meta: dict | None = None

    def build(self) -> NormalisedLatentModel:
        """The untrained model, on the tensors' device and dtype (with its own copy of the
        normaliser: jobs share one, and ``.to(dtype)`` would otherwise convert it in place)."""
        z = self.tensors[0]
        return NormalisedLatentModel(self.factory(self.seed), copy.deepcopy(self.norm)).to(device=z.device,
                                                                                          dtype=z.dtype)


def train_job(job: LatentJob) -> tuple[NormalisedLatentModel, TrainHistory]:
    """Train ``job``'s model in this process (``FloatingPointError`` if its loss stops being finite)."""
    G = job.build()
    hist = fit(G, latent_loss(job.kind), job.tensors, replace(job.cfg, seed=job.seed, desc=job.key))
    return G, hist


@dataclass
class Diverged:
    """What is known of a job whose training loss stopped being finite."""

    message: str
    seconds: float


def _train_or_diverge(job: LatentJob) -> tuple[NormalisedLatentModel, TrainHistory] | Diverged:
    t0 = time.perf_counter()
    try:
        return train_job(job)
    except FloatingPointError as e:
        return Diverged(str(e), time.perf_counter() - t0)


def _train_in_worker(_shared, job: LatentJob) -> tuple[dict, TrainHistory] | Diverged:
    """A job on a worker of :func:`support.executor.open_pool` (one torch thread already): the
    trained weights (or :class:`Diverged`), not the model, go back."""
    out = _train_or_diverge(replace(job, cfg=replace(job.cfg, progress=False, threads=1)))
    if isinstance(out, Diverged):
        return out
    G, hist = out
    return {k: v.detach().cpu() for k, v in G.state_dict().items()}, hist


def run_latent_jobs(jobs: Iterable[LatentJob], on_done: Callable[[LatentJob, nn.Module, TrainHistory], None],
                    workers: int = 1, on_diverged: Callable[[LatentJob, Diverged], None] | None = None,
                    scheduler: str | None = None) -> int:
    """Train every job and call ``on_done(job, trained_model, history)`` in this process as each
    finishes (in completion order when the jobs run elsewhere). Returns the number of jobs trained.

    Jobs train in this process when ``workers == 1`` and no Dask scheduler is selected; otherwise on
    :func:`support.executor.open_pool`: ``workers`` spawned single-threaded processes, or the workers
    of the Dask scheduler ``scheduler`` (default: ``--scheduler`` / ``$MACRODYN_SCHEDULER``, see
    :func:`support.executor.scheduler_address`). The job's factory must then be picklable (e.g.
    :class:`support.experiments.lj_common.LatentFactory`); ``jobs`` is read lazily, at most as many
    jobs ahead as the pool has workers. ``on_diverged(job, Diverged)`` is called for a job whose
    loss stopped being finite; without it that ``FloatingPointError`` propagates (the default: a
    caller that cannot record a diverged model should not carry on as if it were trained).
    """
    from . import executor

    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    done = 0

    def hand_back(job: LatentJob, out, from_worker: bool) -> None:
        if isinstance(out, Diverged):
            if on_diverged is None:
                raise FloatingPointError(f"{job.key}: {out.message}")
            on_diverged(job, out)
            return
        model, hist = out
        if from_worker:
            G = job.build()
            G.load_state_dict(model)
            model = G.eval()
        on_done(job, model, hist)

    if scheduler is None and not executor.parallel(workers):
        for job in jobs:
            hand_back(job, _train_or_diverge(job), from_worker=False)
            done += 1
        return done
    from concurrent.futures import FIRST_COMPLETED, wait

    queue = iter(jobs)
    with executor.open_pool(workers, scheduler=scheduler) as pool:
        pending: dict = {}
        exhausted = False
        while True:
            while not exhausted and len(pending) < pool.capacity():
                job = next(queue, None)
                if job is None:
                    exhausted = True
                else:
                    # the worker needs the tensors, not the caller's bookkeeping (meta may hold
                    # whole configuration pools: pickling them would copy gigabytes per job)
                    pending[pool.submit(_train_in_worker, replace(job, meta=None))] = job
            if not pending:
                return done
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                job = pending.pop(fut)
                hand_back(job, fut.result(), from_worker=True)
                done += 1
