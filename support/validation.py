"""Input checks shared by the whole package: clear errors instead of silent wrong answers."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def check_fraction(p: float) -> float:
    """``p`` must lie in (0, 1]: the fraction of force units observed per configuration."""
    try:
        p = float(p)
    except (TypeError, ValueError):
        raise TypeError(f"p must be a number in (0, 1], got {p!r}") from None
    if not (0.0 < p <= 1.0):
        raise ValueError(f"p must lie in (0, 1], got {p}")
    return p


def check_finite(name: str, x: torch.Tensor) -> torch.Tensor:
    """Raise if ``x`` holds NaN or inf (forces, states, targets)."""
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).sum().item()
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")
    return x


def check_shape(name: str, x: torch.Tensor, shape: Sequence[int | None]) -> torch.Tensor:
    """Check ``x.shape`` against ``shape`` (``None`` matches any size)."""
    if x.dim() != len(shape) or any(s is not None and s != t for s, t in zip(shape, x.shape)):
        want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        raise ValueError(f"{name} must have shape {want}, got {list(x.shape)}")
    return x


def check_indices(name: str, idx: torch.Tensor, n: int) -> torch.Tensor:
    """Index tensors must be integer, non-empty and inside ``[0, n)``."""
    if not torch.is_tensor(idx):
        idx = torch.as_tensor(idx)
    if idx.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"{name} must be an integer tensor, got dtype {idx.dtype}")
    if idx.numel() == 0 or (idx.dim() > 0 and idx.shape[-1] == 0):
        raise ValueError(f"{name} is empty: at least one index is needed")
    lo, hi = int(idx.min()), int(idx.max())
    if lo < 0 or hi >= n:
        raise IndexError(f"{name} must lie in [0, {n}), got values in [{lo}, {hi}]")
    return idx.long()


def check_latent_dim(d: int, n: int, n_obs: int = 0) -> int:
    """The latent dimension must satisfy ``n_obs <= d < n`` (a closure is a reduction)."""
    if not isinstance(d, int) or d <= 0:
        raise ValueError(f"latent dimension d must be a positive int, got {d!r}")
    if d >= n:
        raise ValueError(f"latent dimension d = {d} must be smaller than the state dimension N = {n}")
    if d < n_obs:
        raise ValueError(f"latent dimension d = {d} must be at least the number of observables {n_obs}")
    return d


def check_choice(kind: str, name: str, choices: Sequence[str]) -> str:
    """Unknown names (systems, models, experiments) raise with the list of valid ones."""
    if name not in choices:
        raise ValueError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(choices))}")
    return name
