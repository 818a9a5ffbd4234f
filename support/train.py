"""One training loop for every model in the book (autoencoders, latent ODEs, SDEs).

``fit`` runs minibatch AdamW (or Adam with coupled L2: ``TrainConfig.optimizer``) on a user loss
``loss_fn(model, batch) -> scalar`` over a tuple of tensors that share their first dimension. It
provides a tqdm progress bar, a plateau learning-rate schedule (stepped on the epoch-mean training
loss, as in both papers; or cosine, or constant), early stopping, periodic
evaluation callbacks, checkpoints as state dicts, and — for fair comparisons between losses — an
exact budget of gradient steps (``TrainConfig.steps``) that overrides the epoch count.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm


#: learning-rate schedules of :class:`TrainConfig`
SCHEDULES = ("plateau", "cosine", "constant")
#: optimisers of :class:`TrainConfig`: decoupled (AdamW) or coupled (Adam + L2) weight decay
OPTIMIZERS = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}


@dataclass
class TrainConfig:
    """Optimisation settings.

    ``steps`` (if set) fixes the number of gradient steps exactly, whatever the data size: this is
    how two losses are compared at equal optimisation budget. ``early_stop`` is ignored then.
    ``schedule`` is ``"plateau"`` (ReduceLROnPlateau on the epoch-mean training loss, as in both
    papers; its pace depends on the epoch length) or ``"cosine"`` (cosine decay from ``lr`` to
    ``min_lr`` over the total number of steps: identical for any data size).
    ``threads`` (if set) is the number of torch CPU threads used during this fit (restored after):
    tiny models train several times faster on one thread than on two.
    ``check_every``: the loss is checked for finiteness every that many steps and at the end of each
    epoch (a check reads the loss back, which on a GPU waits for the step to finish); a
    non-finite loss raises ``FloatingPointError`` naming the step range.
    ``compile``: train through ``torch.compile(model)`` (same function, fused kernels; needs a C++
    compiler; each new model costs a compilation of tens of seconds). Off by default.
    ``optimizer``: ``"adamw"`` (default; ``torch.optim.AdamW``: *decoupled* weight decay, every
    parameter multiplied by 1 − lr·weight_decay per step, apart from the Adam step) or ``"adam"``
    (``torch.optim.Adam``: *coupled* L2, weight_decay·θ added to the gradient before Adam's
    normalisation). They differ most on a parameter whose loss gradient is zero (e.g. a first-layer
    weight on an input direction the data never vary in): AdamW shrinks it by lr·wd·|θ| per step,
    Adam + L2 by about lr per step (its gradient wd·θ is normalised to unit size while |wd·θ| ≫ eps).
    ``schedule="constant"`` keeps ``lr`` throughout (paper 1's official LJ autoencoder).
    """

    lr: float = 1e-3
    epochs: int = 100
    batch_size: int = 256
    steps: int | None = None
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    amsgrad: bool = True
    plateau_patience: int = 10
    plateau_factor: float = 0.5
    min_lr: float = 1e-6
    early_stop: int | None = None
    grad_clip: float | None = None
    eval_every: int = 0
    schedule: str = "plateau"
    optimizer: str = "adamw"
    threads: int | None = None
    check_every: int = 1
    compile: bool = False
    seed: int = 0
    progress: bool = True
    desc: str = "train"

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.batch_size <= 0 or self.epochs <= 0:
            raise ValueError(f"lr, batch_size and epochs must be positive: {self}")
        if self.steps is not None and self.steps <= 0:
            raise ValueError(f"steps must be positive, got {self.steps}")
        if not isinstance(self.check_every, int) or self.check_every < 1:
            raise ValueError(f"check_every must be a positive int, got {self.check_every!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {tuple(OPTIMIZERS)}, got {self.optimizer!r}")


@dataclass
class TrainHistory:
    """Per-epoch records of a run: mean training loss, learning rate, optional evaluations."""

    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    evals: list[tuple[int, dict]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def n_steps(self) -> int:
        return self.steps[-1] if self.steps else 0

    def as_dict(self) -> dict:
        return asdict(self)


def _batches(n: int, batch_size: int, gen: torch.Generator, device: torch.device):
    perm = torch.randperm(n, generator=gen).to(device)
    for i in range(0, n, batch_size):
        yield perm[i:i + batch_size]


@contextmanager
def torch_threads(n: int | None):
    """Temporarily set the number of torch CPU threads (no-op for ``None``)."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def fit(model: nn.Module,
        loss_fn: Callable[[nn.Module, Sequence[torch.Tensor]], torch.Tensor],
        data: Sequence[torch.Tensor],
        cfg: TrainConfig,
        *,
        evaluate: Callable[[nn.Module], dict] | None = None,
        on_epoch_start: Callable[[int], Sequence[torch.Tensor] | None] | None = None,
        parameters: Sequence[nn.Parameter] | None = None) -> TrainHistory:
    """Minimise ``loss_fn`` over minibatches of ``data``.

    Args:
        model: the module being trained (its parameters, unless ``parameters`` is given).
        loss_fn: ``loss_fn(model, batch)`` with ``batch`` the tuple of minibatch tensors.
        data: tensors indexed along dim 0 (same length).
        cfg: optimisation settings.
        evaluate: called every ``cfg.eval_every`` gradient steps (and at the end) with the model in
            eval mode; ``(step, dict)`` is stored in ``history.evals`` (e.g. test error during
            training).
        on_epoch_start: hook called with the epoch index; if it returns tensors they replace
            ``data`` (e.g. partial observations resampled every epoch).
    """
    with torch_threads(cfg.threads):
        return _fit(model, loss_fn, tuple(data), cfg, evaluate, on_epoch_start, parameters)


