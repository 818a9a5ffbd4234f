r"""The three losses of paper 1 for a latent model G (already wrapped with its normalisation).

With z = φ(x), J = ∇φ(x) (d×N), f = f(x) and the latent prediction g = G(z):

* L_z   = E (1/d) ‖J f − g‖²                      — needs all N force components;
* L_x   = E (1/N) ‖f − J^† g‖²                    — maps g back to microscopic space;
* L_x,p = E (1/|I_r|) Σ_{i∈I_r} w_i (f_i − J^†[i]·g)² — only rows I_r of the sampled units I.

L_x is L_x,p with I = all units. With uniform subsets w = 1 and E_I[L_x,p] = L_x; with
importance sampling the Horvitz–Thompson weights of :mod:`support.subsets` keep it unbiased.
Theory (chapter "theory"): since J J^† = I, f − J^† g = J^†(J f − g) + (I − J^†J) f with orthogonal
parts, so N·L_x = ‖J^†(Jf − g)‖² + ‖(I − P) f‖², a J-weighted L_z plus a θ-independent constant.
"""

from __future__ import annotations

import torch

from .validation import check_shape


def loss_z(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_z = mean over batch and latent dims of (J f − g)²; ``pred``, ``target``: ``[B, d]``."""
    check_shape("target", target, list(pred.shape))
    return (target - pred).pow(2).mean()


def loss_x_partial(pred: torch.Tensor, forces: torch.Tensor, psi: torch.Tensor,
                   weights: torch.Tensor | None = None) -> torch.Tensor:
    """L_x,p for a batch.

    Args:
        pred: latent prediction g = G(z), ``[B, d]``.
        forces: observed force rows f_I, ``[B, r]``.
        psi: matching rows of the pseudo-inverse J^†[I], ``[B, r, d]``.
        weights: optional per-row importance weights ``[B, r]`` (default all 1).
    Returns:
        mean over b and rows of w (f − ψ·g)².
    """
    B, d = pred.shape
    check_shape("forces", forces, [B, None])
    check_shape("psi", psi, [B, forces.shape[1], d])
    resid = forces - (psi @ pred.unsqueeze(-1)).squeeze(-1)
    sq = resid.pow(2)
    if weights is not None:
        check_shape("weights", weights, list(forces.shape))
        sq = sq * weights
    return sq.mean()


def partial_normal_equations(forces: torch.Tensor, psi: torch.Tensor,
                             weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Per-sample sufficient statistics of L_x,p, which is quadratic in g:

    .. math::  \frac1r\sum_{i} w_i (f_i - ψ_i·g)^2 = c - 2\,b·g + g^\top A g,\qquad
               A = \tfrac1r ψ^\top W ψ,\; b = \tfrac1r ψ^\top W f,\; c = \tfrac1r f^\top W f.

    Precomputed once per configuration (float64), they turn a training step's ``[B, r, d]`` work
    into ``[B, d, d]`` (r = rows observed, e.g. 50 atoms × 6 = 300 ≫ d). Returns ``A [n, d, d]``,
    ``b [n, d]``, ``c [n]`` in the dtype of ``forces``.
    """
    n, r = forces.shape
    check_shape("psi", psi, [n, r, None])
    w = torch.ones_like(forces) if weights is None else weights
    check_shape("weights", w, [n, r])
    P, f, w = psi.double(), forces.double(), w.double()
    A = P.transpose(1, 2) @ (w.unsqueeze(-1) * P) / r
    b = (P.transpose(1, 2) @ (w * f).unsqueeze(-1)).squeeze(-1) / r
    c = (w * f * f).sum(-1) / r
    return A.to(forces.dtype), b.to(forces.dtype), c.to(forces.dtype)


def loss_x_partial_normal(pred: torch.Tensor, A: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """L_x,p from :func:`partial_normal_equations`: mean over the batch of c − 2 b·g + gᵀ A g
    (equal to :func:`loss_x_partial` up to round-off; its gradient 2(A g − b) has no cancellation)."""
    B, d = pred.shape
    check_shape("A", A, [B, d, d])
    check_shape("b", b, [B, d])
    check_shape("c", c, [B])
    Ag = (A @ pred.unsqueeze(-1)).squeeze(-1)
    return (c - 2 * (b * pred).sum(-1) + (Ag * pred).sum(-1)).mean()


def loss_x_decomposition(J: torch.Tensor, f: torch.Tensor, g: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample pieces of N·L_x = ‖J^†(Jf − g)‖² + ‖(I − P)f‖² (float64), for the theory chapter.

    Returns ``{"n_lx", "weighted_lz", "constant", "lz", "lower", "upper"}`` with the bounds
    σ_max⁻² ‖Jf − g‖² ≤ ‖J^†(Jf − g)‖² ≤ σ_min⁻² ‖Jf − g‖².
    """
    J, f, g = J.double(), f.double(), g.double()
    G = J @ J.transpose(-1, -2)
    e = (J @ f.unsqueeze(-1)).squeeze(-1) - g                     # J f − g
    a = torch.linalg.solve(G, e.unsqueeze(-1))                     # (JJᵀ)^{-1}(Jf − g)
    weighted = (e.unsqueeze(-2) @ a).squeeze(-1).squeeze(-1)        # ‖J^†(Jf−g)‖² = eᵀ(JJᵀ)^{-1}e
    Pf = (J.transpose(-1, -2) @ torch.linalg.solve(G, (J @ f.unsqueeze(-1)))).squeeze(-1)
    const = (f - Pf).pow(2).sum(-1)
    resid = f - (J.transpose(-1, -2) @ torch.linalg.solve(G, g.unsqueeze(-1))).squeeze(-1)
    ev = torch.linalg.eigvalsh(G)
    lz = e.pow(2).sum(-1)
    return {"n_lx": resid.pow(2).sum(-1), "weighted_lz": weighted, "constant": const, "lz": lz,
            "lower": lz / ev[:, -1], "upper": lz / ev[:, 0]}
