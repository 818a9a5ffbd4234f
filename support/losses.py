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