def _fit(model, loss_fn, data, cfg, evaluate, on_epoch_start, parameters) -> TrainHistory:
    if not data:
        raise ValueError("data is empty")
    n = data[0].shape[0]
    if n == 0:
        raise ValueError("data has no samples")
    if any(t.shape[0] != n for t in data):
        raise ValueError(f"data tensors disagree in length: {[t.shape[0] for t in data]}")
    params = list(parameters) if parameters is not None else [p for p in model.parameters()
                                                              if p.requires_grad]
    opt = OPTIMIZERS[cfg.optimizer](params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay,
                                    amsgrad=cfg.amsgrad)
    gen = torch.Generator().manual_seed(cfg.seed)
    per_epoch = math.ceil(n / cfg.batch_size)
    epochs = math.ceil(cfg.steps / per_epoch) if cfg.steps else cfg.epochs
    total_steps = cfg.steps or epochs * per_epoch
    if cfg.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps, eta_min=cfg.min_lr)
    elif cfg.schedule == "constant":
        sched = None
    else:
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience, min_lr=cfg.min_lr)
    device = data[0].device
    stepper = _compiled(model) if cfg.compile else model
    hist = TrainHistory()
    best, stale, step = math.inf, 0, 0
    t0 = time.perf_counter()
    bar = tqdm(total=total_steps, desc=cfg.desc, disable=not cfg.progress, leave=False,
               mininterval=0.5)
    for epoch in range(epochs):
        if on_epoch_start is not None:
            fresh = on_epoch_start(epoch)
            if fresh is not None:
                data = tuple(fresh)
        model.train()
        total, count, checked = None, 0, step
        for idx in _batches(n, cfg.batch_size, gen, device):
            if step >= total_steps:
                break
            batch = tuple(t[idx] for t in data)
            loss = loss_fn(stepper, batch)
            weighted = loss.detach().double() * len(idx)      # float64 sum, as a Python float was
            total = weighted if total is None else total + weighted
            if (step + 1) % cfg.check_every == 0:
                _check_finite(total, checked, step, epoch, bar)
                checked = step + 1
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            if cfg.schedule == "cosine":
                sched.step()
            step += 1
            count += len(idx)
            bar.update(1)
            if evaluate is not None and cfg.eval_every and step % cfg.eval_every == 0:
                hist.evals.append((step, _evaluate(model, evaluate)))
        if total is None:
            break
        _check_finite(total, checked, step - 1, epoch, bar)
        mean = total.item() / max(count, 1)
        if cfg.schedule == "plateau":
            sched.step(mean)
        hist.loss.append(mean)
        hist.lr.append(opt.param_groups[0]["lr"])
        hist.steps.append(step)
        bar.set_postfix(loss=f"{mean:.3e}", lr=f"{hist.lr[-1]:.1e}")
        if mean < best * (1 - 1e-4):
            best, stale = mean, 0
        else:
            stale += 1
        if step >= total_steps or (cfg.steps is None and cfg.early_stop and stale >= cfg.early_stop):
            break
    bar.close()
    if evaluate is not None and (not hist.evals or hist.evals[-1][0] != step):
        hist.evals.append((step, _evaluate(model, evaluate)))
    model.eval()
    hist.seconds = time.perf_counter() - t0
    return hist


def _compiled(model: nn.Module) -> nn.Module:
    """``torch.compile(model)`` after clearing compiled code of earlier models: each new model
    would otherwise count as a recompilation, and after a few dynamo silently falls back to eager."""
    torch._dynamo.reset()
    return torch.compile(model)


def _check_finite(total: torch.Tensor, first: int, last: int, epoch: int, bar) -> None:
    """Raise if the running loss sum became NaN or ±inf somewhere in steps ``first..last``."""
    if not torch.isfinite(total):
        bar.close()
        where = f"step {last}" if first >= last else f"steps {first}..{last}"
        raise FloatingPointError(f"loss became {total.item()} at {where} (epoch {epoch})")


def _evaluate(model: nn.Module, evaluate: Callable[[nn.Module], dict]) -> dict:
    was = model.training
    model.eval()
    out = evaluate(model)
    model.train(was)
    return out


def save_checkpoint(path: str | Path, model: nn.Module, **meta) -> Path:
    """Save ``model.state_dict()`` plus JSON-able metadata (never a pickled module)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "meta": meta}, path)
    return path


def load_checkpoint(path: str | Path, model: nn.Module) -> dict:
    """Load weights saved by :func:`save_checkpoint` into ``model``; returns the metadata."""
    blob = torch.load(Path(path), map_location="cpu", weights_only=True)
    model.load_state_dict(blob["state_dict"])
    return blob["meta"]
