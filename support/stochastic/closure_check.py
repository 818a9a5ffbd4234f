r"""Does a learned closure say anything the observables do not? (paper 2's closure variables, checked)

A patch-additive closure φ̂_loc(x_J) is worth its place in the latent z only if it carries
information that the patch's own observables z*_J do not. The check regresses every closure feature
on a quadratic in the observables, over patches ``x_J``,

.. math::  g_k(x_J) \approx c_k + \sum_i a_{ki}\, z^*_{J,i} + \sum_{i \le j} b_{kij}\, z^*_{J,i} z^*_{J,j},

and reports the explained fraction 1 − Var(residual)/Var(g_k) per feature: 1 means the closure is a
function of the observables (it adds no state), well below 1 means a genuinely new variable.
Repeated on disjoint groups of lattices, the fractions are independent units for an interval.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn


def quadratic_features(obs: torch.Tensor) -> torch.Tensor:
    """``[B, k]`` → ``[B, 1 + k + k(k + 1)/2]``: 1, every z_i, every product z_i z_j (i ≤ j, in
    row order; for (m, ρ): 1, m, ρ, m², mρ, ρ²)."""
    if obs.dim() != 2 or obs.shape[1] < 1:
        raise ValueError(f"observables must be [B, k] with k >= 1, got {list(obs.shape)}")
    k = obs.shape[1]
    products = [obs[:, i] * obs[:, j] for i in range(k) for j in range(i, k)]
    return torch.stack([torch.ones_like(obs[:, 0]), *obs.unbind(1), *products], dim=1)


@torch.no_grad()
def explained_by_observables(local_net: nn.Module, observables: Callable[[torch.Tensor], torch.Tensor],
                             patches: torch.Tensor) -> list[float]:
    """Per closure feature g_k = ``local_net(patches)[:, k]``: the fraction of its variance over
    ``patches`` that a least-squares quadratic in ``observables(patches)`` explains."""
    g = local_net(patches).double()
    basis = quadratic_features(observables(patches)).double()
    if len(g) <= basis.shape[1]:
        raise ValueError(f"need more patches ({len(g)}) than quadratic features ({basis.shape[1]})")
    resid = g - basis @ torch.linalg.lstsq(basis, g).solution
    return [float(v) for v in 1 - resid.var(dim=0) / g.var(dim=0)]


@torch.no_grad()
def explained_in_groups(local_net: nn.Module, observables: Callable[[torch.Tensor], torch.Tensor],
                        patches: torch.Tensor, n_groups: int) -> list[list[float]]:
    """:func:`explained_by_observables` on each of up to ``n_groups`` disjoint groups of lattices
    (``patches [n_lattices, K, *patch]``; each group fits its own quadratic): ``[feature][group]``,
    independent repeats from which an interval of the explained fraction is built. Fewer groups are
    made when a group would hold no more patches than the quadratic has features (a fit needs more
    patches than coefficients)."""
    if n_groups < 1:
        raise ValueError(f"n_groups must be >= 1, got {n_groups}")
    n_features = quadratic_features(observables(patches[0, :1])).shape[1]
    lattices_per_group = -(-(n_features + 1) // patches.shape[1])       # ⌈(features + 1) / K⌉
    n_groups = max(1, min(n_groups, len(patches) // lattices_per_group))
    groups = [g for g in np.array_split(np.arange(len(patches)), n_groups) if len(g)]
    per = [explained_by_observables(local_net, observables, patches[torch.as_tensor(g)].flatten(0, 1))
           for g in groups]
    return [list(v) for v in zip(*per)]
