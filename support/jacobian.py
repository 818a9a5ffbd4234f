r"""Encoder Jacobians and the rows of their pseudo-inverse that L_x,p needs.

For J = ∇φ(x) ∈ R^{d×N} of full row rank the pseudo-inverse is the right inverse
J^† = Jᵀ (J Jᵀ)^{-1} (so J J^† = I_d). L_x,p only needs the rows of J^† on the subset I:

.. math::  J^\dagger[I, :] = J[:, I]^\top (J J^\top)^{-1},

which costs a d×d Cholesky factorisation plus |I|·d² work, and never forms the N×d matrix.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import jacrev, vmap

from .validation import check_finite


def encoder_jacobian(encode: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                     chunk: int | None = 256, create_graph: bool = False) -> torch.Tensor:
    """Per-sample Jacobian ``J[b] = ∂φ(x_b)/∂x_b``, shape ``[B, d, N]``.

    ``encode`` maps a batch ``[B, N] -> [B, d]`` and must treat samples independently.
    Uses ``torch.func.vmap(jacrev(·))`` (d reverse passes, vectorised), in chunks of ``chunk``
    samples to bound memory. With ``create_graph=True`` the result stays differentiable with respect
    to the encoder's parameters (for the condition-number loss).
    """
    def single(xi: torch.Tensor) -> torch.Tensor:
        return encode(xi.unsqueeze(0)).squeeze(0)

    jac = vmap(jacrev(single), chunk_size=chunk)
    if create_graph:
        return jac(x)
    with torch.no_grad():      # function transforms still differentiate; no parameter graph kept
        return jac(x).detach()


def gram(J: torch.Tensor) -> torch.Tensor:
    """G = J Jᵀ, ``[B, d, d]``."""
    return J @ J.transpose(-1, -2)


def pinv_rows(J: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Rows ``J^†[b, rows[b], :]`` of the pseudo-inverse, shape ``[B, m, d]``.

    Computed as ``J[:, :, rows]ᵀ (J Jᵀ)^{-1}`` by :func:`pinv_rows_from_gram` (float64 internally).
    Raises if J J^T is singular (a rank-deficient encoder Jacobian).
    """
    if J.dim() != 3 or rows.dim() != 2 or rows.shape[0] != J.shape[0]:
        raise ValueError(f"J must be [B, d, N] and rows [B, m]; got {list(J.shape)}, {list(rows.shape)}")
    check_finite("J", J)
    Jd = J.double()
    return pinv_rows_from_gram(gram(Jd), columns(Jd, rows)).to(J.dtype)


def columns(J: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """The columns ``J[b, :, rows[b]]`` of each Jacobian, ``[B, d, m]`` (rows of x = columns of J)."""
    return J.gather(2, rows.unsqueeze(1).expand(-1, J.shape[1], -1))


def pinv_rows_from_gram(G: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``J^†[I] = colsᵀ G^{-1}`` ``[B, m, d]`` from G = J Jᵀ ``[B, d, d]`` and cols = J[:, :, I] ``[B, d, m]``.

    Only these two pieces of J are needed, so an encoder that can produce them without the
    ``[B, d, N]`` Jacobian (:meth:`support.closure.ClosureAutoencoder.gram_and_columns`) never holds
    anything of size N·d. Uses the Cholesky factor of G (float64); ``cholesky_inverse(L) @ cols`` is
    ~3× faster on a CPU than ``cholesky_solve`` for the small d of closures, and equal to round-off.
    Raises if G is singular (a rank-deficient encoder Jacobian).
    """
    if G.dim() != 3 or cols.dim() != 3 or G.shape[0] != cols.shape[0] or G.shape[1:] != (cols.shape[1],) * 2:
        raise ValueError(f"G must be [B, d, d] and cols [B, d, m]; got {list(G.shape)}, {list(cols.shape)}")
    check_finite("J J^T", G)
    Gd, cd = G.double(), cols.double()
    ev = torch.linalg.eigvalsh(Gd)                                     # d×d per sample: cheap
    L, info = torch.linalg.cholesky_ex(Gd)
    if (info != 0).any() or (ev[:, 0] <= 1e-12 * ev[:, -1]).any():
        raise ValueError("J Jᵀ is singular for some samples: the encoder Jacobian lost rank "
                         f"(smallest/largest eigenvalue {float((ev[:, 0] / ev[:, -1]).min()):.1e})")
    out = torch.cholesky_inverse(L) @ cd                               # (J Jᵀ)^{-1} J[:, I]
    return out.transpose(1, 2).to(cols.dtype)


def latent_velocity(J: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """The exact latent velocity dz/dt = J f, ``[B, d]`` (needs the *full* force f ``[B, N]``)."""
    return (J @ f.unsqueeze(-1)).squeeze(-1)


def singular_values(J: torch.Tensor) -> torch.Tensor:
    """Singular values of each J, ``[B, d]`` (descending), from the eigenvalues of J Jᵀ."""
    ev = torch.linalg.eigvalsh(gram(J.double()))
    return ev.clamp_min(0).sqrt().flip(-1).to(J.dtype)


def condition_number(J: torch.Tensor) -> torch.Tensor:
    """κ(J) = σ_max / σ_min per sample."""
    s = singular_values(J)
    return s[:, 0] / s[:, -1]
